"""MemoryStore: the in-process `Store` — typed objects, one global revision, watches over a shared log.

Objects are immutable values, so reads hand out the stored object itself and a write stores a new one
(copy-on-write, never a deep copy). Every committed write takes the next revision and appends exactly one
event to its kind's log; a watch is a cursor into that log, so fan-out to any number of watchers costs one
append per write. The log keeps the last ``history`` revisions: a watch from an older revision, or a
watcher that falls that far behind, gets `Gone`. Each operation runs to completion without awaiting, so
every write is atomic in the event loop: one new revision, or no change at all.

What this is not: a cache for controllers (that is the informer's job in `reconcile`), or durable.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import anyio
import attrs
import jsonpatch

from store import strategy
from store.allocation import DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, ServiceAllocator
from store.errors import (
    OPTIMISTIC_LOCK_MESSAGE,
    AlreadyExists,
    BadRequest,
    Forbidden,
    Gone,
    Invalid,
    MethodNotAllowed,
    already_exists,
    conflict,
    not_found,
)
from store.interface import (
    EventType,
    FieldSelectable,
    ListResult,
    PatchType,
    PropagationPolicy,
    Selectable,
    WatchBase,
    WatchEvent,
)
from store.models import Namespace, Object, ObjectMeta, Pod, Service, replace, status_of, with_fields
from store.scheme import KindInfo, Scheme
from store.seams import Rng, TimeSource, WallTime, make_rng, random_suffix, random_uid
from store.selectors import FieldSelector, Selector, parse_field_selector, parse_selector
from store.validation import FieldError

M = TypeVar("M", bound=Object)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
FINALIZER_ORPHAN = "orphan"
FINALIZER_FOREGROUND = "foregroundDeletion"
_GENERATE_NAME_ATTEMPTS = 8


class _KindState:
    """The objects of one kind by namespace and name, plus that kind's event log."""

    __slots__ = ("by_namespace", "changed", "events", "sorted_names", "trimmed")

    def __init__(self) -> None:
        self.by_namespace: dict[str, dict[str, Object]] = {}
        # Names in key order per namespace, rebuilt lazily after a create or delete there.
        self.sorted_names: dict[str, list[str]] = {}
        self.events: list[WatchEvent[Object]] = []
        # How many events were dropped from the front: absolute position = index + trimmed.
        self.trimmed = 0
        self.changed: anyio.Event | None = None

    def get(self, namespace: str, name: str) -> Object | None:
        objects = self.by_namespace.get(namespace)
        return None if objects is None else objects.get(name)

    def names(self, namespace: str) -> list[str]:
        names = self.sorted_names.get(namespace)
        if names is None:
            names = sorted(self.by_namespace.get(namespace, ()))
            self.sorted_names[namespace] = names
        return names

    def append(self, event: WatchEvent[Object]) -> None:
        self.events.append(event)
        if self.changed is not None:
            self.changed.set()
            self.changed = None

    def trim(self, floor: int) -> None:
        """Forget events at or below revision ``floor``."""
        events = self.events
        if not events or events[0].revision > floor:
            return
        cut = bisect.bisect_right(events, floor, key=_revision_of)
        del events[:cut]
        self.trimmed += cut


def _revision_of(event: WatchEvent[Object]) -> int:
    return event.revision


