"""EventRecorder: events in the involved object's namespace, correlated as client-go does, in order."""

from __future__ import annotations

import attrs
import pytest

from controllers.events import (
    AGGREGATE_INTERVAL_SECONDS,
    AGGREGATE_MAX_EVENTS,
    AGGREGATE_PREFIX,
    NORMAL,
    SPAM_BURST,
    WARNING,
    EventCorrelator,
    EventRecorder,
    creation_order,
)
from reconcile.clock import VirtualClock
from reconcile.testing import Simulation
from store.models import ConfigMap, Event, EventSource, ObjectMeta, ObjectReference


def test_events_are_recorded_about_an_object_and_repeats_are_counted() -> None:
    async def scenario(sim: Simulation) -> list[Event]:
        recorder = EventRecorder(sim.store, sim.clock, "test-controller")
        subject = await sim.store.create(ConfigMap(metadata=ObjectMeta(name="cfg")))
        await recorder.event(subject, NORMAL, "Synced", "all good")
        await sim.advance(5)
        await recorder.event(subject, NORMAL, "Synced", "all good")
        await recorder.event(subject, WARNING, "Broken", "not so good")
        return list((await sim.store.list(Event)).items)

    events = sorted(Simulation().run(scenario), key=creation_order)
    assert [(e.reason, e.type, e.count) for e in events] == [
        ("Synced", "Normal", 2),
        ("Broken", "Warning", 1),
    ]
    synced = events[0]
    assert synced.metadata.namespace == "default"
    assert synced.involved_object.kind == "ConfigMap"
    assert synced.involved_object.name == "cfg"
    assert synced.source.component == "test-controller"
    assert synced.first_timestamp is not None and synced.last_timestamp is not None
    assert (synced.last_timestamp - synced.first_timestamp).total_seconds() == 5


def test_event_names_order_events_even_within_one_instant() -> None:
    async def scenario(sim: Simulation) -> list[str]:
        first = EventRecorder(sim.store, sim.clock, "a")
        second = EventRecorder(sim.store, sim.clock, "b")
        subject = await sim.store.create(ConfigMap(metadata=ObjectMeta(name="cfg")))
        for index in range(3):
            await (first if index % 2 == 0 else second).event(subject, NORMAL, "Step", str(index))
        events = (await sim.store.list(Event)).items
        return [e.message for e in sorted(events, key=creation_order)]

    assert Simulation().run(scenario) == ["0", "1", "2"]


def test_a_failed_event_write_never_fails_the_caller() -> None:
    async def scenario(sim: Simulation) -> int:
        recorder = EventRecorder(sim.store, sim.clock, "test-controller")
        subject = await sim.store.create(ConfigMap(metadata=ObjectMeta(name="cfg")))
        sim.faults.fail_writes(1, error="internal", kind=Event)
        await recorder.event(subject, NORMAL, "Lost", "this one is dropped")
        return len((await sim.store.list(Event)).items)

    assert Simulation().run(scenario) == 0


# --- the correlator: client-go's events_cache_test.go cases ---------------------------------------


def source_event(message: str, *, reason: str = "Started", kind: str = "Pod", name: str = "pod-1") -> Event:
    return Event(
        metadata=ObjectMeta(name=f"{name}.{message}", namespace="default"),
        involved_object=ObjectReference(kind=kind, namespace="default", name=name, uid="uid-1"),
        reason=reason,
        message=message,
        source=EventSource(component="kubelet", host="node-1"),
        count=1,
        type=NORMAL,
        reporting_component="kubelet",
        reporting_instance="node-1",
    )


def correlate(previous: list[Event], new: Event, interval: float) -> list[Event | None]:
    """Feed ``previous`` then ``new`` to a correlator ``interval`` virtual seconds apart, as if written."""

    async def main(clock: VirtualClock) -> list[Event | None]:
        correlator = EventCorrelator(clock)
        results: list[Event | None] = []
        for event in [*previous, new]:
            result = correlator.correlate(attrs.evolve(event, first_timestamp=clock.now()))
            if result is not None:
                correlator.update_state(result)
            results.append(result)
            await clock.sleep(interval)
        return results

    clock = VirtualClock()
    return clock.run(main, clock)


DUPLICATE = source_event("Pulled image")
SIMILAR = source_event("Killing container new", reason="Killing")


def similar(count: int) -> list[Event]:
    return [attrs.evolve(SIMILAR, message=f"Killing container {index}") for index in range(count)]


