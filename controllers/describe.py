"""``kubectl describe``: an object and the events about it, laid out as kubectl's describers do.

`describe` writes the fields kubectl's describer for the kind writes (k8s.io/kubectl/pkg/describe), in
its order and with its ``Key:  value`` layout: Deployment, ReplicaSet, Pod, Node, Service and Endpoints
have their own describers; any other kind gets the common metadata. Columns are aligned the way Go's
text/tabwriter aligns kubectl's output (`views.tabulate`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from controllers import views
from controllers.deployment import util as deployment_util
from store.models import (
    Container,
    Deployment,
    Endpoints,
    Event,
    Node,
    Object,
    Pod,
    PodTemplateSpec,
    Probe,
    ReplicaSet,
    Service,
    Toleration,
)
from store.quantity import Quantity, parse_quantity


class _Writer:
    """kubectl's PrefixWriter: ``Key:\\tvalue`` lines, indented two spaces per level."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, level: int, *cells: str) -> None:
        self.lines.append("  " * level + "\t".join(cells))

    def text(self) -> str:
        return views.tabulate("\n".join(self.lines)) + "\n"


def _time(value: datetime | None) -> str:
    """RFC1123Z as kubectl prints timestamps: ``Sun, 22 Nov 2026 07:36:19 +0000``."""
    return "<unset>" if value is None else value.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _map(
    writer: _Writer, title: str, values: Mapping[str, str], *, separator: str = "=", level: int = 0
) -> None:
    """kubectl's printLabelsMultiline / printAnnotationsMultiline: one per line, or ``<none>``."""
    items = sorted(values.items())
    if not items:
        writer.line(level, f"{title}:", "<none>")
        return
    for index, (key, value) in enumerate(items):
        writer.line(level, f"{title}:" if index == 0 else "", f"{key}{separator}{value}")


def _meta(writer: _Writer, obj: Object) -> None:
    writer.line(0, "Name:", obj.metadata.name)
    writer.line(0, "Namespace:", obj.metadata.namespace)


def _events(writer: _Writer, events: Sequence[Event], now: datetime) -> None:
    if not events:
        writer.line(0, "Events:", "<none>")
        return
    writer.line(0, "Events:")
    writer.line(1, "Type", "Reason", "Age", "From", "Message")
    writer.line(1, "----", "------", "----", "----", "-------")
    for event in events:
        first = event.first_timestamp or event.event_time or event.metadata.creation_timestamp
        last = event.last_timestamp or first
        age = views.human_duration((now - last).total_seconds()) if last is not None else "<unknown>"
        if event.count > 1 and first is not None:
            age = f"{age} (x{event.count} over {views.human_duration((now - first).total_seconds())})"
        source = event.source.component + (f", {event.source.host}" if event.source.host else "")
        writer.line(1, event.type, event.reason, age, source, event.message.strip())


def _probe(probe: Probe) -> str:
    if probe.http_get is not None:
        action = probe.http_get
        url = f"{action.scheme.lower()}://{action.host}:{action.port}{action.path}"
        kind = f"http-get {url}"
    elif probe.tcp_socket is not None:
        kind = f"tcp-socket {probe.tcp_socket.host}:{probe.tcp_socket.port}"
    elif probe.exec is not None:
        kind = f"exec {list(probe.exec.command)}"
    else:
        kind = "unknown"
    return (
        f"{kind} delay={probe.initial_delay_seconds}s timeout={probe.timeout_seconds}s"
        f" period={probe.period_seconds}s #success={probe.success_threshold}"
        f" #failure={probe.failure_threshold}"
    )


