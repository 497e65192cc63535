"""The `Store` protocol every backend implements, and the values it hands out.

A store is our apiserver and etcd in one: typed objects addressed by kind, namespace and name; one global
revision that every committed write advances by exactly one; watches that replay history from any revision
still kept. `MemoryStore` implements it in process; an etcd backend implements the same protocol. The
protocol says nothing about how objects are validated (`store.strategy`) or converted (`store.scheme`).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, Literal, NamedTuple, Protocol, Self, TypeVar

import attrs

from store.models import Object
from store.scheme import Scheme
from store.selectors import FieldSelector, Selector

M = TypeVar("M", bound=Object)
M_co = TypeVar("M_co", bound=Object, covariant=True)


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"


class PropagationPolicy(enum.StrEnum):
    """What happens to an object's dependents when it is deleted (garbage collection)."""

    BACKGROUND = "Background"
    FOREGROUND = "Foreground"
    ORPHAN = "Orphan"


PatchType = Literal["merge", "json"]


class WatchEvent(NamedTuple, Generic[M_co]):
    """One change: the object after it (for DELETED, its last state) at store ``revision``.

    ``previous`` is the object before the change (None for ADDED); a BOOKMARK carries no object and only
    says the watcher has seen everything up to ``revision``. A named tuple: the store makes one per
    write, and a tuple is built in one C call where a frozen attrs class sets each field in turn.
    """

    type: EventType
    object: M_co | None
    revision: int
    previous: M_co | None = None

    @property
    def resource_version(self) -> str:
        return str(self.revision)


@attrs.frozen
class ListResult(Generic[M_co]):
    """The items of a list, in key order, and the revision they were read at."""

    items: tuple[M_co, ...]
    revision: int

    @property
    def resource_version(self) -> str:
        return str(self.revision)


class Watch(Protocol[M_co]):
    """A stream of `WatchEvent` for one kind, from a revision on, in revision order.

    Ends with `Gone` when the watcher falls behind the history the store keeps. Use it as an async
    context manager (or call `close`) so the store can forget the cursor.
    """

    def __aiter__(self) -> AsyncIterator[WatchEvent[M_co]]: ...

    @property
    def revision(self) -> int:
        """The store revision this watch has seen everything up to (filtered-out events included)."""
        ...

    async def next_batch(self) -> Sequence[WatchEvent[M_co]]:
        """Wait for at least one event and return every event available now, in order."""
        ...

    def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class WatchBase(abc.ABC, Generic[M_co]):
    """The shared shape of watch implementations: iteration and ``async with`` from `next_batch`/`close`."""

    @abc.abstractmethod
    async def next_batch(self) -> Sequence[WatchEvent[M_co]]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[WatchEvent[M_co]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WatchEvent[M_co]]:
        while True:
            try:
                batch = await self.next_batch()
            except StopAsyncIteration:
                return
            for event in batch:
                yield event

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


Selectable = str | Selector | None
FieldSelectable = str | FieldSelector | None


class Store(Protocol):
    """The storage API the runtime and the controllers are written against."""

    @property
    def scheme(self) -> Scheme: ...

    @property
    def revision(self) -> int:
        """The revision of the last committed write (0 for an empty store)."""
        ...

    async def create(self, obj: M) -> M: ...

    async def get(self, kind: type[M], name: str, namespace: str = "") -> M: ...

    async def list(
        self,
        kind: type[M],
        *,
        namespace: str | None = None,
        label_selector: Selectable = None,
        field_selector: FieldSelectable = None,
    ) -> ListResult[M]: ...

    async def update(self, obj: M) -> M: ...

    async def update_status(self, obj: M) -> M: ...

    async def patch(
        self,
        kind: type[M],
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        namespace: str = "",
        *,
        patch_type: PatchType = "merge",
        status: bool = False,
    ) -> M: ...

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
    ) -> M: ...

    async def bind(self, name: str, namespace: str, node_name: str, *, uid: str | None = None) -> Any:
        """Set a pending pod's ``spec.nodeName`` (the pods/binding subresource)."""
        ...

    def watch(
        self,
        kind: type[M],
        *,
        since: str | int | None = None,
        namespace: str | None = None,
        label_selector: Selectable = None,
        field_selector: FieldSelectable = None,
        bookmarks: bool = False,
    ) -> Watch[M]: ...
