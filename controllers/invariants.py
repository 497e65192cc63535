"""Cluster-level invariants, checked at every committed write by replaying the store's watches.

`RolloutBounds` is the rolling-update promise of a Deployment: Σ ReplicaSet spec.replicas stays within
replicas + maxSurge, and, once the Deployment was first complete and no pod is lost, available pods stay
at or above replicas − maxUnavailable. The property tests and the W4 benchmark check rollouts with it.
"""

from __future__ import annotations

import bisect
import heapq
from typing import Any

from controllers.deployment import util
from controllers.podutil import is_pod_active, is_pod_ready
from store import MemoryStore
from store.interface import EventType, WatchEvent
from store.memory import MemoryWatch
from store.models import Deployment, Object, Pod, ReplicaSet


class RolloutBounds:
    """Replays every committed write to one Deployment, its ReplicaSets and their pods, checking the
    rolling-update bounds after each revision.

    It reads three watches of the store opened when it is made (so make it before the Deployment), merged
    by revision: one write is one revision, so the state after each event is the state of the cluster
    after that write. `drain` catches up without waiting (call it before the store's history moves past
    what it has read); `violations` lists each bound broken, `revisions` counts the writes checked.
    Available means active and Ready: it assumes minReadySeconds 0, where availability changes only
    with a write.

    A scale while two ReplicaSets are active is shared out in proportion (sync.go scale), and
    maxUnavailable does not bind it: scaling down takes older ReplicaSets' pods first, available or
    not. So a generation that lowers replicas + maxSurge mid-rollout by s may cost s available pods at
    once. It may cost s more in the rolling step that follows: until the ReplicaSet controller observes
    the smaller spec, a shrunken ReplicaSet's status.availableReplicas still counts the pods it takes,
    and reconcileOldReplicaSets scales old ReplicaSets down against that count (newRS unavailable
    = spec − status.availableReplicas goes negative; the available pods are summed from the statuses).
    So such a generation's floor is the lower of its own replicas − maxUnavailable and the floor before
    it, less s, and no further.

    The surge limit is the largest of the generations in flight (observedGeneration to generation), and
    of those that were in flight when a ReplicaSet was last resized, while it keeps that size. The
    Deployment controller reads ReplicaSets from its cache, which may not yet hold its own last write:
    a sync for generation g made from an older spec can resize a ReplicaSet after g was written, and the
    sync for g that follows, its cache still showing the old size, records g as observed without
    correcting it; only the sync after the write reaches the cache does. Until then the size is the
    older generation's to justify.

    A ReplicaSet grown past the surge limit is judged by the sizes the Deployment controller's cache
    could have shown. Upstream's controller keeps no expectations for its ReplicaSet writes: it sizes
    ReplicaSets from its lister (sync.go scale, NewRSNewReplicas for rolling.go and recreate.go) and
    leaves out the pods of ReplicaSets its lister does not hold (getPodMapForDeployment), so a sync whose
    cache lacks the controller's own last writes acts on the sizes before them. The informer applies
    writes in revision order, so the cache is the ReplicaSets as they were at one revision, no older than
    what the Deployment's syncs (one at a time) are known to have read. An update succeeds only over the
    current version, which the sync read from its cache or got back from its own write before: so a
    version someone else wrote (a status) proves the cache held it, one the controller wrote proves what
    that write did. A new ReplicaSet's revision is one above the old ones the creating sync listed, which
    proves the first write of the revision below. The growth is within the bound if, at some revision
    from the newest proven to the write, the other ReplicaSets and the new size came to at most the
    surge limit. Σ spec.replicas may then stay at what the growth left until a ReplicaSet grows again:
    meanwhile they only shrink, as syncs whose cache holds the missed writes work the excess off, and
    each growth is judged on its own. (Only the Deployment controller resizes its ReplicaSets.) Writes do
    not name the sync that made them, so any overshoot such a cache could explain passes, whatever its
    cause: a scale-up sharing out one replica too many over two ReplicaSets looks like a sync that
    missed the first one's growth.

    The availability floor rises with a generation only once the Deployment is complete at it and every
    ReplicaSet it owns has had its current spec observed by the ReplicaSet controller. A Deployment's
    status is summed from ReplicaSet statuses, so it can report complete while a ReplicaSet controller
    has yet to act on a spec it saw on the way (scaled 1 → 0 → 1, it may still delete the pod for 0).
    """

    def __init__(self, store: MemoryStore, namespace: str, name: str) -> None:
        self.namespace = namespace
        self.name = name
        self._watches: tuple[MemoryWatch[Any], ...] = (
            store.watch(Deployment, namespace=namespace),
            store.watch(ReplicaSet, namespace=namespace),
            store.watch(Pod, namespace=namespace),
        )
        self._start_over()
        self.revisions = 0
        self.violations: list[str] = []
        self.max_total = 0
        self.min_available: int | None = None
        # The bounds of the Deployment as last applied (surge limit, availability floor): they change only
        # with a Deployment write, so they are worked out once per such write, not at every revision.
        self._bounds: tuple[int | None, int | None] | None = None

    def _start_over(self) -> None:
        """The Deployment's state as before its first write (also once it is deleted)."""
        self.deployment: Deployment | None = None
        # Per generation: (replicas + maxSurge, the availability floor) — replicas − maxUnavailable,
        # or lower for a scale-down shared out mid-rollout (`_floor`).
        self._limits: dict[int, tuple[int, int]] = {}
        self._complete_generation: int | None = None
        self._replicas: dict[str, int] = {}
        # Owned ReplicaSets whose status has not yet observed their generation.
        self._unobserved: set[str] = set()
        # Per owned ReplicaSet with replicas: the generations in flight when it was last resized.
        self._resized_in: dict[str, tuple[int, int]] = {}
        # What the Deployment controller's ReplicaSet cache is known to have held (`_note_cache`): per
        # ReplicaSet of the Deployment or orphan, its last version and the revision an update over it
        # proves; the newest revision a sync's cache held; per revision annotation, its first write.
        self._known: dict[str, ReplicaSet] = {}
        self._proven: dict[str, int] = {}
        self._cache_held = 0
        self._revision_since: dict[int, int] = {}
        # Every change of an owned ReplicaSet's size, as (revision, uid, change), to see what a cache that
        # lags behind could have shown (`_cached_total`).
        self._history: list[tuple[int, str, int]] = []
        # Σ spec.replicas left by the last growth past the surge limit that a lagging cache allows, while
        # no ReplicaSet has grown since.
        self._stale_total: int | None = None
        self._total = 0
        self._available: set[str] = set()

    @property
    def total(self) -> int:
        """Σ spec.replicas of the Deployment's ReplicaSets."""
        return self._total

    @property
    def available(self) -> int:
        """Active, Ready pods controlled by the Deployment's ReplicaSets."""
        return len(self._available)

    def surge_limit(self) -> int | None:
        """The most pods the ReplicaSets may ask for now, or None before the Deployment exists."""
        limit = self._in_flight_limit()
        if limit is None:
            return None
        for first, last in self._resized_in.values():
            for generation in range(first, last + 1):
                if generation in self._limits:
                    limit = max(limit, self._limits[generation][0])
        return limit if self._stale_total is None else max(limit, self._stale_total)

    def _in_flight_limit(self) -> int | None:
        """The largest replicas + maxSurge of the generations in flight."""
        window = self._generations_in_flight()
        return max(self._limits[g][0] for g in window) if window else None

    def availability_floor(self) -> int | None:
        """The fewest available pods allowed now, or None before the Deployment was first complete."""
        deployment = self.deployment
        if deployment is None or self._complete_generation is None:
            return None
        window = range(self._complete_generation, deployment.metadata.generation + 1)
        return min(self._limits[g][1] for g in window if g in self._limits)

    def _generations_in_flight(self) -> list[int]:
        deployment = self.deployment
        if deployment is None:
            return []
        first = max(deployment.status.observed_generation, 1)
        return [g for g in range(first, deployment.metadata.generation + 1) if g in self._limits]

    def drain(self) -> None:
        """Check every write committed since the last drain, in revision order."""
        batches = [watch.ready() for watch in self._watches]
        for event in heapq.merge(*batches, key=lambda event: event.revision):
            self._apply(event)
            self._check(event)

    async def follow(self) -> None:
        """Drain after every burst of pod writes, until cancelled (for runs too long to drain by hand).

        Every step of a rollout writes pods, so waking on them keeps the monitor within the store's
        history; the Deployment and ReplicaSet writes in between are drained with them, and a last
        `drain` after the run catches the tail.
        """
        pods = self._watches[2]
        while True:
            self.drain()
            await pods.wait_for_change()

    def _apply(self, event: WatchEvent[Any]) -> None:
        obj = event.object
        if isinstance(obj, Deployment):
            if obj.metadata.name == self.name:
                self._apply_deployment(event.type, obj)
        elif isinstance(obj, ReplicaSet):
            self._apply_replica_set(event.type, obj, event.revision)
        elif isinstance(obj, Pod):
            self._apply_pod(event.type, obj)

    def _apply_deployment(self, type_: EventType, deployment: Deployment) -> None:
        self._bounds = None
        if type_ is EventType.DELETED:
            # A Deployment of the same name made later starts its generations again.
            self._start_over()
            return
        generation = deployment.metadata.generation
        if generation not in self._limits:
            limit = deployment.spec.replicas + util.max_surge(deployment)
            floor = self._floor(util.min_available(deployment), limit)
            self._limits[generation] = (limit, floor)
        self.deployment = deployment
        if not self._unobserved and util.deployment_complete(deployment, deployment.status):
            self._complete_generation = deployment.metadata.generation

    def _floor(self, min_available: int, limit: int) -> int:
        """A new generation's floor, given its replicas − maxUnavailable and replicas + maxSurge.

        With two or more ReplicaSets active, a lower limit is shared out in proportion: the
        ReplicaSets shrink by at most the highest limit in flight less the new one, each pod taken
        costing at most one available pod, and the rolling step after it, counting from statuses that
        still show the pods taken, may take as many again below replicas − maxUnavailable.
        """
        floor, before = self.availability_floor(), self._in_flight_limit()
        if floor is None or before is None or sum(1 for n in self._replicas.values() if n > 0) < 2:
            return min_available
        return min(min_available, floor) - max(before - limit, 0)

    def _owned(self, obj: Object, owner_uid: str | None) -> bool:
        ref = obj.metadata.controller_ref()
        return ref is not None and owner_uid is not None and ref.uid == owner_uid

    def _apply_replica_set(self, type_: EventType, rs: ReplicaSet, revision: int) -> None:
        deployment_uid = self.deployment.metadata.uid if self.deployment is not None else None
        uid = rs.metadata.uid
        before = self._replicas.pop(uid, 0)
        self._unobserved.discard(uid)
        after = 0
        if type_ is not EventType.DELETED and self._owned(rs, deployment_uid):
            after = self._replicas[uid] = rs.spec.replicas
            if rs.status.observed_generation < rs.metadata.generation:
                self._unobserved.add(uid)
        if after != before or type_ is EventType.ADDED:
            self._resize(uid, after)
        self._total += after - before
        if after != before:
            self._history.append((revision, uid, after - before))
        held = self._note_cache(type_, rs, revision, deployment_uid)
        if after > before:
            self._judge_growth(uid, after, held)
        # No cache to come is older than ``held``: what changed up to it is never looked back at again.
        history = self._history
        if history and history[0][0] <= held:
            del history[: bisect.bisect_right(history, held, key=_revision_of_change)]

    def _note_cache(self, type_: EventType, rs: ReplicaSet, revision: int, deployment_uid: str | None) -> int:
        """The oldest revision the ReplicaSet cache of the sync that wrote ``rs`` can have been at.

        A sync updates a ReplicaSet over the version it read from its cache, or over what one of its own
        writes returned: so a version someone else wrote (a status) proves the cache held it, one the
        Deployment controller wrote proves what the write before it proved. A created ReplicaSet's
        revision is one above the highest of the old ones the sync listed: it proves the first write of
        that revision. Syncs of the Deployment run one at a time, so each cache is no older than the
        last one's (`_cache_held`). Kept for the Deployment's ReplicaSets and orphans (it may adopt them).
        """
        uid = rs.metadata.uid
        previous = self._known.pop(uid, None)
        proven = self._proven.pop(uid, 0)
        ref = rs.metadata.controller_ref()
        if type_ is EventType.DELETED or (ref is not None and ref.uid != deployment_uid):
            return self._cache_held
        # Written by a sync of this Deployment: it creates, resizes, annotates, adopts and releases.
        if type_ is EventType.ADDED:
            synced = ref is not None
            proven = self._revision_since.get(_revision(rs) - 1, 0) if synced else revision
        elif previous is not None and _written_by_deployment_controller(previous, rs):
            synced = ref is not None or self._owned(previous, deployment_uid)
        else:
            synced, proven = False, revision
        if synced:
            self._cache_held = max(self._cache_held, proven)
        self._known[uid] = rs
        self._proven[uid] = proven
        number = _revision(rs)
        if number > 0:
            self._revision_since.setdefault(number, revision)
        return self._cache_held

    def _judge_growth(self, uid: str, replicas: int, held: int) -> None:
        """Let a growth past the surge limit stand if a cache at a revision from ``held`` on allowed it.

        Each growth is judged alone: an excess let stand before it no longer covers the state.
        """
        self._stale_total = None
        limit = self.surge_limit()
        if limit is None or self._total <= limit:
            return
        if replicas + self._cached_total(uid, held) <= limit:
            self._stale_total = self._total

    def _cached_total(self, uid: str, held: int) -> int:
        """The least Σ spec.replicas of the owned ReplicaSets other than ``uid`` at any revision from
        ``held`` to just before the write being applied (the last entry of the history)."""
        history = self._history
        others = self._total - self._replicas.get(uid, 0)
        least = others
        for index in range(len(history) - 2, -1, -1):
            revision, other, change = history[index]
            if revision <= held:
                break
            if other != uid:
                others -= change
                least = min(least, others)
        return least

    def _resize(self, uid: str, replicas: int) -> None:
        """Note the generations in flight as a ReplicaSet takes ``replicas`` (none to justify at 0)."""
        self._bounds = None
        deployment = self.deployment
        if replicas == 0 or deployment is None:
            self._resized_in.pop(uid, None)
            return
        first = max(deployment.status.observed_generation, 1)
        self._resized_in[uid] = (first, deployment.metadata.generation)

    def _apply_pod(self, type_: EventType, pod: Pod) -> None:
        ref = pod.metadata.controller_ref()
        uid = pod.metadata.uid
        if (
            type_ is not EventType.DELETED
            and ref is not None
            and ref.uid in self._replicas
            and is_pod_active(pod)
            and is_pod_ready(pod)
        ):
            self._available.add(uid)
        else:
            self._available.discard(uid)

    def _check(self, event: WatchEvent[Any]) -> None:
        self.revisions += 1
        self.max_total = max(self.max_total, self._total)
        bounds = self._bounds
        if bounds is None:
            bounds = self._bounds = (self.surge_limit(), self.availability_floor())
        limit, floor = bounds
        if limit is not None and self._total > limit:
            self._violated(event, f"Σ spec.replicas {self._total} > replicas + maxSurge {limit}")
        if floor is not None:
            available = len(self._available)
            if self.min_available is None or available < self.min_available:
                self.min_available = available
            if available < floor:
                self._violated(event, f"available pods {available} < the availability floor {floor}")

    def _violated(self, event: WatchEvent[Any], what: str) -> None:
        obj = event.object
        name = f"{type(obj).kind} {obj.metadata.name}" if obj is not None else "?"
        generation = self.deployment.metadata.generation if self.deployment is not None else 0
        observed = self.deployment.status.observed_generation if self.deployment is not None else 0
        self.violations.append(
            f"revision {event.revision} ({event.type} {name}), generation {generation}"
            f" (observed {observed}): {what}"
        )


def _written_by_deployment_controller(previous: ReplicaSet, rs: ReplicaSet) -> bool:
    """Whether a write changed what only the Deployment controller changes: spec, labels, annotations,
    owners (the ReplicaSet controller writes the status alone)."""
    before, after = previous.metadata, rs.metadata
    return (
        after.generation != before.generation
        or after.annotations != before.annotations
        or after.owner_references != before.owner_references
        or after.labels != before.labels
    )


def _revision_of_change(change: tuple[int, str, int]) -> int:
    return change[0]


def _revision(rs: ReplicaSet) -> int:
    """The ReplicaSet's revision annotation, 0 when it has none or a garbled one."""
    try:
        return util.revision(rs)
    except ValueError:
        return 0