def _container(writer: _Writer, container: Container, level: int, pod: Pod | None = None) -> None:
    """A container's fields at ``level``; its name one level up (in a pod template, one space less)."""
    indent = "  " * (level - 1) + ("" if pod is not None else " ")
    writer.lines.append(f"{indent}{container.name}:")
    status = None
    if pod is not None:
        status = next((s for s in pod.status.container_statuses if s.name == container.name), None)
        if status is not None and status.container_id:
            writer.line(level, "Container ID:", status.container_id)
    writer.line(level, "Image:", container.image)
    if status is not None:
        writer.line(level, "Image ID:", status.image_id)
    ports = container.ports
    if not ports:
        writer.line(level, "Port:", "<none>")
        writer.line(level, "Host Port:", "<none>")
    else:
        writer.line(level, "Port:", ", ".join(f"{p.container_port}/{p.protocol}" for p in ports))
        writer.line(level, "Host Port:", ", ".join(f"{p.host_port or 0}/{p.protocol}" for p in ports))
    if container.command:
        writer.line(level, "Command:")
        for part in container.command:
            writer.line(level + 1, part)
    if container.args:
        writer.line(level, "Args:")
        for part in container.args:
            writer.line(level + 1, part)
    if status is not None:
        state = status.state
        if state.running is not None:
            writer.line(level, "State:", "Running")
            writer.line(level + 1, "Started:", _time(state.running.started_at))
        elif state.waiting is not None:
            writer.line(level, "State:", "Waiting")
            writer.line(level + 1, "Reason:", state.waiting.reason)
        elif state.terminated is not None:
            writer.line(level, "State:", "Terminated")
            writer.line(level + 1, "Reason:", state.terminated.reason)
            writer.line(level + 1, "Exit Code:", str(state.terminated.exit_code))
        writer.line(level, "Ready:", str(status.ready))
        writer.line(level, "Restart Count:", str(status.restart_count))
    for title, resources in (
        ("Limits", container.resources.limits),
        ("Requests", container.resources.requests),
    ):
        if resources:
            writer.line(level, f"{title}:")
            for name, quantity in sorted(resources.items()):
                writer.line(level + 1, f"{name}:", str(quantity))
    for title, probe in (
        ("Liveness", container.liveness_probe),
        ("Readiness", container.readiness_probe),
        ("Startup", container.startup_probe),
    ):
        if probe is not None:
            writer.line(level, f"{title}:", _probe(probe))
    if not container.env:
        writer.line(level, "Environment:", "<none>")
    else:
        writer.line(level, "Environment:")
        for env in container.env:
            writer.line(level + 1, f"{env.name}:", _env_value(env.value, env.extra))
    writer.line(level, "Mounts:", "<none>" if "volumeMounts" not in container.extra else "")
    for mount in container.extra.get("volumeMounts", ()):
        writer.line(level + 1, f"{mount.get('mountPath')} from {mount.get('name')} (rw)")


def _env_value(value: str | None, extra: Mapping[str, object]) -> str:
    if value is not None:
        return value
    source = extra.get("valueFrom")
    if isinstance(source, Mapping):
        for key, what in (("configMapKeyRef", "config map"), ("secretKeyRef", "secret")):
            ref = source.get(key)
            if isinstance(ref, Mapping):
                optional = "true" if ref.get("optional") else "false"
                return (
                    f"<set to the key '{ref.get('key')}' in {what} '{ref.get('name')}'>  Optional: {optional}"
                )
    return ""


#: How kubectl describes the volume sources it knows: (title, the fields it shows).
_VOLUME_SOURCES = {
    "hostPath": ("HostPath (bare host directory volume)", (("Path", "path"), ("HostPathType", "type"))),
    "emptyDir": ("EmptyDir (a temporary directory that shares a pod's lifetime)", (("Medium", "medium"),)),
    "configMap": ("ConfigMap (a volume populated by a ConfigMap)", (("Name", "name"),)),
    "secret": ("Secret (a volume populated by a Secret)", (("SecretName", "secretName"),)),
    "persistentVolumeClaim": (
        "PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)",
        (("ClaimName", "claimName"),),
    ),
}


def _volumes(writer: _Writer, volumes: Sequence[Mapping[str, Any]], level: int) -> None:
    """kubectl's describeVolumes: each volume's name, type and the fields of its source."""
    writer.line(level, "Volumes:", "<none>" if not volumes else "")
    for volume in volumes:
        writer.line(level + 1, f"{volume.get('name')}:")
        for source, (title, fields) in _VOLUME_SOURCES.items():
            if source in volume:
                writer.line(level + 2, "Type:", title)
                for label, key in fields:
                    writer.line(level + 2, f"{label}:", str(volume[source].get(key, "")))
                break


