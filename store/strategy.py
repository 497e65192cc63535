"""Per-kind API rules applied by every store backend: defaulting, create/update preparation, validation.

This mirrors the apiserver's REST strategies (``PrepareForCreate``, ``PrepareForUpdate``, ``Validate``,
``ValidateUpdate``) and the defaulting and admission steps that run before them, for the built-in kinds:
Deployment defaults, status reset on create, the default not-ready/unreachable tolerations, pod
immutability, selector rules. Rules are pure functions of objects; the store decides when to call them.
Custom kinds get the metadata rules only.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

import attrs

from store import models
from store.frozen import EMPTY, FrozenDict
from store.models import (
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    Object,
    ObjectMeta,
    Pod,
    PodTemplateSpec,
    ReplicaSet,
    RollingUpdateDeployment,
    Toleration,
    replace,
    with_fields,
)
from store.scheme import KindInfo
from store.selectors import MATCH_NOTHING, InvalidSelector, Selector
from store.validation import (
    FieldError,
    go_repr,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    is_valid_port_name,
    mask_trailing_dash,
    parse_int64,
)

#: Taint keys the node lifecycle controller sets, and the tolerations admission adds for them.
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
DEFAULT_TOLERATION_SECONDS = 300
#: What the DefaultTolerationSeconds admission plugin adds to a pod: frozen values every pod can share.
_DEFAULT_TOLERATIONS = tuple(
    Toleration(key=key, operator="Exists", effect="NoExecute", toleration_seconds=DEFAULT_TOLERATION_SECONDS)
    for key in (TAINT_NOT_READY, TAINT_UNREACHABLE)
)

#: The garbage collector's finalizers, which a delete's propagation policy sets.
FINALIZER_ORPHAN = "orphan"
FINALIZER_FOREGROUND = "foregroundDeletion"

#: Annotations may not exceed this many bytes in total (apimachinery TotalAnnotationSizeLimitB).
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


_SPEC_FIELDS: dict[type[Object], tuple[str, ...]] = {}


def _spec_fields(cls: type[Object]) -> tuple[str, ...]:
    names = _SPEC_FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in attrs.fields(cls) if f.name not in ("metadata", "status"))
        _SPEC_FIELDS[cls] = names
    return names


def spec_changed(new: Object, old: Object) -> bool:
    """Whether anything but metadata and status differs (identity first: values are shared)."""
    for name in _spec_fields(type(new)):
        new_value = getattr(new, name)
        old_value = getattr(old, name)
        if new_value is not old_value and new_value != old_value:
            return True
    return False


# --- defaulting and preparation ------------------------------------------------------------------


def default(obj: Object) -> Object:
    """Fill in the defaults the apiserver fills when it decodes an object (SetDefaults_*)."""
    if isinstance(obj, Deployment):
        return _default_deployment(obj)
    if isinstance(obj, models.Secret) and obj.string_data:
        return _merge_string_data(obj)
    if isinstance(obj, models.Service):
        return _default_service(obj)
    return obj


def _default_service(service: models.Service) -> models.Service:
    """SetDefaults_Service: type ClusterIP, sessionAffinity None, and per port protocol TCP and a
    targetPort equal to the port when unset (0 or "")."""
    spec = service.spec
    ports = tuple(
        port
        if port.protocol and port.target_port not in (None, 0, "")
        else attrs.evolve(
            port,
            protocol=port.protocol or "TCP",
            target_port=port.port if port.target_port in (None, 0, "") else port.target_port,
        )
        for port in spec.ports
    )
    if spec.type and spec.session_affinity and all(a is b for a, b in zip(ports, spec.ports, strict=True)):
        return service
    spec = attrs.evolve(
        spec, type=spec.type or "ClusterIP", session_affinity=spec.session_affinity or "None", ports=ports
    )
    return attrs.evolve(service, spec=spec)


def _merge_string_data(secret: models.Secret) -> models.Secret:
    """Convert_v1_Secret_To_core_Secret: stringData is written into data (winning over it) and dropped.

    The internal Secret has no stringData, so a stored Secret never carries it.
    """
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in secret.string_data.items()}
    return attrs.evolve(secret, data=FrozenDict({**secret.data, **encoded}), string_data=EMPTY)


def _default_deployment(deployment: Deployment) -> Deployment:
    strategy = deployment.spec.strategy
    if strategy.type != "RollingUpdate":
        return deployment
    rolling = strategy.rolling_update or RollingUpdateDeployment()
    if rolling.max_surge is not None and rolling.max_unavailable is not None:
        return deployment
    rolling = attrs.evolve(
        rolling,
        max_surge="25%" if rolling.max_surge is None else rolling.max_surge,
        max_unavailable="25%" if rolling.max_unavailable is None else rolling.max_unavailable,
    )
    spec = attrs.evolve(deployment.spec, strategy=attrs.evolve(strategy, rolling_update=rolling))
    return attrs.evolve(deployment, spec=spec)


def prepare_for_create(obj: Object, info: KindInfo) -> Object:
    """Reset what a client may not set on create (status) and apply admission defaults."""
    if info.status_subresource and "status" in attrs.fields_dict(type(obj)):
        status_cls = attrs.fields_dict(type(obj))["status"].type
        obj = replace(obj, status=_fresh_status(obj, status_cls))
    if isinstance(obj, Pod):
        obj = _add_default_tolerations(obj)
    if isinstance(obj, models.Namespace) and "kubernetes" not in obj.spec.finalizers:
        spec = attrs.evolve(obj.spec, finalizers=(*obj.spec.finalizers, "kubernetes"))
        obj = attrs.evolve(obj, spec=spec)
    return obj


def _fresh_status(obj: Object, status_cls: Any) -> Any:
    if isinstance(obj, Pod):
        return models.PodStatus(phase="Pending", qos_class=qos_class(obj))
    if isinstance(obj, models.Namespace):
        return models.NamespaceStatus(phase="Active")
    if isinstance(obj, models.Node):
        return obj.status  # the kubelet registers a node together with its status
    if isinstance(status_cls, type):
        return status_cls()
    return type(cast(Any, obj).status)()


def qos_class(pod: Pod) -> str:
    """The pod's QoS class: Guaranteed, Burstable or BestEffort (v1 qos.GetPodQOS, cpu and memory)."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    guaranteed = True
    for container in (*pod.spec.init_containers, *pod.spec.containers):
        resources = container.resources
        for name in ("cpu", "memory"):
            if name in resources.requests:
                requests[name] = resources.requests[name]
            if name in resources.limits:
                limits[name] = resources.limits[name]
            limit = resources.limits.get(name)
            request = resources.requests.get(name, limit)
            if limit is None or request != limit:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _add_default_tolerations(pod: Pod) -> Pod:
    """The DefaultTolerationSeconds admission plugin: tolerate not-ready/unreachable for 300 s."""
    tolerations = pod.spec.tolerations
    if not tolerations:
        # The common case, shared by every pod: tolerations are frozen values.
        return with_fields(pod, spec=with_fields(pod.spec, tolerations=_DEFAULT_TOLERATIONS))
    missing = [
        default
        for default in _DEFAULT_TOLERATIONS
        if not any(_tolerates_key(t, default.key) for t in tolerations)
    ]
    if not missing:
        return pod
    return with_fields(pod, spec=with_fields(pod.spec, tolerations=(*tolerations, *missing)))


