"""Manager: start after caches sync, clean shutdown, and leader election on a Lease in virtual time."""

from __future__ import annotations

from typing import Any, TypeVar

import anyio
import pytest

from reconcile import Controller, LeaderElectionConfig, Manager, Request, VirtualClock
from reconcile.randomness import Entropy
from store import MemoryStore, Object
from store.interface import ListResult
from store.models import ConfigMap, Lease, Namespace, ObjectMeta, OwnerReference

M = TypeVar("M", bound=Object)


def test_start_returns_once_every_informer_has_synced_and_cancel_stops_everything() -> None:
    seen: list[Request] = []

    async def reconcile(request: Request) -> None:
        seen.append(request)

    async def scenario() -> None:
        store = MemoryStore(seed=1)
        await store.create(ConfigMap(metadata=ObjectMeta(name="a")))
        manager = Manager(store, clock=VirtualClock())
        manager.add(Controller("cms", reconcile, kind=ConfigMap))
        async with anyio.create_task_group() as tg:
            await tg.start(manager.run)
            assert all(informer.has_synced for informer in manager.informers)
            with anyio.fail_after(1):
                while not seen:
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        assert seen == [Request("default", "a")]
        assert all(controller.idle for controller in manager.controllers)

    VirtualClock().run(scenario)


def test_decorator_registers_a_function_as_a_controller() -> None:
    store = MemoryStore(seed=1)
    manager = Manager(store)

    def changed(old: ConfigMap, new: ConfigMap) -> bool:
        return old.data != new.data

    def selects(cm: ConfigMap) -> bool:
        return cm.metadata.name != "skip"

    @manager.controller("cms", kind=ConfigMap, workers=3, changed=changed, selects=selects)
    async def reconcile(request: Request) -> None:
        return None

    [controller] = manager.controllers
    assert (controller.name, controller.kind, controller.workers) == ("cms", ConfigMap, 3)
    assert (controller.changed, controller.selects) == (changed, selects)


def test_leader_election_config_keeps_client_go_ordering() -> None:
    with pytest.raises(ValueError, match="lease_duration"):
        LeaderElectionConfig(name="l", identity="a", lease_duration=10, renew_deadline=10)
    with pytest.raises(ValueError, match="renew_deadline"):
        LeaderElectionConfig(name="l", identity="a", renew_deadline=2, retry_period=2)


def test_standby_takes_over_after_the_leader_stops_renewing_and_never_both_lead() -> None:
    clock = VirtualClock()
    timeline: list[tuple[float, bool, bool]] = []

    async def scenario() -> dict[str, float]:
        store = MemoryStore(seed=1, clock=clock)
        entropy = Entropy(7)

        def candidate(identity: str) -> Manager:
            config = LeaderElectionConfig(name="setpoint", identity=identity)
            return Manager(store, clock=clock, entropy=entropy, leader_election=config)

        first, second = candidate("first"), candidate("second")
        moments: dict[str, float] = {}
        async with anyio.create_task_group() as outer:

            async def watch_leadership() -> None:
                while True:
                    timeline.append((clock.monotonic(), first.is_leader, second.is_leader))
                    await clock.sleep(0.1)

            outer.start_soon(watch_leadership)
            async with anyio.create_task_group() as first_group:
                await first_group.start(first.run)
                await clock.sleep(1)
                await outer.start(second.run)
                await clock.sleep(60)
                assert first.is_leader and not second.is_leader
                moments["stopped"] = clock.monotonic()
                lease = await store.get(Lease, "setpoint", "kube-system")
                assert lease.spec.holder_identity == "first"
                first_group.cancel_scope.cancel()  # the leader's process dies: no more renewals
            while not second.is_leader:
                await clock.sleep(0.1)
            moments["taken"] = clock.monotonic()
            lease = await store.get(Lease, "setpoint", "kube-system")
            assert (lease.spec.holder_identity, lease.spec.lease_transitions) == ("second", 1)
            outer.cancel_scope.cancel()
        return moments

    moments = clock.run(scenario)
    assert not any(first and second for _, first, second in timeline)
    # The last renewal was at most retry_period before the stop; the standby then needs the lease
    # duration plus at most one jittered retry period (2 s × 2.2) to notice and take over.
    handover = moments["taken"] - moments["stopped"]
    assert 15.0 - 2.0 <= handover <= 15.0 + 4.4 + 0.2, handover