def _pod_template(writer: _Writer, template: PodTemplateSpec) -> None:
    writer.line(0, "Pod Template:")
    _map(writer, "Labels", template.metadata.labels, level=1)
    writer.line(1, "Containers:")
    for container in template.spec.containers:
        _container(writer, container, 2)
    _volumes(writer, template.spec.extra.get("volumes", ()), 1)
    if template.spec.node_selector:
        writer.line(1, "Node-Selectors:", views.format_labels(template.spec.node_selector))
    else:
        writer.line(1, "Node-Selectors:", "<none>")
    writer.line(1, "Tolerations:", "<none>" if not template.spec.tolerations else "")
    for toleration in template.spec.tolerations:
        writer.line(2, _toleration(toleration))


def _toleration(toleration: Toleration) -> str:
    """kubectl's printTolerationsMultiline: ``key=value:effect op=Exists for 300s``."""
    text = toleration.key
    if toleration.value:
        text += f"={toleration.value}"
    if toleration.effect:
        text += f":{toleration.effect}"
    if toleration.operator == "Exists" and not toleration.value:
        text += " op=Exists" if toleration.key else "op=Exists"
    if toleration.toleration_seconds is not None:
        text += f" for {toleration.toleration_seconds}s"
    return text


def _conditions(writer: _Writer, conditions: Iterable[tuple[str, str, str]]) -> None:
    rows = list(conditions)
    if not rows:
        return
    writer.line(0, "Conditions:")
    writer.line(1, "Type", "Status", "Reason")
    writer.line(1, "----", "------", "------")
    for type_, status, reason in rows:
        writer.line(1, type_, status, reason)


def _rs_summary(rs: ReplicaSet) -> str:
    return f"{rs.metadata.name} ({rs.status.replicas}/{rs.spec.replicas} replicas created)"


# --- the describers ------------------------------------------------------------------------------


def describe_deployment(
    deployment: Deployment, replica_sets: Sequence[ReplicaSet], events: Sequence[Event], now: datetime
) -> str:
    writer = _Writer()
    meta, spec, status = deployment.metadata, deployment.spec, deployment.status
    _meta(writer, deployment)
    writer.line(0, "CreationTimestamp:", _time(meta.creation_timestamp))
    _map(writer, "Labels", meta.labels)
    _map(writer, "Annotations", meta.annotations, separator=": ")
    writer.line(0, "Selector:", views.format_selector(spec.selector))
    writer.line(
        0,
        "Replicas:",
        f"{spec.replicas} desired | {status.updated_replicas} updated | {status.replicas} total"
        f" | {status.available_replicas} available | {status.unavailable_replicas} unavailable",
    )
    writer.line(0, "StrategyType:", spec.strategy.type)
    writer.line(0, "MinReadySeconds:", str(spec.min_ready_seconds))
    rolling = spec.strategy.rolling_update
    if spec.strategy.type == deployment_util.ROLLING_UPDATE and rolling is not None:
        unavailable = rolling.max_unavailable if rolling.max_unavailable is not None else "25%"
        surge = rolling.max_surge if rolling.max_surge is not None else "25%"
        writer.line(0, "RollingUpdateStrategy:", f"{unavailable} max unavailable, {surge} max surge")
    _pod_template(writer, spec.template)
    _conditions(writer, ((c.type, c.status, c.reason) for c in status.conditions))
    owned = [rs for rs in replica_sets if deployment_util.is_controlled_by(rs, deployment)]
    new = deployment_util.find_new_replica_set(deployment, owned)
    old, _ = deployment_util.find_old_replica_sets(deployment, owned)
    writer.line(0, "OldReplicaSets:", ", ".join(_rs_summary(rs) for rs in old) or "<none>")
    writer.line(0, "NewReplicaSet:", _rs_summary(new) if new is not None else "<none>")
    _events(writer, events, now)
    return writer.text()


