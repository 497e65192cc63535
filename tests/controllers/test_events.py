"""EventRecorder: events in the involved object's namespace, aggregated on repeat, ordered by creation."""

from __future__ import annotations

from controllers.events import NORMAL, WARNING, EventRecorder, creation_order
from reconcile.testing import Simulation
from store.models import ConfigMap, Event, ObjectMeta


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
