"""The Endpoints controller: pure helpers (ported from endpoints util and controller tests) and scenarios on
a virtual-time Cluster running the myblog demo."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from controllers.cluster import Cluster
from controllers.endpoints import (
    HEADLESS_LABEL,
    MAX_CAPACITY,
    EndpointsController,
    find_port,
    pod_to_endpoint_address,
    repack_subsets,
    should_pod_be_in_endpoints,
    subsets_for,
    truncate_subsets,
)
from reconcile import Request
from reconcile.testing import Simulation
from store import FrozenDict, NotFound
from store.manifests import load_paths
from store.models import (
    Container,
    ContainerPort,
    EndpointAddress,
    EndpointPort,
    Endpoints,
    EndpointSubset,
    Namespace,
    ObjectMeta,
    ObjectReference,
    Pod,
    PodCondition,
    PodIP,
    PodSpec,
    PodStatus,
    Service,
    ServicePort,
    ServiceSpec,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MYSQL_NODE = {"node-1": {"component": "mysql"}}
NOW = datetime(2024, 1, 1, tzinfo=UTC)

# --- RepackSubsets (ported from pkg/api/v1/endpoints TestPackSubsets) ------------------------------


def addr(ip: str, uid: str | None = None) -> EndpointAddress:
    return EndpointAddress(ip=ip, target_ref=None if uid is None else ObjectReference(uid=uid))


def port(number: int, name: str = "") -> EndpointPort:
    return EndpointPort(name=name, port=number)


def subset(
    ready: list[EndpointAddress] | None = None,
    not_ready: list[EndpointAddress] | None = None,
    ports: list[EndpointPort] | None = None,
) -> EndpointSubset:
    return EndpointSubset(
        addresses=tuple(ready or ()), not_ready_addresses=tuple(not_ready or ()), ports=tuple(ports or ())
    )


A, B = "1.2.3.4", "5.6.7.8"

REPACK_CASES = [
    ("empty everything", [subset()], []),
    ("empty addresses", [subset(ports=[port(111)])], []),
    (
        "one set, one ip, one port",
        [subset([addr(A)], ports=[port(111)])],
        [subset([addr(A)], ports=[port(111)])],
    ),
    (
        "one set, one notReady ip, one port",
        [subset(not_ready=[addr(A)], ports=[port(111)])],
        [subset(not_ready=[addr(A)], ports=[port(111)])],
    ),
    (
        "one set, two duplicate ips, notReady is covered by ready",
        [subset([addr(A)], [addr(A)], [port(111)])],
        [subset(not_ready=[addr(A)], ports=[port(111)])],
    ),
    (
        "one set, one ip, two ports",
        [subset([addr(A)], ports=[port(222), port(111)])],
        [subset([addr(A)], ports=[port(111), port(222)])],
    ),
    (
        "one set, dup ips, one port",
        [subset([addr(A), addr(A)], ports=[port(111)])],
        [subset([addr(A)], ports=[port(111)])],
    ),
    (
        "one set, one ip, dup ports",
        [subset([addr(A)], ports=[port(111), port(111)])],
        [subset([addr(A)], ports=[port(111)])],
    ),
    (
        "two sets, dup ip, two ports",
        [subset([addr(A)], ports=[port(111)]), subset([addr(A)], ports=[port(222)])],
        [subset([addr(A)], ports=[port(111), port(222)])],
    ),
    (
        "two sets, dup mixed ip, dup uids, two ports",
        [
            subset([addr(A, "uid-1")], ports=[port(111)]),
            subset(not_ready=[addr(A, "uid-1")], ports=[port(222)]),
        ],
        [
            subset([addr(A, "uid-1")], ports=[port(111)]),
            subset(not_ready=[addr(A, "uid-1")], ports=[port(222)]),
        ],
    ),
    (
        "two sets, two ips, dup port",
        [subset([addr(B)], ports=[port(111)]), subset([addr(A)], ports=[port(111)])],
        [subset([addr(A), addr(B)], ports=[port(111)])],
    ),
    (
        "two sets, dup ip, with and without uid, dup ports",
        [subset([addr(A)], ports=[port(111)]), subset([addr(A, "uid-2")], ports=[port(111)])],
        [subset([addr(A), addr(A, "uid-2")], ports=[port(111)])],
    ),
    (
        "two sets, two mixed ips, two dup ip with uid, wrong order, ends up with split addresses",
        [
            subset([addr(B)], ports=[port(111)]),
            subset(not_ready=[addr(B, "uid-1")], ports=[port(111)]),
            subset(not_ready=[addr(A, "uid-1")], ports=[port(111)]),
            subset(not_ready=[addr(A)], ports=[port(111)]),
        ],
        [subset([addr(B)], [addr(A), addr(A, "uid-1"), addr(B, "uid-1")], [port(111)])],
    ),
    (
        "four sets, three ips, three ports, jumbled",
        [
            subset([addr("1.2.3.4")], ports=[port(111)]),
            subset([addr("1.2.3.5")], ports=[port(222)]),
            subset([addr("1.2.3.6")], ports=[port(111)]),
            subset([addr("1.2.3.5")], ports=[port(333)]),
        ],
        [
            subset([addr("1.2.3.4"), addr("1.2.3.6")], ports=[port(111)]),
            subset([addr("1.2.3.5")], ports=[port(222), port(333)]),
        ],
    ),
    ("headless without ports keeps its addresses", [subset([addr(A)])], [subset([addr(A)])]),
]


@pytest.mark.parametrize(
    ("given", "expected"), [case[1:] for case in REPACK_CASES], ids=[c[0] for c in REPACK_CASES]
)
def test_repack_subsets_gives_each_address_set_once_with_all_its_ports(
    given: list[EndpointSubset], expected: list[EndpointSubset]
) -> None:
    assert repack_subsets(given) == tuple(expected)


def test_truncation_keeps_ready_addresses_first_in_proportion() -> None:
    ready = [addr(f"10.0.{i // 250}.{i % 250}") for i in range(900)]
    not_ready = [addr(f"10.1.{i // 250}.{i % 250}") for i in range(300)]
    subsets = (
        subset(ready[:600], not_ready[:200], [port(80)]),
        subset(ready[600:], not_ready[200:], [port(81)]),
    )
    truncated, cut = truncate_subsets(subsets)
    assert cut
    assert [len(s.addresses) for s in truncated] == [600, 300]
    # 100 not-ready places left, shared 2:1 between the subsets.
    assert [len(s.not_ready_addresses) for s in truncated] == [67, 33]
    assert sum(len(s.addresses) + len(s.not_ready_addresses) for s in truncated) == MAX_CAPACITY


def test_truncation_drops_not_ready_addresses_when_ready_ones_exceed_capacity() -> None:
    ready = [addr(f"10.0.{i // 250}.{i % 250}") for i in range(1200)]
    truncated, cut = truncate_subsets((subset(ready, [addr("10.9.9.9")], [port(80)]),))
    assert cut and len(truncated[0].addresses) == MAX_CAPACITY and not truncated[0].not_ready_addresses
    assert truncate_subsets((subset(ready[:10], ports=[port(80)]),)) == (
        (subset(ready[:10], ports=[port(80)]),),
        False,
    )


# --- pods and ports -------------------------------------------------------------------------------


def pod(
    name: str,
    ip: str = "10.244.0.5",
    *,
    ready: bool = True,
    phase: str = "Running",
    deleting: bool = False,
    ports: tuple[ContainerPort, ...] = (),
) -> Pod:
    return Pod(
        metadata=ObjectMeta(
            name=name,
            namespace="default",
            uid=f"uid-{name}",
            labels=FrozenDict({"app": "web"}),
            deletion_timestamp=NOW if deleting else None,
        ),
        spec=PodSpec(node_name="node-1", containers=(Container(name="c", ports=ports),)),
        status=PodStatus(
            phase=phase,
            pod_ip=ip,
            pod_ips=(PodIP(ip=ip),) if ip else (),
            conditions=(PodCondition(type="Ready", status="True" if ready else "False"),),
        ),
    )


@pytest.mark.parametrize(
    ("candidate", "include_terminating", "expected"),
    [
        # From endpointslice/util TestShouldPodBeInEndpoints.
        (pod("running"), False, True),
        (pod("not-ready", ready=False), False, True),
        (pod("failed", phase="Failed"), False, False),
        (pod("succeeded", phase="Succeeded"), True, False),
        (pod("pending-no-ip", ip="", phase="Pending"), False, False),
        (pod("terminating", deleting=True), False, False),
        (pod("terminating", deleting=True), True, True),
    ],
)
def test_should_pod_be_in_endpoints(candidate: Pod, include_terminating: bool, expected: bool) -> None:
    assert should_pod_be_in_endpoints(candidate, include_terminating) is expected


def web_service(**spec: Any) -> Service:
    fields: dict[str, Any] = {"selector": FrozenDict({"app": "web"}), "ports": (ServicePort(port=80),)}
    fields.update(spec)
    return Service(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=attrs.evolve(ServiceSpec(), **fields),
    )


def test_find_port_resolves_a_named_target_port_per_pod_and_defaults_to_the_port() -> None:
    named = ServicePort(port=80, target_port="http")
    serving = pod("a", ports=(ContainerPort(name="http", container_port=8080),))
    assert find_port(serving, named) == 8080
    assert find_port(pod("b"), named) is None
    assert find_port(serving, ServicePort(port=80, target_port="http", protocol="UDP")) is None
    assert find_port(pod("b"), ServicePort(port=80, target_port=9376)) == 9376
    assert find_port(pod("b"), ServicePort(port=80)) == 80


@pytest.mark.parametrize(
    ("cluster_ip", "expected"),
    [("10.96.0.10", "10.244.0.5"), ("fd00::10", "fd00:244::5"), ("None", "10.244.0.5")],
)
def test_a_dual_stack_pod_gives_the_address_of_the_services_family(cluster_ip: str, expected: str) -> None:
    dual = pod("a")
    dual = attrs.evolve(
        dual, status=attrs.evolve(dual.status, pod_ips=(PodIP(ip="10.244.0.5"), PodIP(ip="fd00:244::5")))
    )
    address = pod_to_endpoint_address(web_service(cluster_ip=cluster_ip), dual)
    assert address is not None and address.ip == expected


def test_pod_without_a_named_port_is_skipped_for_that_port_only() -> None:
    service = web_service(
        ports=(ServicePort(name="http", port=80, target_port="http"), ServicePort(name="metrics", port=9090))
    )
    with_http = pod("a", "10.0.0.1", ports=(ContainerPort(name="http", container_port=8080),))
    without = pod("b", "10.0.0.2")
    subsets = subsets_for(service, [with_http, without])
    ref_a = ObjectReference(kind="Pod", namespace="default", name="a", uid="uid-a")
    ref_b = ObjectReference(kind="Pod", namespace="default", name="b", uid="uid-b")
    address_a = EndpointAddress(ip="10.0.0.1", node_name="node-1", target_ref=ref_a)
    address_b = EndpointAddress(ip="10.0.0.2", node_name="node-1", target_ref=ref_b)
    assert subsets == (
        EndpointSubset(addresses=(address_a,), ports=(EndpointPort(name="http", port=8080),)),
        EndpointSubset(addresses=(address_a, address_b), ports=(EndpointPort(name="metrics", port=9090),)),
    )


def test_pods_with_different_ports_for_one_name_get_separate_subsets() -> None:
    service = web_service(ports=(ServicePort(port=80, target_port="http"),))
    pods = [
        pod("a", "10.0.0.1", ports=(ContainerPort(name="http", container_port=8080),)),
        pod("b", "10.0.0.2", ports=(ContainerPort(name="http", container_port=8081),)),
    ]
    assert [(s.addresses[0].ip, s.ports[0].port) for s in subsets_for(service, pods)] == [
        ("10.0.0.1", 8080),
        ("10.0.0.2", 8081),
    ]


def test_publish_not_ready_addresses_lists_unready_and_terminating_pods_as_ready() -> None:
    pods = [pod("a", "10.0.0.1", ready=False), pod("b", "10.0.0.2", deleting=True)]
    [published] = subsets_for(web_service(publish_not_ready_addresses=True), pods)
    assert [a.ip for a in published.addresses] == ["10.0.0.1", "10.0.0.2"]
    assert not published.not_ready_addresses
    [plain] = subsets_for(web_service(), pods)
    assert [a.ip for a in plain.not_ready_addresses] == ["10.0.0.1"] and not plain.addresses


def test_headless_service_without_ports_lists_its_pods() -> None:
    [headless] = subsets_for(web_service(cluster_ip="None", ports=()), [pod("a", "10.0.0.1")])
    assert [a.ip for a in headless.addresses] == ["10.0.0.1"] and headless.ports == ()
    assert subsets_for(web_service(cluster_ip="10.96.1.1", ports=()), [pod("a", "10.0.0.1")]) == ()


# --- scenarios on a cluster -------------------------------------------------------------------------


def myblog_cluster(seed: int = 1) -> Cluster:
    return Cluster(nodes=3, node_labels=MYSQL_NODE, seed=seed)


async def endpoints_of(cluster: Cluster, name: str, namespace: str = "jds") -> Endpoints:
    return await cluster.get(Endpoints, name, namespace)


def ready_ips(endpoints: Endpoints) -> list[str]:
    return sorted(a.ip for s in endpoints.subsets for a in s.addresses)


def not_ready_ips(endpoints: Endpoints) -> list[str]:
    return sorted(a.ip for s in endpoints.subsets for a in s.not_ready_addresses)


async def pods_of(cluster: Cluster, app: str) -> list[Pod]:
    return [p for p in await cluster.list(Pod, namespace="jds") if p.metadata.labels.get("app") == app]


def test_myblog_services_get_their_pods_addresses_once_the_readiness_probes_pass() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        # Pods start after a second; the blog's readiness probe waits 10 s, mysql's 5 s.
        await cluster.advance(4)
        blog = await endpoints_of(cluster, "myblog")
        assert not ready_ips(blog) and len(not_ready_ips(blog)) == 2
        await cluster.advance(4)
        assert len(ready_ips(await endpoints_of(cluster, "mysql"))) == 1
        assert not ready_ips(await endpoints_of(cluster, "myblog"))
        await cluster.settle()
        blog_pods = await pods_of(cluster, "myblog")
        for name in ("myblog", "myblog-np"):
            endpoints = await endpoints_of(cluster, name)
            assert ready_ips(endpoints) == sorted(p.status.pod_ip for p in blog_pods)
            assert not not_ready_ips(endpoints)
            [only] = endpoints.subsets
            assert only.ports == (EndpointPort(port=8002),)
            assert {(a.target_ref.name, a.node_name) for a in only.addresses if a.target_ref} == {
                (p.metadata.name, p.spec.node_name) for p in blog_pods
            }
        [mysql] = await pods_of(cluster, "mysql")
        assert ready_ips(await endpoints_of(cluster, "mysql")) == [mysql.status.pod_ip]

    myblog_cluster().run(scenario)


def test_services_get_cluster_ips_and_the_node_port_service_a_node_port() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        services = {s.metadata.name: s for s in await cluster.list(Service, namespace="jds")}
        assert {name: s.spec.cluster_ip for name, s in services.items()} == {
            "mysql": "10.96.1.1",
            "myblog": "10.96.1.2",
            "myblog-np": "10.96.1.3",
        }
        assert services["myblog-np"].spec.ports[0].node_port == 30086
        assert services["myblog"].spec.ports[0].node_port is None

    myblog_cluster().run(scenario)


def test_readiness_flips_move_an_address_between_ready_and_not_ready() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        await cluster.settle()
        first, second = await pods_of(cluster, "myblog")
        cluster.kubelet.set_ready("jds", first.metadata.name, False)
        await cluster.settle()
        endpoints = await endpoints_of(cluster, "myblog")
        assert ready_ips(endpoints) == [second.status.pod_ip]
        assert not_ready_ips(endpoints) == [first.status.pod_ip]
        cluster.kubelet.set_ready("jds", first.metadata.name, True)
        await cluster.settle()
        endpoints = await endpoints_of(cluster, "myblog")
        assert ready_ips(endpoints) == sorted([first.status.pod_ip, second.status.pod_ip])
        assert not not_ready_ips(endpoints)

    myblog_cluster().run(scenario)


def test_unchanged_endpoints_are_not_rewritten() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        await cluster.settle()
        before = await endpoints_of(cluster, "myblog")
        service = await cluster.get(Service, "myblog", "jds")
        await cluster.store.update(
            attrs.evolve(service, spec=attrs.evolve(service.spec, session_affinity="ClientIP"))
        )
        await cluster.advance(60)
        await cluster.settle()
        assert (
            await endpoints_of(cluster, "myblog")
        ).metadata.resource_version == before.metadata.resource_version

    myblog_cluster().run(scenario)


def test_terminating_pods_leave_the_endpoints_at_once() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        await cluster.settle()
        victim, survivor = await pods_of(cluster, "myblog")
        await cluster.store.delete(Pod, victim.metadata.name, "jds")
        await cluster.advance(0.5)
        endpoints = await endpoints_of(cluster, "myblog")
        assert victim.status.pod_ip not in ready_ips(endpoints) + not_ready_ips(endpoints)
        assert survivor.status.pod_ip in ready_ips(endpoints)

    myblog_cluster().run(scenario)


def test_publish_not_ready_addresses_keeps_unready_pods_in_addresses() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        await cluster.settle()
        service = await cluster.get(Service, "myblog", "jds")
        spec = attrs.evolve(service.spec, publish_not_ready_addresses=True)
        await cluster.store.update(attrs.evolve(service, spec=spec))
        first, second = await pods_of(cluster, "myblog")
        cluster.kubelet.set_ready("jds", first.metadata.name, False)
        await cluster.settle()
        endpoints = await endpoints_of(cluster, "myblog")
        assert ready_ips(endpoints) == sorted([first.status.pod_ip, second.status.pod_ip])
        assert not not_ready_ips(endpoints)

    myblog_cluster().run(scenario)


def test_named_target_port_is_resolved_against_the_pods_container_ports() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        await cluster.settle()
        named = Service(
            metadata=ObjectMeta(name="mysql-named", namespace="jds", labels=FrozenDict({"tier": "db"})),
            spec=ServiceSpec(
                selector=FrozenDict({"app": "mysql"}),
                ports=(
                    ServicePort(name="sql", port=3306, target_port="mysql"),
                    ServicePort(name="admin", port=33062, target_port=33062),
                ),
            ),
        )
        await cluster.apply([named])
        await cluster.settle()
        endpoints = await endpoints_of(cluster, "mysql-named")
        # The container port has no name, so only the numeric port is served.
        assert [p.name for s in endpoints.subsets for p in s.ports] == ["admin"]
        assert endpoints.metadata.labels == {"tier": "db"}

    myblog_cluster().run(scenario)


def test_headless_service_endpoints_carry_the_headless_label() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        headless = Service(
            metadata=ObjectMeta(name="mysql-headless", namespace="jds"),
            spec=ServiceSpec(cluster_ip="None", selector=FrozenDict({"app": "mysql"})),
        )
        await cluster.apply([headless])
        await cluster.settle()
        endpoints = await endpoints_of(cluster, "mysql-headless")
        assert endpoints.metadata.labels == {HEADLESS_LABEL: ""}
        assert len(ready_ips(endpoints)) == 1

    myblog_cluster().run(scenario)


def test_endpoints_are_removed_with_their_service() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        await cluster.settle()
        await cluster.store.delete(Service, "myblog-np", "jds")
        await cluster.settle()
        with pytest.raises(NotFound):
            await endpoints_of(cluster, "myblog-np")
        assert ready_ips(await endpoints_of(cluster, "myblog"))

    myblog_cluster().run(scenario)


def test_service_created_after_its_pods_gets_their_addresses() -> None:
    async def scenario(cluster: Cluster) -> None:
        objects = [o for o in load_paths([EXAMPLES / "myblog"]) if not isinstance(o, Service)]
        await cluster.apply(objects)
        await cluster.settle()
        service = Service(
            metadata=ObjectMeta(name="late", namespace="jds"),
            spec=ServiceSpec(
                selector=FrozenDict({"app": "myblog"}), ports=(ServicePort(port=80, target_port=8002),)
            ),
        )
        await cluster.apply([service])
        await cluster.settle()
        blog_pods = await pods_of(cluster, "myblog")
        assert ready_ips(await endpoints_of(cluster, "late")) == sorted(p.status.pod_ip for p in blog_pods)

    myblog_cluster().run(scenario)


def test_deleted_endpoints_are_recreated_by_their_service() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        await cluster.settle()
        await cluster.store.delete(Endpoints, "myblog", "jds")
        await cluster.settle()
        assert len(ready_ips(await endpoints_of(cluster, "myblog"))) == 2

    myblog_cluster().run(scenario)


def test_leftover_endpoints_without_a_service_are_deleted_at_start_except_leader_locks() -> None:
    cluster = myblog_cluster()
    assert cluster.simulation is not None
    memory = cluster.simulation.memory
    leader = {"control-plane.alpha.kubernetes.io/leader": "{}"}
    for name, extra in (("orphan", {}), ("lock", leader)):
        meta = ObjectMeta(name=name, namespace="default", annotations=FrozenDict(extra))
        asyncio.run(memory.create(Endpoints(metadata=meta)))

    async def scenario(cluster: Cluster) -> list[str]:
        await cluster.settle()
        return [e.metadata.name for e in await cluster.list(Endpoints, namespace="default")]

    assert cluster.run(scenario) == ["lock"]


def test_selectorless_and_external_name_services_get_no_endpoints() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        manual = Service(
            metadata=ObjectMeta(name="manual", namespace="jds"),
            spec=ServiceSpec(ports=(ServicePort(port=80),)),
        )
        external = Service(
            metadata=ObjectMeta(name="external", namespace="jds"),
            spec=ServiceSpec(
                type="ExternalName", external_name="example.com", selector=FrozenDict({"app": "myblog"})
            ),
        )
        await cluster.apply([manual, external])
        await cluster.settle()
        for name in ("manual", "external"):
            with pytest.raises(NotFound):
                await endpoints_of(cluster, name)

    myblog_cluster().run(scenario)


# --- the label and selector indexes ----------------------------------------------------------------


def labelled_pod(name: str, namespace: str, labels: dict[str, str], ip: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=FrozenDict(labels)),
        spec=PodSpec(containers=(Container(name="c", image="i"),), node_name="node-1"),
        status=PodStatus(
            phase="Running",
            pod_ip=ip,
            pod_ips=(PodIP(ip=ip),),
            conditions=(PodCondition(type="Ready", status="True"),),
        ),
    )


def selecting(name: str, namespace: str, selector: dict[str, str]) -> Service:
    return Service(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=ServiceSpec(selector=FrozenDict(selector), ports=(ServicePort(port=80),)),
    )


def test_services_and_pods_are_matched_on_the_whole_selector_within_the_namespace() -> None:
    """The indexes only narrow the candidates: a Service with one of a pod's labels is not enough."""

    async def scenario(sim: Simulation) -> None:
        controller = EndpointsController(sim.manager)
        sim.manager.add(controller)
        for namespace in ("a", "b"):
            await sim.store.create(Namespace(metadata=ObjectMeta(name=namespace)))
        pods = [
            labelled_pod("web-1", "a", {"app": "web", "tier": "front"}, "10.0.0.1"),
            labelled_pod("web-2", "a", {"app": "web", "tier": "back"}, "10.0.0.2"),
            labelled_pod("web-3", "b", {"app": "web", "tier": "front"}, "10.0.0.3"),
        ]
        for pod in pods:
            created = await sim.store.create(pod)
            await sim.store.update_status(attrs.evolve(created, status=pod.status))
        services = [
            selecting("front", "a", {"app": "web", "tier": "front"}),
            selecting("all", "a", {"app": "web"}),
            selecting("back", "a", {"tier": "back"}),
            selecting("other", "b", {"app": "web"}),
        ]
        for service in services:
            await sim.store.create(service)
        await sim.settle()
        assert controller.services_for("a", {"app": "web", "tier": "front"}) == [
            Request("a", "all"),
            Request("a", "front"),
        ]
        assert controller.services_for("a", {"tier": "back", "app": "web"}) == [
            Request("a", "all"),
            Request("a", "back"),
        ]
        assert controller.services_for("a", {"tier": "front"}) == []
        expected = {"front": ["10.0.0.1"], "all": ["10.0.0.1", "10.0.0.2"], "back": ["10.0.0.2"]}
        for name, ips in expected.items():
            assert ready_ips(await sim.store.get(Endpoints, name, "a")) == ips
        assert ready_ips(await sim.store.get(Endpoints, "other", "b")) == ["10.0.0.3"]

    Simulation(seed=1).run(scenario)


