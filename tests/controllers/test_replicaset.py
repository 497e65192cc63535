"""The ReplicaSet controller on a simulated control plane, on virtual time.

Scenarios follow pkg/controller/replicaset/replica_set_test.go: scaling in slow-start batches and bursts,
scale-down ranking, adoption and release, expectations against a stale cache, ReplicaFailure, status and
availability with minReadySeconds. No scheduler or kubelet runs here: tests bind pods and set their status
themselves (`start_pod`, a test-only stand-in for both).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import attrs
import pytest
from structlog.testing import capture_logs

from controllers.events import creation_order
from controllers.podutil import is_pod_active
from controllers.ranking import pods_to_delete
from controllers.replicaset import (
    REPLICA_FAILURE,
    ReplicaSetController,
    SlowStartFailure,
    count_pods,
    get_condition,
    remove_condition,
    selector_of,
    set_condition,
    slow_start_batch,
)
from reconcile import DeletedFinalStateUnknown, Request
from reconcile.expectations import EXPECTATIONS_TIMEOUT
from reconcile.testing import Simulation
from store.models import (
    Container,
    Event,
    LabelSelector,
    Namespace,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodCondition,
    PodSpec,
    PodTemplateSpec,
    ReplicaSet,
    ReplicaSetCondition,
    ReplicaSetSpec,
    ReplicaSetStatus,
)

T = TypeVar("T")

NAMESPACE = "default"
SELECTOR = {"app": "web"}
#: Template labels are a superset of the selector, so "fully labeled" means something.
TEMPLATE_LABELS = {"app": "web", "tier": "frontend"}
KEY = Request(NAMESPACE, "web")


def replica_set(
    name: str = "web",
    replicas: int = 3,
    *,
    selector: dict[str, str] | None = None,
    min_ready_seconds: int = 0,
    owner: OwnerReference | None = None,
    namespace: str = NAMESPACE,
) -> ReplicaSet:
    selector = selector or SELECTOR
    return ReplicaSet(
        metadata=ObjectMeta(name=name, namespace=namespace, owner_references=[owner] if owner else []),
        spec=ReplicaSetSpec(
            replicas=replicas,
            min_ready_seconds=min_ready_seconds,
            selector=LabelSelector(match_labels=selector),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels={**TEMPLATE_LABELS, **selector}),
                spec=PodSpec(containers=[Container(name="web", image="nginx:1.25")]),
            ),
        ),
    )


def bare_pod(name: str, labels: dict[str, str], owner: OwnerReference | None = None) -> Pod:
    return Pod(
        metadata=ObjectMeta(
            name=name, namespace=NAMESPACE, labels=labels, owner_references=[owner] if owner else []
        ),
        spec=PodSpec(containers=[Container(name="web", image="nginx:1.25")]),
    )


def controller_of(rs: ReplicaSet) -> OwnerReference:
    return OwnerReference(
        api_version="apps/v1", kind="ReplicaSet", name=rs.metadata.name, uid=rs.metadata.uid, controller=True
    )


def simulate(scenario: Callable[[Simulation, ReplicaSetController], Awaitable[T]], **options: Any) -> T:
    sim = Simulation(seed=1)
    controller = ReplicaSetController(sim.manager, **options)
    sim.manager.add(controller)
    return sim.run(lambda s: scenario(s, controller))


async def get_rs(sim: Simulation, name: str = "web") -> ReplicaSet:
    return await sim.store.get(ReplicaSet, name, NAMESPACE)


async def scale(sim: Simulation, replicas: int, name: str = "web") -> None:
    rs = await get_rs(sim, name)
    await sim.store.update(attrs.evolve(rs, spec=attrs.evolve(rs.spec, replicas=replicas)))


async def all_pods(sim: Simulation, namespace: str = NAMESPACE) -> list[Pod]:
    return list((await sim.memory.list(Pod, namespace=namespace)).items)


async def owned_pods(sim: Simulation, name: str = "web") -> list[Pod]:
    """The active pods the ReplicaSet controls, read from the store."""
    uid = (await get_rs(sim, name)).metadata.uid
    return [
        pod
        for pod in await all_pods(sim)
        if is_pod_active(pod) and (ref := pod.metadata.controller_ref()) is not None and ref.uid == uid
    ]


async def events(sim: Simulation, reason: str, namespace: str = NAMESPACE) -> list[Event]:
    items = (await sim.memory.list(Event, namespace=namespace)).items
    return sorted((event for event in items if event.reason == reason), key=creation_order)


async def start_pod(
    sim: Simulation, pod: Pod, node: str = "node-1", *, phase: str = "Running", ready: bool = True
) -> None:
    """Test-only stand-in for scheduler and kubelet: bind the pod and set its phase and readiness now."""
    if not pod.spec.node_name:
        await sim.store.bind(pod.metadata.name, pod.metadata.namespace, node)
    fresh = await sim.store.get(Pod, pod.metadata.name, pod.metadata.namespace)
    condition = PodCondition(
        type="Ready", status="True" if ready else "False", last_transition_time=sim.clock.now()
    )
    status = attrs.evolve(fresh.status, phase=phase, conditions=[condition])
    await sim.store.update_status(attrs.evolve(fresh, status=status))


def logged(logs: list[dict[str, Any]], event: str, field: str) -> list[Any]:
    return [entry[field] for entry in logs if entry["event"] == event]


def reconciled_since(sim: Simulation, mark: int) -> set[str]:
    return {
        record.get("request")
        for record in list(sim.trace)[mark:]
        if record.what == "reconcile" and record.get("controller") == "replicaset"
    }


# --- slow start -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "call_limit", "successes", "calls"),
    [
        pytest.param(10, 0, 0, 1, id="all fail: only the first batch of one is tried"),
        pytest.param(10, 10, 10, 10, id="all succeed: 1 + 2 + 4 + 3"),
        pytest.param(10, 5, 5, 7, id="some succeed: 1 + 2 + 4, the third batch fails"),
    ],
)
def test_slow_start_stops_after_the_first_batch_with_a_failure(
    count: int, call_limit: int, successes: int, calls: int
) -> None:
    made: list[int] = []

    async def call() -> None:
        made.append(1)
        if len(made) > call_limit:
            raise RuntimeError("fake error")

    async def main() -> int:
        try:
            return await slow_start_batch(count, 1, call)
        except SlowStartFailure as failure:
            assert str(failure.error) == "fake error"
            return failure.successes

    assert anyio.run(main) == successes
    assert len(made) == calls


def test_slow_start_batches_double_from_the_initial_size() -> None:
    async def call() -> None:
        pass

    with capture_logs() as logs:
        assert anyio.run(slow_start_batch, 10, 1, call) == 10
    assert logged(logs, "slow start batch", "size") == [1, 2, 4, 3]


# --- conditions -----------------------------------------------------------------------------------

FAILURE = ReplicaSetCondition(type=REPLICA_FAILURE, status="True", reason="OtherFailure")
FAILURE_2 = ReplicaSetCondition(type=REPLICA_FAILURE, status="True", reason="AnotherFailure")
IMAGE_PULL = ReplicaSetCondition(type="ImagePullBackOff", status="True", reason="NonExistentImage")


@pytest.mark.parametrize(
    ("before", "condition", "after"),
    [
        pytest.param([], FAILURE, [FAILURE], id="set for the first time"),
        pytest.param([IMAGE_PULL], FAILURE, [IMAGE_PULL, FAILURE], id="added after others"),
        pytest.param([FAILURE], FAILURE_2, [FAILURE_2], id="a new reason overwrites"),
    ],
)
def test_set_condition_replaces_the_condition_of_its_type(
    before: list[ReplicaSetCondition], condition: ReplicaSetCondition, after: list[ReplicaSetCondition]
) -> None:
    status = set_condition(ReplicaSetStatus(conditions=before), condition)
    assert list(status.conditions) == after
    assert get_condition(status, condition.type) == condition


@pytest.mark.parametrize(
    ("before", "type_", "after"),
    [
        pytest.param([], REPLICA_FAILURE, [], id="from an empty status"),
        pytest.param([FAILURE], REPLICA_FAILURE, [], id="the one there"),
        pytest.param([FAILURE], "ImagePullBackOff", [FAILURE], id="nothing of that type"),
    ],
)
def test_remove_condition_drops_only_its_type(
    before: list[ReplicaSetCondition], type_: str, after: list[ReplicaSetCondition]
) -> None:
    assert list(remove_condition(ReplicaSetStatus(conditions=before), type_).conditions) == after


# --- scaling ----------------------------------------------------------------------------------------


def test_scaling_up_from_zero_creates_template_pods_in_slow_start_batches() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=0))
        await sim.settle()
        assert await all_pods(sim) == []
        with capture_logs() as logs:
            await scale(sim, 3)
            await sim.settle()
        assert logged(logs, "slow start batch", "size") == [1, 2]

        rs = await get_rs(sim)
        pods = await owned_pods(sim)
        assert len(pods) == 3
        for pod in pods:
            assert pod.metadata.generate_name == "web-"
            assert pod.metadata.name.startswith("web-")
            assert dict(pod.metadata.labels) == TEMPLATE_LABELS
            assert pod.metadata.owner_references == (
                OwnerReference(
                    api_version="apps/v1",
                    kind="ReplicaSet",
                    name="web",
                    uid=rs.metadata.uid,
                    controller=True,
                    block_owner_deletion=True,
                ),
            )
            assert pod.spec.node_name == ""
            assert pod.spec.containers[0].image == "nginx:1.25"
        created = await events(sim, "SuccessfulCreate")
        assert sorted(event.message for event in created) == [
            f"Created pod: {pod.metadata.name}" for pod in pods
        ]
        assert {event.source.component for event in created} == {"replicaset-controller"}
        assert {event.type for event in created} == {"Normal"}
        assert rs.status.replicas == 3
        assert rs.status.observed_generation == rs.metadata.generation == 2

    simulate(scenario)


def test_at_most_burst_replicas_pods_are_created_or_deleted_per_sync() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        with capture_logs() as logs:
            await sim.store.create(replica_set(replicas=12))
            await sim.settle()
        assert logged(logs, "too few replicas", "creating") == [5, 5, 2]
        assert len(await owned_pods(sim)) == 12
        with capture_logs() as logs:
            await scale(sim, 0)
            await sim.settle()
        assert logged(logs, "too many replicas", "deleting") == [5, 5, 2]
        assert await all_pods(sim) == []
        # Past 9 distinct messages, client-go's correlator folds similar events into one aggregate.
        deleted = await events(sim, "SuccessfulDelete")
        assert [event.count for event in deleted] == [1] * 9 + [3]
        assert deleted[-1].message.startswith("(combined from similar events): Deleted pod: web-")

    simulate(scenario, burst_replicas=5)


def test_scale_down_deletes_unscheduled_pods_before_scheduled_ones() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=3))
        await sim.settle()
        first, second, unscheduled = await owned_pods(sim)
        await sim.store.bind(first.metadata.name, NAMESPACE, "node-1")
        await sim.store.bind(second.metadata.name, NAMESPACE, "node-2")
        await scale(sim, 2)
        await sim.settle()
        assert [event.message for event in await events(sim, "SuccessfulDelete")] == [
            f"Deleted pod: {unscheduled.metadata.name}"
        ]
        remaining = {pod.metadata.name for pod in await owned_pods(sim)}
        assert remaining == {first.metadata.name, second.metadata.name}

    simulate(scenario)


def test_scale_down_deletes_pending_then_not_ready_pods_before_ready_ones() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=3))
        await sim.settle()
        ready, not_ready, pending = await owned_pods(sim)
        await start_pod(sim, ready)
        await start_pod(sim, not_ready, ready=False)
        await start_pod(sim, pending, phase="Pending", ready=False)
        await sim.settle()
        await scale(sim, 1)
        await sim.settle()
        assert [event.message for event in await events(sim, "SuccessfulDelete")] == [
            f"Deleted pod: {pending.metadata.name}",
            f"Deleted pod: {not_ready.metadata.name}",
        ]
        assert [pod.metadata.name for pod in await owned_pods(sim)] == [ready.metadata.name]
        # Bound pods are deleted gracefully: they linger, terminating, and no longer count.
        assert len(await all_pods(sim)) == 3
        status = (await get_rs(sim)).status
        assert (status.replicas, status.ready_replicas) == (1, 1)

    simulate(scenario)


#: The scale-down tests' owner: pods of its other ReplicaSets count as related in the ranking.
DEPLOYMENT = OwnerReference(
    api_version="apps/v1", kind="Deployment", name="web", uid="deployment-uid", controller=True
)


def test_scale_down_deletes_pods_doubled_up_on_a_node_first() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=3, owner=DEPLOYMENT))
        await sim.settle()
        alone, *crowded = await owned_pods(sim)
        await start_pod(sim, alone, "node-a")
        for pod in crowded:
            await start_pod(sim, pod, "node-b")
        await sim.settle()
        await scale(sim, 2)
        await sim.settle()
        (deleted,) = await events(sim, "SuccessfulDelete")
        assert deleted.message in {f"Deleted pod: {pod.metadata.name}" for pod in crowded}
        assert alone.metadata.name in {pod.metadata.name for pod in await owned_pods(sim)}

    simulate(scenario)


def test_scale_down_of_alike_pods_deletes_the_first_by_name_on_the_most_crowded_nodes() -> None:
    # Pods started together are alike on every rule after the doubling-up count: the ranking keeps
    # them in name order, and the controller reads only as many of them as it deletes.
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=15, owner=DEPLOYMENT))
        await sim.settle()
        pods = await owned_pods(sim)
        placement = ["node-a", "node-b", "node-c"] * 3 + ["node-a", "node-b"] * 3
        for pod, node in zip(pods, placement, strict=True):
            await start_pod(sim, pod, node)
        await sim.settle()
        started = await owned_pods(sim)
        crowded = [pod for pod in started if pod.spec.node_name in ("node-a", "node-b")]
        expected = pods_to_delete(started, started, 4, sim.clock.now())
        assert expected == sorted(crowded, key=lambda pod: pod.metadata.name)[:4]
        await scale(sim, 11)
        await sim.settle()
        assert [event.message for event in await events(sim, "SuccessfulDelete")] == [
            f"Deleted pod: {pod.metadata.name}" for pod in expected
        ]

    simulate(scenario)


def test_scale_down_of_alike_pods_chooses_what_ranking_every_pod_does_for_any_count() -> None:
    # Nodes whose pods all fall on one side of the cut are taken or passed over whole, a node with pods
    # on both sides (a pod not ready among ready ones) is read pod by pod: the same choice, in the same
    # order, as ranking every pod, wherever the cut falls.
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=16, owner=DEPLOYMENT))
        await sim.settle()
        pods = await owned_pods(sim)
        placement = ["node-a"] * 5 + ["node-b"] * 5 + ["node-c"] * 3 + ["node-d"] * 2 + ["node-e"]
        for number, (pod, node) in enumerate(zip(pods, placement, strict=True)):
            await start_pod(sim, pod, node, ready=number != 7)
        await sim.settle()
        started = await owned_pods(sim)
        rs = await get_rs(sim)
        for count in range(1, len(started)):
            expected = pods_to_delete(started, started, count, sim.clock.now())
            assert controller.pods_to_delete(rs, count) == expected, count

    simulate(scenario)


def test_scale_down_deletes_pods_with_the_lowest_deletion_cost_first() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=3))
        await sim.settle()
        pods = await owned_pods(sim)
        for pod, cost in zip(pods, ["50", "-10", "100"], strict=True):
            annotations = {"controller.kubernetes.io/pod-deletion-cost": cost}
            await sim.store.update(
                attrs.evolve(pod, metadata=attrs.evolve(pod.metadata, annotations=annotations))
            )
        await scale(sim, 1)
        await sim.settle()
        assert [event.message for event in await events(sim, "SuccessfulDelete")] == [
            f"Deleted pod: {pods[1].metadata.name}",
            f"Deleted pod: {pods[0].metadata.name}",
        ]

    simulate(scenario)


def test_a_pod_deleted_by_hand_is_replaced() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=2))
        await sim.settle()
        victim, survivor = await owned_pods(sim)
        await sim.store.delete(Pod, victim.metadata.name, NAMESPACE)
        await sim.settle()
        names = {pod.metadata.name for pod in await owned_pods(sim)}
        assert len(names) == 2
        assert survivor.metadata.name in names
        assert victim.metadata.name not in names
        assert len(await events(sim, "SuccessfulCreate")) == 3

    simulate(scenario)


def test_a_pod_being_deleted_gracefully_is_replaced_at_once() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=1))
        await sim.settle()
        (pod,) = await owned_pods(sim)
        await start_pod(sim, pod)
        await sim.settle()
        started = sim.now
        await sim.store.delete(Pod, pod.metadata.name, NAMESPACE)
        await sim.settle()
        (replacement,) = await owned_pods(sim)
        assert replacement.metadata.name != pod.metadata.name
        assert sim.now - started < 1.0, "the replacement did not wait for the grace period"

    simulate(scenario)


def test_pods_being_deleted_are_reported_as_terminating_replicas_until_they_finish() -> None:
    # calculateStatus: terminatingReplicas counts the pods the ReplicaSet controls and selects that are
    # being deleted and not finished (FilterTerminatingPods, FilterClaimedPods); replicas counts active ones.
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=2))
        await sim.settle()
        assert (await get_rs(sim)).status.terminating_replicas == 0
        leaving, finishing = await owned_pods(sim)
        for pod in (leaving, finishing):
            await start_pod(sim, pod)  # bound: a pod on no node would be deleted at once
        await sim.store.delete(Pod, leaving.metadata.name, NAMESPACE)
        await sim.store.delete(Pod, finishing.metadata.name, NAMESPACE)
        await sim.settle()
        status = (await get_rs(sim)).status
        assert (status.replicas, status.terminating_replicas) == (2, 2)
        # A pod that finished while being deleted is no longer terminating.
        finishing = await sim.store.get(Pod, finishing.metadata.name, NAMESPACE)
        await start_pod(sim, finishing, phase="Failed", ready=False)
        await sim.settle()
        status = (await get_rs(sim)).status
        assert (status.replicas, status.terminating_replicas) == (2, 1)
        await sim.store.delete(Pod, leaving.metadata.name, NAMESPACE, grace_period_seconds=0)
        await sim.settle()
        assert (await get_rs(sim)).status.terminating_replicas == 0

    simulate(scenario)


# --- adoption and release ---------------------------------------------------------------------------


def test_matching_orphans_are_adopted_instead_of_creating_pods() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(bare_pod("orphan", SELECTOR))
        await sim.store.create(bare_pod("stranger", {"app": "db"}))
        await sim.store.create(replica_set(replicas=2))
        await sim.settle()
        rs = await get_rs(sim)
        orphan = await sim.store.get(Pod, "orphan", NAMESPACE)
        ref = orphan.metadata.controller_ref()
        assert ref is not None
        assert (ref.uid, ref.kind, ref.api_version, ref.block_owner_deletion) == (
            rs.metadata.uid,
            "ReplicaSet",
            "apps/v1",
            True,
        )
        assert (await sim.store.get(Pod, "stranger", NAMESPACE)).metadata.owner_references == ()
        assert len(await owned_pods(sim)) == 2
        assert len(await events(sim, "SuccessfulCreate")) == 1
        # The adopted pod lacks the template's extra label: it is a replica, but not a fully labeled one.
        assert (rs.status.replicas, rs.status.fully_labeled_replicas) == (2, 1)

    simulate(scenario)


def test_an_orphan_appearing_later_is_adopted_and_the_surplus_deleted() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=2))
        await sim.settle()
        await sim.store.create(bare_pod("orphan", SELECTOR))
        await sim.settle()
        assert len(await owned_pods(sim)) == 2
        assert len(await events(sim, "SuccessfulDelete")) == 1

    simulate(scenario)


def test_pods_whose_labels_stop_matching_are_released_and_replaced() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=2))
        await sim.settle()
        leaving, staying = await owned_pods(sim)
        relabelled = attrs.evolve(leaving.metadata, labels={"app": "debug"})
        await sim.store.update(attrs.evolve(leaving, metadata=relabelled))
        await sim.settle()
        released = await sim.store.get(Pod, leaving.metadata.name, NAMESPACE)
        assert released.metadata.owner_references == ()
        names = {pod.metadata.name for pod in await owned_pods(sim)}
        assert len(names) == 2
        assert staying.metadata.name in names
        assert leaving.metadata.name not in names

    simulate(scenario)


def test_pods_controlled_by_someone_else_are_left_alone() -> None:
    other = OwnerReference(
        api_version="apps/v1", kind="ReplicaSet", name="other", uid="other-uid", controller=True
    )

    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(bare_pod("taken", SELECTOR, owner=other))
        await sim.store.create(replica_set(replicas=2))
        await sim.settle()
        assert (await sim.store.get(Pod, "taken", NAMESPACE)).metadata.owner_references == (other,)
        assert len(await owned_pods(sim)) == 2
        assert len(await events(sim, "SuccessfulCreate")) == 2

    simulate(scenario)


def test_a_replica_set_being_deleted_neither_adopts_nor_creates() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(bare_pod("orphan", SELECTOR))
        rs = replica_set(replicas=2)
        await sim.store.create(attrs.evolve(rs, metadata=attrs.evolve(rs.metadata, finalizers=["test/hold"])))
        await sim.store.delete(ReplicaSet, "web", NAMESPACE)
        await sim.settle()
        assert (await get_rs(sim)).metadata.deletion_timestamp is not None
        assert [pod.metadata.name for pod in await all_pods(sim)] == ["orphan"]
        assert (await sim.store.get(Pod, "orphan", NAMESPACE)).metadata.owner_references == ()

    simulate(scenario)


# --- failures ------------------------------------------------------------------------------------------


def test_create_failures_set_replica_failure_until_creates_succeed_again() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        sim.faults.fail_writes(1000, kind=Pod, verbs=["create"], error="internal")
        await sim.advance(0.5)
        await sim.store.create(replica_set(replicas=3))
        await sim.settle()
        assert await all_pods(sim) == []
        attempts = [record for record in sim.trace.of("fault") if record.get("kind") == "Pod"]
        failed_syncs = [
            record for record in sim.trace.of("reconcile") if record.get("controller") == "replicaset"
        ]
        assert len(attempts) == len(failed_syncs), "each sync stops after its first batch of one fails"
        condition = get_condition((await get_rs(sim)).status, REPLICA_FAILURE)
        assert condition is not None
        assert (condition.status, condition.reason) == ("True", "FailedCreate")
        assert condition.message == "injected internal error on create of Pod web-"
        # As metav1.Time stores it: whole seconds.
        assert condition.last_transition_time is not None and condition.last_transition_time.microsecond == 0
        (failed,) = await events(sim, "FailedCreate")
        assert (failed.type, failed.message) == (
            "Warning",
            "Error creating: injected internal error on create of Pod web-",
        )
        assert failed.count == len(attempts)

        sim.faults.clear()
        await sim.settle(horizon=3600)
        rs = await get_rs(sim)
        assert get_condition(rs.status, REPLICA_FAILURE) is None
        assert rs.status.replicas == 3
        assert len(await owned_pods(sim)) == 3

    simulate(scenario)


def test_a_failed_batch_gives_up_the_creates_it_skipped_and_the_retry_makes_them() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        sim.faults.fail_writes(1, kind=Pod, verbs=["create"], error="internal")
        with capture_logs() as logs:
            await sim.store.create(replica_set(replicas=10))
            elapsed = await sim.settle()
        assert logged(logs, "slow start batch", "size") == [1, 1, 2, 4, 3]
        assert logged(logs, "slow-start failure; skipping creation of pods", "skipped") == [10]
        assert len(await owned_pods(sim)) == 10
        assert elapsed < 1.0, "the retry did not wait for expectations to expire"

    simulate(scenario)


def test_delete_failures_set_replica_failure_with_reason_failed_delete() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=2))
        await sim.settle()
        sim.faults.fail_writes(1000, kind=Pod, verbs=["delete"], error="internal")
        await scale(sim, 1)
        await sim.settle()
        condition = get_condition((await get_rs(sim)).status, REPLICA_FAILURE)
        assert condition is not None
        assert condition.reason == "FailedDelete"
        assert condition.message.startswith("unable to delete pods: injected internal error")
        (failed,) = await events(sim, "FailedDelete")
        assert failed.message.startswith("Error deleting: injected internal error on delete of Pod web-")
        sim.faults.clear()
        await sim.settle(horizon=3600)
        assert get_condition((await get_rs(sim)).status, REPLICA_FAILURE) is None
        assert len(await owned_pods(sim)) == 1

    simulate(scenario)


def test_creates_into_a_terminating_namespace_are_ignored() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(Namespace(metadata=ObjectMeta(name="doomed")))
        await sim.store.create(replica_set(replicas=0, namespace="doomed"))
        await sim.settle()
        await sim.store.delete(Namespace, "doomed")
        rs = await sim.store.get(ReplicaSet, "web", "doomed")
        await sim.store.update(attrs.evolve(rs, spec=attrs.evolve(rs.spec, replicas=2)))
        await sim.settle()
        rs = await sim.store.get(ReplicaSet, "web", "doomed")
        assert await all_pods(sim, "doomed") == []
        assert await events(sim, "FailedCreate", "doomed") == []
        assert get_condition(rs.status, REPLICA_FAILURE) is None

    simulate(scenario)


def test_a_failed_status_write_is_retried_once_within_the_sync() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        sim.faults.fail_writes(1, kind=ReplicaSet, verbs=["update_status"], error="conflict")
        await sim.store.create(replica_set(replicas=1))
        await sim.settle()
        assert (await get_rs(sim)).status.replicas == 1
        results = [r.get("result") for r in sim.trace.of("reconcile") if r.get("controller") == "replicaset"]
        assert "error" not in results

    simulate(scenario)


def test_a_status_write_failing_twice_fails_the_sync_which_is_retried() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        sim.faults.fail_writes(2, kind=ReplicaSet, verbs=["update_status"], error="internal")
        await sim.store.create(replica_set(replicas=1))
        await sim.settle()
        assert (await get_rs(sim)).status.replicas == 1
        results = [r.get("result") for r in sim.trace.of("reconcile") if r.get("controller") == "replicaset"]
        assert results.count("error") == 1
        assert len(await owned_pods(sim)) == 1

    simulate(scenario)


# --- expectations ---------------------------------------------------------------------------------------


def test_a_stale_pod_cache_does_not_make_the_controller_create_twice() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        sim.faults.stale(Pod, 1000)
        await sim.store.create(replica_set(replicas=3))
        await sim.settle()
        assert len(await all_pods(sim)) == 3
        expectations = controller.expectations.get_expectations(KEY)
        assert expectations is not None
        assert expectations.adds == 3
        sim.faults.clear()
        await sim.settle()
        assert len(await all_pods(sim)) == 3
        assert controller.expectations.satisfied_expectations(KEY)
        assert (await get_rs(sim)).status.replicas == 3

    simulate(scenario)


def test_expectations_that_never_come_true_expire_after_five_minutes() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        sim.faults.stale(Pod, 1000)
        await sim.store.create(replica_set(replicas=1))
        await sim.settle()
        created_at = sim.now
        assert len(await all_pods(sim)) == 1
        await sim.advance(EXPECTATIONS_TIMEOUT - 1)
        assert len(await all_pods(sim)) == 1
        await sim.advance(3)
        # The cache still shows nothing, and expectations no longer hold the controller back.
        assert len(await all_pods(sim)) == 2
        (_, second) = await events(sim, "SuccessfulCreate")
        assert second.last_timestamp is not None
        assert EXPECTATIONS_TIMEOUT < sim.now - created_at <= EXPECTATIONS_TIMEOUT + 3

    simulate(scenario)


def test_pods_starting_graceful_deletion_satisfy_delete_expectations() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=3))
        await sim.settle()
        for pod in await owned_pods(sim):
            await start_pod(sim, pod)
        await scale(sim, 1)
        await sim.settle()
        assert controller.expectations.satisfied_expectations(KEY)
        assert controller.expectations.get_uids(KEY) == frozenset()
        started = sim.now
        await scale(sim, 2)
        await sim.settle()
        assert len(await owned_pods(sim)) == 2
        assert sim.now - started < 1.0

    simulate(scenario)


def test_a_pod_first_seen_being_deleted_counts_as_a_deletion_not_a_creation() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        rs = await sim.store.create(replica_set(replicas=0))
        await sim.settle()
        pod = bare_pod("pod", SELECTOR, owner=controller_of(rs))
        deleting = attrs.evolve(
            pod, metadata=attrs.evolve(pod.metadata, deletion_timestamp=sim.clock.now(), resource_version="1")
        )
        expectations = controller.expectations

        expectations.expect_deletions(KEY, ["default/pod"])
        controller.on_pod_added(deleting)
        assert expectations.satisfied_expectations(KEY)

        # An update that sets the deletion timestamp is the deletion.
        expectations.expect_deletions(KEY, ["default/pod"])
        alive = attrs.evolve(pod, metadata=attrs.evolve(pod.metadata, resource_version="2"))
        controller.on_pod_updated(alive, deleting)
        assert expectations.satisfied_expectations(KEY)

        # Later reports of that pod's deletion do not count against another pod's expectation.
        expectations.expect_deletions(KEY, ["default/second"])
        controller.on_pod_updated(alive, deleting)
        controller.on_pod_deleted(deleting)
        assert not expectations.satisfied_expectations(KEY)
        controller.on_pod_deleted(bare_pod("second", SELECTOR, owner=controller_of(rs)))
        assert expectations.satisfied_expectations(KEY)

    simulate(scenario)


def test_a_replica_set_recreated_under_its_name_starts_with_clean_expectations() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        sim.faults.stale(Pod, 1000)
        await sim.store.create(replica_set(replicas=1))
        await sim.settle()
        assert not controller.expectations.satisfied_expectations(KEY)
        await sim.store.delete(ReplicaSet, "web", NAMESPACE)
        await sim.settle()
        assert controller.expectations.get_expectations(KEY) is None
        await sim.store.create(replica_set(replicas=1))
        await sim.settle()
        recreated = controller.expectations.get_expectations(KEY)
        assert recreated is not None
        assert recreated.adds == 1
        assert len(await events(sim, "SuccessfulCreate")) == 2

    simulate(scenario)


def test_a_restarted_controller_starts_without_the_expectations_of_its_previous_run() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        # The first pod is created, then the controller dies recording the event about it.
        sim.faults.crash_after(1, controller="replicaset")
        await sim.store.create(replica_set(replicas=3))
        elapsed = await sim.settle()
        assert [record.get("controller") for record in sim.trace.of("crash")] == ["replicaset"]
        assert len(await owned_pods(sim)) == 3
        assert elapsed < 1.0, "the restarted controller waited on its predecessor's expectations"

    simulate(scenario)


# --- events routing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old_labels", "old_owner", "new_labels", "new_owner", "woken"),
    [
        pytest.param({"app": "a"}, "foo", {"app": "b"}, "foo", {"default/foo"}, id="owned, labels change"),
        pytest.param({"app": "b"}, "bar", {"app": "b"}, None, {"default/bar"}, id="released by its matcher"),
        pytest.param(
            {"app": "b"},
            "foo",
            {"app": "b"},
            None,
            {"default/foo", "default/bar"},
            id="released: old and matching",
        ),
        pytest.param(
            {"app": "a"}, "bar", {"app": "b"}, "bar", {"default/bar"}, id="owner kept, labels change"
        ),
        pytest.param({"app": "x"}, None, {"app": "a"}, None, {"default/foo"}, id="orphan starts matching"),
    ],
)
def test_a_pod_update_wakes_its_old_and_new_controllers_or_its_matchers(
    old_labels: dict[str, str],
    old_owner: str | None,
    new_labels: dict[str, str],
    new_owner: str | None,
    woken: set[str],
) -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> set[str]:
        owners = {}
        for name, app in (("foo", "a"), ("bar", "b")):
            rs = await sim.store.create(replica_set(name, replicas=0, selector={"app": app}))
            owners[name] = controller_of(rs)
        await sim.settle()
        old = bare_pod("pod", old_labels, owner=owners[old_owner] if old_owner else None)
        old = attrs.evolve(old, metadata=attrs.evolve(old.metadata, resource_version="1"))
        new = bare_pod("pod", new_labels, owner=owners[new_owner] if new_owner else None)
        new = attrs.evolve(new, metadata=attrs.evolve(new.metadata, resource_version="2"))
        mark = len(sim.trace)
        controller.on_pod_updated(old, new)
        await sim.settle()
        return reconciled_since(sim, mark)

    assert simulate(scenario) == woken


def test_a_pod_event_wakes_only_the_replica_set_its_controller_reference_names() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> set[str]:
        replica_sets = [
            await sim.store.create(replica_set(f"rs{index}", replicas=0)) for index in range(1, 10)
        ]
        await sim.settle()
        mark = len(sim.trace)
        controller.on_pod_added(bare_pod("pod", SELECTOR, owner=controller_of(replica_sets[3])))
        stale = attrs.evolve(controller_of(replica_sets[5]), uid="a-previous-incarnation")
        controller.on_pod_added(bare_pod("stale", SELECTOR, owner=stale))
        await sim.settle()
        return reconciled_since(sim, mark)

    assert simulate(scenario) == {"default/rs4"}


def test_a_tombstone_of_a_missed_pod_delete_wakes_its_controller() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> set[str]:
        rs = await sim.store.create(replica_set(replicas=0))
        await sim.settle()
        mark = len(sim.trace)
        pod = bare_pod("pod", SELECTOR, owner=controller_of(rs))
        controller.on_pod_deleted(DeletedFinalStateUnknown((NAMESPACE, "pod"), pod))
        await sim.settle()
        return reconciled_since(sim, mark)

    assert simulate(scenario) == {"default/web"}


# --- status ------------------------------------------------------------------------------------------------


def test_available_replicas_follow_ready_ones_after_min_ready_seconds_of_virtual_time() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=2, min_ready_seconds=10))
        await sim.settle()
        ready_at = sim.now
        for pod in await owned_pods(sim):
            await start_pod(sim, pod)
        await sim.advance(5)
        status = (await get_rs(sim)).status
        assert (status.replicas, status.fully_labeled_replicas, status.ready_replicas) == (2, 2, 2)
        assert status.available_replicas == 0
        await sim.settle()
        assert (await get_rs(sim)).status.available_replicas == 2
        # Brought back by the requeue of minReadySeconds + 1 s after the pods turned ready.
        assert sim.now - ready_at == pytest.approx(11.0)

    simulate(scenario)


def test_a_pod_turning_ready_brings_its_replica_set_back_once_the_pod_can_be_available() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=2, min_ready_seconds=10))
        await sim.settle()
        # Only one of two turns ready, so the sync itself has no reason to come back.
        first, _ = await owned_pods(sim)
        ready_at = sim.now
        await start_pod(sim, first)
        await sim.settle()
        status = (await get_rs(sim)).status
        assert (status.ready_replicas, status.available_replicas) == (1, 1)
        assert sim.now - ready_at == pytest.approx(11.0)

    simulate(scenario)


def test_observed_generation_follows_the_generation_of_the_spec() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=1))
        await sim.settle()
        rs = await get_rs(sim)
        assert rs.metadata.generation == rs.status.observed_generation == 1
        await scale(sim, 2)
        await sim.settle()
        rs = await get_rs(sim)
        assert rs.metadata.generation == rs.status.observed_generation == 2
        labelled = attrs.evolve(rs.metadata, labels={"team": "blog"})
        await sim.store.update(attrs.evolve(rs, metadata=labelled))
        await sim.settle()
        rs = await get_rs(sim)
        assert rs.metadata.generation == rs.status.observed_generation == 2

    simulate(scenario)


def test_status_is_written_only_when_it_changes() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=2))
        await sim.settle()
        writes = len(sim.trace.of("write"))
        rs = await get_rs(sim)
        await sim.store.update(
            attrs.evolve(rs, metadata=attrs.evolve(rs.metadata, annotations={"note": "x"}))
        )
        await sim.settle()
        # The annotation update itself, and nothing from the controller.
        assert len(sim.trace.of("write")) == writes + 1

    simulate(scenario)


def test_the_same_seed_gives_the_same_trace() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> str:
        await sim.store.create(bare_pod("orphan", SELECTOR))
        await sim.store.create(replica_set(replicas=5))
        await sim.settle()
        for pod in (await owned_pods(sim))[:3]:
            await start_pod(sim, pod)
        await scale(sim, 2)
        await sim.settle()
        return sim.trace.digest()

    assert simulate(scenario) == simulate(scenario)


def test_counts_from_the_tally_are_what_a_pass_over_the_pods_counts() -> None:
    async def scenario(sim: Simulation, controller: ReplicaSetController) -> None:
        await sim.store.create(replica_set(replicas=4))
        await sim.settle()
        first, second, third, _ = await owned_pods(sim)
        await start_pod(sim, first)
        await start_pod(sim, second, ready=False)
        await start_pod(sim, third, phase="Pending", ready=False)
        await sim.settle()
        rs = await get_rs(sim)
        counted = count_pods(rs, await owned_pods(sim), sim.clock.now())
        assert controller.settled_counts(rs, selector_of(rs)) == counted
        assert (counted.replicas, counted.fully_labeled, counted.ready) == (4, 4, 1)

    simulate(scenario)


def test_the_tally_is_not_used_when_a_claim_or_the_clock_could_change_the_counts() -> None:
    # The controller is built but not run: only its informers follow the store, nothing reconciles.
    sim = Simulation(seed=1)
    controller = ReplicaSetController(sim.manager)

    async def scenario(sim: Simulation) -> None:
        rs = await sim.store.create(replica_set(replicas=1))
        selector = selector_of(rs)
        informer = sim.manager.informer(Pod)

        async def write(call: Awaitable[Any]) -> None:
            await call
            await informer.wait_for(sim.memory.revision)

        await write(sim.store.create(bare_pod("owned", TEMPLATE_LABELS, owner=controller_of(rs))))
        assert controller.settled_counts(rs, selector) is not None
        # An active orphan the selector matches is to be adopted.
        await write(sim.store.create(bare_pod("orphan", SELECTOR)))
        assert controller.settled_counts(rs, selector) is None
        await write(sim.store.delete(Pod, "orphan", NAMESPACE, grace_period_seconds=0))
        assert controller.settled_counts(rs, selector) is not None
        # A pod it controls that stopped matching is to be released.
        await write(sim.store.create(bare_pod("stray", {"app": "debug"}, owner=controller_of(rs))))
        assert controller.settled_counts(rs, selector) is None
        await write(sim.store.delete(Pod, "stray", NAMESPACE, grace_period_seconds=0))
        assert controller.settled_counts(rs, selector) is not None
        # Availability after minReadySeconds depends on the time: only a pass over the pods tells.
        slow = attrs.evolve(rs, spec=attrs.evolve(rs.spec, min_ready_seconds=10))
        assert controller.settled_counts(slow, selector) is None

    sim.run(scenario)
