"""The shipped strategies draw objects the store accepts, and `st.from_type` finds them through the
``hypothesis`` entry point without any registration by the user."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controllers.testing import strategies as builtin
from reconcile.testing import strategies as generic
from store import MemoryStore
from store.models import ConfigMap, Deployment, LabelSelector, Node, ObjectMeta, Pod, Service
from store.quantity import Quantity, parse_quantity

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


async def _create(obj: object) -> object:
    store = MemoryStore(seed=0)
    before = store.revision
    created = await store.create(obj)  # type: ignore[type-var]
    assert store.revision == before + 1
    return created


@FAST
@given(obj=st.one_of(builtin.pods(), builtin.nodes(), builtin.deployments(), builtin.services()))
async def test_drawn_objects_are_accepted_by_the_store(obj: Pod | Node | Deployment | Service) -> None:
    await _create(obj)


@FAST
@given(meta=generic.object_meta())
async def test_drawn_metadata_is_accepted_on_create(meta: ObjectMeta) -> None:
    created = await _create(ConfigMap(metadata=meta))
    assert isinstance(created, ConfigMap)


@FAST
@given(selector=generic.label_selectors(), labels=generic.label_maps)
def test_drawn_selectors_compile_and_match_deterministically(selector: LabelSelector, labels: object) -> None:
    compiled = selector.as_selector()
    assert compiled.matches(labels) == compiled.matches(labels)  # type: ignore[arg-type]


@FAST
@given(quantity=generic.quantities())
def test_drawn_quantities_round_trip_through_their_canonical_form(quantity: Quantity) -> None:
    assert parse_quantity(str(quantity)) == quantity


@FAST
@given(deployment=builtin.deployments())
def test_rolling_updates_never_have_both_fenceposts_zero(deployment: Deployment) -> None:
    rolling = deployment.spec.strategy.rolling_update
    if rolling is not None:
        assert not (rolling.max_surge in (0, "0%") and rolling.max_unavailable in (0, "0%"))


def test_from_type_finds_the_builtin_strategies_through_the_entry_point() -> None:
    """In a fresh interpreter: importing Hypothesis runs setpoint's hook, nothing else is imported."""
    program = (
        "from hypothesis import strategies as st\n"
        "from store.models import Deployment, Pod\n"
        "d = st.from_type(Deployment).example()\n"
        "assert d.spec.selector.match_labels['app'] == d.metadata.name, d\n"
        "assert st.from_type(Pod).example().spec.containers\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "ok", result.stderr
