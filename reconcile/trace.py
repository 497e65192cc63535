"""Trace: the ordered record of what happened — writes, reconciles, faults — with a stable hash.

A `Trace` is a list of small records, each a kind of happening and its fields, stamped with virtual time.
Two runs with the same seed and inputs produce equal traces and equal `digest`s, in any process: records
hold only strings, numbers and tuples, rendered canonically before hashing. It records; it never decides.

A trace may keep only its ``keep`` most recent records (a long benchmark records millions): the digest is
a running SHA-256 fed every record before it is let go, so it is the same whatever a trace keeps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, cast

from reconcile.clock import Clock


class Record(NamedTuple):
    """One happening: ``what`` (e.g. ``write``, ``reconcile``, ``fault``) at ``time`` with ``fields``.

    A named tuple: a trace makes one per write and per reconcile, and a tuple is built in one C call
    (a frozen attrs class sets each field through ``object.__setattr__``). Its JSON text is that of
    the list ``[time, what, fields]``, which the digest hashes.
    """

    time: float
    what: str
    fields: tuple[tuple[str, Any], ...]

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.fields).get(name, default)

    def line(self) -> str:
        body = " ".join(f"{key}={value}" for key, value in self.fields)
        return f"{self.time:12.6f} {self.what:<10} {body}"


#: Records held beyond ``keep`` before the oldest are hashed and let go, so that trimming is amortised.
_SLACK = 4096

# json.dumps with default=str builds an encoder per call; this one renders the same text.
_encode = json.JSONEncoder(default=str).encode


def _make_chunks() -> Callable[[Any], Iterable[str]]:
    """The chunks of `_encode`'s text, from one C encoder built once rather than once per record."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator: the same text, a call at a time
        return lambda value: (_encode(value),)
    # The arguments JSONEncoder(default=str).iterencode passes for a one-shot, unindented encode.
    # No markers: a record holds only strings, numbers and tuples of them, never a cycle, so the check
    # for one (an id() and a dict entry per list) is left out; the text is the same.
    encoder = make(None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    return lambda value: cast("Iterable[str]", encoder(value, 0))


_chunks = _make_chunks()
#: `Record` made without its generated ``__new__`` frame.
_new_record = tuple.__new__


class Trace:
    """Records in the order they happened: every one, or the ``keep`` most recent (None keeps all).

    ``len``, iteration and `of` see the records kept; `total` counts every record; `digest` covers every
    record ever made, kept or not.
    """

    def __init__(self, clock: Clock, *, keep: int | None = None) -> None:
        self._clock = clock
        self._records: list[Record] = []
        self._sha = hashlib.sha256()
        #: How many of ``_records`` (from the front) the running digest has taken in already.
        self._hashed = 0
        self._dropped = 0
        self._keep: int | None = None
        self.keep = keep
        #: The last monotonic time a record was made at, and its rounded form.
        self._last_time = 0.0
        self._last_rounded = 0.0

    @property
    def keep(self) -> int | None:
        """How many recent records the trace holds (None: all); may be set at any time."""
        return self._keep

    @keep.setter
    def keep(self, keep: int | None) -> None:
        if keep is not None and keep < 0:
            raise ValueError("keep must be None or a number of records, not negative")
        self._keep = keep
        self._trim(keep)

    @property
    def total(self) -> int:
        """How many records were made, whether or not they are still kept."""
        return self._dropped + len(self._records)

    def record(self, what: str, **fields: Any) -> None:
        records = self._records
        now = self._clock.monotonic()
        if now != self._last_time:  # many records fall on one instant: round each instant once
            self._last_time, self._last_rounded = now, round(now, 6)
        records.append(_new_record(Record, (self._last_rounded, what, tuple(fields.items()))))
        if self._keep is not None and len(records) > self._keep + _SLACK:
            self._trim(self._keep)

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def of(self, what: str) -> list[Record]:
        return [record for record in self._records if record.what == what]

    def digest(self) -> str:
        """A SHA-256 of the canonical form of every record: equal runs have equal digests."""
        self._hash_pending()
        return self._sha.copy().hexdigest()

    def _hash_pending(self) -> None:
        records = self._records
        # One text for every pending record, hashed at once: the same bytes as a record at a time.
        parts: list[str] = []
        extend, append, chunks = parts.extend, parts.append, _chunks
        for record in records[self._hashed :] if self._hashed else records:
            extend(chunks(record))  # a tuple encodes as the list [time, what, fields]
            append("\n")
        self._sha.update("".join(parts).encode())
        self._hashed = len(records)

    def _trim(self, keep: int | None) -> None:
        """Hash what is pending and let go of all but the ``keep`` most recent records."""
        if keep is None or len(self._records) <= keep:
            return
        self._hash_pending()
        drop = len(self._records) - keep
        del self._records[:drop]
        self._dropped += drop
        self._hashed -= drop

    def dump(self, path: str | Path) -> Path:
        """Write the trace as text, one record a line; returns the path."""
        target = Path(path)
        target.write_text("".join(record.line() + "\n" for record in self._records), encoding="utf-8")
        return target
