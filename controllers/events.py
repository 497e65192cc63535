"""EventRecorder: Kubernetes Events written to the store, filtered and aggregated like client-go's correlator.

An event about an object is a core/v1 ``Event`` in the object's namespace, named ``<object>.<hex time>``.
Before it is written, each event passes through an `EventCorrelator`, the behaviour of client-go's
tools/record ``EventCorrelator`` with its defaults:

- **aggregation**: once 10 events from one source about one object, with the same type and reason but
  different messages, are seen within 10 minutes of each other, the next ones are folded into a single
  event whose message is ``(combined from similar events): <latest message>`` and whose count grows;
- **deduplication**: an event identical to an earlier one (source, object, type, reason, message) bumps
  ``count`` and ``lastTimestamp`` of the first one instead of making a new one;
- **spam filter**: a source may record a burst of 25 events about one object, then one every 5 minutes
  (a token bucket per source and object); the rest are dropped.

Each cache holds the 4,096 most recently used keys. Time is the recorder's clock, so on virtual time
the windows and the refill are virtual too. Events are best effort: a failure to write one is logged
and never fails the caller.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import attrs
import structlog

from reconcile.clock import Clock
from store import NotFound, Object, Store, StoreError
from store.models import Event, EventSource, ObjectMeta, ObjectReference

NORMAL = "Normal"
WARNING = "Warning"

#: How many keys each of the correlator's caches keeps (client-go's maxLruCacheEntries).
LRU_CACHE_ENTRIES = 4096
#: Similar events (differing by message only) seen this many times within the interval are aggregated.
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL_SECONDS = 600
#: The spam filter's token bucket per source and object: a burst of 25, then one event every 5 minutes.
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0
#: The message prefix of an aggregated event.
AGGREGATE_PREFIX = "(combined from similar events): "

log = structlog.get_logger("setpoint.events")

K = TypeVar("K")
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """A map of at most ``size`` entries that forgets the least recently used one first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def add(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class TokenBucket:
    """A token bucket on a clock: starts full at ``burst`` tokens and refills ``qps`` tokens a second."""

    def __init__(self, qps: float, burst: int, clock: Clock) -> None:
        self._qps = qps
        self._burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.monotonic()

    def try_accept(self) -> bool:
        """Take a token if there is one; whether there was."""
        now = self._clock.monotonic()
        self._tokens = min(float(self._burst), self._tokens + (now - self._last) * self._qps)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


_SpamKey = tuple[str, str, str, str, str, str, str]
_AggregateKey = tuple[str, str, str, str, str, str, str, str, str, str, str]
_EventKey = tuple[str, str, str, str, str, str, str, str, str, str, str]


def event_key(event: Event) -> _EventKey:
    """What makes two events the same event: source, involved object, type, reason and message."""
    source, ref = event.source, event.involved_object
    return (
        source.component,
        source.host,
        ref.kind,
        ref.namespace,
        ref.name,
        ref.field_path,
        ref.uid,
        ref.api_version,
        event.type,
        event.reason,
        event.message,
    )


def spam_key(event: Event) -> _SpamKey:
    """What the spam filter counts events by: source and involved object."""
    source, ref = event.source, event.involved_object
    return (source.component, source.host, ref.kind, ref.namespace, ref.name, ref.uid, ref.api_version)


def aggregate_key(event: Event) -> _AggregateKey:
    """What makes events similar: everything but the message (EventAggregatorByReasonFunc)."""
    return (
        *spam_key(event),
        event.type,
        event.reason,
        event.reporting_component,
        event.reporting_instance,
    )


class SpamFilter:
    """Throttles the events a source records about one object (EventSourceObjectSpamFilter)."""

    def __init__(self, clock: Clock, *, burst: int = SPAM_BURST, qps: float = SPAM_QPS) -> None:
        self._clock = clock
        self._burst = burst
        self._qps = qps
        self._buckets: LRUCache[_SpamKey, TokenBucket] = LRUCache(LRU_CACHE_ENTRIES)

    def filter(self, event: Event) -> bool:
        """Whether to drop ``event``: its source is out of tokens for its object."""
        key = spam_key(event)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self._qps, self._burst, self._clock)
        dropped = not bucket.try_accept()
        self._buckets.add(key, bucket)
        return dropped


