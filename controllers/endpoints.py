"""The Endpoints controller: for each Service with a selector, an Endpoints object listing its pods.

A port of pkg/controller/endpoint/endpoints_controller.go with the helpers it leans on:
``ShouldPodBeInEndpoints`` and the pod-update filter of staging/src/k8s.io/endpointslice/util,
``podutil.FindPort`` and ``RepackSubsets`` of pkg/api/v1/endpoints. One sync of a Service:

1. a Service that is gone takes its Endpoints with it; ExternalName and selector-less Services are left
   alone (their Endpoints, if any, are someone else's);
2. every pod its selector matches that should be in endpoints (not terminal, has an IP, not terminating
   unless ``publishNotReadyAddresses``) becomes an address — ready pods (all pods, with
   ``publishNotReadyAddresses``) in ``addresses``, the rest in ``notReadyAddresses`` — with its node
   name and a ``targetRef`` to the pod, once per service port whose target port the pod has (a named
   target port is looked up in the pod's container ports; a pod without it is skipped for that port);
3. the subsets are repacked into canonical form and, past 1000 addresses, truncated (ready ones first)
   with the ``endpoints.kubernetes.io/over-capacity: truncated`` annotation;
4. the Endpoints is written only if its subsets, its labels (the Service's, plus
   ``service.kubernetes.io/headless`` for a headless Service) or the capacity annotation differ.

Canonical order (upstream sorts ports and subsets by a hash of their Go representation, which has no
meaning here): addresses by IP string then target uid, ports by name, number and protocol, subsets by
their ports then addresses. At start every Endpoints whose Service is missing is queued, so leftovers
from a Service deleted while the controller was down are removed (leader-election Endpoints excepted).
A sync reuses each pod's part of step 2 from the Service's last sync while the informer still holds the
very same pod and Service objects (they are immutable), so it computes addresses only for changed pods.
The ``endpoints.kubernetes.io/last-change-trigger-time`` annotation is not maintained.
This module does not allocate Service addresses: that is the store's job (`store.allocation`).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import anyio
import anyio.abc
import attrs
import structlog

from controllers.events import WARNING, EventRecorder
from controllers.podutil import FAILED, SUCCEEDED, is_pod_ready
from reconcile import Controller, Manager, Request, Result
from reconcile.informer import DeletedFinalStateUnknown, final_state
from store import Forbidden, FrozenDict, NotFound, StoreError
from store.models import (
    EndpointAddress,
    EndpointPort,
    Endpoints,
    EndpointSubset,
    ObjectMeta,
    ObjectReference,
    Pod,
    Service,
    ServicePort,
)

COMPONENT = "endpoint-controller"
#: How often a failing Service is retried before it is dropped from the queue.
MAX_RETRIES = 15
#: The most addresses one Endpoints object holds.
MAX_CAPACITY = 1000

OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"
TRUNCATED = "truncated"
HEADLESS_LABEL = "service.kubernetes.io/headless"
#: Endpoints carrying this annotation are leader-election locks, not a Service's endpoints.
LEADER_ELECTION_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"

FAILED_TO_CREATE_ENDPOINT = "FailedToCreateEndpoint"
FAILED_TO_UPDATE_ENDPOINT = "FailedToUpdateEndpoint"

CLUSTER_IP_NONE = "None"

log = structlog.get_logger("setpoint.endpoints")


# --- which pods, which addresses, which ports ----------------------------------------------------


def should_pod_be_in_endpoints(pod: Pod, include_terminating: bool) -> bool:
    """Not terminal, has an IP, and not terminating unless that is asked for (ShouldPodBeInEndpoints)."""
    status = pod.status
    if status.phase in (SUCCEEDED, FAILED):
        return False
    if not status.pod_ip and not status.pod_ips:
        return False
    return include_terminating or pod.metadata.deletion_timestamp is None


def is_service_ip_set(service: Service) -> bool:
    """Whether the Service has a ClusterIP (is not headless)."""
    return service.spec.cluster_ip not in ("", CLUSTER_IP_NONE)


def _is_ipv6(ip: str) -> bool:
    if ":" not in ip:
        return False  # an IPv4 address, or no address at all: either way not IPv6, and no parse needed
    try:
        return ipaddress.ip_address(ip).version == 6
    except ValueError:
        return False


def pod_to_endpoint_address(service: Service, pod: Pod) -> EndpointAddress | None:
    """The pod's address of the Service's IP family, or None if it has none (podToEndpointAddressForService).

    The family is the ClusterIP's, or for a headless Service the pod's primary IP's.
    """
    family_ip = service.spec.cluster_ip if is_service_ip_set(service) else pod.status.pod_ip
    want_ipv6 = _is_ipv6(family_ip)
    # The apiserver mirrors podIP into podIPs; a hand-written status may carry only podIP.
    pod_ips = [entry.ip for entry in pod.status.pod_ips] or [pod.status.pod_ip]
    ip = next((candidate for candidate in pod_ips if _is_ipv6(candidate) == want_ipv6), "")
    if not ip:
        return None
    meta = pod.metadata
    hostname = pod.spec.extra.get("hostname", "")
    subdomain = pod.spec.extra.get("subdomain", "")
    sets_hostname = bool(hostname) and subdomain == service.metadata.name  # ShouldSetHostname
    return EndpointAddress(
        ip=ip,
        hostname=hostname if sets_hostname and meta.namespace == service.metadata.namespace else "",
        node_name=pod.spec.node_name,
        target_ref=ObjectReference(kind="Pod", namespace=meta.namespace, name=meta.name, uid=meta.uid),
    )


def find_port(pod: Pod, service_port: ServicePort) -> int | None:
    """The pod's port for ``service_port``: a named target port looked up in its containers (FindPort)."""
    target = service_port.target_port
    if target is None:
        return service_port.port
    if isinstance(target, int):
        return target
    for container in pod.spec.containers:
        for port in container.ports:
            if port.name == target and port.protocol == service_port.protocol:
                return port.container_port
    return None


