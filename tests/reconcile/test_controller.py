"""Controllers in a manager: what gets enqueued, how outcomes are handled, and the metrics and logs."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable

import anyio
import attrs
import pytest
import structlog
from structlog.testing import capture_logs

from reconcile import Controller, Crash, Request, Result, TerminalError, Watch
from reconcile.clock import Clock
from reconcile.testing import Simulation
from store import FrozenDict
from store.models import ConfigMap, Namespace, ObjectMeta, OwnerReference


def config_map(name: str, namespace: str = "default", owner: Namespace | None = None) -> ConfigMap:
    refs = []
    if owner is not None:
        refs = [
            OwnerReference(
                api_version="v1",
                kind="Namespace",
                name=owner.metadata.name,
                uid=owner.metadata.uid,
                controller=True,
            )
        ]
    return ConfigMap(metadata=ObjectMeta(name=name, namespace=namespace, owner_references=refs))


class Recording:
    """A reconciler that records its requests (and, given a clock, when they came) and answers from a
    script."""

    def __init__(self, *answers: object) -> None:
        self.requests: list[Request] = []
        self.answers = list(answers)
        self.clock: Clock | None = None
        self.times: list[float] = []

    async def reconcile(self, request: Request) -> Result | None:
        self.requests.append(request)
        if self.clock is not None:
            self.times.append(self.clock.monotonic())
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[return-value]


def test_every_object_of_the_primary_kind_is_reconciled_once_at_start() -> None:
    recording = Recording()

    async def scenario(sim: Simulation) -> None:
        await sim.store.create(config_map("a"))
        await sim.store.create(config_map("b"))
        sim.manager.add(Controller("cms", recording, kind=ConfigMap))
        await sim.settle()

    Simulation().run(scenario)
    assert sorted(recording.requests) == [Request("default", "a"), Request("default", "b")]


def test_owned_objects_enqueue_their_controlling_owner_checked_by_uid() -> None:
    recording = Recording()

    async def scenario(sim: Simulation) -> None:
        sim.manager.add(Controller("ns", recording, kind=Namespace, owns=[ConfigMap]))
        owner = await sim.store.create(Namespace(metadata=ObjectMeta(name="team")))
        await sim.settle()
        recording.requests.clear()
        await sim.store.create(config_map("owned", "team", owner=owner))
        impostor = attrs.evolve(owner, metadata=attrs.evolve(owner.metadata, uid="someone-else"))
        await sim.store.create(config_map("stale-ref", "team", owner=impostor))
        await sim.store.create(config_map("orphan", "team"))
        await sim.settle()

    Simulation().run(scenario)
    assert recording.requests == [Request("", "team")]


def test_mapped_kinds_enqueue_what_the_function_returns() -> None:
    recording = Recording()

    async def scenario(sim: Simulation) -> None:
        sim.manager.add(
            Controller(
                "ns",
                recording,
                kind=Namespace,
                watches={ConfigMap: lambda cm: [Request("", f"ns-of-{cm.metadata.name}")]},
            )
        )
        await sim.settle()
        recording.requests.clear()
        await sim.store.create(config_map("x"))
        await sim.settle()

    Simulation().run(scenario)
    assert recording.requests == [Request("", "ns-of-x")]


def labelled(cm: ConfigMap, **labels: str) -> ConfigMap:
    return attrs.evolve(cm, metadata=attrs.evolve(cm.metadata, labels=labels))


def data_only(old: ConfigMap, new: ConfigMap) -> bool:
    return old.data != new.data


def test_an_update_predicate_lets_through_only_the_updates_it_says_changed_and_every_add_and_delete() -> None:
    recording = Recording()
    mapped: list[str] = []

    def to_namespace(cm: ConfigMap) -> list[Request]:
        mapped.append(cm.metadata.name)
        return [Request("", f"ns-of-{cm.metadata.name}")]

    async def scenario(sim: Simulation) -> list[list[Request]]:
        sim.manager.add(
            Controller(
                "ns", recording, kind=Namespace, watches={ConfigMap: Watch(to_namespace, changed=data_only)}
            )
        )
        await sim.settle()
        recording.requests.clear()
        seen = []
        created = await sim.store.create(config_map("x"))
        await sim.settle()
        seen.append(recording.requests[:])
        recording.requests.clear()
        mapped.clear()
        relabelled = await sim.store.update(labelled(created, tier="web"))
        await sim.settle()
        seen.append(recording.requests[:] + [Request("mapped", name) for name in mapped])
        await sim.store.update(attrs.evolve(relabelled, data={"k": "v"}))
        await sim.settle()
        seen.append(recording.requests[:])
        recording.requests.clear()
        await sim.store.delete(ConfigMap, "x", "default")
        await sim.settle()
        seen.append(recording.requests[:])
        return seen

    added, relabelled, changed, deleted = Simulation().run(scenario)
    assert added == [Request("", "ns-of-x")]
    assert relabelled == []  # not even mapped
    assert changed == [Request("", "ns-of-x")]
    assert deleted == [Request("", "ns-of-x")]


def test_the_primary_kind_has_an_update_predicate_too() -> None:
    recording = Recording()

    async def scenario(sim: Simulation) -> tuple[list[Request], list[Request]]:
        sim.manager.add(Controller("cms", recording, kind=ConfigMap, changed=data_only))
        created = await sim.store.create(config_map("x"))
        await sim.settle()
        recording.requests.clear()
        relabelled = await sim.store.update(labelled(created, tier="web"))
        await sim.settle()
        ignored = recording.requests[:]
        await sim.store.update(attrs.evolve(relabelled, data={"k": "v"}))
        await sim.settle()
        return ignored, recording.requests[:]

    ignored, changed = Simulation().run(scenario)
    assert ignored == []
    assert changed == [Request("default", "x")]


def test_an_object_filter_sees_only_selected_objects_and_updates_into_or_out_of_the_selection() -> None:
    recording = Recording()

    def web(cm: ConfigMap) -> bool:
        return cm.metadata.labels.get("tier") == "web"

    async def step(sim: Simulation, write: Awaitable[object]) -> list[Request]:
        recording.requests.clear()
        await write
        await sim.settle()
        return recording.requests[:]

    async def scenario(sim: Simulation) -> list[list[Request]]:
        await sim.store.create(labelled(config_map("seen"), tier="web"))
        await sim.store.create(config_map("unseen"))
        sim.manager.add(Controller("cms", recording, kind=ConfigMap, selects=web))
        await sim.settle()
        listed = recording.requests[:]
        other = await sim.store.get(ConfigMap, "unseen", "default")
        plain_update = await step(sim, sim.store.update(attrs.evolve(other, data={"k": "v"})))
        other = await sim.store.get(ConfigMap, "unseen", "default")
        joins = await step(sim, sim.store.update(labelled(other, tier="web")))
        joined = await sim.store.get(ConfigMap, "unseen", "default")
        leaves = await step(sim, sim.store.update(labelled(joined, tier="db")))
        unseen_delete = await step(sim, sim.store.delete(ConfigMap, "unseen", "default"))
        seen_delete = await step(sim, sim.store.delete(ConfigMap, "seen", "default"))
        return [listed, plain_update, joins, leaves, unseen_delete, seen_delete]

    listed, plain_update, joins, leaves, unseen_delete, seen_delete = Simulation().run(scenario)
    assert listed == [Request("default", "seen")]
    assert plain_update == []
    assert joins == [Request("default", "unseen")]
    assert leaves == [Request("default", "unseen")]  # a field-selected watch sees this as a delete
    assert unseen_delete == []
    assert seen_delete == [Request("default", "seen")]


def test_entering_or_leaving_the_selection_enqueues_whatever_the_update_predicate_says() -> None:
    # To a field-selected watch these updates are an ADDED and a DELETED event, which an update
    # predicate (controller-runtime's UpdateFunc) never sees.
    recording = Recording()

    def web(cm: ConfigMap) -> bool:
        return cm.metadata.labels.get("tier") == "web"

    async def scenario(sim: Simulation) -> list[list[Request]]:
        sim.manager.add(Controller("cms", recording, kind=ConfigMap, selects=web, changed=data_only))
        await sim.store.create(config_map("x"))
        await sim.settle()
        steps = []
        for tier in ("web", "db"):
            recording.requests.clear()
            current = await sim.store.get(ConfigMap, "x", "default")
            await sim.store.update(labelled(current, tier=tier))
            await sim.settle()
            steps.append(recording.requests[:])
        return steps

    joins, leaves = Simulation().run(scenario)
    assert joins == [Request("default", "x")]
    assert leaves == [Request("default", "x")]


def test_an_error_retries_with_exponential_backoff() -> None:
    recording = Recording(RuntimeError("boom"), RuntimeError("boom"), None)

    async def scenario(sim: Simulation) -> None:
        recording.clock = sim.clock
        await sim.store.create(config_map("a"))
        sim.manager.add(Controller("cms", recording, kind=ConfigMap))
        await sim.settle()

    Simulation().run(scenario)
    assert len(recording.requests) == 3
    assert [round(b - a, 6) for a, b in itertools.pairwise(recording.times)] == [0.005, 0.01]


def test_requeue_after_comes_back_after_that_long() -> None:
    recording = Recording(Result(requeue_after=30.0), None)

    async def scenario(sim: Simulation) -> None:
        recording.clock = sim.clock
        await sim.store.create(config_map("a"))
        sim.manager.add(Controller("cms", recording, kind=ConfigMap))
        await sim.settle()

    Simulation().run(scenario)
    assert recording.times == [0.0, 30.0]


def test_terminal_error_is_not_retried() -> None:
    recording = Recording(TerminalError("bad spec"))

    async def scenario(sim: Simulation) -> None:
        await sim.store.create(config_map("a"))
        sim.manager.add(Controller("cms", recording, kind=ConfigMap))
        await sim.settle(horizon=3600)

    Simulation().run(scenario)
    assert len(recording.requests) == 1


def test_a_terminal_error_keeps_the_backoff_of_earlier_failures() -> None:
    # controller-runtime's reconcileHandler neither requeues nor forgets a key on a TerminalError: the
    # next failure, once the object changes, backs off from where the failures before it left off.
    recording = Recording(
        RuntimeError("boom"), RuntimeError("boom"), TerminalError("bad spec"), RuntimeError("boom"), None
    )

    async def scenario(sim: Simulation) -> None:
        recording.clock = sim.clock
        created = await sim.store.create(config_map("a"))
        sim.manager.add(Controller("cms", recording, kind=ConfigMap))
        await sim.settle()
        await sim.advance(1)
        await sim.store.update(attrs.evolve(created, data={"fixed": "yes"}))
        await sim.settle()

    Simulation().run(scenario)
    assert len(recording.requests) == 5
    assert [round(b - a, 6) for a, b in itertools.pairwise(recording.times)][-1] == 0.02


def test_max_retries_drops_the_key() -> None:
    recording = Recording(*[RuntimeError("boom")] * 10)

    async def scenario(sim: Simulation) -> None:
        await sim.store.create(config_map("a"))
        sim.manager.add(Controller("cms", recording, kind=ConfigMap, max_retries=3))
        await sim.settle(horizon=3600)

    Simulation().run(scenario)
    assert len(recording.requests) == 4


def test_a_dropped_key_stays_listed_until_requeued_or_reconciled_again() -> None:
    # Kubernetes relies on the informer resync to bring a dropped key back; `requeue_dropped` stands
    # in for it, and a reconcile of the key for any other reason (a change) takes it off the list.
    recording = Recording(*[RuntimeError("boom")] * 4, None, *[RuntimeError("boom")] * 4)
    dropped: list[tuple[Request, ...]] = []

    async def scenario(sim: Simulation) -> None:
        created = await sim.store.create(config_map("a"))
        controller = sim.manager.add(Controller("cms", recording, kind=ConfigMap, max_retries=3))
        await sim.settle(horizon=3600)
        dropped.append(controller.dropped)
        controller.requeue_dropped()
        await sim.settle(horizon=3600)
        dropped.append(controller.dropped)
        changed = await sim.store.update(attrs.evolve(created, data={"again": "yes"}))
        await sim.settle(horizon=3600)
        dropped.append(controller.dropped)
        await sim.store.update(attrs.evolve(changed, data={"once": "more"}))
        await sim.settle(horizon=3600)
        dropped.append(controller.dropped)

    Simulation().run(scenario)
    key = Request("default", "a")
    assert dropped == [(key,), (), (key,), ()]
    assert len(recording.requests) == 10


def test_a_reconcile_that_overruns_its_timeout_is_retried() -> None:
    calls: list[float] = []

    async def scenario(sim: Simulation) -> None:
        async def slow(request: Request) -> Result | None:
            calls.append(sim.now)
            if len(calls) == 1:
                await sim.clock.sleep(60)
            return None

        await sim.store.create(config_map("a"))
        sim.manager.add(Controller("cms", slow, kind=ConfigMap, timeout=10.0))
        await sim.settle()

    Simulation().run(scenario)
    assert calls == [0.0, 10.005]


def test_a_key_is_never_reconciled_by_two_workers_at_once() -> None:
    active: set[Request] = set()
    overlaps: list[Request] = []
    count = 0

    async def scenario(sim: Simulation) -> None:
        async def slow(request: Request) -> Result | None:
            nonlocal count
            count += 1
            if request in active:
                overlaps.append(request)
            active.add(request)
            await sim.clock.sleep(1)
            active.discard(request)
            return None

        sim.manager.add(Controller("cms", slow, kind=ConfigMap, workers=4))
        created = await sim.store.create(config_map("a"))
        await sim.settle()
        for index in range(5):  # updates while the key is being processed
            created = await sim.store.update(attrs.evolve(created, data={"n": str(index)}))
            await sim.advance(0.3)
        await sim.settle()

    Simulation().run(scenario)
    assert overlaps == []
    assert count >= 3


def test_a_crash_restarts_the_controller_which_lists_every_key_again() -> None:
    recording = Recording(None, Crash("kill -9"))

    async def scenario(sim: Simulation) -> None:
        await sim.store.create(config_map("a"))
        sim.manager.add(Controller("cms", recording, kind=ConfigMap))
        await sim.settle()
        await sim.store.create(config_map("b"))
        await sim.settle()

    sim = Simulation()
    sim.run(scenario)
    before_crash = [Request("default", "a"), Request("default", "b")]
    after_restart = [Request("default", "a"), Request("default", "b")]
    assert recording.requests == [*before_crash, *after_restart]
    assert len(sim.trace.of("crash")) == 1


def test_a_controller_restarted_while_a_watch_is_down_waits_for_the_relist_before_reconciling() -> None:
    # A restarted process lists afresh: its first reconcile must not read a cache from before the
    # outage. The watch goes down, the object changes, the controller crashes; the first reconcile
    # after the restart already sees the change.
    seen: list[str] = []

    async def scenario(sim: Simulation) -> None:
        informer = sim.manager.informer(ConfigMap)

        async def reconcile(request: Request) -> Result | None:
            current = informer.get(request.name, request.namespace)
            assert current is not None
            seen.append(current.data.get("v", ""))
            if len(seen) == 1:
                sim.faults.drop_watches(ConfigMap)
                await anyio.lowlevel.checkpoint()  # the informer notices the drop
                await sim.memory.update(attrs.evolve(current, data=FrozenDict({"v": "2"})))
                raise Crash("kill -9")
            return None

        await sim.store.create(config_map("a"))
        sim.manager.add(Controller("cms", reconcile, kind=ConfigMap))
        await sim.settle()

    Simulation().run(scenario)
    assert seen[:2] == ["", "2"]


def test_stop_shuts_the_queue_down_and_run_returns_without_restarting() -> None:
    recording = Recording()

    async def scenario(sim: Simulation) -> tuple[list[Request], bool]:
        await sim.store.create(config_map("a"))
        controller = Controller("cms", recording, kind=ConfigMap, workers=3)
        with anyio.fail_after(60.0):
            async with anyio.create_task_group() as tg:
                await tg.start(controller.run, sim.manager)
                await sim.settle()
                queue = controller.queue
                controller.stop()
            # The task group ended on its own: every worker and `run` returned, nothing was cancelled.
        await sim.store.create(config_map("b"))
        await sim.settle()
        return recording.requests, queue.shutting_down

    requests, shut_down = Simulation().run(scenario)
    assert requests == [Request("default", "a")]
    assert shut_down


def test_workers_start_as_work_comes_and_never_more_than_the_controller_has() -> None:
    started: list[float] = []
    running: list[int] = [0, 0]  # now, most at once

    class Counted(Controller):
        async def _work(self, *args: object) -> None:
            started.append(sim.now)
            await super()._work(*args)  # type: ignore[arg-type]

    async def slow(request: Request) -> None:
        running[0] += 1
        running[1] = max(running)
        await sim.advance(10.0)
        running[0] -= 1

    async def scenario(sim: Simulation) -> None:
        sim.manager.add(Counted("cms", slow, kind=ConfigMap, workers=3))
        await sim.settle()
        await sim.store.create(config_map("a"))
        await sim.settle()
        for name in "bcdef":
            await sim.store.create(config_map(name))
        await sim.settle()

    sim = Simulation()
    sim.run(scenario)
    # One to start with (it takes "a"), two more for the five at once: three at most, not three idle.
    assert started == [0.0, 10.0, 10.0]
    assert running[1] == 3


def test_reconcile_metrics_are_counted_under_controller_runtime_names() -> None:
    recording = Recording(RuntimeError("once"), None)

    async def scenario(sim: Simulation) -> None:
        await sim.store.create(config_map("a"))
        sim.manager.add(Controller("cms", recording, kind=ConfigMap))
        await sim.settle()

    sim = Simulation()
    sim.run(scenario)
    registry = sim.manager.metrics.registry

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"controller": "cms", **labels})

    assert sample("controller_runtime_reconcile_total", result="success") == 1
    assert sample("controller_runtime_reconcile_total", result="error") == 1
    assert sample("controller_runtime_reconcile_total", result="requeue") == 0
    assert sample("controller_runtime_reconcile_errors_total") == 1
    assert registry.get_sample_value("workqueue_adds_total", {"name": "cms"}) == 2


def test_each_reconcile_logs_with_its_controller_key_and_id() -> None:
    recording = Recording(RuntimeError("boom"), None)

    async def scenario(sim: Simulation) -> None:
        await sim.store.create(config_map("a"))
        sim.manager.add(Controller("cms", recording, kind=ConfigMap))
        await sim.settle()

    # The per-reconcile fields are context variables, so that the reconciler's own logs carry them too.
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        Simulation().run(scenario)
    [failure] = [entry for entry in logs if entry["event"] == "reconcile failed; retrying"]
    assert failure["error"] == "boom"
    assert (failure["controller"], failure["namespace"], failure["name"]) == ("cms", "default", "a")
    assert len(failure["reconcile_id"]) == 36


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        Controller("x", Recording(), kind=ConfigMap, workers=0)