def _tolerates_key(toleration: Toleration, key: str) -> bool:
    effect_ok = toleration.effect in ("", "NoExecute")
    key_ok = toleration.key == key or (toleration.key == "" and toleration.operator == "Exists")
    return effect_ok and key_ok


# --- validation --------------------------------------------------------------------------------


def validate(obj: Object, info: KindInfo) -> list[FieldError]:
    """Every field error of ``obj`` as a new object of kind ``info``."""
    errors = list(validate_metadata(obj.metadata, info))
    check = _KIND_VALIDATORS.get(info.cls)
    if check is not None:
        errors.extend(check(obj))
    return errors


def validate_update(
    new: Object, old: Object, info: KindInfo, *, changed_spec: bool | None = None
) -> list[FieldError]:
    """Every field error of replacing ``old`` by ``new`` (``changed_spec``: `spec_changed`, if known)."""
    new_meta = new.metadata
    old_meta = old.metadata
    errors: list[FieldError] = []
    if new_meta is not old_meta:
        errors.extend(_validate_metadata_changes(new_meta, old_meta))
        if old_meta.deletion_timestamp is not None:
            added = set(new_meta.finalizers) - set(old_meta.finalizers)
            if added:
                errors.append(
                    FieldError.forbidden(
                        "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted,"
                        f" found new finalizers {go_repr(sorted(added))}",
                    )
                )
    if not (spec_changed(new, old) if changed_spec is None else changed_spec):
        return errors
    check = _KIND_VALIDATORS.get(info.cls)
    if check is not None:
        errors.extend(check(new))
    immutable = _KIND_UPDATE_VALIDATORS.get(info.cls)
    if immutable is not None:
        errors.extend(immutable(new, old))
    return errors


