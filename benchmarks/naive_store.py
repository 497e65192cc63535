"""A deliberately straightforward object store: the reference the store benchmarks compare against.

This is the shape a first implementation of a watchable store usually takes, so that a benchmark
can say how much the design of `store.MemoryStore` buys: a dict of objects keyed by kind, namespace
and name; a **deep copy** of the object on every write (so the caller's value cannot change the
stored one) and on every read, including the object a write returns (so a reader cannot change it
either); and an ``asyncio.Queue`` per watcher, with every event put into every queue. Events carry
the stored copy itself (one copy per write, shared by the queues).

It keeps the store's observable contract where the workload touches it — one global revision,
optimistic concurrency on ``resourceVersion``, ``update_status`` writing the status only, namespace
and label selectors on list — and nothing else: no validation, defaulting, finalizers, history or
field selectors. Not for use outside ``benchmarks/``.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import attrs

from store.errors import AlreadyExists, Conflict, NotFound
from store.interface import EventType, ListResult, WatchEvent
from store.models import Object, ObjectMeta
from store.selectors import Selector, parse_selector

M = TypeVar("M", bound=Object)

_Key = tuple[str, str]


class NaiveWatch:
    """One watcher's queue of events; `next_batch` waits for one and drains the rest."""

    def __init__(self, store: NaiveStore, kind: type[Object]) -> None:
        self._store = store
        self._kind = kind
        self.queue: asyncio.Queue[WatchEvent[Object]] = asyncio.Queue()

    async def next_batch(self) -> list[WatchEvent[Object]]:
        batch = [await self.queue.get()]
        while not self.queue.empty():
            batch.append(self.queue.get_nowait())
        return batch

    def close(self) -> None:
        self._store._unsubscribe(self._kind, self)


class NaiveStore:
    """A dict store with deep copies on write and read and a queue per watcher."""

    def __init__(self) -> None:
        self._objects: dict[type[Object], dict[_Key, Object]] = {}
        self._watchers: dict[type[Object], list[NaiveWatch]] = {}
        self._revision = 0

    @property
    def revision(self) -> int:
        return self._revision

    # --- reads --------------------------------------------------------------------------------

    async def get(self, kind: type[M], name: str, namespace: str = "default") -> M:
        obj = self._objects.get(kind, {}).get((namespace, name))
        if obj is None:
            raise NotFound(f'{kind.__name__} "{name}" not found')
        return cast(M, copy.deepcopy(obj))

    def list_now(
        self,
        kind: type[M],
        *,
        namespace: str | None = None,
        label_selector: str | Selector | None = None,
    ) -> ListResult[M]:
        selector = parse_selector(label_selector) if isinstance(label_selector, str) else None
        selector = selector if selector is not None else cast(Selector | None, label_selector)
        items = []
        for (ns, _), obj in sorted(self._objects.get(kind, {}).items(), key=_first):
            if namespace is not None and ns != namespace:
                continue
            meta: ObjectMeta = obj.metadata
            if selector is not None and not selector.matches(meta.labels):
                continue
            items.append(copy.deepcopy(obj))
        return ListResult(items=cast(tuple[M, ...], tuple(items)), revision=self._revision)

    async def list(
        self,
        kind: type[M],
        *,
        namespace: str | None = None,
        label_selector: str | Selector | None = None,
    ) -> ListResult[M]:
        return self.list_now(kind, namespace=namespace, label_selector=label_selector)

    # --- writes -------------------------------------------------------------------------------

    async def create(self, obj: M) -> M:
        meta: ObjectMeta = obj.metadata
        namespace = meta.namespace or "default"
        objects = self._objects.setdefault(type(obj), {})
        if (namespace, meta.name) in objects:
            raise AlreadyExists(f'{type(obj).__name__} "{meta.name}" already exists')
        stored = copy.deepcopy(obj)
        stamped = attrs.evolve(
            meta,
            namespace=namespace,
            uid=str(uuid.uuid4()),
            creation_timestamp=datetime.now(UTC).replace(microsecond=0),
            generation=1,
            resource_version=str(self._revision + 1),
        )
        stored = attrs.evolve(stored, metadata=stamped)
        self._commit(EventType.ADDED, (namespace, meta.name), stored, None)
        return copy.deepcopy(stored)

    async def update(self, obj: M) -> M:
        return self._replace(obj, status_only=False)

    async def update_status(self, obj: M) -> M:
        return self._replace(obj, status_only=True)

    def _replace(self, obj: M, *, status_only: bool) -> M:
        meta: ObjectMeta = obj.metadata
        key = (meta.namespace or "default", meta.name)
        current = self._objects.get(type(obj), {}).get(key)
        if current is None:
            raise NotFound(f'{type(obj).__name__} "{meta.name}" not found')
        current_meta: ObjectMeta = current.metadata
        if meta.resource_version != current_meta.resource_version:
            raise Conflict(f'{type(obj).__name__} "{meta.name}": the object has been modified')
        stored: Any = copy.deepcopy(obj)
        if status_only:
            stored = attrs.evolve(current, status=stored.status)  # type: ignore[call-arg]
        else:
            stored = attrs.evolve(stored, status=current.status)  # type: ignore[attr-defined]
        stamped = attrs.evolve(stored.metadata, resource_version=str(self._revision + 1))
        stored = attrs.evolve(stored, metadata=stamped)
        self._commit(EventType.MODIFIED, key, stored, current)
        return cast(M, copy.deepcopy(stored))

    def _commit(self, type_: EventType, key: _Key, obj: Object, previous: Object | None) -> None:
        self._revision += 1
        self._objects.setdefault(type(obj), {})[key] = obj
        event: WatchEvent[Object] = WatchEvent(type_, obj, self._revision, previous)
        for watcher in self._watchers.get(type(obj), ()):
            watcher.queue.put_nowait(event)

    # --- watch --------------------------------------------------------------------------------

    def watch(self, kind: type[Object]) -> NaiveWatch:
        """Every change of ``kind`` from now on."""
        watcher = NaiveWatch(self, kind)
        self._watchers.setdefault(kind, []).append(watcher)
        return watcher

    def _unsubscribe(self, kind: type[Object], watcher: NaiveWatch) -> None:
        watchers = self._watchers.get(kind, [])
        if watcher in watchers:
            watchers.remove(watcher)


def _first(item: tuple[_Key, Object]) -> _Key:
    return item[0]
