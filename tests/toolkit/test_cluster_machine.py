"""The built-in controllers under the standard machine: at least 200 seeded fault schedules a run.

Each example boots a three-node, two-zone cluster from a drawn seed, interleaves user actions with
faults (watch drops, stale and coalesced caches, crashes between writes, 409/500, clock jumps, node and
zone outages) and settles; every committed write is checked against the safety invariants and every
settle against the convergence ones (``controllers.testing.invariants``). The nightly profile
(HYPOTHESIS_PROFILE=nightly) runs 2,000 examples.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

from controllers.testing.machine import ClusterMachine

NIGHTLY = os.environ.get("HYPOTHESIS_PROFILE") == "nightly"

TestBuiltinControllers = ClusterMachine.TestCase
TestBuiltinControllers.settings = settings(
    settings.default,
    max_examples=2_000 if NIGHTLY else 200,
    stateful_step_count=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