def endpoint_port(service_port: ServicePort, number: int) -> EndpointPort:
    return EndpointPort(
        name=service_port.name,
        port=number,
        protocol=service_port.protocol,
        app_protocol=service_port.app_protocol,
    )


_AddressKey = tuple[str, str]
_PortKey = tuple[str, int, str, str]
#: A port an address is listed for, with its canonical key (both None: a headless Service without ports).
_Served = tuple[_PortKey | None, EndpointPort | None]
#: One pod's part in a Service's endpoints: its address's key, the address, whether it is listed as ready,
#: and the ports it is listed for (at least one).
_Part = tuple[_AddressKey, EndpointAddress, bool, tuple[_Served, ...]]
#: The ports a pod serves, by the number `find_port` gave for each service port (None: not served).
_ServedByNumbers = dict[tuple[int | None, ...], tuple[_Served, ...]]

_HEADLESS_NO_PORTS: tuple[_Served, ...] = ((None, None),)


def _pod_part(service: Service, pod: Pod, served_by_numbers: _ServedByNumbers) -> _Part | None:
    """The pod's part in the Service's endpoints, or None if it has none (one pod of syncService's loop).

    ``served_by_numbers`` remembers the Service's ports for each combination of pod port numbers, so
    the pods of one Service share their `EndpointPort` objects; it belongs to that Service object.
    """
    spec = service.spec
    tolerate_unready = spec.publish_not_ready_addresses
    if not should_pod_be_in_endpoints(pod, tolerate_unready):
        return None
    address = pod_to_endpoint_address(service, pod)
    if address is None:
        log.debug("no endpoint address of the service's family", pod=pod.metadata.name)
        return None
    ready = tolerate_unready or is_pod_ready(pod)
    if not spec.ports:
        # A headless Service may have no ports: its pods are listed all the same.
        if spec.cluster_ip != CLUSTER_IP_NONE:
            return None
        return (_address_key(address), address, ready, _HEADLESS_NO_PORTS)
    numbers: list[int | None] = []
    for service_port in spec.ports:
        number = find_port(pod, service_port)
        if number is None:
            log.debug("failed to find port for service", pod=pod.metadata.name, port=service_port.name)
        numbers.append(number)
    served = served_by_numbers.get(tuple(numbers))
    if served is None:
        ports = [
            endpoint_port(service_port, number)
            for service_port, number in zip(spec.ports, numbers, strict=True)
            if number is not None
        ]
        served = served_by_numbers[tuple(numbers)] = tuple((_port_order(port), port) for port in ports)
    if not served:
        return None
    return (_address_key(address), address, ready, served)


