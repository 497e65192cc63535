"""A Hypothesis state machine that drives MemoryStore with random command streams (DESIGN §2–3).

Each command (create, update with a fresh or a stale resourceVersion, update_status, delete,
finalizer removal, get, list, watch from a random revision, compaction) is a small frozen value
applied through one function, `execute`, so the same stream could run against another backend.
`ReferenceModel` predicts every outcome from the acknowledged writes alone, and after every step the
machine checks:

- the committed writes' revisions are exactly 1..head, with no gap or duplicate;
- a rejected or no-op command leaves the revision and every object as they were;
- replaying the log from revision 0 (a "witness" watch per kind, open from the start) rebuilds
  exactly what list() returns;
- every watcher sees its (label-filtered) share of the log in order, without gap or duplicate, or
  `Gone` once compaction has passed it; a watch from below the compaction floor raises `Gone`;
- no acknowledged write is lost: every object is read back with its acknowledged resourceVersion,
  and deleted ones are NotFound.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, assert_never, cast

import attrs
from hypothesis import event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from store import (
    AlreadyExists,
    Conflict,
    EventType,
    FrozenDict,
    Gone,
    ListResult,
    MemoryStore,
    NotFound,
    StoreError,
    WatchEvent,
)
from store.memory import MemoryWatch
from store.models import ConfigMap, Container, Namespace, Object, ObjectMeta, Pod, PodSpec

T = TypeVar("T")

Stored = Pod | ConfigMap
Labels = tuple[tuple[str, str], ...]
LabelPredicate = Callable[[Mapping[str, str]], bool]
Kind = type[Object]

FINALIZER = "example.com/hold"
IMAGE = "registry.example/app:"
NAMESPACES = ("default", "kube-public")
NAMES = ("web", "db", "cache")
CONTENTS = ("v1", "v2", "v3")
PHASES = ("Pending", "Running", "Failed")

#: The label selectors commands use, each with the meaning Kubernetes gives it (a ``!=`` or
#: ``notin`` requirement also matches objects without the key).
LABEL_SELECTORS: dict[str, LabelPredicate] = {
    "app=web": lambda labels: labels.get("app") == "web",
    "app!=web": lambda labels: labels.get("app") != "web",
    "tier": lambda labels: "tier" in labels,
    "!tier": lambda labels: "tier" not in labels,
    "app in (db,web),tier": lambda labels: labels.get("app") in ("db", "web") and "tier" in labels,
    "app notin (db)": lambda labels: labels.get("app") != "db",
}


def _kind_name(kind: Kind) -> str:
    return kind.__name__


@attrs.frozen(repr=False)
class Key:
    """Where an object lives: kind, namespace (empty for cluster-scoped kinds) and name."""

    kind: Kind
    namespace: str
    name: str

    def __repr__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind.__name__} {where}"

    @classmethod
    def of(cls, obj: Object) -> Key:
        return cls(type(obj), obj.metadata.namespace, obj.metadata.name)

    def sort_key(self) -> tuple[str, str]:
        """The order list() returns objects of one kind in."""
        return (self.namespace, self.name)


KINDS = (Pod, ConfigMap)
KEYS = tuple(Key(*place) for place in itertools.product(KINDS, NAMESPACES, NAMES))


@attrs.frozen
class ObjectState:
    """What the acknowledged writes say an object looks like."""

    labels: Labels
    content: str
    finalizers: tuple[str, ...]
    phase: str
    deleting: bool
    resource_version: int

    @classmethod
    def of(cls, obj: Stored) -> ObjectState:
        if isinstance(obj, Pod):
            content = obj.spec.containers[0].image.removeprefix(IMAGE)
            phase = obj.status.phase
        else:
            content = obj.data.get("content", "")
            phase = ""
        meta = obj.metadata
        return cls(
            labels=tuple(sorted(meta.labels.items())),
            content=content,
            finalizers=meta.finalizers,
            phase=phase,
            deleting=meta.deletion_timestamp is not None,
            resource_version=revision_of(obj),
        )


# --- commands ------------------------------------------------------------------------------------


@attrs.frozen
class Create:
    key: Key
    labels: Labels
    content: str
    finalizers: tuple[str, ...]


@attrs.frozen
class Update:
    """Read the object, set its labels and content, and write it back under ``resource_version``."""

    key: Key
    labels: Labels
    content: str
    resource_version: str


@attrs.frozen
class UpdateStatus:
    key: Key
    phase: str
    resource_version: str


@attrs.frozen
class RemoveFinalizers:
    key: Key
    resource_version: str


@attrs.frozen
class Delete:
    key: Key
    resource_version: str | None  # the precondition, if any


@attrs.frozen
class Get:
    key: Key


@attrs.frozen
class ListKind:
    kind: Kind = attrs.field(repr=_kind_name)
    selector: str | None


@attrs.frozen
class OpenWatch:
    """Watch ``kind`` after revision ``since``; a lagging watch is read only now and then."""

    kind: Kind = attrs.field(repr=_kind_name)
    since: int
    selector: str | None
    lagging: bool


@attrs.frozen
class Compact:
    revision: int


Write = Create | Update | UpdateStatus | RemoveFinalizers | Delete
Command = Write | Get | ListKind | OpenWatch | Compact


def execute(store: MemoryStore, command: Command) -> Any:
    """Apply one command to the store: the only place commands meet the store's API."""
    match command:
        case Create():
            return run_to_completion(store.create(new_object(command)))
        case Update():
            changed = with_content(read(store, command.key), command.content)
            labels = FrozenDict(command.labels)
            updated = resent(changed, command.resource_version, labels=labels)
            return run_to_completion(store.update(updated))
        case UpdateStatus():
            pod = cast(Pod, read(store, command.key))
            changed = attrs.evolve(pod, status=attrs.evolve(pod.status, phase=command.phase))
            return run_to_completion(store.update_status(resent(changed, command.resource_version)))
        case RemoveFinalizers():
            current = read(store, command.key)
            released = resent(current, command.resource_version, finalizers=())
            return run_to_completion(store.update(released))
        case Delete(key=key):
            deleting = store.delete(
                key.kind, key.name, key.namespace, resource_version=command.resource_version
            )
            return run_to_completion(deleting)
        case Get(key=key):
            return run_to_completion(store.get(key.kind, key.name, key.namespace))
        case ListKind():
            return run_to_completion(store.list(command.kind, label_selector=command.selector))
        case OpenWatch():
            return store.watch(command.kind, since=command.since, label_selector=command.selector)
        case Compact():
            store.compact(command.revision)
            return None
        case _:
            assert_never(command)


