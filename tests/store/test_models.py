"""The models' derived reads, and the rule that keeps attribute reads on them fast."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from store import models
from store.models import LabelSelector, ObjectMeta, OwnerReference, PodCondition, PodStatus


def _ref(name: str, *, controller: bool | None) -> OwnerReference:
    return OwnerReference(
        api_version="apps/v1", kind="ReplicaSet", name=name, uid=name, controller=controller
    )


def test_controller_ref_is_the_reference_marked_controller() -> None:
    meta = ObjectMeta(owner_references=[_ref("a", controller=None), _ref("b", controller=True)])
    assert meta.controller_ref() == _ref("b", controller=True)
    assert ObjectMeta(owner_references=[_ref("a", controller=False)]).controller_ref() is None


def test_a_pod_status_reads_the_first_condition_of_a_type() -> None:
    status = PodStatus(
        conditions=[
            PodCondition(type="PodScheduled", status="True"),
            PodCondition(type="Ready", status="True"),
            PodCondition(type="Ready", status="False"),
        ]
    )
    assert status.condition("Ready") == PodCondition(type="Ready", status="True")
    assert status.condition("ContainersReady") is None
    assert status.ready


def test_a_pod_is_ready_only_with_a_true_ready_condition() -> None:
    assert not PodStatus().ready
    assert not PodStatus(conditions=[PodCondition(type="Ready", status="False")]).ready
    assert not PodStatus(conditions=[PodCondition(type="ContainersReady", status="True")]).ready


def test_no_model_defines_getattr() -> None:
    # A class with ``__getattr__`` (attrs adds one for a ``functools.cached_property`` on a slotted class)
    # keeps CPython from specialising every attribute read on its instances: reads of metadata and pod
    # status fields, the hottest in the code, took about 4x as long.
    kinds = [value for value in vars(models).values() if isinstance(value, type) and attrs.has(value)]
    assert ObjectMeta in kinds and PodStatus in kinds
    assert [kind.__name__ for kind in kinds if hasattr(kind, "__getattr__")] == []


def test_with_fields_copies_every_field_and_replaces_the_changed_ones() -> None:
    # Every model, fields inherited from a base class included (Object's metadata): the copy equals
    # attrs.evolve's, the original is left as it was, and a name that is no field is ignored.
    kinds = [value for value in vars(models).values() if isinstance(value, type) and attrs.has(value)]
    for kind in kinds:
        if any(field.default is attrs.NOTHING for field in attrs.fields(kind)):
            continue  # no instance without arguments
        original = kind()
        assert models.with_fields(original, not_a_field=1) == original
        assert type(models.with_fields(original)) is kind
    meta = ObjectMeta(name="a", namespace="b", labels={"app": "web"}, generation=1)
    pod = models.Pod(metadata=meta)
    copied = models.with_fields(pod, metadata=models.with_fields(meta, resource_version="7", generation=2))
    assert copied == attrs.evolve(pod, metadata=attrs.evolve(meta, resource_version="7", generation=2))
    assert copied.spec is pod.spec and copied.status is pod.status
    assert pod.metadata.resource_version == "" and pod.metadata.generation == 1


def test_a_copy_with_fields_is_as_frozen_as_any_instance() -> None:
    # Copies are filled in as instances of a subclass that takes attribute stores, then made instances
    # of the model itself: nothing of that subclass may show.
    meta = ObjectMeta(name="a", namespace="b")
    for copied in (models.with_fields(meta, name="c"), models.with_fields(meta, name="c", uid="u")):
        assert type(copied) is ObjectMeta and copied.__class__ is ObjectMeta
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            copied.name = "d"  # type: ignore[misc]
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            del copied.namespace  # type: ignore[misc]
        assert copied == ObjectMeta(name="c", namespace="b", uid=copied.uid)
        assert hash(copied.labels) == hash(meta.labels) and repr(copied).startswith("ObjectMeta(")
    # The same names in another order, or a name that is no field, give the same copy.
    assert models.with_fields(meta, uid="u", name="c") == models.with_fields(meta, name="c", uid="u")
    assert models.with_fields(meta, name="c", nothing=1) == models.with_fields(meta, name="c")


def test_a_label_selector_is_compiled_once_per_instance_and_the_table_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled: list[object] = []
    real = models.selector_from_structured

    def counting(*args: Any) -> Any:
        compiled.append(args)
        return real(*args)

    monkeypatch.setattr(models, "selector_from_structured", counting)
    monkeypatch.setattr(models, "_COMPILED_SELECTORS", {})
    monkeypatch.setattr(models, "_COMPILED_SELECTORS_MAX", 3)
    selector = LabelSelector(match_labels={"app": "web"})
    assert selector.as_selector() is selector.as_selector()
    assert len(compiled) == 1
    equal = LabelSelector(match_labels={"app": "web"})
    assert str(equal.as_selector()) == str(selector.as_selector()) == "app=web"
    assert len(compiled) == 2
    others = [LabelSelector(match_labels={"app": str(i)}) for i in range(3)]
    for other in others:
        other.as_selector()
    assert len(models._COMPILED_SELECTORS) <= 3
    assert models._COMPILED_SELECTORS[id(others[-1])][0] is others[-1]