def subsets_for(service: Service, pods: Iterable[Pod]) -> tuple[EndpointSubset, ...]:
    """The repacked subsets the Service's selected ``pods`` give (the body of syncService)."""
    served_by_numbers: _ServedByNumbers = {}
    parts = (_pod_part(service, pod, served_by_numbers) for pod in pods)
    return _pack(part for part in parts if part is not None)


# --- canonical form -----------------------------------------------------------------------------


def _address_key(address: EndpointAddress) -> _AddressKey:
    """Addresses are the same if IP and target uid are (an address without a target has uid "")."""
    return (address.ip, address.target_ref.uid if address.target_ref is not None else "")


def _address_order(address: EndpointAddress) -> tuple[str, bool, str]:
    """LessEndpointAddress: IP as a string, then no target before a target, then target uid."""
    ref = address.target_ref
    return (address.ip, ref is not None, ref.uid if ref is not None else "")


def _port_order(port: EndpointPort) -> _PortKey:
    return (port.name, port.port, port.protocol, port.app_protocol or "")


def repack_subsets(subsets: Sequence[EndpointSubset]) -> tuple[EndpointSubset, ...]:
    """The subsets in canonical form: each distinct set of addresses once, with every port it serves.

    An address listed for one port as both ready and not ready is not ready (not ready trumps ready);
    subsets without ports are kept (a headless Service's). Ports, addresses and subsets are sorted.
    """
    return _pack(
        (_address_key(address), address, ready, ((None if port is None else _port_order(port), port),))
        for subset in subsets
        for port in subset.ports or (None,)
        for addresses, ready in ((subset.addresses, True), (subset.not_ready_addresses, False))
        for address in addresses
    )


def _pack(parts: Iterable[_Part]) -> tuple[EndpointSubset, ...]:
    """`repack_subsets` of the subsets the ``parts`` stand for, in that order."""
    addresses: dict[_AddressKey, EndpointAddress] = {}
    ports: dict[_PortKey | None, EndpointPort | None] = {}
    readiness: dict[_PortKey | None, dict[_AddressKey, bool]] = {}
    for key, address, ready, served in parts:
        if key not in addresses:
            addresses[key] = address  # the first address of a key stands for all of them
        for port_key, port in served:
            by_address = readiness.get(port_key)
            if by_address is None:
                ports[port_key] = port
                by_address = readiness[port_key] = {}
            if by_address.get(key, True):
                by_address[key] = ready

    # Ports whose addresses have the same readiness share a subset. Address keys are unique, so the
    # members sort by key alone, and for distinct keys that is the order of `_address_order`.
    groups: dict[tuple[tuple[_AddressKey, bool], ...], list[EndpointPort]] = {}
    for port_key, by_address in readiness.items():
        group = groups.setdefault(tuple(sorted(by_address.items())), [])
        port = ports[port_key]
        if port is not None:
            group.append(port)

    packed = [
        EndpointSubset(
            addresses=tuple([addresses[key] for key, ok in members if ok]),
            not_ready_addresses=tuple([addresses[key] for key, ok in members if not ok]),
            ports=tuple(sorted(group_ports, key=_port_order)),
        )
        for members, group_ports in groups.items()
    ]
    if len(packed) > 1:
        packed.sort(key=_subset_order)
    return tuple(packed)