def test_a_changed_selector_or_label_moves_the_addresses() -> None:
    """The indexes follow updates: a Service's new selector and a pod's new labels are looked up anew."""

    async def scenario(sim: Simulation) -> None:
        sim.manager.add(EndpointsController(sim.manager))
        await sim.store.create(Namespace(metadata=ObjectMeta(name="ns")))
        for name, app, ip in (("p1", "one", "10.0.0.1"), ("p2", "two", "10.0.0.2")):
            pod = labelled_pod(name, "ns", {"app": app}, ip)
            created = await sim.store.create(pod)
            await sim.store.update_status(attrs.evolve(created, status=pod.status))
        service = await sim.store.create(selecting("svc", "ns", {"app": "one"}))
        await sim.settle()
        assert ready_ips(await sim.store.get(Endpoints, "svc", "ns")) == ["10.0.0.1"]

        spec = attrs.evolve(service.spec, selector=FrozenDict({"app": "two"}))
        await sim.store.update(attrs.evolve(service, spec=spec))
        await sim.settle()
        assert ready_ips(await sim.store.get(Endpoints, "svc", "ns")) == ["10.0.0.2"]

        p1 = await sim.store.get(Pod, "p1", "ns")
        meta = attrs.evolve(p1.metadata, labels=FrozenDict({"app": "two"}))
        await sim.store.update(attrs.evolve(p1, metadata=meta))
        await sim.settle()
        assert ready_ips(await sim.store.get(Endpoints, "svc", "ns")) == ["10.0.0.1", "10.0.0.2"]

    Simulation(seed=1).run(scenario)


