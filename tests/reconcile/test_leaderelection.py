"""Leader election on a Lease: what a candidate writes and when it may take a lease over, as client-go's."""

from __future__ import annotations

import anyio

from reconcile import LeaderElectionConfig, VirtualClock
from reconcile.leaderelection import LeaderElector
from reconcile.randomness import Entropy
from store import MemoryStore
from store.models import Lease, LeaseSpec, ObjectMeta


async def held_lease(store: MemoryStore, clock: VirtualClock, holder: str, seconds: int) -> Lease:
    now = clock.now()
    spec = LeaseSpec(
        holder_identity=holder,
        lease_duration_seconds=seconds,
        acquire_time=now,
        renew_time=now,
        lease_transitions=0,
    )
    return await store.create(Lease(metadata=ObjectMeta(name="setpoint", namespace="kube-system"), spec=spec))


async def lead_when_elected(elector: LeaderElector, led: list[float], clock: VirtualClock) -> None:
    async def lead() -> None:
        led.append(clock.monotonic())
        await anyio.sleep_forever()

    await elector.run(lead)


async def lease_after_leading(
    store: MemoryStore, config: LeaderElectionConfig, clock: VirtualClock, stream: str
) -> LeaseSpec:
    """Run an elector for one second, stop it without releasing, and read the lease it left."""
    elector = LeaderElector(store, config, clock=clock, rng=Entropy(1).stream(stream))
    async with anyio.create_task_group() as tg:
        tg.start_soon(lead_when_elected, elector, [], clock)
        await clock.sleep(1)
        tg.cancel_scope.cancel()
    return (await store.get(Lease, "setpoint", "kube-system")).spec


def test_a_candidate_waits_out_the_lease_duration_the_holder_wrote_not_its_own() -> None:
    # client-go's isLeaseValid: observed time plus the observed record's leaseDurationSeconds.
    clock = VirtualClock()
    led: list[float] = []

    async def scenario() -> None:
        store = MemoryStore(seed=1, clock=clock)
        await held_lease(store, clock, "gone", 60)
        config = LeaderElectionConfig(name="setpoint", identity="standby")  # 15 s of its own
        elector = LeaderElector(store, config, clock=clock, rng=Entropy(1).stream("leader"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(lead_when_elected, elector, led, clock)
            await clock.sleep(120)
            tg.cancel_scope.cancel()

    clock.run(scenario)
    [taken] = led
    assert 60.0 <= taken <= 60.0 + 2.0 * 2.2, taken


def test_the_lease_duration_written_is_whole_seconds_cut_down() -> None:
    # LeaseDurationSeconds: int(LeaseDuration / time.Second), a truncation.
    clock = VirtualClock()

    async def scenario() -> LeaseSpec:
        store = MemoryStore(seed=1, clock=clock)
        config = LeaderElectionConfig(name="setpoint", identity="me", lease_duration=15.9)
        return await lease_after_leading(store, config, clock, "leader")

    assert clock.run(scenario).lease_duration_seconds == 15


def test_a_renewal_writes_the_renewers_own_lease_duration() -> None:
    # tryAcquireOrRenew builds every record it writes from its own config, keeping only the acquire
    # time and the transitions of a lease it already holds.
    clock = VirtualClock()

    async def scenario() -> tuple[LeaseSpec, LeaseSpec]:
        store = MemoryStore(seed=1, clock=clock)
        before = (await held_lease(store, clock, "me", 60)).spec
        config = LeaderElectionConfig(name="setpoint", identity="me")
        return before, await lease_after_leading(store, config, clock, "leader")

    before, after = clock.run(scenario)
    assert after.lease_duration_seconds == 15
    assert (after.holder_identity, after.acquire_time, after.lease_transitions) == (
        "me",
        before.acquire_time,
        0,
    )


def test_release_on_cancel_hands_the_lease_over_at_once() -> None:
    # ReleaseOnCancel: a leader stopped while leading writes an empty holder with a one-second
    # duration (client-go's LeaderElector.release), so a standby need not wait out the lease.
    clock = VirtualClock()
    led: list[float] = []

    async def scenario() -> LeaseSpec:
        store = MemoryStore(seed=1, clock=clock)
        entropy = Entropy(1)

        def elector(identity: str, release: bool) -> LeaderElector:
            config = LeaderElectionConfig(name="setpoint", identity=identity, release_on_cancel=release)
            return LeaderElector(store, config, clock=clock, rng=entropy.stream(identity))

        async with anyio.create_task_group() as outer:
            async with anyio.create_task_group() as first:
                first.start_soon(lead_when_elected, elector("first", True), [], clock)
                await clock.sleep(1)
                outer.start_soon(lead_when_elected, elector("second", False), led, clock)
                await clock.sleep(9)
                first.cancel_scope.cancel()  # stopped at 10 s
            released = (await store.get(Lease, "setpoint", "kube-system")).spec
            await clock.sleep(30)
            outer.cancel_scope.cancel()
        return released

    released = clock.run(scenario)
    assert (released.holder_identity, released.lease_duration_seconds, released.lease_transitions) == (
        "",
        1,
        0,
    )
    [taken] = led
    assert 10.0 < taken <= 10.0 + 2.0 * 2.2, taken


def test_without_release_on_cancel_a_stopped_leader_keeps_its_lease_until_it_expires() -> None:
    clock = VirtualClock()

    async def scenario() -> LeaseSpec:
        store = MemoryStore(seed=1, clock=clock)
        config = LeaderElectionConfig(name="setpoint", identity="first")
        return await lease_after_leading(store, config, clock, "first")

    assert clock.run(scenario).holder_identity == "first"
