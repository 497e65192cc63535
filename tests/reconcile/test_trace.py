"""Trace: a bounded trace keeps its latest records, and its digest covers every record whatever it keeps."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from reconcile.clock import Clock, VirtualClock
from reconcile.trace import Record, Trace

records = st.lists(
    st.tuples(st.sampled_from(["write", "reconcile", "fault"]), st.text(max_size=5), st.integers()),
    max_size=60,
)


def fill(trace: Trace, items: list[tuple[str, str, int]]) -> Trace:
    for what, name, revision in items:
        trace.record(what, name=name, revision=revision)
    return trace


def clock() -> Clock:
    return VirtualClock()  # outside a loop its monotonic time is 0: every record at time 0


@given(items=records, keep=st.integers(0, 10))
def test_the_digest_is_the_same_whether_a_trace_keeps_every_record_or_a_few(
    items: list[tuple[str, str, int]], keep: int
) -> None:
    everything = fill(Trace(clock()), items)
    bounded = fill(Trace(clock(), keep=keep), items)
    assert bounded.digest() == everything.digest()
    assert bounded.total == len(everything) == len(items)
    assert len(bounded) <= len(items)


def test_a_bounded_trace_holds_only_its_latest_records_once_past_its_slack() -> None:
    trace = fill(Trace(clock(), keep=3), [("write", "x", n) for n in range(10_000)])
    assert len(trace) < 10_000 // 2
    trace.keep = 3
    assert [record.get("revision") for record in trace] == [9_997, 9_998, 9_999]
    assert trace.total == 10_000


def test_the_digest_covers_records_made_after_it_was_read() -> None:
    first, second = Trace(clock(), keep=0), Trace(clock())
    for trace in (first, second):
        trace.record("write", name="a")
        trace.digest()
        trace.record("write", name="b")
    assert first.digest() == second.digest()
    assert len(first) <= 2 and list(first)[-1].get("name") == "b"


def test_the_digest_hashes_each_record_as_a_json_list_one_a_line() -> None:
    trace = Trace(clock())
    trace.record("write", verb="update", name="a", revision=3, at=1.5, gone=None)
    trace.record("fault", error=ValueError("x"))
    text = (
        '[0.0, "write", [["verb", "update"], ["name", "a"], ["revision", 3], ["at", 1.5], ["gone", null]]]\n'
    )
    text += '[0.0, "fault", [["error", "x"]]]\n'
    assert trace.digest() == hashlib.sha256(text.encode()).hexdigest()
    first, second = trace
    assert first.get("revision") == 3 and second.what == "fault"


class _SteppedClock(VirtualClock):
    """Monotonic times handed out in turn, outside any loop."""

    def __init__(self, times: list[float]) -> None:
        super().__init__()
        self._times = iter(times)

    def monotonic(self) -> float:
        return next(self._times)


def test_records_are_stamped_with_their_time_rounded_to_microseconds() -> None:
    times = [0.0, 1.23456789, 1.23456789, 2.0000004, 1e-7, 0.0]
    trace = Trace(_SteppedClock(times))
    for number in range(len(times)):
        trace.record("write", revision=number)
    assert [record.time for record in trace] == [round(time, 6) for time in times]
    assert [record.time for record in trace] == [0.0, 1.234568, 1.234568, 2.0, 0.0, 0.0]
    assert list(trace)[1] == Record(1.234568, "write", (("revision", 1),))
