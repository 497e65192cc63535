"""The garbage collector: background, foreground and orphan propagation through ownerReferences."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import attrs
import pytest

from controllers.garbagecollector import GarbageCollector
from controllers.kubelet import NODE_LEASE_NAMESPACE, Kubelet, NodeConfig
from reconcile.testing import Simulation
from store import FrozenDict, NotFound, Object, PropagationPolicy
from store.models import (
    ConfigMap,
    Container,
    Event,
    LabelSelector,
    Lease,
    Node,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodSpec,
    PodTemplateSpec,
    ReplicaSet,
    ReplicaSetSpec,
)

T = TypeVar("T")
HOLD = "example.com/hold"


def ref_to(owner: Object, *, block: bool | None = None, controller: bool | None = None) -> OwnerReference:
    return OwnerReference(
        api_version=owner.api_version,
        kind=owner.kind,
        name=owner.metadata.name,
        uid=owner.metadata.uid,
        block_owner_deletion=block,
        controller=controller,
    )


def config_map(
    name: str, *owners: OwnerReference, finalizers: Sequence[str] = (), namespace: str = "default"
) -> ConfigMap:
    return ConfigMap(
        metadata=ObjectMeta(
            name=name, namespace=namespace, owner_references=owners, finalizers=tuple(finalizers)
        )
    )


def replica_set(name: str) -> ReplicaSet:
    labels = FrozenDict({"app": name})
    return ReplicaSet(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=ReplicaSetSpec(
            replicas=2,
            selector=LabelSelector(match_labels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(containers=(Container(name="app", image="nginx"),)),
            ),
        ),
    )


def pod_of(owner: ReplicaSet, name: str, *, block: bool = True) -> Pod:
    return Pod(
        metadata=ObjectMeta(
            name=name,
            namespace="default",
            labels=owner.spec.template.metadata.labels,
            owner_references=(ref_to(owner, block=block, controller=True),),
        ),
        spec=owner.spec.template.spec,
    )


def run_with_gc(scenario: Callable[[Simulation], Awaitable[T]], *, kubelet: bool = False) -> T:
    async def main(sim: Simulation) -> T:
        sim.manager.add(GarbageCollector(sim.manager))
        if kubelet:
            sim.manager.add(Kubelet(sim.manager, [NodeConfig(name="node-a")]))
        await sim.settle()
        return await scenario(sim)

    return Simulation(seed=3).run(main)


async def exists(sim: Simulation, kind: type[Object], name: str, namespace: str = "default") -> bool:
    try:
        await sim.store.get(kind, name, namespace)
    except NotFound:
        return False
    return True


async def names(sim: Simulation, kind: type[Object]) -> list[str]:
    return [obj.metadata.name for obj in (await sim.store.list(kind, namespace="default")).items]


# --- background ----------------------------------------------------------------------------------


def test_background_deletion_cascades_down_a_chain_of_owners() -> None:
    async def scenario(sim: Simulation) -> list[str]:
        root = await sim.store.create(config_map("root"))
        child = await sim.store.create(config_map("child", ref_to(root)))
        await sim.store.create(config_map("grandchild", ref_to(child)))
        await sim.store.create(config_map("bystander"))
        await sim.settle()
        assert await names(sim, ConfigMap) == ["bystander", "child", "grandchild", "root"]
        await sim.store.delete(ConfigMap, "root", "default")
        await sim.settle()
        return await names(sim, ConfigMap)

    assert run_with_gc(scenario) == ["bystander"]


def test_background_deletion_of_a_replicaset_deletes_its_pods() -> None:
    async def scenario(sim: Simulation) -> list[str]:
        rs = await sim.store.create(replica_set("web"))
        for name in ("web-1", "web-2"):
            await sim.store.create(pod_of(rs, name))
        await sim.store.delete(ReplicaSet, "web", "default", propagation_policy=PropagationPolicy.BACKGROUND)
        await sim.settle()
        return await names(sim, Pod)

    assert run_with_gc(scenario) == []


def test_a_dependent_whose_owner_never_existed_is_deleted() -> None:
    async def scenario(sim: Simulation) -> bool:
        ghost = OwnerReference(api_version="v1", kind="ConfigMap", name="ghost", uid="no-such-uid")
        await sim.store.create(config_map("haunted", ghost))
        await sim.settle()
        return await exists(sim, ConfigMap, "haunted")

    assert run_with_gc(scenario) is False


def test_a_reference_to_an_owner_recreated_under_the_same_name_is_dangling() -> None:
    async def scenario(sim: Simulation) -> tuple[bool, bool]:
        first = await sim.store.create(config_map("owner"))
        await sim.store.delete(ConfigMap, "owner", "default")
        await sim.store.create(config_map("owner"))
        await sim.store.create(config_map("stale", ref_to(first)))
        await sim.settle()
        return await exists(sim, ConfigMap, "owner"), await exists(sim, ConfigMap, "stale")

    assert run_with_gc(scenario) == (True, False)


def test_an_owner_replaced_under_its_name_while_the_watch_was_down_leaves_no_garbage() -> None:
    # The relist sees only the new owner, so its cache gets an update, not a delete: the collector
    # still takes it for the old owner gone, as its graph is keyed by uid.
    async def scenario(sim: Simulation) -> tuple[list[str], int]:
        first = await sim.store.create(replica_set("web"))
        await sim.store.create(pod_of(first, "web-1"))
        await sim.settle()
        sim.faults.drop_watches(ReplicaSet)
        await sim.store.delete(ReplicaSet, "web", "default")
        await sim.store.create(replica_set("web"))
        sim.faults.clear()
        await sim.settle()
        return await names(sim, Pod), sim.manager.informer(ReplicaSet).relists

    assert run_with_gc(scenario) == ([], 1)


def test_a_dependent_with_another_live_owner_only_loses_the_dangling_reference() -> None:
    async def scenario(sim: Simulation) -> ConfigMap:
        gone = await sim.store.create(config_map("gone"))
        staying = await sim.store.create(config_map("staying"))
        await sim.store.create(config_map("shared", ref_to(gone), ref_to(staying)))
        await sim.settle()
        await sim.store.delete(ConfigMap, "gone", "default")
        await sim.settle()
        return await sim.store.get(ConfigMap, "shared", "default")

    shared = run_with_gc(scenario)
    assert [ref.name for ref in shared.metadata.owner_references] == ["staying"]


def test_a_cluster_scoped_owner_collects_its_namespaced_dependents() -> None:
    async def scenario(sim: Simulation) -> tuple[bool, bool]:
        await sim.settle()
        assert await exists(sim, Lease, "node-a", NODE_LEASE_NAMESPACE)
        await sim.store.delete(Node, "node-a")
        # The kubelet would renew (recreate) its lease at the next beat: look before it comes.
        await sim.settle()
        return await exists(sim, Node, "node-a", ""), await exists(sim, Lease, "node-a", NODE_LEASE_NAMESPACE)

    assert run_with_gc(scenario, kubelet=True) == (False, False)


def test_references_to_unknown_kinds_are_left_alone() -> None:
    async def scenario(sim: Simulation) -> bool:
        alien = OwnerReference(api_version="example.com/v1", kind="Widget", name="w", uid="w-uid")
        await sim.store.create(config_map("owned-by-alien", alien))
        await sim.settle()
        return await exists(sim, ConfigMap, "owned-by-alien")

    assert run_with_gc(scenario) is True


@pytest.mark.parametrize(
    ("owners", "expected"),
    [
        # (state of each owner) -> what happens to the dependent
        (["live"], ["live"]),
        (["gone"], None),
        (["gone", "gone"], None),
        (["live", "gone"], ["live"]),
        (["live", "waiting"], ["live"]),
        (["waiting"], None),
        (["gone", "waiting"], None),
    ],
    ids=lambda case: "-".join(case) if isinstance(case, list) else str(case),
)
def test_a_dependent_is_kept_trimmed_or_deleted_by_the_state_of_its_owners(
    owners: list[str], expected: list[str] | None
) -> None:
    """attemptToDeleteItem: solid owners keep it (dangling and waiting references go), none deletes it."""

    async def scenario(sim: Simulation) -> list[str] | None:
        refs = []
        for state in dict.fromkeys(owners):
            finalizers = [HOLD] if state == "waiting" else []
            owner = await sim.store.create(config_map(state, finalizers=finalizers))
            refs.append(ref_to(owner))
        await sim.store.create(config_map("dependent", *refs))
        await sim.settle()
        if "gone" in owners:
            await sim.store.delete(ConfigMap, "gone", "default")
        if "waiting" in owners:
            await sim.store.delete(
                ConfigMap, "waiting", "default", propagation_policy=PropagationPolicy.FOREGROUND
            )
        await sim.settle()
        try:
            dependent = await sim.store.get(ConfigMap, "dependent", "default")
        except NotFound:
            return None
        return [ref.name for ref in dependent.metadata.owner_references]

    assert run_with_gc(scenario) == expected


# --- foreground ----------------------------------------------------------------------------------


def test_a_foreground_owner_stays_until_its_blocking_dependents_are_gone() -> None:
    async def scenario(sim: Simulation) -> None:
        owner = await sim.store.create(config_map("owner"))
        await sim.store.create(config_map("dependent", ref_to(owner, block=True), finalizers=[HOLD]))
        await sim.settle()
        await sim.store.delete(ConfigMap, "owner", "default", propagation_policy=PropagationPolicy.FOREGROUND)
        await sim.settle()
        waiting = await sim.store.get(ConfigMap, "owner", "default")
        assert waiting.metadata.deletion_timestamp is not None
        assert waiting.metadata.finalizers == ("foregroundDeletion",)
        dependent = await sim.store.get(ConfigMap, "dependent", "default")
        assert dependent.metadata.deletion_timestamp is not None
        await sim.advance(30)
        assert await exists(sim, ConfigMap, "owner")

        await sim.store.update(
            attrs.evolve(dependent, metadata=attrs.evolve(dependent.metadata, finalizers=()))
        )
        await sim.settle()
        assert not await exists(sim, ConfigMap, "dependent")
        assert not await exists(sim, ConfigMap, "owner")

    run_with_gc(scenario)


def test_a_foreground_owner_does_not_wait_for_dependents_that_do_not_block_it() -> None:
    async def scenario(sim: Simulation) -> tuple[bool, bool]:
        owner = await sim.store.create(config_map("owner"))
        await sim.store.create(config_map("dependent", ref_to(owner, block=False), finalizers=[HOLD]))
        await sim.settle()
        await sim.store.delete(ConfigMap, "owner", "default", propagation_policy=PropagationPolicy.FOREGROUND)
        await sim.settle()
        dependent = await sim.store.get(ConfigMap, "dependent", "default")
        return await exists(sim, ConfigMap, "owner"), dependent.metadata.deletion_timestamp is not None

    assert run_with_gc(scenario) == (False, True)


def test_foreground_deletion_propagates_in_foreground_to_dependents_with_dependents() -> None:
    async def scenario(sim: Simulation) -> None:
        root = await sim.store.create(config_map("root"))
        middle = await sim.store.create(config_map("middle", ref_to(root, block=True)))
        await sim.store.create(config_map("leaf", ref_to(middle, block=True), finalizers=[HOLD]))
        await sim.settle()
        await sim.store.delete(ConfigMap, "root", "default", propagation_policy=PropagationPolicy.FOREGROUND)
        await sim.settle()
        middle_now = await sim.store.get(ConfigMap, "middle", "default")
        assert middle_now.metadata.finalizers == ("foregroundDeletion",)
        assert await exists(sim, ConfigMap, "root")

        leaf = await sim.store.get(ConfigMap, "leaf", "default")
        await sim.store.update(attrs.evolve(leaf, metadata=attrs.evolve(leaf.metadata, finalizers=())))
        await sim.settle()
        assert await names(sim, ConfigMap) == []

    run_with_gc(scenario)


def test_a_foreground_replicaset_goes_once_the_kubelet_has_removed_its_pods() -> None:
    async def scenario(sim: Simulation) -> None:
        rs = await sim.store.create(replica_set("web"))
        for name in ("web-1", "web-2"):
            pod = pod_of(rs, name)
            await sim.store.create(attrs.evolve(pod, spec=attrs.evolve(pod.spec, node_name="node-a")))
        await sim.settle()
        await sim.store.delete(ReplicaSet, "web", "default", propagation_policy=PropagationPolicy.FOREGROUND)
        await sim.advance(0.5)
        terminating = [
            pod.metadata.deletion_timestamp is not None for pod in (await sim.store.list(Pod)).items
        ]
        assert terminating == [True, True]
        assert await exists(sim, ReplicaSet, "web")
        await sim.settle()
        assert await names(sim, Pod) == []
        assert not await exists(sim, ReplicaSet, "web")

    run_with_gc(scenario, kubelet=True)


# --- orphan --------------------------------------------------------------------------------------


def test_orphan_deletion_strips_the_references_and_keeps_the_dependents() -> None:
    async def scenario(sim: Simulation) -> list[Pod]:
        rs = await sim.store.create(replica_set("web"))
        other = await sim.store.create(config_map("other"))
        await sim.store.create(pod_of(rs, "web-1"))
        second = pod_of(rs, "web-2")
        refs = (*second.metadata.owner_references, ref_to(other))
        await sim.store.create(
            attrs.evolve(second, metadata=attrs.evolve(second.metadata, owner_references=refs))
        )
        await sim.settle()
        await sim.store.delete(ReplicaSet, "web", "default", propagation_policy=PropagationPolicy.ORPHAN)
        await sim.settle()
        assert not await exists(sim, ReplicaSet, "web")
        return list((await sim.store.list(Pod, namespace="default")).items)

    pods = run_with_gc(scenario)
    assert [(pod.metadata.name, [r.name for r in pod.metadata.owner_references]) for pod in pods] == [
        ("web-1", []),
        ("web-2", ["other"]),
    ]
    assert all(pod.metadata.deletion_timestamp is None for pod in pods)


def test_orphaned_pods_keep_running_on_their_node() -> None:
    async def scenario(sim: Simulation) -> Pod:
        rs = await sim.store.create(replica_set("web"))
        pod = pod_of(rs, "web-1")
        await sim.store.create(attrs.evolve(pod, spec=attrs.evolve(pod.spec, node_name="node-a")))
        await sim.settle()
        await sim.store.delete(ReplicaSet, "web", "default", propagation_policy=PropagationPolicy.ORPHAN)
        await sim.settle()
        await sim.advance(60)
        return await sim.store.get(Pod, "web-1", "default")

    pod = run_with_gc(scenario, kubelet=True)
    assert pod.status.phase == "Running"
    assert pod.metadata.owner_references == ()


# --- quiet ---------------------------------------------------------------------------------------


def test_the_garbage_collector_records_no_events() -> None:
    async def scenario(sim: Simulation) -> list[Event]:
        root = await sim.store.create(config_map("root"))
        await sim.store.create(config_map("child", ref_to(root)))
        await sim.store.delete(ConfigMap, "root", "default", propagation_policy=PropagationPolicy.FOREGROUND)
        await sim.settle()
        return list((await sim.store.list(Event)).items)

    assert run_with_gc(scenario) == []
