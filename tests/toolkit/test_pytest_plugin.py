"""The pytest plugin: its fixtures and marker, exercised in a pytester sandbox."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_the_marker_chooses_nodes_controllers_and_seed_and_the_cluster_comes_settled(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from store.models import Node, Pod

        @pytest.mark.setpoint(nodes=2, seed=7, controllers=["scheduler"])
        def test_cluster(setpoint_cluster, setpoint_clock):
            cluster = setpoint_cluster.cluster
            assert [c.name for c in cluster.manager.controllers] == ["kubelet", "scheduler"]
            nodes = setpoint_cluster.run(lambda c: c.list(Node))
            assert sorted(n.metadata.name for n in nodes) == ["node-1", "node-2"]
            assert setpoint_clock is setpoint_cluster.cluster.clock
            before = setpoint_cluster.now
            setpoint_cluster.advance(600.0)
            assert setpoint_cluster.now == before + 600.0

        def test_defaults(setpoint_cluster):
            assert len(setpoint_cluster.cluster.node_configs) == 3
            assert setpoint_cluster.cluster.seed == 0

        def test_store(setpoint_store):
            assert not setpoint_store.list_now(Pod).items
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=3)


def test_a_bad_marker_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.setpoint(zones=2)
        def test_cluster(setpoint_cluster):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert "@pytest.mark.setpoint: unknown options ['zones']" in result.stdout.str()
    result.assert_outcomes(errors=1)


def test_the_async_with_harness_runs_on_a_virtual_loop() -> None:
    from controllers.testing.harness import ClusterHarness
    from reconcile.clock import VirtualClock
    from store.models import Node

    async def main() -> list[str]:
        async with ClusterHarness(nodes=2, seed=1, controllers=["scheduler"]) as cluster:
            await cluster.advance(3600.0)
            return sorted(node.metadata.name for node in await cluster.list(Node))

    assert VirtualClock().run(main) == ["node-1", "node-2"]
