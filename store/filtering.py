"""How a list or a watch narrows a kind down: namespace, label and field selectors, and what a filtered
watcher sees when an object moves across its filter.

Shared by every `store.interface.Store` backend, so that lists and watches select the same objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from store.errors import BadRequest
from store.interface import EventType, FieldSelectable, Selectable, WatchEvent
from store.models import Object
from store.scheme import KindInfo
from store.selectors import (
    FieldSelector,
    InvalidSelector,
    Selector,
    parse_field_selector,
    parse_selector,
)

M = TypeVar("M", bound=Object)
S = TypeVar("S")


def matches(
    info: KindInfo,
    obj: Object,
    labels: Selector | None,
    fields: FieldSelector | None,
    namespace: str | None = None,
) -> bool:
    """Whether ``obj`` is in ``namespace`` (None: any) and matches both selectors (None: anything)."""
    meta = obj.metadata
    if namespace is not None and meta.namespace != namespace:
        return False
    if labels is not None and not labels.matches(meta.labels):
        return False
    if fields is not None:
        getters = info.field_getters
        return fields.matches({field: getters[field](obj) for field in fields.fields()})
    return True


def as_selector(selector: Selectable) -> Selector | None:
    """A label selector compiled, or None when it selects everything; `BadRequest` when it does not parse.

    As the apiserver decoding list options: a selector that labels.Parse refuses is a bad request.
    """
    if selector is None or selector == "":
        return None
    compiled = _parsed(parse_selector, selector) if isinstance(selector, str) else selector
    return None if compiled.empty() else compiled


def as_field_selector(info: KindInfo, selector: FieldSelectable) -> FieldSelector | None:
    """A field selector compiled for ``info``, or None; `BadRequest` when it does not parse or names a
    field the kind lacks."""
    if selector is None or selector == "":
        return None
    compiled = _parsed(parse_field_selector, selector) if isinstance(selector, str) else selector
    for field in compiled.fields():
        if field not in info.field_getters:
            raise BadRequest(f"field label not supported: {field}")
    return None if not compiled.requirements else compiled


def _parsed(parse: Callable[[str], S], text: str) -> S:
    try:
        return parse(text)
    except InvalidSelector as exc:
        raise BadRequest(str(exc)) from None


def parse_revision(value: str | int) -> int:
    """A resourceVersion as a revision; `BadRequest` when it is not one."""
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"invalid resource version {value!r}") from None


def translate(event: WatchEvent[Object], selects: Callable[[Object], bool]) -> WatchEvent[M] | None:
    """``event`` as a filtered watcher sees it: changes across its filter become ADDED/DELETED."""
    now = event.object is not None and event.type is not EventType.DELETED and selects(event.object)
    before = event.previous is not None and selects(event.previous)
    if event.type is EventType.DELETED:
        return cast(WatchEvent[M], event) if before else None
    if now and before:
        return cast(WatchEvent[M], event)
    if now:
        if event.type is EventType.ADDED:
            return cast(WatchEvent[M], event)
        return WatchEvent(EventType.ADDED, cast(M, event.object), event.revision, None)
    if before:
        return WatchEvent(EventType.DELETED, cast(M, event.object), event.revision, cast(M, event.previous))
    return None
