"""What kubectl's imperative commands do, as functions on a `Store`.

Each function changes objects the way its kubectl command does and returns kubectl's one-line report
(``deployment.apps/myblog scaled``): `scale` sets ``spec.replicas``; `set_image` changes container images in
the pod template (or a bare pod's spec); `rollout_undo` copies an earlier revision's template with
`controllers.deployment.rollback_template`; `rollout_pause` / `rollout_resume` set ``spec.paused``; `label`
adds, changes (with ``overwrite``) or removes (a ``None`` value) labels; `delete` deletes. `rollout_status`
and `rollout_history` read a deployment the way ``kubectl rollout status`` and ``rollout history`` do.
Cordon, uncordon and drain are in `controllers.drain`.

Writes retry on a conflict with a fresh read, as kubectl's patches effectively do. Errors are `KubectlError`
with kubectl's wording; a failed command changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

import attrs

from controllers.deployment import RollbackError, rollback_template
from controllers.deployment import util as deployment_util
from store import AlreadyExists, Conflict, Object, Store
from store.frozen import freeze_map
from store.models import Deployment, Namespace, Pod, PodSpec, ReplicaSet, replace
from store.scheme import KindInfo, Scheme

K = TypeVar("K", bound=Object)

#: The annotation ``kubectl rollout history`` shows as CHANGE-CAUSE.
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"

_RETRIES = 5


class KubectlError(ValueError):
    """A command that cannot be carried out; the message is what kubectl would say after ``error:``."""


def resource_name(obj: Object | type[Object]) -> str:
    """``deployment.apps`` / ``pod``: how kubectl names a kind in its reports."""
    cls = obj if isinstance(obj, type) else type(obj)
    group = cls.api_version.rpartition("/")[0]
    return f"{cls.kind.lower()}.{group}" if group else cls.kind.lower()


def _ref(obj: Object) -> str:
    return f"{resource_name(obj)}/{obj.metadata.name}"


async def _modify(store: Store, kind: type[K], name: str, namespace: str, change: Callable[[K], K]) -> K:
    """Apply ``change`` to the stored object and write it, re-reading on a conflict."""
    for _ in range(_RETRIES):
        current = await store.get(kind, name, namespace)
        changed = change(current)
        if changed is current:
            return current
        try:
            return await store.update(changed)
        except Conflict:
            continue
    raise KubectlError(f'{resource_name(kind)} "{name}": too many conflicts, try again')


# --- kinds -------------------------------------------------------------------------------------

#: kubectl's short names (``kubectl api-resources``, SHORTNAMES column).
SHORT_NAMES = {
    "po": "pods",
    "deploy": "deployments",
    "rs": "replicasets",
    "svc": "services",
    "ep": "endpoints",
    "no": "nodes",
    "ns": "namespaces",
    "ev": "events",
    "cm": "configmaps",
}


def resolve_kind(name: str, scheme: Scheme | None = None) -> KindInfo:
    """The kind kubectl means by ``name``: a short name, plural, singular or kind."""
    scheme = scheme or _scheme()
    wanted = name.lower()
    info = scheme.find(SHORT_NAMES.get(wanted, wanted))
    if info is None:
        raise KubectlError(f'the server doesn\'t have a resource type "{name}"')
    return info


def parse_target(target: str, scheme: Scheme | None = None) -> tuple[type[Object], str]:
    """``KIND/NAME`` (``deploy/myblog``) as the kind's class and the name."""
    kind, slash, name = target.partition("/")
    if not slash or not kind or not name:
        raise KubectlError(f'"{target}" is not KIND/NAME')
    return resolve_kind(kind, scheme).cls, name


# --- apply ---------------------------------------------------------------------------------------


async def apply(store: Store, objects: Iterable[Object]) -> list[str]:
    """``kubectl apply``: create each object, or replace what it sets on the stored one; namespaces first.

    Labels and the spec come from the manifest; annotations the manifest does not set (a deployment's
    revision, say) are kept, as a three-way merge keeps fields others own. Returns kubectl's lines
    (``deployment.apps/myblog created`` / ``configured`` / ``unchanged``).
    """
    reports: list[str] = []
    for obj in sorted(objects, key=lambda o: not isinstance(o, Namespace)):
        try:
            created = await store.create(obj)
        except AlreadyExists:
            pass
        else:
            reports.append(f"{_ref(created)} created")
            continue
        for _ in range(_RETRIES):
            current = await store.get(type(obj), obj.metadata.name, obj.metadata.namespace)
            annotations = freeze_map({**current.metadata.annotations, **obj.metadata.annotations})
            metadata = attrs.evolve(
                obj.metadata,
                resource_version=current.metadata.resource_version,
                uid="",
                annotations=annotations,
            )
            try:
                updated = await store.update(attrs.evolve(obj, metadata=metadata))
            except Conflict:
                continue
            same = updated.metadata.resource_version == current.metadata.resource_version
            reports.append(f"{_ref(updated)} {'unchanged' if same else 'configured'}")
            break
        else:
            raise KubectlError(f"{_ref(obj)}: too many conflicts, try again")
    return reports


