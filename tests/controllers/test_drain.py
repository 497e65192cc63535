"""cordon, uncordon and drain on a whole Cluster, and drain's choice of pods as a table test.

The choice follows kubectl's drain filters (k8s.io/kubectl/pkg/drain/filters.go, in their order:
DaemonSet, mirror pod, local storage, no controller): mirror pods are skipped, finished pods go (a
finished DaemonSet pod too), DaemonSet pods, pods with emptyDir volumes and pods without a controller
refuse. Terminating pods are treated like the others (--skip-wait-for-delete-timeout is 0).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controllers.cluster import Cluster
from controllers.drain import (
    DAEMONSET_FATAL,
    LOCAL_STORAGE_FATAL,
    MIRROR_POD_ANNOTATION,
    UNMANAGED_FATAL,
    DrainError,
    cordon,
    drain,
    pods_to_delete,
    uncordon,
)
from controllers.nodelifecycle import NO_SCHEDULE, TAINT_UNSCHEDULABLE
from controllers.podutil import is_pod_ready
from store import FrozenDict
from store.models import (
    Container,
    Deployment,
    DeploymentSpec,
    LabelSelector,
    Node,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
)


def owned_by(kind: str) -> tuple[OwnerReference, ...]:
    return (OwnerReference(api_version="apps/v1", kind=kind, name="owner", uid="u", controller=True),)


def pod(
    name: str,
    *,
    owner: str | None = "ReplicaSet",
    phase: str = "Running",
    annotations: dict[str, str] | None = None,
    terminating: bool = False,
    empty_dir: bool = False,
) -> Pod:
    volumes = [{"name": "scratch", "emptyDir": {}}] if empty_dir else []
    return Pod(
        metadata=ObjectMeta(
            name=name,
            namespace="default",
            owner_references=owned_by(owner) if owner else (),
            annotations=FrozenDict(annotations or {}),
            deletion_timestamp=datetime(2026, 1, 1, tzinfo=UTC) if terminating else None,
        ),
        spec=PodSpec(node_name="node-1", extra=FrozenDict({"volumes": volumes} if volumes else {})),
        status=PodStatus(phase=phase),
    )


MIRROR = {MIRROR_POD_ANNOTATION: "x"}


@pytest.mark.parametrize(
    ("subject", "force", "ignore_daemonsets", "deleted", "refusal"),
    [
        (pod("managed"), False, False, True, None),
        (pod("bare", owner=None), False, False, False, UNMANAGED_FATAL),
        (pod("bare", owner=None), True, False, True, None),
        (pod("done", owner=None, phase="Succeeded"), False, False, True, None),
        (pod("failed", owner=None, phase="Failed"), False, False, True, None),
        (pod("mirror", owner=None, annotations=MIRROR), False, False, False, None),
        (pod("leaving", terminating=True), False, False, True, None),
        (pod("leaving", owner=None, terminating=True), False, False, False, UNMANAGED_FATAL),
        (pod("daemon", owner="DaemonSet"), False, False, False, DAEMONSET_FATAL),
        (pod("daemon", owner="DaemonSet"), False, True, False, None),
        (pod("daemon", owner="DaemonSet"), True, False, False, DAEMONSET_FATAL),
        (pod("daemon", owner="DaemonSet", phase="Succeeded"), False, False, True, None),
        (pod("daemon", owner="DaemonSet", phase="Failed"), False, True, True, None),
        (pod("scratch", empty_dir=True), False, False, False, LOCAL_STORAGE_FATAL),
        (pod("scratch", empty_dir=True, phase="Succeeded"), False, False, True, None),
        (pod("scratch", owner=None, empty_dir=True), True, False, False, LOCAL_STORAGE_FATAL),
        (pod("daemon", owner="DaemonSet", empty_dir=True), False, True, False, None),
        (pod("mirror", owner=None, annotations=MIRROR, empty_dir=True), False, False, False, None),
    ],
)
def test_drain_chooses_pods_like_kubectl(
    subject: Pod, force: bool, ignore_daemonsets: bool, deleted: bool, refusal: str | None
) -> None:
    chosen, refusals = pods_to_delete([subject], force=force, ignore_daemonsets=ignore_daemonsets)
    assert (subject in chosen) == deleted
    assert refusals == ({refusal: [f"default/{subject.metadata.name}"]} if refusal else {})


@pytest.mark.parametrize(
    ("subject", "force", "deleted", "refusal"),
    [
        (pod("scratch", empty_dir=True), False, True, None),
        (pod("scratch", owner=None, empty_dir=True), False, False, UNMANAGED_FATAL),
        (pod("scratch", owner=None, empty_dir=True), True, True, None),
    ],
)
def test_delete_emptydir_data_lets_pods_with_local_storage_go(
    subject: Pod, force: bool, deleted: bool, refusal: str | None
) -> None:
    chosen, refusals = pods_to_delete([subject], force=force, delete_emptydir_data=True)
    assert (subject in chosen) == deleted
    assert refusals == ({refusal: [f"default/{subject.metadata.name}"]} if refusal else {})


def web(replicas: int = 3) -> Deployment:
    labels = {"app": "web"}
    return Deployment(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=FrozenDict(labels)),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=FrozenDict(labels)),
                spec=PodSpec(containers=(Container(name="web", image="web:1"),)),
            ),
        ),
    )


def unschedulable_taints(node: Node) -> list[str]:
    return [t.key for t in node.spec.taints if t.effect == NO_SCHEDULE and t.key == TAINT_UNSCHEDULABLE]


def test_cordon_taints_the_node_unschedulable_and_uncordon_clears_both() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.settle()
        cordoned = await cordon(cluster.store, "node-1")
        assert cordoned.spec.unschedulable
        await cluster.settle()
        assert unschedulable_taints(await cluster.get(Node, "node-1")) == [TAINT_UNSCHEDULABLE]
        await cluster.apply([web(replicas=4)])
        await cluster.settle()
        assert all(p.spec.node_name != "node-1" for p in await cluster.list(Pod, namespace="default"))
        uncordoned = await uncordon(cluster.store, "node-1")
        assert not uncordoned.spec.unschedulable
        await cluster.settle()
        assert unschedulable_taints(await cluster.get(Node, "node-1")) == []

    Cluster(nodes=3, seed=1).run(scenario)


def test_drain_deletes_managed_pods_which_come_back_on_other_nodes() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply([web()])
        await cluster.settle()
        on_node = [p for p in await cluster.list(Pod, namespace="default") if p.spec.node_name == "node-1"]
        evicted = await drain(cluster.store, "node-1", grace_period_seconds=5)
        assert sorted(p.metadata.name for p in evicted) == sorted(p.metadata.name for p in on_node)
        assert all(p.metadata.deletion_grace_period_seconds == 5 for p in evicted)
        assert (await cluster.get(Node, "node-1")).spec.unschedulable
        await cluster.settle()
        pods = await cluster.list(Pod, namespace="default")
        assert len(pods) == 3 and all(p.spec.node_name != "node-1" and is_pod_ready(p) for p in pods)

    Cluster(nodes=3, seed=1).run(scenario)


def test_drain_refuses_unmanaged_pods_naming_them_unless_forced() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply([web()])
        await cluster.settle()
        bare = Pod(
            metadata=ObjectMeta(name="bare", namespace="default"),
            spec=PodSpec(node_name="node-1", containers=(Container(name="c", image="i"),)),
        )
        await cluster.apply([bare])
        await cluster.settle()
        before = cluster.store.revision
        with pytest.raises(DrainError) as refused:
            await drain(cluster.store, "node-1")
        assert refused.value.pods == {UNMANAGED_FATAL: ["default/bare"]}
        assert "default/bare" in str(refused.value)
        # Cordoned (one write), nothing deleted — as kubectl leaves it.
        assert cluster.store.revision == before + 1
        assert all(
            p.metadata.deletion_timestamp is None for p in await cluster.list(Pod, namespace="default")
        )
        evicted = await drain(cluster.store, "node-1", force=True)
        assert "bare" in [p.metadata.name for p in evicted]

    Cluster(nodes=3, seed=1).run(scenario)