@pytest.mark.parametrize(
    ("previous", "interval", "message", "count"),
    [
        pytest.param([], 5, "Pulled image", 1, id="create-a-single-event"),
        pytest.param([DUPLICATE], 5, "Pulled image", 2, id="the-same-event-should-just-count"),
        pytest.param(
            [DUPLICATE] * AGGREGATE_MAX_EVENTS,
            30,
            "Pulled image",
            AGGREGATE_MAX_EVENTS + 1,
            id="the-same-event-should-just-count-even-if-more-than-aggregate",
        ),
        pytest.param(
            [source_event(f"unique {index}", reason=f"Reason{index}") for index in range(30)],
            10.2,  # the 31st event comes 306 s in: past the burst, the first token refilled
            "Pulled image",
            1,
            id="create-many-unique-events",
        ),
    ],
)
def test_the_correlator_counts_identical_events(
    previous: list[Event], interval: float, message: str, count: int
) -> None:
    *_, last = correlate(previous, DUPLICATE, interval)
    assert last is not None
    assert (last.message, last.count) == (message, count)


@pytest.mark.parametrize(
    ("previous", "interval", "message", "count"),
    [
        pytest.param(
            similar(AGGREGATE_MAX_EVENTS - 1),
            5,
            AGGREGATE_PREFIX + SIMILAR.message,
            1,
            id="similar-events-should-aggregate-event",
        ),
        pytest.param(
            similar(AGGREGATE_MAX_EVENTS),
            5,
            AGGREGATE_PREFIX + SIMILAR.message,
            2,
            id="similar-events-many-times-should-count-the-aggregate",
        ),
        pytest.param(
            similar(AGGREGATE_MAX_EVENTS - 1),
            AGGREGATE_INTERVAL_SECONDS + 1,
            SIMILAR.message,
            1,
            id="similar-events-whose-interval-is-greater-than-aggregate-interval-do-not-aggregate",
        ),
        pytest.param(
            [attrs.evolve(event, reason="Other") for event in similar(AGGREGATE_MAX_EVENTS - 1)],
            5,
            SIMILAR.message,
            1,
            id="events-with-another-reason-do-not-aggregate",
        ),
    ],
)
def test_the_correlator_aggregates_similar_events(
    previous: list[Event], interval: float, message: str, count: int
) -> None:
    *_, last = correlate(previous, SIMILAR, interval)
    assert last is not None
    assert (last.message, last.count) == (message, count)


def test_the_spam_filter_drops_events_past_the_burst_until_a_token_refills() -> None:
    burst = [DUPLICATE] * SPAM_BURST
    assert [result is None for result in correlate(burst, DUPLICATE, 1)] == [False] * SPAM_BURST + [True]
    # One token every 300 s: the event after the burst passes once that much time has gone by.
    assert correlate(burst, DUPLICATE, 300 / SPAM_BURST + 0.5)[-1] is not None


def test_the_spam_filter_counts_per_source_and_object() -> None:
    other_object = [source_event("Pulled image", name=f"pod-{index}") for index in range(SPAM_BURST + 1)]
    assert all(result is not None for result in correlate(other_object, DUPLICATE, 0))


def test_a_recorder_writes_an_aggregate_and_counts_it() -> None:
    async def scenario(sim: Simulation) -> list[Event]:
        recorder = EventRecorder(sim.store, sim.clock, "test-controller")
        subject = await sim.store.create(ConfigMap(metadata=ObjectMeta(name="cfg")))
        for index in range(AGGREGATE_MAX_EVENTS + 2):
            await recorder.event(subject, NORMAL, "Created", f"Created pod: web-{index}")
        return list((await sim.store.list(Event)).items)

    events = sorted(Simulation().run(scenario), key=creation_order)
    assert [(e.message, e.count) for e in events] == [
        *((f"Created pod: web-{index}", 1) for index in range(AGGREGATE_MAX_EVENTS - 1)),
        (AGGREGATE_PREFIX + f"Created pod: web-{AGGREGATE_MAX_EVENTS + 1}", 3),
    ]


def test_a_recorder_stops_writing_about_one_object_after_the_burst() -> None:
    async def scenario(sim: Simulation) -> int:
        recorder = EventRecorder(sim.store, sim.clock, "test-controller")
        subject = await sim.store.create(ConfigMap(metadata=ObjectMeta(name="cfg")))
        for index in range(SPAM_BURST + 5):
            await recorder.event(subject, NORMAL, f"Reason{index}", "distinct reasons never aggregate")
        return len((await sim.store.list(Event)).items)

    assert Simulation().run(scenario) == SPAM_BURST


def test_a_repeat_of_an_event_deleted_since_is_recorded_anew() -> None:
    async def scenario(sim: Simulation) -> list[tuple[str, int]]:
        recorder = EventRecorder(sim.store, sim.clock, "test-controller")
        subject = await sim.store.create(ConfigMap(metadata=ObjectMeta(name="cfg")))
        await recorder.event(subject, NORMAL, "Synced", "all good")
        (first,) = (await sim.store.list(Event)).items
        await sim.store.delete(Event, first.metadata.name, first.metadata.namespace)
        await recorder.event(subject, NORMAL, "Synced", "all good")
        return [(e.message, e.count) for e in (await sim.store.list(Event)).items]

    # As client-go does when its patch finds nothing: a create, keeping the count.
    assert Simulation().run(scenario) == [("all good", 2)]
