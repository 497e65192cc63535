"""Prometheus metrics of workqueues and controllers, under client-go's and controller-runtime's names.

`Metrics` owns a ``prometheus_client.CollectorRegistry`` that the embedding application passes in to expose
it (by default a fresh private registry, never the process-global one, so that two managers in one process,
or two tests, never share series). From it come:

- `Metrics.workqueue`: the `WorkQueueMetrics` a `WorkQueue` reports to (``workqueue_*{name}``, as client-go's
  queue metrics with the bucket layout of Kubernetes' own workqueue provider). Durations are read from the
  queue's `Clock`, so on virtual time they are virtual seconds. The two "unfinished work" gauges are
  computed when the registry is collected, from the start times of the items being processed, instead of
  by client-go's periodic update loop.
- `Metrics.controller`: the `ControllerMetrics` a controller's workers report to
  (``controller_runtime_*{controller}``), every series created at zero up front as controller-runtime does,
  so that dashboards and alerts see zeros rather than missing series.
- `Metrics.leader_election`: the `LeaderElectionMetrics` a leader elector reports to
  (``leader_election_master_status{name}``, client-go's leader metric as controller-runtime registers it).

Both count in plain numbers and one collector in the registry turns them into metric families only when
it is scraped: a reconcile pays a few integer additions, not a locked Prometheus child per increment.
(The families carry no ``_created`` samples, which client-go and controller-runtime do not expose.)

Asking again for a name gives the same object: a restarted controller, with a new queue, keeps counting
in the same series. This module only counts: it serves no HTTP endpoint and decides nothing about
retries. A queue built without metrics reports to `NoWorkQueueMetrics`, which does nothing.
"""

from __future__ import annotations

import enum
import itertools
from bisect import bisect_left
from collections.abc import Hashable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from reconcile.clock import Clock, RealClock

#: client-go / component-base workqueue latency buckets: ExponentialBuckets(10e-9, 10, 10), 10 ns to 10 s.
WORKQUEUE_BUCKETS = tuple(10.0**exponent for exponent in range(-8, 2))

#: controller-runtime's buckets for controller_runtime_reconcile_time_seconds.
RECONCILE_TIME_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
    1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0,
    15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
)  # fmt: skip


class WorkQueueMetrics(Protocol):
    """What a workqueue reports, in client-go's terms; each call happens at the moment it names."""

    def attach(self, clock: Clock) -> None:
        """A new queue reports here from now on, and ``clock`` is its clock."""
        ...

    def added(self, item: Hashable) -> None:
        """``item`` became waiting to be processed (an add that the queue did not deduplicate)."""
        ...

    def got(self, item: Hashable) -> None:
        """A worker took ``item`` from the queue."""
        ...

    def done(self, item: Hashable) -> None:
        """A worker finished processing ``item``."""
        ...

    def retried(self) -> None:
        """A delayed (or rate-limited) add was asked for."""
        ...


class NoWorkQueueMetrics:
    """Reports nowhere: the queue's path when it was built without metrics."""

    def attach(self, clock: Clock) -> None:
        pass

    def added(self, item: Hashable) -> None:
        pass

    def got(self, item: Hashable) -> None:
        pass

    def done(self, item: Hashable) -> None:
        pass

    def retried(self) -> None:
        pass


class ReconcileOutcome(enum.Enum):
    """How one reconcile ended, the way controller-runtime counts it."""

    SUCCESS = "success"
    REQUEUE = "requeue"
    REQUEUE_AFTER = "requeue_after"
    ERROR = "error"
    #: Counted under ``result="error"`` too, plus in the terminal errors counter.
    TERMINAL_ERROR = "terminal_error"


#: The ``result`` label values of controller_runtime_reconcile_total.
RECONCILE_RESULTS = ("success", "error", "requeue", "requeue_after")

_RESULT_LABEL = {outcome: outcome.value for outcome in ReconcileOutcome} | {
    ReconcileOutcome.TERMINAL_ERROR: "error"
}