def describe_replica_set(
    replica_set: ReplicaSet, pods: Sequence[Pod], events: Sequence[Event], now: datetime
) -> str:
    writer = _Writer()
    meta, spec, status = replica_set.metadata, replica_set.spec, replica_set.status
    _meta(writer, replica_set)
    writer.line(0, "Selector:", views.format_selector(spec.selector))
    _map(writer, "Labels", meta.labels)
    _map(writer, "Annotations", meta.annotations, separator=": ")
    controller = meta.controller_ref()
    if controller is not None:
        writer.line(0, "Controlled By:", f"{controller.kind}/{controller.name}")
    writer.line(0, "Replicas:", f"{status.replicas} current / {spec.replicas} desired")
    counts = {"Running": 0, "Pending": 0, "Succeeded": 0, "Failed": 0}
    for pod in pods:
        phase = pod.status.phase or "Pending"
        counts[phase] = counts.get(phase, 0) + 1
    writer.line(
        0,
        "Pods Status:",
        f"{counts['Running']} Running / {counts['Pending']} Waiting / {counts['Succeeded']} Succeeded"
        f" / {counts['Failed']} Failed",
    )
    _pod_template(writer, spec.template)
    _conditions(writer, ((c.type, c.status, c.reason) for c in status.conditions))
    _events(writer, events, now)
    return writer.text()


def describe_pod(pod: Pod, events: Sequence[Event], now: datetime) -> str:
    writer = _Writer()
    meta, spec, status = pod.metadata, pod.spec, pod.status
    _meta(writer, pod)
    writer.line(0, "Priority:", str(spec.priority or 0))
    if spec.priority_class_name:
        writer.line(0, "Priority Class Name:", spec.priority_class_name)
    writer.line(0, "Service Account:", spec.service_account_name or "default")
    node = f"{spec.node_name}/{status.host_ip}" if spec.node_name and status.host_ip else spec.node_name
    writer.line(0, "Node:", node or "<none>")
    if status.start_time is not None:
        writer.line(0, "Start Time:", _time(status.start_time))
    _map(writer, "Labels", meta.labels)
    _map(writer, "Annotations", meta.annotations, separator=": ")
    if meta.deletion_timestamp is not None:
        writer.line(
            0,
            "Status:",
            f"Terminating (lasts {views.human_duration((now - meta.deletion_timestamp).total_seconds())})",
        )
        writer.line(0, "Termination Grace Period:", f"{meta.deletion_grace_period_seconds or 0}s")
    else:
        writer.line(0, "Status:", status.phase or "Pending")
    if status.reason:
        writer.line(0, "Reason:", status.reason)
    if status.message:
        writer.line(0, "Message:", status.message)
    writer.line(0, "IP:", status.pod_ip)
    writer.line(0, "IPs:", "<none>" if not status.pod_ips else "")
    for address in status.pod_ips:
        writer.line(1, "IP:", address.ip)
    controller = meta.controller_ref()
    if controller is not None:
        writer.line(0, "Controlled By:", f"{controller.kind}/{controller.name}")
    writer.line(0, "Containers:")
    for container in spec.containers:
        _container(writer, container, 2, pod)
    if status.conditions:
        writer.line(0, "Conditions:")
        writer.line(1, "Type", "Status")
        for condition in status.conditions:
            writer.line(1, condition.type, condition.status)
    _volumes(writer, spec.extra.get("volumes", ()), 0)
    writer.line(0, "QoS Class:", status.qos_class or "<none>")
    writer.line(0, "Node-Selectors:", views.format_labels(spec.node_selector))
    tolerations = [_toleration(t) for t in spec.tolerations]
    if not tolerations:
        writer.line(0, "Tolerations:", "<none>")
    for index, toleration in enumerate(tolerations):
        writer.line(0, "Tolerations:" if index == 0 else "", toleration)
    _events(writer, events, now)
    return writer.text()