def _subset_order(subset: EndpointSubset) -> tuple[Any, ...]:
    return (
        [_port_order(port) for port in subset.ports],
        [_address_order(address) for address in subset.addresses],
        [_address_order(address) for address in subset.not_ready_addresses],
    )


def truncate_subsets(subsets: Sequence[EndpointSubset]) -> tuple[tuple[EndpointSubset, ...], bool]:
    """At most `MAX_CAPACITY` addresses, ready ones kept first, spread over the subsets in proportion.

    Returns the subsets and whether anything was cut (truncateEndpoints).
    """
    total_ready = sum(len(subset.addresses) for subset in subsets)
    total_not_ready = sum(len(subset.not_ready_addresses) for subset in subsets)
    if total_ready + total_not_ready <= MAX_CAPACITY:
        return tuple(subsets), False
    truncate_ready = total_ready > MAX_CAPACITY
    limit = MAX_CAPACITY if truncate_ready else MAX_CAPACITY - total_ready
    total = total_ready if truncate_ready else total_not_ready
    room = limit
    truncated = []
    for subset in subsets:
        in_subset = len(subset.addresses) if truncate_ready else len(subset.not_ready_addresses)
        # Proportional shares rounded up: the last subsets may get less than their share.
        share = min(math.ceil(in_subset / total * limit), room)
        if truncate_ready:
            kept = subset.addresses[:share]
            truncated.append(attrs.evolve(subset, addresses=kept, not_ready_addresses=()))
        else:
            kept = subset.not_ready_addresses[:share]
            truncated.append(attrs.evolve(subset, not_ready_addresses=kept))
        room -= len(kept)
    return tuple(truncated), True


def _capacity_annotation_correct(endpoints: Endpoints) -> bool:
    count = sum(len(s.addresses) + len(s.not_ready_addresses) for s in endpoints.subsets)
    return count <= MAX_CAPACITY and OVER_CAPACITY_ANNOTATION not in endpoints.metadata.annotations


# --- which pod changes matter ---------------------------------------------------------------------


def pod_endpoints_changed(old: Pod, new: Pod) -> tuple[bool, bool]:
    """(the pod's address may have changed, the Services it matches may have) (podEndpointsChanged)."""
    labels_changed = old.metadata.labels != new.metadata.labels or (
        old.spec.extra.get("hostname") != new.spec.extra.get("hostname")
        or old.spec.extra.get("subdomain") != new.spec.extra.get("subdomain")
    )
    if old.metadata.deletion_timestamp != new.metadata.deletion_timestamp:
        return True, labels_changed
    if is_pod_ready(old) != is_pod_ready(new):
        return True, labels_changed
    # Phase matters too: a terminal pod leaves the endpoints (upstream catches it through readiness).
    if old.status.phase != new.status.phase:
        return True, labels_changed
    old_ips = [entry.ip for entry in old.status.pod_ips] or [old.status.pod_ip]
    new_ips = [entry.ip for entry in new.status.pod_ips] or [new.status.pod_ip]
    return old_ips != new_ips, labels_changed


def selects(service: Service, labels: Mapping[str, str]) -> bool:
    """Whether the Service's selector matches ``labels`` (an empty selector selects nothing here)."""
    selector = service.spec.selector
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


# --- indexes: which Services a pod may be in, which pods a Service may select ---------------------

#: Pods by each of their labels, Services by each pair of their selector: ``namespace/key=value``.
POD_LABEL_INDEX = "endpoints:label"
SERVICE_SELECTOR_INDEX = "endpoints:selector"


def _pair(namespace: str, key: str, value: str) -> str:
    # "/" cannot appear in a namespace and "=" cannot appear in a label key: the pair is unambiguous.
    return f"{namespace}/{key}={value}"


