"""Scheme: kind registration and cattrs conversion between typed objects and the camelCase wire form."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from store import Invalid, MemoryStore, Scheme
from store.frozen import FrozenDict
from store.models import Deployment, GenericObject, Model, Object, Pod
from store.quantity import Quantity, parse_quantity

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
    "spec": {
        "nodeName": "node-1",
        "securityContext": {"runAsUser": 1000},
        "volumes": [{"name": "data", "hostPath": {"path": "/data"}}],
        "containers": [
            {
                "name": "app",
                "image": "nginx:1.25",
                "env": [
                    {"name": "PLAIN", "value": "1"},
                    {"name": "FROM", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                ],
                "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}},
                "ports": [{"containerPort": 80, "hostIP": "0.0.0.0"}],
                "volumeMounts": [{"name": "data", "mountPath": "/var/data"}],
            }
        ],
    },
    "status": {"podIP": "10.0.0.5", "hostIP": "192.168.0.1", "phase": "Running"},
}


def test_wire_form_is_camel_case_with_acronyms() -> None:
    scheme = Scheme()
    obj = scheme.from_dict(POD)
    assert isinstance(obj, Pod)
    assert obj.spec.node_name == "node-1"
    assert obj.status.pod_ip == "10.0.0.5"
    assert obj.spec.containers[0].ports[0].host_ip == "0.0.0.0"
    wire = scheme.to_dict(obj)
    assert wire["status"]["podIP"] == "10.0.0.5"
    assert wire["spec"]["containers"][0]["ports"][0]["hostIP"] == "0.0.0.0"


def test_fields_nothing_acts_on_survive_a_round_trip() -> None:
    scheme = Scheme()
    wire = scheme.to_dict(scheme.from_dict(POD))
    assert wire["spec"]["securityContext"] == {"runAsUser": 1000}
    assert wire["spec"]["volumes"] == POD["spec"]["volumes"]
    container = wire["spec"]["containers"][0]
    assert container["env"][1]["valueFrom"] == {"secretKeyRef": {"name": "s", "key": "k"}}
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/var/data"}]


def test_round_trip_is_stable() -> None:
    scheme = Scheme()
    once = scheme.to_dict(scheme.from_dict(POD))
    assert scheme.to_dict(scheme.from_dict(once)) == once


def test_collections_are_immutable() -> None:
    obj = Scheme().from_dict(POD)
    assert isinstance(obj, Pod)
    assert isinstance(obj.metadata.labels, FrozenDict)
    assert isinstance(obj.spec.containers, tuple)
    with pytest.raises(TypeError):
        obj.metadata.labels["x"] = "y"  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        obj.spec = obj.spec  # type: ignore[misc]


def test_quantities_are_parsed() -> None:
    obj = Scheme().from_dict(POD)
    assert isinstance(obj, Pod)
    requests = obj.spec.containers[0].resources.requests
    assert requests["cpu"] == parse_quantity("0.1")
    assert isinstance(requests["memory"], Quantity)


def test_wrong_types_are_reported_with_wire_paths() -> None:
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": "three",
            "template": {"spec": {"containers": [{"name": "a", "image": 5}]}},
        },
    }
    with pytest.raises(Invalid) as caught:
        Scheme().from_dict(bad)
    assert {cause.path for cause in caught.value.causes} == {
        "spec.replicas",
        "spec.template.spec.containers[0].image",
    }


def test_unknown_kind_is_invalid() -> None:
    with pytest.raises(Invalid) as caught:
        Scheme().from_dict({"apiVersion": "v1", "kind": "Nope", "metadata": {"name": "x"}})
    assert caught.value.causes[0].path == "kind"


def test_builtin_kind_infos() -> None:
    scheme = Scheme()
    info = scheme.info(Deployment)
    assert (info.api_version, info.plural, info.namespaced) == ("apps/v1", "deployments", True)
    assert info.key("jds", "myblog") == "/registry/apps/deployments/jds/myblog"
    assert scheme.info(Pod).key("default", "a") == "/registry/core/pods/default/a"
    assert scheme.find("deploy") is None
    assert scheme.find("Deployments") is info


@attrs.frozen(kw_only=True)
class DatabaseSpec(Model):
    engine: str
    storage: Quantity | None = None


@attrs.frozen(kw_only=True)
class Database(Object):
    api_version = "example.com/v1"
    kind = "Database"
    spec: DatabaseSpec


async def test_custom_attrs_kind_registers_and_stores() -> None:
    scheme = Scheme()
    info = scheme.register(Database, plural="databases")
    assert info.tracks_generation
    db = scheme.from_dict(
        {
            "apiVersion": "example.com/v1",
            "kind": "Database",
            "metadata": {"name": "main"},
            "spec": {"engine": "postgres", "storage": "10Gi"},
        }
    )
    assert isinstance(db, Database)
    store = MemoryStore(scheme, seed=0)
    created = await store.create(db)
    assert created.metadata.generation == 1
    assert scheme.to_dict(created)["spec"] == {"engine": "postgres", "storage": "10Gi"}


async def test_generic_kind_holds_plain_frozen_data() -> None:
    scheme = Scheme()
    widget = scheme.register_generic("example.com/v1alpha1", "Widget")
    assert issubclass(widget, GenericObject)
    assert scheme.info(widget).plural == "widgets"
    obj = scheme.from_dict(
        {
            "apiVersion": "example.com/v1alpha1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 3, "parts": [{"a": 1}]},
        }
    )
    assert isinstance(obj, widget)
    assert obj.spec["parts"][0]["a"] == 1
    store = MemoryStore(scheme, seed=0)
    await store.create(obj)
    assert (await store.get(widget, "w")).spec["size"] == 3