@attrs.define
class _AggregateRecord:
    #: The distinct messages seen in the current window, oldest first (a dict keeps the order).
    messages: dict[str, None]
    last_timestamp: datetime


class EventAggregator:
    """Folds similar events that keep coming into one aggregate event (client-go's EventAggregator)."""

    def __init__(
        self,
        clock: Clock,
        *,
        max_events: int = AGGREGATE_MAX_EVENTS,
        interval_seconds: float = AGGREGATE_INTERVAL_SECONDS,
    ) -> None:
        self._clock = clock
        self._max_events = max_events
        self._interval = timedelta(seconds=interval_seconds)
        self._records: LRUCache[_AggregateKey, _AggregateRecord] = LRUCache(LRU_CACHE_ENTRIES)

    def aggregate(self, event: Event) -> tuple[tuple[str, ...], datetime | None]:
        """The key to deduplicate ``event`` by, and when it is aggregated, the aggregate's time.

        The key is the event's own (`event_key`) until similar events are too many; it is then the
        key they share (`aggregate_key`), and the event to record is the aggregate, made at that time.
        """
        now = self._clock.now()
        key = aggregate_key(event)
        record = self._records.get(key)
        if record is None or now - record.last_timestamp > self._interval:
            record = _AggregateRecord({}, now)
        record.messages[event.message] = None
        record.last_timestamp = now
        self._records.add(key, record)
        if len(record.messages) < self._max_events:
            return event_key(event), None
        # Keep the set from growing past the maximum. client-go drops an arbitrary member; dropping
        # the oldest is one such choice, and a deterministic one.
        del record.messages[next(iter(record.messages))]
        return key, now


@attrs.frozen
class _Observation:
    count: int
    first_timestamp: datetime | None
    name: str
    resource_version: str


class EventLogger:
    """Counts occurrences of each event, so a repeat updates the first one (client-go's eventLogger)."""

    def __init__(self) -> None:
        self._seen: LRUCache[tuple[str, ...], _Observation] = LRUCache(LRU_CACHE_ENTRIES)

    def observe(self, key: tuple[str, ...], first: _Observation) -> _Observation:
        """The occurrence an event seen under ``key`` is: ``first``, or the next of an earlier one."""
        last = self._seen.get(key)
        if last is not None and last.count > 0:
            first = _Observation(last.count + 1, last.first_timestamp, last.name, last.resource_version)
        self._seen.add(key, first)
        return first

    def update_state(self, event: Event) -> None:
        """Remember ``event`` as written (its name and resource version) under its own key."""
        meta = event.metadata
        self._seen.add(
            event_key(event),
            _Observation(event.count, event.first_timestamp, meta.name, meta.resource_version),
        )


