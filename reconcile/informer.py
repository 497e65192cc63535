"""Informer: a kind's objects kept in a local cache by list-then-watch, with indexes and event handlers.

An informer lists its kind, then watches from the list's revision and applies every event to its cache
before telling its handlers. When the watch ends with `Gone` it waits out client-go's reflector backoff
(800 ms doubling to 30 s, jittered, reset after 2 minutes without one), lists again and reconciles the
cache with what it finds: objects that vanished meanwhile are delivered to ``on_delete`` wrapped in
`DeletedFinalStateUnknown`, as client-go does; so is an object the cache held when a watch reports the
deletion of another one under its name (events coalesced past a replacement). `relist` lists afresh at
once, as a newly started process would. Objects are immutable values, so the cache hands out the
stored objects themselves and readers need no copies.

Handlers run synchronously on the informer's task and must not block: typically they put a key in a
workqueue. The informer is not a controller: it neither retries nor reconciles anything itself.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

import anyio
import attrs
import structlog

from reconcile.clock import Clock, RealClock
from store import Gone, Object, Scheme, Selector, Store, parse_selector
from store.interface import EventType, FieldSelectable, Selectable, WatchEvent
from store.seams import Rng

M = TypeVar("M", bound=Object)
M_contra = TypeVar("M_contra", bound=Object, contravariant=True)

Key = tuple[str, str]
IndexFunc = Callable[[M], Iterable[str]]
BucketFunc = Callable[[M], str]
FactsFunc = Callable[[M], Hashable]

log = structlog.get_logger("setpoint.informer")

#: client-go's reflector backoff, NewExponentialBackoffManager(800ms, 30s, 2min, 2.0, 1.0): the first
#: wait, the longest, how long without a wait resets it, the growth factor and the jitter fraction.
RELIST_BACKOFF = 0.8
RELIST_BACKOFF_MAX = 30.0
RELIST_BACKOFF_RESET = 120.0
RELIST_BACKOFF_FACTOR = 2.0
RELIST_BACKOFF_JITTER = 1.0


class RelistBackoff:
    """The wait before each relist, as client-go's exponential backoff manager hands them out.

    Each wait is the current duration stretched by up to ``RELIST_BACKOFF_JITTER`` times itself; the
    duration then doubles, up to `RELIST_BACKOFF_MAX`. A wait asked for more than
    `RELIST_BACKOFF_RESET` seconds after the last one starts again from `RELIST_BACKOFF`.
    """

    def __init__(self, rng: Rng | None = None) -> None:
        self._rng = rng
        self._duration = RELIST_BACKOFF
        self._last: float | None = None

    def next(self, now: float) -> float:
        if self._last is None or now - self._last > RELIST_BACKOFF_RESET:
            self._duration = RELIST_BACKOFF
        self._last = now
        duration = self._duration
        self._duration = min(duration * RELIST_BACKOFF_FACTOR, RELIST_BACKOFF_MAX)
        if self._rng is not None:
            duration += self._rng.random() * RELIST_BACKOFF_JITTER * duration
        return duration


@attrs.frozen
class DeletedFinalStateUnknown(Generic[M]):
    """A delete the informer missed while it was not watching: ``object`` is its last known state."""

    key: Key
    object: M


def final_state(obj: M | DeletedFinalStateUnknown[M]) -> M:
    """The object of a delete notification, unwrapping a tombstone."""
    return obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj


class EventHandler(Protocol[M_contra]):
    """Receives the informer's notifications; each method must return quickly."""

    def on_add(self, obj: M_contra) -> None: ...

    def on_update(self, old: M_contra, new: M_contra) -> None: ...

    def on_delete(self, obj: M_contra | DeletedFinalStateUnknown[Any]) -> None: ...


def key_of(obj: Object) -> Key:
    return (obj.metadata.namespace, obj.metadata.name)


# --- the standard indexes ---------------------------------------------------------------------

BY_NAMESPACE = "namespace"
BY_OWNER = "owner-uid"
BY_NODE = "spec.nodeName"
#: Objects by namespace and controller uid (``<namespace>/`` for orphans): what a controller may claim,
#: found without scanning its namespace.
BY_CONTROLLER = "namespace/controller-uid"


def index_by_namespace(obj: Object) -> Iterable[str]:
    return (obj.metadata.namespace,)


def index_by_owner_uid(obj: Object) -> Iterable[str]:
    refs = obj.metadata.owner_references
    # Every update of every kind asks (the garbage collector indexes them all): most have one owner.
    if len(refs) == 1:
        return (refs[0].uid,)
    return tuple([ref.uid for ref in refs])


