"""Two managers in two OS processes on one etcd, with leader election on a Lease.

Each process runs the Deployment and ReplicaSet controllers behind a Manager that campaigns for the same
Lease (short terms: 2 s lease, 1.5 s renew deadline, 0.3 s retry). These tests run on real time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import attrs
import pytest
from etcd_updates import update_retrying

from store import NotFound
from store.etcd import EtcdStore
from store.etcd_server import INSTALL_HINT, EtcdServer, etcd_binary
from store.models import (
    Container,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    LabelSelector,
    Lease,
    ObjectMeta,
    Pod,
    PodSpec,
    PodTemplateSpec,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]
LEASE_DURATION = 2.0
RETRY_PERIOD = 0.3


MANAGER = f"""
import sys, anyio
from controllers.deployment import DeploymentController
from controllers.replicaset import ReplicaSetController
from reconcile import Manager
from reconcile.leaderelection import LeaderElectionConfig
from store.etcd import EtcdStore

async def main(url, root, identity):
    async with EtcdStore.at(url, root=root) as store:
        election = LeaderElectionConfig(
            name="setpoint-controllers", identity=identity,
            lease_duration={LEASE_DURATION}, renew_deadline=1.5, retry_period={RETRY_PERIOD},
        )
        manager = Manager(store, leader_election=election)
        manager.add(DeploymentController(manager))
        manager.add(ReplicaSetController(manager))
        await manager.run()

anyio.run(main, *sys.argv[1:])
"""


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdServer]:
    if etcd_binary() is None:
        pytest.skip(INSTALL_HINT)
    with EtcdServer() as server:
        yield server


class Managers:
    """Manager processes by identity; every one still running is killed at the end."""

    def __init__(self, url: str, root: str) -> None:
        self.url, self.root = url, root
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, identity: str) -> None:
        self.processes[identity] = subprocess.Popen(
            [sys.executable, "-c", MANAGER, self.url, self.root, identity],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self, identity: str) -> None:
        process = self.processes.pop(identity)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for identity in list(self.processes):
            self.kill(identity)


def deployment(image: str, replicas: int = 3) -> Deployment:
    labels = {"app": "web"}
    template = PodTemplateSpec(
        metadata=ObjectMeta(labels=labels),
        spec=PodSpec(containers=(Container(name="web", image=image),)),
    )
    return Deployment(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=labels),
            template=template,
            strategy=DeploymentStrategy(type="Recreate"),
        ),
    )


def with_image(image: str) -> Callable[[Deployment], Deployment]:
    """A change of the Deployment's pod template to one container running ``image``."""

    def change(d: Deployment) -> Deployment:
        spec = attrs.evolve(d.spec.template.spec, containers=(Container(name="web", image=image),))
        template = attrs.evolve(d.spec.template, spec=spec)
        return attrs.evolve(d, spec=attrs.evolve(d.spec, template=template))

    return change


async def until(
    store: EtcdStore, check: Callable[[EtcdStore], Awaitable[bool]], timeout: float = 30.0
) -> None:
    """Poll ``check(store)`` until it holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check(store):
        assert loop.time() < deadline, f"{check.__name__} still false after {timeout} s"
        await asyncio.sleep(0.1)


async def holder(store: EtcdStore) -> str:
    try:
        lease = await store.get(Lease, "setpoint-controllers", "kube-system")
    except NotFound:
        return ""
    return lease.spec.holder_identity or ""


async def live_pods(store: EtcdStore) -> list[Pod]:
    return [
        p for p in (await store.list(Pod, namespace="default")).items if p.metadata.deletion_timestamp is None
    ]


async def test_when_the_leader_is_killed_the_other_manager_takes_over_and_the_cluster_converges(
    etcd: EtcdServer,
) -> None:
    managers = Managers(etcd.url, "/takeover")
    try:
        async with EtcdStore.at(etcd.url, root="/takeover") as store:
            managers.start("a")
            managers.start("b")

            async def led(s: EtcdStore) -> bool:
                return await holder(s) in ("a", "b")

            await until(store, led)
            first = await holder(store)
            await store.create(deployment("web:v1"))

            async def three(s: EtcdStore) -> bool:
                return len(await live_pods(s)) == 3

            await until(store, three)
            before = await store.get(Lease, "setpoint-controllers", "kube-system")
            managers.kill(first)
            other = "b" if first == "a" else "a"

            async def taken(s: EtcdStore) -> bool:
                return await holder(s) == other

            await until(store, taken)
            after = await store.get(Lease, "setpoint-controllers", "kube-system")
            # The new holder acquired the lease once the old record went unrenewed for its duration,
            # give or take a retry period of observation on each side.
            assert before.spec.renew_time is not None and after.spec.acquire_time is not None
            gap = (after.spec.acquire_time - before.spec.renew_time).total_seconds()
            assert gap + RETRY_PERIOD >= LEASE_DURATION
            assert gap <= LEASE_DURATION + 4 * RETRY_PERIOD + 1.0
            await update_retrying(
                store,
                Deployment,
                "web",
                "default",
                lambda d: attrs.evolve(d, spec=attrs.evolve(d.spec, replicas=5)),
            )

            async def five(s: EtcdStore) -> bool:
                return len(await live_pods(s)) == 5

            await until(store, five)
    finally:
        managers.stop_all()


async def test_kill_9_of_the_leader_during_a_rollout_loses_no_write_and_never_overshoots(
    etcd: EtcdServer,
) -> None:
    managers = Managers(etcd.url, "/rollout")
    try:
        async with EtcdStore.at(etcd.url, root="/rollout") as store:
            managers.start("a")

            async def led(s: EtcdStore) -> bool:
                return await holder(s) == "a"

            await until(store, led)
            managers.start("b")
            await store.create(deployment("web:v1"))

            async def v1(s: EtcdStore) -> bool:
                return len(await live_pods(s)) == 3

            await until(store, v1)
            acknowledged = await update_retrying(store, Deployment, "web", "default", with_image("web:v2"))
            managers.kill("a")
            most = 0

            async def v2(s: EtcdStore) -> bool:
                nonlocal most
                pods = await live_pods(s)
                most = max(most, len(pods))
                return len(pods) == 3 and all(p.spec.containers[0].image == "web:v2" for p in pods)

            await until(store, v2)
            final = await store.get(Deployment, "web", "default")
            assert final.spec.template.spec.containers[0].image == "web:v2"
            assert final.metadata.generation >= acknowledged.metadata.generation
            assert most <= 3

            async def b_leads(s: EtcdStore) -> bool:
                return await holder(s) == "b"

            await until(store, b_leads)
            assert len(await live_pods(store)) == 3
    finally:
        managers.stop_all()
