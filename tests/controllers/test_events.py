"""EventRecorder: events in the involved object's namespace, correlated as client-go does, in order."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from store import Object
from store.models import ConfigMap, Event, EventSource, Namespace, ObjectMeta, ObjectReference


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


def correlate_in_small_caches(steps: list[tuple[Event, bool]], **limits: Any) -> list[Event | None]:
    """Feed events one second apart to a correlator of two-key caches, updating its state as told."""

    async def main(clock: VirtualClock) -> list[Event | None]:
        correlator = EventCorrelator(clock, cache_size=2, **limits)
        results: list[Event | None] = []
        for event, written in steps:
            result = correlator.correlate(event)
            if result is not None and written:
                correlator.update_state(result)
            results.append(result)
            await clock.sleep(1)
        return results

    clock = VirtualClock()
    return clock.run(main, clock)


def about(name: str, message: str = "m1") -> Event:
    return source_event(message, name=name)


def test_the_aggregator_forgets_the_least_recently_used_similar_events_first() -> None:
    # pod-1's record, used again after pod-2's, outlives pod-2's when pod-3's comes.
    steps = [about("pod-1"), about("pod-2"), about("pod-1"), about("pod-3"), about("pod-1", "m2")]
    *_, last = correlate_in_small_caches([(event, False) for event in steps], max_events=2)
    assert last is not None and last.message == AGGREGATE_PREFIX + "m2"


def test_the_logger_forgets_the_least_recently_seen_event_first() -> None:
    steps = [about("pod-1"), about("pod-2"), about("pod-1"), about("pod-3"), about("pod-1")]
    *_, last = correlate_in_small_caches([(event, False) for event in steps])
    assert last is not None and last.count == 3


def test_the_logger_counts_a_written_event_as_recently_seen() -> None:
    # pod-1's similar events aggregate from the second distinct message on; the aggregate "… m2" is
    # written twice, the second time after the aggregate itself was seen: writing it makes it the
    # most recent, so the next new event (about pod-2) forgets the aggregate's count, not the write.
    messages = [("m1", False), ("m2", True), ("m3", False), ("m2", True)]
    steps = [(about("pod-1", message), written) for message, written in messages]
    steps += [(about("pod-2"), False), (about("pod-1", "m3"), False)]
    *_, last = correlate_in_small_caches(steps, max_events=2)
    assert last is not None
    assert (last.message, last.count) == (AGGREGATE_PREFIX + "m3", 1)


def test_the_spam_filter_forgets_the_least_recently_used_bucket_first() -> None:
    steps = [about("pod-1"), about("pod-2"), about("pod-1"), about("pod-3"), about("pod-1")]
    results = correlate_in_small_caches([(event, False) for event in steps], burst=1)
    # pod-1's empty bucket, used again after pod-2's, is kept: pod-1's last event is dropped too.
    assert [result is None for result in results] == [False, False, True, False, True]


# --- the correlator and the recorder against client-go's correlator written plainly ---------------


class PlainCorrelator:
    """events_cache.go as a model: three LRU maps read and then written for every event, keys as tuples."""

    def __init__(
        self, *, burst: int, qps: float, max_events: int, interval_seconds: float, cache_size: int
    ) -> None:
        self.burst, self.qps, self.max_events, self.cache_size = burst, qps, max_events, cache_size
        self.interval = timedelta(seconds=interval_seconds)
        self.aggregates: OrderedDict[tuple[str, ...], tuple[list[str], datetime]] = OrderedDict()
        self.seen: OrderedDict[tuple[str, ...], tuple[int, datetime | None, str, str]] = OrderedDict()
        self.buckets: OrderedDict[tuple[str, ...], tuple[float, float]] = OrderedDict()

    def get(self, cache: OrderedDict[tuple[str, ...], Any], key: tuple[str, ...]) -> Any:
        if key not in cache:
            return None
        cache.move_to_end(key)
        return cache[key]

    def add(self, cache: OrderedDict[tuple[str, ...], Any], key: tuple[str, ...], value: Any) -> None:
        cache[key] = value
        cache.move_to_end(key)
        if len(cache) > self.cache_size:
            cache.popitem(last=False)

    @staticmethod
    def own_key(event: Event) -> tuple[str, ...]:
        s, o = event.source, event.involved_object
        return (
            s.component,
            s.host,
            o.kind,
            o.namespace,
            o.name,
            o.field_path,
            o.uid,
            o.api_version,
            event.type,
            event.reason,
            event.message,
        )

    def correlate(self, event: Event, now: datetime, monotonic: float) -> Event | None:
        s, o, meta = event.source, event.involved_object, event.metadata
        source_object = (s.component, s.host, o.kind, o.namespace, o.name, o.uid, o.api_version)
        similar = (
            *source_object,
            event.type,
            event.reason,
            event.reporting_component,
            event.reporting_instance,
        )
        record = self.get(self.aggregates, similar)
        messages = [] if record is None or now - record[1] > self.interval else record[0]
        if event.message not in messages:
            messages.append(event.message)
        self.add(self.aggregates, similar, (messages, now))
        aggregated = len(messages) >= self.max_events
        if aggregated:
            messages.pop(0)
            key, first = similar, (1, now, meta.name, "")
        else:
            key, first = (
                self.own_key(event),
                (event.count, event.first_timestamp, meta.name, meta.resource_version),
            )
        last = self.get(self.seen, key)
        observed = (last[0] + 1, *last[1:]) if last is not None and last[0] > 0 else first
        self.add(self.seen, key, observed)
        tokens, then = self.get(self.buckets, source_object) or (float(self.burst), monotonic)
        tokens = min(float(self.burst), tokens + (monotonic - then) * self.qps)
        accepted = tokens >= 1.0
        self.add(self.buckets, source_object, (tokens - 1.0 if accepted else tokens, monotonic))
        if not accepted:
            return None
        count, first_timestamp, name, resource_version = observed
        if aggregated:
            return Event(
                metadata=ObjectMeta(name=name, namespace=meta.namespace, resource_version=resource_version),
                involved_object=o,
                reason=event.reason,
                message=AGGREGATE_PREFIX + event.message,
                source=s,
                first_timestamp=first_timestamp,
                last_timestamp=now,
                count=count,
                type=event.type,
            )
        return attrs.evolve(
            event,
            metadata=attrs.evolve(meta, name=name, resource_version=resource_version),
            first_timestamp=first_timestamp,
            count=count,
        )

    def update_state(self, event: Event) -> None:
        meta = event.metadata
        self.add(
            self.seen,
            self.own_key(event),
            (event.count, event.first_timestamp, meta.name, meta.resource_version),
        )


def mostly(usual: Any, *others: Any) -> st.SearchStrategy[Any]:
    """The usual value three times in four, so that keys meet again and caches hit and forget."""
    return st.sampled_from([usual, usual, usual, *others]) if others else st.just(usual)


#: A step: advance monotonic time and the time of day, or jump the time of day alone, by some seconds.
TIME_STEPS = st.tuples(mostly("advance", "jump"), mostly(0, 1, 7, 31, 61, 301, -30))


@st.composite
def plain_events(draw: st.DrawFn) -> Event:
    component, host = draw(mostly(("kubelet", "node-1"), ("kubelet", "node-2"), ("scheduler", "")))
    name = draw(st.sampled_from(["a", "b", "c"]))
    return Event(
        metadata=ObjectMeta(
            name=f"{name}.{draw(st.integers(0, 3))}",
            namespace="default",
            resource_version=draw(mostly("", "9")),
        ),
        involved_object=ObjectReference(
            kind=draw(mostly("Pod", "Node")),
            namespace="default",
            name=name,
            uid=f"uid-{name}",
            field_path=draw(mostly("", "spec")),
        ),
        reason=draw(mostly("Started", "Killing")),
        message=draw(mostly("m0", "m1", "m2", "m3", "m4")),
        source=EventSource(component=component, host=host),
        count=draw(mostly(1, 0, 3)),
        type=draw(mostly(NORMAL, WARNING)),
        reporting_component=draw(mostly(component, "")),
        reporting_instance=host,
    )


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.tuples(plain_events(), TIME_STEPS, st.booleans()), min_size=10, max_size=60),
    burst=st.integers(0, 4),
    max_events=st.integers(1, 4),
    cache_size=st.integers(0, 4),
)
def test_the_correlator_behaves_as_client_go_written_plainly(
    steps: list[tuple[Event, tuple[str, int], bool]], burst: int, max_events: int, cache_size: int
) -> None:
    """Every event correlated as the model does, with small limits so that every path is taken."""
    limits: dict[str, Any] = {
        "burst": burst,
        "qps": 1 / 60,
        "max_events": max_events,
        "interval_seconds": 100,
    }

    async def main(clock: VirtualClock) -> None:
        correlator = EventCorrelator(clock, cache_size=cache_size, **limits)
        model = PlainCorrelator(cache_size=cache_size, **limits)
        for index, (event, (how, seconds), written) in enumerate(steps):
            if how == "jump":
                clock.jump(seconds)
            else:
                await clock.sleep(max(seconds, 0))
            stamped = attrs.evolve(event, first_timestamp=clock.now()) if event.count == 1 else event
            result = correlator.correlate(stamped)
            assert result == model.correlate(stamped, clock.now(), clock.monotonic())
            if result is not None and written:  # as the store returns it, with a resource version
                stored = attrs.evolve(
                    result, metadata=attrs.evolve(result.metadata, resource_version=str(index))
                )
                correlator.update_state(stored)
                model.update_state(stored)

    clock = VirtualClock()
    clock.run(main, clock)


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["first", "second"]),  # the recorder
            st.sampled_from(["cfg", "other", "ns"]),  # the object: a Namespace, a ConfigMap in it, one not
            st.booleans(),  # whether the object is updated first (a new resource version)
            st.sampled_from(["Created", "Deleted"]),
            st.integers(0, 13),  # the first message
            st.sampled_from([1, 1, 2, 12, 30]),  # how many events, on messages in turn
            TIME_STEPS,
        ),
        max_size=20,
    )
)
def test_the_recorder_writes_what_events_correlated_by_the_model_would(
    steps: list[tuple[str, str, bool, str, int, int, tuple[str, int]]],
) -> None:
    """The recorder makes only the event to write; it is the one client-go's correlator writes."""

    async def scenario(sim: Simulation) -> tuple[list[Event], list[Event]]:
        recorders = {name: EventRecorder(sim.store, sim.clock, name, "host") for name in ("first", "second")}
        models = {
            name: PlainCorrelator(
                burst=SPAM_BURST,
                qps=1 / 300,
                max_events=AGGREGATE_MAX_EVENTS,
                interval_seconds=AGGREGATE_INTERVAL_SECONDS,
                cache_size=4096,
            )
            for name in recorders
        }
        subjects: dict[str, Object] = {
            "ns": await sim.store.create(Namespace(metadata=ObjectMeta(name="other"))),
            "cfg": await sim.store.create(ConfigMap(metadata=ObjectMeta(name="cfg"))),
            "other": await sim.store.create(ConfigMap(metadata=ObjectMeta(name="cfg", namespace="other"))),
        }
        expected: dict[str, Event] = {}
        stamp = 0
        for recorder, subject, update, reason, first_message, times, (how, seconds) in steps:
            if how == "jump":
                sim.jump_clock(seconds)
            else:
                await sim.advance(max(seconds, 0))
            if update:
                current = subjects[subject]
                labels = {"n": str(len(current.metadata.labels))}
                subjects[subject] = await sim.store.update(
                    attrs.evolve(current, metadata=attrs.evolve(current.metadata, labels=labels))
                )
            obj, now = subjects[subject], sim.clock.now()
            for index in range(times):
                message = f"message {(first_message + index) % 14}"
                await recorders[recorder].event(obj, NORMAL, reason, message)
                # The model: the event as client-go's recorder makes it, correlated, then written.
                stamp = max(int(now.timestamp() * 1e9), stamp + 1)
                meta = obj.metadata
                event = Event(
                    metadata=ObjectMeta(name=f"{meta.name}.{stamp:x}", namespace=meta.namespace or "default"),
                    involved_object=ObjectReference(
                        api_version=obj.api_version,
                        kind=obj.kind,
                        namespace=meta.namespace,
                        name=meta.name,
                        uid=meta.uid,
                        resource_version=meta.resource_version,
                    ),
                    reason=reason,
                    message=message,
                    source=EventSource(component=recorder, host="host"),
                    first_timestamp=now,
                    last_timestamp=now,
                    count=1,
                    type=NORMAL,
                    reporting_component=recorder,
                    reporting_instance="host",
                )
                correlated = models[recorder].correlate(event, now, sim.clock.monotonic())
                if correlated is None:
                    continue
                key = correlated.metadata.name
                if correlated.count > 1 and key in expected:
                    last = correlated.last_timestamp
                    correlated = attrs.evolve(
                        expected[key], count=correlated.count, last_timestamp=last, message=correlated.message
                    )
                expected[key] = correlated
                models[recorder].update_state(correlated)
        stored = sorted((await sim.store.list(Event)).items, key=creation_order)
        return stored, sorted(expected.values(), key=creation_order)

    stored, expected = Simulation().run(scenario)
    # The store adds what it adds to every object (uid, resource version, creation timestamp).
    names = [ObjectMeta(name=event.metadata.name, namespace=event.metadata.namespace) for event in stored]
    assert [attrs.evolve(event, metadata=meta) for event, meta in zip(stored, names, strict=True)] == expected
