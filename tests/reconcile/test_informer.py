"""Informer: list-then-watch into a cache, handlers, indexes, relist with tombstones after Gone."""

from __future__ import annotations

from typing import Any

import anyio
import attrs
import pytest

from reconcile import DeletedFinalStateUnknown, Informer, VirtualClock
from reconcile.informer import BY_NODE, BY_OWNER, index_by_label, index_by_node_name, index_by_owner_uid
from store import MemoryStore, Scheme
from store.models import ConfigMap, Container, ObjectMeta, OwnerReference, Pod, PodSpec


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def on_add(self, obj: Any) -> None:
        self.events.append(("add", obj.metadata.name))

    def on_update(self, old: Any, new: Any) -> None:
        self.events.append(("update", new.metadata.name))

    def on_delete(self, obj: Any) -> None:
        kind = "tombstone" if isinstance(obj, DeletedFinalStateUnknown) else "delete"
        name = obj.object.metadata.name if isinstance(obj, DeletedFinalStateUnknown) else obj.metadata.name
        self.events.append((kind, name))


def config_map(name: str, **labels: str) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, labels=labels), data={"a": "1"})


def pod(name: str, node: str = "") -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name),
        spec=PodSpec(node_name=node, containers=[Container(name="c", image="i")]),
    )


def run(scenario: Any) -> Any:
    return VirtualClock().run(scenario)


def test_run_reports_started_only_after_the_initial_list_is_cached() -> None:
    async def scenario() -> None:
        store = MemoryStore(seed=1)
        for name in ("a", "b"):
            await store.create(config_map(name))
        informer = Informer(store, ConfigMap)
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            assert informer.has_synced
            assert [cm.metadata.name for cm in informer.list()] == ["a", "b"]
            tg.cancel_scope.cancel()

    run(scenario)


def test_watch_keeps_the_cache_current_and_handlers_informed() -> None:
    async def scenario() -> None:
        store = MemoryStore(seed=1)
        await store.create(config_map("a"))
        informer = Informer(store, ConfigMap)
        recorder = Recorder()
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            informer.add_handler(recorder)
            created = await store.create(config_map("b"))
            await store.update(attrs.evolve(created, data={"a": "2"}))
            await store.delete(ConfigMap, "a")
            await informer.wait_for(store.revision)
            assert recorder.events == [("add", "a"), ("add", "b"), ("update", "b"), ("delete", "a")]
            cached = informer.get("b", "default")
            assert cached is not None and cached.data == {"a": "2"}
            assert informer.get("a", "default") is None
            assert await informer.differences() == []
            tg.cancel_scope.cancel()

    run(scenario)


def test_relist_brings_the_cache_to_the_store_at_once_and_the_watch_goes_on_from_the_list() -> None:
    async def scenario() -> None:
        store = MemoryStore(seed=1)
        await store.create(config_map("a"))
        informer = Informer(store, ConfigMap)
        recorder = Recorder()
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            informer.add_handler(recorder)
            recorder.events.clear()
            # Store calls never suspend: the watch has not brought either write yet, the list does.
            await store.delete(ConfigMap, "a")
            await store.create(config_map("b"))
            assert [cm.metadata.name for cm in informer.list()] == ["a"]
            await informer.relist()
            assert [cm.metadata.name for cm in informer.list()] == ["b"]
            assert informer.revision == store.revision and not informer.relisting
            await store.create(config_map("c"))
            await informer.wait_for(store.revision)
            # Each change once, whether the old watch or the list brought it.
            assert [name for _, name in recorder.events] == ["a", "b", "c"]
            assert recorder.events[0][0] in ("delete", "tombstone") and recorder.events[1][0] == "add"
            assert informer.relists == 0  # no watch was lost
            tg.cancel_scope.cancel()

    run(scenario)


def test_waiters_for_revisions_are_released_as_the_cache_reaches_each() -> None:
    async def scenario() -> None:
        store = MemoryStore(seed=1)
        informer = Informer(store, ConfigMap)
        released: list[tuple[int, int]] = []

        async def wait(revision: int) -> None:
            await informer.wait_for(revision)
            released.append((revision, informer.revision))

        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            start = store.revision
            for ahead in (2, 1, 2):  # two waiters for one revision, one for an earlier one
                tg.start_soon(wait, start + ahead)
            await anyio.sleep(0)
            await store.create(config_map("a"))
            await store.create(config_map("b"))
            await informer.wait_for(store.revision)
            await anyio.sleep(0)
            assert sorted(wanted for wanted, _ in released) == [start + 1, start + 2, start + 2]
            assert all(reached >= wanted for wanted, reached in released)
            await informer.wait_for(start)  # already reached: returns at once
            tg.cancel_scope.cancel()

    run(scenario)


