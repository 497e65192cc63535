"""The store's two seams to the outside world: what time it is, and where randomness comes from.

The store stamps creation and deletion timestamps and draws uids and generated-name suffixes; it takes
both sources from its caller so a simulation can run on virtual time with a seed. `reconcile.Clock`
satisfies `TimeSource`. Nothing in the store reads the wall clock or an unseeded generator except here.
"""

from __future__ import annotations

import random  # noqa: TID251  # seam
import uuid
from datetime import UTC, datetime
from typing import Protocol

#: The type of the store's random source (a seeded ``random.Random``).
Rng = random.Random


class TimeSource(Protocol):
    """Anything that can say what time it is now (an aware UTC datetime)."""

    def now(self) -> datetime: ...


class WallTime:
    """The real time of day."""

    def now(self) -> datetime:
        return datetime.now(UTC)  # seam


def make_rng(seed: int | None = None) -> random.Random:
    """The one seeded generator a store (or a whole simulated cluster) draws from."""
    return random.Random(seed)  # seam


#: Kubernetes' generateName alphabet: no vowels (no words) and no look-alike characters.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(rng: random.Random, length: int = 5) -> str:
    """A generateName suffix the way apimachinery's ``rand.String`` makes one."""
    return "".join(rng.choice(_NAME_ALPHABET) for _ in range(length))


def random_uid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng``, so uids repeat with the seed."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
