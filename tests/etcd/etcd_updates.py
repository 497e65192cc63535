"""The etcd tests' client-side update: read, change and write again on a lost compare-and-swap."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reconcile import RealClock, retry_on_conflict
from store import Store
from store.models import Object

K = TypeVar("K", bound=Object)


async def update_retrying(
    store: Store, kind: type[K], name: str, namespace: str, change: Callable[[K], K]
) -> K:
    """Read the object, ``change`` it and update it, again on a Conflict: the controllers write its
    status while the test changes its spec, and a client retries such a lost compare-and-swap."""

    async def attempt() -> K:
        return await store.update(change(await store.get(kind, name, namespace)))

    return await retry_on_conflict(attempt, clock=RealClock())