def test_relist_after_gone_delivers_a_tombstone_for_every_missed_delete() -> None:
    async def scenario() -> None:
        store = MemoryStore(seed=1, history=4)
        for name in ("a", "b", "c"):
            await store.create(config_map(name))
        informer = Informer(store, ConfigMap)
        recorder = Recorder()
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            informer.add_handler(recorder)
            recorder.events.clear()
            # Store calls never suspend, so the informer sees none of this until it falls out of history.
            await store.delete(ConfigMap, "a")
            b = await store.get(ConfigMap, "b")
            await store.update(attrs.evolve(b, data={"a": "9"}))
            await store.create(config_map("d"))
            for index in range(300):
                await store.create(config_map(f"filler-{index}"))
            await store.delete(ConfigMap, "c")
            await informer.wait_for(store.revision)
            tg.cancel_scope.cancel()
        assert informer.relists == 1
        assert ("tombstone", "a") in recorder.events
        assert ("tombstone", "c") in recorder.events
        assert ("update", "b") in recorder.events
        assert ("add", "d") in recorder.events
        assert await informer.differences() == []

    run(scenario)


def test_indexes_can_be_added_while_running_and_follow_changes() -> None:
    async def scenario() -> None:
        store = MemoryStore(seed=1)
        await store.create(pod("p1"))
        await store.create(pod("p2"))
        await store.bind("p1", "default", "node-a")
        informer = Informer(store, Pod)
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            informer.add_index(BY_NODE, index_by_node_name)
            assert [p.metadata.name for p in informer.by_index(BY_NODE, "node-a")] == ["p1"]
            await store.bind("p2", "default", "node-a")
            await informer.wait_for(store.revision)
            assert [p.metadata.name for p in informer.by_index(BY_NODE, "node-a")] == ["p1", "p2"]
            await store.delete(Pod, "p1", grace_period_seconds=0)
            await informer.wait_for(store.revision)
            assert [p.metadata.name for p in informer.by_index(BY_NODE, "node-a")] == ["p2"]
            tg.cancel_scope.cancel()

    run(scenario)


def test_owner_and_label_indexes() -> None:
    async def scenario() -> None:
        store = MemoryStore(seed=1)
        ref = OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="rs", uid="uid-1")
        owned = attrs.evolve(
            config_map("owned", app="web"),
            metadata=attrs.evolve(config_map("owned", app="web").metadata, owner_references=[ref]),
        )
        await store.create(owned)
        await store.create(config_map("other", app="db"))
        informer = Informer(store, ConfigMap)
        informer.add_index(BY_OWNER, index_by_owner_uid)
        informer.add_index("app", index_by_label("app"))
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            assert [c.metadata.name for c in informer.by_index(BY_OWNER, "uid-1")] == ["owned"]
            assert [c.metadata.name for c in informer.by_index("app", "db")] == ["other"]
            assert informer.index_values("app") == ["db", "web"]
            tg.cancel_scope.cancel()

    run(scenario)


