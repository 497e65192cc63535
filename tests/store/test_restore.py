"""MemoryStore.restore: saved objects come back exactly, and the revision stays one increasing counter."""

from __future__ import annotations

import pytest

from store import AlreadyExists, MemoryStore
from store.manifests import dump, load
from store.models import Container, Namespace, ObjectMeta, Pod, PodSpec, Service, ServicePort, ServiceSpec


async def populated() -> MemoryStore:
    store = MemoryStore(seed=3)
    await store.create(Namespace(metadata=ObjectMeta(name="web")))
    await store.create(
        Pod(
            metadata=ObjectMeta(name="p", namespace="web"),
            spec=PodSpec(containers=[Container(name="c", image="i")]),
        )
    )
    await store.create(
        Service(
            metadata=ObjectMeta(name="s", namespace="web"), spec=ServiceSpec(ports=[ServicePort(port=80)])
        )
    )
    return store


async def test_restored_objects_equal_the_saved_ones() -> None:
    store = await populated()
    objects = [obj for kind in (Namespace, Pod, Service) for obj in (await store.list(kind)).items]
    restored = MemoryStore(system_namespaces=False)
    restored.restore(load(dump(objects)))
    for kind in (Namespace, Pod, Service):
        assert (await restored.list(kind)).items == (await store.list(kind)).items
    assert restored.revision == max(int(obj.metadata.resource_version) for obj in objects)
    # Later writes continue the counter, and a restored Service keeps its address to itself.
    other = await restored.create(
        Service(
            metadata=ObjectMeta(name="t", namespace="web"), spec=ServiceSpec(ports=[ServicePort(port=80)])
        )
    )
    assert int(other.metadata.resource_version) == restored.revision
    assert other.spec.cluster_ip != (await restored.get(Service, "s", "web")).spec.cluster_ip


async def test_restoring_an_object_that_exists_changes_nothing() -> None:
    store = await populated()
    revision = store.revision
    extra = Namespace(metadata=ObjectMeta(name="fresh", resource_version="1"))
    clash = await store.get(Namespace, "web")
    with pytest.raises(AlreadyExists):
        store.restore([extra, clash])
    assert store.revision == revision
    assert [
        ns.metadata.name for ns in (await store.list(Namespace)).items if ns.metadata.name == "fresh"
    ] == []
