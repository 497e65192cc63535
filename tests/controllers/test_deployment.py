"""The Deployment controller on a simulated cluster: rollouts, events, conditions and revisions.

No ReplicaSet controller or kubelet runs here: `ReplicaSetStatusFake`, a test double, makes each
ReplicaSet's status follow its spec (after an optional delay on virtual time), so these tests pin
the Deployment controller alone. Times are virtual seconds since the simulation started.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from controllers.deployment import DeploymentController, rollback_template, util
from controllers.deployment.rolling import reconcile_old_replica_sets
from controllers.deployment.sync import SyncContext
from controllers.events import EventRecorder
from reconcile import Controller, Request, Result
from reconcile.testing import Simulation
from store import NotFound
from store.models import (
    Container,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    Event,
    LabelSelector,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodSpec,
    PodTemplateSpec,
    ReplicaSet,
    ReplicaSetSpec,
    ReplicaSetStatus,
)

NAMESPACE = "default"


class ReplicaSetStatusFake:
    """Stands in for the ReplicaSet controller and the kubelet: a ReplicaSet's status follows its spec.

    ``delay`` virtual seconds after a ReplicaSet changes, its status reports spec.replicas replicas,
    all ready and available — none ready or available when its image is in ``broken_images``. It
    creates no pods.
    """

    def __init__(self, sim: Simulation, *, delay: float = 0.0, broken_images: Iterable[str] = ()) -> None:
        self._sim = sim
        self._replica_sets = sim.manager.informer(ReplicaSet)
        self.delay = delay
        self.broken_images = set(broken_images)

    def controller(self) -> Controller:
        return Controller("fake-replicaset-status", self, kind=ReplicaSet, workers=4)

    def status_for(self, rs: ReplicaSet) -> ReplicaSetStatus:
        replicas = rs.spec.replicas
        broken = any(c.image in self.broken_images for c in rs.spec.template.spec.containers)
        working = 0 if broken else replicas
        return ReplicaSetStatus(
            replicas=replicas,
            fully_labeled_replicas=replicas,
            ready_replicas=working,
            available_replicas=working,
            observed_generation=rs.metadata.generation,
        )

    async def reconcile(self, request: Request) -> Result | None:
        if self._replica_sets.get(request.name, request.namespace) is None:
            return None
        if self.delay:
            await self._sim.clock.sleep(self.delay)
        try:
            rs = await self._sim.store.get(ReplicaSet, request.name, request.namespace)
        except NotFound:
            return None
        status = self.status_for(rs)
        if rs.status != status:
            await self._sim.store.update_status(attrs.evolve(rs, status=status))
        return None


def start(sim: Simulation, **fake: Any) -> ReplicaSetStatusFake:
    sim.manager.add(DeploymentController(sim.manager))
    status_fake = ReplicaSetStatusFake(sim, **fake)
    sim.manager.add(status_fake.controller())
    return status_fake


def pod_template(image: str) -> PodTemplateSpec:
    return PodTemplateSpec(
        metadata=ObjectMeta(labels={"app": "web"}),
        spec=PodSpec(containers=[Container(name="web", image=image)]),
    )


def web(replicas: int = 2, image: str = "web:1", **spec: Any) -> Deployment:
    return Deployment(
        metadata=ObjectMeta(name="web", namespace=NAMESPACE),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels={"app": "web"}),
            template=pod_template(image),
            **spec,
        ),
    )


async def change(sim: Simulation, **spec: Any) -> Deployment:
    """Update the web deployment's spec (``image`` replaces the container image)."""
    current = await sim.store.get(Deployment, "web", NAMESPACE)
    if "image" in spec:
        spec["template"] = pod_template(spec.pop("image"))
    return await sim.store.update(attrs.evolve(current, spec=attrs.evolve(current.spec, **spec)))


async def deployment(sim: Simulation) -> Deployment:
    return await sim.store.get(Deployment, "web", NAMESPACE)


