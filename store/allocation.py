"""Service addressing: the ClusterIP and NodePort allocators and the service registry rules that use them.

A port of pkg/registry/core/service: ``ipallocator`` (a CIDR's usable addresses: not the network address,
nor the IPv4 broadcast address, at most 65536 for IPv6), ``portallocator`` (an inclusive port range,
30000-32767 by default) and the allocation steps of ``storage/alloc.go`` and ``storage/storage.go``
(allocate on create, carry allocated values over an update that omits them, release on delete and on a
type change, reject conflicts with the apiserver's ``Invalid`` errors).

Both allocators split their range the way upstream does since KEP-3070 / KEP-3668: the first
``range_offset`` values (16-256 addresses, 16-128 ports, scaled with the range) form a *static* block that
dynamic allocation uses only once the rest is full, so explicitly requested values rarely collide with
allocated ones. Upstream picks a random free value within a block; here a dynamic allocation takes the
**lowest free** value of the upper block (then of the static block), so allocation is deterministic without
a random seam: in 10.96.0.0/12 the first allocated ClusterIP is 10.96.1.1 and the first node port 30086.
10.96.0.1, the address the apiserver gives its own ``kubernetes`` Service, lies in the static block and is
therefore free for whoever requests it explicitly (no such Service is created here).

Only single-stack services are modelled (one family, the range's). This module keeps allocation state in
memory and knows nothing of storage: `store.memory.MemoryStore` calls `ServiceAllocator` inside each write,
after every other check, so a rejected write allocates nothing.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from store.errors import InternalError, Invalid
from store.models import Service, ServicePort, ServiceSpec
from store.validation import FieldError

#: The default ``--service-cluster-ip-range`` and ``--service-node-port-range``.
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_NODE_PORT_RANGE = (30000, 32767)

CLUSTER_IP_NONE = "None"
EXTERNAL_NAME = "ExternalName"
NODE_PORT_TYPES = frozenset({"NodePort", "LoadBalancer"})

#: IPv6 ranges are capped, since the allocator tracks every address (upstream keeps a bitmap).
_MAX_IPV6_RANGE = 65536

_SERVICE_KIND = "Service"


class AllocationError(Exception):
    """An allocator refused a request; the message is upstream's."""


class RangeFull(AllocationError):
    def __init__(self) -> None:
        super().__init__("range is full")


class AlreadyAllocated(AllocationError):
    """The requested value is taken."""


class NotInRange(AllocationError):
    """The requested value lies outside the allocator's range."""


class _Block:
    """One block of offsets ``[start, end)``: lowest-free allocation without scanning what is taken."""

    __slots__ = ("end", "high", "released", "start")

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end
        # Every offset below ``high`` has been handed out or skipped as taken; free ones below it are in
        # ``released`` (a heap that may hold stale entries, dropped when they surface).
        self.high = start
        self.released: list[int] = []

    def take_lowest(self, taken: set[int]) -> int | None:
        released = self.released
        while released:
            offset = heapq.heappop(released)
            if offset not in taken:
                return offset
        while self.high < self.end and self.high in taken:
            self.high += 1
        if self.high >= self.end:
            return None
        offset = self.high
        self.high += 1
        return offset

    def give_back(self, offset: int) -> None:
        if offset < self.high:
            heapq.heappush(self.released, offset)


class _OffsetMap:
    """Which offsets of ``[0, size)`` are taken; dynamic allocation prefers offsets from ``split`` on."""

    def __init__(self, size: int, split: int) -> None:
        self.size = size
        self._taken: set[int] = set()
        self._blocks = (_Block(split, size), _Block(0, split))

    def allocate(self, offset: int) -> bool:
        if offset in self._taken:
            return False
        self._taken.add(offset)
        return True

    def allocate_next(self) -> int | None:
        for block in self._blocks:
            offset = block.take_lowest(self._taken)
            if offset is not None:
                self._taken.add(offset)
                return offset
        return None

    def release(self, offset: int) -> None:
        if offset not in self._taken:
            return
        self._taken.discard(offset)
        for block in self._blocks:
            if block.start <= offset < block.end:
                block.give_back(offset)

    def has(self, offset: int) -> bool:
        return offset in self._taken

    @property
    def used(self) -> int:
        return len(self._taken)

    def offsets(self) -> list[int]:
        return sorted(self._taken)


