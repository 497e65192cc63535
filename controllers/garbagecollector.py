"""The garbage collector: deletes objects whose owners are gone (pkg/controller/garbagecollector).

Three propagation policies, as upstream:

- **Background**: once every owner of an object is gone (no object of that kind and name with that uid), the
  object is deleted; an object with another live owner only loses its dangling references.
- **Foreground**: an owner being deleted with the ``foregroundDeletion`` finalizer has its dependents
  deleted (in foreground themselves when they have dependents), and loses the finalizer — and so goes —
  once no dependent with ``blockOwnerDeletion`` is left.
- **Orphan**: an owner being deleted with the ``orphan`` finalizer has its references stripped from every
  dependent, then loses the finalizer.

The ownership graph is the informers themselves: each watched kind's cache is indexed by owner uid
(`BY_OWNER`) and by uid, so an object's dependents are an index lookup per kind. Whether an owner is really
gone is checked against the store, never the cache, as upstream checks with the API server. Upstream's two
queues (attemptToDelete, attemptToOrphan) are one workqueue of `Request` keys ``(queue name, uid)``; queue
names cannot be namespace names, so these keys never mix with object keys.

What it is not: a namespace controller, or a collector of terminated pods. It emits no events (upstream only
reports OwnerRefInvalidNamespace, which this store rejects at write time).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import structlog

from reconcile import Controller, Informer, Manager, Request, Result, TerminalError, Watch
from reconcile.informer import BY_OWNER, index_by_owner_uid
from store import Conflict, KindInfo, NotFound, Object, PropagationPolicy
from store.models import Event, OwnerReference
from store.writes import FINALIZER_FOREGROUND, FINALIZER_ORPHAN

log = structlog.get_logger("setpoint.garbagecollector")

#: The two logical queues of upstream, as the namespace part of a request whose name is a uid.
ATTEMPT_TO_DELETE = "attemptToDelete"
ATTEMPT_TO_ORPHAN = "attemptToOrphan"

#: The GC's index of cached objects by their own uid.
BY_UID = "metadata.uid"

#: Kinds never collected (upstream DefaultIgnoredResources: events).
IGNORED_KINDS: tuple[type[Object], ...] = (Event,)

#: How often a delete is retried when only the object's resourceVersion moved under it.
_DELETE_ATTEMPTS = 3


def _index_by_uid(obj: Object) -> Iterable[str]:
    return (obj.metadata.uid,)


def _deleting_dependents(obj: Object) -> bool:
    """Being deleted in foreground: waiting for its blocking dependents to go."""
    meta = obj.metadata
    return meta.deletion_timestamp is not None and FINALIZER_FOREGROUND in meta.finalizers


def _orphaning(obj: Object) -> bool:
    meta = obj.metadata
    return meta.deletion_timestamp is not None and FINALIZER_ORPHAN in meta.finalizers


def _blocks(dependent: Object, owner_uid: str) -> bool:
    """Whether ``dependent`` holds back the foreground deletion of its owner ``owner_uid``."""
    return any(
        ref.uid == owner_uid and ref.block_owner_deletion for ref in dependent.metadata.owner_references
    )


def ownership_changed(old: Object, new: Object) -> bool:
    """Whether an update concerns the collector: owner references, finalizers or the deletion timestamp
    changed (upstream's graph builder acts on nothing else: referencesDiffs, beingDeleted), or the
    object was replaced under its name.

    A Lease renewal or a status write changes none of them. A replacement reaches an informer as an
    update when the deletion and the new create fall in a watch gap (a relist sees only the new
    object); the graph is keyed by uid, so it is another object, and the old one is gone.
    """
    before, after = old.metadata, new.metadata
    return (
        before.uid != after.uid
        or before.owner_references != after.owner_references
        or before.finalizers != after.finalizers
        or before.deletion_timestamp != after.deletion_timestamp
    )


def _delete_request(uid: str) -> Request:
    return Request(ATTEMPT_TO_DELETE, uid)


class GarbageCollector(Controller):
    """Collects dependents whose owners are gone, in background, foreground and orphan mode.

    ``kinds`` defaults to every kind of the store's scheme but events. The `Controller` base wants a
    primary kind; the first watched kind serves, and its own object keys are ignored: the collector's work
    comes from the mapped keys of every kind's events.
    """

    def __init__(
        self,
        manager: Manager,
        kinds: Sequence[type[Object]] | None = None,
        *,
        workers: int = 20,
    ) -> None:
        scheme = manager.store.scheme
        if kinds is None:
            kinds = [info.cls for info in scheme if info.cls not in IGNORED_KINDS]
        if not kinds:
            raise ValueError("the garbage collector needs at least one kind to watch")
        super().__init__(
            "garbagecollector",
            self,
            kind=kinds[0],
            watches=dict.fromkeys(kinds, Watch(self._requests_for, changed=ownership_changed)),
            workers=workers,
        )
        self._store = manager.store
        self._scheme = scheme
        self._informers: dict[type[Object], Informer[Any]] = {}
        for kind in kinds:
            informer = manager.informer(kind)
            for name, func in ((BY_OWNER, index_by_owner_uid), (BY_UID, _index_by_uid)):
                informer.ensure_index(name, func)
            self._informers[kind] = informer

    # --- the graph: what an event means ---------------------------------------------------------

    def _requests_for(self, obj: Object) -> list[Request]:
        """The work an event about ``obj`` (its old or new state) makes, decided from the caches.

        Called after the cache has applied the event, so an object missing from its cache was deleted.
        """
        meta = obj.metadata
        if not self._is_cached(obj):
            # Gone: its dependents may be garbage now, and a foreground owner may be unblocked.
            requests = [_delete_request(dependent.metadata.uid) for dependent in self._dependents(meta.uid)]
            for ref in meta.owner_references:
                owner = self._cached(ref.uid, self._informer_for(ref))
                if owner is not None and _deleting_dependents(owner):
                    requests.append(_delete_request(ref.uid))
            return requests
        requests = []
        if _orphaning(obj):
            requests.append(Request(ATTEMPT_TO_ORPHAN, meta.uid))
        elif _deleting_dependents(obj):
            # Dependents first, as upstream: the owner, done before them, could lose its finalizer while
            # non-blocking dependents still count it as a live owner.
            requests.extend(
                _delete_request(dependent.metadata.uid) for dependent in self._dependents(meta.uid)
            )
            requests.append(_delete_request(meta.uid))
        for ref in meta.owner_references:
            owner = self._cached_owner(ref, meta.namespace)
            if owner is None:
                # Never seen (or not any more): ask the store whether the owner exists.
                requests.append(_delete_request(meta.uid))
            elif _deleting_dependents(owner):
                # The owner waits for its dependents: this one goes, and the owner looks again.
                requests.append(_delete_request(meta.uid))
                requests.append(_delete_request(ref.uid))
        return requests

    def _is_cached(self, obj: Object) -> bool:
        informer = self._informers.get(type(obj))
        if informer is None:
            return False
        cached = informer.get(obj.metadata.name, obj.metadata.namespace)
        return cached is not None and cached.metadata.uid == obj.metadata.uid

    def _cached(self, uid: str, likely: Informer[Any] | None = None) -> Object | None:
        """The cached object with ``uid``, of whatever kind; the ``likely`` informer is asked first."""
        informers = self._informers.values()
        for informer in informers if likely is None else (likely, *informers):
            keys = informer.keys_by_index(BY_UID, uid)
            if keys:
                namespace, name = keys[0]
                found: Object | None = informer.get(name, namespace)
                return found
        return None

    def _informer_for(self, ref: OwnerReference) -> Informer[Any] | None:
        """The informer of the kind ``ref`` names, if the collector watches it."""
        info = self._kind_info(ref)
        return None if info is None else self._informers.get(info.cls)

    def _cached_owner(self, ref: OwnerReference, namespace: str) -> Object | None:
        info = self._kind_info(ref)
        informer = self._informers.get(info.cls) if info is not None else None
        if info is None or informer is None:
            return None
        owner = informer.get(ref.name, namespace if info.namespaced else "")
        return owner if owner is not None and owner.metadata.uid == ref.uid else None

    def _dependents(self, uid: str) -> list[Object]:
        # Most objects have no dependents: an informer is asked for objects only when it holds some.
        return [
            dependent
            for informer in self._informers.values()
            if informer.keys_by_index(BY_OWNER, uid)
            for dependent in informer.by_index(BY_OWNER, uid)
        ]

    def _kind_info(self, ref: OwnerReference) -> KindInfo | None:
        """The kind a reference names (as with a REST mapper, another version of it will do)."""
        info = self._scheme.info_for(ref.api_version, ref.kind)
        if info is not None:
            return info
        group = ref.api_version.rpartition("/")[0]
        for candidate in self._scheme:
            if candidate.kind == ref.kind and candidate.group == group:
                return candidate
        return None

    # --- the workers ----------------------------------------------------------------------------

    async def reconcile(self, request: Request) -> Result | None:
        if request.namespace == ATTEMPT_TO_DELETE:
            await self._attempt_to_delete(request.name)
        elif request.namespace == ATTEMPT_TO_ORPHAN:
            await self._attempt_to_orphan(request.name)
        return None

    async def _attempt_to_delete(self, uid: str) -> None:
        """Delete the object if every owner is gone; drop dangling references if some owner lives on."""
        item = self._cached(uid)
        if item is None:
            return  # gone: its deletion enqueued whatever depended on it
        latest = await self._latest(item)
        if latest is None:
            return
        if latest.metadata.deletion_timestamp is not None and not _deleting_dependents(latest):
            return  # being deleted is a one-way trip: its dependents are handled once it is gone
        if _deleting_dependents(latest):
            await self._process_deleting_dependents(latest)
            return
        references = latest.metadata.owner_references
        if not references:
            return
        solid, dangling, waiting = await self._classify(latest, references)
        if solid:
            if dangling or waiting:
                # A waiting owner would otherwise wait for this dependent for ever.
                await self._remove_references(latest, {ref.uid for ref in (*dangling, *waiting)})
            return
        if waiting and self._dependents(uid):
            if any(_deleting_dependents(dependent) for dependent in self._dependents(uid)):
                # An owner and a dependent both wait in foreground: a possible cycle, so stop blocking.
                latest = await self._unblock_references(latest)
            await self._delete(latest, PropagationPolicy.FOREGROUND)
            return
        if FINALIZER_ORPHAN in latest.metadata.finalizers:
            policy = PropagationPolicy.ORPHAN
        elif FINALIZER_FOREGROUND in latest.metadata.finalizers:
            policy = PropagationPolicy.FOREGROUND
        else:
            policy = PropagationPolicy.BACKGROUND
        await self._delete(latest, policy)

    async def _process_deleting_dependents(self, owner: Object) -> None:
        blocking = [dep for dep in self._dependents(owner.metadata.uid) if _blocks(dep, owner.metadata.uid)]
        if not blocking:
            await self._remove_finalizer(owner, FINALIZER_FOREGROUND)
            return
        for dependent in blocking:
            if not _deleting_dependents(dependent):
                self.enqueue(_delete_request(dependent.metadata.uid))

    async def _attempt_to_orphan(self, uid: str) -> None:
        """Strip the owner's references from all its dependents, then let the owner go."""
        owner = self._cached(uid)
        if owner is None or not _orphaning(owner):
            return
        for dependent in self._dependents(uid):
            latest = await self._latest(dependent)
            if latest is not None:
                await self._remove_references(latest, {uid})
        await self._remove_finalizer(owner, FINALIZER_ORPHAN)

    async def _classify(
        self, item: Object, references: Sequence[OwnerReference]
    ) -> tuple[list[OwnerReference], list[OwnerReference], list[OwnerReference]]:
        """Owners that live on (solid), that are gone (dangling), and that wait in foreground."""
        solid: list[OwnerReference] = []
        dangling: list[OwnerReference] = []
        waiting: list[OwnerReference] = []
        for ref in references:
            owner = await self._live_owner(item, ref)
            if owner is None:
                dangling.append(ref)
            elif _deleting_dependents(owner):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _live_owner(self, item: Object, ref: OwnerReference) -> Object | None:
        """The owner ``ref`` names, read from the store; None if there is none with that uid."""
        info = self._kind_info(ref)
        if info is None:
            # Upstream retries until discovery knows the kind; a scheme does not learn kinds by itself.
            raise TerminalError(f"owner reference to unknown kind {ref.api_version}/{ref.kind} ({ref.name})")
        if info.namespaced and not self._scheme.info(type(item)).namespaced:
            raise TerminalError("cluster-scoped objects cannot refer to namespaced owners")
        try:
            owner = await self._store.get(
                info.cls, ref.name, item.metadata.namespace if info.namespaced else ""
            )
        except NotFound:
            return None
        return owner if owner.metadata.uid == ref.uid else None

    # --- writes ---------------------------------------------------------------------------------

    async def _latest(self, obj: Object) -> Object | None:
        """``obj`` as the store has it now, or None if it is gone (or replaced by a namesake)."""
        try:
            latest = await self._store.get(type(obj), obj.metadata.name, obj.metadata.namespace)
        except NotFound:
            return None
        return latest if latest.metadata.uid == obj.metadata.uid else None

    async def _delete(self, obj: Object, policy: PropagationPolicy) -> None:
        """Delete ``obj`` if it is still the version classified, or one with the same owners."""
        meta = obj.metadata
        log.debug("deleting", kind=obj.kind, namespace=meta.namespace, name=meta.name, policy=policy.value)
        for _ in range(_DELETE_ATTEMPTS):
            try:
                await self._store.delete(
                    type(obj),
                    meta.name,
                    meta.namespace,
                    propagation_policy=policy,
                    uid=meta.uid,
                    resource_version=obj.metadata.resource_version,
                )
                return
            except NotFound:
                return
            except Conflict:
                # Written since it was classified: the verdict stands if its owners did not change.
                live = await self._latest(obj)
                if live is None:
                    return
                if live.metadata.owner_references != meta.owner_references:
                    raise
                obj = live
        raise Conflict(f"{obj.kind} {meta.name} kept changing while it was being collected")

    async def _remove_references(self, obj: Object, owner_uids: set[str]) -> None:
        meta = obj.metadata
        kept = tuple(ref for ref in meta.owner_references if ref.uid not in owner_uids)
        if len(kept) == len(meta.owner_references):
            return
        with contextlib.suppress(NotFound):
            await self._store.update(attrs.evolve(obj, metadata=attrs.evolve(meta, owner_references=kept)))

    async def _unblock_references(self, obj: Object) -> Object:
        meta = obj.metadata
        unblocked = tuple(
            attrs.evolve(ref, block_owner_deletion=False) if ref.block_owner_deletion else ref
            for ref in meta.owner_references
        )
        if unblocked == meta.owner_references:
            return obj
        return await self._store.update(
            attrs.evolve(obj, metadata=attrs.evolve(meta, owner_references=unblocked))
        )

    async def _remove_finalizer(self, obj: Object, finalizer: str) -> None:
        latest = await self._latest(obj)
        if latest is None or finalizer not in latest.metadata.finalizers:
            return
        meta = latest.metadata
        finalizers = tuple(f for f in meta.finalizers if f != finalizer)
        with contextlib.suppress(NotFound):
            await self._store.update(attrs.evolve(latest, metadata=attrs.evolve(meta, finalizers=finalizers)))
