"""Controllers: a reconciler, the kinds it watches, a workqueue of keys and the workers that drain it.

A reconciler gets a `Request` — a namespace and a name, never the event or the object — and brings the
world in line with what that key's object asks for, reading current state from informer caches. It
returns ``None`` (done), a `Result` asking to come back later, raises an exception (retry with backoff)
or raises `TerminalError` (give up until the object changes). The `Controller` turns informer events into
requests: for its own kind, for the kinds it owns (the controlling owner is enqueued, found by name and
checked by uid) and for any kind mapped by a function. An update predicate (`Watch.changed`, and
``changed`` for the primary kind) lets a controller ignore updates that change nothing it looks at, as
controller-runtime's predicates and the update filters of Kubernetes' controllers do; an object filter
(``selects``) narrows the primary kind to the objects it acts on, as a field-selected watch does. A key
is never reconciled by two workers at once.

Controllers run inside a `Manager`, which supplies the caches, clock, randomness and metrics.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import anyio
import attrs
import structlog

from reconcile.clock import yield_to_loop
from reconcile.informer import DeletedFinalStateUnknown, Informer, final_state
from reconcile.metrics import ControllerMetrics, ReconcileOutcome
from reconcile.ratelimit import RateLimiter, default_controller_rate_limiter
from reconcile.workqueue import ShutDown, WorkQueue
from store import Object
from store.seams import Rng, random_uid

if TYPE_CHECKING:
    from reconcile.manager import Manager

log = structlog.get_logger("setpoint.controller")

#: How long a starting controller waits for the caches it reads to fill (controller-runtime's
#: CacheSyncTimeout default) before it gives up and fails its manager.
CACHE_SYNC_TIMEOUT = 120.0

#: The name of the controller whose reconcile is running in this context (None outside reconciles).
current_controller: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "setpoint_current_controller", default=None
)


class Request(NamedTuple):
    """The key of the object to reconcile (namespace is empty for cluster-scoped kinds)."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@attrs.frozen
class Result:
    """What a reconcile asks for when it succeeds: come back after ``requeue_after`` seconds."""

    requeue_after: float | None = None
    requeue: bool = False


class TerminalError(Exception):
    """A failure that retrying will not fix: the key is not requeued until its object changes."""


class Crash(BaseException):
    """The controller process dies here (a simulated crash): all its in-memory state is lost.

    A BaseException, so a reconciler's ``except Exception`` cannot swallow it. The controller restarts
    with a fresh queue and re-lists its keys, as a restarted controller-manager would, once every cache
    it reads has listed afresh.
    """


class Reconciler(Protocol):
    """The one method a controller's logic implements."""

    async def reconcile(self, request: Request) -> Result | None: ...


MapFunc = Callable[[Any], Iterable[Request]]
ReconcileFunc = Callable[[Request], Awaitable[Result | None]]
#: An update predicate: whether the update from the first object to the second concerns the controller.
Changed = Callable[[Any, Any], bool]
#: An object filter: whether the controller acts on the object at all.
Selects = Callable[[Any], bool]


@attrs.frozen
class Watch:
    """What the events of a watched kind enqueue: the requests ``map`` gives for an object.

    ``changed``, if given, filters updates: an update enqueues only when ``changed(old, new)`` is true.
    Adds and deletes always enqueue. An informer's resync is an update from an object to itself.
    """

    map: MapFunc
    changed: Changed | None = None


def reconcile_id(ids: Rng) -> str:
    """A version-4 UUID from 128 bits of ``ids``, as controller-runtime gives each reconcile."""
    return random_uid(ids)


def request_for(obj: Object) -> Request:
    return Request(obj.metadata.namespace, obj.metadata.name)


class _FunctionReconciler:
    def __init__(self, func: ReconcileFunc) -> None:
        self._func = func

    async def reconcile(self, request: Request) -> Result | None:
        return await self._func(request)