# --- scale, set image ---------------------------------------------------------------------------


async def scale(
    store: Store, kind: type[Deployment | ReplicaSet], name: str, namespace: str, replicas: int
) -> str:
    """``kubectl scale --replicas``: set ``spec.replicas`` of a Deployment or ReplicaSet."""
    if replicas < 0:
        raise KubectlError(
            "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0"
        )

    def change(obj: Deployment | ReplicaSet) -> Deployment | ReplicaSet:
        if obj.spec.replicas == replicas:
            return obj
        return replace(obj, spec=replace(obj.spec, replicas=replicas))

    obj = await _modify(store, kind, name, namespace, change)
    return f"{_ref(obj)} scaled"


def _with_images(spec: PodSpec, images: Mapping[str, str], where: str) -> PodSpec:
    names = {container.name for container in (*spec.init_containers, *spec.containers)}
    for wanted in images:
        if wanted != "*" and wanted not in names:
            raise KubectlError(f'unable to find container named "{wanted}" in {where}')

    def image_of(container_name: str, image: str) -> str:
        return images.get(container_name, images.get("*", image))

    containers = tuple(attrs.evolve(c, image=image_of(c.name, c.image)) for c in spec.containers)
    init = tuple(attrs.evolve(c, image=image_of(c.name, c.image)) for c in spec.init_containers)
    if containers == spec.containers and init == spec.init_containers:
        return spec
    return attrs.evolve(spec, containers=containers, init_containers=init)


async def set_image(
    store: Store,
    kind: type[Deployment | ReplicaSet | Pod],
    name: str,
    namespace: str,
    images: Mapping[str, str],
) -> str:
    """``kubectl set image KIND/NAME CONTAINER=IMAGE...`` (``*`` for every container).

    A Deployment or ReplicaSet gets the new image in its pod template (a Deployment then rolls it out);
    a bare Pod in its spec.
    """
    if not images:
        raise KubectlError("at least one image update is required")

    def change(obj: Deployment | ReplicaSet | Pod) -> Deployment | ReplicaSet | Pod:
        where = f'{resource_name(obj)} "{obj.metadata.name}"'
        if isinstance(obj, Pod):
            spec = _with_images(obj.spec, images, where)
            return obj if spec is obj.spec else attrs.evolve(obj, spec=spec)
        template = obj.spec.template
        spec = _with_images(template.spec, images, where)
        if spec is template.spec:
            return obj
        return replace(obj, spec=replace(obj.spec, template=attrs.evolve(template, spec=spec)))

    obj = await _modify(store, kind, name, namespace, change)
    return f"{_ref(obj)} image updated"


# --- rollout --------------------------------------------------------------------------------------


async def _owned_replica_sets(store: Store, deployment: Deployment) -> list[ReplicaSet]:
    listed = await store.list(ReplicaSet, namespace=deployment.metadata.namespace)
    return [rs for rs in listed.items if deployment_util.is_controlled_by(rs, deployment)]


async def rollout_undo(store: Store, name: str, namespace: str, to_revision: int = 0) -> str:
    """``kubectl rollout undo deployment/NAME [--to-revision=N]`` (0: the revision before the current)."""
    for _ in range(_RETRIES):
        deployment = await store.get(Deployment, name, namespace)
        replica_sets = await _owned_replica_sets(store, deployment)
        try:
            rolled = rollback_template(deployment, replica_sets, to_revision)
        except RollbackError as exc:
            raise KubectlError(str(exc)) from None
        if rolled is deployment:
            # kubectl names the revision as it was asked for: 0 when undoing to the previous one.
            return (
                f"{_ref(deployment)} skipped rollback"
                f" (current template already matches revision {to_revision})"
            )
        try:
            await store.update(rolled)
        except Conflict:
            continue
        return f"{_ref(deployment)} rolled back"
    raise KubectlError(f'deployment.apps "{name}": too many conflicts, try again')


async def _set_paused(store: Store, name: str, namespace: str, paused: bool) -> str:
    deployment = await store.get(Deployment, name, namespace)
    if deployment.spec.paused == paused:
        raise KubectlError(f'deployments.apps "{name}" is {"already paused" if paused else "not paused"}')

    def change(obj: Deployment) -> Deployment:
        return attrs.evolve(obj, spec=attrs.evolve(obj.spec, paused=paused))

    obj = await _modify(store, Deployment, name, namespace, change)
    return f"{_ref(obj)} {'paused' if paused else 'resumed'}"