def validate_metadata(meta: ObjectMeta, info: KindInfo) -> Iterator[FieldError]:
    """ValidateObjectMeta for a new object, whose name the store has generated if it was to.

    An object read from a manifest may have only a generateName: that is enough.
    """
    name_errors = _NAME_RULES.get(info.kind, _dns_subdomain_errors)
    if meta.generate_name:
        for message in name_errors(mask_trailing_dash(meta.generate_name)):
            yield FieldError.invalid("metadata.generateName", meta.generate_name, message)
    if meta.name:
        for message in name_errors(meta.name):
            yield FieldError.invalid("metadata.name", meta.name, message)
    elif not meta.generate_name:
        yield FieldError.required("metadata.name", "name or generateName is required")
    if info.namespaced and meta.namespace:
        for message in _dns_label_errors(meta.namespace):
            yield FieldError.invalid("metadata.namespace", meta.namespace, message)
    yield from validate_labels(meta.labels, "metadata.labels")
    yield from _validate_annotations(meta.annotations)
    yield from _validate_owner_references(meta)
    yield from _validate_finalizers(meta.finalizers)


def _validate_metadata_changes(new: ObjectMeta, old: ObjectMeta) -> Iterator[FieldError]:
    """The metadata rules, applied only to what an update changed (name and namespace cannot)."""
    if new.labels is not old.labels:
        changed = {k: v for k, v in new.labels.items() if old.labels.get(k) != v}
        yield from validate_labels(changed, "metadata.labels")
    if new.annotations is not old.annotations and new.annotations != old.annotations:
        yield from _validate_annotations(new.annotations)
    if new.owner_references is not old.owner_references:
        yield from _validate_owner_references(new)
    if new.finalizers is not old.finalizers:
        yield from _validate_finalizers(new.finalizers)


# Keys and values repeat across objects; their checks are pure, so remember recent answers.
_qualified_name_errors = functools.lru_cache(maxsize=16384)(lambda key: tuple(is_qualified_name(key)))
_dns_label_errors = functools.lru_cache(maxsize=16384)(lambda name: tuple(is_dns1123_label(name)))
_dns_subdomain_errors = functools.lru_cache(maxsize=16384)(lambda name: tuple(is_dns1123_subdomain(name)))
_dns1035_label_errors = functools.lru_cache(maxsize=1024)(lambda name: tuple(is_dns1035_label(name)))

#: Kinds whose names follow other rules than a DNS subdomain (ValidateNamespaceName, ValidateServiceName).
_NAME_RULES: dict[str, Callable[[str], tuple[str, ...]]] = {
    "Namespace": _dns_label_errors,
    "Service": _dns1035_label_errors,
}
_label_value_errors = functools.lru_cache(maxsize=16384)(lambda value: tuple(is_valid_label_value(value)))


def validate_labels(labels: Mapping[str, str], path: str) -> Iterator[FieldError]:
    """ValidateLabels: keys and values both reported at the labels' own path."""
    for key, value in labels.items():
        for message in _qualified_name_errors(key):
            yield FieldError.invalid(path, key, message)
        for message in _label_value_errors(value):
            yield FieldError.invalid(path, value, message)


def _validate_finalizers(finalizers: Sequence[str]) -> Iterator[FieldError]:
    """ValidateFinalizers: qualified names, and never both garbage-collection policies at once."""
    for finalizer in finalizers:
        for message in _qualified_name_errors(finalizer):
            yield FieldError.invalid("metadata.finalizers", finalizer, message)
    if FINALIZER_ORPHAN in finalizers and FINALIZER_FOREGROUND in finalizers:
        yield FieldError.invalid(
            "metadata.finalizers",
            finalizers,
            f"finalizer {FINALIZER_ORPHAN} and {FINALIZER_FOREGROUND} cannot be both set",
        )


def _validate_annotations(annotations: FrozenDict[str, str]) -> Iterator[FieldError]:
    size = 0
    for key, value in annotations.items():
        for message in _qualified_name_errors(key.lower()):
            yield FieldError.invalid("metadata.annotations", key, message)
        # Go's len() counts bytes.
        size += len(key.encode()) + len(value.encode())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        yield FieldError(
            "metadata.annotations",
            f"Too long: must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes",
        )