class Controller:
    """A reconciler bound to what it watches, with its queue, workers and retry policy.

    ``kind`` is the primary kind; ``owns`` lists kinds whose controlling owner is of that kind;
    ``watches`` maps further kinds to a function from an object to the requests it concerns, or to a
    `Watch` (such a function and an update predicate). ``changed`` is the primary kind's update predicate.
    ``selects`` filters the primary kind's objects the way a field selector on its watch would (the
    kubelet's ``spec.nodeName`` watch, say): an add or delete of an object it rejects enqueues nothing,
    an update only if it selects the old or the new object (entering or leaving the selection is seen
    whatever ``changed`` says, as a watch sees it as an add or a delete). The reconciler still reads
    the whole cache.
    ``timeout`` bounds a single reconcile; ``max_retries`` drops a key after that many failures
    in a row (Kubernetes' Deployment and Endpoints controllers use 15); None retries for ever. A
    dropped key waits for a change or an informer resync to bring it back (`dropped`).
    Up to ``workers`` workers run at once, each started the first time an item is queued with no
    idle worker to take it. Workers start only once every cache the controller watches has synced;
    if that takes longer than ``cache_sync_timeout`` seconds the controller fails with
    `TimeoutError`, and its manager with it, as controller-runtime's does.
    """

    def __init__(
        self,
        name: str,
        reconciler: Reconciler | ReconcileFunc,
        *,
        kind: type[Object],
        owns: Sequence[type[Object]] = (),
        watches: Mapping[type[Object], MapFunc | Watch] | None = None,
        changed: Changed | None = None,
        selects: Selects | None = None,
        workers: int = 1,
        timeout: float | None = None,
        max_retries: int | None = None,
        rate_limiter: RateLimiter[Request] | None = None,
        cache_sync_timeout: float = CACHE_SYNC_TIMEOUT,
    ) -> None:
        if workers < 1:
            raise ValueError("a controller needs at least one worker")
        self.name = name
        self.reconciler: Reconciler = _FunctionReconciler(reconciler) if callable(reconciler) else reconciler
        self.kind = kind
        self.owns = tuple(owns)
        self.watches = {
            kind: spec if isinstance(spec, Watch) else Watch(spec) for kind, spec in (watches or {}).items()
        }
        self.changed = changed
        self.selects = selects
        self.workers = workers
        self.timeout = timeout
        self.max_retries = max_retries
        self.cache_sync_timeout = cache_sync_timeout
        self._rate_limiter = rate_limiter
        self._queue: WorkQueue[Request] | None = None
        self._busy = 0
        self._stopping = False
        self._stopped = anyio.Event()
        # Keys dropped after max_retries and not taken since, in the order dropped (a dict, not a set:
        # the order must not depend on string hashing).
        self._dropped: dict[Request, None] = {}

    @property
    def queue(self) -> WorkQueue[Request]:
        if self._queue is None:
            raise RuntimeError(f"controller {self.name!r} is not running")
        return self._queue

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being reconciled (delayed requeues may be pending)."""
        return self._queue is None or (len(self._queue) == 0 and self._busy == 0)

    def enqueue(self, request: Request) -> None:
        self.queue.add(request)

    def stop(self) -> None:
        """Shut the queue down, as controller-runtime does when its manager stops.

        Idle workers return at once, a worker in a reconcile once it is done; then `run` returns
        (cancelling it still stops it at once, mid-reconcile).
        """
        self._stopping = True
        if self._queue is not None:
            self._queue.shut_down()
        self._stopped.set()

    @property
    def dropped(self) -> tuple[Request, ...]:
        """Keys given up on after ``max_retries`` failures and not reconciled since, oldest first.

        Nothing brings such a key back but a change to what it watches or an informer resync, on which
        Kubernetes relies for them (every 12 to 24 hours in kube-controller-manager).
        """
        return tuple(self._dropped)

    def requeue_dropped(self) -> None:
        """Queue the `dropped` keys again, as the informer resync that Kubernetes relies on would."""
        queue = self._queue
        if queue is None:
            return  # not running: a start lists every key anyway
        dropped, self._dropped = self._dropped, {}
        for request in dropped:
            queue.add(request)

    def next_requeue(self) -> float | None:
        """When the earliest delayed requeue still wanted comes due (clock time), if any.

        A requeue a reconcile's result or error asked for is superseded once that key is reconciled
        again, which decides anew: it still runs, as controller-runtime's would, but nothing waits on it.
        """
        return None if self._queue is None else self._queue.next_ready_at(superseded=False)

    async def run(
        self,
        manager: Manager,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Watch, queue and reconcile until cancelled; reports started once its handlers are in.

        A `Crash` restarts the controller from scratch: a new queue, every key listed again. Returns
        once `stop` has shut the queue down and the workers are done.
        """
        self._stopping = False
        self._stopped = anyio.Event()
        restarted = False
        while not self._stopping:
            try:
                await self._run_once(manager, task_status, restarted=restarted)
            except* Crash as crashes:
                log.warning(
                    "controller crashed; restarting", controller=self.name, error=str(crashes.exceptions[0])
                )
                manager.record("crash", controller=self.name)
                task_status = anyio.TASK_STATUS_IGNORED
                restarted = True

    async def _run_once(
        self, manager: Manager, task_status: anyio.abc.TaskStatus[None], *, restarted: bool
    ) -> None:
        clock = manager.clock
        metrics = manager.metrics.controller(self.name)
        metrics.prepare(self.workers)
        queue: WorkQueue[Request] = WorkQueue(
            self.name,
            clock=clock,
            rate_limiter=self._rate_limiter or default_controller_rate_limiter(clock),
            metrics=manager.metrics.workqueue(self.name),
        )
        self._queue = queue
        self._dropped = {}  # a restart lists every key again
        ids = manager.entropy.stream(f"reconcile-ids/{self.name}")
        handlers = self._connect(manager, queue)
        try:
            # Handlers first, so that nothing is missed meanwhile; workers once every cache is full.
            await self._wait_for_caches([informer for informer, _ in handlers], restarted=restarted)
            async with anyio.create_task_group() as tg:
                # Up to ``workers`` workers, each started when an item is queued and none is idle to
                # take it: the same concurrency as starting them all at once, without a task per
                # worker that never has work (most of them, in a simulation of a few objects).
                started = 0

                def start_worker(*, yield_first: bool = False) -> None:
                    nonlocal started
                    if started < self.workers:
                        started += 1
                        tg.start_soon(self._work, queue, metrics, ids, manager, yield_first)

                # One at least, as the loop runs each worker's first steps in the same passes: a
                # settle sees the controller start just as when all of them start.
                for _ in range(max(1, min(self.workers, len(queue)))):
                    start_worker(yield_first=True)
                queue.on_unclaimed = start_worker
                task_status.started()
                await self._stopped.wait()
        finally:
            queue.on_unclaimed = None
            for informer, handler in handlers:
                informer.remove_handler(handler)
            queue.shut_down()
            self._queue = None

    async def _wait_for_caches(self, informers: list[Informer[Any]], *, restarted: bool = False) -> None:
        """Wait until every cache has synced; after a crash, until every cache has listed afresh.

        A restarted process lists afresh, so its first decisions never rest on a cache older than the
        store it came back to: the shared caches it reads may not yet hold its own last writes (a
        scheduler would see the node it had just filled as free), or may be waiting to relist after a
        lost watch. After the list, their watches may lag again, as a new process's would.
        """
        waiting_for = [each for each in informers if not each.has_synced or restarted]
        if not waiting_for:
            return  # the usual case, caches synced before the manager started: no wait at all
        with anyio.move_on_after(self.cache_sync_timeout) as waiting:
            for informer in waiting_for:
                await (informer.relist() if restarted else informer.wait_synced())
        if waiting.cancelled_caught:
            raise TimeoutError(f"failed to wait for {self.name} caches to sync: timed out")

    def _connect(self, manager: Manager, queue: WorkQueue[Request]) -> list[tuple[Informer[Any], Any]]:
        primary = manager.informer(self.kind)
        enqueue_self = (
            _EnqueueSelf(queue, self.changed)
            if self.selects is None
            else _EnqueueSelected(queue, self.changed, self.selects)
        )
        handlers: list[tuple[Informer[Any], Any]] = [(primary, enqueue_self)]
        for owned in self.owns:
            namespaced = manager.store.scheme.info(self.kind).namespaced
            handlers.append((manager.informer(owned), _EnqueueOwner(queue, primary, namespaced)))
        for watched, watch in self.watches.items():
            handlers.append((manager.informer(watched), _EnqueueMapped(queue, watch.map, watch.changed)))
        for informer, handler in handlers:
            informer.add_handler(handler)
        return handlers

    async def _work(
        self,
        queue: WorkQueue[Request],
        metrics: ControllerMetrics,
        ids: Rng,
        manager: Manager,
        yield_first: bool = True,
    ) -> None:
        # A worker is a task of its own, with its own context: what is the same for every reconcile it
        # runs is bound once, the request's own fields once per reconcile (each overwrites the last).
        current_controller.set(self.name)
        structlog.contextvars.bind_contextvars(controller=self.name)
        # A worker started for an item just queued takes it at once, as an idle worker woken for it
        # would; those started with the controller yield first, as before.
        pending_checkpoint = yield_first
        while True:
            # Let informers apply what the last reconcile wrote before taking the next key: the queue
            # hands items out without suspending, so without this a busy worker reads its own stale cache.
            if pending_checkpoint:
                await yield_to_loop()
            pending_checkpoint = True
            try:
                request = await queue.get()
            except ShutDown:
                return
            self._busy += 1
            if self._dropped:
                self._dropped.pop(request, None)
            metrics.worker_busy()
            try:
                await self._reconcile(queue, request, metrics, ids, manager)
            finally:
                metrics.worker_idle()
                self._busy -= 1
                queue.done(request)

    async def _reconcile(
        self,
        queue: WorkQueue[Request],
        request: Request,
        metrics: ControllerMetrics,
        ids: Rng,
        manager: Manager,
    ) -> None:
        structlog.contextvars.bind_contextvars(
            namespace=request.namespace, name=request.name, reconcile_id=reconcile_id(ids)
        )
        monotonic = manager.clock.monotonic
        started = monotonic()
        try:
            if self.timeout is None:
                result = await self.reconciler.reconcile(request)
            else:
                with anyio.fail_after(self.timeout):
                    result = await self.reconciler.reconcile(request)
        except Crash:
            raise
        except TerminalError as exc:
            # Neither requeued nor forgotten (controller-runtime's reconcileHandler): if the object
            # changes and a later reconcile fails, it backs off from where the earlier failures left off.
            metrics.reconciled(ReconcileOutcome.TERMINAL_ERROR, monotonic() - started)
            self._record_reconcile(manager, request, "terminal")
            log.error("reconcile failed terminally", error=str(exc))
            return
        except Exception as exc:
            metrics.reconciled(ReconcileOutcome.ERROR, monotonic() - started)
            self._record_reconcile(manager, request, "error")
            if self.max_retries is not None and queue.num_requeues(request) >= self.max_retries:
                queue.forget(request)
                self._dropped[request] = None
                log.warning("dropping request after retries", error=str(exc))
                return
            queue.add_rate_limited(request, provisional=True)
            log.info("reconcile failed; retrying", error=str(exc), error_type=type(exc).__name__)
            return
        if result is None:
            queue.forget(request)
            outcome = ReconcileOutcome.SUCCESS
        elif result.requeue_after is not None and result.requeue_after > 0:
            queue.forget(request)
            queue.add_after(request, result.requeue_after, provisional=True)
            outcome = ReconcileOutcome.REQUEUE_AFTER
        elif result.requeue:
            queue.add_rate_limited(request, provisional=True)
            outcome = ReconcileOutcome.REQUEUE
        else:
            queue.forget(request)
            outcome = ReconcileOutcome.SUCCESS
        metrics.reconciled(outcome, monotonic() - started)
        self._record_reconcile(manager, request, _RESULT[outcome])

    def _record_reconcile(self, manager: Manager, request: Request, result: str) -> None:
        trace = manager.trace
        if trace is not None:  # no rendering of the request when nothing keeps it
            trace.record("reconcile", controller=self.name, request=str(request), result=result)