def index_by_label_pairs(pod: Pod) -> tuple[str, ...]:
    """Every ``namespace/key=value`` pair of the pod's labels."""
    return _label_pairs(pod.metadata.namespace, pod.metadata.labels)


@functools.lru_cache(maxsize=4096)
def _label_pairs(namespace: str, labels: FrozenDict[str, str]) -> tuple[str, ...]:
    # The informer indexes a pod anew, and its old self again, on each of its updates, which seldom
    # change its labels; and the pods of one template have the same labels.
    return tuple(_pair(namespace, key, value) for key, value in labels.items())


def index_by_selector_pairs(service: Service) -> tuple[str, ...]:
    """Every ``namespace/key=value`` pair of the Service's selector (none for a selector-less one)."""
    namespace = service.metadata.namespace
    return tuple(_pair(namespace, key, value) for key, value in service.spec.selector.items())


# --- the controller -------------------------------------------------------------------------------


class StaleCache(Exception):
    """The cached Endpoints is one this controller has already replaced: wait for the cache to catch up."""


class EndpointsController(Controller):
    """Reconciles Services into Endpoints (pkg/controller/endpoint).

    ``batch_period`` delays the sync a pod change triggers (--endpoint-updates-batch-period, default 0),
    so a burst of pod changes costs one write.
    """

    def __init__(self, manager: Manager, *, workers: int = 5, batch_period: float = 0.0) -> None:
        super().__init__("endpoint", self, kind=Service, workers=workers, max_retries=MAX_RETRIES)
        self._store = manager.store
        self._recorder = EventRecorder(manager.store, manager.clock, COMPONENT)
        self._services = manager.informer(Service)
        self._pods = manager.informer(Pod)
        self._endpoints = manager.informer(Endpoints)
        self._batch_period = batch_period
        # A pod is looked up by its labels, a Service's pods by its selector: no scan of the namespace.
        self._pods.ensure_index(POD_LABEL_INDEX, index_by_label_pairs)
        self._services.ensure_index(SERVICE_SELECTOR_INDEX, index_by_selector_pairs)
        # The resourceVersion each Endpoints had before our last write to it (staleEndpointsTracker).
        self._stale_versions: dict[tuple[str, str], str] = {}
        # Each Service's pods' parts in its endpoints, from its last sync.
        self._parts: dict[tuple[str, str], _ServiceParts] = {}
        self._pods.add_handler(_Handler(self.on_pod_added, self.on_pod_updated, self.on_pod_deleted))
        self._endpoints.add_handler(_Handler(_ignore_add, _ignore_update, self.on_endpoints_deleted))

    async def run(
        self,
        manager: Manager,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run the controller, then queue every leftover Endpoints once it is started."""
        async with anyio.create_task_group() as tg:
            await tg.start(super().run, manager)
            self.check_leftover_endpoints()
            task_status.started()

    @property
    def kept_parts(self) -> int:
        """How many pods' parts are kept from the last syncs: at most the pods the Services selected."""
        return sum(len(parts.pods) for parts in self._parts.values())

    def check_leftover_endpoints(self) -> None:
        """Queue every Endpoints without a Service, so its sync deletes it (leader-election locks aside)."""
        for endpoints in self._endpoints.list():
            meta = endpoints.metadata
            if LEADER_ELECTION_ANNOTATION in meta.annotations:
                continue
            if self._services.get(meta.name, meta.namespace) is None:
                self._enqueue([Request(meta.namespace, meta.name)])

    # --- events -------------------------------------------------------------------------------

    def services_for(self, namespace: str, labels: Mapping[str, str]) -> list[Request]:
        """The Services of the namespace whose selector matches ``labels``, in key order.

        A matching selector holds at least one of the labels, so the candidates are the Services
        indexed under the labels' pairs (GetPodServiceMemberships without listing the namespace).
        """
        found: dict[str, None] = {}
        for key, value in labels.items():
            for service in self._services.by_index(SERVICE_SELECTOR_INDEX, _pair(namespace, key, value)):
                name = service.metadata.name
                if name not in found and selects(service, labels):
                    found[name] = None
        return [Request(namespace, name) for name in sorted(found)]

    def pods_for(self, service: Service) -> list[Pod]:
        """The pods the Service's selector matches, in key order (none for an empty selector).

        Looked up under the selector's pair with the fewest pods, then checked against the whole
        selector.
        """
        namespace = service.metadata.namespace
        selector = service.spec.selector
        candidates: list[Pod] | None = None
        for key, value in selector.items():
            pods = self._pods.by_index(POD_LABEL_INDEX, _pair(namespace, key, value))
            if candidates is None or len(pods) < len(candidates):
                candidates = pods
            if not candidates:
                break
        if candidates is None:
            return []
        if len(selector) == 1:
            return candidates  # the pods under the selector's only pair are the pods it selects
        return [pod for pod in candidates if selects(service, pod.metadata.labels)]

    def on_pod_added(self, pod: Pod) -> None:
        self._enqueue(self.services_for(pod.metadata.namespace, pod.metadata.labels), batch=True)

    def on_pod_updated(self, old: Pod, new: Pod) -> None:
        """Queue the Services whose endpoints the change can affect (GetServicesToUpdateOnPodChange)."""
        if old.metadata.resource_version == new.metadata.resource_version:
            return  # a resync: the Service informer's own resync covers it
        pod_changed, labels_changed = pod_endpoints_changed(old, new)
        if not pod_changed and not labels_changed:
            return
        namespace = new.metadata.namespace
        services = dict.fromkeys(self.services_for(namespace, new.metadata.labels))
        if labels_changed:
            before = dict.fromkeys(self.services_for(namespace, old.metadata.labels))
            if pod_changed:
                services.update(before)
            else:
                # Only membership changed: the Services it stays in see the same address.
                services = {r: None for r in {**services, **before} if (r in services) != (r in before)}
        self._enqueue(sorted(services), batch=True)

    def on_pod_deleted(self, obj: Pod | DeletedFinalStateUnknown[Any]) -> None:
        self.on_pod_added(final_state(obj))

    def on_endpoints_deleted(self, obj: Endpoints | DeletedFinalStateUnknown[Any]) -> None:
        """An Endpoints deleted under its Service is recreated by the Service's next sync."""
        meta = final_state(obj).metadata
        self._enqueue([Request(meta.namespace, meta.name)])

    def _enqueue(self, requests: Iterable[Request], *, batch: bool = False) -> None:
        try:
            queue = self.queue
        except RuntimeError:
            return  # not running: a start queues every Service anyway
        for request in requests:
            if batch and self._batch_period > 0:
                queue.add_after(request, self._batch_period)
            else:
                queue.add(request)

    # --- sync ---------------------------------------------------------------------------------

    async def reconcile(self, request: Request) -> Result | None:
        namespace, name = request
        key = (namespace, name)
        service = self._services.get(name, namespace)
        if service is None:
            self._parts.pop(key, None)
            with contextlib.suppress(NotFound):
                await self._store.delete(Endpoints, name, namespace)
            self._stale_versions.pop(key, None)
            return None
        if service.spec.type == "ExternalName" or not service.spec.selector:
            self._parts.pop(key, None)
            return None
        subsets = self._subsets_for(key, service, self.pods_for(service))
        current = self._endpoints.get(name, namespace)
        if current is not None and self._stale_versions.get(key) == current.metadata.resource_version:
            raise StaleCache(
                f"endpoints informer cache is out of date, resource version"
                f" {current.metadata.resource_version} already processed for endpoints {namespace}/{name}"
            )
        service_labels = service.metadata.labels
        if current is not None:
            labels = {k: v for k, v in current.metadata.labels.items() if k != HEADLESS_LABEL}
            if (
                current.subsets == subsets
                and labels == service_labels
                and _capacity_annotation_correct(current)
            ):
                return None
        desired = self._desired(service, current, subsets)
        await self._write(service, current, desired)
        return None

    def _subsets_for(
        self, key: tuple[str, str], service: Service, pods: list[Pod]
    ) -> tuple[EndpointSubset, ...]:
        """`subsets_for`, reusing each pod's part from the last sync while neither pod nor Service changed.

        A part is a function of the pod and the Service alone, both immutable: while the informer holds
        the very objects a part was computed from, it still holds. Only the pods of this sync are kept,
        so a pod deleted or no longer selected is forgotten at the Service's next sync (which its
        deletion or relabelling queues), and a Service's parts go with the Service.
        """
        cached = self._parts.get(key)
        if cached is None or cached.service is not service:
            cached = self._parts[key] = _ServiceParts(service)
        known = cached.pods
        parts: list[_Part] = []
        for pod in pods:
            name = pod.metadata.name
            entry = known.get(name)
            if entry is None or entry[0] is not pod:
                entry = known[name] = (pod, _pod_part(service, pod, cached.served_by_numbers))
            part = entry[1]
            if part is not None:
                parts.append(part)
        if len(known) > len(pods):
            cached.pods = {pod.metadata.name: known[pod.metadata.name] for pod in pods}
        return _pack(parts)

    def _desired(
        self, service: Service, current: Endpoints | None, subsets: tuple[EndpointSubset, ...]
    ) -> Endpoints:
        subsets, truncated = truncate_subsets(subsets)
        labels = dict(service.metadata.labels)
        if not is_service_ip_set(service):
            labels[HEADLESS_LABEL] = ""
        meta = (
            current.metadata
            if current is not None
            else ObjectMeta(name=service.metadata.name, namespace=service.metadata.namespace)
        )
        annotations = {k: v for k, v in meta.annotations.items() if k != OVER_CAPACITY_ANNOTATION}
        if truncated:
            annotations[OVER_CAPACITY_ANNOTATION] = TRUNCATED
        meta = attrs.evolve(meta, labels=FrozenDict(labels), annotations=FrozenDict(annotations))
        if current is None:
            return Endpoints(metadata=meta, subsets=subsets)
        return attrs.evolve(current, metadata=meta, subsets=subsets)

    async def _write(self, service: Service, current: Endpoints | None, desired: Endpoints) -> None:
        namespace, name = service.metadata.namespace, service.metadata.name
        try:
            if current is None:
                await self._store.create(desired)
                return
            updated = await self._store.update(desired)
        except StoreError as exc:
            if current is None and isinstance(exc, Forbidden) and "being terminated" in exc.message:
                return  # the namespace is going away: creates will keep failing, drop the key
            if current is None:
                reason = FAILED_TO_CREATE_ENDPOINT
                message = f"Failed to create endpoint for service {namespace}/{name}: {exc}"
            else:
                reason = FAILED_TO_UPDATE_ENDPOINT
                message = f"Failed to update endpoint {namespace}/{name}: {exc}"
            await self._recorder.event(desired, WARNING, reason, message)
            raise
        if updated.metadata.resource_version != current.metadata.resource_version:
            self._stale_versions[(namespace, name)] = current.metadata.resource_version


class _ServiceParts:
    """The parts of the pods one Service object selected at its last sync, each with its pod object."""

    __slots__ = ("pods", "served_by_numbers", "service")

    def __init__(self, service: Service) -> None:
        self.service = service
        self.pods: dict[str, tuple[Pod, _Part | None]] = {}
        self.served_by_numbers: _ServedByNumbers = {}


class _Handler:
    """Informer notifications passed to three functions."""

    def __init__(self, on_add: Any, on_update: Any, on_delete: Any) -> None:
        self.on_add = on_add
        self.on_update = on_update
        self.on_delete = on_delete


def _ignore_add(obj: Any) -> None:
    return None


def _ignore_update(old: Any, new: Any) -> None:
    return None
