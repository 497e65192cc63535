"""Read-only collections for immutable object values.

Objects in the store are shared between the store, every cache and every reader, so their collections
must not change underneath anyone. `FrozenDict` is a ``dict`` whose mutators raise, which keeps lookups at
native dict speed; `freeze` turns arbitrary JSON-like data (from a manifest, a patch or a generic object)
into nested `FrozenDict` and tuples. This module is not a general immutable-data library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn, TypeVar

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class FrozenDict(dict[K, V]):
    """A hashable ``dict`` that refuses to change after construction."""

    __slots__ = ("_hash",)

    def _immutable(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is immutable; build a new one instead")

    __setitem__ = _immutable
    __delitem__ = _immutable
    __ior__ = _immutable
    clear = _immutable
    pop = _immutable
    popitem = _immutable
    setdefault = _immutable
    update = _immutable

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash: int = hash(frozenset(self.items()))
            return self._hash

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def set(self, key: K, value: V) -> FrozenDict[K, V]:
        """A copy with ``key`` set to ``value``."""
        items = dict(self)
        items[key] = value
        return FrozenDict(items)

    def remove(self, key: K) -> FrozenDict[K, V]:
        """A copy without ``key`` (the same mapping if the key is absent)."""
        if key not in self:
            return self
        items = dict(self)
        del items[key]
        return FrozenDict(items)


EMPTY: FrozenDict[Any, Any] = FrozenDict()


def freeze_map(value: Mapping[K, V] | None) -> FrozenDict[K, V]:
    """Converter for mapping fields: pass a `FrozenDict` through, freeze anything else (one level)."""
    if type(value) is FrozenDict:
        return value
    if not value:
        return EMPTY
    return FrozenDict(value)


def to_tuple(value: Iterable[T] | None) -> tuple[T, ...]:
    """Converter for sequence fields: pass a tuple through, turn anything else into one."""
    if type(value) is tuple:
        return value
    if value is None:
        return ()
    if isinstance(value, str | bytes | Mapping):
        raise TypeError(f"expected a sequence, got {type(value).__name__}")
    return tuple(value)


def freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data: mappings become `FrozenDict`, lists become tuples."""
    if value is EMPTY:  # the common case: a model's `extra` with nothing in it
        return value
    if isinstance(value, Mapping):
        if type(value) is FrozenDict and all(_is_frozen(v) for v in value.values()):
            return value
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of `freeze`: plain dicts and lists, ready for JSON or YAML."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


def _is_frozen(value: Any) -> bool:
    if isinstance(value, Mapping):
        return type(value) is FrozenDict and all(_is_frozen(v) for v in value.values())
    if isinstance(value, list):
        return False
    if isinstance(value, tuple):
        return all(_is_frozen(v) for v in value)
    return True