#: The trace's ``result`` of a reconcile that returned, by outcome (an enum's ``value`` is a descriptor call).
_RESULT = {outcome: outcome.value for outcome in ReconcileOutcome}


class _EnqueueSelf:
    """Enqueue the object's own key (on an update, if the predicate says it changed)."""

    def __init__(self, queue: WorkQueue[Request], changed: Changed | None = None) -> None:
        self._queue = queue
        self._changed = changed

    def on_add(self, obj: Object) -> None:
        self._queue.add(request_for(obj))

    def on_update(self, old: Object, new: Object) -> None:
        if self._changed is None or self._changed(old, new):
            self._queue.add(request_for(new))

    def on_delete(self, obj: Object | DeletedFinalStateUnknown[Any]) -> None:
        self._queue.add(request_for(final_state(obj)))


class _EnqueueSelected(_EnqueueSelf):
    """`_EnqueueSelf` for the objects a filter selects (an update if it selects either side).

    An update into or out of the selection is an add or a delete to a field-selected watch, so the
    update predicate does not get to drop it.
    """

    def __init__(self, queue: WorkQueue[Request], changed: Changed | None, selects: Selects) -> None:
        super().__init__(queue, changed)
        self._selects = selects

    def on_add(self, obj: Object) -> None:
        if self._selects(obj):
            super().on_add(obj)

    def on_update(self, old: Object, new: Object) -> None:
        selects_new, selects_old = self._selects(new), self._selects(old)
        if selects_new and selects_old:
            super().on_update(old, new)
        elif selects_new or selects_old:
            self._queue.add(request_for(new))

    def on_delete(self, obj: Object | DeletedFinalStateUnknown[Any]) -> None:
        if self._selects(final_state(obj)):
            super().on_delete(obj)