async def replica_sets(sim: Simulation) -> dict[str, ReplicaSet]:
    """The ReplicaSets by revision annotation."""
    listed = await sim.store.list(ReplicaSet, namespace=NAMESPACE)
    return {rs.metadata.annotations.get(util.REVISION_ANNOTATION, ""): rs for rs in listed.items}


async def events(sim: Simulation, reason: str = "ScalingReplicaSet") -> list[str]:
    """The messages of the deployment controller's events with ``reason``, in the order recorded."""
    listed = (await sim.store.list(Event, namespace=NAMESPACE)).items
    # Event names end in the recorder's strictly increasing stamp.
    ordered = sorted(listed, key=lambda event: int(event.metadata.name.rsplit(".", 1)[1], 16))
    return [
        e.message for e in ordered if e.reason == reason and e.source.component == "deployment-controller"
    ]


def condition(d: Deployment, type_: str) -> tuple[str, str]:
    found = d.status.condition(type_)
    assert found is not None, f"no {type_} condition in {d.status.conditions}"
    return found.status, found.reason


def test_a_new_deployment_gets_a_hash_named_replica_set_scaled_to_replicas() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim)
        await sim.store.create(web(3))
        await sim.settle()
        (revision, rs), *others = (await replica_sets(sim)).items()
        assert (revision, others) == ("1", [])
        pod_template_hash = util.compute_hash(pod_template("web:1"), None)
        assert rs.metadata.name == f"web-{pod_template_hash}"
        labels = {"app": "web", "pod-template-hash": pod_template_hash}
        assert (rs.metadata.labels, rs.spec.template.metadata.labels) == (labels, labels)
        assert rs.spec.selector == LabelSelector(match_labels=labels)
        assert rs.spec.replicas == 3
        d = await deployment(sim)
        assert d.metadata.annotations[util.REVISION_ANNOTATION] == "1"
        status = d.status
        assert (status.observed_generation, status.replicas, status.updated_replicas) == (1, 3, 3)
        assert (status.ready_replicas, status.available_replicas, status.unavailable_replicas) == (3, 3, 0)
        assert condition(d, "Available") == ("True", "MinimumReplicasAvailable")
        assert condition(d, "Progressing") == ("True", "NewReplicaSetAvailable")
        assert await events(sim) == [f"Scaled up replica set {rs.metadata.name} from 0 to 3"]

    Simulation(seed=1).run(scenario)


def test_an_image_change_rolls_two_replicas_one_pod_at_a_time() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim)
        await sim.store.create(web(2, "web:1"))
        await sim.settle()
        await change(sim, image="web:2")
        await sim.settle()
        sets = await replica_sets(sim)
        old, new = sets["1"].metadata.name, sets["2"].metadata.name
        assert await events(sim) == [
            f"Scaled up replica set {old} from 0 to 2",
            f"Scaled up replica set {new} from 0 to 1",
            f"Scaled down replica set {old} from 2 to 1",
            f"Scaled up replica set {new} from 1 to 2",
            f"Scaled down replica set {old} from 1 to 0",
        ]
        assert (sets["1"].spec.replicas, sets["2"].spec.replicas) == (0, 2)
        d = await deployment(sim)
        assert d.metadata.annotations[util.REVISION_ANNOTATION] == "2"
        assert condition(d, "Progressing") == ("True", "NewReplicaSetAvailable")

    Simulation(seed=1).run(scenario)


def test_a_rolling_update_never_exceeds_surge_or_drops_below_min_available() -> None:
    totals: list[tuple[int, int]] = []

    async def scenario(sim: Simulation) -> None:
        start(sim, delay=1.0)
        await sim.store.create(web(4, "web:1"))
        await sim.settle()
        await change(sim, image="web:2")
        for _ in range(40):
            await sim.advance(0.5)
            sets = (await sim.store.list(ReplicaSet, namespace=NAMESPACE)).items
            totals.append((util.replica_count(sets), util.available_replica_count(sets)))
        await sim.settle()

    Simulation(seed=2).run(scenario)
    # 25 % of 4: surge 1 (rounded up), unavailable 1 (rounded down).
    assert max(total for total, _ in totals) <= 5
    assert min(available for _, available in totals) >= 3
    assert totals[-1] == (4, 4)


