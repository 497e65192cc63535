"""SimulationMachine: a Hypothesis state machine over a simulated control plane, and `replay`.

Subclass it, say what to run (``build`` and ``setup``), what users do (methods decorated with `action`)
and what must hold (``checks``); Hypothesis then draws a seed, interleaves user actions with faults
from ``fault_kinds``, and shrinks a failure to the shortest story that still breaks an invariant::

    class PodSetMachine(SimulationMachine):
        fault_kinds = ("PodSet", "Pod")

        async def setup(self) -> None:
            self.simulation.manager.add(podset_controller(self.simulation.manager))

        def checks(self) -> list[Invariant]:
            return [PodSetConverges()]

        @action(replicas=st.integers(0, 4))
        async def scale(self, replicas: int) -> None: ...

    TestPodSets = PodSetMachine.TestCase

Every step runs on one virtual-time event loop owned by the machine. After each step every write it
caused is replayed through the invariants' ``on_write`` (safety, write by write); the ``settle`` rule
turns faults off, runs to quiescence (bounded in steps and virtual minutes) and checks ``on_settled``,
then again after a further window of virtual time (convergence and stability). Each run ends with such
a settle. Every step is noted, so a shrunk failure reads as a story; the failing run writes the story
(seed and steps) as JSON and the simulation's trace as text, and ``replay(path)`` runs it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib
import inspect
import json
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import anyio
import attrs
from hypothesis import currently_in_test_context, note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from reconcile.clock import VirtualClock
from reconcile.metrics import Metrics
from reconcile.testing.faults import Fault
from reconcile.testing.simulation import NotSettled, Simulation
from reconcile.testing.strategies import faults
from reconcile.testing.world import Invariant, InvariantViolation, World
from store import FrozenDict, Object, Scheme

F = TypeVar("F", bound=Callable[..., Any])

#: Where failing runs write their story and trace, unless a machine says otherwise.
FAILURES_ENV = "SETPOINT_FAILURES"

# Built once per machine class rather than per example (see `SimulationMachine.metrics` and
# `SimulationMachine.fault_strategy`).
_METRICS: dict[type[SimulationMachine], Metrics] = {}
_FAULT_STRATEGIES: dict[type[SimulationMachine], st.SearchStrategy[Any]] = {}


def step(func: Callable[..., Any]) -> Callable[..., Any]:
    """Make a machine method a recorded step: noted, replayable, and followed by the safety checks.

    The method may be ``async``; it then runs on the machine's virtual-time loop.
    """

    def run(self: SimulationMachine, **kwargs: Any) -> Any:
        return self._execute(func.__name__, func, kwargs)

    run.__name__ = func.__name__
    run.__qualname__ = func.__qualname__
    run.__doc__ = func.__doc__
    run.__setpoint_step__ = func  # type: ignore[attr-defined]
    return run


def action(**strategies: st.SearchStrategy[Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A user action: a Hypothesis rule whose arguments are drawn from ``strategies``, run as a `step`."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        make_rule: Any = rule
        return make_rule(**strategies)(step(func))  # type: ignore[no-any-return]

    return decorate


@attrs.frozen
class Step:
    """One recorded step: the machine method's name and its arguments."""

    name: str
    arguments: Mapping[str, Any]

    def __str__(self) -> str:
        body = ", ".join(f"{key}={value!r}" for key, value in self.arguments.items())
        return f"{self.name}({body})"


