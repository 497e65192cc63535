"""kubectl-style views of objects: the columns ``kubectl get`` prints, as rows of strings.

Each view turns a list of objects into a header and rows, with ages in kubectl's human form (``45s``,
``3m20s``, ``5h``). Rendering (rich tables, plain text) is the caller's business; this module only
decides what each column says, the way kubectl's printers do (pkg/printers/internalversion).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import attrs

from controllers.podutil import is_pod_ready
from store.models import (
    ConfigMap,
    Deployment,
    Endpoints,
    Event,
    LabelSelector,
    Lease,
    Namespace,
    Node,
    Object,
    Pod,
    PodTemplateSpec,
    ReplicaSet,
    Secret,
    Service,
)


@attrs.frozen
class View:
    """A table: column titles and rows of cells."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def tabulate(text: str, *, padding: int = 2, min_width: int = 0) -> str:
    """Go's text/tabwriter with padchar ' ': tab-terminated cells aligned in blocks.

    A column block is a run of consecutive lines that all have a tab-terminated cell in that column; each
    cell of the block is padded to the block's widest cell plus ``padding`` (at least ``min_width``).
    ``kubectl describe`` writes with padding 2; ``kubectl get`` tables with padding 3 and min_width 6.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    widths: list[int] = []
    out: list[str] = []

    def write(start: int, end: int) -> None:
        for line in lines[start:end]:
            cells = [cell.ljust(widths[j]) if j < len(line) - 1 else cell for j, cell in enumerate(line)]
            out.append("".join(cells).rstrip() if len(line) > 1 else line[0])

    def block(start: int, end: int) -> int:
        column = len(widths)
        this = start
        while this < end:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(start, this)
            start = this
            width = min_width
            while this < end and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            block(start, this)
            widths.pop()
            start = this
        write(start, end)
        return end

    block(0, len(lines))
    return "\n".join(out)


def render(view: View) -> str:
    """The table as ``kubectl get`` prints it (text/tabwriter: padding 3, minimum width 6)."""
    lines = ["\t".join(view.columns), *("\t".join(row) for row in view.rows)]
    return tabulate("\n".join(lines), padding=3, min_width=6)


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


def format_selector(selector: LabelSelector | None) -> str:
    """metav1.FormatLabelSelector: ``app=web,tier in (a,b)``; ``<none>`` for no selector."""
    if selector is None:
        return "<none>"
    parts = [f"{key}={value}" for key, value in sorted(selector.match_labels.items())]
    for requirement in selector.match_expressions:
        operator = requirement.operator
        if operator in ("In", "NotIn"):
            values = ",".join(requirement.values)
            parts.append(f"{requirement.key} {operator.lower()} ({values})")
        elif operator == "Exists":
            parts.append(requirement.key)
        else:
            parts.append(f"!{requirement.key}")
    return ",".join(parts) or "<none>"


def format_labels(labels: Mapping[str, str]) -> str:
    """``a=1,b=2`` (sorted), or ``<none>``."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items())) or "<none>"


def _containers_and_images(template: PodTemplateSpec) -> tuple[str, str]:
    containers = template.spec.containers
    return ",".join(c.name for c in containers), ",".join(c.image for c in containers)


def deployments(items: Sequence[Deployment], now: datetime, *, wide: bool = False) -> View:
    columns: tuple[str, ...] = ("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE")
    rows = []
    for d in items:
        row: tuple[str, ...] = (
            d.metadata.name,
            f"{d.status.ready_replicas}/{d.spec.replicas}",
            str(d.status.updated_replicas),
            str(d.status.available_replicas),
            age(d, now),
        )
        if wide:
            row += (*_containers_and_images(d.spec.template), format_selector(d.spec.selector))
        rows.append(row)
    if wide:
        columns += ("CONTAINERS", "IMAGES", "SELECTOR")
    return View(columns, tuple(rows))


def replica_sets(items: Sequence[ReplicaSet], now: datetime, *, wide: bool = False) -> View:
    columns: tuple[str, ...] = ("NAME", "DESIRED", "CURRENT", "READY", "AGE")
    rows = []
    for rs in items:
        row: tuple[str, ...] = (
            rs.metadata.name,
            str(rs.spec.replicas),
            str(rs.status.replicas),
            str(rs.status.ready_replicas),
            age(rs, now),
        )
        if wide:
            row += (*_containers_and_images(rs.spec.template), format_selector(rs.spec.selector))
        rows.append(row)
    if wide:
        columns += ("CONTAINERS", "IMAGES", "SELECTOR")
    return View(columns, tuple(rows))


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


def pods(items: Sequence[Pod], now: datetime, *, wide: bool = False) -> View:
    rows = []
    for pod in items:
        statuses = pod.status.container_statuses
        ready = sum(1 for c in statuses if c.ready) if statuses else 0
        ready_column = f"{ready}/{len(pod.spec.containers)}"
        if not statuses and is_pod_ready(pod):
            ready_column = f"{len(pod.spec.containers)}/{len(pod.spec.containers)}"
        restarts = sum(c.restart_count for c in statuses)
        row: tuple[str, ...] = (
            pod.metadata.name,
            ready_column,
            pod_status(pod),
            str(restarts),
            age(pod, now),
        )
        if wide:
            row += (
                pod.status.pod_ip or "<none>",
                pod.spec.node_name or "<none>",
                pod.status.nominated_node_name or "<none>",
                "<none>",
            )
        rows.append(row)
    columns: tuple[str, ...] = ("NAME", "READY", "STATUS", "RESTARTS", "AGE")
    if wide:
        columns += ("IP", "NODE", "NOMINATED NODE", "READINESS GATES")
    return View(columns, tuple(rows))