def _validate_owner_references(meta: ObjectMeta) -> Iterator[FieldError]:
    """ValidateOwnerReferences: the paths carry no index, as upstream's do."""
    path = "metadata.ownerReferences"
    first_controller = ""
    for ref in meta.owner_references:
        if not _api_version_version(ref.api_version):
            yield FieldError.invalid(f"{path}.apiVersion", ref.api_version, "version must not be empty")
        for field, value in (("kind", ref.kind), ("name", ref.name), ("uid", ref.uid)):
            if not value:
                yield FieldError.invalid(f"{path}.{field}", value, "must not be empty")
        if (ref.api_version, ref.kind) == ("v1", "Event"):
            # BannedOwners; the value prints as the generated OwnerReference.String() does.
            yield FieldError(
                path,
                f"Invalid value: {_owner_reference_string(ref)}:"
                " /v1, Kind=Event is disallowed from being an owner",
            )
        if ref.controller:
            controller = f"{ref.kind}/{ref.name}"
            if first_controller:
                # Upstream prints the whole list here with %#v, pointer addresses and all; not reproduced.
                yield FieldError(
                    path,
                    "Invalid value: Only one reference can have Controller set to true."
                    f' Found "true" in references for {first_controller} and {controller}',
                )
            else:
                first_controller = controller


def _api_version_version(api_version: str) -> str:
    """The version part of an apiVersion as schema.ParseGroupVersion reads it ("" when malformed)."""
    parts = api_version.split("/")
    if len(parts) == 1:
        return api_version
    return parts[1] if len(parts) == 2 else ""


def _owner_reference_string(ref: models.OwnerReference) -> str:
    def pointer(value: bool | None) -> str:
        return "nil" if value is None else f"*{str(value).lower()}"

    return (
        f"&OwnerReference{{Kind:{ref.kind},Name:{ref.name},UID:{ref.uid},APIVersion:{ref.api_version},"
        f"Controller:{pointer(ref.controller)},BlockOwnerDeletion:{pointer(ref.block_owner_deletion)},}}"
    )


def _validate_pod_template(template: PodTemplateSpec, path: str) -> Iterator[FieldError]:
    yield from validate_labels(template.metadata.labels, f"{path}.metadata.labels")
    yield from _validate_pod_spec(template.spec, f"{path}.spec")


def _validate_pod_spec(spec: models.PodSpec, path: str) -> Iterator[FieldError]:
    if not spec.containers:
        yield FieldError(f"{path}.containers", "Required value")
    seen: set[str] = set()
    for group, containers in (
        ("initContainers", spec.init_containers),
        ("containers", spec.containers),
    ):
        for index, container in enumerate(containers):
            where = f"{path}.{group}[{index}]"
            if not container.name:
                yield FieldError(f"{where}.name", "Required value")
            else:
                for message in _dns_label_errors(container.name):
                    yield FieldError.invalid(f"{where}.name", container.name, message)
                if container.name in seen:
                    yield FieldError(f"{where}.name", f'Duplicate value: "{container.name}"')
                seen.add(container.name)
            if not container.image:
                yield FieldError(f"{where}.image", "Required value")
            yield from _validate_container_ports(container.ports, f"{where}.ports")
    if spec.restart_policy not in ("Always", "OnFailure", "Never"):
        if not spec.restart_policy:
            yield FieldError.required(f"{path}.restartPolicy")
        else:
            yield FieldError(
                f"{path}.restartPolicy",
                f"Unsupported value: {go_repr(spec.restart_policy)}:"
                ' supported values: "Always", "OnFailure", "Never"',
            )
    yield from validate_labels(spec.node_selector, f"{path}.nodeSelector")


def _validate_container_ports(ports: Sequence[models.ContainerPort], path: str) -> Iterator[FieldError]:
    """validateContainerPorts: names unique within the container, numbers in range, known protocols."""
    names: set[str] = set()
    for index, port in enumerate(ports):
        where = f"{path}[{index}]"
        if port.name:
            messages = is_valid_port_name(port.name)
            for message in messages:
                yield FieldError.invalid(f"{where}.name", port.name, message)
            if not messages and port.name in names:
                yield FieldError(f"{where}.name", f"Duplicate value: {go_repr(port.name)}")
            names.add(port.name)
        if port.container_port == 0:
            yield FieldError.required(f"{where}.containerPort")
        elif not 1 <= port.container_port <= 65535:
            yield FieldError(
                f"{where}.containerPort",
                f"Invalid value: {port.container_port}: must be between 1 and 65535, inclusive",
            )
        if port.host_port and not 1 <= port.host_port <= 65535:
            yield FieldError(
                f"{where}.hostPort",
                f"Invalid value: {port.host_port}: must be between 1 and 65535, inclusive",
            )
        if not port.protocol:
            yield FieldError.required(f"{where}.protocol")
        elif port.protocol not in _PORT_PROTOCOLS:
            yield FieldError(
                f"{where}.protocol",
                f'Unsupported value: {go_repr(port.protocol)}: supported values: "SCTP", "TCP", "UDP"',
            )