class EventCorrelator:
    """Aggregates, counts and filters events before they are written (client-go's EventCorrelator)."""

    def __init__(
        self,
        clock: Clock,
        *,
        burst: int = SPAM_BURST,
        qps: float = SPAM_QPS,
        max_events: int = AGGREGATE_MAX_EVENTS,
        interval_seconds: float = AGGREGATE_INTERVAL_SECONDS,
    ) -> None:
        self._filter = SpamFilter(clock, burst=burst, qps=qps)
        self._aggregator = EventAggregator(clock, max_events=max_events, interval_seconds=interval_seconds)
        self._logger = EventLogger()

    def correlate(self, event: Event) -> Event | None:
        """The event to write (a new one when its count is 1, else an update), or None to drop it."""
        key, aggregated_at = self._aggregator.aggregate(event)
        meta = event.metadata
        if aggregated_at is None:
            first = _Observation(event.count, event.first_timestamp, meta.name, meta.resource_version)
        else:
            first = _Observation(1, aggregated_at, meta.name, "")
        observed = self._logger.observe(key, first)
        # The filter reads only the source and the involved object, which correlation keeps: the
        # event it would see is built only when it passes.
        if self._filter.filter(event):
            return None
        if aggregated_at is not None:
            return Event(
                metadata=ObjectMeta(
                    name=observed.name,
                    namespace=meta.namespace,
                    resource_version=observed.resource_version,
                ),
                involved_object=event.involved_object,
                reason=event.reason,
                message=AGGREGATE_PREFIX + event.message,
                source=event.source,
                first_timestamp=observed.first_timestamp,
                last_timestamp=aggregated_at,
                count=observed.count,
                type=event.type,
            )
        if observed is first:
            return event
        return attrs.evolve(
            event,
            metadata=attrs.evolve(meta, name=observed.name, resource_version=observed.resource_version),
            first_timestamp=observed.first_timestamp,
            count=observed.count,
        )

    def update_state(self, event: Event) -> None:
        """Record what the store returned for a written event."""
        self._logger.update_state(event)


class EventRecorder:
    """Records events for one component (``source.component``: deployment-controller, kubelet, …)."""

    def __init__(self, store: Store, clock: Clock, component: str, host: str = "") -> None:
        self._store = store
        self._clock = clock
        self._source = EventSource(component=component, host=host)
        self._correlator = EventCorrelator(clock)
        self._stamps = _STAMPS.setdefault(store, _Stamps())

    async def event(self, obj: Object, type_: str, reason: str, message: str) -> None:
        """Record that ``reason``: ``message`` happened to ``obj``."""
        meta = obj.metadata
        now = self._clock.now()
        event = Event(
            metadata=ObjectMeta(
                name=f"{meta.name}.{self._unique_stamp(now):x}", namespace=meta.namespace or "default"
            ),
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
            source=self._source,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            type=type_,
            reporting_component=self._source.component,
            reporting_instance=self._source.host,
        )
        correlated = self._correlator.correlate(event)
        if correlated is None:
            return
        try:
            written = await self._write(correlated)
        except StoreError as exc:
            log.warning("could not record event", reason=reason, object=meta.name, error=str(exc))
        else:
            self._correlator.update_state(written)

    async def _write(self, event: Event) -> Event:
        meta = event.metadata
        if event.count > 1:
            # A repeat: the first occurrence gets the new count, last timestamp and message.
            try:
                existing = await self._store.get(Event, meta.name, meta.namespace)
            except NotFound:
                pass  # deleted since: record it anew, as client-go does when its patch finds nothing
            else:
                return await self._store.update(
                    attrs.evolve(
                        existing,
                        count=event.count,
                        last_timestamp=event.last_timestamp,
                        message=event.message,
                    )
                )
        if meta.resource_version:
            event = attrs.evolve(event, metadata=attrs.evolve(meta, resource_version=""))
        return await self._store.create(event)

    def _unique_stamp(self, now: datetime) -> int:
        # client-go names events by UnixNano. On a virtual clock many events share an instant, so stamps
        # are kept strictly increasing per store: the name then also orders events by creation.
        stamps = self._stamps
        stamp = stamps.last = max(int(now.timestamp() * 1e9), stamps.last + 1)
        return stamp


class _Stamps:
    """The last event-name stamp handed out for one store, shared by every recorder writing to it."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = 0


_STAMPS: weakref.WeakKeyDictionary[Store, _Stamps] = weakref.WeakKeyDictionary()


def creation_order(event: Event) -> int:
    """A sort key putting events in the order they were first recorded (by their name's stamp)."""
    _, _, stamp = event.metadata.name.rpartition(".")
    try:
        return int(stamp, 16)
    except ValueError:
        return 0
