"""Controller expectations: counts lowered by observations, uid-tracked deletes, expiry on the clock.

Ported from TestControllerExpectations and TestUIDExpectations (pkg/controller/controller_utils_test.go).
"""

from __future__ import annotations

import pytest

from reconcile import Request
from reconcile.expectations import (
    EXPECTATIONS_TIMEOUT,
    ControlleeExpectations,
    ControllerExpectations,
    UIDTrackingControllerExpectations,
)
from reconcile.testing import Simulation

KEY = Request("default", "foobar")


class SteppedClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += seconds


def counts(expectations: ControlleeExpectations | None) -> tuple[int, int]:
    assert expectations is not None
    return expectations.adds, expectations.deletes


def test_a_key_is_synced_only_once_all_creations_and_deletions_are_observed() -> None:
    clock = SteppedClock()
    expectations: ControllerExpectations[Request] = ControllerExpectations(clock, timeout=30)
    expectations.set_expectations(KEY, 10, 30)
    for _ in range(11):
        expectations.creation_observed(KEY)
    assert not expectations.satisfied_expectations(KEY), "deletions are still expected"
    for _ in range(31):
        expectations.deletion_observed(KEY)
    assert counts(expectations.get_expectations(KEY)) == (-1, -1)
    assert expectations.satisfied_expectations(KEY)


def test_setting_expectations_forgets_the_earlier_ones() -> None:
    expectations: ControllerExpectations[Request] = ControllerExpectations(SteppedClock())
    expectations.set_expectations(KEY, 10, 30)
    expectations.creation_observed(KEY)
    expectations.set_expectations(KEY, 1, 2)
    assert counts(expectations.get_expectations(KEY)) == (1, 2)


def test_pending_expectations_expire_once_the_timeout_has_passed_on_the_clock() -> None:
    clock = SteppedClock()
    expectations: ControllerExpectations[Request] = ControllerExpectations(clock, timeout=30)
    expectations.set_expectations(KEY, 1, 2)
    clock.step(30)
    assert not expectations.satisfied_expectations(KEY), "at the timeout itself they still hold"
    clock.step(0.001)
    assert expectations.satisfied_expectations(KEY)


def test_the_default_timeout_is_five_minutes() -> None:
    assert EXPECTATIONS_TIMEOUT == 300.0
    clock = SteppedClock()
    expectations: ControllerExpectations[Request] = ControllerExpectations(clock)
    expectations.expect_creations(KEY, 1)
    clock.step(299)
    assert not expectations.satisfied_expectations(KEY)
    clock.step(2)
    assert expectations.satisfied_expectations(KEY)


def test_a_key_that_never_set_expectations_is_always_synced() -> None:
    expectations: ControllerExpectations[Request] = ControllerExpectations(SteppedClock())
    assert expectations.satisfied_expectations(KEY)
    assert expectations.get_expectations(KEY) is None


def test_observations_nobody_expected_create_no_expectations() -> None:
    expectations: ControllerExpectations[Request] = ControllerExpectations(SteppedClock())
    expectations.creation_observed(KEY)
    expectations.deletion_observed(KEY)
    expectations.raise_expectations(KEY, 3, 3)
    assert expectations.get_expectations(KEY) is None


def test_raise_and_lower_move_both_counts() -> None:
    expectations: ControllerExpectations[Request] = ControllerExpectations(SteppedClock())
    expectations.expect_deletions(KEY, 1)
    expectations.raise_expectations(KEY, 2, 1)
    assert counts(expectations.get_expectations(KEY)) == (2, 2)
    expectations.lower_expectations(KEY, 2, 2)
    assert expectations.satisfied_expectations(KEY)


def test_expires_in_counts_down_only_while_something_is_pending() -> None:
    clock = SteppedClock()
    expectations: ControllerExpectations[Request] = ControllerExpectations(clock, timeout=30)
    assert expectations.expires_in(KEY) is None
    expectations.expect_creations(KEY, 1)
    clock.step(10)
    assert expectations.expires_in(KEY) == pytest.approx(20)
    clock.step(100)
    assert expectations.expires_in(KEY) == 0.0
    expectations.creation_observed(KEY)
    assert expectations.expires_in(KEY) is None