def _nonnegative(value: int, path: str) -> Iterator[FieldError]:
    """ValidateNonnegativeField."""
    if value < 0:
        yield FieldError(path, f"Invalid value: {value}: must be greater than or equal to 0")


def _validate_workload_selector(
    selector: models.LabelSelector | None, template: PodTemplateSpec
) -> Iterator[FieldError]:
    """The selector and template rules of ValidateReplicaSetSpec and ValidateDeploymentSpec.

    A nil selector selects nothing, so the template's labels never match it; a selector that does not
    convert leaves the template unchecked, as upstream.
    """
    compiled = MATCH_NOTHING
    if selector is None:
        yield FieldError.required("spec.selector")
    else:
        try:
            compiled = selector.as_selector()
        except InvalidSelector as exc:
            for error in exc.errors:
                yield FieldError(f"spec.selector.{error.path}", error.message)
            yield FieldError(
                "spec.selector", f"Invalid value: {_label_selector_string(selector)}: invalid label selector"
            )
            return
        if compiled.empty():
            shown = _label_selector_string(selector)
            # Upstream says "deployment" for ReplicaSets too.
            yield FieldError(
                "spec.selector", f"Invalid value: {shown}: empty selector is invalid for deployment"
            )
    yield from _validate_template_for_replica_set(template, compiled)


def _validate_template_for_replica_set(template: PodTemplateSpec, selector: Selector) -> Iterator[FieldError]:
    """ValidatePodTemplateSpecForReplicaSet: labels matched, pods restarted always, no deadline."""
    labels = template.metadata.labels
    if not selector.empty() and not selector.matches(labels):
        yield FieldError(
            "spec.template.metadata.labels",
            f"Invalid value: {_go_string_map(labels)}: `selector` does not match template `labels`",
        )
    yield from _validate_pod_template(template, "spec.template")
    if template.spec.restart_policy != "Always":
        yield FieldError(
            "spec.template.spec.restartPolicy",
            f'Unsupported value: {go_repr(template.spec.restart_policy)}: supported values: "Always"',
        )
    if "activeDeadlineSeconds" in template.spec.extra:
        # "ReplicaSet" for Deployments too, as upstream words it.
        yield FieldError.forbidden(
            "spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"
        )


def _go_string_map(labels: Mapping[str, str]) -> str:
    """A map[string]string as Go's %#v prints it: keys sorted, strings quoted."""
    if not labels:
        return "map[string]string(nil)"
    entries = ", ".join(f"{go_repr(key)}:{go_repr(labels[key])}" for key in sorted(labels))
    return f"map[string]string{{{entries}}}"


def _label_selector_string(selector: models.LabelSelector) -> str:
    """A LabelSelector as its generated String() prints it (field.Invalid uses that for the value)."""
    labels = "".join(f"{key}: {selector.match_labels[key]}," for key in sorted(selector.match_labels))
    expressions = "".join(
        f"LabelSelectorRequirement{{Key:{e.key},Operator:{e.operator},Values:[{' '.join(e.values)}],}},"
        for e in selector.match_expressions
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{expressions}}},}}"
    )