def describe_node(node: Node, pods: Sequence[Pod], events: Sequence[Event], now: datetime) -> str:
    writer = _Writer()
    meta, spec, status = node.metadata, node.spec, node.status
    writer.line(0, "Name:", meta.name)
    writer.line(0, "Roles:", views.node_roles(node))
    _map(writer, "Labels", meta.labels)
    _map(writer, "Annotations", meta.annotations, separator=": ")
    writer.line(0, "CreationTimestamp:", _time(meta.creation_timestamp))
    if not spec.taints:
        writer.line(0, "Taints:", "<none>")
    for index, taint in enumerate(spec.taints):
        value = f"{taint.key}={taint.value}:{taint.effect}" if taint.value else f"{taint.key}:{taint.effect}"
        writer.line(0, "Taints:" if index == 0 else "", value)
    writer.line(0, "Unschedulable:", str(spec.unschedulable).lower())
    if status.conditions:
        writer.line(0, "Conditions:")
        writer.line(1, "Type", "Status", "LastHeartbeatTime", "LastTransitionTime", "Reason", "Message")
        writer.line(1, "----", "------", "-----------------", "------------------", "------", "-------")
        for c in status.conditions:
            writer.line(
                1,
                c.type,
                c.status,
                _time(c.last_heartbeat_time),
                _time(c.last_transition_time),
                c.reason,
                c.message,
            )
    writer.line(0, "Addresses:")
    for address in status.addresses:
        writer.line(1, f"{address.type}:", address.address)
    for title, resources in (("Capacity", status.capacity), ("Allocatable", status.allocatable)):
        writer.line(0, f"{title}:")
        for name, quantity in sorted(resources.items()):
            writer.line(1, f"{name}:", str(quantity))
    writer.line(0, "PodCIDR:", spec.pod_cidr)
    writer.line(0, "PodCIDRs:", ",".join(spec.pod_cidrs))
    active = [p for p in pods if p.status.phase not in ("Succeeded", "Failed")]
    allocatable = status.allocatable
    writer.line(0, "Non-terminated Pods:", f"({len(active)} in total)")
    columns = ("CPU Requests", "CPU Limits", "Memory Requests", "Memory Limits")
    writer.line(1, "Namespace", "Name", *columns, "Age")
    writer.line(1, "---------", "----", *("-" * len(column) for column in columns), "---")
    totals: dict[tuple[str, str], Quantity] = {}
    for pod in active:
        requests, limits = _pod_requests_and_limits(pod)
        cells = []
        for name in ("cpu", "memory"):
            for which, amounts in (("requests", requests), ("limits", limits)):
                amount = amounts.get(name, _ZERO)
                totals[name, which] = totals.get((name, which), _ZERO) + amount
                cells.append(_share(name, amount, allocatable))
        writer.line(1, pod.metadata.namespace, pod.metadata.name, *cells, views.age(pod, now))
    writer.line(0, "Allocated resources:")
    writer.line(1, "(Total limits may be over 100 percent, i.e., overcommitted.)")
    writer.line(1, "Resource", "Requests", "Limits")
    writer.line(1, "--------", "--------", "------")
    for name in ("cpu", "memory"):
        writer.line(
            1,
            name,
            _share(name, totals.get((name, "requests"), _ZERO), allocatable),
            _share(name, totals.get((name, "limits"), _ZERO), allocatable),
        )
    _events(writer, events, now)
    return writer.text()


_ZERO = parse_quantity("0")


def _pod_requests_and_limits(pod: Pod) -> tuple[dict[str, Quantity], dict[str, Quantity]]:
    """The pod's total requests and limits: its containers' sums, or an init container's if larger
    (resourcehelper.PodRequestsAndLimits)."""
    totals: tuple[dict[str, Quantity], dict[str, Quantity]] = ({}, {})
    for container in pod.spec.containers:
        for total, amounts in zip(
            totals, (container.resources.requests, container.resources.limits), strict=True
        ):
            for name, amount in amounts.items():
                total[name] = total.get(name, _ZERO) + amount
    for container in pod.spec.init_containers:
        for total, amounts in zip(
            totals, (container.resources.requests, container.resources.limits), strict=True
        ):
            for name, amount in amounts.items():
                if amount > total.get(name, _ZERO):
                    total[name] = amount
    return totals