class SlowListStore(MemoryStore):
    """A store whose lists of ConfigMaps take ``seconds`` of the clock (an apiserver under load)."""

    def __init__(self, clock: VirtualClock, seconds: float) -> None:
        super().__init__(seed=1, clock=clock)
        self._clock = clock
        self._seconds = seconds

    async def list(self, kind: type[M], **options: Any) -> ListResult[M]:
        if kind is ConfigMap:
            await self._clock.sleep(self._seconds)
        return await super().list(kind, **options)


def test_a_controller_added_to_a_running_manager_reconciles_only_once_its_caches_have_synced() -> None:
    # controller-runtime's Controller.Start waits for every watched source to sync before it starts
    # its workers: a reconcile never reads a cache that has not been filled yet.
    clock = VirtualClock()
    seen: list[tuple[float, bool, int]] = []

    async def scenario() -> None:
        store = SlowListStore(clock, seconds=1.0)
        team = await store.create(Namespace(metadata=ObjectMeta(name="team")))
        ref = OwnerReference(
            api_version="v1", kind="Namespace", name="team", uid=team.metadata.uid, controller=True
        )
        await store.create(
            ConfigMap(metadata=ObjectMeta(name="cm", namespace="team", owner_references=[ref]))
        )
        manager = Manager(store, clock=clock)
        manager.informer(Namespace)  # the ConfigMap informer is made when the controller is added

        async def reconcile(request: Request) -> None:
            if request.name == "team":
                informer = manager.informer(ConfigMap)
                seen.append((clock.monotonic(), informer.has_synced, len(informer)))

        async with anyio.create_task_group() as tg:
            await tg.start(manager.run)
            manager.add(Controller("ns", reconcile, kind=Namespace, owns=[ConfigMap]))
            await clock.sleep(5)
            tg.cancel_scope.cancel()

    clock.run(scenario)
    assert seen == [(1.0, True, 1)]


async def ignore(request: Request) -> None:
    return None


def test_a_controller_whose_caches_do_not_sync_in_time_fails_the_manager() -> None:
    # CacheSyncTimeout, 2 minutes by default: Start returns an error and the manager stops with it.
    clock = VirtualClock()

    async def scenario() -> float:
        store = SlowListStore(clock, seconds=3600.0)
        manager = Manager(store, clock=clock)
        with pytest.raises(ExceptionGroup) as failure, anyio.fail_after(600):
            async with anyio.create_task_group() as tg:
                await tg.start(manager.run)
                manager.add(Controller("cms", ignore, kind=ConfigMap))
        assert failure.group_contains(TimeoutError, match="caches to sync")
        return clock.monotonic()

    assert clock.run(scenario) == 120.0


def test_leader_election_master_status_says_who_leads() -> None:
    # client-go's leader metrics under controller-runtime's name: 1 on the leader, 0 on a standby,
    # labelled with the lease's name.
    clock = VirtualClock()

    async def scenario() -> tuple[float | None, float | None]:
        store = MemoryStore(seed=1, clock=clock)
        entropy = Entropy(3)

        def candidate(identity: str) -> Manager:
            config = LeaderElectionConfig(name="setpoint", identity=identity)
            return Manager(store, clock=clock, entropy=entropy, leader_election=config)

        first, second = candidate("first"), candidate("second")
        async with anyio.create_task_group() as tg:
            await tg.start(first.run)
            await clock.sleep(1)
            await tg.start(second.run)
            await clock.sleep(5)
            assert first.is_leader and not second.is_leader
            statuses = tuple(
                manager.metrics.registry.get_sample_value(
                    "leader_election_master_status", {"name": "setpoint"}
                )
                for manager in (first, second)
            )
            tg.cancel_scope.cancel()
        return statuses

    assert clock.run(scenario) == (1.0, 0.0)