def test_a_paused_deployment_does_not_roll_out_until_resumed() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim)
        await sim.store.create(web(2, "web:1"))
        await sim.settle()
        await change(sim, paused=True)
        await change(sim, image="web:2")
        await sim.settle()
        assert list(await replica_sets(sim)) == ["1"]
        assert condition(await deployment(sim), "Progressing") == ("Unknown", "DeploymentPaused")
        await change(sim, paused=False)
        await sim.settle()
        sets = await replica_sets(sim)
        assert (sets["1"].spec.replicas, sets["2"].spec.replicas) == (0, 2)
        assert condition(await deployment(sim), "Progressing") == ("True", "NewReplicaSetAvailable")

    Simulation(seed=1).run(scenario)


def test_resuming_marks_the_deployment_resumed_before_it_rolls_out() -> None:
    reasons: list[str] = []

    async def scenario(sim: Simulation) -> None:
        start(sim)
        await sim.store.create(web(2, "web:1", paused=True))
        await sim.settle()
        reasons.append(condition(await deployment(sim), "Progressing")[1])
        watch = sim.store.watch(Deployment, since=sim.store.revision)
        await change(sim, paused=False)
        await sim.settle()
        async with watch:
            for event in await watch.next_batch():
                if event.object is not None and (found := event.object.status.condition("Progressing")):
                    reasons.append(found.reason)

    Simulation(seed=1).run(scenario)
    assert reasons[0] == "DeploymentPaused"
    assert "DeploymentResumed" in reasons
    assert reasons[-1] == "NewReplicaSetAvailable"


def test_progress_deadline_exceeded_after_600_virtual_seconds_without_available_pods() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim, broken_images={"web:1"})
        await sim.store.create(web(2, "web:1"))
        await sim.settle()
        started = sim.now
        assert condition(await deployment(sim), "Progressing")[0] == "True"
        await sim.advance(599 - started)
        assert condition(await deployment(sim), "Progressing")[0] == "True"
        await sim.advance(3)
        d = await deployment(sim)
        assert condition(d, "Progressing") == ("False", "ProgressDeadlineExceeded")
        found = d.status.condition("Progressing")
        assert found is not None and found.message == (
            f'ReplicaSet "{(await replica_sets(sim))["1"].metadata.name}" has timed out progressing.'
        )
        assert condition(d, "Available") == ("False", "MinimumReplicasUnavailable")

    Simulation(seed=1).run(scenario)


def test_condition_times_are_whole_seconds_and_the_deadline_counts_from_them() -> None:
    # metav1.Time keeps whole seconds: a condition written at 0.7 s is stored as of 0 s, and
    # DeploymentTimedOut and requeueStuckDeployment count progressDeadlineSeconds from what is stored.
    async def scenario(sim: Simulation) -> None:
        start(sim, broken_images={"web:1"})
        await sim.advance(0.7)
        await sim.store.create(web(2, "web:1", progress_deadline_seconds=10))
        await sim.settle(horizon=5)
        d = await deployment(sim)
        times = [(c.last_update_time, c.last_transition_time) for c in d.status.conditions]
        assert times and all(t is not None and t.microsecond == 0 for pair in times for t in pair)
        # Stored as of 0 s: past the deadline from 10 s on, looked at again a second later (at 11 s).
        await sim.advance(11.2 - sim.now)
        assert condition(await deployment(sim), "Progressing") == ("False", "ProgressDeadlineExceeded")

    Simulation(seed=1).run(scenario)


