"""setpoint's pytest plugin (entry point ``pytest11``): fixtures for a store, a settled cluster and
its clock, and the ``setpoint`` marker that chooses the cluster::

    @pytest.mark.setpoint(nodes=2, seed=7, controllers=["deployment", "replicaset", "scheduler"])
    def test_scale(setpoint_cluster: ClusterHarness) -> None:
        setpoint_cluster.run(lambda cluster: cluster.apply([...]))
        setpoint_cluster.settle()

Fixtures: ``setpoint_store`` (a seeded `MemoryStore`), ``setpoint_cluster`` (a started, settled
`ClusterHarness` on virtual time, stopped after the test), ``setpoint_clock`` (that cluster's
`VirtualClock`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from controllers.testing.harness import ClusterHarness
from reconcile.clock import VirtualClock
from store import MemoryStore

MARKER = "setpoint"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(nodes=3, seed=0, controllers=None): the cluster the setpoint fixtures build"
        " (controllers: names of built-in controllers; None runs them all)",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker(MARKER)
    options: dict[str, Any] = {"nodes": 3, "seed": 0, "controllers": None}
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only")
        unknown = sorted(set(marker.kwargs) - set(options))
        if unknown:
            raise pytest.UsageError(f"@pytest.mark.{MARKER}: unknown options {unknown}")
        options.update(marker.kwargs)
    return options


@pytest.fixture
def setpoint_store(request: pytest.FixtureRequest) -> MemoryStore:
    """An empty in-memory store seeded from the marker's seed."""
    return MemoryStore(seed=_options(request)["seed"])


@pytest.fixture
def setpoint_cluster(request: pytest.FixtureRequest) -> Iterator[ClusterHarness]:
    """A started, settled cluster on virtual time, chosen by the ``setpoint`` marker."""
    with ClusterHarness(**_options(request)) as harness:
        yield harness


@pytest.fixture
def setpoint_clock(setpoint_cluster: ClusterHarness) -> VirtualClock:
    """The virtual clock of ``setpoint_cluster``."""
    return setpoint_cluster.clock
