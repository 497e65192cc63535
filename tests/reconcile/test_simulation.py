"""Simulation: virtual time, settling, determinism across processes, and convergence under faults."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from reconcile import Controller, DeletedFinalStateUnknown, Request, Result
from reconcile.informer import final_state
from reconcile.testing import Simulation
from store import NotFound, StoreError
from store.models import ConfigMap, Container, Namespace, ObjectMeta, Pod, PodSpec

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))

from pod_counter import COUNTS, pod_counter  # noqa: E402


def make_pod(name: str, namespace: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=PodSpec(containers=[Container(name="c", image="nginx")]),
    )


async def expected_counts(sim: Simulation, namespace: str) -> dict[str, str]:
    pods = (await sim.memory.list(Pod, namespace=namespace)).items
    phases = [pod.status.phase or "Pending" for pod in pods]
    return {"total": str(len(pods))} | {p: str(phases.count(p)) for p in sorted(set(phases))}


def test_ten_virtual_minutes_pass_in_a_fraction_of_the_wall_time() -> None:
    reconciles: list[float] = []

    async def scenario(sim: Simulation) -> float:
        async def periodic(request: Request) -> Result:
            reconciles.append(sim.now)
            return Result(requeue_after=60.0)

        sim.manager.add(Controller("periodic", periodic, kind=ConfigMap))
        await sim.store.create(ConfigMap(metadata=ObjectMeta(name="tick")))
        await sim.advance(600.0)
        return sim.now

    started = time.perf_counter()
    virtual = Simulation().run(scenario)
    wall = time.perf_counter() - started
    print(f"600 virtual seconds in {wall:.3f} s of wall time")
    assert virtual == 600.0
    assert reconciles == [60.0 * n for n in range(11)]


def test_settle_returns_once_no_requeue_is_due_within_the_horizon() -> None:
    async def scenario(sim: Simulation) -> tuple[float, float]:
        async def slow_requeue(request: Request) -> Result | None:
            return Result(requeue_after=120.0) if sim.now < 100 else None

        sim.manager.add(Controller("x", slow_requeue, kind=ConfigMap))
        await sim.store.create(ConfigMap(metadata=ObjectMeta(name="a")))
        short = await sim.settle(horizon=60.0)
        long = await sim.settle(horizon=300.0)
        return short, long

    assert Simulation().run(scenario) == (0.0, 120.0)


def test_a_requeue_the_next_reconcile_of_its_key_did_not_ask_for_again_does_not_hold_a_settle() -> None:
    async def scenario(sim: Simulation) -> tuple[float, list[float]]:
        reconciles: list[float] = []

        async def waits_once(request: Request) -> Result | None:
            # The first reconcile waits for something; the one its own write triggers finds it done.
            reconciles.append(sim.now)
            current = await sim.store.get(ConfigMap, request.name, request.namespace)
            if not current.data:
                await sim.store.update(attrs.evolve(current, data={"done": "yes"}))
                return Result(requeue_after=120.0)
            return None

        sim.manager.add(Controller("x", waits_once, kind=ConfigMap))
        await sim.store.create(ConfigMap(metadata=ObjectMeta(name="a")))
        settled_in = await sim.settle(horizon=300.0)
        await sim.advance(200.0)  # the superseded requeue still runs, as controller-runtime's would
        return settled_in, reconciles

    assert Simulation().run(scenario) == (0.0, [0.0, 0.0, 120.0])


DETERMINISM_SCRIPT = """
import sys
sys.path[:0] = ["examples", "tests/reconcile"]
from test_simulation import busy_scenario
from reconcile.testing import Simulation
sim = Simulation(seed=42)
sim.run(busy_scenario)
print(sim.trace.digest(), len(sim.trace))
"""


async def busy_scenario(sim: Simulation) -> None:
    """Several namespaces, pods coming and going, and faults: enough to expose any nondeterminism."""
    sim.manager.add(pod_counter(sim.manager))
    rng = sim.entropy.stream("scenario")
    for name in ("shop", "blog", "search"):
        await sim.store.create(Namespace(metadata=ObjectMeta(name=name)))
    for step in range(60):
        namespace = rng.choice(["shop", "blog", "search"])
        if rng.random() < 0.6:
            await sim.store.create(make_pod(f"p{step}", namespace))
        else:
            pods = (await sim.memory.list(Pod, namespace=namespace)).items
            if pods:
                await sim.store.delete(Pod, rng.choice(pods).metadata.name, namespace)
        if step % 10 == 3:
            sim.faults.drop_watches()
        if step % 15 == 7:
            sim.faults.fail_writes(2, error="internal", kind=ConfigMap)
        await sim.advance(rng.uniform(0.0, 2.0))
    sim.faults.clear()
    await sim.settle()


def test_a_quiet_simulation_stops_its_workers_by_shutting_queues_down_not_by_cancelling_them() -> None:
    ended: list[str] = []

    class Watched(Controller):
        async def _work(self, *args: Any) -> None:
            try:
                await super()._work(*args)
                ended.append("returned")
            except anyio.get_cancelled_exc_class():
                ended.append("cancelled")
                raise

    async def reconcile(request: Request) -> None:
        return None

    async def scenario(sim: Simulation) -> None:
        sim.manager.add(Watched("cms", reconcile, kind=ConfigMap, workers=2))
        await sim.store.create(ConfigMap(metadata=ObjectMeta(name="a")))
        await sim.store.create(ConfigMap(metadata=ObjectMeta(name="b")))
        await sim.settle()

    Simulation().run(scenario)
    assert ended == ["returned", "returned"]


def test_a_busy_simulation_still_cancels_its_workers_when_it_stops() -> None:
    reconciled: list[float] = []

    async def slow(request: Request) -> None:
        await sim.advance(10.0)
        reconciled.append(sim.now)

    async def scenario(sim: Simulation) -> None:
        sim.manager.add(Controller("cms", slow, kind=ConfigMap))
        await sim.store.create(ConfigMap(metadata=ObjectMeta(name="a")))
        await sim.store.create(ConfigMap(metadata=ObjectMeta(name="b")))
        await sim.advance(1.0)

    sim = Simulation()
    sim.run(scenario)
    assert reconciled == []  # the reconcile under way was cancelled and "b" never started


def test_the_same_seed_gives_the_same_trace_digest_in_processes_with_different_hash_seeds() -> None:
    digests = set()
    for hash_seed in ("1", "2", "31337"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.split()[0])
    assert len(digests) == 1


def test_different_seeds_give_different_traces() -> None:
    first, second = Simulation(seed=1), Simulation(seed=2)
    first.run(busy_scenario)
    second.run(busy_scenario)
    assert first.trace.digest() != second.trace.digest()


# --- the example controller under fault schedules -------------------------------------------------

NAMESPACES = ("shop", "blog")

operations = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(NAMESPACES), st.integers(0, 5)),
    st.tuples(st.just("delete"), st.sampled_from(NAMESPACES), st.integers(0, 5)),
    st.tuples(st.just("set-phase"), st.sampled_from(NAMESPACES), st.integers(0, 5)),
    st.tuples(st.just("drop-watches"), st.none(), st.none()),
    st.tuples(st.just("stale"), st.sampled_from(["Pod", "ConfigMap"]), st.integers(1, 4)),
    st.tuples(st.just("coalesce"), st.sampled_from(["Pod", "ConfigMap"]), st.none()),
    st.tuples(st.just("crash"), st.none(), st.integers(0, 2)),
    st.tuples(st.just("conflicts"), st.none(), st.integers(1, 3)),
    st.tuples(st.just("wait"), st.none(), st.integers(0, 30)),
)
KINDS: dict[str, Any] = {"Pod": Pod, "ConfigMap": ConfigMap}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=st.lists(operations, max_size=25), seed=st.integers(0, 2**16))
def test_pod_counter_converges_under_watch_drops_stale_reads_and_crashes(
    schedule: list[tuple[str, Any, Any]], seed: int
) -> None:
    async def scenario(sim: Simulation) -> None:
        sim.manager.add(pod_counter(sim.manager))
        for name in NAMESPACES:
            await sim.store.create(Namespace(metadata=ObjectMeta(name=name)))
        for verb, target, amount in schedule:
            note(f"t={sim.now:.2f} {verb} {target} {amount}")
            # A user's write that meets an injected fault fails; the user would retry or give up.
            with contextlib.suppress(StoreError):
                await apply(sim, verb, target, amount)
            await anyio.sleep(0)
        sim.faults.clear()
        await sim.settle()
        for name in NAMESPACES:
            counts = await sim.memory.get(ConfigMap, COUNTS, name)
            assert dict(counts.data) == await expected_counts(sim, name)

    Simulation(seed=seed).run(scenario)


async def apply(sim: Simulation, verb: str, target: Any, amount: Any) -> None:
    if verb == "create":
        with contextlib.suppress(StoreError):
            await sim.store.create(make_pod(f"p{amount}", target))
    elif verb == "delete":
        with contextlib.suppress(NotFound):
            await sim.store.delete(Pod, f"p{amount}", target)
    elif verb == "set-phase":
        try:
            pod = await sim.memory.get(Pod, f"p{amount}", target)
        except NotFound:
            return
        phase = "Running" if pod.status.phase != "Running" else "Succeeded"
        await sim.store.update_status(attrs.evolve(pod, status=attrs.evolve(pod.status, phase=phase)))
    elif verb == "drop-watches":
        sim.faults.drop_watches()
    elif verb == "stale":
        sim.faults.stale(KINDS[target], amount)
    elif verb == "coalesce":
        sim.faults.coalesce(KINDS[target])
    elif verb == "crash":
        sim.faults.crash_after(amount)
    elif verb == "conflicts":
        sim.faults.fail_writes(amount, error="conflict", kind=ConfigMap)
    elif verb == "wait":
        await sim.advance(float(amount))


# --- the fault seams one by one ---------------------------------------------------------------------


def test_delayed_watch_delivers_events_only_after_the_delay() -> None:
    seen: list[float] = []

    async def scenario(sim: Simulation) -> None:
        async def record(request: Request) -> None:
            seen.append(sim.now)

        sim.manager.add(Controller("cms", record, kind=ConfigMap))
        await sim.settle()
        sim.faults.delay(ConfigMap, 5.0)
        await sim.store.create(ConfigMap(metadata=ObjectMeta(name="late")))
        await sim.advance(10.0)

    Simulation().run(scenario)
    assert seen == [5.0]


def test_a_coalesced_deletion_of_a_replacement_reports_the_object_the_cache_held_as_deleted() -> None:
    # Deleted, made again and deleted again within one coalesced batch: the only event is the deletion
    # of the replacement, which the cache never held. Its handlers hear of the object it did hold, as a
    # tombstone, as from a relist; a garbage collector keyed by uid would otherwise never hear of it.
    deleted: list[tuple[str, str]] = []

    class Recorder:
        def on_add(self, obj: Any) -> None: ...

        def on_update(self, old: Any, new: Any) -> None: ...

        def on_delete(self, obj: Any) -> None:
            tombstone = isinstance(obj, DeletedFinalStateUnknown)
            deleted.append(("tombstone" if tombstone else "delete", final_state(obj).metadata.uid))

    async def ignore(request: Request) -> None:
        pass

    async def scenario(sim: Simulation) -> str:
        informer = sim.manager.informer(ConfigMap)
        sim.manager.add(Controller("cms", ignore, kind=ConfigMap))
        first = await sim.store.create(ConfigMap(metadata=ObjectMeta(name="a")))
        await sim.settle()
        informer.add_handler(Recorder())
        sim.faults.coalesce(ConfigMap)
        await sim.memory.delete(ConfigMap, "a")
        await sim.memory.create(ConfigMap(metadata=ObjectMeta(name="a")))
        await sim.memory.delete(ConfigMap, "a")
        await sim.settle()
        assert informer.get("a") is None
        return first.metadata.uid

    uid = Simulation().run(scenario)
    assert deleted == [("tombstone", uid)]


def test_an_event_both_delayed_and_stale_waits_for_a_later_write_once_its_delay_is_over() -> None:
    # Once the delay is over, staleness alone holds the event back: the watch waits for the store,
    # not on a timer already due, which fired again and again and never let virtual time move on.
    seen: list[str] = []
    armed: list[float] = []

    async def scenario(sim: Simulation) -> None:
        async def record(request: Request) -> None:
            seen.append(request.name)

        sim.manager.add(Controller("cms", record, kind=ConfigMap))
        await sim.settle()
        call_at = sim.clock.call_at

        def counted(deadline: float, callback: Callable[[], Any]) -> Any:
            armed.append(deadline)
            if len(armed) > 100:
                sim.faults.clear()  # end the busy loop, and let the assertion below say so
            return call_at(deadline, callback)

        sim.clock.call_at = counted  # type: ignore[method-assign]
        sim.faults.delay(ConfigMap, 5.0)
        sim.faults.stale(ConfigMap, 1)
        await sim.store.create(ConfigMap(metadata=ObjectMeta(name="first")))
        await sim.advance(10.0)
        assert seen == []
        await sim.store.create(ConfigMap(metadata=ObjectMeta(name="second")))
        await sim.advance(10.0)

    Simulation().run(scenario)
    assert seen == ["first"]
    assert len(armed) <= 3, f"{len(armed)} timers armed"


def test_injected_write_errors_fail_the_write_and_change_nothing() -> None:
    async def scenario(sim: Simulation) -> tuple[str, int, int]:
        sim.faults.fail_writes(1, error="internal")
        before = sim.store.revision
        try:
            await sim.store.create(ConfigMap(metadata=ObjectMeta(name="x")))
        except StoreError as exc:
            reason = exc.reason
        after = sim.store.revision
        await sim.store.create(ConfigMap(metadata=ObjectMeta(name="x")))
        return reason, before, after

    sim = Simulation()
    reason, before, after = sim.run(scenario)
    assert (reason, after) == ("InternalError", before)
    assert [record.get("error") for record in sim.trace.of("fault")] == ["InternalError"]


def test_dropped_watches_make_informers_relist() -> None:
    async def scenario(sim: Simulation) -> int:
        informer = sim.manager.informer(ConfigMap)
        await sim.settle()
        sim.faults.drop_watches(ConfigMap)
        await sim.store.create(ConfigMap(metadata=ObjectMeta(name="x")))
        await sim.settle()
        assert informer.get("x", "default") is not None
        return informer.relists

    assert Simulation().run(scenario) == 1


def test_a_clock_jump_moves_the_time_of_day_but_not_the_timers() -> None:
    async def scenario(sim: Simulation) -> tuple[float, str]:
        sim.jump_clock(3600.0)
        created = await sim.store.create(ConfigMap(metadata=ObjectMeta(name="x")))
        stamp = created.metadata.creation_timestamp
        assert stamp is not None
        return sim.now, stamp.isoformat()

    assert Simulation().run(scenario) == (0.0, "2026-01-01T01:00:00+00:00")
