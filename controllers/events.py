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

The recorder hands the correlator the parts of an event (`EventCorrelator.correlate_parts`) and makes
only the event to write, none for a dropped one; the time of day it stamps the event with is the
aggregation's time too.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import TypeVar

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


class LRUCache(OrderedDict[K, V]):
    """An ordered map of at most ``size`` entries that forgets the least recently used one first.

    Callers on the hot path use it as the ordered map it is: a hit is ``get`` then ``move_to_end``, a
    miss is `insert`. Values are never None, so ``get`` returning None means a miss.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def insert(self, key: K, value: V) -> None:
        """Add a key not in the map as the most recently used, forgetting the oldest one if now too many."""
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


class TokenBucket:
    """A token bucket: starts full at ``burst`` tokens at time ``now`` and refills ``qps`` tokens a second."""

    __slots__ = ("_burst", "_last", "_qps", "_tokens")

    def __init__(self, qps: float, burst: int, now: float) -> None:
        self._qps = qps
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = now

    def try_accept(self, now: float) -> bool:
        """Take a token at monotonic time ``now`` if there is one; whether there was."""
        tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
        self._last = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False


#: Source (component, host) and involved object (kind, namespace, name, uid, apiVersion).
_SpamKey = tuple[str, str, str, str, str, str, str]
#: The spam key, then type, reason, reporting component and reporting instance.
_AggregateKey = tuple[str, str, str, str, str, str, str, str, str, str, str]
#: Source, involved object (with its fieldPath), type, reason and message.
_EventKey = tuple[str, str, str, str, str, str, str, str, str, str, str]
#: An occurrence of an event as the logger remembers it: count, first timestamp, name, resource version.
_Observation = tuple[int, datetime | None, str, str]


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


class SpamFilter:
    """Throttles the events a source records about one object (EventSourceObjectSpamFilter)."""

    def __init__(
        self, *, burst: int = SPAM_BURST, qps: float = SPAM_QPS, size: int = LRU_CACHE_ENTRIES
    ) -> None:
        self._burst = burst
        self._qps = qps
        self._buckets: LRUCache[_SpamKey, TokenBucket] = LRUCache(size)

    def accept(self, key: _SpamKey, now: float) -> bool:
        """Whether to keep an event with spam key ``key`` at monotonic time ``now``: a token was left."""
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self._qps, self._burst, now)
            buckets.insert(key, bucket)
        else:
            buckets.move_to_end(key)
        return bucket.try_accept(now)


@attrs.define
class _AggregateRecord:
    #: The distinct messages seen in the current window, oldest first (a dict keeps the order).
    messages: dict[str, None]
    last_timestamp: datetime


class EventAggregator:
    """Folds similar events that keep coming into one aggregate event (client-go's EventAggregator)."""

    def __init__(
        self,
        *,
        max_events: int = AGGREGATE_MAX_EVENTS,
        interval_seconds: float = AGGREGATE_INTERVAL_SECONDS,
        size: int = LRU_CACHE_ENTRIES,
    ) -> None:
        self._max_events = max_events
        self._interval = timedelta(seconds=interval_seconds)
        self._records: LRUCache[_AggregateKey, _AggregateRecord] = LRUCache(size)

    def aggregate(self, key: _AggregateKey, message: str, now: datetime) -> bool:
        """Count ``message`` among the similar events of ``key`` at ``now``; whether they are now too many.

        Similar events (`EventAggregatorByReasonFunc`: all but the message alike) are too many when
        `AGGREGATE_MAX_EVENTS` distinct messages came within the interval of one another; the event is
        then recorded as their aggregate, deduplicated by ``key``, made at ``now``.
        """
        records = self._records
        record = records.get(key)
        if record is None:
            record = _AggregateRecord({message: None}, now)
            records.insert(key, record)
        else:
            records.move_to_end(key)
            if now - record.last_timestamp > self._interval:
                record.messages = {message: None}
            else:
                record.messages[message] = None
            record.last_timestamp = now
        messages = record.messages
        if len(messages) < self._max_events:
            return False
        # Keep the set from growing past the maximum. client-go drops an arbitrary member; dropping
        # the oldest is one such choice, and a deterministic one.
        del messages[next(iter(messages))]
        return True


class EventLogger:
    """Counts occurrences of each event, so a repeat updates the first one (client-go's eventLogger)."""

    def __init__(self, size: int = LRU_CACHE_ENTRIES) -> None:
        self._seen: LRUCache[tuple[str, ...], _Observation] = LRUCache(size)

    def observe(self, key: tuple[str, ...], first: _Observation) -> _Observation:
        """The occurrence an event seen under ``key`` is: ``first``, or the next of an earlier one."""
        seen = self._seen
        last = seen.get(key)
        if last is None:
            seen.insert(key, first)
            return first
        seen.move_to_end(key)
        count = last[0]
        if count > 0:
            first = (count + 1, last[1], last[2], last[3])
        seen[key] = first
        return first

    def update_state(self, event: Event) -> None:
        """Remember ``event`` as written (its name and resource version) under its own key."""
        seen = self._seen
        key = event_key(event)
        meta = event.metadata
        seen[key] = (event.count, event.first_timestamp, meta.name, meta.resource_version)
        seen.move_to_end(key)
        if len(seen) > seen.size:
            seen.popitem(last=False)


class EventCorrelator:
    """Aggregates, counts and filters events before they are written (client-go's EventCorrelator).

    `correlate` takes and returns events; `EventRecorder` calls `correlate_parts` with the parts of the
    event it is about to make, and makes only the event to write.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        burst: int = SPAM_BURST,
        qps: float = SPAM_QPS,
        max_events: int = AGGREGATE_MAX_EVENTS,
        interval_seconds: float = AGGREGATE_INTERVAL_SECONDS,
        cache_size: int = LRU_CACHE_ENTRIES,
    ) -> None:
        self._clock = clock
        self._filter = SpamFilter(burst=burst, qps=qps, size=cache_size)
        self._aggregator = EventAggregator(
            max_events=max_events, interval_seconds=interval_seconds, size=cache_size
        )
        self._logger = EventLogger(cache_size)

    def correlate(self, event: Event) -> Event | None:
        """The event to write (a new one when its count is 1, else an update), or None to drop it."""
        meta = event.metadata
        now = self._clock.now()
        first = (event.count, event.first_timestamp, meta.name, meta.resource_version)
        observed = self.correlate_parts(
            spam_key(event),
            field_path=event.involved_object.field_path,
            type_=event.type,
            reason=event.reason,
            message=event.message,
            reporting_component=event.reporting_component,
            reporting_instance=event.reporting_instance,
            first=first,
            now=now,
            monotonic=self._clock.monotonic(),
        )
        if observed is None:
            return None
        observation, aggregated = observed
        count, first_timestamp, name, resource_version = observation
        if aggregated:
            return Event(
                metadata=ObjectMeta(name=name, namespace=meta.namespace, resource_version=resource_version),
                involved_object=event.involved_object,
                reason=event.reason,
                message=AGGREGATE_PREFIX + event.message,
                source=event.source,
                first_timestamp=first_timestamp,
                last_timestamp=now,
                count=count,
                type=event.type,
            )
        if observation is first:
            return event
        return attrs.evolve(
            event,
            metadata=attrs.evolve(meta, name=name, resource_version=resource_version),
            first_timestamp=first_timestamp,
            count=count,
        )

    def correlate_parts(
        self,
        key: _SpamKey,
        *,
        field_path: str,
        type_: str,
        reason: str,
        message: str,
        reporting_component: str,
        reporting_instance: str,
        first: _Observation,
        now: datetime,
        monotonic: float,
    ) -> tuple[_Observation, bool] | None:
        """Correlate an event given by its parts, at time of day ``now`` and monotonic time ``monotonic``.

        ``key`` is its `spam_key`, ``first`` its own count, first timestamp, name and resource version.
        None when the spam filter drops it; else the occurrence to write, and whether the event to
        write is the aggregate of similar events (message ``AGGREGATE_PREFIX + message``, last
        timestamp ``now``, no reporting component or instance) rather than the event itself.
        """
        aggregate_key = (*key, type_, reason, reporting_component, reporting_instance)
        aggregated = self._aggregator.aggregate(aggregate_key, message, now)
        if aggregated:
            observed = self._logger.observe(aggregate_key, (1, now, first[2], ""))
        else:
            component, host, kind, namespace, name, uid, api_version = key
            own_key = (
                component,
                host,
                kind,
                namespace,
                name,
                field_path,
                uid,
                api_version,
                type_,
                reason,
                message,
            )
            observed = self._logger.observe(own_key, first)
        # The filter reads only the source and the involved object, which correlation keeps.
        if not self._filter.accept(key, monotonic):
            return None
        return observed, aggregated

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
        # The object of the last event, its reference and its spam key: an object is often the
        # subject of several events in a row (a ReplicaSet's SuccessfulCreate, one per pod).
        self._subject: Object | None = None
        self._reference = ObjectReference()
        self._spam_key: _SpamKey = (component, host, "", "", "", "", "")
        # The time of day of the last stamp and its nanoseconds: many events fall on one instant.
        self._stamp_time: datetime | None = None
        self._stamp_nanos = 0

    async def event(self, obj: Object, type_: str, reason: str, message: str) -> None:
        """Record that ``reason``: ``message`` happened to ``obj``."""
        meta = obj.metadata
        clock = self._clock
        now = clock.now()
        source = self._source
        own_name = f"{meta.name}.{self._unique_stamp(now):x}"
        if obj is not self._subject:
            self._subject = obj
            self._reference = ObjectReference(
                api_version=obj.api_version,
                kind=obj.kind,
                namespace=meta.namespace,
                name=meta.name,
                uid=meta.uid,
                resource_version=meta.resource_version,
            )
            self._spam_key = (
                source.component,
                source.host,
                obj.kind,
                meta.namespace,
                meta.name,
                meta.uid,
                obj.api_version,
            )
        # The event would be made now, with count 1; correlation decides which event is written, so
        # only that one is made (and none when the spam filter drops it).
        observed = self._correlator.correlate_parts(
            self._spam_key,
            field_path="",
            type_=type_,
            reason=reason,
            message=message,
            reporting_component=source.component,
            reporting_instance=source.host,
            first=(1, now, own_name, ""),
            now=now,
            monotonic=clock.monotonic(),
        )
        if observed is None:
            return
        (count, first_timestamp, name, resource_version), aggregated = observed
        reporting_component, reporting_instance = source.component, source.host
        if aggregated:  # client-go makes the aggregate without a reporting component or instance
            message, reporting_component, reporting_instance = AGGREGATE_PREFIX + message, "", ""
        event = Event(
            metadata=ObjectMeta(
                name=name, namespace=meta.namespace or "default", resource_version=resource_version
            ),
            involved_object=self._reference,
            reason=reason,
            message=message,
            source=source,
            first_timestamp=first_timestamp,
            last_timestamp=now,
            count=count,
            type=type_,
            reporting_component=reporting_component,
            reporting_instance=reporting_instance,
        )
        try:
            written = await self._write(event)
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
        if now is not self._stamp_time:
            self._stamp_time = now
            self._stamp_nanos = int(now.timestamp() * 1e9)
        stamps = self._stamps
        stamp = stamps.last = max(self._stamp_nanos, stamps.last + 1)
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
