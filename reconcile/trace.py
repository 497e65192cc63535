"""Trace: the ordered record of what happened — writes, reconciles, faults — with a stable hash.

A `Trace` is a list of small records, each a kind of happening and its fields, stamped with virtual time.
Two runs with the same seed and inputs produce equal traces and equal `digest`s, in any process: records
hold only strings, numbers and tuples, rendered canonically before hashing. It records; it never decides.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from reconcile.clock import Clock


@attrs.frozen
class Record:
    """One happening: ``what`` (e.g. ``write``, ``reconcile``, ``fault``) at ``time`` with ``fields``."""

    time: float
    what: str
    fields: tuple[tuple[str, Any], ...]

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.fields).get(name, default)

    def line(self) -> str:
        body = " ".join(f"{key}={value}" for key, value in self.fields)
        return f"{self.time:12.6f} {self.what:<10} {body}"


class Trace:
    """Append-only records, in the order they happened."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._records: list[Record] = []

    def record(self, what: str, **fields: Any) -> None:
        self._records.append(Record(round(self._clock.monotonic(), 6), what, tuple(fields.items())))

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def of(self, what: str) -> list[Record]:
        return [record for record in self._records if record.what == what]

    def digest(self) -> str:
        """A SHA-256 of the canonical form of every record: equal runs have equal digests."""
        sha = hashlib.sha256()
        for record in self._records:
            sha.update(json.dumps([record.time, record.what, record.fields], default=str).encode())
            sha.update(b"\n")
        return sha.hexdigest()

    def dump(self, path: str | Path) -> Path:
        """Write the trace as text, one record a line; returns the path."""
        target = Path(path)
        target.write_text("".join(record.line() + "\n" for record in self._records), encoding="utf-8")
        return target