class _EnqueueOwner:
    """Enqueue the controlling owner of an object, if it is of the primary kind and really it.

    The owner is looked up by name in the primary cache and must have the uid the reference names:
    a reference to a deleted-and-recreated owner of the same name is stale and ignored.
    """

    def __init__(self, queue: WorkQueue[Request], primary: Informer[Any], namespaced: bool) -> None:
        self._queue = queue
        self._primary = primary
        self._namespaced = namespaced
        kind = primary.kind
        self._kind = kind.kind
        self._group = kind.api_version.rpartition("/")[0]

    def _enqueue(self, obj: Object) -> None:
        ref = obj.metadata.controller_ref()
        if ref is None or ref.kind != self._kind or ref.api_version.rpartition("/")[0] != self._group:
            return
        # Owners live in their dependent's namespace, or are cluster-scoped.
        owner = self._primary.get(ref.name, obj.metadata.namespace if self._namespaced else "")
        if owner is None or owner.metadata.uid != ref.uid:
            return
        self._queue.add(Request(owner.metadata.namespace, owner.metadata.name))

    def on_add(self, obj: Object) -> None:
        self._enqueue(obj)

    def on_update(self, old: Object, new: Object) -> None:
        if old.metadata.controller_ref() != new.metadata.controller_ref():
            self._enqueue(old)
        self._enqueue(new)

    def on_delete(self, obj: Object | DeletedFinalStateUnknown[Any]) -> None:
        self._enqueue(final_state(obj))


class _EnqueueMapped:
    """Enqueue whatever requests a function maps the object to (old and new on an update that changed)."""

    def __init__(self, queue: WorkQueue[Request], func: MapFunc, changed: Changed | None = None) -> None:
        self._queue = queue
        self._func = func
        self._changed = changed

    def on_add(self, obj: Object) -> None:
        for request in self._func(obj):
            self._queue.add(request)

    def on_update(self, old: Object, new: Object) -> None:
        if self._changed is not None and not self._changed(old, new):
            return
        for request in self._func(old):
            self._queue.add(request)
        for request in self._func(new):
            self._queue.add(request)

    def on_delete(self, obj: Object | DeletedFinalStateUnknown[Any]) -> None:
        for request in self._func(final_state(obj)):
            self._queue.add(request)