def test_indexes_follow_updates_whatever_iterable_their_functions_return() -> None:
    """Index functions may return tuples, lists or iterators; an update moves an object between
    values, or leaves it, the same way for each; owner uids for no, one and two owners."""

    def owner(uid: str) -> OwnerReference:
        return OwnerReference(api_version="v1", kind="ConfigMap", name=uid, uid=uid)

    def owned(*uids: str, **labels: str) -> ConfigMap:
        meta = ObjectMeta(name="cm", labels=labels, owner_references=[owner(uid) for uid in uids])
        return ConfigMap(metadata=meta, data={"a": "1"})

    async def scenario() -> list[dict[str, list[str]]]:
        store = MemoryStore(seed=1)
        informer = Informer(store, ConfigMap)
        informer.add_index(BY_OWNER, index_by_owner_uid)
        informer.add_index("iterator", lambda cm: iter(cm.metadata.labels.values()))
        informer.add_index("list", lambda cm: sorted(cm.metadata.labels))
        seen = []
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            for obj in (
                owned("u1", app="web"),
                owned("u1", app="web"),
                owned(),
                owned("u2", "u3", tier="db"),
            ):
                current = informer.get("cm", "default")
                if current is None:
                    await store.create(obj)
                else:
                    meta = obj.metadata
                    changes = {"labels": meta.labels, "owner_references": meta.owner_references}
                    await store.update(
                        attrs.evolve(current, metadata=attrs.evolve(current.metadata, **changes))
                    )
                await informer.wait_for(store.revision)
                seen.append(
                    {
                        index: [
                            f"{value}={[c.metadata.name for c in informer.by_index(index, value)]}"
                            for value in informer.index_values(index)
                        ]
                        for index in (BY_OWNER, "iterator", "list")
                    }
                )
            tg.cancel_scope.cancel()
        return seen

    assert run(scenario) == [
        {BY_OWNER: ["u1=['cm']"], "iterator": ["web=['cm']"], "list": ["app=['cm']"]},
        {BY_OWNER: ["u1=['cm']"], "iterator": ["web=['cm']"], "list": ["app=['cm']"]},
        {BY_OWNER: [], "iterator": [], "list": []},
        {BY_OWNER: ["u2=['cm']", "u3=['cm']"], "iterator": ["db=['cm']"], "list": ["tier=['cm']"]},
    ]


def test_resync_redelivers_every_cached_object_as_an_update() -> None:
    async def scenario() -> None:
        clock = VirtualClock()
        store = MemoryStore(seed=1, clock=clock)
        await store.create(config_map("a"))
        informer = Informer(store, ConfigMap, clock=clock, resync=30.0)
        recorder = Recorder()
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            informer.add_handler(recorder)
            await clock.sleep(31)
            tg.cancel_scope.cancel()
        assert recorder.events == [("add", "a"), ("update", "a")]

    run(scenario)


def test_label_filtered_informer_sees_objects_leave_as_deletes() -> None:
    async def scenario() -> None:
        store = MemoryStore(seed=1)
        created = await store.create(config_map("a", app="web"))
        informer = Informer(store, ConfigMap, label_selector="app=web")
        recorder = Recorder()
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            informer.add_handler(recorder)
            relabelled = attrs.evolve(created, metadata=attrs.evolve(created.metadata, labels={"app": "db"}))
            await store.update(relabelled)
            await store.create(config_map("b", app="db"))
            await informer.wait_for(store.revision)
            assert recorder.events == [("add", "a"), ("delete", "a")]
            assert len(informer) == 0
            tg.cancel_scope.cancel()

    run(scenario)


def test_mutation_detector_flags_objects_changed_behind_the_cache() -> None:
    async def scenario() -> None:
        scheme = Scheme()
        store = MemoryStore(scheme, seed=1)
        await store.create(config_map("a"))
        informer = Informer(store, ConfigMap)
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            snapshot = informer.snapshot(scheme)
            assert informer.find_mutations(scheme, snapshot) == []
            cached = informer.get("a", "default")
            assert cached is not None
            dict.__setitem__(cached.data, "a", "tampered")  # forcing past FrozenDict's guard
            assert informer.find_mutations(scheme, snapshot) == [("default", "a")]
            tg.cancel_scope.cancel()

    run(scenario)


def test_duplicate_index_is_rejected() -> None:
    informer = Informer(MemoryStore(seed=1), ConfigMap)
    with pytest.raises(ValueError, match="already exists"):
        informer.add_index("namespace", index_by_label("x"))


def _by_tier(cm: ConfigMap) -> str:
    return cm.metadata.labels.get("tier", "")


def _facts(cm: ConfigMap) -> tuple[str, str]:
    return (cm.metadata.labels.get("app", ""), cm.data.get("a", ""))


