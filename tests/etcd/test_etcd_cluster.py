"""The built-in controllers on EtcdStore (real time): myblog converges, and a rolling update completes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import attrs
import pytest
from etcd_updates import update_retrying

from controllers.cluster import Cluster
from controllers.podutil import is_pod_ready
from store.etcd import EtcdStore
from store.etcd_server import INSTALL_HINT, EtcdServer, etcd_binary
from store.manifests import load_paths
from store.models import Deployment, Pod, ReplicaSet

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MYSQL_NODE = {"node-1": {"component": "mysql"}}
REVISION = "deployment.kubernetes.io/revision"


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdServer]:
    if etcd_binary() is None:
        pytest.skip(INSTALL_HINT)
    with EtcdServer() as server:
        yield server


@contextlib.asynccontextmanager
async def etcd_cluster(etcd: EtcdServer, root: str) -> AsyncIterator[Cluster]:
    async with (
        EtcdStore.at(etcd.url, root=root, seed=1) as store,
        Cluster(nodes=3, node_labels=MYSQL_NODE, seed=1, virtual=False, store=store) as cluster,
    ):
        yield cluster


async def test_myblog_converges_with_every_pod_running_and_ready(etcd: EtcdServer) -> None:
    async with etcd_cluster(etcd, "/converge") as cluster:
        await _converges(cluster)


async def eventually(
    cluster: Cluster, check: Callable[[Cluster], Awaitable[None]], timeout: float = 60
) -> None:
    """Wait until ``check`` passes (real time: the cluster converges at its own pace)."""
    deadline = cluster.now + timeout
    while True:
        try:
            return await check(cluster)
        except AssertionError:
            if cluster.now > deadline:
                raise
        await cluster.advance(0.2)


async def _converges(cluster: Cluster) -> None:
    await cluster.apply(load_paths([EXAMPLES / "myblog"]))
    await eventually(cluster, _converged)


async def _converged(cluster: Cluster) -> None:
    for name, replicas in (("mysql", 1), ("myblog", 2)):
        deployment = await cluster.get(Deployment, name, "jds")
        status = deployment.status
        assert (status.replicas, status.updated_replicas, status.available_replicas) == (replicas,) * 3, name
        assert status.observed_generation == deployment.metadata.generation
    pods = await cluster.list(Pod, namespace="jds")
    assert len(pods) == 3
    assert all(pod.status.phase == "Running" and is_pod_ready(pod) for pod in pods)
    [mysql] = [pod for pod in pods if pod.metadata.labels.get("app") == "mysql"]
    assert mysql.spec.node_name == "node-1"


async def test_rolling_update_from_v1_to_v2_ends_with_two_v2_pods_and_the_old_set_at_zero(
    etcd: EtcdServer,
) -> None:
    async with etcd_cluster(etcd, "/rollout") as cluster:
        await _rolls_out(cluster)


async def _rolls_out(cluster: Cluster) -> None:
    await cluster.apply(load_paths([EXAMPLES / "myblog"]))
    await eventually(cluster, _converged)

    def to_v2(deployment: Deployment) -> Deployment:
        pod_spec = deployment.spec.template.spec
        v2 = attrs.evolve(pod_spec, containers=[attrs.evolve(pod_spec.containers[0], image="myblog:v2")])
        template = attrs.evolve(deployment.spec.template, spec=v2)
        return attrs.evolve(deployment, spec=attrs.evolve(deployment.spec, template=template))

    await update_retrying(cluster.store, Deployment, "myblog", "jds", to_v2)
    await eventually(cluster, _rolled_out)


async def _rolled_out(cluster: Cluster) -> None:
    deployment = await cluster.get(Deployment, "myblog", "jds")
    assert deployment.status.updated_replicas == deployment.status.available_replicas == 2
    by_revision = {
        rs.metadata.annotations[REVISION]: rs
        for rs in await cluster.list(ReplicaSet, namespace="jds")
        if rs.metadata.labels.get("app") == "myblog"
    }
    assert sorted(by_revision) == ["1", "2"]
    assert (by_revision["1"].spec.replicas, by_revision["2"].spec.replicas) == (0, 2)
    pods = [
        pod for pod in await cluster.list(Pod, namespace="jds") if pod.metadata.labels.get("app") == "myblog"
    ]
    assert sorted(
        pod.spec.containers[0].image for pod in pods if pod.metadata.deletion_timestamp is None
    ) == [
        "myblog:v2",
        "myblog:v2",
    ]
