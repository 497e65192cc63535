"""Property: a RollingUpdate Deployment keeps within maxSurge and maxUnavailable at every committed write.

Hypothesis draws a Deployment (1–10 replicas, maxSurge / maxUnavailable as ints 0–3 or percentages, never
both zero) and a sequence of actions — image changes, scales, waits of a few virtual seconds — and runs it
on a whole `Cluster` (virtual time, seeded, default kubelet delays, no pod ever lost). `RolloutBounds`
replays every committed write to the Deployment, its ReplicaSets and their pods, revision by revision, and
checks after each one:

- **surge** — Σ ReplicaSet spec.replicas ≤ replicas + maxSurge (surge rounded up). The controller acts on
  the spec it last read, and one sync is several writes, so while a generation is not yet observed
  (status.observedGeneration < generation) the limit is the largest of the generations in flight: the
  new spec's limit binds from the moment the controller has recorded that it acted on it. It reads
  ReplicaSets from a cache too, which may lack its own last writes: a growth within the limit by the
  sizes such a cache could have shown stands, and the total it left may stay until one grows again;
- **availability** — available pods ≥ replicas − maxUnavailable (unavailable rounded down), once the
  Deployment has first been complete: the floor is the lowest of the generations since it was last complete,
  because a scale-up promises the new floor only once the new pods are up, while a scale-down lowers it at
  once. A scale-down while two ReplicaSets are active is shared out in proportion, older ReplicaSets first,
  whatever maxUnavailable says (sync.go scale): it may lower the floor by as much as it shrinks them,
  and the new generation's own floor by as much again, since the rolling step after it counts available
  pods from ReplicaSet statuses that still show the pods the scale-down took.

After the actions it settles and checks the Deployment is complete: updated = available = replicas =
spec.replicas, observedGeneration = generation, every older ReplicaSet at 0.

`RolloutBounds` lives in `controllers.invariants`; `benchmarks/w4_rollout.py` checks its 10,000-replica
rollout with it too.

This is the property, not the controller's unit tests (tests/controllers/test_deployment.py) and not a fault
test: faults that lose pods void the availability promise.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from controllers.cluster import Cluster
from controllers.deployment import util
from controllers.invariants import RolloutBounds
from reconcile.testing import Simulation
from store import Conflict, FrozenDict
from store.models import (
    Container,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    IntOrString,
    LabelSelector,
    ObjectMeta,
    PodSpec,
    PodTemplateSpec,
    ReplicaSet,
    RollingUpdateDeployment,
)

NAMESPACE = "default"
NAME = "web"


# --- the actions, as data -------------------------------------------------------------------


@attrs.frozen
class SetImage:
    image: str


@attrs.frozen
class Scale:
    replicas: int


@attrs.frozen
class Wait:
    seconds: float


Action = SetImage | Scale | Wait


@attrs.frozen
class Rollout:
    """One example: the Deployment's shape, the cluster seed and what happens to it."""

    replicas: int
    max_surge: IntOrString
    max_unavailable: IntOrString
    seed: int
    actions: tuple[Action, ...]


def _fencepost() -> st.SearchStrategy[IntOrString]:
    return st.one_of(st.integers(0, 3), st.sampled_from(["0%", "25%", "50%"]))


def _is_zero(value: IntOrString) -> bool:
    return value in (0, "0%")


def _actions() -> st.SearchStrategy[Action]:
    return st.one_of(
        st.builds(SetImage, st.sampled_from(["web:1", "web:2", "web:3", "web:4"])),
        st.builds(Scale, st.integers(0, 10)),
        st.builds(Wait, st.sampled_from([0.5, 1.0, 2.0, 5.0])),
    )


def _fenceposts() -> st.SearchStrategy[tuple[IntOrString, IntOrString]]:
    """(maxSurge, maxUnavailable): validation rejects both zero."""
    pairs = st.tuples(_fencepost(), _fencepost())
    return pairs.filter(lambda pair: not (_is_zero(pair[0]) and _is_zero(pair[1])))


rollouts = st.builds(
    lambda replicas, fenceposts, seed, actions: Rollout(
        replicas=replicas,
        max_surge=fenceposts[0],
        max_unavailable=fenceposts[1],
        seed=seed,
        actions=tuple(actions),
    ),
    replicas=st.integers(1, 10),
    fenceposts=_fenceposts(),
    seed=st.integers(0, 2**16),
    actions=st.lists(_actions(), min_size=1, max_size=12),
)


def template(image: str) -> PodTemplateSpec:
    return PodTemplateSpec(
        metadata=ObjectMeta(labels=FrozenDict({"app": NAME})),
        spec=PodSpec(containers=(Container(name=NAME, image=image),)),
    )