def _validate_int_or_percent(value: int | str | None, path: str) -> Iterator[FieldError]:
    """ValidatePositiveIntOrPercent; the value prints as IntOrString.String() does (unquoted)."""
    if isinstance(value, int):
        yield from _nonnegative(value, path)
    elif value is not None and _percent(value) is None:
        yield FieldError(
            path,
            f"Invalid value: {value}: a valid percent string must be a numeric string followed by an"
            " ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        )


_PERCENT = re.compile("[0-9]+%")


def _percent(value: int | str | None) -> int | None:
    """getPercentValue: the number of a valid percentage, else None."""
    if isinstance(value, str) and _PERCENT.fullmatch(value):
        return int(value[:-1])
    return None


def _int_or_percent_value(value: int | str | None) -> int:
    """getIntOrPercentValue: a percentage's number, an int, or what IntValue reads from a string."""
    if value is None or isinstance(value, int):
        return value or 0
    percent = _percent(value)
    return (parse_int64(value) or 0) if percent is None else percent


def _validate_deployment(obj: Object) -> Iterator[FieldError]:
    """ValidateDeploymentSpec, in its order."""
    spec: DeploymentSpec = cast(Deployment, obj).spec
    yield from _nonnegative(spec.replicas, "spec.replicas")
    yield from _validate_workload_selector(spec.selector, spec.template)
    yield from _validate_strategy(spec.strategy)
    yield from _nonnegative(spec.min_ready_seconds, "spec.minReadySeconds")
    if spec.revision_history_limit is not None:
        yield from _nonnegative(spec.revision_history_limit, "spec.revisionHistoryLimit")
    deadline = spec.progress_deadline_seconds
    if deadline is not None:
        yield from _nonnegative(deadline, "spec.progressDeadlineSeconds")
        if deadline <= spec.min_ready_seconds:
            yield FieldError(
                "spec.progressDeadlineSeconds",
                f"Invalid value: {deadline}: must be greater than minReadySeconds",
            )


def _validate_strategy(strategy: DeploymentStrategy) -> Iterator[FieldError]:
    if strategy.type not in ("RollingUpdate", "Recreate"):
        yield FieldError(
            "spec.strategy.type",
            f'Unsupported value: "{strategy.type}": supported values: "Recreate", "RollingUpdate"',
        )
        return
    rolling = strategy.rolling_update
    if strategy.type == "Recreate":
        if rolling is not None:
            yield FieldError(
                "spec.strategy.rollingUpdate",
                "Forbidden: may not be specified when strategy `type` is 'Recreate'",
            )
        return
    if rolling is None:
        return
    # ValidateRollingUpdateDeployment: only maxUnavailable is capped at 100%; a surge may exceed it.
    path = "spec.strategy.rollingUpdate"
    yield from _validate_int_or_percent(rolling.max_unavailable, f"{path}.maxUnavailable")
    yield from _validate_int_or_percent(rolling.max_surge, f"{path}.maxSurge")
    unavailable = rolling.max_unavailable
    if _int_or_percent_value(unavailable) == 0 and _int_or_percent_value(rolling.max_surge) == 0:
        yield FieldError(
            f"{path}.maxUnavailable", f"Invalid value: {unavailable or 0}: may not be 0 when `maxSurge` is 0"
        )
    percent = _percent(unavailable)
    if percent is not None and percent > 100:
        yield FieldError(
            f"{path}.maxUnavailable", f"Invalid value: {unavailable}: must not be greater than 100%"
        )


def _validate_replica_set(obj: Object) -> Iterator[FieldError]:
    """ValidateReplicaSetSpec, in its order."""
    spec = cast(ReplicaSet, obj).spec
    yield from _nonnegative(spec.replicas, "spec.replicas")
    yield from _nonnegative(spec.min_ready_seconds, "spec.minReadySeconds")
    yield from _validate_workload_selector(spec.selector, spec.template)


def _validate_pod(obj: Object) -> Iterator[FieldError]:
    yield from _validate_pod_spec(cast(Pod, obj).spec, "spec")


def _validate_service(obj: Object) -> Iterator[FieldError]:
    """ValidateService, for the fields modelled here, in its order."""
    spec = cast(models.Service, obj).spec
    headless = spec.cluster_ip == "None"
    if not spec.ports and not headless and spec.type != "ExternalName":
        yield FieldError.required("spec.ports")
    if spec.type in ("NodePort", "LoadBalancer") and headless:
        yield FieldError.invalid(
            "spec.clusterIPs[0]", "None", f"may not be set to 'None' for {spec.type} services"
        )
    if spec.type == "ExternalName":
        if spec.cluster_ip or spec.cluster_ips:
            yield FieldError.forbidden("spec.clusterIPs", "may not be set for ExternalName services")
        # The CNAME may end in a dot to mark it fully qualified.
        cname = spec.external_name.removesuffix(".")
        if not cname:
            yield FieldError.required("spec.externalName")
        for message in _dns_subdomain_errors(cname) if cname else ():
            yield FieldError.invalid("spec.externalName", cname, message)
    names: set[str] = set()
    for index, port in enumerate(spec.ports):
        yield from _validate_service_port(port, f"spec.ports[{index}]", len(spec.ports) > 1, names)
    yield from validate_labels(spec.selector, "spec.selector")
    if spec.type not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        yield FieldError(
            "spec.type",
            f"Unsupported value: {go_repr(spec.type)}: supported values: "
            '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
        )
    seen: set[tuple[str, int]] = set()
    for index, port in enumerate(spec.ports):
        # Duplicate (protocol, port) pairs print as Go prints the internal ServicePort key.
        if (port.protocol, port.port) in seen:
            yield FieldError(
                f"spec.ports[{index}]",
                f'Duplicate value: core.ServicePort{{Name:"", Protocol:{go_repr(port.protocol)},'
                f" AppProtocol:(*string)(nil), Port:{port.port},"
                ' TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}',
            )
        seen.add((port.protocol, port.port))


_PORT_PROTOCOLS = ("SCTP", "TCP", "UDP")


def _validate_service_port(
    port: models.ServicePort, path: str, name_required: bool, names: set[str]
) -> Iterator[FieldError]:
    """validateServicePort."""
    if name_required and not port.name:
        yield FieldError.required(f"{path}.name")
    elif port.name:
        for message in _dns_label_errors(port.name):
            yield FieldError.invalid(f"{path}.name", port.name, message)
        if port.name in names:
            yield FieldError(f"{path}.name", f"Duplicate value: {go_repr(port.name)}")
        names.add(port.name)
    if not 1 <= port.port <= 65535:
        yield FieldError(
            f"{path}.port", f"Invalid value: {port.port}: must be between 1 and 65535, inclusive"
        )
    if not port.protocol:
        yield FieldError.required(f"{path}.protocol")
    elif port.protocol not in _PORT_PROTOCOLS:
        yield FieldError(
            f"{path}.protocol",
            f'Unsupported value: {go_repr(port.protocol)}: supported values: "SCTP", "TCP", "UDP"',
        )
    # An unset (0 or "") targetPort is defaulted to the port (SetDefaults_Service): nothing to check.
    target = port.target_port
    if isinstance(target, int) and target and not 1 <= target <= 65535:
        yield FieldError(
            f"{path}.targetPort", f"Invalid value: {target}: must be between 1 and 65535, inclusive"
        )
    elif isinstance(target, str) and target:
        for message in is_valid_port_name(target):
            yield FieldError.invalid(f"{path}.targetPort", target, message)


def _validate_pod_update(new: Object, old: Object) -> Iterator[FieldError]:
    new_spec = cast(Pod, new).spec
    old_spec = cast(Pod, old).spec
    # Only images, and additions to tolerations, may change (ValidatePodUpdate).
    comparable = attrs.evolve(
        new_spec,
        containers=_with_images(new_spec.containers, old_spec.containers),
        init_containers=_with_images(new_spec.init_containers, old_spec.init_containers),
        tolerations=old_spec.tolerations
        if set(old_spec.tolerations) <= set(new_spec.tolerations)
        else new_spec.tolerations,
    )
    if comparable != old_spec:
        yield FieldError(
            "spec",
            "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
            " `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations`"
            " (only additions to existing tolerations) or"
            " `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously"
            " negative)",
        )


def _with_images(
    new: Sequence[models.Container], old: Sequence[models.Container]
) -> tuple[models.Container, ...]:
    if len(new) != len(old):
        return tuple(new)
    return tuple(
        attrs.evolve(n, image=o.image) if n.name == o.name else n for n, o in zip(new, old, strict=True)
    )


def _validate_selector_immutable(new: Object, old: Object) -> Iterator[FieldError]:
    new_selector = cast(Deployment, new).spec.selector
    old_selector = cast(Deployment, old).spec.selector
    if new_selector != old_selector:
        shown = "null" if new_selector is None else _label_selector_string(new_selector)
        yield FieldError("spec.selector", f"Invalid value: {shown}: field is immutable")


def validate_status_update(new: Object, old: Object, info: KindInfo) -> list[FieldError]:
    """Every field error of a status update of ``old`` to ``new`` (ValidateReplicaSetStatusUpdate, ...)."""
    check = _KIND_STATUS_VALIDATORS.get(info.cls)
    return [] if check is None else list(check(new, old))


def _replica_counts(
    replicas: int, counted: Sequence[tuple[str, int]], ready: int, available: int
) -> Iterator[FieldError]:
    """No count above ``status.replicas``, and no more available replicas than ready ones."""
    for name, value in counted:
        if value > replicas:
            yield FieldError(
                f"status.{name}", f"Invalid value: {value}: cannot be greater than status.replicas"
            )
    if available > ready:
        yield FieldError(
            "status.availableReplicas", f"Invalid value: {available}: cannot be greater than readyReplicas"
        )


def _validate_replica_set_status(new: Object, old: Object) -> Iterator[FieldError]:
    """ValidateReplicaSetStatus."""
    status = cast(ReplicaSet, new).status
    counts = (
        ("replicas", status.replicas),
        ("fullyLabeledReplicas", status.fully_labeled_replicas),
        ("readyReplicas", status.ready_replicas),
        ("availableReplicas", status.available_replicas),
        ("observedGeneration", status.observed_generation),
    )
    for name, value in counts:
        yield from _nonnegative(value, f"status.{name}")
    yield from _replica_counts(status.replicas, counts[1:4], status.ready_replicas, status.available_replicas)


def _validate_deployment_status(new: Object, old: Object) -> Iterator[FieldError]:
    """ValidateDeploymentStatus, and a collisionCount that may not go down."""
    status = cast(Deployment, new).status
    counts = (
        ("observedGeneration", status.observed_generation),
        ("replicas", status.replicas),
        ("updatedReplicas", status.updated_replicas),
        ("readyReplicas", status.ready_replicas),
        ("availableReplicas", status.available_replicas),
        ("unavailableReplicas", status.unavailable_replicas),
    )
    for name, value in counts:
        yield from _nonnegative(value, f"status.{name}")
    if status.collision_count is not None:
        yield from _nonnegative(status.collision_count, "status.collisionCount")
    yield from _replica_counts(status.replicas, counts[2:5], status.ready_replicas, status.available_replicas)
    old_count = cast(Deployment, old).status.collision_count
    if old_count is not None and (status.collision_count or 0) < old_count:
        yield FieldError(
            "status.collisionCount", f"Invalid value: {status.collision_count or 0}: cannot be decremented"
        )


_IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"


def _validate_config_map_update(new: Object, old: Object) -> Iterator[FieldError]:
    """ValidateConfigMapUpdate: an immutable ConfigMap keeps its data and stays immutable."""
    new_map, old_map = cast(models.ConfigMap, new), cast(models.ConfigMap, old)
    if old_map.immutable:
        if not new_map.immutable:
            yield FieldError.forbidden("immutable", _IMMUTABLE_WHEN_SET)
        if new_map.data != old_map.data:
            yield FieldError.forbidden("data", _IMMUTABLE_WHEN_SET)
        if new_map.binary_data != old_map.binary_data:
            yield FieldError.forbidden("binaryData", _IMMUTABLE_WHEN_SET)


def _validate_secret_update(new: Object, old: Object) -> Iterator[FieldError]:
    """ValidateSecretUpdate: the type never changes; an immutable Secret keeps its data."""
    new_secret, old_secret = cast(models.Secret, new), cast(models.Secret, old)
    if new_secret.type != old_secret.type:
        yield FieldError.invalid("type", new_secret.type, "field is immutable")
    if old_secret.immutable:
        if not new_secret.immutable:
            yield FieldError.forbidden("immutable", _IMMUTABLE_WHEN_SET)
        if new_secret.data != old_secret.data:
            yield FieldError.forbidden("data", _IMMUTABLE_WHEN_SET)


_KIND_VALIDATORS: dict[type[Object], Callable[[Object], Iterator[FieldError]]] = {
    Deployment: _validate_deployment,
    ReplicaSet: _validate_replica_set,
    Pod: _validate_pod,
    models.Service: _validate_service,
}

_KIND_STATUS_VALIDATORS: dict[type[Object], Callable[[Object, Object], Iterator[FieldError]]] = {
    ReplicaSet: _validate_replica_set_status,
    Deployment: _validate_deployment_status,
}

_KIND_UPDATE_VALIDATORS: dict[type[Object], Callable[[Object, Object], Iterator[FieldError]]] = {
    Pod: _validate_pod_update,
    Deployment: _validate_selector_immutable,
    ReplicaSet: _validate_selector_immutable,
    models.ConfigMap: _validate_config_map_update,
    models.Secret: _validate_secret_update,
}


def blocking_finalizers(obj: Object) -> bool:
    """Whether something still holds the object back from removal once it is being deleted."""
    meta = obj.metadata
    if meta.finalizers:
        return True
    return isinstance(obj, models.Namespace) and bool(obj.spec.finalizers)


def graceful_deletion_seconds(obj: Object, requested: int | None) -> int:
    """How long the object lingers with a deletionTimestamp before removal (pods only)."""
    if not isinstance(obj, Pod):
        return 0
    if not obj.spec.node_name or obj.status.phase in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return max(requested, 0)
    return obj.spec.termination_grace_period_seconds or 0
