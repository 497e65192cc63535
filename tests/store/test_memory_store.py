"""MemoryStore: the metadata rules, CRUD semantics, errors and watch behaviour of DESIGN §2–3."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import anyio
import attrs
import pytest

from store import (
    AlreadyExists,
    BadRequest,
    Conflict,
    EventType,
    Forbidden,
    Gone,
    Invalid,
    MemoryStore,
    MethodNotAllowed,
    NotFound,
    PropagationPolicy,
)
from store.models import (
    ConfigMap,
    Container,
    ContainerPort,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    LabelSelector,
    LabelSelectorRequirement,
    Namespace,
    Node,
    Object,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    ReplicaSet,
    ReplicaSetSpec,
    ReplicaSetStatus,
    RollingUpdateDeployment,
    Secret,
    Service,
    ServicePort,
    ServiceSpec,
    Toleration,
)

M = TypeVar("M", bound=Object)


class FixedClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


def make_store(**kwargs: object) -> MemoryStore:
    return MemoryStore(seed=1, clock=FixedClock(), **kwargs)  # type: ignore[arg-type]


def pod(name: str = "web", namespace: str = "default", **labels: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=labels),
        spec=PodSpec(containers=[Container(name="app", image="nginx:1.25")]),
    )


def deployment(name: str = "web", replicas: int = 1) -> Deployment:
    labels = {"app": name}
    return Deployment(
        metadata=ObjectMeta(name=name),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(containers=[Container(name="app", image="nginx:1.25")]),
            ),
        ),
    )


def with_finalizers(obj: M, *finalizers: str) -> M:
    return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, finalizers=finalizers))


# --- metadata rules ------------------------------------------------------------------------------


async def test_create_stamps_uid_creation_timestamp_and_revision() -> None:
    store = make_store()
    before = store.revision
    created = await store.create(pod())
    assert created.metadata.uid
    assert created.metadata.creation_timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert created.metadata.resource_version == str(before + 1)
    assert store.revision == before + 1


async def test_uids_repeat_with_the_seed() -> None:
    first = await make_store().create(pod())
    second = await make_store().create(pod())
    assert first.metadata.uid == second.metadata.uid


async def test_generate_name_appends_five_character_suffix() -> None:
    store = make_store()
    created = await store.create(
        Pod(
            metadata=ObjectMeta(generate_name="web-"),
            spec=PodSpec(containers=[Container(name="app", image="nginx")]),
        )
    )
    assert created.metadata.name.startswith("web-")
    assert len(created.metadata.name) == len("web-") + 5
    assert created.metadata.generate_name == "web-"


async def test_generated_name_keeps_at_most_58_characters_of_the_prefix() -> None:
    store = make_store()
    created = await store.create(ConfigMap(metadata=ObjectMeta(generate_name="x" * 70)))
    assert created.metadata.name.startswith("x" * 58)
    assert len(created.metadata.name) == 63


@pytest.mark.parametrize("prefix", ["web.", "Web-", "-"])
async def test_a_bad_generate_name_is_invalid_under_the_generated_name(prefix: str) -> None:
    store = make_store()
    revision = store.revision
    with pytest.raises(Invalid) as caught:
        await store.create(ConfigMap(metadata=ObjectMeta(generate_name=prefix)))
    assert caught.value.causes[0].path == "metadata.generateName"
    assert caught.value.message.startswith(f'ConfigMap "{prefix}')
    assert len(caught.value.message.split('"')[1]) == len(prefix) + 5
    assert store.revision == revision


async def test_generate_name_is_validated_even_when_a_name_is_given() -> None:
    store = make_store()
    with pytest.raises(Invalid) as caught:
        await store.create(ConfigMap(metadata=ObjectMeta(name="web", generate_name="web.")))
    assert [cause.path for cause in caught.value.causes] == ["metadata.generateName"]


class SameSuffix(random.Random):
    """A random source that always draws the first letter of the alphabet it is offered."""

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[0]


async def test_generate_name_gives_up_with_upstream_conflict_when_every_name_is_taken() -> None:
    store = MemoryStore(rng=SameSuffix(1), clock=FixedClock())
    await store.create(ConfigMap(metadata=ObjectMeta(name="web-bbbbb")))
    revision = store.revision
    with pytest.raises(AlreadyExists) as caught:
        await store.create(ConfigMap(metadata=ObjectMeta(generate_name="web-")))
    assert caught.value.message == (
        'configmaps "web-bbbbb" already exists, the server was not allowed to generate a unique name'
    )
    assert store.revision == revision


async def test_service_names_are_dns_1035_labels() -> None:
    store = make_store()
    await store.create(ConfigMap(metadata=ObjectMeta(name="1web")))
    service = Service(metadata=ObjectMeta(name="1web"), spec=ServiceSpec(ports=[ServicePort(port=80)]))
    with pytest.raises(Invalid) as caught:
        await store.create(service)
    assert [str(cause) for cause in caught.value.causes] == [
        'metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric'
        " characters or '-', start with an alphabetic character, and end with an alphanumeric character"
        " (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    ]


async def test_generation_is_one_on_create_and_bumps_only_on_spec_change() -> None:
    store = make_store()
    created = await store.create(deployment())
    assert created.metadata.generation == 1
    labelled = await store.update(
        attrs.evolve(created, metadata=attrs.evolve(created.metadata, labels={"tier": "web"}))
    )
    assert labelled.metadata.generation == 1
    scaled = await store.update(attrs.evolve(labelled, spec=attrs.evolve(labelled.spec, replicas=3)))
    assert scaled.metadata.generation == 2


async def test_status_write_never_bumps_generation() -> None:
    store = make_store()
    created = await store.create(deployment())
    status = attrs.evolve(created.status, replicas=1, observed_generation=1)
    updated = await store.update_status(attrs.evolve(created, status=status))
    assert updated.status.replicas == 1
    assert updated.metadata.generation == 1


async def test_a_deployment_status_update_is_validated() -> None:
    store = make_store()
    created = await store.create(deployment())
    revision = store.revision
    bad = attrs.evolve(
        created.status, replicas=1, ready_replicas=2, available_replicas=3, observed_generation=-1
    )
    with pytest.raises(Invalid) as caught:
        await store.update_status(attrs.evolve(created, status=bad))
    assert [str(cause) for cause in caught.value.causes] == [
        "status.observedGeneration: Invalid value: -1: must be greater than or equal to 0",
        "status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas",
        "status.availableReplicas: Invalid value: 3: cannot be greater than status.replicas",
        "status.availableReplicas: Invalid value: 3: cannot be greater than readyReplicas",
    ]
    assert store.revision == revision


async def test_a_deployment_collision_count_cannot_be_decremented() -> None:
    store = make_store()
    created = await store.create(deployment())
    counted = await store.update_status(
        attrs.evolve(created, status=attrs.evolve(created.status, collision_count=2))
    )
    with pytest.raises(Invalid) as caught:
        await store.update_status(
            attrs.evolve(counted, status=attrs.evolve(counted.status, collision_count=1))
        )
    assert [str(cause) for cause in caught.value.causes] == [
        "status.collisionCount: Invalid value: 1: cannot be decremented"
    ]


async def test_a_replica_set_status_update_is_validated() -> None:
    store = make_store()
    spec = deployment().spec
    rs = ReplicaSet(
        metadata=ObjectMeta(name="web"),
        spec=ReplicaSetSpec(replicas=1, selector=spec.selector, template=spec.template),
    )
    created = await store.create(rs)
    bad = ReplicaSetStatus(replicas=1, fully_labeled_replicas=2, observed_generation=-1)
    with pytest.raises(Invalid) as caught:
        await store.update_status(attrs.evolve(created, status=bad))
    assert [str(cause) for cause in caught.value.causes] == [
        "status.observedGeneration: Invalid value: -1: must be greater than or equal to 0",
        "status.fullyLabeledReplicas: Invalid value: 2: cannot be greater than status.replicas",
    ]


async def test_update_ignores_status_of_kinds_with_status_subresource() -> None:
    store = make_store()
    created = await store.create(deployment())
    status = attrs.evolve(created.status, replicas=5)
    same = await store.update(attrs.evolve(created, status=status))
    assert same.status.replicas == 0
    assert same is created  # nothing changed, so nothing was written
    assert store.revision == int(created.metadata.resource_version)


async def test_update_status_ignores_spec_changes() -> None:
    store = make_store()
    created = await store.create(deployment())
    changed = attrs.evolve(
        created,
        spec=attrs.evolve(created.spec, replicas=9),
        status=attrs.evolve(created.status, replicas=1),
    )
    updated = await store.update_status(changed)
    assert updated.spec.replicas == 1
    assert updated.status.replicas == 1


async def test_update_status_with_an_equal_status_writes_nothing() -> None:
    store = make_store()
    created = await store.create(pod())
    equal = PodStatus(phase=created.status.phase, qos_class=created.status.qos_class)
    assert equal == created.status and equal is not created.status
    same = await store.update_status(attrs.evolve(created, status=equal))
    assert same is created
    assert store.revision == int(created.metadata.resource_version)


async def test_update_status_takes_the_status_alone_and_keeps_metadata_and_generation() -> None:
    store = make_store()
    created = await store.create(deployment())
    changed = attrs.evolve(
        created,
        metadata=attrs.evolve(created.metadata, labels={"tier": "web"}, finalizers=("example.com/hold",)),
        status=attrs.evolve(created.status, replicas=1),
    )
    updated = await store.update_status(changed)
    assert updated.status.replicas == 1
    assert updated.metadata == attrs.evolve(
        created.metadata, resource_version=str(int(created.metadata.resource_version) + 1)
    )
    assert updated.spec is created.spec


async def test_create_resets_status() -> None:
    store = make_store()
    given = attrs.evolve(pod(), status=PodStatus(phase="Running", pod_ip="10.0.0.1"))
    created = await store.create(given)
    assert created.status.phase == "Pending"
    assert created.status.pod_ip == ""


async def test_update_status_of_kind_without_status_is_rejected() -> None:
    store = make_store()
    created = await store.create(ConfigMap(metadata=ObjectMeta(name="cfg"), data={"a": "1"}))
    with pytest.raises(MethodNotAllowed):
        await store.update_status(created)


async def test_resource_version_is_an_opaque_string_of_one_global_counter() -> None:
    store = make_store()
    first = await store.create(pod("a"))
    second = await store.create(ConfigMap(metadata=ObjectMeta(name="cfg")))
    assert isinstance(first.metadata.resource_version, str)
    assert int(second.metadata.resource_version) == int(first.metadata.resource_version) + 1


async def test_update_keeps_identity_fields() -> None:
    store = make_store()
    created = await store.create(pod())
    forged_meta = attrs.evolve(
        created.metadata,
        creation_timestamp=datetime(2000, 1, 1, tzinfo=UTC),
        generation=42,
        labels={"x": "y"},
    )
    updated = await store.update(attrs.evolve(created, metadata=forged_meta))
    assert updated.metadata.creation_timestamp == created.metadata.creation_timestamp
    assert updated.metadata.generation == created.metadata.generation
    assert updated.metadata.labels == {"x": "y"}


async def test_at_most_one_controller_owner_reference() -> None:
    store = make_store()
    refs = [
        OwnerReference(api_version="apps/v1", kind="ReplicaSet", name=n, uid=n, controller=True)
        for n in ("a", "b")
    ]
    bad = attrs.evolve(pod(), metadata=attrs.evolve(pod().metadata, owner_references=refs))
    with pytest.raises(Invalid) as caught:
        await store.create(bad)
    assert [str(cause) for cause in caught.value.causes] == [
        "metadata.ownerReferences: Invalid value: Only one reference can have Controller set to true."
        ' Found "true" in references for ReplicaSet/a and ReplicaSet/b'
    ]


async def test_owner_reference_errors_name_the_field_without_an_index() -> None:
    store = make_store()
    refs = [
        OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="a", uid="a"),
        OwnerReference(api_version="apps/", kind="", name="", uid=""),
    ]
    bad = attrs.evolve(pod(), metadata=attrs.evolve(pod().metadata, owner_references=refs))
    with pytest.raises(Invalid) as caught:
        await store.create(bad)
    assert [str(cause) for cause in caught.value.causes] == [
        'metadata.ownerReferences.apiVersion: Invalid value: "apps/": version must not be empty',
        'metadata.ownerReferences.kind: Invalid value: "": must not be empty',
        'metadata.ownerReferences.name: Invalid value: "": must not be empty',
        'metadata.ownerReferences.uid: Invalid value: "": must not be empty',
    ]


async def test_an_event_cannot_be_an_owner() -> None:
    store = make_store()
    ref = OwnerReference(api_version="v1", kind="Event", name="e", uid="u")
    bad = attrs.evolve(pod(), metadata=attrs.evolve(pod().metadata, owner_references=[ref]))
    with pytest.raises(Invalid) as caught:
        await store.create(bad)
    assert [str(cause) for cause in caught.value.causes] == [
        "metadata.ownerReferences: Invalid value: &OwnerReference{Kind:Event,Name:e,UID:u,APIVersion:v1,"
        "Controller:nil,BlockOwnerDeletion:nil,}: /v1, Kind=Event is disallowed from being an owner"
    ]


async def test_orphan_and_foreground_deletion_finalizers_cannot_both_be_set() -> None:
    store = make_store()
    revision = store.revision
    with pytest.raises(Invalid) as caught:
        await store.create(
            with_finalizers(ConfigMap(metadata=ObjectMeta(name="cm")), "orphan", "foregroundDeletion")
        )
    assert [str(cause) for cause in caught.value.causes] == [
        'metadata.finalizers: Invalid value: []string{"orphan", "foregroundDeletion"}:'
        " finalizer orphan and foregroundDeletion cannot be both set"
    ]
    assert store.revision == revision


async def test_finalizer_and_label_value_errors_are_reported_at_the_field_itself() -> None:
    store = make_store()
    bad = ConfigMap(metadata=ObjectMeta(name="cm", labels={"app": "-web"}, finalizers=["a/b/c"]))
    with pytest.raises(Invalid) as caught:
        await store.create(bad)
    assert [cause.path for cause in caught.value.causes] == ["metadata.labels", "metadata.finalizers"]


async def test_no_new_finalizers_error_shows_them_as_go_does() -> None:
    store = make_store()
    await store.create(with_finalizers(ConfigMap(metadata=ObjectMeta(name="cm")), "example.com/x"))
    deleting = await store.delete(ConfigMap, "cm")
    with pytest.raises(Invalid) as caught:
        await store.update(with_finalizers(deleting, "example.com/x", "example.com/z", "example.com/y"))
    assert [str(cause) for cause in caught.value.causes] == [
        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted,"
        ' found new finalizers []string{"example.com/y", "example.com/z"}'
    ]


async def test_annotation_size_limit_counts_bytes() -> None:
    store = make_store()
    bad = ConfigMap(metadata=ObjectMeta(name="cm", annotations={"a": "ā" * (128 * 1024)}))
    with pytest.raises(Invalid) as caught:
        await store.create(bad)
    assert [str(cause) for cause in caught.value.causes] == [
        "metadata.annotations: Too long: must have at most 262144 bytes"
    ]


async def test_cluster_scoped_object_cannot_have_namespaced_owner() -> None:
    store = make_store()
    ref = OwnerReference(api_version="v1", kind="Pod", name="p", uid="u")
    node = Node(metadata=ObjectMeta(name="n1", owner_references=[ref]))
    revision = store.revision
    with pytest.raises(Invalid):
        await store.create(node)
    assert store.revision == revision


def service(name: str = "web", **spec: Any) -> Service:
    return Service(metadata=ObjectMeta(name=name), spec=ServiceSpec(**spec))


@pytest.mark.parametrize(
    ("spec", "errors"),
    [
        (
            {"type": "NodePort", "cluster_ip": "None", "ports": [ServicePort(port=80)]},
            ["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"],
        ),
        (
            {"type": "ExternalName", "cluster_ip": "10.96.0.50"},
            [
                "spec.clusterIPs: Forbidden: may not be set for ExternalName services",
                "spec.externalName: Required value",
            ],
        ),
        (
            {"ports": [ServicePort(name="a", port=80), ServicePort(name="b", port=80)]},
            [
                'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP",'
                " AppProtocol:(*string)(nil), Port:80,"
                ' TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
            ],
        ),
        (
            {"ports": [ServicePort(name="Web", port=80, protocol="HTTP", target_port="http--x")]},
            [
                'spec.ports[0].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of'
                " lower case alphanumeric characters or '-', and must start and end with an alphanumeric"
                " character (e.g. 'my-name',  or '123-abc', regex used for validation is"
                " '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                'spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
                'spec.ports[0].targetPort: Invalid value: "http--x": must not contain consecutive hyphens',
            ],
        ),
    ],
)
async def test_service_validation_as_validate_service(spec: dict[str, Any], errors: list[str]) -> None:
    store = make_store()
    revision = store.revision
    with pytest.raises(Invalid) as caught:
        await store.create(service(**spec))
    assert [str(cause) for cause in caught.value.causes] == errors
    assert store.revision == revision


# --- errors --------------------------------------------------------------------------------------


async def test_get_missing_raises_not_found_with_kubernetes_message() -> None:
    store = make_store()
    with pytest.raises(NotFound) as caught:
        await store.get(Pod, "nope")
    assert caught.value.message == 'pods "nope" not found'
    assert caught.value.code == 404


async def test_create_twice_raises_already_exists() -> None:
    store = make_store()
    await store.create(pod())
    with pytest.raises(AlreadyExists) as caught:
        await store.create(pod())
    assert caught.value.message == 'pods "web" already exists'
    assert caught.value.code == 409


async def test_an_immutable_config_map_keeps_its_data_and_stays_immutable() -> None:
    store = make_store()
    created = await store.create(ConfigMap(metadata=ObjectMeta(name="cfg"), data={"a": "1"}, immutable=True))
    revision = store.revision
    with pytest.raises(Invalid) as caught:
        await store.update(attrs.evolve(created, data={"a": "2"}, immutable=False))
    assert [str(cause) for cause in caught.value.causes] == [
        "immutable: Forbidden: field is immutable when `immutable` is set",
        "data: Forbidden: field is immutable when `immutable` is set",
    ]
    assert store.revision == revision


async def test_a_secret_keeps_its_type_and_an_immutable_one_its_data() -> None:
    store = make_store()
    created = await store.create(Secret(metadata=ObjectMeta(name="s"), data={"a": "MQ=="}, immutable=True))
    with pytest.raises(Invalid) as caught:
        await store.update(attrs.evolve(created, type="kubernetes.io/tls", data={"a": "Mg=="}))
    assert [str(cause) for cause in caught.value.causes] == [
        'type: Invalid value: "kubernetes.io/tls": field is immutable',
        "data: Forbidden: field is immutable when `immutable` is set",
    ]


async def test_secret_string_data_is_stored_in_data() -> None:
    store = make_store()
    created = await store.create(
        Secret(
            metadata=ObjectMeta(name="s"), data={"a": "MQ==", "b": "Mg=="}, string_data={"b": "two", "c": "é"}
        )
    )
    assert dict(created.data) == {"a": "MQ==", "b": "dHdv", "c": "w6k="}
    assert not created.string_data


async def test_a_service_is_stored_with_the_apiserver_defaults() -> None:
    store = make_store()
    created = await store.create(
        Service(
            metadata=ObjectMeta(name="web"),
            spec=ServiceSpec(
                type="",
                selector={"app": "web"},
                ports=(
                    ServicePort(name="http", protocol="", port=80),
                    ServicePort(name="metrics", port=9090, target_port=0),
                    ServicePort(name="admin", protocol="UDP", port=81, target_port="admin"),
                ),
            ),
        )
    )
    assert (created.spec.type, created.spec.session_affinity) == ("ClusterIP", "None")
    assert [(port.protocol, port.port, port.target_port) for port in created.spec.ports] == [
        ("TCP", 80, 80),
        ("TCP", 9090, 9090),
        ("UDP", 81, "admin"),
    ]


async def test_an_update_clearing_a_target_port_gets_the_port_again() -> None:
    store = make_store()
    created = await store.create(
        Service(
            metadata=ObjectMeta(name="web"), spec=ServiceSpec(ports=(ServicePort(port=80, target_port=8080),))
        )
    )
    revision = store.revision
    cleared = attrs.evolve(created.spec, ports=(ServicePort(port=80),), session_affinity="")
    updated = await store.update(attrs.evolve(created, spec=cleared))
    assert (updated.spec.ports[0].target_port, updated.spec.session_affinity) == (80, "None")
    assert store.revision == revision + 1


async def test_stale_update_raises_conflict_and_changes_nothing() -> None:
    store = make_store()
    created = await store.create(pod())
    await store.update(attrs.evolve(created, metadata=attrs.evolve(created.metadata, labels={"a": "1"})))
    revision = store.revision
    with pytest.raises(Conflict) as caught:
        await store.update(attrs.evolve(created, metadata=attrs.evolve(created.metadata, labels={"a": "2"})))
    assert caught.value.message == (
        'Operation cannot be fulfilled on pods "web": the object has been modified; please apply'
        " your changes to the latest version and try again"
    )
    assert store.revision == revision
    assert (await store.get(Pod, "web")).metadata.labels == {"a": "1"}


async def test_create_into_missing_namespace_is_not_found() -> None:
    store = make_store()
    revision = store.revision
    with pytest.raises(NotFound) as caught:
        await store.create(pod(namespace="jds"))
    assert caught.value.message == 'namespaces "jds" not found'
    assert store.revision == revision


async def test_namespace_admission_comes_before_validation() -> None:
    store = make_store()
    with pytest.raises(NotFound):
        await store.create(Pod(metadata=ObjectMeta(name="Bad_Name", namespace="nowhere")))


async def test_create_into_terminating_namespace_is_forbidden() -> None:
    store = make_store()
    await store.create(Namespace(metadata=ObjectMeta(name="jds")))
    terminating = await store.delete(Namespace, "jds")
    assert terminating.status.phase == "Terminating"
    with pytest.raises(Forbidden) as caught:
        await store.create(pod(namespace="jds"))
    assert caught.value.message == (
        'pods "web" is forbidden: unable to create new content in namespace jds because it is'
        " being terminated"
    )
    assert caught.value.code == 403


async def test_invalid_object_reports_every_field_error() -> None:
    store = make_store()
    bad = Deployment(
        metadata=ObjectMeta(name="Bad_Name", labels={"-bad": "ok"}),
        spec=DeploymentSpec(replicas=-1),
    )
    revision = store.revision
    with pytest.raises(Invalid) as caught:
        await store.create(bad)
    paths = {cause.path for cause in caught.value.causes}
    assert {"metadata.name", "metadata.labels", "spec.replicas", "spec.selector"} <= paths
    assert caught.value.code == 422
    assert caught.value.message.startswith('Deployment.apps "Bad_Name" is invalid: [metadata.name: ')
    assert caught.value.message.endswith("]")
    assert store.revision == revision


async def test_selector_must_match_template_labels() -> None:
    store = make_store()
    bad = attrs.evolve(
        deployment(),
        spec=attrs.evolve(deployment().spec, selector=LabelSelector(match_labels={"app": "other"})),
    )
    with pytest.raises(Invalid) as caught:
        await store.create(bad)
    assert [str(c) for c in caught.value.causes] == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}:'
        " `selector` does not match template `labels`"
    ]


def with_deployment_spec(**changes: Any) -> Deployment:
    return attrs.evolve(deployment(), spec=attrs.evolve(deployment().spec, **changes))


def with_template_spec(**changes: Any) -> Deployment:
    template = deployment().spec.template
    return with_deployment_spec(template=attrs.evolve(template, spec=attrs.evolve(template.spec, **changes)))


async def test_a_workload_template_must_restart_always() -> None:
    store = make_store()
    revision = store.revision
    with pytest.raises(Invalid) as caught:
        await store.create(with_template_spec(restart_policy="Never"))
    assert [str(c) for c in caught.value.causes] == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'
    ]
    assert store.revision == revision


async def test_container_ports_are_validated_as_validate_container_ports() -> None:
    ports = [
        ContainerPort(name="http", container_port=0),
        ContainerPort(name="http", container_port=80, host_port=70000, protocol="HTTP"),
        ContainerPort(name="Metrics", container_port=9090),
    ]
    container = Container(name="app", image="nginx", ports=ports)
    bad = attrs.evolve(pod(), spec=attrs.evolve(pod().spec, containers=[container]))
    with pytest.raises(Invalid) as caught:
        await make_store().create(bad)
    assert [str(c) for c in caught.value.causes] == [
        "spec.containers[0].ports[0].containerPort: Required value",
        'spec.containers[0].ports[1].name: Duplicate value: "http"',
        "spec.containers[0].ports[1].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        'spec.containers[0].ports[1].protocol: Unsupported value: "HTTP":'
        ' supported values: "SCTP", "TCP", "UDP"',
        'spec.containers[0].ports[2].name: Invalid value: "Metrics": must contain only alpha-numeric'
        " characters (a-z, 0-9), and hyphens (-)",
    ]


async def test_a_pod_restart_policy_must_be_one_kubernetes_knows() -> None:
    bad = attrs.evolve(pod(), spec=attrs.evolve(pod().spec, restart_policy="Sometimes"))
    with pytest.raises(Invalid) as caught:
        await make_store().create(bad)
    assert [str(c) for c in caught.value.causes] == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    ]


async def test_max_surge_may_exceed_100_percent() -> None:
    rolling = RollingUpdateDeployment(max_surge="200%", max_unavailable=0)
    created = await make_store().create(
        with_deployment_spec(strategy=DeploymentStrategy(rolling_update=rolling))
    )
    assert created.spec.strategy.rolling_update == rolling


async def test_rolling_update_errors_print_values_as_int_or_string_does() -> None:
    rolling = RollingUpdateDeployment(max_surge="lots", max_unavailable="0%")
    with pytest.raises(Invalid) as caught:
        await make_store().create(with_deployment_spec(strategy=DeploymentStrategy(rolling_update=rolling)))
    assert [str(c) for c in caught.value.causes] == [
        "spec.strategy.rollingUpdate.maxSurge: Invalid value: lots: a valid percent string must be a numeric"
        " string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0%: may not be 0 when `maxSurge` is 0",
    ]


async def test_empty_selector_error_prints_the_selector() -> None:
    with pytest.raises(Invalid) as caught:
        await make_store().create(with_deployment_spec(selector=LabelSelector()))
    assert [str(c) for c in caught.value.causes] == [
        "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},"
        "MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for deployment"
    ]


async def test_a_missing_selector_matches_no_template() -> None:
    with pytest.raises(Invalid) as caught:
        await make_store().create(with_deployment_spec(selector=None))
    assert [c.path for c in caught.value.causes] == ["spec.selector", "spec.template.metadata.labels"]


async def test_an_unconvertible_selector_leaves_the_template_unchecked() -> None:
    selector = LabelSelector(match_expressions=[LabelSelectorRequirement(key="app", operator="Near")])
    bad = with_deployment_spec(selector=selector, replicas=1)
    bad = attrs.evolve(
        bad, spec=attrs.evolve(bad.spec, template=attrs.evolve(bad.spec.template, spec=PodSpec()))
    )
    with pytest.raises(Invalid) as caught:
        await make_store().create(bad)
    assert [str(c) for c in caught.value.causes] == [
        'spec.selector.matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator',
        "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},MatchExpressions:"
        "[]LabelSelectorRequirement{LabelSelectorRequirement{Key:app,Operator:Near,Values:[],},},}:"
        " invalid label selector",
    ]


async def test_selector_immutability_error_prints_the_new_selector() -> None:
    store = make_store()
    created = await store.create(deployment())
    moved = LabelSelector(match_labels={"app": "web", "tier": "front"})
    template = attrs.evolve(
        created.spec.template,
        metadata=attrs.evolve(created.spec.template.metadata, labels={"app": "web", "tier": "front"}),
    )
    with pytest.raises(Invalid) as caught:
        await store.update(
            attrs.evolve(created, spec=attrs.evolve(created.spec, selector=moved, template=template))
        )
    assert [str(c) for c in caught.value.causes] == [
        "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{app: web,tier: front,},"
        "MatchExpressions:[]LabelSelectorRequirement{},}: field is immutable"
    ]


async def test_a_negative_progress_deadline_is_reported_as_negative() -> None:
    with pytest.raises(Invalid) as caught:
        await make_store().create(with_deployment_spec(progress_deadline_seconds=-1))
    assert [str(c) for c in caught.value.causes] == [
        "spec.progressDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0",
        "spec.progressDeadlineSeconds: Invalid value: -1: must be greater than minReadySeconds",
    ]


async def test_resource_version_on_create_is_rejected() -> None:
    store = make_store()
    given = attrs.evolve(pod(), metadata=attrs.evolve(pod().metadata, resource_version="5"))
    with pytest.raises(BadRequest):
        await store.create(given)


async def test_pod_spec_is_immutable_except_images() -> None:
    store = make_store()
    created = await store.create(pod())
    new_image = attrs.evolve(created.spec.containers[0], image="nginx:1.26")
    updated = await store.update(
        attrs.evolve(created, spec=attrs.evolve(created.spec, containers=[new_image]))
    )
    assert updated.spec.containers[0].image == "nginx:1.26"
    with pytest.raises(Invalid):
        await store.update(attrs.evolve(updated, spec=attrs.evolve(updated.spec, node_name="n1")))


async def test_bind_sets_node_name_once() -> None:
    store = make_store()
    created = await store.create(pod())
    bound = await store.bind("web", "default", "node-1", uid=created.metadata.uid)
    assert bound.spec.node_name == "node-1"
    with pytest.raises(Conflict):
        await store.bind("web", "default", "node-2")


async def test_bind_refusals_are_conflicts_on_the_binding_subresource() -> None:
    store = make_store()
    await store.create(pod())
    await store.bind("web", "default", "node-1")
    with pytest.raises(Conflict) as caught:
        await store.bind("web", "default", "node-2")
    assert caught.value.message == (
        'Operation cannot be fulfilled on pods/binding "web": pod web is already assigned to node "node-1"'
    )
    await store.create(with_finalizers(pod("held"), "example.com/x"))
    await store.delete(Pod, "held")
    with pytest.raises(Conflict) as caught:
        await store.bind("held", "default", "node-1")
    assert caught.value.message == (
        'Operation cannot be fulfilled on pods/binding "held": pod held is being deleted, cannot be'
        " assigned to a host"
    )


async def test_bind_marks_the_pod_scheduled() -> None:
    # BindingREST.setPodNodeAndMetadata: UpdatePodCondition(PodScheduled=True) with the binding, so a
    # pod the scheduler once reported Unschedulable does not go on saying so once placed.
    clock = FixedClock()
    store = MemoryStore(seed=1, clock=clock)  # type: ignore[arg-type]
    created = await store.create(pod())
    unschedulable = PodCondition(
        type="PodScheduled",
        status="False",
        reason="Unschedulable",
        message="0/1 nodes are available: 1 Insufficient cpu.",
        last_transition_time=datetime(2026, 1, 2, 3, 0, 0, tzinfo=UTC),
    )
    ready = PodCondition(type="Ready", status="False")
    await store.update_status(
        attrs.evolve(created, status=attrs.evolve(created.status, conditions=(ready, unschedulable)))
    )
    clock.current += timedelta(seconds=30)
    bound = await store.bind("web", "default", "node-1")
    assert bound.status.conditions == (
        ready,
        PodCondition(
            type="PodScheduled", status="True", last_transition_time=clock.current.replace(microsecond=0)
        ),
    )
    assert (await store.get(Pod, "web", "default")).status.conditions == bound.status.conditions

    other = await store.create(pod("fresh"))
    assert other.status.conditions == ()
    fresh = await store.bind("fresh", "default", "node-1")
    assert [(c.type, c.status) for c in fresh.status.conditions] == [("PodScheduled", "True")]


async def test_pods_get_default_not_ready_and_unreachable_tolerations() -> None:
    store = make_store()
    created = await store.create(pod())
    keys = {(t.key, t.effect, t.toleration_seconds) for t in created.spec.tolerations}
    assert keys == {
        ("node.kubernetes.io/not-ready", "NoExecute", 300),
        ("node.kubernetes.io/unreachable", "NoExecute", 300),
    }


@pytest.mark.parametrize(
    ("own", "added"),
    [
        # A toleration of the key with any effect that includes NoExecute counts as the pod's own choice.
        (
            Toleration(key="node.kubernetes.io/not-ready", operator="Exists"),
            {"node.kubernetes.io/unreachable"},
        ),
        (
            Toleration(key="node.kubernetes.io/unreachable", operator="Exists", effect="NoExecute"),
            {"node.kubernetes.io/not-ready"},
        ),
        # An empty key with Exists tolerates every taint: nothing to add.
        (Toleration(operator="Exists"), set()),
        # A NoSchedule toleration does not cover eviction: both defaults are added.
        (
            Toleration(key="node.kubernetes.io/not-ready", operator="Exists", effect="NoSchedule"),
            {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"},
        ),
    ],
)
async def test_default_tolerations_add_only_what_the_pod_lacks(own: Toleration, added: set[str]) -> None:
    store = make_store()
    created = await store.create(attrs.evolve(pod(), spec=attrs.evolve(pod().spec, tolerations=[own])))
    assert created.spec.tolerations[0] == own
    defaults = created.spec.tolerations[1:]
    assert {t.key for t in defaults} == added
    assert all((t.operator, t.effect, t.toleration_seconds) == ("Exists", "NoExecute", 300) for t in defaults)


async def test_deployment_defaults_rolling_update_to_25_percent() -> None:
    store = make_store()
    created = await store.create(deployment())
    rolling = created.spec.strategy.rolling_update
    assert rolling is not None
    assert (rolling.max_surge, rolling.max_unavailable) == ("25%", "25%")
    assert created.spec.revision_history_limit == 10
    assert created.spec.progress_deadline_seconds == 600


# --- list ----------------------------------------------------------------------------------------


async def test_list_returns_items_in_key_order_with_revision() -> None:
    store = make_store()
    await store.create(Namespace(metadata=ObjectMeta(name="b")))
    for namespace, name in [("default", "z"), ("b", "a"), ("default", "a")]:
        await store.create(pod(name, namespace))
    listed = await store.list(Pod)
    assert [(p.metadata.namespace, p.metadata.name) for p in listed.items] == [
        ("b", "a"),
        ("default", "a"),
        ("default", "z"),
    ]
    assert listed.revision == store.revision
    assert listed.resource_version == str(store.revision)


async def test_list_filters_by_namespace_labels_and_fields() -> None:
    store = make_store()
    await store.create(pod("a", app="web", tier="front"))
    await store.create(pod("b", app="web"))
    await store.create(pod("c", app="db"))
    await store.bind("b", "default", "node-1")
    web = await store.list(Pod, label_selector="app=web,tier")
    assert [p.metadata.name for p in web.items] == ["a"]
    on_node = await store.list(Pod, field_selector="spec.nodeName=node-1")
    assert [p.metadata.name for p in on_node.items] == ["b"]
    not_web = await store.list(Pod, namespace="default", label_selector="app!=web")
    assert [p.metadata.name for p in not_web.items] == ["c"]


async def test_pods_select_on_host_network_and_services_on_type_and_cluster_ip() -> None:
    store = make_store()
    await store.create(pod())
    node_port = ServiceSpec(type="NodePort", ports=[ServicePort(port=80)])
    service = await store.create(Service(metadata=ObjectMeta(name="web"), spec=node_port))
    assert len((await store.list(Pod, field_selector="spec.hostNetwork=false")).items) == 1
    selected = await store.list(
        Service, field_selector=f"spec.type=NodePort,spec.clusterIP={service.spec.cluster_ip}"
    )
    assert [s.metadata.name for s in selected.items] == ["web"]


async def test_list_with_unsupported_field_is_bad_request() -> None:
    store = make_store()
    with pytest.raises(BadRequest) as caught:
        await store.list(Pod, field_selector="spec.image=x")
    assert caught.value.message == "field label not supported: spec.image"


async def test_list_and_watch_with_a_selector_that_does_not_parse_are_bad_requests() -> None:
    store = make_store()
    with pytest.raises(BadRequest) as caught:
        await store.list(Pod, label_selector="app in")
    assert caught.value.code == 400
    assert caught.value.message == "unable to parse requirement: found '' expected: '('"
    with pytest.raises(BadRequest) as caught:
        store.watch(Pod, field_selector="spec.nodeName<x")
    assert caught.value.message == "invalid selector: 'spec.nodeName<x'; can't understand 'spec.nodeName<x'"


# --- patch ---------------------------------------------------------------------------------------


async def test_merge_patch_sets_and_removes_fields() -> None:
    store = make_store()
    await store.create(pod(app="web", tier="front"))
    patched = await store.patch(Pod, "web", {"metadata": {"labels": {"tier": None, "version": "v2"}}})
    assert patched.metadata.labels == {"app": "web", "version": "v2"}


async def test_json_patch_applies_operations() -> None:
    store = make_store()
    await store.create(deployment())
    patched = await store.patch(
        Deployment,
        "web",
        [{"op": "replace", "path": "/spec/replicas", "value": 4}],
        patch_type="json",
    )
    assert patched.spec.replicas == 4
    assert patched.metadata.generation == 2


async def test_patch_producing_an_invalid_object_changes_nothing() -> None:
    store = make_store()
    await store.create(deployment())
    revision = store.revision
    with pytest.raises(Invalid):
        await store.patch(Deployment, "web", {"spec": {"replicas": "many"}})
    with pytest.raises(Invalid):
        await store.patch(Deployment, "web", {"spec": {"replicas": -3}})
    assert store.revision == revision


async def test_patch_renaming_the_object_is_a_bad_request_worded_as_check_name() -> None:
    store = make_store()
    await store.create(Namespace(metadata=ObjectMeta(name="team")))
    await store.create(pod(namespace="team"))
    revision = store.revision
    with pytest.raises(BadRequest) as caught:
        await store.patch(Pod, "web", {"metadata": {"name": "api"}}, "team")
    assert caught.value.message == "the name of the object (api) does not match the name on the URL (web)"
    with pytest.raises(BadRequest) as caught:
        await store.patch(Pod, "web", {"metadata": {"namespace": "default"}}, "team")
    assert caught.value.message == (
        "the namespace of the object (default) does not match the namespace on the URL (team)"
    )
    assert store.revision == revision


async def test_patch_that_drops_the_namespace_keeps_the_request_namespace() -> None:
    store = make_store()
    await store.create(Namespace(metadata=ObjectMeta(name="team")))
    await store.create(pod(namespace="team"))
    patched = await store.patch(Pod, "web", {"metadata": {"namespace": None, "labels": {"a": "b"}}}, "team")
    assert (patched.metadata.namespace, patched.metadata.labels) == ("team", {"a": "b"})


async def test_status_patch() -> None:
    store = make_store()
    await store.create(pod())
    patched = await store.patch(Pod, "web", {"status": {"phase": "Running"}}, status=True)
    assert patched.status.phase == "Running"


# --- delete --------------------------------------------------------------------------------------


async def test_delete_without_finalizers_removes_at_once() -> None:
    store = make_store()
    await store.create(pod())
    deleted = await store.delete(Pod, "web")
    assert int(deleted.metadata.resource_version) == store.revision
    with pytest.raises(NotFound):
        await store.get(Pod, "web")


async def test_delete_with_finalizers_sets_deletion_timestamp_until_they_are_gone() -> None:
    store = make_store()
    given = attrs.evolve(pod(), metadata=attrs.evolve(pod().metadata, finalizers=["example.com/x"]))
    await store.create(given)
    deleting = await store.delete(Pod, "web")
    assert deleting.metadata.deletion_timestamp is not None
    assert (await store.get(Pod, "web")).metadata.deletion_timestamp is not None
    with pytest.raises(Invalid):
        await store.update(
            attrs.evolve(
                deleting,
                metadata=attrs.evolve(deleting.metadata, finalizers=["example.com/x", "more/y"]),
            )
        )
    released = attrs.evolve(deleting, metadata=attrs.evolve(deleting.metadata, finalizers=[]))
    await store.update(released)
    with pytest.raises(NotFound):
        await store.get(Pod, "web")


@pytest.mark.parametrize(
    ("policy", "finalizer"),
    [(PropagationPolicy.ORPHAN, "orphan"), (PropagationPolicy.FOREGROUND, "foregroundDeletion")],
)
async def test_propagation_policy_is_recorded_as_a_finalizer(
    policy: PropagationPolicy, finalizer: str
) -> None:
    store = make_store()
    await store.create(deployment())
    deleting = await store.delete(Deployment, "web", propagation_policy=policy)
    assert deleting.metadata.finalizers == (finalizer,)
    assert deleting.metadata.deletion_timestamp is not None


async def test_bound_pod_is_deleted_gracefully() -> None:
    clock = FixedClock()
    store = MemoryStore(seed=1, clock=clock)
    await store.create(pod())
    await store.bind("web", "default", "node-1")
    deleting = await store.delete(Pod, "web")
    assert deleting.metadata.deletion_grace_period_seconds == 30
    assert deleting.metadata.deletion_timestamp == clock.now().replace(microsecond=0) + timedelta(seconds=30)
    await store.delete(Pod, "web", grace_period_seconds=0)
    with pytest.raises(NotFound):
        await store.get(Pod, "web")


async def test_background_propagation_drops_an_orphan_finalizer_and_deletes_at_once() -> None:
    store = make_store()
    await store.create(with_finalizers(ConfigMap(metadata=ObjectMeta(name="cm")), "orphan"))
    await store.delete(ConfigMap, "cm", propagation_policy=PropagationPolicy.BACKGROUND)
    with pytest.raises(NotFound):
        await store.get(ConfigMap, "cm")


async def test_orphan_propagation_replaces_foreground_deletion() -> None:
    store = make_store()
    await store.create(
        with_finalizers(ConfigMap(metadata=ObjectMeta(name="cm")), "example.com/x", "foregroundDeletion")
    )
    deleting = await store.delete(ConfigMap, "cm", propagation_policy=PropagationPolicy.ORPHAN)
    assert deleting.metadata.finalizers == ("example.com/x", "orphan")


async def test_deleting_again_in_background_ends_a_foreground_deletion() -> None:
    store = make_store()
    await store.create(deployment())
    await store.delete(Deployment, "web", propagation_policy=PropagationPolicy.FOREGROUND)
    await store.delete(Deployment, "web", propagation_policy=PropagationPolicy.BACKGROUND)
    with pytest.raises(NotFound):
        await store.get(Deployment, "web")


async def test_a_pending_graceful_deletion_can_only_be_shortened() -> None:
    clock = FixedClock()
    store = MemoryStore(seed=1, clock=clock)
    await store.create(pod())
    await store.bind("web", "default", "node-1")
    first = await store.delete(Pod, "web")
    start = first.metadata.deletion_timestamp - timedelta(seconds=30)
    shortened = await store.delete(Pod, "web", grace_period_seconds=10)
    assert shortened.metadata.deletion_grace_period_seconds == 10
    assert shortened.metadata.deletion_timestamp == start + timedelta(seconds=10)
    revision = store.revision
    kept = await store.delete(Pod, "web", grace_period_seconds=20)
    assert kept == shortened
    assert store.revision == revision


async def test_negative_grace_period_deletes_a_bound_pod_in_one_second() -> None:
    clock = FixedClock()
    store = MemoryStore(seed=1, clock=clock)
    await store.create(pod())
    await store.bind("web", "default", "node-1")
    deleting = await store.delete(Pod, "web", grace_period_seconds=-5)
    assert deleting.metadata.deletion_grace_period_seconds == 1
    assert deleting.metadata.deletion_timestamp == clock.now().replace(microsecond=0) + timedelta(seconds=1)


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_the_system_namespaces_may_not_be_deleted(name: str) -> None:
    store = make_store()
    revision = store.revision
    with pytest.raises(Forbidden) as caught:
        await store.delete(Namespace, name)
    assert caught.value.message == f'namespaces "{name}" is forbidden: this namespace may not be deleted'
    assert store.revision == revision


async def test_namespace_termination_sets_no_grace_period() -> None:
    store = make_store()
    await store.create(Namespace(metadata=ObjectMeta(name="team")))
    terminating = await store.delete(Namespace, "team")
    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.metadata.deletion_grace_period_seconds is None
    assert terminating.status.phase == "Terminating"


async def test_delete_precondition_uid_mismatch_is_conflict() -> None:
    store = make_store()
    created = await store.create(pod())
    with pytest.raises(Conflict) as caught:
        await store.delete(Pod, "web", uid="not-the-uid")
    assert caught.value.message == (
        'Operation cannot be fulfilled on Pod "web": the UID in the precondition (not-the-uid) does not'
        f" match the UID in record ({created.metadata.uid}). The object might have been deleted and then"
        " recreated"
    )


async def test_delete_precondition_resource_version_mismatch_is_worded_as_before_delete() -> None:
    store = make_store()
    created = await store.create(deployment())
    with pytest.raises(Conflict) as caught:
        await store.delete(Deployment, "web", resource_version="1")
    assert caught.value.message == (
        'Operation cannot be fulfilled on Deployment.apps "web": the ResourceVersion in the precondition'
        f" (1) does not match the ResourceVersion in record ({created.metadata.resource_version})."
        " The object might have been modified"
    )


async def test_update_checks_the_uid_precondition_before_the_resource_version() -> None:
    store = make_store()
    created = await store.create(pod())
    await store.update(attrs.evolve(created, metadata=attrs.evolve(created.metadata, labels={"a": "b"})))
    stale_and_foreign = attrs.evolve(created, metadata=attrs.evolve(created.metadata, uid="other"))
    with pytest.raises(Conflict) as caught:
        await store.update(stale_and_foreign)
    assert "Precondition failed: UID in precondition: other" in caught.value.message


# --- watch ---------------------------------------------------------------------------------------


async def test_watch_delivers_every_change_in_revision_order() -> None:
    store = make_store()
    start = store.revision
    created = await store.create(pod())
    updated = await store.update(
        attrs.evolve(created, metadata=attrs.evolve(created.metadata, labels={"a": "b"}))
    )
    await store.delete(Pod, "web")
    watch = store.watch(Pod, since=start)
    events = watch.ready()
    assert [e.type for e in events] == [EventType.ADDED, EventType.MODIFIED, EventType.DELETED]
    assert [e.revision for e in events] == [start + 1, start + 2, start + 3]
    assert events[1].object == updated


async def test_watch_waits_for_new_events() -> None:
    store = make_store()
    watch = store.watch(Pod)
    received = []

    async def consume() -> None:
        batch = await watch.next_batch()
        received.extend(batch)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        await store.create(pod())
    assert [e.object.metadata.name for e in received if e.object] == ["web"]


async def test_watch_from_below_compaction_raises_gone() -> None:
    store = make_store()
    for i in range(5):
        await store.create(pod(f"p{i}"))
    store.compact(store.revision - 2)
    with pytest.raises(Gone) as caught:
        store.watch(Pod, since=store.revision - 3)
    # watchCache: the number in brackets is the oldest revision a watch may still start from.
    assert caught.value.message == f"too old resource version: {store.revision - 3} ({store.revision - 2})"
    assert len(store.watch(Pod, since=store.revision - 2).ready()) == 2


async def test_watcher_that_falls_behind_the_history_is_ended_with_gone() -> None:
    store = make_store(history=10)
    watch = store.watch(Pod)
    for i in range(400):
        await store.create(pod(f"p{i}"))
    with pytest.raises(Gone):
        watch.ready()


async def test_label_filtered_watch_sees_objects_enter_and_leave_as_added_and_deleted() -> None:
    store = make_store()
    created = await store.create(pod(app="db"))
    watch = store.watch(Pod, label_selector="app=web")
    moved_in = await store.update(
        attrs.evolve(created, metadata=attrs.evolve(created.metadata, labels={"app": "web"}))
    )
    await store.update(attrs.evolve(moved_in, metadata=attrs.evolve(moved_in.metadata, labels={"app": "db"})))
    assert [e.type for e in watch.ready()] == [EventType.ADDED, EventType.DELETED]


async def test_namespace_watch_sees_every_change_of_its_namespace_as_it_happened() -> None:
    store = make_store()
    watch = store.watch(Pod, namespace="default")
    everything = store.watch(Pod)
    await store.create(pod("other", namespace="kube-system"))
    await store.create(pod())
    await store.bind("web", "default", "node-1")
    await store.bind("other", "kube-system", "node-1")
    await store.delete(Pod, "web", grace_period_seconds=0)
    seen = watch.ready()
    assert [(e.type, e.object.metadata.name) for e in seen if e.object is not None] == [
        (EventType.ADDED, "web"),
        (EventType.MODIFIED, "web"),
        (EventType.DELETED, "web"),
    ]
    # The very events of the store's log: previous objects included, nothing rebuilt.
    assert seen == [e for e in everything.ready() if e.object is not None and e.object.metadata.name == "web"]
    assert watch.revision == store.revision


async def test_filtered_watch_with_bookmarks_reports_progress() -> None:
    store = make_store()
    watch = store.watch(Pod, namespace="kube-system", bookmarks=True)
    await store.create(pod())
    events = watch.ready()
    assert [e.type for e in events] == [EventType.BOOKMARK]
    assert events[0].revision == store.revision


async def test_deleting_again_with_zero_grace_removes_the_pod_once_its_finalizers_go() -> None:
    store = make_store()
    held = attrs.evolve(pod(), metadata=attrs.evolve(pod().metadata, finalizers=["example.com/x"]))
    await store.create(held)
    await store.bind("web", "default", "node-1")
    first = await store.delete(Pod, "web")
    assert first.metadata.deletion_grace_period_seconds == 30
    shortened = await store.delete(Pod, "web", grace_period_seconds=0)
    assert shortened.metadata.deletion_grace_period_seconds == 0
    assert shortened.metadata.deletion_timestamp == first.metadata.deletion_timestamp - timedelta(seconds=30)
    await store.update(attrs.evolve(shortened, metadata=attrs.evolve(shortened.metadata, finalizers=[])))
    with pytest.raises(NotFound):
        await store.get(Pod, "web")
