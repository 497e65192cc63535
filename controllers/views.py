"""kubectl-style views of objects: the columns ``kubectl get`` prints, as rows of strings.

Each view turns a list of objects into a header and rows, with ages in kubectl's human form (``45s``,
``3m20s``, ``5h``). Rendering (rich tables, plain text) is the caller's business; this module only
decides what each column says, the way kubectl's printers do (pkg/printers/internalversion).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from controllers.podutil import is_pod_ready
from store.models import Deployment, Endpoints, Event, Object, Pod, ReplicaSet, Service


@attrs.frozen
class View:
    """A table: column titles and rows of cells."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration, as kubectl prints ages."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    whole = int(seconds)
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def age(obj: Object, now: datetime) -> str:
    created = obj.metadata.creation_timestamp
    return "<unknown>" if created is None else human_duration((now - created).total_seconds())


def deployments(items: Sequence[Deployment], now: datetime) -> View:
    rows = tuple(
        (
            d.metadata.name,
            f"{d.status.ready_replicas}/{d.spec.replicas}",
            str(d.status.updated_replicas),
            str(d.status.available_replicas),
            age(d, now),
        )
        for d in items
    )
    return View(("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"), rows)


def replica_sets(items: Sequence[ReplicaSet], now: datetime) -> View:
    rows = tuple(
        (
            rs.metadata.name,
            str(rs.spec.replicas),
            str(rs.status.replicas),
            str(rs.status.ready_replicas),
            age(rs, now),
        )
        for rs in items
    )
    return View(("NAME", "DESIRED", "CURRENT", "READY", "AGE"), rows)


def pod_status(pod: Pod) -> str:
    """The STATUS column: a waiting or terminated container's reason wins over the phase, as kubectl."""
    if pod.metadata.deletion_timestamp is not None:
        return "Terminating"
    reason = pod.status.reason or pod.status.phase or "Pending"
    for container in pod.status.container_statuses:
        state = container.state
        if state.waiting is not None and state.waiting.reason:
            reason = state.waiting.reason
        elif state.terminated is not None and state.terminated.reason:
            reason = state.terminated.reason
    return reason


def pods(items: Sequence[Pod], now: datetime) -> View:
    rows = []
    for pod in items:
        statuses = pod.status.container_statuses
        ready = sum(1 for c in statuses if c.ready) if statuses else 0
        ready_column = f"{ready}/{len(pod.spec.containers)}"
        if not statuses and is_pod_ready(pod):
            ready_column = f"{len(pod.spec.containers)}/{len(pod.spec.containers)}"
        restarts = sum(c.restart_count for c in statuses)
        rows.append(
            (
                pod.metadata.name,
                ready_column,
                pod_status(pod),
                str(restarts),
                age(pod, now),
                pod.status.pod_ip or "<none>",
                pod.spec.node_name or "<none>",
            )
        )
    return View(("NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"), tuple(rows))


def services(items: Sequence[Service], now: datetime) -> View:
    rows = []
    for service in items:
        spec = service.spec
        ports = ",".join(
            f"{p.port}:{p.node_port}/{p.protocol}" if p.node_port else f"{p.port}/{p.protocol}"
            for p in spec.ports
        )
        external = ",".join(spec.external_ips) or ("<pending>" if spec.type == "LoadBalancer" else "<none>")
        rows.append(
            (
                service.metadata.name,
                spec.type,
                spec.cluster_ip or "<none>",
                external,
                ports or "<none>",
                age(service, now),
            )
        )
    return View(("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"), tuple(rows))


def endpoints(items: Sequence[Endpoints], now: datetime) -> View:
    rows = []
    for endpoint in items:
        addresses: list[str] = []
        for subset in endpoint.subsets:
            if not subset.ports:
                addresses.extend(address.ip for address in subset.addresses)
            for port in subset.ports:
                addresses.extend(f"{address.ip}:{port.port}" for address in subset.addresses)
        shown = ",".join(addresses[:3])
        if len(addresses) > 3:
            shown += f" + {len(addresses) - 3} more..."
        rows.append((endpoint.metadata.name, shown or "<none>", age(endpoint, now)))
    return View(("NAME", "ENDPOINTS", "AGE"), tuple(rows))


def events(items: Sequence[Event], now: datetime) -> View:
    rows = []
    for event in items:
        last = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
        seen = human_duration((now - last).total_seconds()) if last is not None else "<unknown>"
        involved = event.involved_object
        rows.append(
            (
                seen,
                event.type,
                event.reason,
                f"{involved.kind.lower()}/{involved.name}",
                event.message,
            )
        )
    return View(("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"), tuple(rows))
