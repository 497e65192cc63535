"""Cluster: the whole control plane on virtual time — the myblog demo and its rolling update."""

from __future__ import annotations

from pathlib import Path

import attrs

from controllers.cluster import Cluster
from controllers.deployment import rollback_template
from controllers.podutil import is_pod_ready
from store.manifests import load_paths
from store.models import Deployment, Pod, ReplicaSet

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MYSQL_NODE = {"node-1": {"component": "mysql"}}
REVISION = "deployment.kubernetes.io/revision"


def myblog_cluster(seed: int = 1) -> Cluster:
    return Cluster(nodes=3, node_labels=MYSQL_NODE, seed=seed)


def test_myblog_converges_with_every_pod_running_and_ready() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        await cluster.settle()
        for name, replicas in (("mysql", 1), ("myblog", 2)):
            deployment = await cluster.get(Deployment, name, "jds")
            status = deployment.status
            assert (status.replicas, status.updated_replicas, status.available_replicas) == (
                replicas,
                replicas,
                replicas,
            ), name
            assert status.observed_generation == deployment.metadata.generation
        pods = await cluster.list(Pod, namespace="jds")
        assert len(pods) == 3
        assert all(pod.status.phase == "Running" and is_pod_ready(pod) for pod in pods)
        [mysql] = [pod for pod in pods if pod.metadata.labels.get("app") == "mysql"]
        assert mysql.spec.node_name == "node-1"

    myblog_cluster().run(scenario)


def test_a_deployment_reports_the_pods_its_replica_sets_are_terminating() -> None:
    # The ReplicaSet counts its pods being deleted (status.terminatingReplicas) and the Deployment adds
    # them up (calculateStatus, GetTerminatingReplicaCountForReplicaSets).
    async def scenario(cluster: Cluster) -> list[int | None]:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        await cluster.settle()
        seen = [(await cluster.get(Deployment, "myblog", "jds")).status.terminating_replicas]
        [victim, *_] = [
            pod for pod in await cluster.list(Pod, namespace="jds") if pod.metadata.labels["app"] == "myblog"
        ]
        await cluster.store.delete(Pod, victim.metadata.name, "jds")
        await cluster.advance(0.5)  # the kubelet takes a second to stop the pod's containers
        seen.append((await cluster.get(Deployment, "myblog", "jds")).status.terminating_replicas)
        await cluster.settle()
        seen.append((await cluster.get(Deployment, "myblog", "jds")).status.terminating_replicas)
        return seen

    assert myblog_cluster().run(scenario) == [0, 1, 0]


def test_rolling_update_of_myblog_scales_one_pod_at_a_time() -> None:
    async def scenario(cluster: Cluster) -> list[str]:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        await cluster.settle()
        deployment = await cluster.get(Deployment, "myblog", "jds")
        pod_spec = deployment.spec.template.spec
        [container] = pod_spec.containers
        v2 = attrs.evolve(pod_spec, containers=[attrs.evolve(container, image="myblog:v2")])
        template = attrs.evolve(deployment.spec.template, spec=v2)
        rolled = attrs.evolve(deployment, spec=attrs.evolve(deployment.spec, template=template))
        await cluster.store.update(rolled)
        await cluster.settle()
        deployment = await cluster.get(Deployment, "myblog", "jds")
        assert deployment.status.updated_replicas == deployment.status.available_replicas == 2
        replica_sets = await cluster.list(ReplicaSet, namespace="jds")
        by_revision = {
            rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs
            for rs in replica_sets
            if rs.metadata.labels.get("app") == "myblog"
        }
        old, new = by_revision["1"], by_revision["2"]
        assert (old.spec.replicas, new.spec.replicas) == (0, 2)
        events = await cluster.events(involving=deployment)
        return [e.message.replace(old.metadata.name, "OLD").replace(new.metadata.name, "NEW") for e in events]

    messages = myblog_cluster().run(scenario)
    scaling = [m for m in messages if m.startswith("Scaled")]
    assert scaling[-4:] == [
        "Scaled up replica set NEW from 0 to 1",
        "Scaled down replica set OLD from 2 to 1",
        "Scaled up replica set NEW from 1 to 2",
        "Scaled down replica set OLD from 1 to 0",
    ]


def test_rollout_history_and_undo_to_revision_one_restore_v1_as_revision_three() -> None:
    async def scenario(cluster: Cluster) -> tuple[list[str], str, str]:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        await cluster.settle()
        deployment = await cluster.get(Deployment, "myblog", "jds")
        pod_spec = deployment.spec.template.spec
        v2 = attrs.evolve(pod_spec, containers=[attrs.evolve(pod_spec.containers[0], image="myblog:v2")])
        template = attrs.evolve(deployment.spec.template, spec=v2)
        await cluster.store.update(
            attrs.evolve(deployment, spec=attrs.evolve(deployment.spec, template=template))
        )
        await cluster.settle()

        def history(replica_sets: list[ReplicaSet]) -> list[str]:
            return sorted(
                rs.metadata.annotations[REVISION]
                for rs in replica_sets
                if rs.metadata.labels.get("app") == "myblog"
            )

        revisions = history(await cluster.list(ReplicaSet, namespace="jds"))
        deployment = await cluster.get(Deployment, "myblog", "jds")
        undone = rollback_template(deployment, await cluster.list(ReplicaSet, namespace="jds"), to_revision=1)
        await cluster.store.update(undone)
        await cluster.settle()
        deployment = await cluster.get(Deployment, "myblog", "jds")
        return (
            revisions,
            deployment.metadata.annotations[REVISION],
            deployment.spec.template.spec.containers[0].image,
        )

    revisions, revision, image = myblog_cluster().run(scenario)
    assert revisions == ["1", "2"]
    assert (revision, image) == ("3", "myblog:v1")
