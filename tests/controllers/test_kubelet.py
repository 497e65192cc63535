"""The simulated kubelet: node registration and heartbeats, the pod lifecycle, the knobs, on virtual time."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import attrs
import pytest

from controllers.kubelet import NODE_LEASE_NAMESPACE, Kubelet, NodeConfig
from reconcile.clock import DEFAULT_EPOCH
from reconcile.testing import Simulation
from reconcile.testing.simulation import all_tasks_blocked
from store import NotFound, parse_quantity
from store.models import (
    Container,
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStatus,
    Lease,
    Node,
    ObjectMeta,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    Probe,
    Taint,
)

T = TypeVar("T")


def at(seconds: float) -> datetime:
    """The time of day ``seconds`` into a simulation."""
    return DEFAULT_EPOCH + timedelta(seconds=seconds)


def make_pod(
    name: str,
    node: str = "node-a",
    *,
    readiness_delay: int | None = None,
    containers: Sequence[str] = ("app",),
    grace: int | None = 30,
    host_network: bool = False,
) -> Pod:
    probe = None if readiness_delay is None else Probe(initial_delay_seconds=readiness_delay)
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=PodSpec(
            node_name=node,
            containers=tuple(
                Container(name=c, image="nginx:1.25", readiness_probe=probe) for c in containers
            ),
            termination_grace_period_seconds=grace,
            host_network=host_network,
        ),
    )


def run_with_kubelet(
    scenario: Callable[[Simulation, Kubelet], Awaitable[T]],
    nodes: Sequence[NodeConfig] = (NodeConfig(name="node-a"), NodeConfig(name="node-b")),
    **options: float,
) -> T:
    async def main(sim: Simulation) -> T:
        kubelet = Kubelet(sim.manager, nodes, **options)  # type: ignore[arg-type]
        sim.manager.add(kubelet)
        await sim.settle()
        return await scenario(sim, kubelet)

    return Simulation(seed=7).run(main)


async def get_pod(sim: Simulation, name: str) -> Pod:
    return await sim.store.get(Pod, name, "default")


def condition(status: PodStatus, type_: str) -> PodCondition:
    found = status.condition(type_)
    assert found is not None, f"no {type_} condition"
    return found


# --- nodes -------------------------------------------------------------------------------------


def test_nodes_register_with_labels_capacity_addresses_cidr_taints_and_healthy_conditions() -> None:
    taint = Taint(key="dedicated", value="db", effect="NoSchedule")
    nodes = [
        NodeConfig(name="node-a", labels={"tier": "web"}, zone="zone-1"),
        NodeConfig(name="node-b", cpu="8", memory="32Gi", allocatable={"cpu": "7500m"}, taints=[taint]),
    ]

    async def scenario(sim: Simulation, kubelet: Kubelet) -> list[Node]:
        return list((await sim.store.list(Node)).items)

    node_a, node_b = run_with_kubelet(scenario, nodes)
    assert dict(node_a.metadata.labels) == {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": "node-a",
        "kubernetes.io/os": "linux",
        "tier": "web",
        "topology.kubernetes.io/zone": "zone-1",
    }
    assert dict(node_a.status.capacity) == {
        "cpu": parse_quantity("4"),
        "memory": parse_quantity("16Gi"),
        "pods": parse_quantity("110"),
    }
    assert node_a.status.allocatable == node_a.status.capacity
    assert dict(node_b.status.allocatable) == {"cpu": parse_quantity("7500m")}
    assert node_b.spec.taints == (taint,)
    assert (node_a.spec.pod_cidr, node_b.spec.pod_cidr) == ("10.244.0.0/24", "10.244.1.0/24")
    assert node_a.spec.pod_cidrs == ("10.244.0.0/24",)
    assert [(a.type, a.address) for a in node_a.status.addresses] == [
        ("InternalIP", "172.18.0.2"),
        ("Hostname", "node-a"),
    ]
    assert [(c.type, c.status, c.reason) for c in node_a.status.conditions] == [
        ("NetworkUnavailable", "False", "RouteCreated"),
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"),
        ("Ready", "True", "KubeletReady"),
    ]
    ready = node_a.status.condition("Ready")
    assert ready is not None and ready.message == "kubelet is posting ready status"
    assert ready.last_heartbeat_time == at(0) and ready.last_transition_time == at(0)


def test_node_index_sets_the_default_pod_cidr_and_address() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> Node:
        return await sim.store.get(Node, "node-3")

    node = run_with_kubelet(scenario, [NodeConfig(name="node-3", index=3)])
    assert node.spec.pod_cidr == "10.244.3.0/24"
    assert node.status.addresses[0].address == "172.18.0.5"


@pytest.mark.parametrize(
    ("nodes", "problem"),
    [
        ([NodeConfig(name="a"), NodeConfig(name="a", index=5)], "configured twice"),
        ([NodeConfig(name="a", index=1), NodeConfig(name="b", index=1)], "overlap"),
        (
            [NodeConfig(name="a", pod_cidr="10.0.0.0/16"), NodeConfig(name="b", pod_cidr="10.0.3.0/24")],
            "overlap",
        ),
    ],
)
def test_node_configs_must_have_distinct_names_and_disjoint_cidrs(
    nodes: list[NodeConfig], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Kubelet(Simulation().manager, nodes)


def test_each_node_renews_its_lease_every_ten_seconds() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> list[tuple[float, datetime | None]]:
        renewals = []
        for _ in range(3):
            lease = await sim.store.get(Lease, "node-a", NODE_LEASE_NAMESPACE)
            renewals.append((sim.now, lease.spec.renew_time))
            await sim.advance(10)
        return renewals

    renewals = run_with_kubelet(scenario)
    assert renewals == [(0, at(0)), (10, at(10)), (20, at(20))]


def test_the_lease_is_held_by_the_node_for_forty_seconds_and_owned_by_the_node() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> tuple[Lease, Node]:
        return (
            await sim.store.get(Lease, "node-a", NODE_LEASE_NAMESPACE),
            await sim.store.get(Node, "node-a"),
        )

    lease, node = run_with_kubelet(scenario)
    assert lease.spec.holder_identity == "node-a"
    assert lease.spec.lease_duration_seconds == 40
    [owner] = lease.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("Node", "node-a", node.metadata.uid)


def test_unchanged_node_status_is_reported_only_every_report_frequency() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> list[datetime | None]:
        heartbeats = []
        for _ in range(4):
            await sim.advance(40)
            ready = (await sim.store.get(Node, "node-a")).status.condition("Ready")
            assert ready is not None
            heartbeats.append(ready.last_heartbeat_time)
        return heartbeats

    heartbeats = run_with_kubelet(scenario, node_status_report_frequency=60)
    assert heartbeats == [at(0), at(60), at(60), at(120)]


def test_node_status_changed_by_someone_else_is_put_right_on_the_next_beat() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> Node:
        await sim.advance(3)
        node = await sim.store.get(Node, "node-a")
        unknown = tuple(
            attrs.evolve(c, status="Unknown", reason="NodeStatusUnknown") if c.type == "Ready" else c
            for c in node.status.conditions
        )
        await sim.store.update_status(
            attrs.evolve(node, status=attrs.evolve(node.status, conditions=unknown))
        )
        await sim.advance(10)
        return await sim.store.get(Node, "node-a")

    node = run_with_kubelet(scenario)
    ready = node.status.condition("Ready")
    assert ready is not None
    assert (ready.status, ready.reason) == ("True", "KubeletReady")
    assert ready.last_transition_time == at(10) and ready.last_heartbeat_time == at(10)


# --- pods --------------------------------------------------------------------------------------


def test_a_bound_pod_is_pending_while_containers_are_created_then_running_with_an_address() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> tuple[Pod, Pod]:
        await sim.store.create(make_pod("web"))
        await sim.advance(0.5)
        pending = await get_pod(sim, "web")
        await sim.settle()
        return pending, await get_pod(sim, "web")

    pending, running = run_with_kubelet(scenario, startup_delay=2)
    assert pending.status.phase == "Pending"
    assert pending.status.start_time == at(0)
    assert pending.status.host_ip == "172.18.0.2"
    assert pending.status.pod_ip == ""
    [creating] = pending.status.container_statuses
    assert creating.state.waiting is not None and creating.state.waiting.reason == "ContainerCreating"
    assert condition(pending.status, "Ready").message == "containers with unready status: [app]"
    # The sandbox is still being made (GeneratePodReadyToStartContainersCondition).
    assert condition(pending.status, "PodReadyToStartContainers").status == "False"

    assert running.status.phase == "Running"
    assert ipaddress.ip_address(running.status.pod_ip) in ipaddress.ip_network("10.244.0.0/24")
    assert [ip.ip for ip in running.status.pod_ips] == [running.status.pod_ip]
    assert running.status.start_time == at(0)
    [app] = running.status.container_statuses
    assert app.state.running is not None and app.state.running.started_at == at(2)
    assert (app.ready, app.started, app.restart_count, app.image) == (True, True, 0, "nginx:1.25")
    assert [(c.type, c.status) for c in running.status.conditions] == [
        ("PodReadyToStartContainers", "True"),
        ("Initialized", "True"),
        ("Ready", "True"),
        ("ContainersReady", "True"),
        ("PodScheduled", "True"),
    ]
    assert condition(running.status, "Ready").last_transition_time == at(2)
    assert condition(running.status, "PodReadyToStartContainers").last_transition_time == at(2)


def test_ready_turns_true_once_the_readiness_probe_initial_delay_has_passed() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> list[tuple[float, bool]]:
        await sim.store.create(make_pod("web", readiness_delay=5))
        seen = []
        for _ in range(8):
            await sim.advance(1)
            pod = await get_pod(sim, "web")
            seen.append((sim.now, condition(pod.status, "Ready").status == "True"))
        return seen

    seen = run_with_kubelet(scenario, startup_delay=1)
    assert [now for now, ready in seen if ready] == [6, 7, 8]


def test_ready_delay_adds_to_the_probe_initial_delay_and_each_container_counts() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> Pod:
        pod = make_pod("web", readiness_delay=3, containers=("app", "sidecar"))
        sidecar = attrs.evolve(pod.spec.containers[1], readiness_probe=None)
        spec = attrs.evolve(pod.spec, containers=(pod.spec.containers[0], sidecar))
        await sim.store.create(attrs.evolve(pod, spec=spec))
        await sim.advance(4)
        partly = await get_pod(sim, "web")
        assert condition(partly.status, "Ready").message == "containers with unready status: [app]"
        assert [c.ready for c in partly.status.container_statuses] == [False, True]
        await sim.settle()
        return await get_pod(sim, "web")

    pod = run_with_kubelet(scenario, startup_delay=0, ready_delay=2)
    assert condition(pod.status, "Ready").last_transition_time == at(5)
    assert condition(pod.status, "ContainersReady").status == "True"


def test_pods_of_other_nodes_and_unbound_pods_are_left_alone() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> list[Pod]:
        await sim.store.create(make_pod("elsewhere", node="real-node"))
        await sim.store.create(make_pod("unbound", node=""))
        await sim.settle()
        await sim.advance(30)
        return [await get_pod(sim, "elsewhere"), await get_pod(sim, "unbound")]

    for pod in run_with_kubelet(scenario):
        assert pod.status == PodStatus(phase="Pending", qos_class="BestEffort")


def test_the_schedulers_pod_scheduled_condition_is_kept() -> None:
    scheduled = PodCondition(type="PodScheduled", status="True", last_transition_time=at(-30))

    async def scenario(sim: Simulation, kubelet: Kubelet) -> Pod:
        pod = await sim.store.create(make_pod("web", node=""))
        pod = await sim.store.update_status(
            attrs.evolve(pod, status=attrs.evolve(pod.status, conditions=(scheduled,)))
        )
        await sim.store.bind("web", "default", "node-a")
        await sim.settle()
        return await get_pod(sim, "web")

    pod = run_with_kubelet(scenario)
    assert pod.status.phase == "Running"
    assert condition(pod.status, "PodScheduled") == scheduled


def test_set_ready_flips_readiness_both_ways() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> list[tuple[str, object]]:
        await sim.store.create(make_pod("web", readiness_delay=600))
        await sim.advance(5)
        kubelet.set_ready("default", "web", True)
        await sim.settle()
        flips: list[tuple[str, object]] = [
            (condition((await get_pod(sim, "web")).status, "Ready").status, sim.now)
        ]
        await sim.advance(5)
        kubelet.set_ready("default", "web", False)
        await sim.settle()
        ready = condition((await get_pod(sim, "web")).status, "Ready")
        flips.append((ready.status, ready.last_transition_time))
        return flips

    flips = run_with_kubelet(scenario)
    assert flips == [("True", 5), ("False", at(10))]


def test_fail_pod_makes_the_pod_failed_with_terminated_containers_and_not_ready() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> Pod:
        await sim.store.create(make_pod("web"))
        await sim.settle()
        await sim.advance(4)
        kubelet.fail_pod("default", "web")
        await sim.settle()
        await sim.advance(60)
        return await get_pod(sim, "web")

    pod = run_with_kubelet(scenario)
    assert pod.status.phase == "Failed"
    ready = condition(pod.status, "Ready")
    assert (ready.status, ready.reason, ready.last_transition_time) == ("False", "PodFailed", at(5))
    # A finished pod's sandbox is torn down: no sandbox, nothing ready to start containers in.
    sandbox = condition(pod.status, "PodReadyToStartContainers")
    assert (sandbox.status, sandbox.last_transition_time) == ("False", at(5))
    [app] = pod.status.container_statuses
    assert app.state.terminated is not None
    assert (app.state.terminated.exit_code, app.state.terminated.reason) == (1, "Error")
    assert (app.state.terminated.started_at, app.state.terminated.finished_at) == (at(1), at(5))
    assert (app.ready, app.started) == (False, False)
    assert pod.status.pod_ip.startswith("10.244.0.")


def test_crash_loop_restarts_the_containers_with_a_doubling_backoff() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> list[tuple[float, int]]:
        await sim.store.create(make_pod("web"))
        await sim.settle()
        kubelet.crash_loop("default", "web")
        restarts: list[tuple[float, int]] = []
        for _ in range(80):
            await sim.advance(1)
            count = (await get_pod(sim, "web")).status.container_statuses[0].restart_count
            if not restarts or restarts[-1][1] != count:
                restarts.append((sim.now, count))
        return restarts

    restarts = run_with_kubelet(scenario)
    # Crashed at 1 s and restarted at once: no back-off yet (doBackOff). Each crash after that waits
    # 10, 20 and 40 s, and each restart crashes again at once.
    assert restarts == [(2, 1), (11, 2), (31, 3), (71, 4)]


def test_a_crash_looping_pod_is_running_but_not_ready_and_says_why() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> Pod:
        await sim.store.create(make_pod("web"))
        await sim.settle()
        kubelet.crash_loop("default", "web")
        await sim.advance(12)
        return await get_pod(sim, "web")

    pod = run_with_kubelet(scenario)
    assert pod.status.phase == "Running"
    assert condition(pod.status, "Ready").status == "False"
    [app] = pod.status.container_statuses
    assert app.state.waiting is not None
    assert app.state.waiting.reason == "CrashLoopBackOff"
    assert app.state.waiting.message == (
        f"back-off 20s restarting failed container=app pod=web_default({pod.metadata.uid})"
    )
    assert app.last_state.terminated is not None
    assert (app.last_state.terminated.reason, app.last_state.terminated.finished_at) == ("Error", at(11))
    assert (app.ready, app.started, app.restart_count) == (False, False, 2)


def test_a_container_that_ran_ten_minutes_before_crashing_restarts_at_once() -> None:
    # A back-off entry older than twice the 5-minute cap has expired (flowcontrol hasExpired): the
    # container restarts at once, and the back-off starts again from 10 s.
    async def scenario(sim: Simulation, kubelet: Kubelet) -> list[tuple[float, int]]:
        await sim.store.create(make_pod("web"))
        await sim.settle()
        kubelet.crash_loop("default", "web")
        await sim.advance(4)
        kubelet.crash_loop("default", "web", crashing=False)  # restarted at 11 s, runs from then on
        await sim.advance(700)
        kubelet.crash_loop("default", "web")
        restarts: list[tuple[float, int]] = []
        for _ in range(15):
            await sim.advance(1)
            count = (await get_pod(sim, "web")).status.container_statuses[0].restart_count
            if not restarts or restarts[-1][1] != count:
                restarts.append((sim.now, count))
        return restarts

    assert run_with_kubelet(scenario) == [(706, 3), (715, 4)]


def test_a_crash_loop_ends_at_the_next_restart_once_switched_off() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> Pod:
        await sim.store.create(make_pod("web", readiness_delay=2))
        await sim.settle()
        kubelet.crash_loop("default", "web")
        await sim.advance(5)
        kubelet.crash_loop("default", "web", crashing=False)
        await sim.settle()
        return await get_pod(sim, "web")

    pod = run_with_kubelet(scenario)
    [app] = pod.status.container_statuses
    # Crashed at 3 s (once ready) and restarted at once, crashed again, and the next restart (13 s,
    # after 10 s of back-off) lasts.
    assert app.state.running is not None and app.state.running.started_at == at(13)
    assert (app.ready, app.restart_count) == (True, 2)
    assert condition(pod.status, "Ready").last_transition_time == at(15)


def test_a_stopped_node_stops_renewing_and_changing_pods_and_resumes_when_started() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> None:
        await sim.store.create(make_pod("running"))
        await sim.settle()
        kubelet.stop_node("node-a")
        await sim.store.create(make_pod("arrived-while-stopped"))
        await sim.store.delete(Pod, "running", "default")
        before = sim.memory.revision
        await sim.advance(120)
        lease = await sim.store.get(Lease, "node-a", NODE_LEASE_NAMESPACE)
        assert lease.spec.renew_time == at(0)
        other = await sim.store.get(Lease, "node-b", NODE_LEASE_NAMESPACE)
        assert other.spec.renew_time == at(120)
        assert (await get_pod(sim, "arrived-while-stopped")).status.phase == "Pending"
        stuck = await get_pod(sim, "running")
        assert stuck.metadata.deletion_timestamp is not None
        node_a_writes = [
            write
            for write in sim.trace.of("write")
            if write.get("revision") > before
            and write.get("name") in ("node-a", "running", "arrived-while-stopped")
        ]
        assert node_a_writes == []

        kubelet.start_node("node-a")
        await sim.settle()
        lease = await sim.store.get(Lease, "node-a", NODE_LEASE_NAMESPACE)
        assert lease.spec.renew_time == at(121)
        assert (await get_pod(sim, "arrived-while-stopped")).status.phase == "Running"
        with pytest.raises(NotFound):
            await get_pod(sim, "running")

    run_with_kubelet(scenario)


def test_graceful_deletion_completes_after_the_kill_delay() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> tuple[Pod, float]:
        await sim.store.create(make_pod("web"))
        await sim.settle()
        await sim.store.delete(Pod, "web", "default")
        terminating = await get_pod(sim, "web")
        start = sim.now
        await sim.settle()
        with pytest.raises(NotFound):
            await get_pod(sim, "web")
        return terminating, sim.now - start

    terminating, took = run_with_kubelet(scenario, kill_delay=3)
    assert terminating.metadata.deletion_grace_period_seconds == 30
    assert took == 3


def test_the_kill_delay_never_exceeds_the_grace_period() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> float:
        await sim.store.create(make_pod("web", grace=2))
        await sim.settle()
        await sim.store.delete(Pod, "web", "default")
        start = sim.now
        await sim.settle()
        with pytest.raises(NotFound):
            await get_pod(sim, "web")
        return sim.now - start

    assert run_with_kubelet(scenario, kill_delay=10) == 2


def test_pod_addresses_are_the_lowest_free_ones_and_are_reused_after_deletion() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> dict[str, str]:
        for name in ("p1", "p2", "p3"):
            await sim.store.create(make_pod(name))
            await sim.settle()
        await sim.store.delete(Pod, "p2", "default", grace_period_seconds=0)
        await sim.settle()
        await sim.store.create(make_pod("p4"))
        await sim.store.create(make_pod("p5"))
        await sim.settle()
        pods = (await sim.store.list(Pod, namespace="default")).items
        return {pod.metadata.name: pod.status.pod_ip for pod in pods}

    assert run_with_kubelet(scenario) == {
        "p1": "10.244.0.2",
        "p3": "10.244.0.4",
        "p4": "10.244.0.3",
        "p5": "10.244.0.5",
    }


def test_host_network_pods_get_the_node_address_and_take_none_from_the_pool() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> tuple[str, str]:
        await sim.store.create(make_pod("host", host_network=True))
        await sim.store.create(make_pod("web"))
        await sim.settle()
        return (await get_pod(sim, "host")).status.pod_ip, (await get_pod(sim, "web")).status.pod_ip

    assert run_with_kubelet(scenario) == ("172.18.0.2", "10.244.0.2")


def test_knobs_refuse_pods_not_on_a_simulated_node() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> None:
        await sim.store.create(make_pod("elsewhere", node="real-node"))
        await sim.settle()
        with pytest.raises(KeyError, match="not on a simulated node"):
            kubelet.fail_pod("default", "elsewhere")
        with pytest.raises(KeyError, match="not a simulated node"):
            kubelet.stop_node("real-node")

    run_with_kubelet(scenario)


def test_its_own_status_write_does_not_sync_a_pod_again_but_anyone_elses_does() -> None:
    def syncs(sim: Simulation, since: int) -> int:
        return sum(
            1
            for record in list(sim.trace)[since:]
            if record.what == "reconcile"
            and record.get("controller") == "kubelet"
            and record.get("request") == "default/web"
        )

    async def scenario(sim: Simulation, kubelet: Kubelet) -> tuple[int, int, Pod]:
        mark = len(sim.trace)
        await sim.store.create(make_pod("web"))
        await sim.settle()
        own = syncs(sim, mark)
        running = await get_pod(sim, "web")
        mark = len(sim.trace)
        await sim.store.update_status(
            attrs.evolve(running, status=attrs.evolve(running.status, phase="Unknown"))
        )
        await sim.settle()
        return own, syncs(sim, mark), await get_pod(sim, "web")

    own, others, pod = run_with_kubelet(scenario, startup_delay=0)
    assert own == 1  # the sync that made it Running; its write coming back is not another
    assert others == 1
    assert pod.status.phase == "Running"


def test_pod_addresses_are_written_as_ipaddress_writes_them_across_octets_and_in_ipv6() -> None:
    nodes = (
        NodeConfig(name="node-a", pod_cidr="192.168.254.0/23"),
        NodeConfig(name="node-b", pod_cidr="fd00:10:244::/120"),
    )

    async def scenario(sim: Simulation, kubelet: Kubelet) -> dict[str, list[str]]:
        for index in range(260):
            await sim.store.create(make_pod(f"p{index}"))
        await sim.store.create(make_pod("v6", node="node-b"))
        await sim.settle()
        pods = (await sim.store.list(Pod, namespace="default")).items
        found: dict[str, list[str]] = {}
        for pod in pods:
            found.setdefault(pod.spec.node_name, []).append(pod.status.pod_ip)
        return found

    found = run_with_kubelet(scenario, nodes, startup_delay=0)
    network = ipaddress.ip_network("192.168.254.0/23")
    assert sorted(found["node-a"], key=ipaddress.ip_address) == [str(network[i]) for i in range(2, 262)]
    assert found["node-b"] == ["fd00:10:244::2"]


# --- status values made once and shared -----------------------------------------------------


def test_a_pod_going_through_the_same_change_later_gets_its_own_transition_times() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> tuple[Pod, Pod, Pod]:
        await sim.store.create(make_pod("first"))
        await sim.advance(0.5)
        pending = await get_pod(sim, "first")
        await sim.advance(4.5)
        await sim.store.create(make_pod("later"))  # the same spec, the same changes, 5 s on
        await sim.advance(0.5)
        later_pending = await get_pod(sim, "later")
        await sim.settle()
        return pending, later_pending, await get_pod(sim, "later")

    pending, later_pending, later = run_with_kubelet(scenario, startup_delay=1)
    assert pending.status.start_time == at(0)
    assert {c.last_transition_time for c in pending.status.conditions} == {at(0)}
    assert later_pending.status.start_time == at(5)
    assert [(c.type, c.status, c.last_transition_time) for c in later_pending.status.conditions] == [
        ("PodReadyToStartContainers", "False", at(5)),
        ("Initialized", "True", at(5)),
        ("Ready", "False", at(5)),
        ("ContainersReady", "False", at(5)),
        ("PodScheduled", "True", at(5)),
    ]
    assert [(c.type, c.status, c.last_transition_time) for c in later.status.conditions] == [
        ("PodReadyToStartContainers", "True", at(6)),
        ("Initialized", "True", at(5)),
        ("Ready", "True", at(6)),
        ("ContainersReady", "True", at(6)),
        ("PodScheduled", "True", at(5)),
    ]
    [app] = later.status.container_statuses
    assert app.state.running is not None and app.state.running.started_at == at(6)


def test_status_times_follow_a_clock_jump_even_at_the_same_loop_instant() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> tuple[Pod, Pod]:
        await sim.store.create(make_pod("before"))
        await all_tasks_blocked()  # synced, and virtual time has not moved
        sim.jump_clock(100)  # the time of day moves on by itself, at the instant the last sync had
        await sim.store.create(make_pod("after"))
        await all_tasks_blocked()
        assert sim.now == 0
        after_pending = await get_pod(sim, "after")
        await sim.settle()
        return after_pending, await get_pod(sim, "after")

    pending, running = run_with_kubelet(scenario, startup_delay=1)
    assert pending.status.start_time == at(100)
    assert {c.last_transition_time for c in pending.status.conditions} == {at(100)}
    [app] = running.status.container_statuses
    assert app.state.running is not None and app.state.running.started_at == at(101)
    assert condition(running.status, "Ready").last_transition_time == at(101)


def test_container_statuses_at_one_instant_are_each_pods_own() -> None:
    async def scenario(sim: Simulation, kubelet: Kubelet) -> dict[str, ContainerStatus]:
        await sim.store.create(make_pod("plain"))
        newer = make_pod("newer-image")
        newer_app = attrs.evolve(newer.spec.containers[0], image="nginx:1.26")
        await sim.store.create(attrs.evolve(newer, spec=attrs.evolve(newer.spec, containers=(newer_app,))))
        await sim.store.create(make_pod("probed", readiness_delay=60))
        await sim.store.create(make_pod("failed", readiness_delay=60))
        await sim.store.create(make_pod("crashing"))
        await all_tasks_blocked()
        kubelet.crash_loop("default", "crashing")
        await sim.advance(2)
        kubelet.fail_pod("default", "failed")  # it ran unready since 1 s, as "probed" does
        await sim.store.create(make_pod("later"))
        await sim.advance(2)
        return {
            pod.metadata.name: pod.status.container_statuses[0]
            for pod in (await sim.store.list(Pod, namespace="default")).items
        }

    found = run_with_kubelet(scenario, startup_delay=1)
    running = ContainerState(running=ContainerStateRunning(started_at=at(1)))
    plain = ContainerStatus(name="app", image="nginx:1.25", ready=True, started=True, state=running)
    assert found["plain"] == plain
    assert found["newer-image"] == attrs.evolve(plain, image="nginx:1.26")
    assert found["probed"] == attrs.evolve(plain, ready=False)
    later = ContainerState(running=ContainerStateRunning(started_at=at(3)))
    assert found["later"] == attrs.evolve(plain, state=later)
    failed = ContainerState(
        terminated=ContainerStateTerminated(exit_code=1, reason="Error", started_at=at(1), finished_at=at(2))
    )
    assert found["failed"] == attrs.evolve(plain, ready=False, started=False, state=failed)
    crashing = found["crashing"]
    assert (crashing.ready, crashing.restart_count) == (False, 1)
    assert crashing.last_state.terminated is not None
    assert crashing.state.waiting is not None and crashing.state.waiting.reason == "CrashLoopBackOff"