class SimulationMachine(RuleBasedStateMachine):
    """The base of setpoint's state machines: one simulation per example, checked at every write."""

    #: Kind names the fault rule perturbs (watch drops, stale caches, coalesced and delayed events);
    #: empty turns the fault rule off.
    fault_kinds: ClassVar[Sequence[str]] = ()
    #: Controller names whose writes a crash may target (None in a fault targets any).
    fault_controllers: ClassVar[Sequence[str]] = ()
    #: Bounds of one settle: loop steps, and virtual seconds before it counts as not converging.
    settle_steps: ClassVar[int] = 2_000
    settle_timeout: ClassVar[float] = 900.0
    #: A requeue due further away than this does not keep a settle going. It covers the five minutes
    #: after which controller expectations expire, so work that waits on them counts as pending.
    settle_horizon: ClassVar[float] = 320.0
    #: Virtual seconds the state must keep holding after a settle.
    stability_window: ClassVar[float] = 30.0
    #: Where a failing run writes its story and trace (default: $SETPOINT_FAILURES or .setpoint/failures).
    failure_dir: ClassVar[str | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[Step] = []
        self.seed: int | None = None
        self._loop = VirtualClock.new_event_loop()
        self._simulation: Simulation | None = None
        self._world: World | None = None
        self._invariants: list[Invariant] = []
        self._main: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._failed = False
        self._faulted = False
        self._collector_paused = False
        self.story_path: Path | None = None
        #: Overrides ``failure_dir`` for this machine (a replay writes beside the story it replays).
        self.report_dir: str | None = None

    # --- what subclasses say ------------------------------------------------------------------

    def build(self, seed: int) -> Simulation:
        """The simulation for one example (override to pass a scheme, or to build a whole cluster)."""
        return Simulation(seed=seed, scheme=self.scheme() or builtin_scheme(), metrics=self.metrics())

    @classmethod
    def metrics(cls) -> Metrics:
        """The manager's metrics: one registry for every example of this machine class.

        Its series are created once, not per example; each example's controllers and queues take
        theirs over as a restarted controller-manager does (queues start empty, counters carry on).
        Nothing a controller decides reads them, so examples stay independent.
        """
        metrics = _METRICS.get(cls)
        if metrics is None:
            metrics = _METRICS[cls] = Metrics()
        return metrics

    def scheme(self) -> Scheme | None:
        """The scheme of the simulation's store (None: the built-in kinds)."""
        return None

    def context(self) -> Any:
        """What to enter (``async with``) for the run: the simulation unless ``build`` wraps it."""
        return self.simulation

    async def setup(self) -> None:
        """Add the controllers and create what every example starts with (runs on the loop)."""

    def checks(self) -> list[Invariant]:
        """Fresh invariant objects for one example."""
        return []

    def watched_kinds(self) -> Iterable[type[Object]]:
        """Kinds the world follows besides those the invariants name."""
        return ()

    async def heal(self) -> None:
        """Undo faults that `Faults.clear` does not know of (stopped nodes, partitions)."""

    # --- the simulation -------------------------------------------------------------------------

    @property
    def simulation(self) -> Simulation:
        if self._simulation is None:
            raise RuntimeError("the machine has not booted yet")
        return self._simulation

    @property
    def world(self) -> World:
        if self._world is None:
            raise RuntimeError("the machine has not booted yet")
        return self._world

    @initialize(seed=st.integers(0, 2**16))
    def start(self, seed: int) -> None:
        self.boot(seed=seed)

    @step
    def boot(self, seed: int) -> None:
        """Build the simulation from ``seed``, start it and run ``setup``."""
        self.seed = seed
        self._pause_collector()
        self._simulation = simulation = self.build(seed)
        self._invariants = self.checks()
        kinds = [*self.watched_kinds(), *(k for i in self._invariants for k in i.kinds)]
        self._world = World(simulation.memory, kinds)
        _note(f"seed {seed}")
        self._stop = asyncio.Event()
        started = self._loop.create_future()

        async def serve() -> None:
            async with self.context():
                started.set_result(None)
                assert self._stop is not None
                await self._stop.wait()

        self._main = self._loop.create_task(serve())
        self._run(asyncio.wait([started, self._main], return_when=asyncio.FIRST_COMPLETED))
        self._raise_if_stopped()
        self._run(self.setup())

    @rule(data=st.data())
    def inject_fault(self, data: st.DataObject) -> None:
        if self.fault_kinds:
            strategy = _FAULT_STRATEGIES.get(type(self))
            if strategy is None:
                strategy = _FAULT_STRATEGIES[type(self)] = self.fault_strategy()
            self.arm(fault=data.draw(strategy, label="fault"))

    def fault_strategy(self) -> st.SearchStrategy[Any]:
        """The faults the machine injects (override to add kinds of fault).

        Asked once per machine class (the strategy is reused by every example), so it must depend on
        the class alone, not on one example's state.
        """
        return faults(self.fault_kinds, controllers=self.fault_controllers)

    @step
    async def arm(self, fault: Any) -> None:
        """Arm one fault of the schedule."""
        self._faulted = True
        self.arm_fault(fault)

    def void_fault_free_promises(self) -> None:
        """Stop checking invariants that hold only without faults (a user action lost pods, say)."""
        self._faulted = True

    def arm_fault(self, fault: Any) -> None:
        if not isinstance(fault, Fault):
            raise TypeError(f"{fault!r} is not a fault this machine knows")
        fault.arm(self.simulation)

    @rule()
    def settle(self) -> None:
        self.quiesce()

    @step
    async def quiesce(self) -> None:
        """Faults off; run to quiescence; check convergence, then again after the stability window.

        Keys a controller gave up on after its ``max_retries`` (faults can make every retry fail) are
        queued again first: Kubernetes relies on the informer resync to pick them up, which in
        kube-controller-manager comes 12 to 24 hours later, beyond any settle.
        """
        simulation = self.simulation
        simulation.faults.clear()
        await self.heal()
        for controller in simulation.manager.controllers:
            controller.requeue_dropped()
        await self._settle()
        self._check(self._invariants_on_settled("on_settled"))
        await simulation.advance(self.stability_window)
        await self._settle()
        self._check(self._invariants_on_settled("on_window"))

    async def _settle(self) -> None:
        try:
            with anyio.fail_after(self.settle_timeout):
                await self.simulation.settle(horizon=self.settle_horizon, max_steps=self.settle_steps)
        except (TimeoutError, NotSettled) as exc:
            raise InvariantViolation(
                f"did not settle within {self.settle_timeout:.0f} virtual seconds"
                f" and {self.settle_steps} steps: {exc}"
            ) from None
        self._check(self._replay_writes())

    def _invariants_on_settled(self, hook: str) -> list[str]:
        problems = list(self._replay_writes())
        for invariant in self._invariants:
            problems.extend(
                f"{invariant.name}: {p}" for p in getattr(invariant, hook)(self.world, self.simulation)
            )
        return problems

    def teardown(self) -> None:
        try:
            if self._simulation is not None and not self._failed:
                self.quiesce()
        finally:
            self._shut_down()

    # --- running steps ----------------------------------------------------------------------------

    def _execute(self, name: str, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        index = len(self.steps)
        self.steps.append(Step(name, kwargs))
        # The virtual time of the machine's loop: between steps no loop runs, and a clock read outside
        # one (`Simulation.now`) says 0.
        now = self._loop.time() if self._simulation is not None else 0.0
        _note(f"#{index} t={now:.1f}s {self.steps[-1]}")
        try:
            result = func(self, **kwargs)
            if inspect.isawaitable(result):
                result = self._run(result)
            self._raise_if_stopped()
            if self._world is not None:
                self._check(self._replay_writes())
        except BaseException as exc:
            if not self._failed:
                self._failed = True
                self._report(exc)
            raise
        return result

    def _run(self, awaitable: Awaitable[Any]) -> Any:
        if self._simulation is None:
            return self._loop.run_until_complete(awaitable)
        with self._simulation.clock.reading(self._loop):
            return self._loop.run_until_complete(awaitable)

    def _replay_writes(self) -> Iterable[str]:
        world = self.world
        for event in world.events():
            for invariant in self._invariants:
                if self._faulted and invariant.void_under_faults:
                    continue
                if type(event.object) in invariant.kinds:
                    for problem in invariant.on_write(world, event):
                        yield f"{invariant.name} at revision {event.revision}: {problem}"

    def _check(self, problems: Iterable[str]) -> None:
        found = list(problems)
        if found:
            raise InvariantViolation("; ".join(found))

    def _raise_if_stopped(self) -> None:
        main = self._main
        if main is not None and main.done():
            main.result()
            raise RuntimeError("the simulation stopped on its own")

    def _shut_down(self) -> None:
        try:
            loop = self._loop
            if loop.is_closed():
                return
            main = self._main
            if main is not None and not main.done():
                assert self._stop is not None
                self._stop.set()
                # A failing run already reported what broke; this only stops the loop's tasks.
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(main)
            if self._world is not None:
                self._world.close()
            loop.close()
        finally:
            self._resume_collector()

    def _pause_collector(self) -> None:
        """Pause Python's cyclic garbage collector from boot to teardown (`_resume_collector`).

        A simulation is one large web of cycles (tasks, informers, controllers, the store) that lives
        for the whole example. With the collector running, every young collection during the example
        walks it again and promotes it, so each example's cluster ends in the oldest generation and
        full collections, which walk every object of the process, come every dozen examples. Paused,
        what an example leaves is collected young once it is torn down; nothing a run decides
        depends on when garbage is collected.
        """
        if gc.isenabled():
            gc.disable()
            self._collector_paused = True

    def _resume_collector(self) -> None:
        if self._collector_paused:
            self._collector_paused = False
            gc.enable()

    # --- failures -------------------------------------------------------------------------------

    def _report(self, exc: BaseException) -> None:
        directory = Path(
            self.report_dir or self.failure_dir or os.environ.get(FAILURES_ENV) or ".setpoint/failures"
        )
        directory.mkdir(parents=True, exist_ok=True)
        stem = type(self).__qualname__.replace(".", "-").replace("<", "").replace(">", "")
        story = directory / f"{stem}.json"
        trace = directory / f"{stem}.trace.txt"
        scheme = self._simulation.store.scheme if self._simulation is not None else Scheme()
        story.write_text(
            json.dumps(
                {
                    "machine": f"{type(self).__module__}:{type(self).__qualname__}",
                    "seed": self.seed,
                    "error": f"{type(exc).__name__}: {exc}",
                    "steps": [
                        {"name": s.name, "arguments": {k: encode(v, scheme) for k, v in s.arguments.items()}}
                        for s in self.steps
                    ],
                },
                indent=1,
            ),
            encoding="utf-8",
        )
        if self._simulation is not None:
            self._simulation.trace.dump(trace)
        self.story_path = story
        message = (
            f"setpoint: seed {self.seed}, {len(self.steps)} steps; trace in {trace};"
            f" replay with reconcile.testing.replay({str(story)!r})"
        )
        exc.add_note(message)


@functools.cache
def builtin_scheme() -> Scheme:
    """One scheme of the built-in kinds for every example of a process.

    Building a scheme (and its converter) costs more than a whole example's user actions; nothing in
    a run registers kinds into it, so examples share it.
    """
    return Scheme()


def _note(message: str) -> None:
    """Note a step for Hypothesis' report of a failing example (a replay outside a test prints none)."""
    if currently_in_test_context():
        note(message)


# --- the story file -------------------------------------------------------------------------------


def encode(value: Any, scheme: Scheme) -> Any:
    """JSON for a step argument: plain data, attrs records (faults, plans) and store objects."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Object):
        return {"object": scheme.to_dict(value)}
    if isinstance(value, FrozenDict | dict):
        return {"mapping": [[encode(k, scheme), encode(v, scheme)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return {"tuple" if isinstance(value, tuple) else "list": [encode(v, scheme) for v in value]}
    if attrs.has(type(value)):
        cls = type(value)
        fields = {f.name: encode(getattr(value, f.name), scheme) for f in attrs.fields(cls)}
        return {"record": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    raise TypeError(f"cannot record a step argument of type {type(value).__name__}: {value!r}")


def decode(data: Any, scheme: Scheme) -> Any:
    """The inverse of `encode`."""
    if not isinstance(data, dict):
        return data
    if "object" in data:
        return scheme.from_dict(data["object"])
    if "mapping" in data:
        return FrozenDict({decode(k, scheme): decode(v, scheme) for k, v in data["mapping"]})
    if "tuple" in data:
        return tuple(decode(v, scheme) for v in data["tuple"])
    if "list" in data:
        return [decode(v, scheme) for v in data["list"]]
    cls = _import(data["record"])
    return cls(**{name: decode(v, scheme) for name, v in data["fields"].items()})


def _import(path: str) -> Any:
    module, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def replay(path: str | Path) -> SimulationMachine:
    """Run a recorded failing story again, step by step, raising what it raised.

    Returns the machine when the story no longer fails (the bug is fixed).
    """
    story = json.loads(Path(path).read_text(encoding="utf-8"))
    cls = _import(story["machine"])
    machine: SimulationMachine = cls()
    machine.report_dir = str(Path(path).parent / "replayed")
    try:
        for recorded in story["steps"]:
            scheme = machine._simulation.store.scheme if machine._simulation is not None else Scheme()
            arguments = {k: decode(v, scheme) for k, v in recorded["arguments"].items()}
            getattr(machine, recorded["name"])(**arguments)
    finally:
        machine.teardown()
    return machine
