"""The randomness seam: one seed, and an independent named stream for each thing that draws.

Backoff jitter, resync jitter, scheduler tie-breaks and generated names all draw from streams of one
`Entropy`. Each stream is seeded from the seed and its name through SHA-256, so streams do not depend on
each other or on ``PYTHONHASHSEED``, and adding a component never changes what another one draws. This
module is the only place in ``reconcile`` that may import ``random``.
"""

from __future__ import annotations

import hashlib
import random  # noqa: TID251  # seam


class Entropy:
    """Named, reproducible random streams derived from one seed."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._streams: dict[str, random.Random] = {}

    @property
    def seed(self) -> int:
        return self._seed

    def stream(self, name: str) -> random.Random:
        """The stream called ``name`` (the same object on every call)."""
        stream = self._streams.get(name)
        if stream is None:
            digest = hashlib.sha256(f"{self._seed}/{name}".encode()).digest()
            stream = self._streams[name] = random.Random(int.from_bytes(digest[:8], "big"))
        return stream
