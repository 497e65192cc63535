"""Manifests: YAML 1.1 loading, schema and semantic validation with positions, and dumping back."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import MemoryStore, Scheme
from store.manifests import InvalidManifest, dump, load, load_file, load_paths
from store.models import ConfigMap, Deployment, Namespace, Secret, Service

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

GOOD_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(InvalidManifest) as caught:
        load(text, filename="m.yaml")
    return [str(error) for error in caught.value.errors]


def test_loads_a_valid_deployment() -> None:
    [obj] = load(GOOD_DEPLOYMENT)
    assert isinstance(obj, Deployment)
    assert obj.spec.replicas == 2
    assert obj.spec.template.spec.containers[0].image == "nginx:1.25"


def test_myblog_example_loads_every_object() -> None:
    objects = load_paths([EXAMPLES / "myblog"])
    kinds = [(type(o).__name__, o.metadata.name) for o in objects]  # type: ignore[attr-defined]
    assert kinds == [
        ("Namespace", "jds"),
        ("ConfigMap", "myblog"),
        ("Secret", "myblog"),
        ("Deployment", "mysql"),
        ("Service", "mysql"),
        ("Deployment", "myblog"),
        ("Service", "myblog"),
        ("Service", "myblog-np"),
    ]
    mysql = objects[3]
    assert isinstance(mysql, Deployment)
    assert mysql.spec.template.spec.node_selector == {"component": "mysql"}
    probe = mysql.spec.template.spec.containers[0].readiness_probe
    assert probe is not None and probe.tcp_socket is not None
    assert (probe.initial_delay_seconds, probe.period_seconds) == (5, 10)
    assert isinstance(objects[0], Namespace)
    assert isinstance(objects[1], ConfigMap) and objects[1].data["MYSQL_PORT"] == "3306"
    assert isinstance(objects[2], Secret)
    assert isinstance(objects[7], Service) and objects[7].spec.type == "NodePort"


async def test_myblog_example_stores_cleanly() -> None:
    store = MemoryStore(seed=0)
    for obj in load_paths([EXAMPLES / "myblog"]):
        await store.create(obj)
    assert len((await store.list(Deployment, namespace="jds")).items) == 2


def test_wrong_type_is_reported_with_line_and_path() -> None:
    text = GOOD_DEPLOYMENT.replace("replicas: 2", "replicas: two")
    assert errors_of(text) == ["m.yaml:6:3: spec.replicas: must be an integer, got string"]


def test_unknown_field_is_reported() -> None:
    text = GOOD_DEPLOYMENT.replace("  replicas: 2", "  replicas: 2\n  replica: 3")
    assert errors_of(text) == ['m.yaml:7:3: spec.replica: unknown field "replica"']


def test_missing_required_field_is_reported_at_its_parent() -> None:
    text = GOOD_DEPLOYMENT.replace("        image: nginx:1.25\n", "")
    [error] = errors_of(text)
    assert error.startswith("m.yaml:14:9: spec.template.spec.containers[0]")
    assert "image" in error


def test_missing_name_is_reported() -> None:
    text = GOOD_DEPLOYMENT.replace("  name: web\n", "  labels: {a: b}\n")
    assert errors_of(text) == ["m.yaml:3:1: metadata.name: Required value: name or generateName is required"]


def test_invalid_label_key_is_reported() -> None:
    text = GOOD_DEPLOYMENT.replace("  name: web\n", "  name: web\n  labels: {-bad: x}\n")
    [error] = errors_of(text)
    assert error.startswith('m.yaml:5:3: metadata.labels: Invalid value: "-bad": name part must')


def test_bad_quantity_is_reported() -> None:
    text = GOOD_DEPLOYMENT + "        resources:\n          requests: {memory: 1mi}\n"
    [error] = errors_of(text)
    assert error.startswith("m.yaml:17:22: spec.template.spec.containers[0].resources.requests.memory:")


def test_yaml_11_boolean_value_trap_is_explained() -> None:
    text = GOOD_DEPLOYMENT.replace(
        "labels: {app: web}\n    spec", "labels: {app: web, enabled: yes}\n    spec"
    )
    assert errors_of(text) == [
        "m.yaml:11:26: spec.template.metadata.labels.enabled: must be a string, got boolean"
        " (YAML 1.1 reads yes as a boolean; quote it to keep a string)"
    ]


def test_yaml_11_boolean_key_trap_is_explained() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  on: x\n"
    assert errors_of(text) == [
        "m.yaml:5:3: data: key on is not a string (YAML 1.1 reads on as a boolean; quote it to keep a string)"
    ]


def test_yaml_11_octal_trap_is_explained() -> None:
    text = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: modes}
data:
  mode: 0755
"""
    assert errors_of(text) == [
        "m.yaml:5:3: data.mode: must be a string, got integer"
        " (YAML 1.1 reads 0755 as an octal number; quote it to keep a string)"
    ]


def test_duplicate_keys_are_rejected() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nkind: Secret\n"
    [error] = errors_of(text)
    assert error.startswith("m.yaml:4:1: YAML: found duplicate key")


def test_every_error_in_every_document_is_reported() -> None:
    bad = GOOD_DEPLOYMENT.replace("replicas: 2", "replicas: -1").replace("image: nginx:1.25", "image: 7")
    text = GOOD_DEPLOYMENT + "---\n" + bad + "---\napiVersion: v1\nkind: Nope\nmetadata: {name: x}\n"
    errors = errors_of(text)
    assert errors == [
        "m.yaml:31:9: spec.template.spec.containers[0].image: must be a string, got integer",
        'm.yaml:34:1: kind: no kind "Nope" is registered for version "v1"',
    ]


def test_semantic_errors_are_reported_after_schema_passes() -> None:
    text = GOOD_DEPLOYMENT.replace("replicas: 2", "replicas: -1")
    assert errors_of(text) == [
        "m.yaml:6:3: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_one_bad_file_rejects_the_whole_set(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD_DEPLOYMENT)
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    with pytest.raises(InvalidManifest) as caught:
        load_paths([tmp_path])
    assert [str(e) for e in caught.value.errors] == [
        f"{tmp_path / 'b.yaml'}:1:1: metadata.name: Required value: name or generateName is required"
    ]


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(InvalidManifest) as caught:
        load_file(tmp_path / "nope.yaml")
    assert "no such file or directory" in str(caught.value)


def test_custom_kind_is_validated_by_its_class() -> None:
    scheme = Scheme()
    scheme.register_generic("example.com/v1", "Widget")
    [widget] = load(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n",
        scheme=scheme,
    )
    assert widget.spec["size"] == 3  # type: ignore[attr-defined]
    with pytest.raises(InvalidManifest) as caught:
        load("apiVersion: example.com/v1\nkind: Widget\nmetadata: {nam: w}\n", scheme=scheme)
    assert [e.path for e in caught.value.errors] == ["metadata.name", "metadata.nam"]


def test_dump_then_load_gives_equal_objects() -> None:
    objects = load_paths([EXAMPLES / "myblog"])
    text = dump(objects)
    assert load(text) == objects


def test_dump_quotes_yaml_11_lookalike_strings() -> None:
    [obj] = load('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: "yes", b: "0755"}\n')
    assert load(dump([obj])) == [obj]