async def rollout_pause(store: Store, name: str, namespace: str) -> str:
    """``kubectl rollout pause``: set ``spec.paused``; the controller stops rolling the template out."""
    return await _set_paused(store, name, namespace, True)


async def rollout_resume(store: Store, name: str, namespace: str) -> str:
    """``kubectl rollout resume``: clear ``spec.paused``."""
    return await _set_paused(store, name, namespace, False)


@attrs.frozen
class RolloutStatus:
    """What ``kubectl rollout status`` says, and whether it would stop waiting (``done``)."""

    message: str
    done: bool
    failed: bool = False


def rollout_status(deployment: Deployment) -> RolloutStatus:
    """kubectl's DeploymentStatusViewer, word for word."""
    name = deployment.metadata.name
    status = deployment.status
    if deployment.metadata.generation > status.observed_generation:
        return RolloutStatus("Waiting for deployment spec update to be observed...", done=False)
    progressing = next((c for c in status.conditions if c.type == deployment_util.PROGRESSING), None)
    if progressing is not None and progressing.reason == deployment_util.TIMED_OUT_REASON:
        return RolloutStatus(f'deployment "{name}" exceeded its progress deadline', done=True, failed=True)
    wanted = deployment.spec.replicas
    if status.updated_replicas < wanted:
        return RolloutStatus(
            f'Waiting for deployment "{name}" rollout to finish:'
            f" {status.updated_replicas} out of {wanted} new replicas have been updated...",
            done=False,
        )
    if status.replicas > status.updated_replicas:
        return RolloutStatus(
            f'Waiting for deployment "{name}" rollout to finish:'
            f" {status.replicas - status.updated_replicas} old replicas are pending termination...",
            done=False,
        )
    if status.available_replicas < status.updated_replicas:
        return RolloutStatus(
            f'Waiting for deployment "{name}" rollout to finish:'
            f" {status.available_replicas} of {status.updated_replicas} updated replicas are available...",
            done=False,
        )
    return RolloutStatus(f'deployment "{name}" successfully rolled out', done=True)


@attrs.frozen
class Revision:
    """One line of ``kubectl rollout history``: a revision, its ReplicaSet and its change cause."""

    number: int
    replica_set: ReplicaSet
    change_cause: str


def rollout_history(deployment: Deployment, replica_sets: Iterable[ReplicaSet]) -> list[Revision]:
    """The deployment's revisions, oldest first, from the ReplicaSets it controls."""
    revisions: dict[int, Revision] = {}
    for rs in replica_sets:
        if not deployment_util.is_controlled_by(rs, deployment):
            continue
        try:
            number = deployment_util.revision(rs)
        except ValueError:
            continue
        cause = rs.metadata.annotations.get(CHANGE_CAUSE_ANNOTATION, "")
        revisions[number] = Revision(number, rs, cause)
    return [revisions[number] for number in sorted(revisions)]


# --- label, delete -------------------------------------------------------------------------------


async def label(
    store: Store,
    kind: type[Object],
    name: str,
    namespace: str,
    labels: Mapping[str, str | None],
    *,
    overwrite: bool = False,
) -> str:
    """``kubectl label KIND NAME KEY=VALUE... KEY-...``: a ``None`` value removes the label."""

    def change(obj: Object) -> Object:
        current = obj.metadata.labels
        for key, value in labels.items():
            if value is not None and key in current and current[key] != value and not overwrite:
                raise KubectlError(f"'{key}' already has a value ({current[key]}), and --overwrite is false")
        updated = dict(current)
        for key, value in labels.items():
            if value is None:
                updated.pop(key, None)
            else:
                updated[key] = value
        if updated == dict(current):
            return obj
        return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, labels=freeze_map(updated)))

    before = await store.get(kind, name, namespace)
    obj = await _modify(store, kind, name, namespace, change)
    changed = obj.metadata.resource_version != before.metadata.resource_version
    return f"{_ref(obj)} {'labeled' if changed else 'not labeled'}"


async def delete(store: Store, kind: type[Object], name: str, namespace: str) -> str:
    """``kubectl delete KIND NAME`` (background propagation: dependents go to the garbage collector)."""
    deleted = await store.delete(kind, name, namespace)
    return f'{resource_name(deleted)} "{name}" deleted'


def format_history(deployment: Deployment, revisions: Sequence[Revision]) -> str:
    """``kubectl rollout history deployment/NAME`` as kubectl prints it."""
    lines = [f"{_ref(deployment)} ", "REVISION  CHANGE-CAUSE"]
    lines.extend(f"{revision.number:<10}{revision.change_cause or '<none>'}" for revision in revisions)
    return "\n".join(lines)


@functools.cache
def _scheme() -> Scheme:
    return Scheme()
