"""retry_on_conflict: client-go's RetryOnConflict — conflicts retried with its backoff, nothing else."""

from __future__ import annotations

import pytest

from reconcile import Entropy
from reconcile.retry import DEFAULT_BACKOFF, DEFAULT_RETRY, Backoff, retry_on_conflict
from reconcile.testing import Simulation
from store import Conflict, NotFound


class Flaky:
    """Raises ``error`` on the first ``failures`` calls, noting the virtual time of every call."""

    def __init__(self, sim: Simulation, failures: int, error: Exception | None = None) -> None:
        self.sim, self.failures = sim, failures
        self.error = error or Conflict("the object has been modified; please apply your changes again")
        self.calls: list[float] = []

    async def __call__(self) -> str:
        self.calls.append(self.sim.now)
        if len(self.calls) <= self.failures:
            raise self.error
        return "written"


def test_a_conflict_is_retried_after_the_backoff_until_the_write_goes_through() -> None:
    async def scenario(sim: Simulation) -> tuple[str, list[float]]:
        fn = Flaky(sim, failures=2)
        result = await retry_on_conflict(fn, clock=sim.clock, backoff=Backoff(steps=5, duration=0.5))
        return result, fn.calls

    result, calls = Simulation().run(scenario)
    assert result == "written"
    assert calls == [0.0, 0.5, 1.0]


def test_the_last_conflict_propagates_once_the_steps_run_out() -> None:
    async def scenario(sim: Simulation) -> list[float]:
        fn = Flaky(sim, failures=10)
        with pytest.raises(Conflict):
            await retry_on_conflict(fn, clock=sim.clock, backoff=Backoff(steps=3, duration=1.0, factor=2.0))
        return fn.calls

    assert Simulation().run(scenario) == [0.0, 1.0, 3.0]


def test_other_errors_are_not_retried() -> None:
    async def scenario(sim: Simulation) -> int:
        fn = Flaky(sim, failures=1, error=NotFound('deployments.apps "web" not found'))
        with pytest.raises(NotFound):
            await retry_on_conflict(fn, clock=sim.clock)
        return len(fn.calls)

    assert Simulation().run(scenario) == 1


def test_client_gos_defaults() -> None:
    # retry.DefaultRetry: 5 steps of 10 ms; retry.DefaultBackoff: 4 steps from 10 ms, ×5 each time.
    assert DEFAULT_RETRY.waits() == [0.010] * 4
    assert DEFAULT_BACKOFF.waits() == pytest.approx([0.010, 0.050, 0.250])


def test_jitter_lengthens_each_wait_by_at_most_its_fraction() -> None:
    waits = Backoff(steps=200, duration=1.0, jitter=0.1).waits(Entropy(7).stream("retry"))
    assert all(1.0 <= wait <= 1.1 for wait in waits)
    assert len(set(waits)) > 1


def test_a_backoff_needs_one_attempt_at_least() -> None:
    with pytest.raises(ValueError, match="steps"):
        Backoff(steps=0, duration=0.01)