def services(items: Sequence[Service], now: datetime, *, wide: bool = False) -> View:
    rows = []
    for service in items:
        spec = service.spec
        ports = ",".join(
            f"{p.port}:{p.node_port}/{p.protocol}" if p.node_port else f"{p.port}/{p.protocol}"
            for p in spec.ports
        )
        external = ",".join(spec.external_ips) or ("<pending>" if spec.type == "LoadBalancer" else "<none>")
        row: tuple[str, ...] = (
            service.metadata.name,
            spec.type,
            spec.cluster_ip or "<none>",
            external,
            ports or "<none>",
            age(service, now),
        )
        if wide:
            row += (format_labels(spec.selector),)
        rows.append(row)
    columns: tuple[str, ...] = ("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE")
    if wide:
        columns += ("SELECTOR",)
    return View(columns, tuple(rows))


def endpoint_addresses(endpoint: Endpoints) -> list[str]:
    """The ready ``ip:port`` pairs of the ENDPOINTS column, in subset order."""
    addresses: list[str] = []
    for subset in endpoint.subsets:
        if not subset.ports:
            addresses.extend(address.ip for address in subset.addresses)
        for port in subset.ports:
            addresses.extend(f"{address.ip}:{port.port}" for address in subset.addresses)
    return addresses


def endpoints(items: Sequence[Endpoints], now: datetime, *, wide: bool = False) -> View:
    rows = []
    for endpoint in items:
        addresses = endpoint_addresses(endpoint)
        shown = ",".join(addresses[:3])
        if len(addresses) > 3:
            shown += f" + {len(addresses) - 3} more..."
        rows.append((endpoint.metadata.name, shown or "<none>", age(endpoint, now)))
    return View(("NAME", "ENDPOINTS", "AGE"), tuple(rows))


def events(items: Sequence[Event], now: datetime, *, wide: bool = False) -> View:
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


def node_status(node: Node) -> str:
    """The STATUS column of a node: Ready / NotReady (/ Unknown), then SchedulingDisabled when cordoned."""
    ready = next((c for c in node.status.conditions if c.type == "Ready"), None)
    status = ["Unknown" if ready is None else "Ready" if ready.status == "True" else "NotReady"]
    if node.spec.unschedulable:
        status.append("SchedulingDisabled")
    return ",".join(status)


def node_roles(node: Node) -> str:
    roles = sorted(
        key.removeprefix("node-role.kubernetes.io/")
        for key in node.metadata.labels
        if key.startswith("node-role.kubernetes.io/")
    )
    return ",".join(role for role in roles if role) or "<none>"


def nodes(items: Sequence[Node], now: datetime, *, wide: bool = False) -> View:
    rows = []
    for node in items:
        info = node.status.extra.get("nodeInfo", {})
        row: tuple[str, ...] = (
            node.metadata.name,
            node_status(node),
            node_roles(node),
            age(node, now),
            str(info.get("kubeletVersion", "")) or "<none>",
        )
        if wide:
            addresses = {a.type: a.address for a in node.status.addresses}
            row += (addresses.get("InternalIP", "<none>"), addresses.get("ExternalIP", "<none>"))
        rows.append(row)
    columns: tuple[str, ...] = ("NAME", "STATUS", "ROLES", "AGE", "VERSION")
    if wide:
        columns += ("INTERNAL-IP", "EXTERNAL-IP")
    return View(columns, tuple(rows))


def namespaces(items: Sequence[Namespace], now: datetime, *, wide: bool = False) -> View:
    rows = tuple((ns.metadata.name, ns.status.phase or "Active", age(ns, now)) for ns in items)
    return View(("NAME", "STATUS", "AGE"), rows)


def config_maps(items: Sequence[ConfigMap], now: datetime, *, wide: bool = False) -> View:
    rows = tuple((cm.metadata.name, str(len(cm.data) + len(cm.binary_data)), age(cm, now)) for cm in items)
    return View(("NAME", "DATA", "AGE"), rows)


def secrets(items: Sequence[Secret], now: datetime, *, wide: bool = False) -> View:
    rows = tuple((s.metadata.name, s.type, str(len(s.data) + len(s.string_data)), age(s, now)) for s in items)
    return View(("NAME", "TYPE", "DATA", "AGE"), rows)


def leases(items: Sequence[Lease], now: datetime, *, wide: bool = False) -> View:
    rows = tuple((lease.metadata.name, lease.spec.holder_identity or "", age(lease, now)) for lease in items)
    return View(("NAME", "HOLDER", "AGE"), rows)


def generic(items: Sequence[Object], now: datetime, *, wide: bool = False) -> View:
    """Any other kind: NAME and AGE, as kubectl's default table."""
    return View(("NAME", "AGE"), tuple((obj.metadata.name, age(obj, now)) for obj in items))


#: The view of each built-in kind (`generic` for the rest).
BY_KIND: Mapping[type[Object], Callable[..., View]] = {
    Deployment: deployments,
    ReplicaSet: replica_sets,
    Pod: pods,
    Service: services,
    Endpoints: endpoints,
    Event: events,
    Node: nodes,
    Namespace: namespaces,
    ConfigMap: config_maps,
    Secret: secrets,
    Lease: leases,
}


def view_of(kind: type[Object], items: Sequence[Object], now: datetime, *, wide: bool = False) -> View:
    """The ``kubectl get`` table of ``items`` (all of ``kind``)."""
    return BY_KIND.get(kind, generic)(items, now, wide=wide)
