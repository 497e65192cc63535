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
from datetime import datetime
from typing import Any, TypeVar, cast

import anyio

from store import strategy, writes
from store.allocation import DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, ServiceAllocator
from store.errors import Gone, already_exists, not_found
from store.filtering import as_field_selector, translate
from store.filtering import as_selector as _as_selector
from store.filtering import matches as _matches
from store.filtering import parse_revision as _parse_revision
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
from store.models import Namespace, Object, ObjectMeta, Pod, Service, with_fields
from store.scheme import KindInfo, Scheme
from store.seams import Rng, TimeSource, WallTime, make_rng, random_suffix, random_uid
from store.selectors import FieldSelector, Selector
from store.writes import SYSTEM_NAMESPACES, Deletion

M = TypeVar("M", bound=Object)


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


#: A `WatchEvent` made without its generated ``__new__`` frame (one per write).
_new_event = tuple.__new__


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
        new = cast(M, writes.apply_patch(self._scheme, info, current, patch, patch_type))
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
        plan = writes.plan_delete(
            info,
            current,
            now=self._now(),
            propagation_policy=propagation_policy,
            grace_period_seconds=grace_period_seconds,
            uid=uid,
            resource_version=resource_version,
        )
        if plan.action is Deletion.KEEP:
            return current
        if plan.action is Deletion.REMOVE:
            return self._remove(info, cast(M, plan.obj), previous=current)
        return self._commit(info, cast(M, plan.obj), current)

    async def bind(self, name: str, namespace: str, node_name: str, *, uid: str | None = None) -> Pod:
        """Assign a pod to a node: the one way ``spec.nodeName`` is set after create."""
        info = self._scheme.info(Pod)
        pod = self.get_now(Pod, name, namespace)
        return self._commit(info, writes.bind(info, pod, node_name, uid, now=self._now()), pod)

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
            raise Gone(f"too old resource version: {start} ({self._floor})")
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
        namespace = writes.namespace_of(info, meta.namespace)
        # Admission (the namespace's lifecycle) comes first, then name generation, then validation.
        if info.namespaced:
            self._check_namespace_accepts(info, namespace, meta.name or meta.generate_name)
        state = self._state(info)
        name = meta.name
        if not name and meta.generate_name:
            name = self._generate_name(info, state, namespace, meta.generate_name)
        obj = writes.admit_create(info, obj, name)
        if state.get(namespace, name) is not None:
            raise already_exists(info.resource, name)
        writes.check_owners(self._scheme, info, meta)
        if isinstance(obj, Service):
            # Last, so that nothing after it can fail: a rejected create must hold no address.
            obj = cast(M, self._services.allocate_create(obj))
        created = writes.stamp_created(
            info,
            obj,
            name=name,
            namespace=namespace,
            uid=random_uid(self._rng),
            now=self._now(),
            resource_version=str(self._revision + 1),
        )
        self._append(info, state, EventType.ADDED, created, None)
        objects = state.by_namespace.setdefault(namespace, {})
        objects[name] = created
        state.sorted_names.pop(namespace, None)
        return created

    def _update(self, obj: M, *, status_only: bool) -> M:
        info = self._scheme.info(type(obj))
        writes.check_subresource(info, status_only=status_only)
        meta = obj.metadata
        current = self._state(info).get(writes.namespace_of(info, meta.namespace), meta.name)
        if current is None:
            raise not_found(info.resource, meta.name)
        writes.check_update(info, obj, current)
        candidate: Object = writes.update_candidate(info, obj, current, status_only=status_only)
        if not status_only and isinstance(candidate, Service):
            candidate = self._services.prepare_update(candidate, cast(Service, current))
        if candidate is current:
            return cast(M, current)
        if status_only:
            # The current object with another status (`writes.update_candidate` returned the current one
            # for an equal status): no spec change, nothing else to compare.
            writes.validate_status_update(info, candidate, current)
            return cast(M, self._commit(info, candidate, current, changed_spec=False))
        # Known before validation, it also tells a no-op: the rest of the comparison is metadata and status.
        changed_spec = strategy.spec_changed(candidate, current)
        if writes.unchanged(candidate, current, changed_spec=changed_spec):
            return cast(M, current)
        writes.validate_update(self._scheme, info, candidate, current, changed_spec=changed_spec)
        if isinstance(candidate, Service):
            candidate = self._services.allocate_update(candidate, cast(Service, current))
        return cast(M, self._commit(info, candidate, current, changed_spec=changed_spec))

    def _commit(self, info: KindInfo, new: M, old: M, *, changed_spec: bool | None = None) -> M:
        """Store ``new`` in place of ``old`` under the next revision (removing it if it is done).

        ``changed_spec`` saves recomputing `strategy.spec_changed` when the caller already knows.
        """
        if writes.is_finished(new):
            return self._remove(info, new, previous=old)
        generation = writes.next_generation(info, new, old, changed_spec)
        stamped = with_fields(new.metadata, resource_version=str(self._revision + 1), generation=generation)
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
        revision = self._revision = self._revision + 1
        state.append(_new_event(WatchEvent, (type_, obj, revision, previous)))
        floor = revision - self._history
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

    _namespace_of = staticmethod(writes.namespace_of)

    def _check_namespace_accepts(self, info: KindInfo, namespace: str, name: str) -> None:
        ns_info = self._scheme.info(Namespace)
        ns = self._state(ns_info).get("", namespace)
        writes.check_namespace_accepts(ns_info, ns, info, namespace, name)

    def _generate_name(self, info: KindInfo, state: _KindState, namespace: str, prefix: str) -> str:
        for _ in range(writes.GENERATE_NAME_ATTEMPTS):
            name = writes.generated_name(prefix, random_suffix(self._rng))
            if state.get(namespace, name) is None:
                return name
        raise writes.generate_name_conflict(info, name)

    @staticmethod
    def _as_field_selector(info: KindInfo, selector: FieldSelectable) -> FieldSelector | None:
        return as_field_selector(info, selector)


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
        # Only a namespace to match: an object never leaves its namespace (it is part of its key), so
        # no change crosses the filter and each event is kept or passed over as it is.
        self._namespace_only = namespace is not None and labels is None and fields is None
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
                f"too old resource version: {self._revision} ({self._store.compacted}):"
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
        if self._namespace_only:
            namespace = self._namespace
            batch = cast(
                list[WatchEvent[M]],
                [
                    event
                    for event in events[start:]
                    if event.object is not None and event.object.metadata.namespace == namespace
                ],
            )
        else:
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
        return translate(event, self._selects)

    def _selects(self, obj: Object | None) -> bool:
        return obj is not None and _matches(self._info, obj, self._labels, self._fields, self._namespace)
