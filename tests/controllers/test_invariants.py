"""`RolloutBounds` on writes made by hand: what a Deployment controller reading a lagging ReplicaSet
cache may do to the surge bound, and what it may not.

Each test writes as the controller would, every ReplicaSet update carrying the version it read, and
checks the monitor after each write. The rule: a growth past replicas + maxSurge stands if the cache
could have shown sizes that allowed it; the cache is no older than what the Deployment's syncs are known
to have read (the versions their updates carried; for a created ReplicaSet, the revision below its own).
"""

from __future__ import annotations

import attrs

from controllers.deployment import util
from controllers.deployment.sync import controller_ref
from controllers.invariants import RolloutBounds
from controllers.testing.machine import deployment
from store import FrozenDict, MemoryStore
from store.models import (
    Deployment,
    DeploymentStrategy,
    LabelSelector,
    ObjectMeta,
    ReplicaSet,
    ReplicaSetSpec,
    RollingUpdateDeployment,
)

NAMESPACE = "default"
ONE_AT_A_TIME = DeploymentStrategy(
    type="RollingUpdate", rolling_update=RollingUpdateDeployment(max_unavailable=1, max_surge=0)
)


class Cluster:
    """A store, the monitor of Deployment web, and the writes of its controller."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.monitor = RolloutBounds(self.store, NAMESPACE, "web")

    def violations(self) -> list[str]:
        self.monitor.drain()
        return self.monitor.violations

    async def create_deployment(self, replicas: int) -> Deployment:
        created = await self.store.create(deployment("web", replicas, ONE_AT_A_TIME, "nginx:1.25"))
        return await self.observe(created)

    async def observe(self, current: Deployment) -> Deployment:
        """The controller records the Deployment's generation as observed."""
        status = attrs.evolve(current.status, observed_generation=current.metadata.generation)
        return await self.store.update_status(attrs.evolve(current, status=status))

    async def scale_deployment(self, replicas: int) -> Deployment:
        current = await self.store.get(Deployment, "web", NAMESPACE)
        scaled = await self.store.update(
            attrs.evolve(current, spec=attrs.evolve(current.spec, replicas=replicas))
        )
        return await self.observe(scaled)

    async def create_replica_set(self, owner: Deployment, revision: int, replicas: int) -> ReplicaSet:
        labels = FrozenDict({"app": "web", "pod-template-hash": f"r{revision}"})
        template = attrs.evolve(owner.spec.template, metadata=ObjectMeta(labels=labels))
        rs = ReplicaSet(
            metadata=ObjectMeta(
                name=f"web-r{revision}",
                namespace=NAMESPACE,
                labels=labels,
                owner_references=(controller_ref(owner),),
                annotations=FrozenDict({util.REVISION_ANNOTATION: str(revision)}),
            ),
            spec=ReplicaSetSpec(
                replicas=replicas, selector=LabelSelector(match_labels=labels), template=template
            ),
        )
        return await self.store.create(rs)

    async def resize(self, read: ReplicaSet, replicas: int) -> ReplicaSet:
        """Resize the ReplicaSet as the controller's cache held it (the update carries that version)."""
        return await self.store.update(attrs.evolve(read, spec=attrs.evolve(read.spec, replicas=replicas)))

    async def annotate(self, read: ReplicaSet, revision: int) -> ReplicaSet:
        """Give the ReplicaSet a new revision, as a rollback to its template does, over the version read."""
        annotations = FrozenDict({**read.metadata.annotations, util.REVISION_ANNOTATION: str(revision)})
        return await self.store.update(
            attrs.evolve(read, metadata=attrs.evolve(read.metadata, annotations=annotations))
        )

    async def touch_status(self, rs: ReplicaSet) -> ReplicaSet:
        """A ReplicaSet controller status write: a newer version of the ReplicaSet, same size."""
        current = await self.store.get(ReplicaSet, rs.metadata.name, NAMESPACE)
        status = attrs.evolve(current.status, observed_generation=current.metadata.generation)
        return await self.store.update_status(attrs.evolve(current, status=status))


async def a_stale_scale_up() -> tuple[Cluster, ReplicaSet, ReplicaSet]:
    """Scaled 2 → 3 mid-rollout: the sync sees the old ReplicaSet as the only active one (its cache does
    not hold the new one's growth to 1) and grows it to 3; with the new one at 1 that is 4 > 3 + 0.

    Returns the cluster and the two ReplicaSets as last written.
    """
    cluster = Cluster()
    web = await cluster.create_deployment(replicas=2)
    old = await cluster.create_replica_set(web, revision=1, replicas=1)
    new = await cluster.create_replica_set(web, revision=2, replicas=0)
    new = await cluster.resize(new, 1)
    assert cluster.violations() == []
    await cluster.scale_deployment(3)
    old = await cluster.resize(old, 3)
    return cluster, old, new