class MemoryStore:
    """An in-memory `Store`.

    ``history`` is how many of the latest revisions stay watchable; ``clock`` stamps timestamps and
    ``rng`` (or ``seed``) draws uids and generated names, so a simulation is reproducible.
    Services get ClusterIPs from ``service_cidr`` and node ports from ``node_port_range`` (inclusive), as
    the apiserver's service registry allocates them (see `store.allocation`).
    """

    def __init__(
        self,
        scheme: Scheme | None = None,
        *,
        clock: TimeSource | None = None,
        rng: Rng | None = None,
        seed: int | None = None,
        history: int = 20_000,
        system_namespaces: bool = True,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
        node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE,
    ) -> None:
        if history < 1:
            raise ValueError("history must keep at least one revision")
        self._scheme = scheme or Scheme()
        self._clock = clock or WallTime()
        self._rng = rng or make_rng(seed)
        self._history = history
        self._revision = 0
        self._floor = 0
        self._kinds: dict[KindInfo, _KindState] = {}
        self._closed = False
        self._services = ServiceAllocator(service_cidr, node_port_range)
        if system_namespaces:
            for name in SYSTEM_NAMESPACES:
                self._create(Namespace(metadata=ObjectMeta(name=name)))

    # --- introspection ------------------------------------------------------------------------

    @property
    def scheme(self) -> Scheme:
        return self._scheme

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def compacted(self) -> int:
        """The highest revision no longer watchable (0 when nothing was compacted)."""
        return self._floor

    def compact(self, revision: int) -> None:
        """Forget history up to and including ``revision`` (as etcd compaction does)."""
        revision = min(revision, self._revision)
        if revision <= self._floor:
            return
        self._floor = revision
        for state in self._kinds.values():
            state.trim(revision)

    def close(self) -> None:
        """End every open watch; later watch calls fail."""
        self._closed = True
        for state in self._kinds.values():
            if state.changed is not None:
                state.changed.set()
                state.changed = None

    # --- reads --------------------------------------------------------------------------------

    async def get(self, kind: type[M], name: str, namespace: str = "") -> M:
        return self.get_now(kind, name, namespace)

    def get_now(self, kind: type[M], name: str, namespace: str = "") -> M:
        """`get` without awaiting, for code already on the event loop's thread."""
        info = self._scheme.info(kind)
        obj = self._state(info).get(self._namespace_of(info, namespace), name)
        if obj is None:
            raise not_found(info.resource, name)
        return cast(M, obj)

    async def list(
        self,
        kind: type[M],
        *,
        namespace: str | None = None,
        label_selector: Selectable = None,
        field_selector: FieldSelectable = None,
    ) -> ListResult[M]:
        return self.list_now(
            kind,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
        )

    def list_now(
        self,
        kind: type[M],
        *,
        namespace: str | None = None,
        label_selector: Selectable = None,
        field_selector: FieldSelectable = None,
    ) -> ListResult[M]:
        """`list` without awaiting."""
        info = self._scheme.info(kind)
        labels = _as_selector(label_selector)
        fields = self._as_field_selector(info, field_selector)
        state = self._state(info)
        namespaces = [namespace] if namespace and info.namespaced else sorted(state.by_namespace)
        items: list[Object] = []
        for ns in namespaces:
            objects = state.by_namespace.get(ns)
            if objects:
                items.extend([objects[name] for name in state.names(ns)])
        if labels is not None or fields is not None:
            items = [obj for obj in items if _matches(info, obj, labels, fields)]
        return ListResult(items=cast(tuple[M, ...], tuple(items)), revision=self._revision)

    # --- writes -------------------------------------------------------------------------------

    async def create(self, obj: M) -> M:
        return self._create(obj)

    async def update(self, obj: M) -> M:
        return self._update(obj, status_only=False)

    async def update_status(self, obj: M) -> M:
        return self._update(obj, status_only=True)

    async def patch(
        self,
        kind: type[M],
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        namespace: str = "",
        *,
        patch_type: PatchType = "merge",
        status: bool = False,
    ) -> M:
        info = self._scheme.info(kind)
        current = self.get_now(kind, name, namespace)
        document = self._scheme.to_dict(current)
        if patch_type == "merge":
            if not isinstance(patch, Mapping):
                raise BadRequest("a merge patch must be a JSON object")
            patched = merge_patch(document, patch)
        elif patch_type == "json":
            if isinstance(patch, Mapping):
                raise BadRequest("a JSON patch must be a list of operations")
            try:
                patched = jsonpatch.apply_patch(document, list(patch))
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise BadRequest(f"the JSON patch could not be applied: {exc}") from None
        else:
            raise BadRequest(f"unsupported patch type {patch_type!r}")
        if not isinstance(patched, Mapping):
            raise BadRequest("the patched object is not a JSON object")
        for field in ("apiVersion", "kind"):
            if patched.get(field) != document[field]:
                raise BadRequest(f"a patch may not change {field}")
        new = cast(M, self._scheme.from_dict(patched))
        _same_identity(info, new, current)
        return self._update(new, status_only=status)

    async def delete(
        self,
        kind: type[M],
        name: str,
        namespace: str = "",
        *,
        propagation_policy: PropagationPolicy | None = None,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
        resource_version: str | None = None,
    ) -> M:
        info = self._scheme.info(kind)
        current = self.get_now(kind, name, namespace)
        meta = current.metadata
        _check_preconditions(info, meta, uid, resource_version)
        if meta.deletion_timestamp is not None:
            if grace_period_seconds != 0 or meta.deletion_grace_period_seconds == 0:
                return current
            if not strategy.blocking_finalizers(current):
                return self._remove(info, current)
            # Shortened to zero: the object goes as soon as its last finalizer does.
            now_meta = with_fields(meta, deletion_grace_period_seconds=0)
            return self._commit(info, with_fields(current, metadata=now_meta), current)
        grace = strategy.graceful_deletion_seconds(current, grace_period_seconds)
        finalizers = list(meta.finalizers)
        if propagation_policy is PropagationPolicy.ORPHAN and FINALIZER_ORPHAN not in finalizers:
            finalizers.append(FINALIZER_ORPHAN)
        if propagation_policy is PropagationPolicy.FOREGROUND and FINALIZER_FOREGROUND not in finalizers:
            finalizers.append(FINALIZER_FOREGROUND)
        if grace == 0 and not finalizers and not strategy.blocking_finalizers(current):
            return self._remove(info, current)
        now = self._now()
        deleting_meta = attrs.evolve(
            meta,
            finalizers=tuple(finalizers),
            deletion_timestamp=now + timedelta(seconds=grace),
            deletion_grace_period_seconds=grace,
            generation=meta.generation + 1 if meta.generation else 0,
        )
        deleting = attrs.evolve(current, metadata=deleting_meta)
        if isinstance(deleting, Namespace):
            terminating = attrs.evolve(deleting.status, phase="Terminating")
            deleting = replace(deleting, status=terminating)
        return self._commit(info, deleting, current)

    async def bind(self, name: str, namespace: str, node_name: str, *, uid: str | None = None) -> Pod:
        """Assign a pod to a node: the one way ``spec.nodeName`` is set after create."""
        info = self._scheme.info(Pod)
        pod = self.get_now(Pod, name, namespace)
        if uid is not None and pod.metadata.uid != uid:
            raise conflict(
                info.resource,
                name,
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {pod.metadata.uid}",
            )
        if pod.metadata.deletion_timestamp is not None:
            raise conflict(info.resource, name, "pod is being deleted, cannot be assigned to a host")
        if pod.spec.node_name:
            raise conflict(
                info.resource,
                name,
                f"pod {name} is already assigned to node {pod.spec.node_name!r}",
            )
        bound = attrs.evolve(pod, spec=attrs.evolve(pod.spec, node_name=node_name))
        return self._commit(info, bound, pod)

    # --- watch --------------------------------------------------------------------------------

    def watch(
        self,
        kind: type[M],
        *,
        since: str | int | None = None,
        namespace: str | None = None,
        label_selector: Selectable = None,
        field_selector: FieldSelectable = None,
        bookmarks: bool = False,
    ) -> MemoryWatch[M]:
        """Watch ``kind`` for changes after revision ``since`` (default: from now on).

        Raises `Gone` at once when ``since`` is older than the history kept.
        """
        if self._closed:
            raise Gone("the store is closed")
        info = self._scheme.info(kind)
        start = self._revision if since in (None, "") else _parse_revision(since)
        if start < self._floor:
            raise Gone(f"too old resource version: {start} ({self._floor + 1})")
        state = self._state(info)
        position = bisect.bisect_right(state.events, start, key=_revision_of) + state.trimmed
        return MemoryWatch(
            self,
            info,
            state,
            position=position,
            revision=start,
            namespace=namespace or None,
            labels=_as_selector(label_selector),
            fields=self._as_field_selector(info, field_selector),
            bookmarks=bookmarks,
        )

    def restore(self, objects: Iterable[Object]) -> None:
        """Put saved objects back as they were: uid, resourceVersion, timestamps, status, owners.

        For loading a saved state (`store.manifests.dump` of a store's objects) into an empty store:
        nothing is defaulted, validated or stamped. Objects go in resourceVersion order, each as one
        ADDED event; an object keeps its resourceVersion when it is above the store's revision (else
        it gets the next one), so the revision stays one increasing counter. Services keep their
        addresses. Raises `AlreadyExists` (before changing anything) when an object is already stored.
        """
        ordered = sorted(objects, key=lambda obj: _parse_revision(obj.metadata.resource_version or 0))
        seen: set[tuple[KindInfo, str, str]] = set()
        for obj in ordered:
            info = self._scheme.info(type(obj))
            key = (info, self._namespace_of(info, obj.metadata.namespace), obj.metadata.name)
            if key in seen or self._state(info).get(key[1], key[2]) is not None:
                raise already_exists(info.resource, obj.metadata.name)
            seen.add(key)
        for obj in ordered:
            info = self._scheme.info(type(obj))
            state = self._state(info)
            namespace = self._namespace_of(info, obj.metadata.namespace)
            if isinstance(obj, Service):
                self._services.allocate_create(obj)
            saved = _parse_revision(obj.metadata.resource_version or 0)
            self._revision = max(self._revision, saved - 1)
            restored = with_fields(
                obj,
                metadata=with_fields(
                    obj.metadata, namespace=namespace, resource_version=str(self._revision + 1)
                ),
            )
            self._append(info, state, EventType.ADDED, restored, None)
            state.by_namespace.setdefault(namespace, {})[obj.metadata.name] = restored
            state.sorted_names.pop(namespace, None)

    # --- the write path -----------------------------------------------------------------------

    def _create(self, obj: M) -> M:
        info = self._scheme.info(type(obj))
        meta = obj.metadata
        if meta.resource_version:
            raise BadRequest("resourceVersion should not be set on objects to be created")
        namespace = self._namespace_of(info, meta.namespace)
        obj = cast(M, strategy.prepare_for_create(strategy.default(obj), info))
        errors = strategy.validate(obj, info)
        if errors:
            raise Invalid(info.qualified_kind, meta.name or meta.generate_name, errors)
        if info.namespaced:
            self._check_namespace_accepts(info, namespace, meta.name or meta.generate_name)
        state = self._state(info)
        name = meta.name or self._generate_name(state, namespace, meta.generate_name)
        if state.get(namespace, name) is not None:
            raise already_exists(info.resource, name)
        self._check_owners(info, meta)
        if isinstance(obj, Service):
            # Last, so that nothing after it can fail: a rejected create must hold no address.
            obj = cast(M, self._services.allocate_create(obj))
        stamped = with_fields(
            meta,
            name=name,
            namespace=namespace,
            uid=random_uid(self._rng),
            creation_timestamp=self._now(),
            deletion_timestamp=None,
            deletion_grace_period_seconds=None,
            generation=1 if info.tracks_generation else 0,
            resource_version=str(self._revision + 1),
        )
        created = with_fields(obj, metadata=stamped)
        self._append(info, state, EventType.ADDED, created, None)
        objects = state.by_namespace.setdefault(namespace, {})
        objects[name] = created
        state.sorted_names.pop(namespace, None)
        return created

    def _update(self, obj: M, *, status_only: bool) -> M:
        info = self._scheme.info(type(obj))
        if status_only and not info.status_subresource:
            raise MethodNotAllowed(f"{info.resource} have no status subresource")
        meta = obj.metadata
        namespace = self._namespace_of(info, meta.namespace)
        current = self._state(info).get(namespace, meta.name)
        if current is None:
            raise not_found(info.resource, meta.name)
        old_meta = current.metadata
        if meta.resource_version and meta.resource_version != old_meta.resource_version:
            raise conflict(info.resource, meta.name, OPTIMISTIC_LOCK_MESSAGE)
        if meta.uid and meta.uid != old_meta.uid:
            raise conflict(
                info.resource,
                meta.name,
                f"Precondition failed: UID in precondition: {meta.uid}, UID in object meta: {old_meta.uid}",
            )
        if status_only:
            candidate = replace(current, status=status_of(obj))
        else:
            candidate = _with_managed_metadata(strategy.default(obj), old_meta)
            if isinstance(candidate, Service):
                candidate = self._services.prepare_update(candidate, cast(Service, current))
            if info.status_subresource and status_of(candidate) is not status_of(current):
                candidate = replace(candidate, status=status_of(current))
        if candidate is current or candidate == current:
            return cast(M, current)
        changed_spec = not status_only and strategy.spec_changed(candidate, current)
        if not status_only:
            errors = strategy.validate_update(candidate, current, info, changed_spec=changed_spec)
            if errors:
                raise Invalid(info.qualified_kind, meta.name, errors)
            self._check_owners(info, candidate.metadata)
            if isinstance(candidate, Service):
                candidate = self._services.allocate_update(candidate, cast(Service, current))
        return cast(M, self._commit(info, candidate, current, changed_spec=changed_spec))

    def _commit(self, info: KindInfo, new: M, old: M, *, changed_spec: bool | None = None) -> M:
        """Store ``new`` in place of ``old`` under the next revision (removing it if it is done).

        ``changed_spec`` saves recomputing `strategy.spec_changed` when the caller already knows.
        """
        meta = new.metadata
        finished = (
            meta.deletion_timestamp is not None
            and not meta.deletion_grace_period_seconds
            and not strategy.blocking_finalizers(new)
        )
        if finished:
            return self._remove(info, new, previous=old)
        generation = meta.generation
        if changed_spec is None:
            changed_spec = info.tracks_generation and strategy.spec_changed(new, old)
        if info.tracks_generation and changed_spec:
            generation += 1
        stamped = with_fields(meta, resource_version=str(self._revision + 1), generation=generation)
        committed = with_fields(new, metadata=stamped)
        state = self._state(info)
        self._append(info, state, EventType.MODIFIED, committed, old)
        state.by_namespace[stamped.namespace][stamped.name] = committed
        return committed

    def _remove(self, info: KindInfo, obj: M, previous: M | None = None) -> M:
        meta = obj.metadata
        state = self._state(info)
        last = with_fields(obj, metadata=with_fields(meta, resource_version=str(self._revision + 1)))
        self._append(info, state, EventType.DELETED, last, previous or obj)
        objects = state.by_namespace[meta.namespace]
        del objects[meta.name]
        if isinstance(obj, Service):
            self._services.release(obj)
        if not objects:
            del state.by_namespace[meta.namespace]
        state.sorted_names.pop(meta.namespace, None)
        return last

    def _append(
        self,
        info: KindInfo,
        state: _KindState,
        type_: EventType,
        obj: Object,
        previous: Object | None,
    ) -> None:
        self._revision += 1
        state.append(WatchEvent(type_, obj, self._revision, previous))
        floor = self._revision - self._history
        self._floor = max(self._floor, floor)
        # Trimming is amortised: a kind's log is cut only once it holds a chunk of expired events.
        events = state.events
        if len(events) > 256 and events[len(events) // 16].revision <= self._floor:
            state.trim(self._floor)

    # --- helpers ------------------------------------------------------------------------------

    def _state(self, info: KindInfo) -> _KindState:
        state = self._kinds.get(info)
        if state is None:
            state = self._kinds[info] = _KindState()
        return state

    def _now(self) -> datetime:
        # Object timestamps have whole-second precision on the wire (metav1.Time).
        return self._clock.now().replace(microsecond=0)

    @staticmethod
    def _namespace_of(info: KindInfo, namespace: str) -> str:
        if not info.namespaced:
            return ""
        return namespace or "default"

    def _check_namespace_accepts(self, info: KindInfo, namespace: str, name: str) -> None:
        ns_info = self._scheme.info(Namespace)
        ns = self._state(ns_info).get("", namespace)
        if ns is None:
            raise not_found(ns_info.resource, namespace)
        if cast(Namespace, ns).metadata.deletion_timestamp is not None:
            raise Forbidden(
                f'{info.resource} "{name}" is forbidden: unable to create new content in'
                f" namespace {namespace} because it is being terminated"
            )

    def _check_owners(self, info: KindInfo, meta: ObjectMeta) -> None:
        """A cluster-scoped object may not be owned by a namespaced one."""
        if info.namespaced:
            return
        errors = []
        for index, ref in enumerate(meta.owner_references):
            owner = self._scheme.info_for(ref.api_version, ref.kind)
            if owner is not None and owner.namespaced:
                errors.append(
                    FieldError(
                        f"metadata.ownerReferences[{index}]",
                        f"Invalid value: {ref.kind}/{ref.name}: a cluster-scoped object cannot"
                        " be owned by a namespaced object",
                    )
                )
        if errors:
            raise Invalid(info.qualified_kind, meta.name, errors)

    def _generate_name(self, state: _KindState, namespace: str, prefix: str) -> str:
        for _ in range(_GENERATE_NAME_ATTEMPTS):
            name = prefix + random_suffix(self._rng)
            if state.get(namespace, name) is None:
                return name
        raise AlreadyExists(f"no unused name could be generated for prefix {prefix!r}")

    def _as_field_selector(self, info: KindInfo, selector: FieldSelectable) -> FieldSelector | None:
        if selector is None or selector == "":
            return None
        compiled = parse_field_selector(selector) if isinstance(selector, str) else selector
        for field in compiled.fields():
            if field not in info.field_getters:
                raise BadRequest(f"field label not supported: {field}")
        return None if not compiled.requirements else compiled


class MemoryWatch(WatchBase[M]):
    """A cursor into one kind's event log, filtered by namespace, labels and fields."""

    def __init__(
        self,
        store: MemoryStore,
        info: KindInfo,
        state: _KindState,
        *,
        position: int,
        revision: int,
        namespace: str | None,
        labels: Selector | None,
        fields: FieldSelector | None,
        bookmarks: bool,
    ) -> None:
        self._store = store
        self._info = info
        self._state = state
        self._position = position
        self._revision = revision
        self._namespace = namespace
        self._labels = labels
        self._fields = fields
        self._bookmarks = bookmarks
        self._filtered = namespace is not None or labels is not None or fields is not None
        self._closed = False

    @property
    def revision(self) -> int:
        """The revision of the last event this watch has handed out."""
        return self._revision

    def close(self) -> None:
        self._closed = True

    def ready(self) -> list[WatchEvent[M]]:
        """The events available now without waiting (possibly none)."""
        if self._closed or self._store._closed:
            raise StopAsyncIteration
        state = self._state
        start = self._position - state.trimmed
        if start < 0:
            self._closed = True
            raise Gone(
                f"too old resource version: {self._revision} ({self._store.compacted + 1}):"
                " the watcher fell behind the history kept"
            )
        events = state.events
        if start >= len(events):
            return []
        self._position = state.trimmed + len(events)
        head = events[-1].revision
        if not self._filtered:
            self._revision = head
            return cast(list[WatchEvent[M]], events[start:])
        batch = [out for event in events[start:] if (out := self._translate(event)) is not None]
        self._revision = head
        if not batch and self._bookmarks:
            return [WatchEvent(EventType.BOOKMARK, None, head)]
        return batch

    async def next_batch(self) -> list[WatchEvent[M]]:
        while True:
            batch = self.ready()
            if batch:
                return batch
            await self.wait_for_change()

    async def wait_for_change(self) -> None:
        """Wait until the next write to this watch's kind (or the store closing)."""
        await self.change_event().wait()

    def change_event(self) -> anyio.Event:
        """The event the next write to this watch's kind (or the store closing) will set.

        Taken synchronously, so a waiter set up now cannot miss a write that happens before it waits.
        """
        state = self._state
        if state.changed is None:
            state.changed = anyio.Event()
        return state.changed

    def _translate(self, event: WatchEvent[Object]) -> WatchEvent[M] | None:
        """The event as this watcher sees it: changes across its filter become ADDED/DELETED."""
        now = self._selects(event.object) if event.type is not EventType.DELETED else False
        before = event.previous is not None and self._selects(event.previous)
        if event.type is EventType.DELETED:
            return cast(WatchEvent[M], event) if before else None
        if now and before:
            return cast(WatchEvent[M], event)
        if now:
            if event.type is EventType.ADDED:
                return cast(WatchEvent[M], event)
            return WatchEvent(EventType.ADDED, cast(M, event.object), event.revision, None)
        if before:
            return WatchEvent(
                EventType.DELETED, cast(M, event.object), event.revision, cast(M, event.previous)
            )
        return None

    def _selects(self, obj: Object | None) -> bool:
        return obj is not None and _matches(self._info, obj, self._labels, self._fields, self._namespace)


def _matches(
    info: KindInfo,
    obj: Object,
    labels: Selector | None,
    fields: FieldSelector | None,
    namespace: str | None = None,
) -> bool:
    meta = obj.metadata
    if namespace is not None and meta.namespace != namespace:
        return False
    if labels is not None and not labels.matches(meta.labels):
        return False
    if fields is not None:
        getters = info.field_getters
        return fields.matches({field: getters[field](obj) for field in fields.fields()})
    return True


def _as_selector(selector: Selectable) -> Selector | None:
    if selector is None or selector == "":
        return None
    compiled = parse_selector(selector) if isinstance(selector, str) else selector
    return None if compiled.empty() else compiled


def _parse_revision(value: str | int) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"invalid resource version {value!r}") from None