def test_deleted_expectations_are_gone_and_later_observations_do_not_revive_them() -> None:
    expectations: ControllerExpectations[Request] = ControllerExpectations(SteppedClock())
    expectations.expect_creations(KEY, 1)
    expectations.delete_expectations(KEY)
    expectations.creation_observed(KEY)
    assert expectations.get_expectations(KEY) is None
    assert expectations.satisfied_expectations(KEY)


def test_expectations_expire_on_the_virtual_clock_of_a_simulation() -> None:
    async def scenario(sim: Simulation) -> tuple[bool, bool]:
        expectations: ControllerExpectations[Request] = ControllerExpectations(sim.clock)
        expectations.expect_creations(KEY, 1)
        await sim.advance(EXPECTATIONS_TIMEOUT - 1)
        before = expectations.satisfied_expectations(KEY)
        await sim.advance(2)
        return before, expectations.satisfied_expectations(KEY)

    assert Simulation().run(scenario) == (False, True)


# --- uid tracking --------------------------------------------------------------------------------


def test_each_controller_is_satisfied_once_the_pods_it_deletes_are_observed() -> None:
    uid_expectations: UIDTrackingControllerExpectations[Request] = UIDTrackingControllerExpectations(
        SteppedClock()
    )
    pods_by_key = {
        Request("default", f"rc-{index}"): [f"default/pod{pod}-rc-{index}" for pod in range(5)]
        for index in range(4)
    }
    for key, pods in pods_by_key.items():
        uid_expectations.expect_deletions(key, pods)
    # Satisfied one controller at a time, in an order unlike the one they were set in.
    for key in [Request("default", f"rc-{index}") for index in (2, 0, 3, 1)]:
        assert not uid_expectations.satisfied_expectations(key)
        for pod in pods_by_key[key]:
            uid_expectations.deletion_observed(key, pod)
        assert uid_expectations.satisfied_expectations(key)
        uid_expectations.delete_expectations(key)
        assert uid_expectations.get_uids(key) is None


def test_a_delete_reported_twice_is_counted_once() -> None:
    uid_expectations: UIDTrackingControllerExpectations[Request] = UIDTrackingControllerExpectations(
        SteppedClock()
    )
    uid_expectations.expect_deletions(KEY, ["default/a", "default/b"])
    uid_expectations.deletion_observed(KEY, "default/a")
    uid_expectations.deletion_observed(KEY, "default/a")
    assert counts(uid_expectations.get_expectations(KEY)) == (0, 1)
    assert uid_expectations.get_uids(KEY) == frozenset({"default/b"})
    assert not uid_expectations.satisfied_expectations(KEY)


def test_deletions_of_pods_nobody_deletes_are_ignored() -> None:
    uid_expectations: UIDTrackingControllerExpectations[Request] = UIDTrackingControllerExpectations(
        SteppedClock()
    )
    uid_expectations.expect_deletions(KEY, ["default/a"])
    uid_expectations.deletion_observed(KEY, "default/other")
    uid_expectations.deletion_observed(Request("default", "someone-else"), "default/a")
    assert counts(uid_expectations.get_expectations(KEY)) == (0, 1)


def test_expecting_deletions_again_replaces_the_keys_waited_for() -> None:
    uid_expectations: UIDTrackingControllerExpectations[Request] = UIDTrackingControllerExpectations(
        SteppedClock()
    )
    uid_expectations.expect_deletions(KEY, ["default/a", "default/b"])
    uid_expectations.expect_deletions(KEY, ["default/c"])
    uid_expectations.deletion_observed(KEY, "default/a")
    assert counts(uid_expectations.get_expectations(KEY)) == (0, 1)
    uid_expectations.deletion_observed(KEY, "default/c")
    assert uid_expectations.satisfied_expectations(KEY)


def test_uid_tracking_keeps_counting_creations() -> None:
    clock = SteppedClock()
    uid_expectations: UIDTrackingControllerExpectations[Request] = UIDTrackingControllerExpectations(
        clock, timeout=30
    )
    uid_expectations.expect_creations(KEY, 2)
    uid_expectations.creation_observed(KEY)
    assert uid_expectations.expires_in(KEY) == pytest.approx(30)
    uid_expectations.lower_expectations(KEY, 1, 0)
    assert uid_expectations.satisfied_expectations(KEY)