def test_scaling_a_deployment_resizes_its_only_replica_set() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim)
        await sim.store.create(web(2))
        await sim.settle()
        await change(sim, replicas=5)
        await sim.settle()
        rs = (await replica_sets(sim))["1"]
        assert rs.spec.replicas == 5
        assert rs.metadata.annotations[util.DESIRED_REPLICAS_ANNOTATION] == "5"
        assert (await events(sim))[-1] == f"Scaled up replica set {rs.metadata.name} from 2 to 5"

    Simulation(seed=1).run(scenario)


def test_a_stale_desired_replicas_annotation_on_a_replica_set_at_size_does_not_block_the_rollout() -> None:
    # A ReplicaSet sized from a stale Deployment keeps the desired-replicas of the spec before (here 1
    # while the Deployment says 2 and the ReplicaSet has 2). Every sync is then a scaling event, and
    # the lone ReplicaSet already has the size it asks for: unless the annotations are refreshed then,
    # nothing is written, no sync ever gets past the scaling event, and the rollout never starts.
    async def scenario(sim: Simulation) -> None:
        start(sim)
        await sim.store.create(web(2, "web:1"))
        await sim.settle()
        rs = (await replica_sets(sim))["1"]
        await sim.store.update(util.set_replicas_annotations(rs, 1, 2))
        await change(sim, image="web:2")
        await sim.settle()
        sets = await replica_sets(sim)
        assert (sets["1"].spec.replicas, sets["2"].spec.replicas) == (0, 2)
        assert sets["2"].metadata.annotations[util.DESIRED_REPLICAS_ANNOTATION] == "2"
        assert condition(await deployment(sim), "Progressing") == ("True", "NewReplicaSetAvailable")

    Simulation(seed=1).run(scenario)


def test_scaling_mid_rollout_grows_old_and_new_replica_sets_in_proportion() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim, broken_images={"web:2"})
        await sim.store.create(web(4, "web:1"))
        await sim.settle()
        await change(sim, image="web:2")
        await sim.settle()
        sets = await replica_sets(sim)
        # The new pods never become available: the rollout stops at 3 old + 2 new (surge 1, unavailable 1).
        assert (sets["1"].spec.replicas, sets["2"].spec.replicas) == (3, 2)
        await change(sim, paused=True, replicas=8)
        await sim.settle()
        sets = await replica_sets(sim)
        # 8 + surge 2 = 10 shared 3:2.
        assert (sets["1"].spec.replicas, sets["2"].spec.replicas) == (6, 4)
        assert (await events(sim))[-2:] == [
            f"Scaled up replica set {sets['1'].metadata.name} from 3 to 6",
            f"Scaled up replica set {sets['2'].metadata.name} from 2 to 4",
        ]

    Simulation(seed=1).run(scenario)


def test_recreate_starts_new_pods_only_once_every_old_pod_is_gone() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim)
        await sim.store.create(web(2, "web:1", strategy=DeploymentStrategy(type="Recreate")))
        await sim.settle()
        old = (await replica_sets(sim))["1"]
        owner = OwnerReference(
            api_version="apps/v1",
            kind="ReplicaSet",
            name=old.metadata.name,
            uid=old.metadata.uid,
            controller=True,
        )
        for index in range(2):
            await sim.store.create(
                Pod(
                    metadata=ObjectMeta(
                        name=f"{old.metadata.name}-{index}",
                        namespace=NAMESPACE,
                        labels=old.spec.template.metadata.labels,
                        owner_references=[owner],
                    ),
                    spec=old.spec.template.spec,
                )
            )
        await change(sim, image="web:2")
        await sim.settle()
        sets = await replica_sets(sim)
        assert list(sets) == ["1"]
        assert sets["1"].spec.replicas == 0
        await sim.advance(10)
        deleted_at = sim.clock.now()
        for index in range(2):
            await sim.store.delete(Pod, f"{old.metadata.name}-{index}", NAMESPACE)
        await sim.settle()
        new = (await replica_sets(sim))["2"]
        assert new.spec.replicas == 2
        assert new.metadata.creation_timestamp is not None
        assert new.metadata.creation_timestamp >= deleted_at
        assert (await events(sim))[-2:] == [
            f"Scaled down replica set {old.metadata.name} from 2 to 0",
            f"Scaled up replica set {new.metadata.name} from 0 to 2",
        ]

    Simulation(seed=1).run(scenario)