def run_to_completion(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a MemoryStore call synchronously: its operations never await (writes are atomic)."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return cast(T, finished.value)
    coroutine.close()
    raise AssertionError("a MemoryStore call suspended; it must complete without awaiting")


def revision_of(obj: Object) -> int:
    return int(obj.metadata.resource_version)


def changed(change: WatchEvent[Object]) -> Object:
    """The object a watch event carries (every event but a BOOKMARK carries one)."""
    assert change.object is not None, change
    return change.object


def read(store: MemoryStore, key: Key) -> Stored:
    return cast(Stored, store.get_now(key.kind, key.name, key.namespace))


def new_object(command: Create) -> Stored:
    key = command.key
    meta = ObjectMeta(
        name=key.name,
        namespace=key.namespace,
        labels=FrozenDict(command.labels),
        finalizers=command.finalizers,
    )
    if key.kind is Pod:
        container = Container(name="app", image=IMAGE + command.content)
        return Pod(metadata=meta, spec=PodSpec(containers=(container,)))
    return ConfigMap(metadata=meta, data=FrozenDict(content=command.content))


def with_content(obj: Stored, content: str) -> Stored:
    if isinstance(obj, Pod):
        container = attrs.evolve(obj.spec.containers[0], image=IMAGE + content)
        return attrs.evolve(obj, spec=attrs.evolve(obj.spec, containers=(container,)))
    return attrs.evolve(obj, data=FrozenDict(content=content))


def resent(obj: Stored, resource_version: str, **changes: Any) -> Stored:
    """``obj`` with metadata ``changes``, to be written back under ``resource_version``."""
    meta = attrs.evolve(obj.metadata, resource_version=resource_version, **changes)
    return attrs.evolve(obj, metadata=meta)


# --- the reference model -------------------------------------------------------------------------


@attrs.frozen
class Committed:
    """One committed write: its revision, what happened, and the labels before and after."""

    revision: int
    type: EventType
    key: Key
    labels: Labels
    previous_labels: Labels | None


Seen = tuple[int, EventType, Key]


@attrs.frozen
class Expectation:
    """What a command must do: raise ``error``, or commit ``writes`` (or nothing) and return.

    ``returns`` is the object a write or a get returns; ``listed`` the items a list returns.
    """

    error: type[StoreError] | None = None
    writes: EventType | None = None
    returns: ObjectState | None = None
    listed: tuple[tuple[Key, ObjectState], ...] | None = None


def selects(selector: str | None, labels: Labels) -> bool:
    return selector is None or LABEL_SELECTORS[selector](dict(labels))


def seen_through(entry: Committed, selector: str) -> EventType | None:
    """A filtered watch's view of ``entry``: entering the selection is ADDED, leaving it DELETED."""
    before = entry.previous_labels is not None and selects(selector, entry.previous_labels)
    after = entry.type is not EventType.DELETED and selects(selector, entry.labels)
    if after:
        return EventType.MODIFIED if before else EventType.ADDED
    return EventType.DELETED if before else None


class ReferenceModel:
    """The store as its acknowledged writes describe it: objects, the log of writes, the floor."""

    def __init__(self, log: list[Committed]) -> None:
        self.objects: dict[Key, ObjectState] = {}
        self.log = log
        self.floor = 0

    @classmethod
    def seeded_from(cls, store: MemoryStore) -> ReferenceModel:
        """A model whose log starts with the namespaces the store creates for itself."""
        namespaces = sorted(store.list_now(Namespace).items, key=revision_of)
        return cls(
            [
                Committed(
                    revision=revision_of(ns),
                    type=EventType.ADDED,
                    key=Key.of(ns),
                    labels=tuple(sorted(ns.metadata.labels.items())),
                    previous_labels=None,
                )
                for ns in namespaces
            ]
        )

    @property
    def head(self) -> int:
        return self.log[-1].revision if self.log else 0

    def resource_version(self, key: Key, staleness: int) -> str:
        """The object's acknowledged resourceVersion, or one ``staleness`` revisions older."""
        state = self.objects.get(key)
        current = state.resource_version if state else self.head
        return str(max(1, current - staleness))

    def events_for(self, kind: Kind, selector: str | None, after: int) -> list[Seen]:
        """What a watch of ``kind`` with ``selector`` must deliver after revision ``after``."""
        seen: list[Seen] = []
        for entry in self.log:
            if entry.key.kind is not kind or entry.revision <= after:
                continue
            type_ = entry.type if selector is None else seen_through(entry, selector)
            if type_ is not None:
                seen.append((entry.revision, type_, entry.key))
        return seen

    def apply(self, command: Command) -> Expectation:
        """Predict ``command``'s outcome, and advance the model as the store should."""
        match command:
            case Create(key=key):
                if key in self.objects:
                    return Expectation(error=AlreadyExists)
                created = ObjectState(
                    labels=command.labels,
                    content=command.content,
                    finalizers=command.finalizers,
                    phase="Pending" if key.kind is Pod else "",
                    deleting=False,
                    resource_version=0,
                )
                return self._commit(EventType.ADDED, key, created)
            case Update(key=key, resource_version=version, labels=labels, content=content):
                return self._write(key, version, labels=labels, content=content)
            case UpdateStatus(key=key, resource_version=version, phase=phase):
                return self._write(key, version, phase=phase)
            case RemoveFinalizers(key=key, resource_version=version):
                return self._write(key, version, finalizers=())
            case Delete(key=key, resource_version=version):
                return self._delete(key, version)
            case Get(key=key):
                state = self.objects.get(key)
                return Expectation(error=NotFound) if state is None else Expectation(returns=state)
            case ListKind(kind=kind, selector=selector):
                listed = tuple(
                    (key, self.objects[key])
                    for key in sorted(self.objects, key=Key.sort_key)
                    if key.kind is kind and selects(selector, self.objects[key].labels)
                )
                return Expectation(listed=listed)
            case OpenWatch():
                return Expectation(error=Gone) if command.since < self.floor else Expectation()
            case Compact():
                self.floor = max(self.floor, min(command.revision, self.head))
                return Expectation()
            case _:
                assert_never(command)

    def _write(self, key: Key, resource_version: str, **changes: Any) -> Expectation:
        """An optimistic write: NotFound, Conflict on a stale version, a no-op, or one commit."""
        state = self.objects.get(key)
        if state is None:
            return Expectation(error=NotFound)
        if resource_version != str(state.resource_version):
            return Expectation(error=Conflict)
        changed = attrs.evolve(state, **changes)
        if changed == state:
            return Expectation(returns=state)
        if changed.deleting and not changed.finalizers:
            return self._commit(EventType.DELETED, key, changed)
        return self._commit(EventType.MODIFIED, key, changed)

    def _delete(self, key: Key, resource_version: str | None) -> Expectation:
        state = self.objects.get(key)
        if state is None:
            return Expectation(error=NotFound)
        if resource_version is not None and resource_version != str(state.resource_version):
            return Expectation(error=Conflict)
        if state.deleting:
            return Expectation(returns=state)
        if state.finalizers:
            return self._commit(EventType.MODIFIED, key, attrs.evolve(state, deleting=True))
        return self._commit(EventType.DELETED, key, state)

    def _commit(self, type_: EventType, key: Key, state: ObjectState) -> Expectation:
        previous = self.objects.get(key)
        committed = attrs.evolve(state, resource_version=self.head + 1)
        self.log.append(
            Committed(
                revision=committed.resource_version,
                type=type_,
                key=key,
                labels=committed.labels,
                previous_labels=None if previous is None else previous.labels,
            )
        )
        if type_ is EventType.DELETED:
            del self.objects[key]
        else:
            self.objects[key] = committed
        return Expectation(writes=type_, returns=committed)


# --- the machine ---------------------------------------------------------------------------------


class FixedClock:
    """A clock that never moves, so every run stamps the same timestamps."""

    def now(self) -> datetime:
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@attrs.define
class Watcher:
    """A watch the machine opened, and the revision up to which it has delivered everything."""

    opened: OpenWatch
    watch: MemoryWatch[Object]
    cursor: int


keys = st.sampled_from(KEYS)
kinds = st.sampled_from(KINDS)
label_sets = st.fixed_dictionaries(
    {}, optional={"app": st.sampled_from(("web", "db")), "tier": st.just("front")}
).map(lambda labels: tuple(sorted(labels.items())))
contents = st.sampled_from(CONTENTS)
selectors = st.none() | st.sampled_from(sorted(LABEL_SELECTORS))
#: 0 sends the acknowledged resourceVersion; more sends one that many revisions older.
staleness = st.just(0) | st.integers(1, 3)


class StoreMachine(RuleBasedStateMachine):
    """Random command streams against a MemoryStore, checked against `ReferenceModel` each step."""

    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore(seed=0, clock=FixedClock(), history=1_000_000)
        self.model = ReferenceModel.seeded_from(self.store)
        # One unfiltered watch per kind from revision 0, opened before anything is compacted and
        # read after every step: the store's own log, replayed.
        self.witnesses = [
            Watcher(OpenWatch(kind, 0, None, lagging=False), self.store.watch(kind, since=0), 0)
            for kind in (Namespace, *KINDS)
        ]
        self.replicas: dict[Key, Object] = {}
        self.witnessed: list[int] = []
        self.watchers: list[Watcher] = []

    # --- rules ------------------------------------------------------------------------------------

    @rule(key=keys, labels=label_sets, content=contents, held=st.booleans())
    def create(self, key: Key, labels: Labels, content: str, held: bool) -> None:
        self._run(Create(key, labels, content, (FINALIZER,) if held else ()))

    @precondition(lambda self: self._candidates())
    @rule(data=st.data(), labels=label_sets, content=contents, staleness=staleness)
    def update(self, data: st.DataObject, labels: Labels, content: str, staleness: int) -> None:
        key = self._target(data)
        self._run(Update(key, labels, content, self.model.resource_version(key, staleness)))

    @precondition(lambda self: self._candidates(Pod))
    @rule(data=st.data(), phase=st.sampled_from(PHASES), staleness=staleness)
    def update_status(self, data: st.DataObject, phase: str, staleness: int) -> None:
        key = self._target(data, Pod)
        self._run(UpdateStatus(key, phase, self.model.resource_version(key, staleness)))

    @precondition(lambda self: self._candidates(held=True))
    @rule(data=st.data(), staleness=staleness)
    def remove_finalizers(self, data: st.DataObject, staleness: int) -> None:
        key = self._target(data, held=True)
        self._run(RemoveFinalizers(key, self.model.resource_version(key, staleness)))

    @precondition(lambda self: self._candidates())
    @rule(data=st.data(), precondition=st.none() | staleness)
    def delete(self, data: st.DataObject, precondition: int | None) -> None:
        key = self._target(data)
        version = None if precondition is None else self.model.resource_version(key, precondition)
        self._run(Delete(key, version))

    @rule(key=keys)
    def get(self, key: Key) -> None:
        self._run(Get(key))

    @rule(kind=kinds, selector=selectors)
    def list_objects(self, kind: Kind, selector: str | None) -> None:
        self._run(ListKind(kind, selector))

    @rule(kind=kinds, back=st.integers(0, 60), selector=selectors, lagging=st.booleans())
    def open_watch(self, kind: Kind, back: int, selector: str | None, lagging: bool) -> None:
        opened = OpenWatch(kind, max(0, self.model.head - back), selector, lagging)
        watch = self._run(opened)
        if watch is not None:
            self.watchers.append(Watcher(opened, watch, opened.since))

    @rule()
    def read_lagging_watches(self) -> None:
        for watcher in [watcher for watcher in self.watchers if watcher.opened.lagging]:
            self._read_or_drop(watcher)

    @rule(back=st.integers(-2, 30))
    def compact(self, back: int) -> None:
        self._run(Compact(max(0, self.model.head - back)))

    # --- invariants -------------------------------------------------------------------------------

    @invariant()
    def revisions_are_exactly_one_to_head(self) -> None:
        head = list(range(1, self.store.revision + 1))
        assert [entry.revision for entry in self.model.log] == head
        self._read_witnesses()
        assert sorted(self.witnessed) == head

    @invariant()
    def replaying_the_log_reproduces_list(self) -> None:
        self._read_witnesses()
        listed = {
            Key.of(obj): obj
            for watcher in self.witnesses
            for obj in self.store.list_now(watcher.opened.kind).items
        }
        assert self.replicas == listed

    @invariant()
    def watchers_see_their_share_of_the_log_in_order(self) -> None:
        for watcher in [watcher for watcher in self.watchers if not watcher.opened.lagging]:
            self._read_or_drop(watcher)

    @invariant()
    def acknowledged_writes_are_never_lost(self) -> None:
        for key in KEYS:
            try:
                found: ObjectState | None = ObjectState.of(read(self.store, key))
            except NotFound:
                found = None
            assert found == self.model.objects.get(key), key

    @invariant()
    def compaction_floor_is_the_highest_requested(self) -> None:
        assert self.store.compacted == self.model.floor

    # --- helpers ----------------------------------------------------------------------------------

    def _candidates(self, kind: Kind | None = None, *, held: bool = False) -> list[Key]:
        """Objects that exist (of ``kind``; ``held`` by a finalizer): the keys writes aim at.

        Writes to missing objects are left to `get`: they would only test get's NotFound again.
        """
        return sorted(
            (
                key
                for key, state in self.model.objects.items()
                if kind in (None, key.kind) and (state.finalizers or not held)
            ),
            key=repr,
        )

    def _target(self, data: st.DataObject, kind: Kind | None = None, *, held: bool = False) -> Key:
        return data.draw(st.sampled_from(self._candidates(kind, held=held)))

    def _run(self, command: Command) -> Any:
        """Apply ``command`` to the model and the store, and check the store did as predicted."""
        before = self.store.revision
        expected = self.model.apply(command)
        try:
            result = execute(self.store, command)
        except StoreError as error:
            note(f"r{before} {command!r} -> {type(error).__name__}: {error}")
            event(f"{type(command).__name__} -> {type(error).__name__}")
            assert type(error) is expected.error, f"{command!r} should give {expected}"
            assert self.store.revision == before, "a rejected command changed the revision"
            return None
        head = self.store.revision
        note(f"r{before} {command!r} -> " + ("no write" if head == before else f"now at r{head}"))
        event(f"{type(command).__name__} -> {expected.writes or 'no write'}")
        assert expected.error is None, f"{command!r} should raise {expected.error.__name__}"
        assert head == before + (expected.writes is not None), expected
        if expected.returns is not None:
            assert ObjectState.of(result) == expected.returns
        if expected.listed is not None:
            listed = cast(ListResult[Stored], result)
            seen = tuple((Key.of(obj), ObjectState.of(obj)) for obj in listed.items)
            assert seen == expected.listed
            assert listed.revision == self.store.revision
        return result

    def _read(self, watcher: Watcher) -> list[WatchEvent[Object]]:
        """What ``watcher`` delivers now: exactly its share of the log since its cursor."""
        opened = watcher.opened
        expected = self.model.events_for(opened.kind, opened.selector, after=watcher.cursor)
        events = watcher.watch.ready()
        seen = [(change.revision, change.type, Key.of(changed(change))) for change in events]
        assert seen == expected, opened
        watcher.cursor = self.store.revision
        return events

    def _read_or_drop(self, watcher: Watcher) -> None:
        try:
            self._read(watcher)
        except Gone:
            note(f"{watcher.opened!r} read after r{watcher.cursor} -> Gone")
            event("watch -> Gone")
            assert self.store.compacted > watcher.cursor, "Gone though its history is kept"
            self.watchers.remove(watcher)

    def _read_witnesses(self) -> None:
        for witness in self.witnesses:
            for change in self._read(witness):
                obj = changed(change)
                self.witnessed.append(change.revision)
                if change.type is EventType.DELETED:
                    self.replicas.pop(Key.of(obj), None)
                else:
                    self.replicas[Key.of(obj)] = obj


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=100, stateful_step_count=50, deadline=None)
