"""Redo a read-modify-write that lost its compare-and-swap, as client-go's ``retry.RetryOnConflict`` does.

A client that reads an object, changes it and writes it back fails with 409 Conflict when somebody wrote
the object in between (a controller updating its status while a user edits its spec, say). The answer is
to read again and make the change again; ``fn`` must therefore do all three — get, change, update — on
each call::

    async def set_image() -> Deployment:
        current = await store.get(Deployment, "web", "default")
        return await store.update(with_image(current, "web:v2"))

    deployment = await retry_on_conflict(set_image, clock=manager.clock)

Only `store.Conflict` is retried; any other error, and the last Conflict once the attempts run out,
propagate. The waits between attempts follow ``wait.Backoff`` (k8s.io/apimachinery/pkg/util/wait):
``duration``, multiplied by ``factor`` after each wait, each wait stretched by up to ``jitter`` times
itself when an ``rng`` is given (pass a stream of `reconcile.Entropy` to keep a simulation
deterministic). Sleeps go through the clock, so on virtual time they take no wall time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import attrs

from reconcile.clock import Clock
from store.errors import Conflict

T = TypeVar("T")


class Uniform(Protocol):
    """Where jitter comes from: a stream of `reconcile.Entropy` (a ``random.Random``) will do."""

    def random(self) -> float: ...


@attrs.frozen
class Backoff:
    """How many attempts, and how long to wait between them (the fields of client-go's wait.Backoff
    that retry uses)."""

    #: Attempts in all, the first included.
    steps: int = attrs.field(validator=attrs.validators.ge(1))
    #: Seconds to wait after the first failed attempt.
    duration: float = attrs.field(validator=attrs.validators.ge(0.0))
    #: What each wait is multiplied by for the next one.
    factor: float = attrs.field(default=1.0, validator=attrs.validators.ge(1.0))
    #: Each wait is lengthened by a random fraction of it, up to this one.
    jitter: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))

    def waits(self, rng: Uniform | None = None) -> list[float]:
        """The waits between the attempts, in order (one fewer than ``steps``)."""
        waits, duration = [], self.duration
        for _ in range(self.steps - 1):
            stretch = rng.random() * self.jitter * duration if rng is not None and self.jitter else 0.0
            waits.append(duration + stretch)
            duration *= self.factor
        return waits


#: client-go's ``retry.DefaultRetry``: for conflicts a client expects, such as a controller's status
#: update racing a user's edit — five attempts, 10 ms apart.
DEFAULT_RETRY = Backoff(steps=5, duration=0.010, factor=1.0, jitter=0.1)
#: client-go's ``retry.DefaultBackoff``: for contention that needs time to clear — four attempts,
#: waiting 10 ms, 50 ms and 250 ms.
DEFAULT_BACKOFF = Backoff(steps=4, duration=0.010, factor=5.0, jitter=0.1)


async def retry_on_conflict(
    fn: Callable[[], Awaitable[T]],
    *,
    clock: Clock,
    backoff: Backoff = DEFAULT_RETRY,
    rng: Uniform | None = None,
) -> T:
    """Call ``fn`` until it does not raise `store.Conflict`, at most ``backoff.steps`` times."""
    waits = backoff.waits(rng)
    for wait in waits:
        try:
            return await fn()
        except Conflict:
            await clock.sleep(wait)
    return await fn()