def test_revisions_count_up_and_a_rollback_to_1_makes_revision_3() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim)
        await sim.store.create(web(2, "web:1"))
        await sim.settle()
        await change(sim, image="web:2")
        await sim.settle()
        assert (await deployment(sim)).metadata.annotations[util.REVISION_ANNOTATION] == "2"
        current = await deployment(sim)
        annotations = current.metadata.annotations.set(util.ROLLBACK_TO_ANNOTATION, "1")
        await sim.store.update(
            attrs.evolve(current, metadata=attrs.evolve(current.metadata, annotations=annotations))
        )
        await sim.settle()
        d = await deployment(sim)
        assert util.ROLLBACK_TO_ANNOTATION not in d.metadata.annotations
        assert d.metadata.annotations[util.REVISION_ANNOTATION] == "3"
        assert d.spec.template == pod_template("web:1")
        sets = await replica_sets(sim)
        assert sorted(sets) == ["2", "3"]
        assert sets["3"].metadata.annotations[util.REVISION_HISTORY_ANNOTATION] == "1"
        assert (sets["3"].spec.template.spec.containers[0].image, sets["3"].spec.replicas) == ("web:1", 2)
        assert await events(sim, "DeploymentRollback") == ['Rolled back deployment "web" to revision 1']

    Simulation(seed=1).run(scenario)


def test_rollback_template_rolls_back_the_way_kubectl_rollout_undo_does() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim)
        await sim.store.create(web(2, "web:1"))
        await sim.settle()
        await change(sim, image="web:2")
        await sim.settle()
        owned = (await sim.store.list(ReplicaSet, namespace=NAMESPACE)).items
        await sim.store.update(rollback_template(await deployment(sim), owned))
        await sim.settle()
        d = await deployment(sim)
        assert d.metadata.annotations[util.REVISION_ANNOTATION] == "3"
        assert d.spec.template.spec.containers[0].image == "web:1"
        assert condition(d, "Progressing") == ("True", "NewReplicaSetAvailable")

    Simulation(seed=1).run(scenario)


def test_an_invalid_cleanup_keeps_the_cleanups_decided_before_it() -> None:
    # cleanupUnhealthyReplicas scales the old ReplicaSets down one by one, oldest first, and stops with
    # an error at one reporting more available pods than it wants: the ones before it stay scaled
    # down, and reconcileOldReplicaSets reports no scale-down, so the sync goes on to the status.
    async def scenario(sim: Simulation) -> tuple[bool, dict[str, int]]:
        d = await sim.store.create(web(1, "web:3", strategy=DeploymentStrategy(type="RollingUpdate")))
        sets = {}
        for name, image, replicas, available in (
            ("a", "web:1", 3, 1),
            ("b", "web:2", 1, 2),
            ("c", "web:3", 0, 0),
        ):
            created = await sim.store.create(
                ReplicaSet(
                    metadata=ObjectMeta(name=f"web-{name}", namespace=NAMESPACE, labels={"app": "web"}),
                    spec=ReplicaSetSpec(
                        replicas=replicas,
                        selector=LabelSelector(match_labels={"app": "web"}),
                        template=pod_template(image),
                    ),
                )
            )
            # A status the apiserver accepts: no more available pods than ready ones or than it has.
            status = ReplicaSetStatus(
                replicas=max(replicas, available), ready_replicas=available, available_replicas=available
            )
            sets[name] = await sim.store.update_status(attrs.evolve(created, status=status))
        ctx = SyncContext(
            store=sim.store,
            replica_sets=sim.manager.informer(ReplicaSet),
            events=EventRecorder(sim.store, sim.clock, "deployment-controller"),
            clock=sim.clock,
        )
        old = [sets["a"], sets["b"]]
        scaled = await reconcile_old_replica_sets(ctx, [*old, sets["c"]], old, sets["c"], d)
        listed = (await sim.store.list(ReplicaSet, namespace=NAMESPACE)).items
        return scaled, {rs.metadata.name: rs.spec.replicas for rs in listed}

    # 1 replica, maxUnavailable 25 % resolves to 0: 3 of the 4 may go. web-a loses its 2 unavailable
    # replicas; web-b, 1 wanted and 2 available, would have to grow: the cleanup stops there.
    scaled, sizes = Simulation(seed=1).run(scenario)
    assert (scaled, sizes) == (False, {"web-a": 1, "web-b": 1, "web-c": 0})