def deployment(rollout: Rollout) -> Deployment:
    return Deployment(
        metadata=ObjectMeta(name=NAME, namespace=NAMESPACE),
        spec=DeploymentSpec(
            replicas=rollout.replicas,
            selector=LabelSelector(match_labels=FrozenDict({"app": NAME})),
            template=template("web:1"),
            strategy=DeploymentStrategy(
                type=util.ROLLING_UPDATE,
                rolling_update=RollingUpdateDeployment(
                    max_surge=rollout.max_surge, max_unavailable=rollout.max_unavailable
                ),
            ),
        ),
    )


async def change_spec(cluster: Cluster, action: SetImage | Scale) -> Deployment:
    """What ``kubectl set image`` / ``kubectl scale`` do: read, change, write; again on a conflict."""
    while True:
        current = await cluster.get(Deployment, NAME, NAMESPACE)
        if isinstance(action, SetImage):
            spec = attrs.evolve(current.spec, template=template(action.image))
        else:
            spec = attrs.evolve(current.spec, replicas=action.replicas)
        try:
            return await cluster.store.update(attrs.evolve(current, spec=spec))
        except Conflict:
            continue


async def run_rollout(
    cluster: Cluster, rollout: Rollout, log: Callable[[str], object] = note
) -> RolloutBounds:
    """Create the Deployment, play the actions, settle; drain the monitor after each step."""
    simulation = cluster.simulation
    assert isinstance(simulation, Simulation)
    monitor = RolloutBounds(simulation.memory, NAMESPACE, NAME)

    def check(step: str) -> None:
        monitor.drain()
        log(
            f"t={cluster.now:7.2f} {step}: Σ spec.replicas {monitor.total} (limit {monitor.surge_limit()}),"
            f" available {monitor.available} (floor {monitor.availability_floor()})"
        )
        assert not monitor.violations, monitor.violations[0]

    await cluster.apply([deployment(rollout)])
    check("created")
    for action in rollout.actions:
        if isinstance(action, Wait):
            await cluster.advance(action.seconds)
        else:
            await change_spec(cluster, action)
        check(repr(action))
    await cluster.settle()
    check("settled")
    return monitor


async def assert_complete(cluster: Cluster) -> None:
    current = await cluster.get(Deployment, NAME, NAMESPACE)
    replicas = current.spec.replicas
    status = current.status
    assert status.observed_generation == current.metadata.generation
    assert (status.updated_replicas, status.available_replicas, status.replicas) == (
        replicas,
        replicas,
        replicas,
    ), status
    sets = [
        rs for rs in await cluster.list(ReplicaSet, namespace=NAMESPACE) if util.is_controlled_by(rs, current)
    ]
    new = util.find_new_replica_set(current, sets)
    assert new is not None and new.spec.replicas == new.status.available_replicas == replicas
    older = [(rs.metadata.name, rs.spec.replicas, rs.status.replicas) for rs in sets if rs is not new]
    assert all(spec == actual == 0 for _, spec, actual in older), older


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(rollout=rollouts)
@example(
    # Scaled 4 → 3 mid-rollout: the proportional scale-down takes an available old pod, as upstream's.
    rollout=Rollout(
        replicas=1,
        max_surge=0,
        max_unavailable="50%",
        seed=0,
        actions=(Scale(4), Wait(0.5), Wait(1.0), SetImage("web:2"), Wait(0.5), Scale(3)),
    )
)
@example(
    # Scaled 9 → 8 mid-rollout: the proportional scale-down takes an available new pod, and the rolling
    # step after it, reading the new ReplicaSet's status before the ReplicaSet controller observed the
    # 4 (5 available for a spec of 4), scales the old one down by 2 to 6 available, as upstream's does.
    rollout=Rollout(
        replicas=9,
        max_surge=0,
        max_unavailable=1,
        seed=0,
        actions=(Wait(2.0), SetImage("web:2"), Wait(5.0), Scale(8)),
    )
)
def test_rolling_update_stays_within_max_surge_and_max_unavailable_at_every_write(rollout: Rollout) -> None:
    note(
        f"replicas {rollout.replicas}, maxSurge {rollout.max_surge!r},"
        f" maxUnavailable {rollout.max_unavailable!r}, seed {rollout.seed}"
    )

    async def scenario(cluster: Cluster) -> None:
        await run_rollout(cluster, rollout)
        await assert_complete(cluster)

    Cluster(nodes=3, seed=rollout.seed).run(scenario)