async def test_a_growth_a_cache_without_the_last_writes_allowed_stands_until_worked_off() -> None:
    cluster, old, new = await a_stale_scale_up()
    assert cluster.violations() == []
    assert cluster.monitor.total == 4 and cluster.monitor.surge_limit() == 4
    await cluster.touch_status(new)  # the excess stands while nothing grows
    await cluster.resize(old, 2)  # the next sync, its cache caught up, shrinks it away
    assert cluster.violations() == []
    assert cluster.monitor.total == 3


async def test_a_growth_over_the_syncs_own_write_proves_only_what_that_write_read() -> None:
    # A rollback to the old template: the sync gives the old ReplicaSet the next revision over the version
    # its cache held, then grows it over what that write returned, a version its cache never held.
    cluster = Cluster()
    web = await cluster.create_deployment(replicas=2)
    old = await cluster.create_replica_set(web, revision=1, replicas=1)
    new = await cluster.create_replica_set(web, revision=2, replicas=0)
    await cluster.resize(new, 1)
    await cluster.scale_deployment(3)
    old = await cluster.annotate(old, revision=3)
    await cluster.resize(old, 3)
    assert cluster.violations() == []
    assert cluster.monitor.total == 4


async def test_a_growth_whose_cache_held_the_other_writes_breaks_the_bound() -> None:
    cluster = Cluster()
    web = await cluster.create_deployment(replicas=2)
    old = await cluster.create_replica_set(web, revision=1, replicas=1)
    new = await cluster.create_replica_set(web, revision=2, replicas=0)
    await cluster.resize(new, 1)
    # The old ReplicaSet's status was written after the new one grew: a cache holding that version holds
    # the growth too, so the old one's growth to 3 was made knowing of the 1.
    old = await cluster.touch_status(old)
    await cluster.scale_deployment(3)
    await cluster.resize(old, 3)
    assert cluster.violations() == [
        f"revision {cluster.store.revision} (MODIFIED ReplicaSet web-r1), generation 2 (observed 2):"
        " Σ spec.replicas 4 > replicas + maxSurge 3"
    ]


async def test_a_growth_after_a_sync_read_the_others_writes_is_judged_by_them() -> None:
    cluster = Cluster()
    web = await cluster.create_deployment(replicas=3)
    old = await cluster.create_replica_set(web, revision=1, replicas=1)
    new = await cluster.create_replica_set(web, revision=2, replicas=0)
    new = await cluster.resize(new, 2)
    # A later sync shrinks the new ReplicaSet from a version written after its growth: every sync after
    # it reads a cache at least that new, whatever older version of the old ReplicaSet it writes over.
    new = await cluster.touch_status(new)
    await cluster.resize(new, 1)
    await cluster.resize(old, 3)
    assert len(cluster.violations()) == 1


async def test_an_excess_a_stale_cache_left_does_not_cover_a_later_growth() -> None:
    cluster, old, new = await a_stale_scale_up()
    await cluster.resize(old, 2)
    # The new ReplicaSet grows from a cache that holds the old one at 2 (it holds a status written after
    # that): 4 > 3, though no more than the stale growth had left.
    new = await cluster.touch_status(new)
    await cluster.resize(new, 2)
    assert len(cluster.violations()) == 1


async def test_a_replica_set_created_from_a_cache_without_the_last_growth_stands() -> None:
    cluster = Cluster()
    web = await cluster.create_deployment(replicas=2)
    await cluster.create_replica_set(web, revision=1, replicas=1)
    second = await cluster.create_replica_set(web, revision=2, replicas=0)
    await cluster.resize(second, 1)
    # A new template: the creating sync's cache held revision 2 at size 0, so it made the new one 1.
    await cluster.create_replica_set(web, revision=3, replicas=1)
    assert cluster.violations() == []
    assert cluster.monitor.total == 3


async def test_a_replica_set_created_at_full_size_beside_a_full_one_breaks_the_bound() -> None:
    cluster = Cluster()
    web = await cluster.create_deployment(replicas=2)
    await cluster.create_replica_set(web, revision=1, replicas=2)
    # The creating sync listed revision 1, which was at 2 from its first write: no cache allowed 2 more.
    await cluster.create_replica_set(web, revision=2, replicas=2)
    assert len(cluster.violations()) == 1


async def test_changes_no_cache_to_come_can_predate_are_forgotten() -> None:
    cluster = Cluster()
    web = await cluster.create_deployment(replicas=50)
    rs = await cluster.create_replica_set(web, revision=1, replicas=0)
    for replicas in range(1, 41):
        rs = await cluster.resize(rs, replicas)
        # The ReplicaSet controller's status write: the next resize proves its sync's cache held it.
        rs = await cluster.touch_status(rs)
    assert cluster.violations() == []
    assert cluster.monitor.total == 40
    assert len(cluster.monitor._history) <= 2