def test_a_tally_counts_objects_by_bucket_and_facts_through_adds_updates_and_deletes() -> None:
    async def scenario() -> None:
        store = MemoryStore(seed=1)
        await store.create(config_map("a", tier="web", app="blog"))
        informer = Informer(store, ConfigMap)
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            # Built from the cache when added, then kept current by every event.
            informer.ensure_tally("tier", _by_tier, _facts)
            assert dict(informer.tally("tier", "web")) == {("blog", "1"): 1}
            await store.create(config_map("b", tier="web", app="blog"))
            await store.create(config_map("c", tier="db", app="mysql"))
            await informer.wait_for(store.revision)
            assert dict(informer.tally("tier", "web")) == {("blog", "1"): 2}
            assert dict(informer.tally("tier", "db")) == {("mysql", "1"): 1}
            current = await store.get(ConfigMap, "b")
            await store.update(attrs.evolve(current, data={"a": "2"}))
            await informer.wait_for(store.revision)
            assert dict(informer.tally("tier", "web")) == {("blog", "1"): 1, ("blog", "2"): 1}
            await store.delete(ConfigMap, "a")
            await store.delete(ConfigMap, "c")
            await informer.wait_for(store.revision)
            assert dict(informer.tally("tier", "web")) == {("blog", "2"): 1}
            assert dict(informer.tally("tier", "db")) == {}
            with pytest.raises(KeyError, match="no tally named"):
                informer.tally("missing", "web")
            tg.cancel_scope.cancel()

    run(scenario)


def test_lists_stay_in_key_order_as_objects_come_and_go_between_reads() -> None:
    async def scenario() -> None:
        store = MemoryStore(seed=1)
        await store.create(config_map("m", tier="web"))
        informer = Informer(store, ConfigMap)
        informer.add_index("tier", index_by_label("tier"))
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            assert [cm.metadata.name for cm in informer.by_index("tier", "web")] == ["m"]
            assert [cm.metadata.name for cm in informer.list()] == ["m"]
            for name in ("z", "a", "q"):
                await store.create(config_map(name, tier="web"))
            await store.delete(ConfigMap, "m")
            await informer.wait_for(store.revision)
            assert [cm.metadata.name for cm in informer.by_index("tier", "web")] == ["a", "q", "z"]
            assert [cm.metadata.name for cm in informer.list("default")] == ["a", "q", "z"]
            assert [cm.metadata.name for cm in informer.list()] == ["a", "q", "z"]
            # A label change moves an object between index values; an absent value lists nothing.
            current = await store.get(ConfigMap, "q")
            await store.update(attrs.evolve(current, metadata=attrs.evolve(current.metadata, labels={})))
            await informer.wait_for(store.revision)
            assert [cm.metadata.name for cm in informer.by_index("tier", "web")] == ["a", "z"]
            assert informer.by_index("tier", "db") == []
            tg.cancel_scope.cancel()

    run(scenario)


class ListTimingStore(MemoryStore):
    """A memory store that notes the clock time of every list."""

    def __init__(self, clock: VirtualClock, history: int) -> None:
        super().__init__(seed=1, clock=clock, history=history)
        self.list_times: list[float] = []
        self._timer = clock

    async def list(self, kind: Any, **options: Any) -> Any:
        self.list_times.append(round(self._timer.monotonic(), 6))
        return await super().list(kind, **options)


def test_after_gone_the_informer_backs_off_before_it_lists_again() -> None:
    # client-go's reflector runs ListAndWatch under a backoff manager (800 ms doubling to 30 s, reset
    # after 2 minutes without a backoff): a watch that ends with Gone is relisted only after it.
    clock = VirtualClock()

    async def scenario() -> list[float]:
        store = ListTimingStore(clock, history=4)
        informer = Informer(store, ConfigMap, clock=clock)
        names = (f"cm-{index}" for index in range(1000))

        async def overflow() -> None:  # more writes than the history keeps: the watch ends with Gone
            for _ in range(300):
                await store.create(config_map(next(names)))

        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            await overflow()
            await clock.sleep(0.5)
            assert store.list_times == [0.0]  # Gone at 0 s, still waiting
            await clock.sleep(1.0)
            await overflow()  # at 1.5 s: the next wait is twice as long
            await clock.sleep(200.0)
            await overflow()  # at 201.5 s, long after the last backoff: back to 800 ms
            await clock.sleep(5.0)
            list_times = store.list_times[:]
            assert await informer.differences() == []
            tg.cancel_scope.cancel()
        return list_times

    assert clock.run(scenario) == [0.0, 0.8, 3.1, 202.3]