class _Histogram:
    """A histogram's running counts in plain numbers, turned into Prometheus buckets only when collected."""

    __slots__ = ("_bounds", "_labels", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._labels = [*(floatToGoString(bound) for bound in bounds), "+Inf"]  # type: ignore[no-untyped-call]
        # counts[i]: observations in (bounds[i-1], bounds[i]]; the last one counts those above every bound.
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1
        self.sum += value

    def buckets(self) -> tuple[list[tuple[str, float]], float]:
        """The cumulative ``le`` buckets, +Inf included, and the sum, read in one step."""
        counts, total = list(self.counts), self.sum
        cumulative = list(itertools.accumulate(counts))
        return [(label, float(count)) for label, count in zip(self._labels, cumulative, strict=True)], total


class PrometheusWorkQueueMetrics:
    """One queue's ``workqueue_*{name=...}`` series, fed by the queue and timed on its clock.

    Counts are plain attributes, read by the registry's collector when it is scraped.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._clock: Clock = RealClock()
        self._monotonic = self._clock.monotonic
        self.depth = 0
        self.adds = 0
        self.retries = 0
        self.queue_duration = _Histogram(WORKQUEUE_BUCKETS)
        self.work_duration = _Histogram(WORKQUEUE_BUCKETS)
        # When each waiting item was first added, and when each item being processed was taken.
        self._added_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}

    def attach(self, clock: Clock) -> None:
        # A new queue under an old name (a restarted controller) starts empty; counters and histograms
        # carry on, as Prometheus expects of them.
        self._clock = clock
        self._monotonic = clock.monotonic
        self.depth = 0
        self._added_at.clear()
        self._started_at.clear()

    def added(self, item: Hashable) -> None:
        self.adds += 1
        self.depth += 1
        added_at = self._added_at
        if item not in added_at:
            added_at[item] = self._monotonic()

    def got(self, item: Hashable) -> None:
        now = self._monotonic()
        self.depth -= 1
        self._started_at[item] = now
        added_at = self._added_at.pop(item, None)
        if added_at is not None:
            self.queue_duration.observe(now - added_at)

    def done(self, item: Hashable) -> None:
        started_at = self._started_at.pop(item, None)
        if started_at is not None:
            self.work_duration.observe(self._monotonic() - started_at)

    def retried(self) -> None:
        self.retries += 1

    def processing_ages(self) -> list[float]:
        now = self._monotonic()
        # The exposition server may collect from another thread: copy the start times in one step
        # rather than iterate over a dict that the event loop may be changing.
        return [now - started_at for started_at in list(self._started_at.values())]


class ControllerMetrics:
    """One controller's ``controller_runtime_*{controller=...}`` series, as plain counts.

    Every series exists, at zero, from the moment the object does (the collector reads them all).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.reconcile_total = dict.fromkeys(RECONCILE_RESULTS, 0)
        self.reconcile_errors = 0
        self.terminal_reconcile_errors = 0
        self.reconcile_time = _Histogram(RECONCILE_TIME_BUCKETS)
        self.max_concurrent_reconciles = 0
        self.active_workers = 0

    def prepare(self, max_concurrent_reconciles: int) -> None:
        """controller-runtime's initMetrics, for a controller (re)starting with that many workers.

        Every series of the controller exists from `Metrics.controller` on, at zero until counted; this
        sets the worker count and, since no worker of the new run is busy yet, zero active workers.
        """
        self.max_concurrent_reconciles = max_concurrent_reconciles
        self.active_workers = 0

    def worker_busy(self) -> None:
        """A worker took an item and is handling it."""
        self.active_workers += 1

    def worker_idle(self) -> None:
        """A worker finished handling its item, whatever came of it (cancellation included)."""
        self.active_workers -= 1

    def reconciled(self, outcome: ReconcileOutcome, seconds: float) -> None:
        """Count one reconcile that ended with ``outcome`` after ``seconds`` (of the controller's clock)."""
        self.reconcile_total[_RESULT_LABEL[outcome]] += 1
        if outcome is ReconcileOutcome.ERROR or outcome is ReconcileOutcome.TERMINAL_ERROR:
            self.reconcile_errors += 1
            if outcome is ReconcileOutcome.TERMINAL_ERROR:
                self.terminal_reconcile_errors += 1
        self.reconcile_time.observe(seconds)


class LeaderElectionMetrics:
    """One lease's ``leader_election_master_status{name=...}``: whether this candidate leads it.

    A candidate reports itself a standby from the moment it is made, as client-go's NewLeaderElector does.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.leading = False

    def leader_on(self) -> None:
        self.leading = True

    def leader_off(self) -> None:
        self.leading = False


class _Collector:
    """Turns the plain counts of every queue, controller and lease into metric families when scraped."""

    def __init__(
        self,
        workqueues: dict[str, PrometheusWorkQueueMetrics],
        controllers: dict[str, ControllerMetrics],
        leases: dict[str, LeaderElectionMetrics],
    ) -> None:
        self._workqueues = workqueues
        self._controllers = controllers
        self._leases = leases

    def describe(self) -> Iterator[Metric]:
        # The names, for the registry's collision check, without reading any count.
        return self._families([], [], [])

    def collect(self) -> Iterator[Metric]:
        # Copied in one step each: the exposition server may collect from another thread.
        return self._families(
            list(self._workqueues.values()), list(self._controllers.values()), list(self._leases.values())
        )

    @staticmethod
    def _families(
        workqueues: list[PrometheusWorkQueueMetrics],
        controllers: list[ControllerMetrics],
        leases: list[LeaderElectionMetrics],
    ) -> Iterator[Metric]:
        name = ["name"]
        depth = GaugeMetricFamily(
            "workqueue_depth", "Items waiting in the workqueue to be processed", labels=name
        )
        adds = CounterMetricFamily(
            "workqueue_adds_total", "Adds to the workqueue that were not already waiting", labels=name
        )
        queue_duration = HistogramMetricFamily(
            "workqueue_queue_duration_seconds",
            "Seconds an item waits in the workqueue before a worker takes it",
            labels=name,
        )
        work_duration = HistogramMetricFamily(
            "workqueue_work_duration_seconds",
            "Seconds a worker takes to process an item of the workqueue",
            labels=name,
        )
        unfinished_work = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds",
            "Seconds spent so far on the items being processed, not yet in work_duration; "
            "its rate of increase is the number of stuck workers",
            labels=name,
        )
        longest_running_processor = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds",
            "Seconds the longest-running item being processed has been at it",
            labels=name,
        )
        retries = CounterMetricFamily(
            "workqueue_retries_total", "Delayed and rate-limited adds asked of the workqueue", labels=name
        )
        for queue in workqueues:
            labels = [queue.name]
            depth.add_metric(labels, queue.depth)
            adds.add_metric(labels, queue.adds)
            queue_duration.add_metric(labels, *queue.queue_duration.buckets())
            work_duration.add_metric(labels, *queue.work_duration.buckets())
            ages = queue.processing_ages()
            unfinished_work.add_metric(labels, sum(ages))
            longest_running_processor.add_metric(labels, max(ages, default=0.0))
            retries.add_metric(labels, queue.retries)
        yield from (
            depth, adds, queue_duration, work_duration, unfinished_work, longest_running_processor, retries
        )  # fmt: skip

        controller = ["controller"]
        reconcile_total = CounterMetricFamily(
            "controller_runtime_reconcile_total",
            "Reconciles per controller and result",
            labels=[*controller, "result"],
        )
        reconcile_errors = CounterMetricFamily(
            "controller_runtime_reconcile_errors_total",
            "Reconciles per controller that ended in an error",
            labels=controller,
        )
        terminal_reconcile_errors = CounterMetricFamily(
            "controller_runtime_terminal_reconcile_errors_total",
            "Reconciles per controller that ended in an error not to be retried",
            labels=controller,
        )
        reconcile_time = HistogramMetricFamily(
            "controller_runtime_reconcile_time_seconds",
            "Seconds per reconcile, per controller",
            labels=controller,
        )
        max_concurrent_reconciles = GaugeMetricFamily(
            "controller_runtime_max_concurrent_reconciles",
            "Workers per controller: the most reconciles it runs at once",
            labels=controller,
        )
        active_workers = GaugeMetricFamily(
            "controller_runtime_active_workers",
            "Workers per controller that are handling an item now",
            labels=controller,
        )
        for metrics in controllers:
            labels = [metrics.name]
            for result, count in list(metrics.reconcile_total.items()):
                reconcile_total.add_metric([metrics.name, result], count)
            reconcile_errors.add_metric(labels, metrics.reconcile_errors)
            terminal_reconcile_errors.add_metric(labels, metrics.terminal_reconcile_errors)
            reconcile_time.add_metric(labels, *metrics.reconcile_time.buckets())
            max_concurrent_reconciles.add_metric(labels, metrics.max_concurrent_reconciles)
            active_workers.add_metric(labels, metrics.active_workers)
        yield from (
            reconcile_total,
            reconcile_errors,
            terminal_reconcile_errors,
            reconcile_time,
            max_concurrent_reconciles,
            active_workers,
        )

        master_status = GaugeMetricFamily(
            "leader_election_master_status",
            "Whether this candidate leads the lease called name: 1 leader, 0 standby",
            labels=["name"],
        )
        for lease in leases:
            master_status.add_metric([lease.name], 1.0 if lease.leading else 0.0)
        yield master_status


class Metrics:
    """The metrics of one manager, in one registry: a series set per workqueue and per controller name."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._workqueues: dict[str, PrometheusWorkQueueMetrics] = {}
        self._controllers: dict[str, ControllerMetrics] = {}
        self._leases: dict[str, LeaderElectionMetrics] = {}
        self.registry.register(_Collector(self._workqueues, self._controllers, self._leases))

    def workqueue(self, name: str) -> WorkQueueMetrics:
        """The series of the queue called ``name``, for that queue's ``metrics`` argument."""
        _check_name(name)
        if name not in self._workqueues:
            self._workqueues[name] = PrometheusWorkQueueMetrics(name)
        return self._workqueues[name]

    def controller(self, name: str) -> ControllerMetrics:
        """The series of the controller called ``name``, every label combination created at zero."""
        _check_name(name)
        if name not in self._controllers:
            self._controllers[name] = ControllerMetrics(name)
        return self._controllers[name]

    def leader_election(self, name: str) -> LeaderElectionMetrics:
        """The series of the lease called ``name`` (a standby until its elector leads)."""
        _check_name(name)
        if name not in self._leases:
            self._leases[name] = LeaderElectionMetrics(name)
        return self._leases[name]


def _check_name(name: str) -> None:
    if not name:
        raise ValueError("metrics need a non-empty name to label their series with")
