"""Update predicates of the built-in controllers: what wakes them and what does not.

The predicates are pure functions of an update's old and new object, pinned here case by case; then, on
a whole cluster on virtual time, five minutes of Lease renewals and a node status report enqueue nothing for
the garbage collector, the taint eviction controller or the node lifecycle controller's node keys, while
a NoExecute taint wakes the taint eviction controller for that node.
"""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from controllers.cluster import Cluster
from controllers.garbagecollector import ownership_changed
from controllers.kubelet import HEARTBEATS
from controllers.nodelifecycle import no_schedule_inputs_changed, pod_node_changed
from controllers.tainteviction import no_execute_taints_changed, pod_placement_changed
from reconcile.trace import Record
from store.models import (
    Container,
    Deployment,
    DeploymentSpec,
    LabelSelector,
    Lease,
    LeaseSpec,
    Node,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    Taint,
    Toleration,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
NO_EXECUTE = Taint(key="example.com/dedicated", value="db", effect="NoExecute")
NO_SCHEDULE = Taint(key="example.com/dedicated", value="db", effect="NoSchedule")


def node(*taints: Taint, ready: str = "True", heartbeat: datetime = T0, unschedulable: bool = False) -> Node:
    condition = NodeCondition(type="Ready", status=ready, last_heartbeat_time=heartbeat)
    return Node(
        metadata=ObjectMeta(name="node-1", resource_version="1"),
        spec=NodeSpec(taints=taints, unschedulable=unschedulable),
        status=NodeStatus(conditions=(condition,)),
    )


def pod(node_name: str = "", *tolerations: Toleration, phase: str = "Pending") -> Pod:
    return Pod(
        metadata=ObjectMeta(name="p", namespace="default"),
        spec=PodSpec(
            containers=(Container(name="c", image="i"),), node_name=node_name, tolerations=tolerations
        ),
        status=PodStatus(phase=phase),
    )


# --- the predicates, case by case ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (node(), node(heartbeat=T1), False),  # a status report
        (node(), node(NO_SCHEDULE), False),  # a NoSchedule taint is not the taint manager's business
        (node(), node(NO_EXECUTE), True),
        (node(NO_EXECUTE), node(), True),
        (node(NO_EXECUTE), node(NO_EXECUTE, NO_SCHEDULE), False),
    ],
)
def test_the_taint_manager_wakes_for_a_node_only_when_its_no_execute_taints_change(
    old: Node, new: Node, expected: bool
) -> None:
    assert no_execute_taints_changed(old, new) is expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (pod("node-1"), pod("node-1", phase="Running"), False),  # a status write
        (pod(), pod("node-1"), True),  # the binding
        (pod("node-1"), pod("node-1", Toleration(operator="Exists")), True),
    ],
)
def test_the_taint_manager_wakes_for_a_pod_only_when_its_node_or_tolerations_change(
    old: Pod, new: Pod, expected: bool
) -> None:
    assert pod_placement_changed(old, new) is expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (node(), node(heartbeat=T1), False),  # a heartbeat: lastHeartbeatTime alone
        (node(), node(ready="Unknown"), True),
        (node(), node(NO_SCHEDULE), True),
        (node(), node(unschedulable=True), True),
    ],
)
def test_the_node_lifecycle_controller_wakes_for_a_node_when_its_no_schedule_inputs_change(
    old: Node, new: Node, expected: bool
) -> None:
    assert no_schedule_inputs_changed(old, new) is expected


def test_a_resync_still_reaches_the_no_schedule_pass_as_every_node_update_does_upstream() -> None:
    same = node()
    assert no_schedule_inputs_changed(same, same)


def test_the_node_lifecycle_controller_wakes_for_a_pod_only_when_it_is_bound() -> None:
    assert pod_node_changed(pod(), pod("node-1"))
    assert not pod_node_changed(pod("node-1"), pod("node-1", phase="Running"))


def lease(renewed: datetime, **meta: object) -> Lease:
    return Lease(
        metadata=ObjectMeta(name="node-1", namespace="kube-node-lease", **meta),  # type: ignore[arg-type]
        spec=LeaseSpec(holder_identity="node-1", renew_time=renewed),
    )


OWNER = OwnerReference(api_version="v1", kind="Node", name="node-1", uid="u-1")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (lease(T0), lease(T1), False),  # a renewal
        (lease(T0), lease(T1, owner_references=(OWNER,)), True),
        (lease(T0), lease(T0, finalizers=("example.com/keep",)), True),
        (lease(T0), lease(T0, deletion_timestamp=T1), True),
    ],
)
def test_the_garbage_collector_wakes_only_for_owners_finalizers_and_deletion(
    old: Lease, new: Lease, expected: bool
) -> None:
    assert ownership_changed(old, new) is expected


# --- on a cluster ---------------------------------------------------------------------------------


def reconciled(records: list[Record], controller: str) -> list[str]:
    return [str(r.get("request")) for r in records if r.get("controller") == controller]


def test_renewals_and_status_reports_wake_only_the_kubelet_and_a_no_execute_taint_the_taint_manager() -> None:
    labels = {"app": "web"}
    web = Deployment(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=DeploymentSpec(
            replicas=2,
            selector=LabelSelector(match_labels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(containers=(Container(name="c", image="i"),)),
            ),
        ),
    )

    async def scenario(cluster: Cluster) -> tuple[list[Record], list[Record], int]:
        assert cluster.simulation is not None
        trace = cluster.simulation.trace
        await cluster.apply([web])
        await cluster.settle()
        quiet_from = len(trace)
        await cluster.advance(310.0)  # the kubelets report node status every 300 s
        quiet = list(trace)[quiet_from:]
        renewals = sum(1 for r in quiet if r.what == "write" and r.get("kind") == "Lease")
        tainted_from = len(trace)
        current = await cluster.get(Node, "node-1")
        await cluster.store.update(
            attrs.evolve(current, spec=attrs.evolve(current.spec, taints=(NO_EXECUTE,)))
        )
        await cluster.advance(1.0)
        return quiet, list(trace)[tainted_from:], renewals

    quiet, tainted, renewals = Cluster(nodes=2, seed=1).run(scenario)
    assert renewals == 62  # two nodes, every 10 s: each a write of the Lease
    assert reconciled(quiet, "garbagecollector") == []
    assert reconciled(quiet, "taint-eviction-controller") == []
    assert [r for r in reconciled(quiet, "node-lifecycle-controller") if not r.startswith(":")] == []
    assert {r.split("/")[0] for r in reconciled(quiet, "kubelet")} == {HEARTBEATS}
    assert "node-1" in reconciled(tainted, "taint-eviction-controller")