def controller_bucket(obj: Object) -> str:
    """``<namespace>/<controller uid>``, or ``<namespace>/`` for an object nothing controls."""
    ref = obj.metadata.controller_ref()
    return f"{obj.metadata.namespace}/{'' if ref is None else ref.uid}"


def index_by_controller(obj: Object) -> Iterable[str]:
    return (controller_bucket(obj),)


def index_by_node_name(obj: Object) -> Iterable[str]:
    node_name = getattr(getattr(obj, "spec", None), "node_name", "")
    return (node_name,) if node_name else ()


def index_by_label(label: str) -> IndexFunc[Object]:
    """An index of objects by the value of one label (objects without it are not indexed)."""

    def index(obj: Object) -> Iterable[str]:
        value = obj.metadata.labels.get(label)
        return () if value is None else (value,)

    return index


class Informer(Generic[M]):
    """The cache of one kind (optionally narrowed by namespace, labels or fields), kept current.

    Run it with ``await task_group.start(informer.run)``: that returns once the initial list is cached.
    ``resync`` re-delivers every cached object to ``on_update`` every so many seconds (jittered up to
    10 % from ``rng``), the way controllers use it to retry stalled work. ``backoff_rng`` jitters the
    wait before a relist (none without it).
    """

    def __init__(
        self,
        store: Store,
        kind: type[M],
        *,
        namespace: str | None = None,
        label_selector: Selectable = None,
        field_selector: FieldSelectable = None,
        clock: Clock | None = None,
        resync: float | None = None,
        rng: Rng | None = None,
        backoff_rng: Rng | None = None,
    ) -> None:
        if resync is not None and resync <= 0:
            raise ValueError("resync must be a positive number of seconds")
        self._store = store
        self._kind = kind
        self._namespace = namespace
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._clock = clock or RealClock()
        self._resync = resync
        self._rng = rng
        self._cache: dict[Key, M] = {}
        self._index_funcs: dict[str, IndexFunc[M]] = {}
        # The index functions an update can move an object in: all but the namespace index, since an
        # object's key holds its namespace (an update is of the same key).
        self._update_index_funcs: dict[str, IndexFunc[M]] = {}
        # index name -> value -> keys; dicts as ordered sets so iteration never depends on hashing.
        self._indexes: dict[str, dict[str, dict[Key, None]]] = {}
        # The keys of one index value in key order, kept until that value's key set changes: controllers
        # read the same index entries after every batch, while most events only change objects in place.
        self._sorted: dict[tuple[str, str], builtins.list[Key]] = {}
        self._all_sorted: builtins.list[Key] | None = None
        # Tallies: name -> (bucket function, facts function, bucket -> facts -> how many objects).
        self._tallies: dict[str, tuple[BucketFunc[M], FactsFunc[M], dict[str, dict[Hashable, int]]]] = {}
        self._handlers: list[EventHandler[M]] = []
        self._revision = 0
        self._synced = False
        self._synced_event = anyio.Event()
        self._backoff = RelistBackoff(backoff_rng)
        #: Set once the relist under way is done (None while watching).
        self._relisted: anyio.Event | None = None
        #: The scope of the watch being read (None before the first list and while relisting).
        self._watching: anyio.CancelScope | None = None
        # Set when the cache moves on, for `wait_for`; made only while someone waits (most batches have
        # no waiter, and an event costs more to make than the batch's bookkeeping).
        self._progress: anyio.Event | None = None
        self.relists = 0
        self.add_index(BY_NAMESPACE, index_by_namespace)

    # --- reading ------------------------------------------------------------------------------

    @property
    def kind(self) -> type[M]:
        return self._kind

    @property
    def has_synced(self) -> bool:
        """Whether the initial list is in the cache."""
        return self._synced

    @property
    def relisting(self) -> bool:
        """Whether the watch ended and the informer is waiting to list again (or listing)."""
        return self._relisted is not None

    @property
    def revision(self) -> int:
        """The store revision the cache reflects (everything up to it has been applied)."""
        return self._revision

    def get(self, name: str, namespace: str = "") -> M | None:
        return self._cache.get((namespace, name))

    def list(self, namespace: str | None = None, selector: Selector | str | None = None) -> builtins.list[M]:
        """Cached objects in key order, optionally of one namespace and matching ``selector``."""
        cache = self._cache
        if namespace is not None:
            keys = self._sorted_keys(BY_NAMESPACE, namespace)
        else:
            if self._all_sorted is None:
                self._all_sorted = sorted(cache)
            keys = self._all_sorted
        if selector is None:
            return [cache[key] for key in keys]
        compiled = parse_selector(selector) if isinstance(selector, str) else selector
        return _matching([cache[key] for key in keys], compiled)

    def by_index(self, index: str, value: str) -> builtins.list[M]:
        """Cached objects whose ``index`` function yields ``value``, in key order."""
        if index not in self._indexes:
            raise KeyError(f"no index named {index!r}")
        cache = self._cache
        return [cache[key] for key in self._sorted_keys(index, value)]

    def keys_by_index(self, index: str, value: str) -> Sequence[Key]:
        """The keys of `by_index`, in key order, without the objects: read-only, and only until the
        informer next applies a change (the same sequence is handed out while the index value is
        unchanged)."""
        if index not in self._indexes:
            raise KeyError(f"no index named {index!r}")
        return self._sorted_keys(index, value)

    def _sorted_keys(self, index: str, value: str) -> builtins.list[Key]:
        keys = self._sorted.get((index, value))
        if keys is None:
            members = self._indexes[index].get(value)
            if not members:
                return []  # nothing to keep: most lookups of absent values are one-offs
            keys = self._sorted[(index, value)] = sorted(members)
        return keys

    def tally(self, name: str, bucket: str) -> Mapping[Hashable, int]:
        """How many cached objects of ``bucket`` have each facts value, in the tally ``name``.

        Kept current with the cache, so a reader learns what a bucket's objects add up to without
        visiting them. Read-only for the caller.
        """
        try:
            counts = self._tallies[name][2]
        except KeyError:
            raise KeyError(f"no tally named {name!r}") from None
        return counts.get(bucket, _NO_COUNTS)

    def index_values(self, index: str) -> builtins.list[str]:
        return sorted(value for value, keys in self._indexes[index].items() if keys)

    def __len__(self) -> int:
        return len(self._cache)

    def __iter__(self) -> Iterator[M]:
        return iter(self.list())

    # --- extending ----------------------------------------------------------------------------

    def add_index(self, name: str, func: IndexFunc[M]) -> None:
        """Add an index; allowed while running (it is built from the current cache at once)."""
        if name in self._index_funcs:
            raise ValueError(f"index {name!r} already exists")
        self._index_funcs[name] = func
        if name != BY_NAMESPACE:
            self._update_index_funcs[name] = func
        index: dict[str, dict[Key, None]] = {}
        for key, obj in self._cache.items():
            for value in func(obj):
                index.setdefault(value, {})[key] = None
        self._indexes[name] = index

    def ensure_index(self, name: str, func: IndexFunc[M]) -> None:
        """Add the index unless one of that name exists (several controllers share standard indexes)."""
        if name not in self._index_funcs:
            self.add_index(name, func)

    def ensure_tally(self, name: str, bucket: BucketFunc[M], facts: FactsFunc[M]) -> None:
        """Count the cached objects by ``bucket(obj)`` and ``facts(obj)`` (read with `tally`).

        Both functions must be pure functions of the object. Allowed while running: the tally is built
        from the current cache at once. A tally of that name already there is kept.
        """
        if name in self._tallies:
            return
        counts: dict[str, dict[Hashable, int]] = {}
        for obj in self._cache.values():
            _count(counts, bucket(obj), facts(obj), 1)
        self._tallies[name] = (bucket, facts, counts)

    def add_handler(self, handler: EventHandler[M]) -> None:
        """Register a handler; if the cache is already filled it first gets an add for each object."""
        self._handlers.append(handler)
        for obj in self.list():
            handler.on_add(obj)

    def remove_handler(self, handler: EventHandler[M]) -> None:
        self._handlers.remove(handler)

    async def wait_synced(self) -> None:
        """Wait until the initial list is in the cache (client-go's WaitForCacheSync)."""
        await self._synced_event.wait()

    async def relist(self) -> None:
        """List afresh now and watch on from that list, as a newly started process would.

        Returns once the cache holds the list. A relist already under way (the watch was lost) is
        waited for instead, backoff included; before the first list, that list is waited for.
        Handlers see what the list changed, as after a lost watch.
        """
        if self._synced and self._relisted is None and self._watching is not None:
            self._relisted = anyio.Event()
            self._watching.cancel()
        await self.wait_synced()
        while self._relisted is not None:
            await self._relisted.wait()

    async def wait_for(self, revision: int) -> None:
        """Wait until the cache reflects at least store revision ``revision``."""
        while self._revision < revision:
            if self._progress is None:
                self._progress = anyio.Event()
            await self._progress.wait()

    # --- running ------------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """List, then watch, relisting whenever the watch is Gone; reports started once synced."""
        await self._relist()
        self._synced = True
        self._synced_event.set()
        task_status.started()
        if self._resync is None:
            # No task group without a second task: every example of a simulation starts and cancels
            # one per kind.
            await self._watch_forever()
        else:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._resync_forever)
                await self._watch_forever()

    async def _watch_forever(self) -> None:
        while True:
            wait = 0.0
            with anyio.CancelScope() as self._watching:  # cancelled by `relist`
                try:
                    await self._watch()
                except Gone:
                    self.relists += 1
                    if self._relisted is None:  # not already asked for by `relist`
                        self._relisted = anyio.Event()
                    wait = self._backoff.next(self._clock.monotonic())
                    log.debug(
                        "watch gone, relisting", kind=self._kind.kind, revision=self._revision, wait=wait
                    )
            self._watching = None
            relisted = self._relisted
            assert relisted is not None  # set by the Gone above or by `relist`
            try:
                if wait:
                    await self._clock.sleep(wait)
                await self._relist()
            finally:
                self._relisted = None
                relisted.set()

    async def _watch(self) -> None:
        watch = self._store.watch(
            self._kind,
            since=self._revision,
            namespace=self._namespace,
            label_selector=self._label_selector,
            field_selector=self._field_selector,
            bookmarks=True,
        )
        async with watch:
            while True:
                self._apply_batch(await watch.next_batch())
                self._advance(watch.revision)

    async def _relist(self) -> None:
        listed = await self._store.list(
            self._kind,
            namespace=self._namespace,
            label_selector=self._label_selector,
            field_selector=self._field_selector,
        )
        fresh = {key_of(obj): obj for obj in listed.items}
        for key in [key for key in self._cache if key not in fresh]:
            gone = self._cache[key]
            self._remove(key, gone)
            self._notify_delete(DeletedFinalStateUnknown(key, gone))
        for key, obj in fresh.items():
            old = self._cache.get(key)
            if old is None:
                self._put(key, obj, None)
                self._notify_add(obj)
            elif old.metadata.resource_version != obj.metadata.resource_version:
                self._put(key, obj, old)
                self._notify_update(old, obj)
        self._advance(listed.revision)

    def _apply_batch(self, batch: Iterable[WatchEvent[M]]) -> None:
        for event in batch:
            obj = event.object
            if obj is not None:
                key = key_of(obj)
                old = self._cache.get(key)
                if event.type is EventType.DELETED:
                    if old is not None:
                        self._remove(key, old)
                    if old is not None and old.metadata.uid != obj.metadata.uid:
                        # Events coalesced past a replacement: the object the cache held went at some
                        # point, as a relist would say; the one deleted here was never seen.
                        self._notify_delete(DeletedFinalStateUnknown(key, old))
                    else:
                        self._notify_delete(obj)
                elif old is None:
                    self._put(key, obj, None)
                    self._notify_add(obj)
                else:
                    self._put(key, obj, old)
                    self._notify_update(old, obj)
            self._revision = event.revision
        self._advance(self._revision)

    def _advance(self, revision: int) -> None:
        self._revision = max(self._revision, revision)
        progress = self._progress
        if progress is not None:
            self._progress = None
            progress.set()

    async def _resync_forever(self) -> None:
        assert self._resync is not None
        while True:
            jitter = self._rng.uniform(0.0, 0.1) if self._rng is not None else 0.0
            await self._clock.sleep(self._resync * (1.0 + jitter))
            for obj in self.list():
                self._notify_update(obj, obj)

    # --- the cache and its indexes --------------------------------------------------------------

    def _put(self, key: Key, obj: M, old: M | None) -> None:
        self._cache[key] = obj
        sorted_keys = self._sorted
        if old is None:
            self._all_sorted = None
        for name, func in (self._index_funcs if old is None else self._update_index_funcs).items():
            new_values = func(obj)
            if old is not None:
                old_values = func(old)
                # Equal as returned (the standard functions return tuples), or else as tuples: a
                # function may return an iterator, which is read once.
                if old_values == new_values:
                    continue
                old_values, new_values = tuple(old_values), tuple(new_values)
                if old_values == new_values:
                    continue
            index = self._indexes[name]
            if old is not None:
                for value in old_values:
                    _discard(index, value, key)
                    sorted_keys.pop((name, value), None)
            for value in new_values:
                index.setdefault(value, {})[key] = None
                sorted_keys.pop((name, value), None)
        for bucket_of, facts_of, counts in self._tallies.values():
            new_bucket, new_facts = bucket_of(obj), facts_of(obj)
            if old is not None:
                old_bucket, old_facts = bucket_of(old), facts_of(old)
                if old_bucket == new_bucket and old_facts == new_facts:
                    continue
                _count(counts, old_bucket, old_facts, -1)
            _count(counts, new_bucket, new_facts, 1)

    def _remove(self, key: Key, old: M) -> None:
        del self._cache[key]
        self._all_sorted = None
        sorted_keys = self._sorted
        for name, func in self._index_funcs.items():
            for value in func(old):
                _discard(self._indexes[name], value, key)
                sorted_keys.pop((name, value), None)
        for bucket_of, facts_of, counts in self._tallies.values():
            _count(counts, bucket_of(old), facts_of(old), -1)

    # --- notifications --------------------------------------------------------------------------

    def _notify_add(self, obj: M) -> None:
        for handler in self._handlers:
            handler.on_add(obj)

    def _notify_update(self, old: M, new: M) -> None:
        for handler in self._handlers:
            handler.on_update(old, new)

    def _notify_delete(self, obj: M | DeletedFinalStateUnknown[M]) -> None:
        for handler in self._handlers:
            handler.on_delete(obj)

    # --- checks for tests -----------------------------------------------------------------------

    def snapshot(self, scheme: Scheme) -> Mapping[Key, dict[str, Any]]:
        """The wire form of every cached object, for `find_mutations`."""
        return {key: scheme.to_dict(obj) for key, obj in self._cache.items()}

    def find_mutations(self, scheme: Scheme, snapshot: Mapping[Key, dict[str, Any]]) -> builtins.list[Key]:
        """Keys whose cached object no longer matches ``snapshot`` although its version did not change.

        Objects are frozen, so this only fires when something forced its way past that (the cache
        mutation detector of client-go, for the same class of bug).
        """
        return [
            key
            for key, obj in self._cache.items()
            if key in snapshot
            and snapshot[key]["metadata"].get("resourceVersion") == obj.metadata.resource_version
            and scheme.to_dict(obj) != snapshot[key]
        ]

    async def differences(self) -> builtins.list[str]:
        """How the cache differs from the store, once it has caught up with the store's revision.

        Empty when they agree: every key present in both with the same resourceVersion.
        """
        listed = await self._store.list(
            self._kind,
            namespace=self._namespace,
            label_selector=self._label_selector,
            field_selector=self._field_selector,
        )
        await self.wait_for(listed.revision)
        expected = {key_of(obj): obj.metadata.resource_version for obj in listed.items}
        cached = {key: obj.metadata.resource_version for key, obj in self._cache.items()}
        problems = [f"missing from cache: {key}" for key in sorted(expected.keys() - cached.keys())]
        problems += [f"not in store: {key}" for key in sorted(cached.keys() - expected.keys())]
        problems += [
            f"stale: {key} cached at {cached[key]}, stored at {expected[key]}"
            for key in sorted(expected.keys() & cached.keys())
            if cached[key] != expected[key]
        ]
        return problems


def _matching(objects: Iterable[M], selector: Selector) -> builtins.list[M]:
    """The objects whose labels ``selector`` matches.

    Objects made from one template share its label mapping, so a verdict is reused while the mapping
    is the same object.
    """
    matched: builtins.list[M] = []
    last: object = None
    verdict = False
    for obj in objects:
        labels = obj.metadata.labels
        if labels is not last:
            last, verdict = labels, selector.matches(labels)
        if verdict:
            matched.append(obj)
    return matched


_NO_COUNTS: Mapping[Hashable, int] = MappingProxyType({})


def _count(counts: dict[str, dict[Hashable, int]], bucket: str, facts: Hashable, delta: int) -> None:
    tally = counts.get(bucket)
    if tally is None:
        tally = counts[bucket] = {}
    total = tally.get(facts, 0) + delta
    if total:
        tally[facts] = total
    else:
        del tally[facts]
        if not tally:
            del counts[bucket]


def _discard(index: dict[str, dict[Key, None]], value: str, key: Key) -> None:
    keys = index.get(value)
    if keys is not None:
        keys.pop(key, None)
        if not keys:
            del index[value]
