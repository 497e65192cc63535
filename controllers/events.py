"""EventRecorder: Kubernetes Events written to the store, aggregated the way client-go's correlator does.

An event about an object is a core/v1 ``Event`` in the object's namespace, named ``<object>.<hex time>``.
The same event (same source, object, type, reason and message) seen again bumps ``count`` and
``lastTimestamp`` of the first one instead of making a new one. Events are best effort: a failure to
write one is logged and never fails the caller.
"""

from __future__ import annotations

import weakref
from datetime import datetime

import attrs
import structlog

from reconcile.clock import Clock
from store import NotFound, Object, Store, StoreError
from store.models import Event, EventSource, ObjectMeta, ObjectReference

NORMAL = "Normal"
WARNING = "Warning"

log = structlog.get_logger("setpoint.events")

_Key = tuple[str, str, str, str, str, str, str]


class EventRecorder:
    """Records events for one component (``source.component``: deployment-controller, kubelet, …)."""

    def __init__(self, store: Store, clock: Clock, component: str, host: str = "") -> None:
        self._store = store
        self._clock = clock
        self._source = EventSource(component=component, host=host)
        self._seen: dict[_Key, str] = {}

    async def event(self, obj: Object, type_: str, reason: str, message: str) -> None:
        """Record that ``reason``: ``message`` happened to ``obj``."""
        meta = obj.metadata
        namespace = meta.namespace or "default"
        key = (namespace, obj.kind, meta.name, meta.uid, type_, reason, message)
        now = self._clock.now()
        try:
            existing_name = self._seen.get(key)
            if existing_name is not None:
                try:
                    existing = await self._store.get(Event, existing_name, namespace)
                except NotFound:
                    pass
                else:
                    await self._store.update(
                        attrs.evolve(existing, count=existing.count + 1, last_timestamp=now)
                    )
                    return
            name = f"{meta.name}.{self._unique_stamp(now):x}"
            event = Event(
                metadata=ObjectMeta(name=name, namespace=namespace),
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
            await self._store.create(event)
            self._seen[key] = name
        except StoreError as exc:
            log.warning("could not record event", reason=reason, object=meta.name, error=str(exc))

    def _unique_stamp(self, now: datetime) -> int:
        # client-go names events by UnixNano. On a virtual clock many events share an instant, so stamps
        # are kept strictly increasing per store: the name then also orders events by creation.
        last = _LAST_STAMPS.get(self._store, 0)
        stamp = max(int(now.timestamp() * 1e9), last + 1)
        _LAST_STAMPS[self._store] = stamp
        return stamp


_LAST_STAMPS: weakref.WeakKeyDictionary[Store, int] = weakref.WeakKeyDictionary()


def creation_order(event: Event) -> int:
    """A sort key putting events in the order they were first recorded (by their name's stamp)."""
    _, _, stamp = event.metadata.name.rpartition(".")
    try:
        return int(stamp, 16)
    except ValueError:
        return 0
