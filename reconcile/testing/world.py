"""World and Invariant: what a property checks, and the store replayed write by write to check it on.

A `World` reads watches of the kinds the invariants care about, opened on the `MemoryStore` itself (not
the faulty view controllers get), and replays every committed write in revision order: after each event
it holds exactly the state of the store after that write. An `Invariant` is told of every write
(``on_write``, for safety: nothing bad ever happens) and of every quiescent point (``on_settled``, for
convergence: the good thing happened), and answers with the violations it saw.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from store import MemoryStore, Object
from store.interface import EventType, WatchEvent
from store.memory import MemoryWatch

if TYPE_CHECKING:
    from reconcile.testing.simulation import Simulation

M = TypeVar("M", bound=Object)
Key = tuple[str, str]


class InvariantViolation(AssertionError):
    """An invariant does not hold; the message says which, where and at which revision."""


class World:
    """The store's objects of some kinds, replayed one committed write at a time."""

    def __init__(self, store: MemoryStore, kinds: Iterable[type[Object]]) -> None:
        self._kinds = tuple(dict.fromkeys(kinds))
        self._watches: list[MemoryWatch[Any]] = [store.watch(kind, since=0) for kind in self._kinds]
        self._objects: dict[type[Object], dict[Key, Object]] = {kind: {} for kind in self._kinds}
        self.revision = 0
        #: The object as it was before the event being replayed (None for a create).
        self.previous: Object | None = None

    @property
    def kinds(self) -> tuple[type[Object], ...]:
        return self._kinds

    def events(self) -> Iterator[WatchEvent[Any]]:
        """Every write committed since the last call, applied to the world as it is yielded."""
        batches = [watch.ready() for watch in self._watches]
        for event in heapq.merge(*batches, key=lambda event: event.revision):
            obj = event.object
            if obj is None:
                continue
            objects = self._objects[type(obj)]
            key = (obj.metadata.namespace, obj.metadata.name)
            self.previous = objects.get(key)
            if event.type is EventType.DELETED:
                objects.pop(key, None)
            else:
                objects[key] = obj
            self.revision = event.revision
            yield event
        self.previous = None

    def list(self, kind: type[M], namespace: str | None = None) -> list[M]:
        """The objects of ``kind`` (optionally of one namespace), in name order."""
        objects = self._objects.get(kind)
        if objects is None:
            raise KeyError(f"the world does not follow {kind.kind}")
        found: list[Any] = [
            obj for key, obj in sorted(objects.items()) if namespace is None or key[0] == namespace
        ]
        return found

    def get(self, kind: type[M], name: str, namespace: str = "") -> M | None:
        return self._objects[kind].get((namespace, name))  # type: ignore[return-value]

    def close(self) -> None:
        for watch in self._watches:
            watch.close()


class Invariant:
    """A property of a run. Subclasses list the ``kinds`` they read and override one or both hooks.

    ``on_write`` is called after every committed write of one of ``kinds`` (safety); ``on_settled``
    once the simulation is quiet with faults off (convergence), and ``on_window`` after a further window
    of virtual time (stability: by default the same check again). Each returns the violations it saw.
    """

    kinds: ClassVar[tuple[type[Object], ...]] = ()
    #: Whether a promise that holds only without faults: the machine stops checking it once one is armed.
    void_under_faults: ClassVar[bool] = False

    def on_write(self, world: World, event: WatchEvent[Any]) -> Iterable[str]:
        return ()

    def on_settled(self, world: World, simulation: Simulation) -> Iterable[str]:
        return ()

    def on_window(self, world: World, simulation: Simulation) -> Iterable[str]:
        return self.on_settled(world, simulation)

    @property
    def name(self) -> str:
        return type(self).__name__