# --- each pod's part, kept from one sync to the next --------------------------------------------------


async def start_web(sim: Simulation, controller: EndpointsController, *ips: str) -> Service:
    """The controller, a Service selecting app=web in namespace ns, and a ready pod web-i per IP."""
    sim.manager.add(controller)
    await sim.store.create(Namespace(metadata=ObjectMeta(name="ns")))
    for index, ip in enumerate(ips):
        pod = labelled_pod(f"web-{index}", "ns", {"app": "web"}, ip)
        created = await sim.store.create(pod)
        await sim.store.update_status(attrs.evolve(created, status=pod.status))
    service = await sim.store.create(selecting("web", "ns", {"app": "web"}))
    await sim.settle()
    return service


def test_a_pods_new_ip_replaces_the_address_of_its_last_sync() -> None:
    async def scenario(sim: Simulation) -> None:
        await start_web(sim, EndpointsController(sim.manager), "10.0.0.1", "10.0.0.2")
        pod = await sim.store.get(Pod, "web-0", "ns")
        status = attrs.evolve(pod.status, pod_ip="10.0.0.9", pod_ips=(PodIP(ip="10.0.0.9"),))
        await sim.store.update_status(attrs.evolve(pod, status=status))
        await sim.settle()
        assert ready_ips(await sim.store.get(Endpoints, "web", "ns")) == ["10.0.0.2", "10.0.0.9"]

    Simulation(seed=1).run(scenario)