def _share(name: str, amount: Quantity, allocatable: Mapping[str, Quantity]) -> str:
    """``50m (1%)``: an amount and its share of the node's allocatable, as kubectl shows them."""
    available = allocatable.get(name)
    if available is None or available.is_zero():
        return f"{amount} (0%)"
    if name == "cpu":
        fraction = amount.milli_value() / available.milli_value() * 100
    else:
        fraction = amount.value() / available.value() * 100
    return f"{amount} ({int(fraction)}%)"


def describe_service(
    service: Service, endpoints: Endpoints | None, events: Sequence[Event], now: datetime
) -> str:
    writer = _Writer()
    meta, spec = service.metadata, service.spec
    _meta(writer, service)
    _map(writer, "Labels", meta.labels)
    _map(writer, "Annotations", meta.annotations, separator=": ")
    writer.line(0, "Selector:", views.format_labels(spec.selector))
    writer.line(0, "Type:", spec.type)
    writer.line(0, "IP Family Policy:", "SingleStack")
    writer.line(0, "IP:", spec.cluster_ip or "None")
    writer.line(0, "IPs:", ",".join(spec.cluster_ips) or spec.cluster_ip or "<none>")
    for port in spec.ports:
        name = port.name or "<unset>"
        writer.line(0, "Port:", name, f"{port.port}/{port.protocol}")
        target = port.target_port if port.target_port is not None else port.port
        writer.line(0, "TargetPort:", f"{target}/{port.protocol}")
        if port.node_port:
            writer.line(0, "NodePort:", name, f"{port.node_port}/{port.protocol}")
        addresses = _endpoints_for_port(endpoints, port.name)
        writer.line(0, "Endpoints:", addresses)
    writer.line(0, "Session Affinity:", spec.session_affinity or "None")
    if spec.type in ("NodePort", "LoadBalancer"):
        writer.line(0, "External Traffic Policy:", str(spec.extra.get("externalTrafficPolicy", "Cluster")))
    _events(writer, events, now)
    return writer.text()


def _endpoints_for_port(endpoints: Endpoints | None, port_name: str) -> str:
    if endpoints is None:
        return "<none>"
    addresses = [
        f"{address.ip}:{port.port}"
        for subset in endpoints.subsets
        for port in subset.ports
        if port.name == port_name
        for address in subset.addresses
    ]
    return ",".join(addresses) or "<none>"


def describe_endpoints(endpoints: Endpoints, events: Sequence[Event], now: datetime) -> str:
    writer = _Writer()
    meta = endpoints.metadata
    _meta(writer, endpoints)
    _map(writer, "Labels", meta.labels)
    _map(writer, "Annotations", meta.annotations, separator=": ")
    writer.line(0, "Subsets:")
    for subset in endpoints.subsets:
        writer.line(1, "Addresses:", ",".join(a.ip for a in subset.addresses) or "<none>")
        writer.line(1, "NotReadyAddresses:", ",".join(a.ip for a in subset.not_ready_addresses) or "<none>")
        if subset.ports:
            writer.line(1, "Ports:")
            writer.line(2, "Name", "Port", "Protocol")
            writer.line(2, "----", "----", "--------")
            for port in subset.ports:
                writer.line(2, port.name or "<unset>", str(port.port), port.protocol)
        writer.line(0, "")
    _events(writer, events, now)
    return writer.text()


def describe_generic(obj: Object, events: Sequence[Event], now: datetime) -> str:
    writer = _Writer()
    meta = obj.metadata
    writer.line(0, "Name:", meta.name)
    if meta.namespace:
        writer.line(0, "Namespace:", meta.namespace)
    _map(writer, "Labels", meta.labels)
    _map(writer, "Annotations", meta.annotations, separator=": ")
    writer.line(0, "CreationTimestamp:", _time(meta.creation_timestamp))
    _events(writer, events, now)
    return writer.text()
