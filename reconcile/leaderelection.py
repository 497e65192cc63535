"""Leader election on a Lease object, with client-go's timings and rules.

Candidates race to hold one `Lease` in the store. The holder renews it every ``retry_period``; if it
cannot renew within ``renew_deadline`` it stops leading. Another candidate takes the lease only after it
has seen the same lease record unchanged for ``lease_duration`` on its own clock (client-go's observed
time, which keeps clock skew between candidates out of the decision). Writes are compare-and-swap on the
resourceVersion, so two candidates never both succeed in taking the same record.

This module only decides who leads; the `Manager` starts and stops controllers accordingly.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import attrs
import structlog

from reconcile.clock import Clock
from reconcile.metrics import LeaderElectionMetrics
from store import Conflict, NotFound, Store, StoreError
from store.models import Lease, LeaseSpec, ObjectMeta
from store.seams import Rng

log = structlog.get_logger("setpoint.leaderelection")

#: client-go's JitterFactor for the acquire loop.
JITTER_FACTOR = 1.2


@attrs.frozen(kw_only=True)
class LeaderElectionConfig:
    """Where the lease lives and how long its terms are (client-go / controller-runtime defaults).

    ``release_on_cancel`` (client-go's ReleaseOnCancel, off by default as there): a candidate that stops
    while it holds the lease gives it up, so that another need not wait for it to expire. Only safe if
    everything the lease guards has stopped by then.
    """

    name: str
    namespace: str = "kube-system"
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = False

    def __attrs_post_init__(self) -> None:
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError("renew_deadline must be greater than 1.2 × retry_period")
        if not self.identity:
            raise ValueError("a leader election candidate needs an identity")


class LeaderElector:
    """One candidate: `run` acquires the lease, calls ``lead`` while holding it, and returns when lost."""

    def __init__(
        self,
        store: Store,
        config: LeaderElectionConfig,
        *,
        clock: Clock,
        rng: Rng,
        metrics: LeaderElectionMetrics | None = None,
    ) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._rng = rng
        self._metrics = metrics if metrics is not None else LeaderElectionMetrics(config.name)
        self._metrics.leader_off()
        self._observed: LeaseSpec | None = None
        self._observed_at = 0.0
        self._leading = False

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Acquire, then run ``lead()`` until the lease can no longer be renewed (``lead`` is cancelled)."""
        await self._acquire()
        self._leading = True
        self._metrics.leader_on()
        log.info("became leader", lease=self._config.name, identity=self._config.identity)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(lead)
                await self._renew_until_lost()
                tg.cancel_scope.cancel()
        finally:
            self._leading = False
            self._metrics.leader_off()
            if self._config.release_on_cancel:
                # Bounded like client-go's release, and shielded: it runs while we are being cancelled.
                with anyio.move_on_after(self._config.renew_deadline, shield=True):
                    await self._release()
            log.info("stopped leading", lease=self._config.name, identity=self._config.identity)

    async def _acquire(self) -> None:
        period = self._config.retry_period
        while not await self._try_acquire_or_renew():
            await self._clock.sleep(period + self._rng.uniform(0.0, JITTER_FACTOR * period))

    async def _renew_until_lost(self) -> None:
        config = self._config
        while True:
            deadline = self._clock.monotonic() + config.renew_deadline
            while not await self._try_acquire_or_renew():
                if self._clock.monotonic() + config.retry_period > deadline:
                    return
                await self._clock.sleep(config.retry_period)
            await self._clock.sleep(config.retry_period)

    async def _try_acquire_or_renew(self) -> bool:
        config = self._config
        now = self._clock.now()
        # Whole seconds, cut down: client-go's int(LeaseDuration / time.Second).
        seconds = int(config.lease_duration)
        try:
            lease = await self._store.get(Lease, config.name, config.namespace)
        except NotFound:
            fresh = LeaseSpec(
                holder_identity=config.identity,
                lease_duration_seconds=seconds,
                acquire_time=now,
                renew_time=now,
                lease_transitions=0,
            )
            try:
                await self._store.create(
                    Lease(metadata=ObjectMeta(name=config.name, namespace=config.namespace), spec=fresh)
                )
            except StoreError:
                return False
            self._observe(fresh)
            return True
        except StoreError:
            return False
        record = lease.spec
        if record != self._observed:
            self._observe(record)
        holder = record.holder_identity or ""
        # The lease is still valid for as long as its holder said it would be, from when we saw this
        # record (client-go's isLeaseValid): the holder's duration, not ours, decides.
        valid_until = self._observed_at + (record.lease_duration_seconds or 0)
        if holder and holder != config.identity and valid_until > self._clock.monotonic():
            return False
        # Every record written is made from our own config; a renewal keeps only the acquire time and
        # the transitions of the lease we hold, a takeover counts one more transition.
        transitions = record.lease_transitions or 0
        if holder == config.identity:
            renewed = LeaseSpec(
                holder_identity=config.identity,
                lease_duration_seconds=seconds,
                acquire_time=record.acquire_time,
                renew_time=now,
                lease_transitions=transitions,
            )
        else:
            renewed = LeaseSpec(
                holder_identity=config.identity,
                lease_duration_seconds=seconds,
                acquire_time=now,
                renew_time=now,
                lease_transitions=transitions + 1,
            )
        try:
            await self._store.update(attrs.evolve(lease, spec=renewed))
        except (Conflict, StoreError):
            return False
        self._observe(renewed)
        return True

    async def _release(self) -> None:
        """Give the lease up if we still hold it: no holder, a one-second duration (client-go's release)."""
        config = self._config
        while True:
            try:
                lease = await self._store.get(Lease, config.name, config.namespace)
            except StoreError:
                return
            observed = self._observed
            if observed is None or observed.holder_identity != config.identity:
                return
            if lease.spec.holder_identity != config.identity:
                return  # taken over meanwhile: not ours to release
            now = self._clock.now()
            released = LeaseSpec(
                holder_identity="",
                lease_duration_seconds=1,
                acquire_time=now,
                renew_time=now,
                lease_transitions=lease.spec.lease_transitions or 0,
            )
            try:
                await self._store.update(attrs.evolve(lease, spec=released))
            except Conflict:
                continue  # a renewal raced the release: read again
            except StoreError:
                return
            self._observe(released)
            return

    def _observe(self, record: LeaseSpec) -> None:
        self._observed = record
        self._observed_at = self._clock.monotonic()