def test_a_pod_recreated_under_its_name_between_two_syncs_is_listed_as_the_new_pod() -> None:
    async def scenario(sim: Simulation) -> None:
        # Pod changes wait a second before the sync: the delete and the create meet in one sync.
        await start_web(sim, EndpointsController(sim.manager, batch_period=1.0), "10.0.0.1")
        old = await sim.store.get(Pod, "web-0", "ns")
        await sim.store.delete(Pod, "web-0", "ns", grace_period_seconds=0)
        pod = labelled_pod("web-0", "ns", {"app": "web"}, "10.0.0.1")
        new = await sim.store.create(pod)
        await sim.store.update_status(attrs.evolve(new, status=pod.status))
        await sim.settle()
        [subset] = (await sim.store.get(Endpoints, "web", "ns")).subsets
        assert [(a.ip, a.target_ref.uid if a.target_ref else None) for a in subset.addresses] == [
            ("10.0.0.1", new.metadata.uid)
        ]
        assert new.metadata.uid != old.metadata.uid

    Simulation(seed=1).run(scenario)


def test_a_changed_service_port_reaches_the_pods_that_did_not_change() -> None:
    async def scenario(sim: Simulation) -> None:
        service = await start_web(sim, EndpointsController(sim.manager), "10.0.0.1", "10.0.0.2")
        spec = attrs.evolve(service.spec, ports=(ServicePort(port=80, target_port=8080),))
        await sim.store.update(attrs.evolve(service, spec=spec))
        await sim.settle()
        [subset] = (await sim.store.get(Endpoints, "web", "ns")).subsets
        assert subset.ports == (EndpointPort(port=8080),)
        assert [a.ip for a in subset.addresses] == ["10.0.0.1", "10.0.0.2"]

    Simulation(seed=1).run(scenario)


def test_the_parts_kept_are_those_of_the_pods_the_services_selected_at_their_last_sync() -> None:
    async def scenario(sim: Simulation) -> None:
        controller = EndpointsController(sim.manager)
        await start_web(sim, controller, "10.0.0.1", "10.0.0.2", "10.0.0.3")
        assert controller.kept_parts == 3
        await sim.store.delete(Pod, "web-0", "ns", grace_period_seconds=0)
        pod = await sim.store.get(Pod, "web-1", "ns")
        meta = attrs.evolve(pod.metadata, labels=FrozenDict({"app": "other"}))
        await sim.store.update(attrs.evolve(pod, metadata=meta))
        await sim.settle()
        assert controller.kept_parts == 1
        await sim.store.delete(Service, "web", "ns")
        await sim.settle()
        assert controller.kept_parts == 0

    Simulation(seed=1).run(scenario)