def _with_managed_metadata(obj: M, current: ObjectMeta) -> M:
    """``obj`` with the metadata only the store manages taken from ``current``."""
    meta = obj.metadata
    if (
        meta.uid == current.uid
        and meta.resource_version == current.resource_version
        and meta.generation == current.generation
        and meta.creation_timestamp == current.creation_timestamp
        and meta.deletion_timestamp == current.deletion_timestamp
        and meta.deletion_grace_period_seconds == current.deletion_grace_period_seconds
    ):
        return obj
    managed = attrs.evolve(
        meta,
        uid=current.uid,
        resource_version=current.resource_version,
        generation=current.generation,
        creation_timestamp=current.creation_timestamp,
        deletion_timestamp=current.deletion_timestamp,
        deletion_grace_period_seconds=current.deletion_grace_period_seconds,
    )
    return attrs.evolve(obj, metadata=managed)


def _same_identity(info: KindInfo, new: Object, current: Object) -> None:
    new_meta = new.metadata
    old_meta = current.metadata
    if new_meta.name != old_meta.name or (
        info.namespaced and (new_meta.namespace or "default") != old_meta.namespace
    ):
        raise BadRequest("a patch may not change the object's name or namespace")


def _check_preconditions(
    info: KindInfo, meta: ObjectMeta, uid: str | None, resource_version: str | None
) -> None:
    if uid is not None and uid != meta.uid:
        raise conflict(
            info.resource,
            meta.name,
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.uid}",
        )
    if resource_version is not None and resource_version != meta.resource_version:
        raise conflict(
            info.resource,
            meta.name,
            f"Precondition failed: ResourceVersion in precondition: {resource_version},"
            f" ResourceVersion in object meta: {meta.resource_version}",
        )


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch (null removes a key; objects merge; the rest replaces)."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