def _range_offset(size: int, *, minimum: int, maximum: int, step: int) -> int:
    """``min(max(minimum, size / step), maximum)``, or 0 for a range no bigger than ``minimum``."""
    if size <= minimum:
        return 0
    return min(max(minimum, size // step), maximum)


class IPAllocator:
    """The usable addresses of one CIDR (ipallocator.Range)."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        size = self.network.num_addresses
        # IPv4 loses the network and broadcast addresses, IPv6 only the network address.
        usable = min(size, _MAX_IPV6_RANGE) - 1 if self.network.version == 6 else size - 2
        self._base = int(self.network.network_address) + 1
        offset = _range_offset(size, minimum=16, maximum=256, step=16)
        self._map = _OffsetMap(max(usable, 0), min(offset, max(usable, 0)))

    @property
    def cidr(self) -> str:
        return str(self.network)

    @property
    def size(self) -> int:
        """How many addresses can be allocated in all."""
        return self._map.size

    @property
    def used(self) -> int:
        return self._map.used

    @property
    def free(self) -> int:
        return self._map.size - self._map.used

    def allocate(self, ip: str) -> None:
        """Reserve ``ip``; raises `NotInRange` or `AlreadyAllocated`."""
        offset = self._offset(ip)
        if offset is None:
            raise NotInRange(
                f"the provided IP ({ip}) is not in the valid range. The range of valid IPs is {self.cidr}"
            )
        if not self._map.allocate(offset):
            raise AlreadyAllocated("provided IP is already allocated")

    def allocate_next(self) -> str:
        """Reserve the lowest free address (of the dynamic block first); raises `RangeFull`."""
        offset = self._map.allocate_next()
        if offset is None:
            raise RangeFull()
        return str(ipaddress.ip_address(self._base + offset))

    def release(self, ip: str) -> None:
        """Give ``ip`` back; releasing a free or out-of-range address does nothing."""
        offset = self._offset(ip)
        if offset is not None:
            self._map.release(offset)

    def has(self, ip: str) -> bool:
        offset = self._offset(ip)
        return offset is not None and self._map.has(offset)

    def allocated(self) -> list[str]:
        return [str(ipaddress.ip_address(self._base + offset)) for offset in self._map.offsets()]

    def _offset(self, ip: str) -> int | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if address.version != self.network.version or address not in self.network:
            return None
        offset = int(address) - self._base
        return offset if 0 <= offset < self._map.size else None


class PortAllocator:
    """The ports of an inclusive range ``first``-``last`` (portallocator.PortAllocator)."""

    def __init__(self, first: int, last: int) -> None:
        if not 0 < first <= last <= 65535:
            raise ValueError(f"invalid port range {first}-{last}")
        self.first = first
        self.last = last
        size = last - first + 1
        self._map = _OffsetMap(size, _range_offset(size, minimum=16, maximum=128, step=32))

    @property
    def range(self) -> str:
        return f"{self.first}-{self.last}"

    @property
    def size(self) -> int:
        return self._map.size

    @property
    def used(self) -> int:
        return self._map.used

    @property
    def free(self) -> int:
        return self._map.size - self._map.used

    def allocate(self, port: int) -> None:
        """Reserve ``port``; raises `NotInRange` or `AlreadyAllocated`."""
        if not self.first <= port <= self.last:
            raise NotInRange(
                f"provided port is not in the valid range. The range of valid ports is {self.range}"
            )
        if not self._map.allocate(port - self.first):
            raise AlreadyAllocated("provided port is already allocated")

    def allocate_next(self) -> int:
        """Reserve the lowest free port (of the dynamic block first); raises `RangeFull`."""
        offset = self._map.allocate_next()
        if offset is None:
            raise RangeFull()
        return self.first + offset

    def release(self, port: int) -> None:
        if self.first <= port <= self.last:
            self._map.release(port - self.first)

    def has(self, port: int) -> bool:
        return self.first <= port <= self.last and self._map.has(port - self.first)

    def allocated(self) -> list[int]:
        return [self.first + offset for offset in self._map.offsets()]


# --- the service registry's allocation steps ---------------------------------------------------------


def needs_cluster_ip(spec: ServiceSpec) -> bool:
    return spec.type != EXTERNAL_NAME


def needs_node_ports(spec: ServiceSpec) -> bool:
    return spec.type in NODE_PORT_TYPES


def _allocated_ip(spec: ServiceSpec) -> str:
    """The ClusterIP the service holds in the allocator ("" for headless and ExternalName services)."""
    if not needs_cluster_ip(spec) or spec.cluster_ip in ("", CLUSTER_IP_NONE):
        return ""
    return spec.cluster_ip


def _node_ports(spec: ServiceSpec) -> list[int]:
    """The distinct node ports the service holds (collectServiceNodePorts)."""
    return list(dict.fromkeys(port.node_port for port in spec.ports if port.node_port))


class _Transaction:
    """Reservations made by one write, undone together if a later step of the same write fails."""

    def __init__(self, ips: IPAllocator, ports: PortAllocator) -> None:
        self._ips = ips
        self._ports = ports
        self._undo: list[tuple[str, str | int]] = []

    def allocate_ip(self, ip: str) -> None:
        self._ips.allocate(ip)
        self._undo.append(("ip", ip))

    def allocate_next_ip(self) -> str:
        ip = self._ips.allocate_next()
        self._undo.append(("ip", ip))
        return ip

    def allocate_port(self, port: int) -> None:
        self._ports.allocate(port)
        self._undo.append(("port", port))

    def allocate_next_port(self) -> int:
        port = self._ports.allocate_next()
        self._undo.append(("port", port))
        return port

    def revert(self) -> None:
        for what, value in reversed(self._undo):
            if what == "ip":
                self._ips.release(str(value))
            else:
                self._ports.release(int(value))
        self._undo.clear()


class ServiceAllocator:
    """Allocates ClusterIPs and node ports for Services as the apiserver's service registry does.

    The store calls `allocate_create` as the last check of a create, `prepare_update` before deciding
    whether an update changes anything, `allocate_update` as the last check of an update, and `release`
    when a Service is removed. Each either returns the service to store, with its allocations held, or
    raises and holds nothing new.
    """

    def __init__(
        self,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
        node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE,
    ) -> None:
        self.ips = IPAllocator(service_cidr)
        self.node_ports = PortAllocator(*node_port_range)

    def hold(self, service: Service) -> None:
        """Mark what a stored ``service`` holds as taken (to rebuild the state from storage)."""
        spec = service.spec
        ip = _allocated_ip(spec)
        if ip and not self.ips.has(ip):
            self.ips.allocate(ip)
        if needs_node_ports(spec):
            for port in _node_ports(spec):
                if not self.node_ports.has(port):
                    self.node_ports.allocate(port)

    # --- create -------------------------------------------------------------------------------

    def allocate_create(self, service: Service) -> Service:
        """``service`` with its ClusterIP and node ports allocated; raises `Invalid` on a conflict."""
        spec = service.spec
        if not needs_cluster_ip(spec):
            return service
        if spec.cluster_ip and not spec.cluster_ips:
            # An old client sets only the singular field: mirror it (normalizeClusterIPs).
            spec = attrs.evolve(spec, cluster_ips=(spec.cluster_ip,))
        self._check(service.metadata.name, spec, _validate_cluster_ips(spec))
        txn = _Transaction(self.ips, self.node_ports)
        try:
            if spec.cluster_ip != CLUSTER_IP_NONE:
                spec = self._allocate_cluster_ip(service.metadata.name, spec, txn)
            if needs_node_ports(spec):
                spec = self._allocate_node_ports(service.metadata.name, spec, (), txn)
        except BaseException:
            txn.revert()
            raise
        return attrs.evolve(service, spec=spec)

    # --- update -------------------------------------------------------------------------------

    def prepare_update(self, service: Service, old: Service) -> Service:
        """``service`` with what the client left out of an update filled in, and type leftovers dropped.

        Pure: no allocation. Re-submitting the manifest a Service was created from is therefore no change.
        """
        spec = _normalize_cluster_ips(service.spec, old.spec)
        spec = _patch_allocated_values(spec, old.spec)
        spec = _drop_type_dependent_fields(spec, old.spec)
        return service if spec == service.spec else attrs.evolve(service, spec=spec)

    def allocate_update(self, service: Service, old: Service) -> Service:
        """``service`` with new allocations made and old ones released; raises `Invalid` on a conflict."""
        name = service.metadata.name
        spec, old_spec = service.spec, old.spec
        errors = _validate_cluster_ips(spec) if needs_cluster_ip(spec) else []
        errors.extend(_validate_cluster_ip_unchanged(spec, old_spec))
        self._check(name, spec, errors)
        txn = _Transaction(self.ips, self.node_ports)
        try:
            if (
                not needs_cluster_ip(old_spec)
                and needs_cluster_ip(spec)
                and spec.cluster_ip != CLUSTER_IP_NONE
            ):
                spec = self._allocate_cluster_ip(name, spec, txn)
            if needs_node_ports(spec):
                spec = self._allocate_node_ports(name, spec, _node_ports(old_spec), txn)
        except BaseException:
            txn.revert()
            raise
        # Everything is reserved: only now give back what the old service held and the new one does not.
        old_ip = _allocated_ip(old_spec)
        if old_ip and old_ip != _allocated_ip(spec):
            self.ips.release(old_ip)
        kept = set(_node_ports(spec)) if needs_node_ports(spec) else set()
        for port in _node_ports(old_spec):
            if port not in kept:
                self.node_ports.release(port)
        return service if spec == service.spec else attrs.evolve(service, spec=spec)

    # --- delete -------------------------------------------------------------------------------

    def release(self, service: Service) -> None:
        """Give back everything ``service`` holds (releaseAllocatedResources)."""
        spec = service.spec
        ip = _allocated_ip(spec)
        if ip:
            self.ips.release(ip)
        if needs_node_ports(spec):
            for port in _node_ports(spec):
                self.node_ports.release(port)

    # --- steps --------------------------------------------------------------------------------

    def _check(self, name: str, spec: ServiceSpec, errors: list[FieldError]) -> None:
        if not needs_node_ports(spec) and needs_cluster_ip(spec):
            for index, port in enumerate(spec.ports):
                if port.node_port:
                    errors.append(
                        FieldError.forbidden(
                            f"spec.ports[{index}].nodePort", f"may not be used when `type` is '{spec.type}'"
                        )
                    )
        if errors:
            raise Invalid(_SERVICE_KIND, name, errors)

    def _allocate_cluster_ip(self, name: str, spec: ServiceSpec, txn: _Transaction) -> ServiceSpec:
        if not spec.cluster_ip:
            try:
                ip = txn.allocate_next_ip()
            except RangeFull as exc:
                raise InternalError(f"failed to allocate a serviceIP: {exc}") from None
            return attrs.evolve(spec, cluster_ip=ip, cluster_ips=(ip,))
        try:
            txn.allocate_ip(spec.cluster_ip)
        except AllocationError as exc:
            error = FieldError.invalid(
                "spec.clusterIPs", spec.cluster_ips, f"failed to allocate IP {spec.cluster_ip}: {exc}"
            )
            raise Invalid(_SERVICE_KIND, name, [error]) from None
        return spec

    def _allocate_node_ports(
        self, name: str, spec: ServiceSpec, held: Sequence[int], txn: _Transaction
    ) -> ServiceSpec:
        """Give every port a node port: requested ones reserved, missing ones allocated (initNodePorts).

        Service ports sharing a port number (TCP and UDP 53) share a node port. ``held`` are the node
        ports the service already holds (on an update): keeping them needs no new reservation.
        """
        by_service_port: dict[int, int] = {}
        reserved: set[int] = set(held)
        in_use: set[tuple[int, str]] = set()
        ports: list[ServicePort] = []
        for index, port in enumerate(spec.ports):
            node_port = port.node_port or by_service_port.get(port.port) or _requested(port.port, spec.ports)
            if node_port and (node_port, port.protocol) in in_use:
                error = FieldError(f"spec.ports[{index}].nodePort", f"Duplicate value: {node_port}")
                raise Invalid(_SERVICE_KIND, name, [error])
            if node_port and node_port not in reserved:
                try:
                    txn.allocate_port(node_port)
                except AllocationError as exc:
                    error = FieldError(f"spec.ports[{index}].nodePort", f"Invalid value: {node_port}: {exc}")
                    raise Invalid(_SERVICE_KIND, name, [error]) from None
                reserved.add(node_port)
            elif not node_port:
                try:
                    node_port = txn.allocate_next_port()
                except RangeFull as exc:
                    raise InternalError(f"failed to allocate a nodePort: {exc}") from None
                reserved.add(node_port)
            in_use.add((node_port, port.protocol))
            by_service_port.setdefault(port.port, node_port)
            ports.append(port if port.node_port == node_port else attrs.evolve(port, node_port=node_port))
        return attrs.evolve(spec, ports=tuple(ports))


def _requested(service_port: int, ports: Iterable[ServicePort]) -> int:
    """A node port the user asked for on any entry with this service port (findRequestedNodePort)."""
    for port in ports:
        if port.port == service_port and port.node_port:
            return port.node_port
    return 0


# --- field rules ---------------------------------------------------------------------------------


def _validate_cluster_ips(spec: ServiceSpec) -> list[FieldError]:
    """The ClusterIP rules of ValidateServiceClusterIPsRelatedFields, for a single-stack cluster."""
    errors: list[FieldError] = []
    if spec.cluster_ip:
        if not spec.cluster_ips:
            errors.append(FieldError.required("spec.clusterIPs", ""))
        elif spec.cluster_ips[0] != spec.cluster_ip:
            errors.append(
                FieldError.invalid("spec.clusterIPs", spec.cluster_ips, "first value must match `clusterIP`")
            )
    elif spec.cluster_ips:
        errors.append(
            FieldError.invalid(
                "spec.clusterIPs", spec.cluster_ips, "must be empty when `clusterIP` is not specified"
            )
        )
    for index, ip in enumerate(spec.cluster_ips):
        if ip == CLUSTER_IP_NONE:
            if index > 0 or len(spec.cluster_ips) > 1:
                errors.append(
                    FieldError.invalid(
                        "spec.clusterIPs", spec.cluster_ips, "'None' must be the first and only value"
                    )
                )
            continue
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            errors.append(
                FieldError.invalid(
                    f"spec.clusterIPs[{index}]",
                    ip,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                )
            )
    if len(spec.cluster_ips) > 1 and CLUSTER_IP_NONE not in spec.cluster_ips:
        errors.append(
            FieldError.invalid(
                "spec.ipFamilyPolicy",
                "SingleStack",
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
            )
        )
    return errors


def _validate_cluster_ip_unchanged(spec: ServiceSpec, old: ServiceSpec) -> list[FieldError]:
    """A ClusterIP may not change once set, except to or from an ExternalName service."""
    if not needs_cluster_ip(spec) or not needs_cluster_ip(old):
        return []
    errors = []
    for index, ip in enumerate(old.cluster_ips):
        if index >= len(spec.cluster_ips) or spec.cluster_ips[index] != ip:
            errors.append(
                FieldError.invalid(f"spec.clusterIPs[{index}]", spec.cluster_ips, "may not change once set")
            )
    return errors


def _normalize_cluster_ips(spec: ServiceSpec, old: ServiceSpec) -> ServiceSpec:
    """Keep ``clusterIP`` and ``clusterIPs`` in step when a client changed only one (normalizeClusterIPs)."""
    cluster_ips = spec.cluster_ips
    if old.cluster_ips and not cluster_ips and old.cluster_ip == spec.cluster_ip:
        cluster_ips = old.cluster_ips
    if old.cluster_ip != spec.cluster_ip and cluster_ips == old.cluster_ips:
        cluster_ips = () if not spec.cluster_ip else (spec.cluster_ip,)
    return spec if cluster_ips == spec.cluster_ips else attrs.evolve(spec, cluster_ips=cluster_ips)


def _patch_allocated_values(spec: ServiceSpec, old: ServiceSpec) -> ServiceSpec:
    """Carry over the values allocated for the client when it re-submits without them.

    So applying the manifest a Service was created from again is accepted (patchAllocatedValues).
    """
    changes: dict[str, Any] = {}
    if needs_cluster_ip(old) and needs_cluster_ip(spec):
        if not spec.cluster_ip:
            changes["cluster_ip"] = old.cluster_ip
        if not spec.cluster_ips and old.cluster_ips:
            changes["cluster_ips"] = old.cluster_ips
    if needs_node_ports(old) and needs_node_ports(spec):
        used = {p.node_port for p in old.ports if p.node_port} & {
            p.node_port for p in spec.ports if p.node_port
        }
        by_name = {port.name: port.node_port for port in old.ports}
        ports = []
        for port in spec.ports:
            previous = by_name.get(port.name)
            patch = not port.node_port and previous and previous not in used
            ports.append(attrs.evolve(port, node_port=previous) if patch else port)
        if ports != list(spec.ports):
            changes["ports"] = tuple(ports)
    return attrs.evolve(spec, **changes) if changes else spec


def _drop_type_dependent_fields(spec: ServiceSpec, old: ServiceSpec) -> ServiceSpec:
    """Clear what the old type needed and the new one does not, unless the client changed it.

    Leaving NodePort for ClusterIP drops the (unchanged) node ports; becoming ExternalName drops the
    (unchanged) ClusterIP (strategy.go dropTypeDependentFields).
    """
    changes: dict[str, Any] = {}
    same_node_ports = [p.node_port for p in spec.ports] == [p.node_port for p in old.ports]
    if needs_node_ports(old) and not needs_node_ports(spec) and same_node_ports:
        changes["ports"] = tuple(attrs.evolve(p, node_port=None) if p.node_port else p for p in spec.ports)
    same_cluster_ips = spec.cluster_ip == old.cluster_ip and spec.cluster_ips == old.cluster_ips
    if needs_cluster_ip(old) and not needs_cluster_ip(spec) and same_cluster_ips:
        changes.update(cluster_ip="", cluster_ips=())
    return attrs.evolve(spec, **changes) if changes else spec
