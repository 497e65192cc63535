"""Fault seams for simulations: a store wrapper that fails writes and perturbs what watchers see.

`FaultyStore` wraps a `MemoryStore` and consults `Faults` on every call. Faults cover what Sieve and
Anvil perturb, without instrumenting the controllers:

- write errors: the next writes fail with 409 Conflict or 500 InternalError, changing nothing;
- crashes: after N more writes, the next write raises `Crash` (intermediate state: a reconcile stopped
  between two writes), which the controller treats as a crash and restarts from scratch;
- watch drops: open watches of a kind end with `Gone`, so informers relist;
- stale state: watches of a kind hold back the last ``k`` revisions, and look again only when that
  kind is written (or a fault changes), so an event of a seldom-written kind can stay held much longer;
- unobserved state: watches of a kind coalesce each batch to the last event per object;
- delays: watches of a kind deliver events only ``seconds`` after they happened.

Every fault that fires is recorded in the trace. Clearing the faults releases whatever is held back.

The same faults exist as plain data too — `DropWatches`, `Stale`, `Coalesce`, `Delay`,
`CrashBetweenWrites`, `FailWrites`, `JumpClock` — which Hypothesis draws as fault schedules
(``reconcile.testing.strategies``) and which print, note and replay as one line each; ``arm`` sets the
switchboard of a `Simulation`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import attrs

from reconcile.clock import Clock
from reconcile.controller import Crash, current_controller
from reconcile.trace import Trace
from store import Conflict, Gone, InternalError, MemoryStore, Object, PropagationPolicy, Scheme
from store.interface import FieldSelectable, ListResult, PatchType, Selectable, WatchBase, WatchEvent
from store.memory import MemoryWatch
from store.models import Pod

if TYPE_CHECKING:
    from reconcile.testing.simulation import Simulation

M = TypeVar("M", bound=Object)
T = TypeVar("T")

WriteError = Literal["conflict", "internal"]


@attrs.define
class _WriteFault:
    error: WriteError
    remaining: int
    kind: type[Object] | None
    verbs: frozenset[str]
    controller: str | None

    def applies(self, verb: str, kind: type[Object], writer: str | None) -> bool:
        return (
            (self.kind is None or self.kind is kind)
            and (not self.verbs or verb in self.verbs)
            and (self.controller is None or self.controller == writer)
        )


class Faults:
    """The switchboard of armed faults. Everything here is off until armed, and `clear` disarms all."""

    def __init__(self) -> None:
        self._write_faults: list[_WriteFault] = []
        self._crash_after: int | None = None
        self._crash_controller: str | None = None
        self._drop_generation: dict[type[Object] | None, int] = {}
        self.lag: dict[type[Object], int] = {}
        self.coalesced: set[type[Object]] = set()
        self.delays: dict[type[Object], float] = {}
        # Watches waiting for a change, woken (their wait's scope cancelled) in the order they began
        # to wait, so a run wakes them the same way every time.
        self._waiters: dict[anyio.CancelScope, None] = {}

    def fail_writes(
        self,
        count: int = 1,
        *,
        error: WriteError = "conflict",
        kind: type[Object] | None = None,
        verbs: Sequence[str] = (),
        controller: str | None = None,
    ) -> None:
        """Make the next ``count`` matching writes fail with 409 Conflict or 500 InternalError.

        ``controller`` narrows it to the writes of that controller's reconciles; None means any writer.
        """
        self._write_faults.append(_WriteFault(error, count, kind, frozenset(verbs), controller))

    def crash_after(self, writes: int, *, controller: str | None = None) -> None:
        """Let ``writes`` more controller writes commit, then crash the controller making the next one.

        Only writes made from a reconcile count (of ``controller``, or of any controller when None):
        the crash lands between two writes of one reconcile, or between reconciles.
        """
        self._crash_after = writes
        self._crash_controller = controller

    def drop_watches(self, kind: type[Object] | None = None) -> None:
        """End every open watch of ``kind`` (all kinds when None) with Gone."""
        self._drop_generation[kind] = self._drop_generation.get(kind, 0) + 1
        self._notify()

    def stale(self, kind: type[Object], revisions: int) -> None:
        """Hold back, from watchers of ``kind``, events of the latest ``revisions`` revisions.

        A watch looks again when ``kind`` is written or a fault changes, not at every write: an event
        stays held until then, however many revisions of other kinds go by (a cache can fall that far
        behind when its watch stalls).
        """
        self.lag[kind] = revisions
        self._notify()

    def coalesce(self, kind: type[Object]) -> None:
        """Let watchers of ``kind`` see only the last event of each object in a batch."""
        self.coalesced.add(kind)
        self._notify()

    def delay(self, kind: type[Object], seconds: float) -> None:
        """Deliver events of ``kind`` to watchers only ``seconds`` after they happened."""
        self.delays[kind] = seconds
        self._notify()

    def clear(self) -> None:
        """Disarm every fault and release every held-back event.

        Waiting watches are woken only when some were holding events back (a lag or a delay): no
        other fault changes what a watch may deliver, so waking them would only cost a loop turn each.
        """
        holding = bool(self.lag or self.delays)
        self._write_faults.clear()
        self._crash_after = None
        self.lag.clear()
        self.coalesced.clear()
        self.delays.clear()
        if holding:
            self._notify()

    @property
    def armed(self) -> bool:
        return bool(
            self._write_faults or self._crash_after is not None or self.lag or self.coalesced or self.delays
        )

    def drop_generation(self, kind: type[Object]) -> int:
        return self._drop_generation.get(kind, 0) + self._drop_generation.get(None, 0)

    def wake_on_change(self, scope: anyio.CancelScope) -> None:
        """Cancel ``scope`` on the next change of the armed faults (a watch's wait ends there)."""
        self._waiters[scope] = None

    def forget(self, scope: anyio.CancelScope) -> None:
        self._waiters.pop(scope, None)

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, {}
        for scope in waiters:
            scope.cancel()

    def before_write(self, verb: str, kind: type[Object], name: str) -> None:
        """Raise the armed error for this write, if any (before it can commit)."""
        writer = current_controller.get()
        crash_armed = self._crash_after is not None and writer is not None
        if crash_armed and self._crash_controller in (None, writer):
            if self._crash_after == 0:
                self._crash_after = None
                raise Crash(f"simulated crash of {writer} before {verb} of {kind.kind} {name}")
            self._crash_after = (self._crash_after or 0) - 1
        for fault in self._write_faults:
            if fault.remaining > 0 and fault.applies(verb, kind, writer):
                fault.remaining -= 1
                if fault.error == "conflict":
                    raise Conflict(
                        f'Operation cannot be fulfilled on {kind.kind.lower()} "{name}": injected conflict'
                    )
                raise InternalError(f"injected internal error on {verb} of {kind.kind} {name}")


# --- faults as data -------------------------------------------------------------------------


def _kind(simulation: Simulation, name: str) -> type[Object]:
    info = simulation.store.scheme.find(name)
    if info is None:
        raise ValueError(f"no kind {name!r} in the simulation's scheme")
    return info.cls


class Fault:
    """One fault of a schedule, as data: ``arm`` sets it on a simulation's switchboard."""

    def arm(self, simulation: Simulation) -> None:
        raise NotImplementedError


@attrs.frozen
class DropWatches(Fault):
    """End the open watches of ``kind`` (every kind when None) with Gone: informers relist."""

    kind: str | None = None

    def arm(self, simulation: Simulation) -> None:
        simulation.faults.drop_watches(None if self.kind is None else _kind(simulation, self.kind))


@attrs.frozen
class Stale(Fault):
    """Serve watchers of ``kind`` a view lagging ``revisions`` revisions behind (stale state); an
    event is released at the next write of ``kind`` (or fault change) once it is old enough."""

    kind: str
    revisions: int

    def arm(self, simulation: Simulation) -> None:
        simulation.faults.stale(_kind(simulation, self.kind), self.revisions)


@attrs.frozen
class Coalesce(Fault):
    """Let watchers of ``kind`` see only each object's last event of a batch (unobserved state)."""

    kind: str

    def arm(self, simulation: Simulation) -> None:
        simulation.faults.coalesce(_kind(simulation, self.kind))


@attrs.frozen
class Delay(Fault):
    """Deliver events of ``kind`` ``seconds`` late."""

    kind: str
    seconds: float

    def arm(self, simulation: Simulation) -> None:
        simulation.faults.delay(_kind(simulation, self.kind), self.seconds)


@attrs.frozen
class CrashBetweenWrites(Fault):
    """Crash ``controller`` (any when None) after ``after`` more of its writes (intermediate state)."""

    after: int
    controller: str | None = None

    def arm(self, simulation: Simulation) -> None:
        simulation.faults.crash_after(self.after, controller=self.controller)


@attrs.frozen
class FailWrites(Fault):
    """Fail the next ``count`` writes (of ``kind``, or any) with 409 Conflict or 500 InternalError."""

    count: int
    error: WriteError = "conflict"
    kind: str | None = None

    def arm(self, simulation: Simulation) -> None:
        kind = None if self.kind is None else _kind(simulation, self.kind)
        simulation.faults.fail_writes(self.count, error=self.error, kind=kind)


@attrs.frozen
class JumpClock(Fault):
    """Step the time of day by ``seconds`` (timers unaffected)."""

    seconds: float

    def arm(self, simulation: Simulation) -> None:
        simulation.jump_clock(self.seconds)


class FaultyStore:
    """A `Store` over a `MemoryStore` that applies `Faults` and records every write in a `Trace`."""

    def __init__(self, inner: MemoryStore, faults: Faults, trace: Trace, clock: Clock) -> None:
        self.inner = inner
        self.faults = faults
        self.trace = trace
        self.clock = clock

    @property
    def scheme(self) -> Scheme:
        return self.inner.scheme

    @property
    def revision(self) -> int:
        return self.inner.revision

    async def get(self, kind: type[M], name: str, namespace: str = "") -> M:
        return await self.inner.get(kind, name, namespace)

    async def list(
        self,
        kind: type[M],
        *,
        namespace: str | None = None,
        label_selector: Selectable = None,
        field_selector: FieldSelectable = None,
    ) -> ListResult[M]:
        return await self.inner.list(
            kind, namespace=namespace, label_selector=label_selector, field_selector=field_selector
        )

    async def create(self, obj: M) -> M:
        name = obj.metadata.name or obj.metadata.generate_name
        return await self._write("create", type(obj), name, obj.metadata.namespace, self.inner.create(obj))

    async def update(self, obj: M) -> M:
        meta = obj.metadata
        return await self._write("update", type(obj), meta.name, meta.namespace, self.inner.update(obj))

    async def update_status(self, obj: M) -> M:
        meta = obj.metadata
        return await self._write(
            "update_status", type(obj), meta.name, meta.namespace, self.inner.update_status(obj)
        )

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
        call = self.inner.patch(kind, name, patch, namespace, patch_type=patch_type, status=status)
        return await self._write("patch", kind, name, namespace, call)

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
        call = self.inner.delete(
            kind,
            name,
            namespace,
            propagation_policy=propagation_policy,
            grace_period_seconds=grace_period_seconds,
            uid=uid,
            resource_version=resource_version,
        )
        return await self._write("delete", kind, name, namespace, call)

    async def bind(self, name: str, namespace: str, node_name: str, *, uid: str | None = None) -> Any:
        return await self._write(
            "bind", Pod, name, namespace, self.inner.bind(name, namespace, node_name, uid=uid)
        )

    async def _write(self, verb: str, kind: type[Object], name: str, namespace: str, call: Awaitable[T]) -> T:
        try:
            self.faults.before_write(verb, kind, name)
        except BaseException as exc:
            _close(call)
            self.trace.record(
                "fault", verb=verb, kind=kind.kind, namespace=namespace, name=name, error=type(exc).__name__
            )
            raise
        before = self.inner.revision
        result = await call
        if self.inner.revision != before:
            self.trace.record(
                "write",
                verb=verb,
                kind=kind.kind,
                namespace=namespace,
                name=name,
                revision=self.inner.revision,
            )
        return result

    def watch(
        self,
        kind: type[M],
        *,
        since: str | int | None = None,
        namespace: str | None = None,
        label_selector: Selectable = None,
        field_selector: FieldSelectable = None,
        bookmarks: bool = False,
    ) -> FaultyWatch[M]:
        inner = self.inner.watch(
            kind,
            since=since,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            bookmarks=bookmarks,
        )
        return FaultyWatch(inner, kind, self)


def _close(call: Awaitable[Any]) -> None:
    close: Callable[[], None] | None = getattr(call, "close", None)
    if close is not None:
        close()


class FaultyWatch(WatchBase[M]):
    """A watch whose deliveries the armed faults can drop, hold back, coalesce or delay."""

    def __init__(self, inner: MemoryWatch[M], kind: type[M], store: FaultyStore) -> None:
        self._inner = inner
        self._kind = kind
        self._owner = store
        self._faults = store.faults
        self._generation = self._faults.drop_generation(kind)
        self._held: list[tuple[float, WatchEvent[M]]] = []

    @property
    def revision(self) -> int:
        """Everything up to here was delivered: the inner watch's revision unless events are held."""
        return self._inner.revision if not self._held else self._held[0][1].revision - 1

    def close(self) -> None:
        self._inner.close()

    def ready(self) -> list[WatchEvent[M]]:
        faults = self._faults
        if faults.drop_generation(self._kind) != self._generation:
            self.close()
            self._owner.trace.record("fault", fault="watch-dropped", kind=self._kind.kind)
            raise Gone("injected: the watch was dropped")
        if not self._held and self._kind not in faults.lag and self._kind not in faults.delays:
            batch = self._inner.ready()  # nothing held back, nothing to hold: the store's batch as is
        else:
            batch = self._release_held()
        if self._kind in faults.coalesced and len(batch) > 1:
            batch = _coalesce(batch)
        return batch

    def _release_held(self) -> list[WatchEvent[M]]:
        """Hold the store's new events back, and let go of those the lag and delay faults allow."""
        faults = self._faults
        now = self._owner.clock.monotonic()
        self._held.extend((now, event) for event in self._inner.ready())
        if not self._held:
            return []
        cutoff = self._owner.inner.revision - faults.lag.get(self._kind, 0)
        delay = faults.delays.get(self._kind, 0.0)
        count = 0
        for seen_at, event in self._held:
            if event.revision > cutoff or seen_at + delay > now:
                break
            count += 1
        batch = [event for _, event in self._held[:count]]
        del self._held[:count]
        return batch

    async def next_batch(self) -> list[WatchEvent[M]]:
        while True:
            batch = self.ready()
            if batch:
                return batch
            await self._wait()

    async def _wait(self) -> None:
        """Until the store changes, a fault changes, or a delayed event comes due.

        One task waits on the store's change event inside a cancel scope that a fault change, or a
        timer at the held event's due time, cancels: no helper task per wait.
        """
        # The store's event is taken now, and the scope registered before any await, so no change
        # can slip between.
        event = self._inner.change_event()
        delay = self._faults.delays.get(self._kind)
        faults = self._faults
        with anyio.CancelScope() as scope:
            faults.wake_on_change(scope)
            timer = None
            clock = self._owner.clock
            # A timer only while the delay holds the first event back: once it is due, staleness holds
            # it, and only a write (or a fault change) can release it. A timer already due would fire
            # at once, again and again, and virtual time would never move on.
            if self._held and delay is not None and self._held[0][0] + delay > clock.monotonic():
                timer = clock.call_at(self._held[0][0] + delay, scope.cancel)
            try:
                await event.wait()
            finally:
                faults.forget(scope)
                if timer is not None:
                    timer.cancel()


def _coalesce(batch: list[WatchEvent[M]]) -> list[WatchEvent[M]]:
    """Keep each object's last event, in the order those last events happened."""
    last: dict[tuple[str, str], WatchEvent[M]] = {}
    for event in batch:
        if event.object is not None:
            meta = event.object.metadata
            last.pop((meta.namespace, meta.name), None)
            last[(meta.namespace, meta.name)] = event
    return list(last.values())
