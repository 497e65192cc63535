"""Reading a cluster the way kubectl does: ``get``, ``describe``, ``events``, ``rollout history|status``.

Each function reads a `Store` and returns the text kubectl prints, for the command line and for scenario
steps alike; ``now`` is the time ages are measured against (the cluster's clock, or the moment a saved
state was written). Errors are `controllers.kubectl.KubectlError` in kubectl's words.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime

from ruamel.yaml import YAML

from controllers import describe as describers
from controllers import kubectl, views
from controllers.events import creation_order
from store import MemoryStore, NotFound, Object, Scheme, Store
from store.manifests import dump, load
from store.models import Deployment, Endpoints, Event, Node, Pod, ReplicaSet, Service

OUTPUTS = ("", "wide", "yaml", "json", "name")


async def get(
    store: Store,
    kind: str,
    name: str | None = None,
    *,
    now: datetime,
    namespace: str = "default",
    all_namespaces: bool = False,
    selector: str | None = None,
    output: str = "",
) -> str:
    """``kubectl get KIND [NAME] [-o wide|yaml|json|name] [-l SELECTOR] [-n NS | -A]``."""
    if output not in OUTPUTS:
        raise kubectl.KubectlError(
            f'unable to match a printer suitable for the output format "{output}",'
            f" allowed formats are: {','.join(o for o in OUTPUTS if o)}"
        )
    info = kubectl.resolve_kind(kind, store.scheme)
    if name is not None:
        items: list[Object] = [await store.get(info.cls, name, namespace)]
    else:
        scope = None if all_namespaces or not info.namespaced else namespace
        listed = await store.list(info.cls, namespace=scope, label_selector=selector)
        items = list(listed.items)
        if info.cls is Event:
            items.sort(key=lambda e: creation_order(e) if isinstance(e, Event) else 0)
    if output in ("yaml", "json"):
        return _structured(store, items, single=name is not None, output=output)
    if output == "name":
        return "\n".join(f"{kubectl.resource_name(obj)}/{obj.metadata.name}" for obj in items)
    if not items:
        where = f" in {namespace} namespace" if info.namespaced and not all_namespaces else ""
        return f"No resources found{where}."
    view = views.view_of(info.cls, items, now, wide=output == "wide")
    if all_namespaces and info.namespaced:
        view = views.View(
            ("NAMESPACE", *view.columns),
            tuple((obj.metadata.namespace, *row) for obj, row in zip(items, view.rows, strict=True)),
        )
    return views.render(view)


def _structured(store: Store, items: list[Object], *, single: bool, output: str) -> str:
    if output == "yaml":
        if single:
            return dump(items, scheme=store.scheme).removeprefix("---\n").rstrip("\n")
        documents = [store.scheme.to_dict(obj) for obj in items]
        listed = {"apiVersion": "v1", "items": documents, "kind": "List", "metadata": {"resourceVersion": ""}}
        return _yaml_text(listed)
    documents = [store.scheme.to_dict(obj) for obj in items]
    body = (
        documents[0]
        if single
        else {"apiVersion": "v1", "items": documents, "kind": "List", "metadata": {"resourceVersion": ""}}
    )
    return json.dumps(body, indent=4)


def _yaml_text(data: object) -> str:
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue().rstrip("\n")


async def _events_about(store: Store, obj: Object) -> list[Event]:
    namespace = obj.metadata.namespace or "default"
    listed = await store.list(Event, namespace=namespace)
    return sorted((e for e in listed.items if e.involved_object.uid == obj.metadata.uid), key=creation_order)


async def describe(store: Store, kind: str, name: str, *, now: datetime, namespace: str = "default") -> str:
    """``kubectl describe KIND NAME``: the object, what it owns or selects, and its events."""
    info = kubectl.resolve_kind(kind, store.scheme)
    obj = await store.get(info.cls, name, namespace)
    events = await _events_about(store, obj)
    ns = obj.metadata.namespace
    if isinstance(obj, Deployment):
        replica_sets = (await store.list(ReplicaSet, namespace=ns)).items
        return describers.describe_deployment(obj, replica_sets, events, now)
    if isinstance(obj, ReplicaSet):
        pods = [
            pod
            for pod in (await store.list(Pod, namespace=ns)).items
            if (ref := pod.metadata.controller_ref()) is not None and ref.uid == obj.metadata.uid
        ]
        return describers.describe_replica_set(obj, pods, events, now)
    if isinstance(obj, Pod):
        return describers.describe_pod(obj, events, now)
    if isinstance(obj, Node):
        pods = list((await store.list(Pod, field_selector=f"spec.nodeName={name}")).items)
        return describers.describe_node(obj, pods, events, now)
    if isinstance(obj, Service):
        try:
            endpoints: Endpoints | None = await store.get(Endpoints, name, ns)
        except NotFound:
            endpoints = None
        return describers.describe_service(obj, endpoints, events, now)
    if isinstance(obj, Endpoints):
        return describers.describe_endpoints(obj, events, now)
    return describers.describe_generic(obj, events, now)


async def events(store: Store, *, now: datetime, namespace: str | None = "default") -> str:
    """``kubectl events`` / ``kubectl get events`` (``namespace=None``: every namespace)."""
    listed = await store.list(Event, namespace=namespace)
    items = sorted(listed.items, key=creation_order)
    if not items:
        where = f" in {namespace} namespace" if namespace else ""
        return f"No events found{where}."
    view = views.events(items, now)
    if namespace is None:
        view = views.View(
            ("NAMESPACE", *view.columns),
            tuple((e.metadata.namespace, *row) for e, row in zip(items, view.rows, strict=True)),
        )
    return views.render(view)


async def rollout_history(store: Store, name: str, *, namespace: str = "default") -> str:
    """``kubectl rollout history deployment/NAME``."""
    deployment = await store.get(Deployment, name, namespace)
    replica_sets = (await store.list(ReplicaSet, namespace=deployment.metadata.namespace)).items
    return kubectl.format_history(deployment, kubectl.rollout_history(deployment, replica_sets))


async def rollout_status(store: Store, name: str, *, namespace: str = "default") -> kubectl.RolloutStatus:
    """``kubectl rollout status deployment/NAME`` (the current answer; it does not wait)."""
    return kubectl.rollout_status(await store.get(Deployment, name, namespace))


# --- saved states ---------------------------------------------------------------------------------

_SAVED_AT = re.compile(r"^# setpoint state saved at (\S+)$", re.MULTILINE)


async def save_state(store: Store, now: datetime) -> str:
    """Every object in the store as one multi-document manifest set, headed by the time it was saved."""
    objects: list[Object] = []
    for info in store.scheme:
        objects.extend((await store.list(info.cls)).items)
    header = f"# setpoint state saved at {now.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
    return header + dump(objects, scheme=store.scheme)


def load_state(
    text: str, *, filename: str = "<string>", scheme: Scheme | None = None
) -> tuple[MemoryStore, datetime]:
    """A store holding the objects of a saved state as they were, and the time it was saved.

    Without the header (a manifest set from elsewhere), ages are measured from the newest timestamp
    of any object. Raises `store.manifests.InvalidManifest`.
    """
    objects = load(text, filename=filename, scheme=scheme)
    store = MemoryStore(scheme, system_namespaces=False)
    store.restore(objects)
    match = _SAVED_AT.search(text)
    if match is not None:
        return store, datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
    stamps = [
        obj.metadata.creation_timestamp for obj in objects if obj.metadata.creation_timestamp is not None
    ]
    stamps += [e.last_timestamp for e in objects if isinstance(e, Event) and e.last_timestamp is not None]
    return store, max(stamps, default=datetime.fromtimestamp(0, UTC))
