"""Service addressing: the ClusterIP and NodePort allocators (ported from ipallocator/portallocator tests)
and the store's allocation on Service create, update and delete."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import attrs
import pytest

from store import FrozenDict, Invalid, MemoryStore
from store.allocation import (
    AlreadyAllocated,
    IPAllocator,
    NotInRange,
    PortAllocator,
    RangeFull,
)
from store.models import ObjectMeta, Service, ServicePort, ServiceSpec

# --- IPAllocator ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cidr", "free", "first", "last", "out_of_range"),
    [
        # From ipallocator's TestAllocate table: usable size, first and last usable, and outsiders.
        (
            "192.168.1.0/24",
            254,
            "192.168.1.1",
            "192.168.1.254",
            ["192.168.1.0", "192.168.1.255", "192.168.0.1"],
        ),
        (
            "192.168.1.0/28",
            14,
            "192.168.1.1",
            "192.168.1.14",
            ["192.168.1.0", "192.168.1.15", "192.168.1.16"],
        ),
        ("192.168.1.0/30", 2, "192.168.1.1", "192.168.1.2", ["192.168.1.0", "192.168.1.3"]),
        ("2001:db8:1::/48", 65535, "2001:db8:1::1", "2001:db8:1::ffff", ["2001:db8:1::", "2001:db8:1::1:0"]),
        ("2001:db8:1::/125", 7, "2001:db8:1::1", "2001:db8:1::7", ["2001:db8:1::", "2001:db8:1::8"]),
    ],
)
def test_ip_allocator_hands_out_every_usable_address_once_then_is_full(
    cidr: str, free: int, first: str, last: str, out_of_range: list[str]
) -> None:
    allocator = IPAllocator(cidr)
    assert allocator.free == free
    for ip in out_of_range:
        with pytest.raises(NotInRange, match="is not in the valid range"):
            allocator.allocate(ip)
    if free <= 1024:
        seen = {allocator.allocate_next() for _ in range(free)}
        assert len(seen) == free and first in seen and last in seen
        with pytest.raises(RangeFull, match="range is full"):
            allocator.allocate_next()
        allocator.release(first)
        assert allocator.allocate_next() == first


def test_ip_allocator_rejects_an_address_taken_twice_and_releasing_a_free_one_is_a_no_op() -> None:
    allocator = IPAllocator("192.168.1.0/24")
    allocator.allocate("192.168.1.10")
    with pytest.raises(AlreadyAllocated, match=r"^provided IP is already allocated$"):
        allocator.allocate("192.168.1.10")
    allocator.release("192.168.1.11")
    allocator.release("10.0.0.1")
    assert allocator.used == 1 and allocator.has("192.168.1.10")
    allocator.release("192.168.1.10")
    assert allocator.used == 0
    allocator.allocate("192.168.1.10")


def test_ip_allocator_not_in_range_message_names_the_address_and_the_range() -> None:
    allocator = IPAllocator("10.96.0.0/12")
    with pytest.raises(NotInRange) as error:
        allocator.allocate("1.1.1.1")
    assert str(error.value) == (
        "the provided IP (1.1.1.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
    )


def test_ip_allocator_allocates_the_lowest_free_address_of_the_upper_block_first() -> None:
    # A /24 keeps its first 16 addresses for explicit requests (calculateRangeOffset: max(16, 256/16)).
    allocator = IPAllocator("192.168.1.0/24")
    assert [allocator.allocate_next() for _ in range(3)] == ["192.168.1.17", "192.168.1.18", "192.168.1.19"]
    allocator.release("192.168.1.17")
    allocator.allocate("192.168.1.20")
    assert allocator.allocate_next() == "192.168.1.17"
    assert allocator.allocate_next() == "192.168.1.21"


def test_ip_allocator_falls_back_to_the_static_block_when_the_upper_one_is_full() -> None:
    allocator = IPAllocator("192.168.1.0/24")
    allocator.allocate("192.168.1.1")
    upper = [allocator.allocate_next() for _ in range(254 - 16)]
    assert upper[-1] == "192.168.1.254"
    assert allocator.allocate_next() == "192.168.1.2"


def test_default_service_range_keeps_the_kubernetes_service_address_for_explicit_requests() -> None:
    allocator = IPAllocator("10.96.0.0/12")
    assert allocator.allocate_next() == "10.96.1.1"
    allocator.allocate("10.96.0.1")


# --- PortAllocator --------------------------------------------------------------------------------


def test_port_allocator_hands_out_every_port_once_then_is_full() -> None:
    # portallocator's TestAllocate: 10000-10200.
    allocator = PortAllocator(10000, 10200)
    assert allocator.free == 201
    seen = {allocator.allocate_next() for _ in range(201)}
    assert seen == set(range(10000, 10201))
    with pytest.raises(RangeFull):
        allocator.allocate_next()
    allocator.release(10100)
    assert allocator.allocate_next() == 10100


@pytest.mark.parametrize("port", [9999, 10201, 0])
def test_port_allocator_rejects_a_port_outside_its_range(port: int) -> None:
    allocator = PortAllocator(10000, 10200)
    with pytest.raises(NotInRange) as error:
        allocator.allocate(port)
    assert str(error.value) == (
        "provided port is not in the valid range. The range of valid ports is 10000-10200"
    )


def test_port_allocator_rejects_a_port_taken_twice() -> None:
    allocator = PortAllocator(30000, 32767)
    allocator.allocate(30080)
    with pytest.raises(AlreadyAllocated, match=r"^provided port is already allocated$"):
        allocator.allocate(30080)
    allocator.release(30080)
    allocator.allocate(30080)


def test_default_node_port_range_allocates_above_its_static_block() -> None:
    # 2768 ports / 32 = 86 ports kept for explicit requests.
    allocator = PortAllocator(30000, 32767)
    assert [allocator.allocate_next() for _ in range(2)] == [30086, 30087]


# --- the store ------------------------------------------------------------------------------------


def run(scenario: Callable[[MemoryStore], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario(MemoryStore(seed=1)))


def service(
    name: str, *, type_: str = "ClusterIP", cluster_ip: str = "", ports: tuple[ServicePort, ...] | None = None
) -> Service:
    return Service(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=ServiceSpec(
            type=type_,
            selector=FrozenDict({"app": name}),
            cluster_ip=cluster_ip,
            ports=ports if ports is not None else (ServicePort(port=80),),
        ),
    )


def test_created_service_gets_a_cluster_ip_mirrored_into_cluster_ips() -> None:
    async def scenario(store: MemoryStore) -> None:
        created = await store.create(service("web"))
        assert created.spec.cluster_ip == "10.96.1.1"
        assert created.spec.cluster_ips == ("10.96.1.1",)
        second = await store.create(service("db"))
        assert second.spec.cluster_ip == "10.96.1.2"

    run(scenario)


def test_headless_service_gets_no_cluster_ip() -> None:
    async def scenario(store: MemoryStore) -> None:
        created = await store.create(service("web", cluster_ip="None"))
        assert (created.spec.cluster_ip, created.spec.cluster_ips) == ("None", ("None",))
        assert (await store.create(service("db"))).spec.cluster_ip == "10.96.1.1"

    run(scenario)


def test_requested_cluster_ip_is_honoured() -> None:
    async def scenario(store: MemoryStore) -> None:
        created = await store.create(service("web", cluster_ip="10.96.0.10"))
        assert created.spec.cluster_ips == ("10.96.0.10",)

    run(scenario)


@pytest.mark.parametrize(
    ("cluster_ip", "message"),
    [
        (
            "10.96.0.10",
            'Service "db" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}:'
            " failed to allocate IP 10.96.0.10: provided IP is already allocated",
        ),
        (
            "1.1.1.1",
            'Service "db" is invalid: spec.clusterIPs: Invalid value: []string{"1.1.1.1"}:'
            " failed to allocate IP 1.1.1.1: the provided IP (1.1.1.1) is not in the valid range."
            " The range of valid IPs is 10.96.0.0/12",
        ),
        (
            "banana",
            'Service "db" is invalid: spec.clusterIPs[0]: Invalid value: "banana":'
            " must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ),
    ],
)
def test_rejected_cluster_ip_changes_nothing(cluster_ip: str, message: str) -> None:
    async def scenario(store: MemoryStore) -> None:
        await store.create(service("web", cluster_ip="10.96.0.10"))
        revision = store.revision
        with pytest.raises(Invalid) as error:
            await store.create(service("db", cluster_ip=cluster_ip, type_="NodePort"))
        assert str(error.value) == message
        assert store.revision == revision
        # Nothing was held back by the rejected create: the next allocations are the first ones.
        later = await store.create(service("later", type_="NodePort"))
        assert later.spec.cluster_ip == "10.96.1.1"
        assert later.spec.ports[0].node_port == 30086

    run(scenario)


def test_node_port_service_gets_a_node_port_and_a_requested_one_is_honoured() -> None:
    async def scenario(store: MemoryStore) -> None:
        allocated = await store.create(service("web", type_="NodePort"))
        assert allocated.spec.ports[0].node_port == 30086
        requested = await store.create(
            service("db", type_="LoadBalancer", ports=(ServicePort(port=80, node_port=30001),))
        )
        assert requested.spec.ports[0].node_port == 30001

    run(scenario)


def test_node_port_conflict_is_rejected_and_releases_the_cluster_ip_it_took() -> None:
    async def scenario(store: MemoryStore) -> None:
        await store.create(service("web", type_="NodePort", ports=(ServicePort(port=80, node_port=30001),)))
        revision = store.revision
        ports = (ServicePort(name="a", port=80), ServicePort(name="b", port=81, node_port=30001))
        with pytest.raises(Invalid) as error:
            await store.create(service("db", type_="NodePort", ports=ports))
        assert str(error.value) == (
            'Service "db" is invalid: spec.ports[1].nodePort: Invalid value: 30001:'
            " provided port is already allocated"
        )
        assert store.revision == revision
        retried = await store.create(service("db", type_="NodePort", ports=ports[:1]))
        assert retried.spec.cluster_ip == "10.96.1.2"
        assert retried.spec.ports[0].node_port == 30086

    run(scenario)


def test_node_port_on_a_cluster_ip_service_is_forbidden() -> None:
    async def scenario(store: MemoryStore) -> None:
        with pytest.raises(
            Invalid, match=r"spec.ports\[0\].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
        ):
            await store.create(service("web", ports=(ServicePort(port=80, node_port=30001),)))

    run(scenario)


def test_deleting_a_service_releases_its_cluster_ip_and_node_ports() -> None:
    async def scenario(store: MemoryStore) -> None:
        created = await store.create(service("web", type_="NodePort"))
        await store.delete(Service, "web", "default")
        again = await store.create(
            service("web", type_="NodePort", cluster_ip=created.spec.cluster_ip, ports=created.spec.ports)
        )
        assert again.spec.cluster_ip == created.spec.cluster_ip
        assert again.spec.ports == created.spec.ports

    run(scenario)


def test_reapplying_the_manifest_keeps_the_allocated_values_and_writes_nothing() -> None:
    async def scenario(store: MemoryStore) -> None:
        created = await store.create(service("web", type_="NodePort"))
        manifest = service("web", type_="NodePort")
        meta = attrs.evolve(manifest.metadata, resource_version=created.metadata.resource_version)
        updated = await store.update(attrs.evolve(manifest, metadata=meta))
        assert updated.metadata.resource_version == created.metadata.resource_version
        assert updated.spec == created.spec

    run(scenario)


def test_cluster_ip_is_immutable_on_update() -> None:
    async def scenario(store: MemoryStore) -> None:
        created = await store.create(service("web"))
        revision = store.revision
        spec = attrs.evolve(created.spec, cluster_ip="10.96.0.20", cluster_ips=("10.96.0.20",))
        with pytest.raises(Invalid) as error:
            await store.update(attrs.evolve(created, spec=spec))
        assert str(error.value) == (
            'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.0.20"}:'
            " may not change once set"
        )
        assert store.revision == revision

    run(scenario)


def test_changing_type_to_cluster_ip_releases_the_node_ports() -> None:
    async def scenario(store: MemoryStore) -> None:
        created = await store.create(service("web", type_="NodePort"))
        node_port = created.spec.ports[0].node_port
        cluster_ip = await store.update(
            attrs.evolve(created, spec=attrs.evolve(created.spec, type="ClusterIP"))
        )
        assert cluster_ip.spec.ports[0].node_port is None
        assert cluster_ip.spec.cluster_ip == created.spec.cluster_ip
        taken = await store.create(
            service("db", type_="NodePort", ports=(ServicePort(port=80, node_port=node_port),))
        )
        assert taken.spec.ports[0].node_port == node_port

    run(scenario)


def test_changing_type_to_node_port_allocates_a_node_port() -> None:
    async def scenario(store: MemoryStore) -> None:
        created = await store.create(service("web"))
        updated = await store.update(attrs.evolve(created, spec=attrs.evolve(created.spec, type="NodePort")))
        assert updated.spec.ports[0].node_port == 30086

    run(scenario)


def test_rejected_update_keeps_the_old_node_ports_and_takes_no_new_ones() -> None:
    async def scenario(store: MemoryStore) -> None:
        await store.create(service("db", type_="NodePort", ports=(ServicePort(port=80, node_port=30001),)))
        created = await store.create(service("web", type_="NodePort"))
        revision = store.revision
        ports = (
            ServicePort(name="a", port=80),
            ServicePort(name="b", port=81),
            ServicePort(name="c", port=82, node_port=30001),
        )
        with pytest.raises(Invalid, match="provided port is already allocated"):
            await store.update(attrs.evolve(created, spec=attrs.evolve(created.spec, ports=ports)))
        assert store.revision == revision
        # 30086 is still web's, and the port tried for "b" was given back.
        assert (await store.create(service("x", type_="NodePort"))).spec.ports[0].node_port == 30087

    run(scenario)
