"""EtcdStore: the `Store` protocol over etcd v3, the way kube-apiserver keeps its objects there.

Objects live under apiserver-shaped keys (``/registry/core/pods/<namespace>/<name>``; the root is
configurable) as the JSON of their wire form, without ``resourceVersion``: an object's resourceVersion is
the key's ``mod_revision``, and the store's revision is etcd's. Every write is one etcd transaction, so it
commits with exactly one new revision or changes nothing:

- create puts the key only if its ``version`` is 0 (and the namespace is unchanged since it was checked);
- update, update_status, patch, delete and bind read the object, run the apiserver's steps
  (`store.writes`) and put the result only if the key's ``mod_revision`` is still the one read. When that
  compare-and-swap loses to another writer, the request is tried again on the new object, as the
  apiserver's GuaranteedUpdate does: a request that names a resourceVersion then fails with `Conflict`,
  one that does not is applied to the newer object;
- Services take ClusterIPs and node ports from an allocator rebuilt from the stored Services; every Service
  write compares and bumps one marker key, so two writers never hand out the same address.

Lists read page by page (``limit`` and the last key, like the apiserver's ``continue``) at the revision of
the first page, so a list of any size is one consistent snapshot. A watch is one etcd watch over the
kind's key range, from the revision after ``since``; a compacted start or a watcher cancelled for falling
behind ends with `Gone`. Progress notifications become BOOKMARKs.

The one thing etcd cannot express in a single revision is a removal that also changes the object (an
update that removes the last finalizer of a deleting object): etcd's delete event carries the previous
value. The transaction therefore also puts the final state under ``<key>\\0`` (a key no name can produce,
skipped by lists, cleared by the next create of that name), and watchers take the DELETED object from it.

What this is not: a cache. Every read goes to etcd; controllers read from informers.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import aetcd
import grpc
from aetcd import rpc

from store import writes
from store.allocation import DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, ServiceAllocator
from store.errors import AlreadyExists, Gone, InternalError, already_exists, not_found
from store.filtering import as_field_selector, as_selector, matches, parse_revision, translate
from store.interface import (
    EventType,
    FieldSelectable,
    ListResult,
    PatchType,
    PropagationPolicy,
    Selectable,
    WatchBase,
    WatchEvent,
)
from store.models import Namespace, Object, ObjectMeta, Pod, Service, with_fields
from store.scheme import KindInfo, Scheme
from store.seams import Rng, TimeSource, WallTime, make_rng, random_suffix, random_uid
from store.selectors import FieldSelector, Selector

M = TypeVar("M", bound=Object)

#: The largest gRPC message the client accepts (gRPC's default is 4 MiB; one page stays well under).
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
#: Objects per list page, as the apiserver's informers ask for.
DEFAULT_PAGE_SIZE = 500
_FINAL_SUFFIX = b"\x00"


def _prefix_end(prefix: bytes) -> bytes:
    """The end of the key range holding every key that starts with ``prefix``."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def parse_url(url: str) -> tuple[str, int]:
    """``etcd://HOST:PORT`` as (host, port); `ValueError` saying what is wrong otherwise."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "etcd" or not parsed.hostname:
        raise ValueError(f"not an etcd address: {url!r} (expected etcd://HOST:PORT)")
    try:
        port = parsed.port or 2379
    except ValueError:
        raise ValueError(f"not an etcd address: {url!r} (the port is not a number)") from None
    if parsed.path not in ("", "/"):
        raise ValueError(f"not an etcd address: {url!r} (no path expected)")
    return parsed.hostname, port


class EtcdStore:
    """A `Store` kept in etcd.

    Open it with ``async with EtcdStore.at("etcd://127.0.0.1:2379") as store:`` (or `open`/`close`).
    ``root`` is the key prefix (``/registry`` like the apiserver; use another to share one etcd between
    independent stores). ``clock`` stamps timestamps and ``rng`` (or ``seed``) draws uids and generated
    names, as for `store.memory.MemoryStore`. ``page_size`` is how many objects one list request reads.
    """

    def __init__(
        self,
        client: aetcd.Client,
        scheme: Scheme | None = None,
        *,
        root: str = "/registry",
        clock: TimeSource | None = None,
        rng: Rng | None = None,
        seed: int | None = None,
        system_namespaces: bool = True,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
        node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._client = client
        self._scheme = scheme or Scheme()
        self._root = root.rstrip("/")
        self._clock = clock or WallTime()
        self._rng = rng or make_rng(seed)
        self._system_namespaces = system_namespaces
        self._service_cidr = service_cidr
        self._node_port_range = node_port_range
        self._page_size = page_size
        self._revision = 0
        self._floor = 0
        self._prefixes: dict[KindInfo, bytes] = {}
        self._kv: Any = None
        self._watch_stub: Any = None
        self._watches: set[EtcdWatch[Any]] = set()
        self._services_marker = f"{self._root}/ranges/services".encode()

    @classmethod
    def at(cls, url: str, scheme: Scheme | None = None, **options: Any) -> EtcdStore:
        """A store on the etcd at ``etcd://HOST:PORT`` (not yet open)."""
        host, port = parse_url(url)
        client = aetcd.Client(
            host=host,
            port=port,
            options={
                "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
                "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
            },
        )
        return cls(client, scheme, **options)

    async def open(self) -> Self:
        """Connect, learn the current revision and create the system namespaces that are missing."""
        await self._client.connect()
        self._kv = self._client.kvstub
        self._watch_stub = rpc.WatchStub(self._client.channel)
        response = await self._call(self._kv.Range, rpc.RangeRequest(key=self._services_marker))
        self._seen(response.header.revision)
        if self._system_namespaces:
            for name in writes.SYSTEM_NAMESPACES:
                with contextlib.suppress(AlreadyExists):
                    await self.create(Namespace(metadata=ObjectMeta(name=name)))
        return self

    async def close(self) -> None:
        """End every open watch and disconnect."""
        for watch in list(self._watches):
            watch.close()
        await self._client.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- introspection ------------------------------------------------------------------------

    @property
    def scheme(self) -> Scheme:
        return self._scheme

    @property
    def revision(self) -> int:
        """The newest revision this store has seen etcd at (its own writes and reads included)."""
        return self._revision

    @property
    def compacted(self) -> int:
        """The highest revision this store compacted away (0 when it compacted nothing)."""
        return self._floor

    async def compact(self, revision: int) -> None:
        """Forget history up to and including ``revision`` (etcd compaction), as MemoryStore.compact."""
        revision = min(revision, self._revision)
        if revision <= self._floor:
            return
        self._floor = revision
        # etcd keeps the state at its compaction revision watchable, so compact one revision further;
        # but not past the start of a watch of this store that etcd has yet to confirm.
        target = min(revision + 1, await self.current_revision())
        for watch in self._watches:
            if not watch._created:
                target = min(target, watch._revision + 1)
        # Gone: etcd had compacted that far already (by this store or another on the same server).
        with contextlib.suppress(Gone):
            await self._call(self._kv.Compact, rpc.CompactionRequest(revision=target, physical=False))

    async def current_revision(self) -> int:
        """etcd's revision now (one round trip)."""
        response = await self._call(self._kv.Range, rpc.RangeRequest(key=self._services_marker))
        return self._seen(response.header.revision)

    def key(self, info: KindInfo, namespace: str, name: str) -> bytes:
        """The etcd key of an object: ``<root>/<group>/<plural>/[<namespace>/]<name>``."""
        if info.namespaced:
            return self._prefix(info) + f"{namespace}/{name}".encode()
        return self._prefix(info) + name.encode()

    # --- reads --------------------------------------------------------------------------------

    async def get(self, kind: type[M], name: str, namespace: str = "") -> M:
        info = self._scheme.info(kind)
        obj, _ = await self._read(info, self.key(info, writes.namespace_of(info, namespace), name))
        if obj is None:
            raise not_found(info.resource, name)
        return cast(M, obj)

    async def list(
        self,
        kind: type[M],
        *,
        namespace: str | None = None,
        label_selector: Selectable = None,
        field_selector: FieldSelectable = None,
    ) -> ListResult[M]:
        info = self._scheme.info(kind)
        labels = as_selector(label_selector)
        fields = as_field_selector(info, field_selector)
        prefix = self._prefix(info)
        one_namespace = bool(namespace) and info.namespaced
        if one_namespace:
            prefix += f"{namespace}/".encode()
        items, revision = await self._range(info, prefix)
        if labels is not None or fields is not None:
            items = [obj for obj in items if matches(info, obj, labels, fields)]
        if info.namespaced and not one_namespace:
            # Key order puts "a-b/x" before "a/x"; the Store protocol orders by namespace, then name.
            items.sort(key=_namespace_and_name)
        return ListResult(items=cast(tuple[M, ...], tuple(items)), revision=revision)

    async def _range(self, info: KindInfo, prefix: bytes) -> tuple[builtins.list[Object], int]:
        """Every object under ``prefix``, read in pages at the revision of the first page."""
        while True:
            items: list[Object] = []
            start, end = prefix, _prefix_end(prefix)
            revision = 0
            try:
                while True:
                    request = rpc.RangeRequest(
                        key=start, range_end=end, limit=self._page_size, revision=revision
                    )
                    response = await self._call(self._kv.Range, request)
                    if not revision:
                        revision = self._seen(response.header.revision)
                    items.extend(
                        self._decode(kv.value, kv.mod_revision)
                        for kv in response.kvs
                        if not kv.key.endswith(_FINAL_SUFFIX)
                    )
                    if not response.more or not response.kvs:
                        return items, revision
                    start = response.kvs[-1].key + b"\x00"
            except Gone:
                continue  # compacted between two pages: read a newer snapshot

    # --- writes -------------------------------------------------------------------------------

    async def create(self, obj: M) -> M:
        info = self._scheme.info(type(obj))
        meta = obj.metadata
        namespace = writes.namespace_of(info, meta.namespace)
        while True:
            compares = []
            if info.namespaced:
                ns_info = self._scheme.info(Namespace)
                ns_key = self.key(ns_info, "", namespace)
                ns, ns_revision = await self._read(ns_info, ns_key)
                writes.check_namespace_accepts(ns_info, ns, info, namespace, meta.name or meta.generate_name)
                compares.append(_mod_equals(ns_key, ns_revision))
            name = meta.name
            if not name and meta.generate_name:
                name = await self._generate_name(info, namespace, meta.generate_name)
            admitted = writes.admit_create(info, obj, name)
            key = self.key(info, namespace, name)
            existing, _ = await self._read(info, key)
            if existing is not None:
                raise already_exists(info.resource, name)
            writes.check_owners(self._scheme, info, meta)
            ops = []
            candidate: Object = admitted
            if isinstance(candidate, Service):
                allocator, marker = await self._service_allocator()
                candidate = allocator.allocate_create(candidate)
                compares.append(_mod_equals(self._services_marker, marker))
                ops.append(_put(self._services_marker, b""))
            created = writes.stamp_created(
                info,
                candidate,
                name=name,
                namespace=namespace,
                uid=random_uid(self._rng),
                now=self._now(),
                resource_version="",
            )
            compares.append(_version_equals(key, 0))
            ops.append(_put(key, self._encode(created)))
            ops.append(_delete(key + _FINAL_SUFFIX))
            revision = await self._txn(compares, ops)
            if revision:
                return cast(M, _at(created, revision))
            existing, _ = await self._read(info, key)
            if existing is not None:
                raise already_exists(info.resource, name)
            # The namespace or the Service addresses changed meanwhile: check again.

    async def update(self, obj: M) -> M:
        return await self._update(obj, status_only=False)

    async def update_status(self, obj: M) -> M:
        return await self._update(obj, status_only=True)

    async def _update(self, obj: M, *, status_only: bool) -> M:
        info = self._scheme.info(type(obj))
        writes.check_subresource(info, status_only=status_only)
        meta = obj.metadata
        key = self.key(info, writes.namespace_of(info, meta.namespace), meta.name)

        def apply(current: Object, revision: int) -> Awaitable[Object | None]:
            return self._apply_update(info, key, obj, current, revision, status_only=status_only)

        return cast(M, await self._guaranteed(info, key, meta.name, apply))

    async def _apply_update(
        self, info: KindInfo, key: bytes, obj: Object, current: Object, revision: int, *, status_only: bool
    ) -> Object | None:
        writes.check_update(info, obj, current)
        candidate = writes.update_candidate(info, obj, current, status_only=status_only)
        if not status_only and isinstance(candidate, Service):
            candidate = ServiceAllocator(self._service_cidr, self._node_port_range).prepare_update(
                candidate, cast(Service, current)
            )
        if candidate is current or candidate == current:
            return current
        changed_spec = False
        compares: list[Any] = []
        ops: list[Any] = []
        if status_only:
            writes.validate_status_update(info, candidate, current)
        else:
            changed_spec = writes.validate_update(self._scheme, info, candidate, current)
            if isinstance(candidate, Service):
                allocator, marker = await self._service_allocator()
                candidate = allocator.allocate_update(candidate, cast(Service, current))
                compares.append(_mod_equals(self._services_marker, marker))
                ops.append(_put(self._services_marker, b""))
        return await self._commit(
            info, key, candidate, current, revision, changed_spec=changed_spec, compares=compares, ops=ops
        )

    async def patch(
        self,
        kind: type[M],
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        namespace: str = "",
        *,
        patch_type: PatchType = "merge",
        status: bool = False,
    ) -> M:
        info = self._scheme.info(kind)
        key = self.key(info, writes.namespace_of(info, namespace), name)

        async def apply(current: Object, revision: int) -> Object | None:
            new = writes.apply_patch(self._scheme, info, current, patch, patch_type)
            writes.check_subresource(info, status_only=status)
            return await self._apply_update(info, key, new, current, revision, status_only=status)

        return cast(M, await self._guaranteed(info, key, name, apply))

    async def delete(
        self,
        kind: type[M],
        name: str,
        namespace: str = "",
        *,
        propagation_policy: PropagationPolicy | None = None,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
        resource_version: str | None = None,
    ) -> M:
        info = self._scheme.info(kind)
        key = self.key(info, writes.namespace_of(info, namespace), name)

        async def apply(current: Object, revision: int) -> Object | None:
            plan = writes.plan_delete(
                info,
                current,
                now=self._now(),
                propagation_policy=propagation_policy,
                grace_period_seconds=grace_period_seconds,
                uid=uid,
                resource_version=resource_version,
            )
            if plan.action is writes.Deletion.KEEP:
                return current
            if plan.action is writes.Deletion.REMOVE:
                final = None if plan.obj is current else plan.obj
                return await self._remove(key, current, revision, final=final)
            return await self._commit(info, key, plan.obj, current, revision)

        return cast(M, await self._guaranteed(info, key, name, apply))

    async def bind(self, name: str, namespace: str, node_name: str, *, uid: str | None = None) -> Pod:
        """Assign a pod to a node: the one way ``spec.nodeName`` is set after create."""
        info = self._scheme.info(Pod)
        key = self.key(info, writes.namespace_of(info, namespace), name)

        async def apply(current: Object, revision: int) -> Object | None:
            bound = writes.bind(info, cast(Pod, current), node_name, uid, now=self._now())
            return await self._commit(info, key, bound, current, revision)

        return cast(Pod, await self._guaranteed(info, key, name, apply))

    async def _guaranteed(
        self,
        info: KindInfo,
        key: bytes,
        name: str,
        apply: Callable[[Object, int], Awaitable[Object | None]],
    ) -> Any:
        """Read the object and ``apply`` the request to it until its compare-and-swap wins."""
        while True:
            current, revision = await self._read(info, key)
            if current is None:
                raise not_found(info.resource, name)
            result = await apply(current, revision)
            if result is not None:
                return result

    async def _commit(
        self,
        info: KindInfo,
        key: bytes,
        new: Object,
        old: Object,
        revision: int,
        *,
        changed_spec: bool | None = None,
        compares: Sequence[Any] = (),
        ops: Sequence[Any] = (),
    ) -> Object | None:
        """Put ``new`` in place of ``old`` (read at ``revision``), or remove it if it is done.

        None when another write got there first.
        """
        if writes.is_finished(new):
            return await self._remove(key, old, revision, final=new)
        generation = writes.next_generation(info, new, old, changed_spec)
        committed = with_fields(new, metadata=with_fields(new.metadata, generation=generation))
        committed_at = await self._txn(
            [_mod_equals(key, revision), *compares], [_put(key, self._encode(committed)), *ops]
        )
        return _at(committed, committed_at) if committed_at else None

    async def _remove(
        self, key: bytes, current: Object, revision: int, *, final: Object | None
    ) -> Object | None:
        """Delete the key; ``final`` is the last state when it differs from the stored one."""
        ops = [_delete(key)]
        if final is not None:
            ops.insert(0, _put(key + _FINAL_SUFFIX, self._encode(final)))
        removed_at = await self._txn([_mod_equals(key, revision)], ops)
        return _at(final or current, removed_at) if removed_at else None

    # --- watch --------------------------------------------------------------------------------

    def watch(
        self,
        kind: type[M],
        *,
        since: str | int | None = None,
        namespace: str | None = None,
        label_selector: Selectable = None,
        field_selector: FieldSelectable = None,
        bookmarks: bool = False,
    ) -> EtcdWatch[M]:
        """Watch ``kind`` for changes after revision ``since`` (default: the last this store has seen).

        A ``since`` this store compacted raises `Gone` at once; one compacted by another client raises it
        from the first `next_batch`.
        """
        if self._watch_stub is None:
            raise Gone("the store is not open")
        info = self._scheme.info(kind)
        start = self._revision if since in (None, "") else parse_revision(since)
        if start < self._floor:
            raise Gone(f"too old resource version: {start} ({self._floor})")
        watch: EtcdWatch[M] = EtcdWatch(
            self,
            info,
            start=start,
            namespace=namespace or None,
            labels=as_selector(label_selector),
            fields=as_field_selector(info, field_selector),
            bookmarks=bookmarks,
        )
        self._watches.add(watch)
        return watch

    # --- etcd ---------------------------------------------------------------------------------

    async def _call(self, method: Any, request: Any) -> Any:
        try:
            return await method(request)
        except grpc.aio.AioRpcError as exc:
            raise _store_error(exc) from exc

    def _seen(self, revision: int) -> int:
        self._revision = max(self._revision, revision)
        return revision

    async def _read(self, info: KindInfo, key: bytes) -> tuple[Object | None, int]:
        """The object under ``key`` and its mod_revision, or (None, 0)."""
        response = await self._call(self._kv.Range, rpc.RangeRequest(key=key))
        self._seen(response.header.revision)
        if not response.kvs:
            return None, 0
        kv = response.kvs[0]
        return self._decode(kv.value, kv.mod_revision), kv.mod_revision

    async def _txn(self, compares: Sequence[Any], ops: Sequence[Any]) -> int:
        """Run one transaction; its revision if the compares held, else 0."""
        response = await self._call(self._kv.Txn, rpc.TxnRequest(compare=compares, success=ops, failure=[]))
        self._seen(response.header.revision)
        return int(response.header.revision) if response.succeeded else 0

    async def _generate_name(self, info: KindInfo, namespace: str, prefix: str) -> str:
        for _ in range(writes.GENERATE_NAME_ATTEMPTS):
            name = writes.generated_name(prefix, random_suffix(self._rng))
            existing, _ = await self._read(info, self.key(info, namespace, name))
            if existing is None:
                return name
        raise writes.generate_name_conflict(info, name)

    async def _service_allocator(self) -> tuple[ServiceAllocator, int]:
        """An allocator holding what every stored Service holds, and the marker's mod_revision."""
        response = await self._call(self._kv.Range, rpc.RangeRequest(key=self._services_marker))
        marker = response.kvs[0].mod_revision if response.kvs else 0
        info = self._scheme.info(Service)
        services, _ = await self._range(info, self._prefix(info))
        allocator = ServiceAllocator(self._service_cidr, self._node_port_range)
        for service in services:
            allocator.hold(cast(Service, service))
        return allocator, marker

    def _prefix(self, info: KindInfo) -> bytes:
        prefix = self._prefixes.get(info)
        if prefix is None:
            path = info.key_prefix().removeprefix("/registry")
            prefix = self._prefixes[info] = f"{self._root}{path}".encode()
        return prefix

    def _encode(self, obj: Object) -> bytes:
        document = self._scheme.to_dict(obj)
        document["metadata"].pop("resourceVersion", None)
        return json.dumps(document, separators=(",", ":")).encode()

    def _decode(self, value: bytes, revision: int) -> Object:
        obj: Object = _at(self._scheme.from_dict(json.loads(value)), revision)
        return obj

    def _now(self) -> datetime:
        # Object timestamps have whole-second precision on the wire (metav1.Time).
        return self._clock.now().replace(microsecond=0)


