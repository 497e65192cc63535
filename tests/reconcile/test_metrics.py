"""Workqueue and controller metrics, read back from the registry after scripted sequences on virtual time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry

from reconcile.clock import VirtualClock
from reconcile.metrics import ControllerMetrics, Metrics, ReconcileOutcome
from reconcile.workqueue import WorkQueue


def run(scenario: Callable[[VirtualClock], Awaitable[None]]) -> None:
    clock = VirtualClock()
    clock.run(scenario, clock)


class Samples:
    """Reads one queue's or one controller's samples from a registry."""

    def __init__(self, registry: CollectorRegistry, **labels: str) -> None:
        self.registry = registry
        self._labels = labels

    def __call__(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, {**self._labels, **labels})


def queue_with_metrics(clock: VirtualClock) -> tuple[WorkQueue[str], Samples]:
    metrics = Metrics()
    queue = WorkQueue[str]("q", clock=clock, metrics=metrics.workqueue("q"))
    return queue, Samples(metrics.registry, name="q")


def controller_with_metrics() -> tuple[ControllerMetrics, Samples]:
    metrics = Metrics()
    return metrics.controller("rs"), Samples(metrics.registry, controller="rs")


# --- workqueue ---------------------------------------------------------------------------------------------


def test_workqueue_series_after_a_scripted_sequence() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue, sample = queue_with_metrics(clock)
        queue.add("a")
        queue.add("b")
        queue.add("a")
        await clock.sleep(1.0)
        await queue.get()
        await clock.sleep(2.0)
        queue.done("a")
        queue.add_after("c", 5.0)

        assert sample("workqueue_adds_total") == 2
        assert sample("workqueue_depth") == 1
        assert sample("workqueue_queue_duration_seconds_count") == 1
        assert sample("workqueue_queue_duration_seconds_sum") == pytest.approx(1.0)
        assert sample("workqueue_work_duration_seconds_count") == 1
        assert sample("workqueue_work_duration_seconds_sum") == pytest.approx(2.0)
        assert sample("workqueue_retries_total") == 1

    run(scenario)


def test_queue_duration_runs_from_the_first_add_of_an_item() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue, sample = queue_with_metrics(clock)
        queue.add("a")
        await clock.sleep(1.0)
        queue.add("a")
        await clock.sleep(2.0)
        await queue.get()

        assert sample("workqueue_queue_duration_seconds_sum") == pytest.approx(3.0)

    run(scenario)


def test_depth_counts_an_item_added_again_while_it_is_processed() -> None:
    # client-go counts every add that marks an item dirty, even one that waits for done to be queued.
    async def scenario(clock: VirtualClock) -> None:
        queue, sample = queue_with_metrics(clock)
        queue.add("a")
        await queue.get()
        assert sample("workqueue_depth") == 0

        queue.add("a")
        assert (len(queue), sample("workqueue_depth")) == (0, 1)
        queue.done("a")
        await queue.get()
        assert sample("workqueue_depth") == 0

    run(scenario)


def test_unfinished_work_is_computed_from_the_items_being_processed_when_collected() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue, sample = queue_with_metrics(clock)
        queue.add("a")
        queue.add("b")
        await queue.get()
        await clock.sleep(1.0)
        await queue.get()
        await clock.sleep(2.0)

        assert sample("workqueue_unfinished_work_seconds") == pytest.approx(3.0 + 2.0)
        assert sample("workqueue_longest_running_processor_seconds") == pytest.approx(3.0)
        queue.done("a")
        assert sample("workqueue_unfinished_work_seconds") == pytest.approx(2.0)
        assert sample("workqueue_longest_running_processor_seconds") == pytest.approx(2.0)
        queue.done("b")
        assert sample("workqueue_unfinished_work_seconds") == 0
        assert sample("workqueue_longest_running_processor_seconds") == 0

    run(scenario)


def test_retries_count_every_delayed_add_until_shut_down() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue, sample = queue_with_metrics(clock)
        queue.add_after("a", 0.0)
        queue.add_after("b", 1.0)
        queue.add_after("b", 2.0)
        queue.add_rate_limited("c")
        queue.shut_down()
        queue.add_after("d", 1.0)
        queue.add_rate_limited("e")

        assert sample("workqueue_retries_total") == 4

    run(scenario)


def test_workqueue_histograms_use_client_gos_buckets_from_10ns_to_10s() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue, sample = queue_with_metrics(clock)
        queue.add("a")
        await queue.get()

        for histogram in ("workqueue_queue_duration_seconds", "workqueue_work_duration_seconds"):
            assert bucket_bounds(sample.registry, histogram) == [
                "1e-08", "1e-07", "1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1", "1.0", "10.0", "+Inf",
            ]  # fmt: skip

    run(scenario)


def bucket_bounds(registry: CollectorRegistry, histogram: str) -> list[str]:
    return [
        sample.labels["le"]
        for family in registry.collect()
        if family.name == histogram
        for sample in family.samples
        if sample.name == f"{histogram}_bucket"
    ]


def test_a_new_queue_under_an_old_name_starts_empty_and_keeps_counting() -> None:
    # A restarted controller builds a new queue with the same name: nothing is queued or in flight in it.
    async def scenario(clock: VirtualClock) -> None:
        metrics = Metrics()
        sample = Samples(metrics.registry, name="q")
        old_queue = WorkQueue[str]("q", clock=clock, metrics=metrics.workqueue("q"))
        old_queue.add("a")
        old_queue.add("b")
        await old_queue.get()
        await clock.sleep(1.0)

        new_queue = WorkQueue[str]("q", clock=clock, metrics=metrics.workqueue("q"))
        new_queue.add("c")

        assert sample("workqueue_depth") == 1
        assert sample("workqueue_unfinished_work_seconds") == 0
        assert sample("workqueue_adds_total") == 3

    run(scenario)


def test_metrics_need_a_name_to_label_their_series() -> None:
    with pytest.raises(ValueError, match="name"):
        Metrics().workqueue("")
    with pytest.raises(ValueError, match="name"):
        Metrics().controller("")


def test_asking_again_for_a_name_gives_the_same_series() -> None:
    metrics = Metrics()

    assert metrics.workqueue("q") is metrics.workqueue("q")
    assert metrics.controller("rs") is metrics.controller("rs")


# --- controller --------------------------------------------------------------------------------------------


def test_every_controller_series_exists_at_zero_before_any_reconcile() -> None:
    controller, sample = controller_with_metrics()
    controller.prepare(max_concurrent_reconciles=4)

    for result in ("success", "error", "requeue", "requeue_after"):
        assert sample("controller_runtime_reconcile_total", result=result) == 0
    assert sample("controller_runtime_reconcile_errors_total") == 0
    assert sample("controller_runtime_terminal_reconcile_errors_total") == 0
    assert sample("controller_runtime_reconcile_time_seconds_count") == 0
    assert sample("controller_runtime_active_workers") == 0
    assert sample("controller_runtime_max_concurrent_reconciles") == 4


@pytest.mark.parametrize(
    ("outcome", "result", "errors", "terminal_errors"),
    [
        (ReconcileOutcome.SUCCESS, "success", 0, 0),
        (ReconcileOutcome.REQUEUE, "requeue", 0, 0),
        (ReconcileOutcome.REQUEUE_AFTER, "requeue_after", 0, 0),
        (ReconcileOutcome.ERROR, "error", 1, 0),
        (ReconcileOutcome.TERMINAL_ERROR, "error", 1, 1),
    ],
)
def test_a_reconcile_is_counted_under_its_result(
    outcome: ReconcileOutcome, result: str, errors: int, terminal_errors: int
) -> None:
    controller, sample = controller_with_metrics()

    controller.reconciled(outcome, 0.2)

    assert sample("controller_runtime_reconcile_total", result=result) == 1
    assert (
        sum(
            sample("controller_runtime_reconcile_total", result=label) or 0
            for label in ("success", "error", "requeue", "requeue_after")
        )
        == 1
    )
    assert sample("controller_runtime_reconcile_errors_total") == errors
    assert sample("controller_runtime_terminal_reconcile_errors_total") == terminal_errors


def test_reconcile_time_is_observed_in_controller_runtimes_buckets() -> None:
    controller, sample = controller_with_metrics()

    controller.reconciled(ReconcileOutcome.SUCCESS, 0.2)
    controller.reconciled(ReconcileOutcome.ERROR, 7.0)

    assert sample("controller_runtime_reconcile_time_seconds_count") == 2
    assert sample("controller_runtime_reconcile_time_seconds_sum") == pytest.approx(7.2)
    assert sample("controller_runtime_reconcile_time_seconds_bucket", le="0.2") == 1
    assert sample("controller_runtime_reconcile_time_seconds_bucket", le="7.0") == 2
    assert sample("controller_runtime_reconcile_time_seconds_bucket", le="60.0") == 2


def test_active_workers_count_the_workers_handling_an_item() -> None:
    controller, sample = controller_with_metrics()

    controller.worker_busy()
    controller.worker_busy()
    controller.worker_idle()

    assert sample("controller_runtime_active_workers") == 1


def test_prepare_for_a_restart_resets_active_workers_and_sets_the_worker_count() -> None:
    controller, sample = controller_with_metrics()
    controller.prepare(max_concurrent_reconciles=2)
    controller.worker_busy()  # a worker of the first run, cancelled mid-reconcile

    controller.prepare(max_concurrent_reconciles=3)

    assert sample("controller_runtime_active_workers") == 0
    assert sample("controller_runtime_max_concurrent_reconciles") == 3


# --- registry ----------------------------------------------------------------------------------------------


def test_metrics_go_into_the_registry_passed_in() -> None:
    registry = CollectorRegistry()

    Metrics(registry).controller("rs")

    assert registry.get_sample_value("controller_runtime_active_workers", {"controller": "rs"}) == 0


def test_metrics_default_to_a_private_registry_not_the_global_one() -> None:
    first, second = Metrics(), Metrics()
    first.controller("rs")
    second.controller("rs")

    assert first.registry is not prometheus_client.REGISTRY
    assert first.registry is not second.registry
    assert (
        prometheus_client.REGISTRY.get_sample_value("controller_runtime_active_workers", {"controller": "rs"})
        is None
    )