def test_revision_history_limit_deletes_the_oldest_empty_replica_sets() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim)
        await sim.store.create(web(1, "web:1", revision_history_limit=1))
        await sim.settle()
        for image in ("web:2", "web:3", "web:4"):
            await change(sim, image=image)
            await sim.settle()
        sets = await replica_sets(sim)
        assert sorted(sets) == ["3", "4"]
        assert sets["3"].spec.replicas == 0

    Simulation(seed=1).run(scenario)


def test_a_hash_collision_bumps_collision_count_and_picks_another_name() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim)
        taken = f"web-{util.compute_hash(pod_template('web:1'), None)}"
        squatter_template = attrs.evolve(
            pod_template("other:1"), metadata=ObjectMeta(labels={"app": "other"})
        )
        await sim.store.create(
            ReplicaSet(
                metadata=ObjectMeta(name=taken, namespace=NAMESPACE, labels={"app": "other"}),
                spec=ReplicaSetSpec(
                    replicas=0,
                    selector=LabelSelector(match_labels={"app": "other"}),
                    template=squatter_template,
                ),
            )
        )
        await sim.store.create(web(1, "web:1"))
        await sim.settle()
        d = await deployment(sim)
        assert d.status.collision_count == 1
        rs = (await replica_sets(sim))["1"]
        assert rs.metadata.name == f"web-{util.compute_hash(pod_template('web:1'), 1)}"
        assert condition(d, "Progressing") == ("True", "NewReplicaSetAvailable")

    Simulation(seed=1).run(scenario)


def test_an_orphaned_replica_set_with_the_template_is_adopted_as_the_new_one() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim)
        await sim.store.create(
            ReplicaSet(
                metadata=ObjectMeta(name="web-orphan", namespace=NAMESPACE, labels={"app": "web"}),
                spec=ReplicaSetSpec(
                    replicas=2,
                    selector=LabelSelector(match_labels={"app": "web"}),
                    template=pod_template("web:1"),
                ),
            )
        )
        created = await sim.store.create(web(2, "web:1"))
        await sim.settle()
        listed = (await sim.store.list(ReplicaSet, namespace=NAMESPACE)).items
        assert [rs.metadata.name for rs in listed] == ["web-orphan"]
        owner = listed[0].metadata.controller_ref()
        assert owner is not None and owner.uid == created.metadata.uid
        d = await deployment(sim)
        assert d.metadata.annotations[util.REVISION_ANNOTATION] == "1"
        assert condition(d, "Progressing") == ("True", "NewReplicaSetAvailable")
        assert await events(sim) == []

    Simulation(seed=1).run(scenario)


