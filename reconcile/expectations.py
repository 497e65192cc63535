"""Expectations: the creates and deletes a controller has made but not yet seen in its informer cache.

A controller that writes objects and then reads the informer cache can see the world as it was before
its own writes, and would create (or delete) the same objects twice. Kubernetes' answer, ported here from
pkg/controller/controller_utils.go, is for the controller to *expect* its writes: before creating N
objects it records ``expect_creations(key, N)``, each creation the informer then reports lowers the count,
and the controller only acts again once everything it expected has been observed — or the expectations
are older than `EXPECTATIONS_TIMEOUT`, in case an event never comes.
`UIDTrackingControllerExpectations` also remembers *which* objects it expects to see deleted, so a delete
reported twice (first as a deletionTimestamp, then as the removal) is counted once.

Keys are whatever identifies the controller's object (a `reconcile.Request` does); the tracked deletions
are object keys (``namespace/name``). Time is the monotonic time of the clock given, so a simulation's
virtual clock expires expectations too. Everything runs on one event loop and no method awaits, so there
are no locks. This is bookkeeping only: it neither watches nor enqueues anything itself.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, Protocol, TypeVar

import attrs
import structlog

K = TypeVar("K", bound=Hashable)

#: How long expectations hold a controller back when the events it waits for never arrive
#: (ExpectationsTimeout in controller_utils.go).
EXPECTATIONS_TIMEOUT = 5 * 60.0

log = structlog.get_logger("setpoint.expectations")


class MonotonicClock(Protocol):
    """The one thing expectations need from a clock (every `reconcile.Clock` has it)."""

    def monotonic(self) -> float: ...


@attrs.frozen
class ControlleeExpectations:
    """Creations and deletions still to be observed, and when they were set (monotonic seconds).

    Counts may go below zero when more is observed than was expected; that still counts as fulfilled.
    """

    adds: int
    deletes: int
    timestamp: float

    def fulfilled(self) -> bool:
        return self.adds <= 0 and self.deletes <= 0


class ControllerExpectations(Generic[K]):
    """Per controller key, how many creations and deletions it still waits to observe.

    Once set, expectations can only be lowered (or raised explicitly); a key is synced only once its
    expectations are fulfilled or expired; a key that never set any is always synced.
    """

    def __init__(self, clock: MonotonicClock, *, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self._clock = clock
        self._timeout = timeout
        self._expectations: dict[K, ControlleeExpectations] = {}

    def get_expectations(self, key: K) -> ControlleeExpectations | None:
        return self._expectations.get(key)

    def delete_expectations(self, key: K) -> None:
        self._expectations.pop(key, None)

    def satisfied_expectations(self, key: K) -> bool:
        """Whether the controller of ``key`` may act: nothing pending, or what is pending has expired."""
        expectations = self._expectations.get(key)
        if expectations is None or expectations.fulfilled():
            return True
        if self._expired(expectations):
            log.info(
                "expectations expired", key=str(key), adds=expectations.adds, deletes=expectations.deletes
            )
            return True
        return False

    def expires_in(self, key: K) -> float | None:
        """Seconds until the pending expectations of ``key`` expire; None if nothing holds it back."""
        expectations = self._expectations.get(key)
        if expectations is None or expectations.fulfilled():
            return None
        return max(expectations.timestamp + self._timeout - self._clock.monotonic(), 0.0)

    def set_expectations(self, key: K, adds: int, deletes: int) -> None:
        """Expect ``adds`` creations and ``deletes`` deletions from now on, forgetting earlier ones."""
        self._expectations[key] = ControlleeExpectations(
            adds=adds, deletes=deletes, timestamp=self._clock.monotonic()
        )

    def expect_creations(self, key: K, adds: int) -> None:
        self.set_expectations(key, adds, 0)

    def expect_deletions(self, key: K, deletes: int) -> None:
        self.set_expectations(key, 0, deletes)

    def lower_expectations(self, key: K, adds: int, deletes: int) -> None:
        self._change(key, -adds, -deletes)

    def raise_expectations(self, key: K, adds: int, deletes: int) -> None:
        self._change(key, adds, deletes)

    def creation_observed(self, key: K) -> None:
        self.lower_expectations(key, 1, 0)

    def deletion_observed(self, key: K) -> None:
        self.lower_expectations(key, 0, 1)

    def _change(self, key: K, adds: int, deletes: int) -> None:
        # Only expectations that were set change: an observation nobody waits for is no news.
        expectations = self._expectations.get(key)
        if expectations is not None:
            self._expectations[key] = attrs.evolve(
                expectations, adds=expectations.adds + adds, deletes=expectations.deletes + deletes
            )

    def _expired(self, expectations: ControlleeExpectations) -> bool:
        return self._clock.monotonic() - expectations.timestamp > self._timeout


class UIDTrackingControllerExpectations(Generic[K]):
    """`ControllerExpectations` that also remember which objects they expect to see deleted.

    A graceful delete is reported twice: as an update that sets deletionTimestamp, then as the removal.
    Controllers treat the first as the delete; tracking the keys makes the second one count for nothing.
    """

    def __init__(self, clock: MonotonicClock, *, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self._counts: ControllerExpectations[K] = ControllerExpectations(clock, timeout=timeout)
        self._deleting: dict[K, set[str]] = {}

    def get_expectations(self, key: K) -> ControlleeExpectations | None:
        return self._counts.get_expectations(key)

    def satisfied_expectations(self, key: K) -> bool:
        return self._counts.satisfied_expectations(key)

    def expires_in(self, key: K) -> float | None:
        return self._counts.expires_in(key)

    def expect_creations(self, key: K, adds: int) -> None:
        self._counts.expect_creations(key, adds)

    def creation_observed(self, key: K) -> None:
        self._counts.creation_observed(key)

    def lower_expectations(self, key: K, adds: int, deletes: int) -> None:
        self._counts.lower_expectations(key, adds, deletes)

    def raise_expectations(self, key: K, adds: int, deletes: int) -> None:
        self._counts.raise_expectations(key, adds, deletes)

    def get_uids(self, key: K) -> frozenset[str] | None:
        """The object keys whose deletion ``key`` still waits for (None if it never expected any)."""
        deleting = self._deleting.get(key)
        return None if deleting is None else frozenset(deleting)

    def expect_deletions(self, key: K, deleted_keys: Iterable[str]) -> None:
        """Expect exactly the objects ``deleted_keys`` to be deleted, replacing earlier expectations."""
        existing = self._deleting.get(key)
        if existing:
            log.warning("clobbering pending delete expectations", key=str(key), pending=sorted(existing))
        expected = set(deleted_keys)
        self._deleting[key] = expected
        self._counts.expect_deletions(key, len(expected))

    def deletion_observed(self, key: K, deleted_key: str) -> None:
        """Note that the object ``deleted_key`` is being deleted; counted once however often reported."""
        deleting = self._deleting.get(key)
        if deleting is not None and deleted_key in deleting:
            deleting.discard(deleted_key)
            self._counts.deletion_observed(key)

    def delete_expectations(self, key: K) -> None:
        self._counts.delete_expectations(key)
        self._deleting.pop(key, None)