class EtcdWatch(WatchBase[M]):
    """One etcd watch over a kind's key range, filtered by namespace, labels and fields here."""

    def __init__(
        self,
        store: EtcdStore,
        info: KindInfo,
        *,
        start: int,
        namespace: str | None,
        labels: Selector | None,
        fields: FieldSelector | None,
        bookmarks: bool,
    ) -> None:
        self._store = store
        self._info = info
        self._revision = start
        self._namespace = namespace
        self._labels = labels
        self._fields = fields
        self._bookmarks = bookmarks
        self._filtered = namespace is not None or labels is not None or fields is not None
        self._closed = False
        self._created = False
        self._stop = asyncio.Event()
        # The etcd watch is created now (its request is sent as soon as the loop runs), so a later
        # compaction cannot pull the start revision out from under it.
        self._call: Any = store._watch_stub.Watch(self._requests())

    @property
    def revision(self) -> int:
        """The revision of the last event (or progress notification) this watch has handed out."""
        return self._revision

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._store._watches.discard(self)
        self._stop.set()
        self._call.cancel()

    async def _requests(self) -> AsyncIterator[Any]:
        prefix = self._store._prefix(self._info)
        create = rpc.WatchCreateRequest(
            key=prefix, range_end=_prefix_end(prefix), start_revision=self._revision + 1, prev_kv=True
        )
        yield rpc.WatchRequest(create_request=create)
        # Ending the request stream would end the watch: hold it open until closed.
        await self._stop.wait()

    async def _read(self) -> Any:
        try:
            response = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            self.close()
            if exc.code() == grpc.StatusCode.CANCELLED:
                raise StopAsyncIteration from None
            raise _store_error(exc) from exc
        if response is grpc.aio.EOF:
            self.close()
            raise StopAsyncIteration
        if response.compact_revision:
            self.close()
            raise Gone(
                f"too old resource version: {self._revision} ({response.compact_revision}):"
                " the watcher fell behind the history kept"
            )
        if response.canceled:
            self.close()
            raise Gone(f"the watch was cancelled: {response.cancel_reason}")
        if response.created:
            self._created = True
        return response

    async def next_batch(self) -> list[WatchEvent[M]]:
        if self._closed:
            raise StopAsyncIteration
        while True:
            response = await self._read()
            if not response.events:
                continue
            batch = self._events(response.events)
            self._revision = max(self._revision, response.events[-1].kv.mod_revision)
            if batch:
                return batch
            if self._bookmarks:
                return [WatchEvent(EventType.BOOKMARK, None, self._revision)]

    def _events(self, raw: Sequence[Any]) -> list[WatchEvent[M]]:
        decode = self._store._decode
        finals: dict[bytes, Object] = {}
        batch: list[WatchEvent[M]] = []
        for event in raw:
            kv = event.kv
            revision = kv.mod_revision
            if kv.key.endswith(_FINAL_SUFFIX):
                if event.type == rpc.Event.PUT:
                    finals[kv.key[:-1]] = decode(kv.value, revision)
                continue
            previous = None
            if event.HasField("prev_kv"):
                previous = decode(event.prev_kv.value, event.prev_kv.mod_revision)
            if event.type == rpc.Event.DELETE:
                final = finals.pop(kv.key, None)
                last = final if final is not None else previous
                if last is None:
                    continue  # its previous value was compacted away: nothing to say what was deleted
                out: WatchEvent[Object] = WatchEvent(
                    EventType.DELETED, _at(last, revision), revision, previous
                )
            elif kv.create_revision == revision:
                out = WatchEvent(EventType.ADDED, decode(kv.value, revision), revision, None)
            else:
                out = WatchEvent(EventType.MODIFIED, decode(kv.value, revision), revision, previous)
            if not self._filtered:
                batch.append(cast(WatchEvent[M], out))
            else:
                seen: WatchEvent[M] | None = translate(out, self._selects)
                if seen is not None:
                    batch.append(seen)
        return batch

    def _selects(self, obj: Object) -> bool:
        return matches(self._info, obj, self._labels, self._fields, self._namespace)


def _at(obj: Object, revision: int) -> Any:
    return with_fields(obj, metadata=with_fields(obj.metadata, resource_version=str(revision)))


def _namespace_and_name(obj: Object) -> tuple[str, str]:
    return obj.metadata.namespace, obj.metadata.name


def _mod_equals(key: bytes, revision: int) -> Any:
    return rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, key=key, mod_revision=revision)


def _version_equals(key: bytes, version: int) -> Any:
    return rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.VERSION, key=key, version=version)


def _put(key: bytes, value: bytes) -> Any:
    return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value))


def _delete(key: bytes) -> Any:
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key))


def _store_error(exc: grpc.aio.AioRpcError) -> Exception:
    details = exc.details() or ""
    if "required revision has been compacted" in details:
        return Gone(f"too old resource version: {details}")
    return InternalError(f"etcd: {exc.code().name}: {details}")


async def open_store(url: str, scheme: Scheme | None = None, **options: Any) -> EtcdStore:
    """Connect to the etcd at ``etcd://HOST:PORT`` and return the open store."""
    return await EtcdStore.at(url, scheme, **options).open()