def test_a_replica_set_relabelled_out_of_the_selector_is_released_and_another_owners_is_left_alone() -> None:
    async def scenario(sim: Simulation) -> None:
        start(sim)
        # A ReplicaSet another controller owns matches web's selector: web must neither adopt nor release it.
        foreign_owner = OwnerReference(
            api_version="apps/v1", kind="Deployment", name="other", uid="other-uid", controller=True
        )
        await sim.store.create(
            ReplicaSet(
                metadata=ObjectMeta(
                    name="web-foreign",
                    namespace=NAMESPACE,
                    labels={"app": "web"},
                    owner_references=(foreign_owner,),
                ),
                spec=ReplicaSetSpec(
                    replicas=1,
                    selector=LabelSelector(match_labels={"app": "web"}),
                    template=pod_template("web:0"),
                ),
            )
        )
        created = await sim.store.create(web(2, "web:1"))
        await sim.settle()
        owned = (await replica_sets(sim))["1"]
        relabelled = attrs.evolve(owned.metadata, labels={"app": "elsewhere"})
        await sim.store.update(attrs.evolve(owned, metadata=relabelled))
        await sim.settle()
        released = await sim.store.get(ReplicaSet, owned.metadata.name, NAMESPACE)
        assert released.metadata.controller_ref() is None
        foreign = await sim.store.get(ReplicaSet, "web-foreign", NAMESPACE)
        assert foreign.metadata.owner_references == (foreign_owner,)
        assert foreign.spec.replicas == 1  # not scaled down as one of web's old ReplicaSets
        by_owner = {
            rs.metadata.name: ref.uid
            for rs in (await sim.store.list(ReplicaSet, namespace=NAMESPACE)).items
            if (ref := rs.metadata.controller_ref()) is not None
        }
        assert list(by_owner.values()).count(created.metadata.uid) == 1

    Simulation(seed=1).run(scenario)


def test_an_orphaned_replica_set_wakes_the_deployments_only_when_it_may_have_become_adoptable() -> None:
    # updateReplicaSet / deleteReplicaSet: an orphan's labels or controller reference changing matter;
    # its other updates and its deletion do not.
    def syncs(sim: Simulation) -> int:
        return sum(sim.manager.metrics.controller("deployment").reconcile_total.values())

    async def scenario(sim: Simulation) -> list[int]:
        start(sim)
        # An orphan web selects, held by a finalizer while it is deleted, so that web does not adopt it.
        await sim.store.create(
            ReplicaSet(
                metadata=ObjectMeta(
                    name="stray", namespace=NAMESPACE, labels={"app": "web"}, finalizers=("example.com/hold",)
                ),
                spec=ReplicaSetSpec(
                    replicas=0,
                    selector=LabelSelector(match_labels={"app": "web"}),
                    template=pod_template("web:0"),
                ),
            )
        )
        await sim.store.delete(ReplicaSet, "stray", NAMESPACE)
        await sim.store.create(web(1, "web:1"))
        await sim.settle()
        counts = [syncs(sim)]
        stray = await sim.store.get(ReplicaSet, "stray", NAMESPACE)
        assert stray.metadata.controller_ref() is None
        annotated = attrs.evolve(stray.metadata, annotations={"note": "touched"})
        stray = await sim.store.update(attrs.evolve(stray, metadata=annotated))
        await sim.settle()
        counts.append(syncs(sim))
        await sim.store.update(attrs.evolve(stray, metadata=attrs.evolve(stray.metadata, finalizers=())))
        await sim.settle()
        counts.append(syncs(sim))
        return counts

    first, after_update, after_removal = Simulation(seed=1).run(scenario)
    assert after_update == first
    assert after_removal == first


def test_the_same_seed_gives_the_same_rollout_trace() -> None:
    async def scenario(sim: Simulation) -> str:
        start(sim, delay=0.5)
        await sim.store.create(web(3, "web:1"))
        await sim.settle()
        await change(sim, image="web:2")
        await sim.settle()
        return sim.trace.digest()

    assert Simulation(seed=7).run(scenario) == Simulation(seed=7).run(scenario)
