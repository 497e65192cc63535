"""MemoryStore and EtcdStore side by side: the same command streams, the same answers.

A Hypothesis state machine sends every command to both stores and compares what comes back — the error
(type, reason and code) or the result (objects in wire form, lists, watch event sequences) — with
revisions renumbered in commit order, since etcd's revision counter is shared with everything else on the
server. Each example runs under its own key root on one etcd server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import pytest
from hypothesis import event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from store import EventType, MemoryStore, PropagationPolicy, StoreError, WatchEvent
from store.etcd import EtcdStore, EtcdWatch
from store.etcd_server import INSTALL_HINT, EtcdServer, etcd_binary
from store.memory import MemoryWatch
from store.models import (
    ConfigMap,
    Container,
    Deployment,
    DeploymentSpec,
    LabelSelector,
    Namespace,
    Object,
    ObjectMeta,
    Pod,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    Service,
    ServicePort,
    ServiceSpec,
)

T = TypeVar("T")

KINDS: tuple[type[Object], ...] = (Pod, ConfigMap, Service, Deployment)
NAMES = ("a", "b")
NAMESPACES = ("default", "team")
LABELS = st.dictionaries(st.sampled_from(("app", "tier")), st.sampled_from(("x", "y")), max_size=2)
SELECTORS = st.sampled_from((None, "", "app=x", "app!=x", "tier", "!tier", "app in (x,y)"))
_roots = itertools.count()


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdServer]:
    if etcd_binary() is None:
        pytest.skip(INSTALL_HINT)
    with EtcdServer(data_parent="/dev/shm") as server:
        yield server


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def make(kind: type[Object], name: str, namespace: str, labels: dict[str, str], finalizers: bool) -> Object:
    meta = ObjectMeta(
        name=name, namespace=namespace, labels=labels, finalizers=("example.com/hold",) if finalizers else ()
    )
    if kind is Pod:
        return Pod(metadata=meta, spec=PodSpec(containers=(Container(name="app", image="nginx:1"),)))
    if kind is ConfigMap:
        return ConfigMap(metadata=meta, data={"k": name})
    if kind is Service:
        spec = ServiceSpec(selector={"app": "x"}, ports=(ServicePort(port=80),), type="NodePort")
        return Service(metadata=meta, spec=spec)
    template = PodTemplateSpec(
        metadata=ObjectMeta(labels={"app": name}),
        spec=PodSpec(containers=(Container(name="app", image="nginx:1"),)),
    )
    spec = DeploymentSpec(replicas=1, selector=LabelSelector(match_labels={"app": name}), template=template)
    return Deployment(metadata=meta, spec=spec)


class Stores(RuleBasedStateMachine):
    """One command stream, two stores: every answer must be the same."""

    server: EtcdServer
    #: One event loop for every example: gRPC's asyncio support binds to the first loop it runs on.
    runner: asyncio.Runner

    def __init__(self) -> None:
        super().__init__()
        self.memory = MemoryStore(seed=7, clock=FixedClock(), history=1_000_000)
        self.etcd = self.run(
            EtcdStore.at(self.server.url, root=f"/diff{next(_roots)}", seed=7, clock=FixedClock()).open()
        )
        # Commit revisions in the order they happened, per store: revision -> ordinal.
        self.ordinals: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.memory_revisions: list[int] = []
        self.watches: list[tuple[MemoryWatch[Object], EtcdWatch[Object], list[Any], list[Any]]] = []
        self.divergences = 0

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def teardown(self) -> None:
        for _, watch, _, _ in self.watches:
            watch.close()
        self.run(self.etcd.close())

    # --- comparison -------------------------------------------------------------------------------

    def learn(self, side: int, revision: int) -> None:
        ordinals = self.ordinals[side]
        if revision not in ordinals:
            ordinals[revision] = len(ordinals)
            if side == 0:
                self.memory_revisions.append(revision)

    def normal(self, side: int, value: Any) -> Any:
        """``value`` with every revision replaced by its commit ordinal, objects in wire form."""
        if isinstance(value, StoreError):
            return ("error", type(value).__name__, value.reason, value.code)
        if isinstance(value, Object):
            document = self.memory.scheme.to_dict(value)
            version = int(document["metadata"].pop("resourceVersion", 0))
            return ("object", self.ordinals[side].get(version, f"unknown r{version}"), document)
        if isinstance(value, WatchEvent):
            return (value.type.value, self.normal(side, value.object), self.normal(side, value.previous))
        if isinstance(value, list | tuple):
            return [self.normal(side, item) for item in value]
        return value

    def both(self, name: str, call: Any) -> tuple[Any, Any]:
        """Run ``call(store)`` on both stores, learn the revisions written, and compare the outcomes."""
        outcomes = []
        for side, store in enumerate((self.memory, self.etcd)):
            before = store.revision
            try:
                result = self.run(call(store))
            except StoreError as error:
                result = error
            if isinstance(result, Object) and int(result.metadata.resource_version) > before:
                self.learn(side, int(result.metadata.resource_version))
            outcomes.append(result)
        left, right = (self.normal(side, outcome) for side, outcome in enumerate(outcomes))
        note(f"{name}: {left!r}")
        outcome = type(outcomes[0]).__name__ if isinstance(outcomes[0], StoreError) else "ok"
        event(f"{name.split(maxsplit=1)[0]} -> {outcome}")
        if left != right:
            self.divergences += 1
        assert left == right, f"{name}: MemoryStore gave {left!r}, EtcdStore gave {right!r}"
        return outcomes[0], outcomes[1]

    @property
    def base(self) -> int:
        """Revision 0 of this example's etcd store: the etcd revision before its first write."""
        return min(self.ordinals[1]) - 1

    @initialize()
    def learn_system_namespaces(self) -> None:
        for side, store in enumerate((self.memory, self.etcd)):
            listed = self.run(store.list(Namespace))
            for revision in sorted(int(ns.metadata.resource_version) for ns in listed.items):
                self.learn(side, revision)
        # Witnesses: one unfiltered watch per kind from the start, so every write's event is compared.
        for kind in KINDS:
            self.watches.append(
                (self.memory.watch(kind, since=0), self.etcd.watch(kind, since=self.base), [], [])
            )

    # --- writes -----------------------------------------------------------------------------------

    @rule(
        kind=st.sampled_from(KINDS),
        name=st.sampled_from((*NAMES, "")),
        namespace=st.sampled_from(NAMESPACES),
        labels=LABELS,
        finalizers=st.booleans(),
    )
    def create(
        self, kind: type[Object], name: str, namespace: str, labels: dict[str, str], finalizers: bool
    ) -> None:
        obj = make(kind, name, namespace, labels, finalizers)
        if not name:
            obj = attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, generate_name="gen-"))
        self.both(f"create {kind.__name__} {namespace}/{name}", lambda store: store.create(obj))

    @rule(create=st.booleans())
    def team_namespace(self, create: bool) -> None:
        if create:
            namespace = Namespace(metadata=ObjectMeta(name="team"))
            self.both("create namespace team", lambda store: store.create(namespace))
        else:
            self.both("delete namespace team", lambda store: store.delete(Namespace, "team"))

    def current(self, kind: type[Object], name: str, namespace: str) -> tuple[Object | None, Object | None]:
        """The object as each store has it (after checking they agree), or None."""
        found = self.both(
            f"get {kind.__name__} {namespace}/{name}", lambda store: store.get(kind, name, namespace)
        )
        return tuple(None if isinstance(obj, StoreError) else obj for obj in found)  # type: ignore[return-value]

    def target(self, data: st.DataObject, kind: type[Object] | None = None) -> tuple[type[Object], str, str]:
        """An object that exists, mostly (writes to missing ones would only test NotFound again)."""
        existing = sorted(
            (each.__name__, obj.metadata.namespace, obj.metadata.name)
            for each in (KINDS if kind is None else (kind,))
            for obj in self.memory.list_now(each).items
        )
        if not existing or data.draw(st.integers(0, 9)) == 0:
            chosen = kind or data.draw(st.sampled_from(KINDS))
            return chosen, data.draw(st.sampled_from(NAMES)), data.draw(st.sampled_from(NAMESPACES))
        kind_name, namespace, name = data.draw(st.sampled_from(existing))
        return next(each for each in KINDS if each.__name__ == kind_name), name, namespace

    @rule(data=st.data(), labels=LABELS, stale=st.booleans(), replicas=st.integers(0, 2))
    def update(self, data: st.DataObject, labels: dict[str, str], stale: bool, replicas: int) -> None:
        kind, name, namespace = self.target(data)
        pair = self.current(kind, name, namespace)
        if pair[0] is None:
            return
        sent = []
        for obj in pair:
            assert obj is not None
            meta = attrs.evolve(obj.metadata, labels=labels)
            if stale:
                meta = attrs.evolve(meta, resource_version=str(int(meta.resource_version) - 1))
            changed = attrs.evolve(obj, metadata=meta)
            if isinstance(changed, Deployment):
                changed = attrs.evolve(changed, spec=attrs.evolve(changed.spec, replicas=replicas))
            sent.append(changed)
        updates = iter(sent)
        self.both(f"update {kind.__name__} {namespace}/{name}", lambda store: store.update(next(updates)))

    @rule(data=st.data(), phase=st.sampled_from(("Running", "Failed")))
    def update_status(self, data: st.DataObject, phase: str) -> None:
        _, name, namespace = self.target(data, Pod)
        pair = self.current(Pod, name, namespace)
        if pair[0] is None:
            return
        updates = iter([attrs.evolve(obj, status=PodStatus(phase=phase)) for obj in pair])  # type: ignore[arg-type]
        self.both(f"update_status pods {namespace}/{name}", lambda store: store.update_status(next(updates)))

    @rule(data=st.data(), labels=LABELS, release=st.booleans())
    def patch(self, data: st.DataObject, labels: dict[str, str], release: bool) -> None:
        kind, name, namespace = self.target(data)
        metadata: dict[str, Any] = {"labels": labels or None}
        if release:
            metadata["finalizers"] = None
        self.both(
            f"patch {kind.__name__} {namespace}/{name}",
            lambda store: store.patch(kind, name, {"metadata": metadata}, namespace),
        )

    @rule(
        data=st.data(),
        policy=st.sampled_from((None, *PropagationPolicy)),
        grace=st.sampled_from((None, 0, 30)),
        precondition=st.booleans(),
    )
    def delete(
        self, data: st.DataObject, policy: PropagationPolicy | None, grace: int | None, precondition: bool
    ) -> None:
        kind, name, namespace = self.target(data)
        versions: list[str | None] = [None, None]
        if precondition:
            pair = self.current(kind, name, namespace)
            versions = [None if obj is None else obj.metadata.resource_version for obj in pair]
        preconditions = iter(versions)
        self.both(
            f"delete {kind.__name__} {namespace}/{name}",
            lambda store: store.delete(
                kind,
                name,
                namespace,
                propagation_policy=policy,
                grace_period_seconds=grace,
                resource_version=next(preconditions),
            ),
        )

    @rule(data=st.data(), node=st.sampled_from(("n1", "n2")))
    def bind(self, data: st.DataObject, node: str) -> None:
        _, name, namespace = self.target(data, Pod)
        self.both(f"bind {namespace}/{name} to {node}", lambda store: store.bind(name, namespace, node))

    # --- reads ------------------------------------------------------------------------------------

    @rule(kind=st.sampled_from(KINDS), namespace=st.sampled_from((None, *NAMESPACES)), selector=SELECTORS)
    def list(self, kind: type[Object], namespace: str | None, selector: str | None) -> None:
        results = self.both(
            f"list {kind.__name__} in {namespace} {selector!r}",
            lambda store: _items(store.list(kind, namespace=namespace, label_selector=selector)),
        )
        del results

    @rule(
        kind=st.sampled_from(KINDS),
        back=st.integers(0, 40),
        selector=SELECTORS,
        namespace=st.sampled_from((None, *NAMESPACES)),
    )
    def open_watch(self, kind: type[Object], back: int, selector: str | None, namespace: str | None) -> None:
        if len(self.watches) >= len(KINDS) + 3:
            return
        revisions = [0, *self.memory_revisions]
        since = revisions[max(0, len(revisions) - 1 - back)]
        etcd_since = self.base if since == 0 else _reverse(self.ordinals, since)
        opened = []
        for store, at in ((self.memory, since), (self.etcd, etcd_since)):
            try:
                opened.append(
                    store.watch(kind, since=at, namespace=namespace, label_selector=selector, bookmarks=True)
                )
            except StoreError as error:
                opened.append(error)
        left, right = (
            self.normal(side, outcome) if isinstance(outcome, StoreError) else "opened"
            for side, outcome in enumerate(opened)
        )
        assert left == right, f"watch from r{since}: MemoryStore gave {left!r}, EtcdStore gave {right!r}"
        if not isinstance(opened[0], StoreError):
            self.watches.append((opened[0], opened[1], [], []))  # type: ignore[arg-type]

    @rule(back=st.integers(0, 10))
    def compact(self, back: int) -> None:
        if not self.memory_revisions:
            return
        revision = self.memory_revisions[max(0, len(self.memory_revisions) - 1 - back)]
        self.memory.compact(revision)
        self.run(self.etcd.compact(_reverse(self.ordinals, revision)))

    @invariant()
    def watchers_saw_the_same_events(self) -> None:
        for memory_watch, etcd_watch, memory_seen, etcd_seen in self.watches:
            memory_seen.extend(e for e in memory_watch.ready() if e.type is not EventType.BOOKMARK)
            etcd_seen.extend(self.run(_drain(etcd_watch, len(memory_seen) - len(etcd_seen))))
            left = self.normal(0, memory_seen)
            right = self.normal(1, etcd_seen)
            assert left == right, f"watch events differ:\nMemoryStore {left!r}\nEtcdStore   {right!r}"


async def _items(listing: Coroutine[Any, Any, Any]) -> list[Object]:
    return list((await listing).items)


async def _drain(watch: EtcdWatch[Object], count: int) -> list[WatchEvent[Object]]:
    """The next ``count`` events from ``watch`` (fewer if they do not come within 5 s)."""
    seen: list[WatchEvent[Object]] = []
    with contextlib.suppress(TimeoutError):
        while len(seen) < count:
            batch = await asyncio.wait_for(watch.next_batch(), timeout=5)
            seen.extend(e for e in batch if e.type is not EventType.BOOKMARK)
    return seen


def _reverse(ordinals: tuple[dict[int, int], dict[int, int]], memory_revision: int) -> int:
    ordinal = ordinals[0][memory_revision]
    return next(revision for revision, index in ordinals[1].items() if index == ordinal)


def test_memory_and_etcd_answer_every_command_alike(etcd: EtcdServer) -> None:
    Stores.server = etcd
    with asyncio.Runner() as Stores.runner:
        run_state_machine_as_test(
            Stores, settings=settings(max_examples=50, stateful_step_count=40, deadline=None)
        )
