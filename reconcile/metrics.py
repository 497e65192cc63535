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

Asking again for a name gives the same object: a restarted controller, with a new queue, keeps counting
in the same series. This module only counts: it serves no HTTP endpoint and decides nothing about
retries. A queue built without metrics reports to `NoWorkQueueMetrics`, which does nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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


class _WorkQueueFamilies:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("name",)
        self.depth = Gauge(
            "workqueue_depth", "Items waiting in the workqueue to be processed", labels, registry=registry
        )
        self.adds = Counter(
            "workqueue_adds_total",
            "Adds to the workqueue that were not already waiting",
            labels,
            registry=registry,
        )
        self.queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "Seconds an item waits in the workqueue before a worker takes it",
            labels,
            buckets=WORKQUEUE_BUCKETS,
            registry=registry,
        )
        self.work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "Seconds a worker takes to process an item of the workqueue",
            labels,
            buckets=WORKQUEUE_BUCKETS,
            registry=registry,
        )
        self.unfinished_work = Gauge(
            "workqueue_unfinished_work_seconds",
            "Seconds spent so far on the items being processed, not yet in work_duration; "
            "its rate of increase is the number of stuck workers",
            labels,
            registry=registry,
        )
        self.longest_running_processor = Gauge(
            "workqueue_longest_running_processor_seconds",
            "Seconds the longest-running item being processed has been at it",
            labels,
            registry=registry,
        )
        self.retries = Counter(
            "workqueue_retries_total",
            "Delayed and rate-limited adds asked of the workqueue",
            labels,
            registry=registry,
        )


class _ControllerFamilies:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("controller",)
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Reconciles per controller and result",
            (*labels, "result"),
            registry=registry,
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total",
            "Reconciles per controller that ended in an error",
            labels,
            registry=registry,
        )
        self.terminal_reconcile_errors = Counter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Reconciles per controller that ended in an error not to be retried",
            labels,
            registry=registry,
        )
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Seconds per reconcile, per controller",
            labels,
            buckets=RECONCILE_TIME_BUCKETS,
            registry=registry,
        )
        self.max_concurrent_reconciles = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Workers per controller: the most reconciles it runs at once",
            labels,
            registry=registry,
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Workers per controller that are handling an item now",
            labels,
            registry=registry,
        )


class PrometheusWorkQueueMetrics:
    """One queue's ``workqueue_*{name=...}`` series, fed by the queue and timed on its clock."""

    def __init__(self, families: _WorkQueueFamilies, name: str) -> None:
        self._clock: Clock = RealClock()
        self._depth = families.depth.labels(name)
        self._adds = families.adds.labels(name)
        self._queue_duration = families.queue_duration.labels(name)
        self._work_duration = families.work_duration.labels(name)
        self._retries = families.retries.labels(name)
        # When each waiting item was first added, and when each item being processed was taken.
        self._added_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}
        families.unfinished_work.labels(name).set_function(self._unfinished_work_seconds)
        families.longest_running_processor.labels(name).set_function(self._longest_running_seconds)

    def attach(self, clock: Clock) -> None:
        # A new queue under an old name (a restarted controller) starts empty; counters and histograms
        # carry on, as Prometheus expects of them.
        self._clock = clock
        self._depth.set(0)
        self._added_at.clear()
        self._started_at.clear()

    def added(self, item: Hashable) -> None:
        self._adds.inc()
        self._depth.inc()
        if item not in self._added_at:
            self._added_at[item] = self._clock.monotonic()

    def got(self, item: Hashable) -> None:
        now = self._clock.monotonic()
        self._depth.dec()
        self._started_at[item] = now
        added_at = self._added_at.pop(item, None)
        if added_at is not None:
            self._queue_duration.observe(now - added_at)

    def done(self, item: Hashable) -> None:
        started_at = self._started_at.pop(item, None)
        if started_at is not None:
            self._work_duration.observe(self._clock.monotonic() - started_at)

    def retried(self) -> None:
        self._retries.inc()

    def _processing_ages(self) -> list[float]:
        now = self._clock.monotonic()
        # The exposition server may collect from another thread: copy the start times in one step
        # rather than iterate over a dict that the event loop may be changing.
        return [now - started_at for started_at in list(self._started_at.values())]

    def _unfinished_work_seconds(self) -> float:
        return sum(self._processing_ages())

    def _longest_running_seconds(self) -> float:
        return max(self._processing_ages(), default=0.0)


class ControllerMetrics:
    """One controller's ``controller_runtime_*{controller=...}`` series."""

    def __init__(self, families: _ControllerFamilies, name: str) -> None:
        # Taking a labelled child creates its series at zero.
        self._reconcile_total = {
            result: families.reconcile_total.labels(name, result) for result in RECONCILE_RESULTS
        }
        self._reconcile_errors = families.reconcile_errors.labels(name)
        self._terminal_reconcile_errors = families.terminal_reconcile_errors.labels(name)
        self._reconcile_time = families.reconcile_time.labels(name)
        self._max_concurrent_reconciles = families.max_concurrent_reconciles.labels(name)
        self._active_workers = families.active_workers.labels(name)

    def prepare(self, max_concurrent_reconciles: int) -> None:
        """controller-runtime's initMetrics, for a controller (re)starting with that many workers.

        Every series of the controller exists from `Metrics.controller` on, at zero until counted; this
        sets the worker count and, since no worker of the new run is busy yet, zero active workers.
        """
        self._max_concurrent_reconciles.set(max_concurrent_reconciles)
        self._active_workers.set(0)

    def worker_busy(self) -> None:
        """A worker took an item and is handling it."""
        self._active_workers.inc()

    def worker_idle(self) -> None:
        """A worker finished handling its item, whatever came of it (cancellation included)."""
        self._active_workers.dec()

    def reconciled(self, outcome: ReconcileOutcome, seconds: float) -> None:
        """Count one reconcile that ended with ``outcome`` after ``seconds`` (of the controller's clock)."""
        self._reconcile_total[_RESULT_LABEL[outcome]].inc()
        if outcome is ReconcileOutcome.ERROR or outcome is ReconcileOutcome.TERMINAL_ERROR:
            self._reconcile_errors.inc()
        if outcome is ReconcileOutcome.TERMINAL_ERROR:
            self._terminal_reconcile_errors.inc()
        self._reconcile_time.observe(seconds)


class Metrics:
    """The metrics of one manager, in one registry: a series set per workqueue and per controller name."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._workqueue_families = _WorkQueueFamilies(self.registry)
        self._controller_families = _ControllerFamilies(self.registry)
        self._workqueues: dict[str, PrometheusWorkQueueMetrics] = {}
        self._controllers: dict[str, ControllerMetrics] = {}

    def workqueue(self, name: str) -> WorkQueueMetrics:
        """The series of the queue called ``name``, for that queue's ``metrics`` argument."""
        _check_name(name)
        if name not in self._workqueues:
            self._workqueues[name] = PrometheusWorkQueueMetrics(self._workqueue_families, name)
        return self._workqueues[name]

    def controller(self, name: str) -> ControllerMetrics:
        """The series of the controller called ``name``, every label combination created at zero."""
        _check_name(name)
        if name not in self._controllers:
            self._controllers[name] = ControllerMetrics(self._controller_families, name)
        return self._controllers[name]


def _check_name(name: str) -> None:
    if not name:
        raise ValueError("metrics need a non-empty name to label their series with")
