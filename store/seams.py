"""The store's two seams to the outside world: what time it is, and where randomness comes from.

The store stamps creation and deletion timestamps and draws uids and generated-name suffixes; it takes
both sources from its caller so a simulation can run on virtual time with a seed. `reconcile.Clock`
satisfies `TimeSource`. Nothing in the store reads the wall clock or an unseeded generator except here.
"""

from __future__ import annotations

import random  # noqa: TID251  # seam
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


#: The bits `uuid.UUID(version=4)` sets: the variant (RFC 4122) and the version number.
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def random_uid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng``, so uids repeat with the seed.

    The string ``str(uuid.UUID(int=rng.getrandbits(128), version=4))`` is, formatted directly: one is
    made per created object and per reconcile, and the `uuid` module takes twice as long.
    """
    digits = f"{rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
