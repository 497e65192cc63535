"""cordon, uncordon and drain: what ``kubectl cordon``, ``kubectl uncordon`` and ``kubectl drain`` do.

`cordon` sets the node's ``spec.unschedulable`` (the node lifecycle controller then adds the
``node.kubernetes.io/unschedulable:NoSchedule`` taint and the scheduler's NodeUnschedulable filter keeps new
pods off it); `uncordon` clears it. `drain` cordons, then deletes every pod on the node that a controller
will replace, the way kubectl's drain filters choose them (k8s.io/kubectl/pkg/drain/filters.go, in their
order): a DaemonSet pod that is still running refuses the drain unless ``ignore_daemonsets`` (then it
stays); mirror pods are left alone; a running pod with an emptyDir volume refuses it unless
``delete_emptydir_data``; a running pod with no controller refuses it unless ``force``; finished pods go
whatever owns them. Pods already terminating are chosen like any other (kubectl's
``--skip-wait-for-delete-timeout`` is 0 by default). A refused drain deletes nothing and leaves the node
cordoned, as kubectl does.

What it is not: the Eviction API. Pods are deleted directly (no PodDisruptionBudget is consulted), and
`drain` does not wait for them to be gone: settle the cluster, or watch, for that. There are no
DaemonSets in the store, so a DaemonSet named as a pod's controller is taken to exist.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from controllers.podutil import FAILED, SUCCEEDED
from store import Conflict, NotFound, Store
from store.models import Node, Pod

#: The annotation marking a kubelet's mirror of a static pod (kubetypes.ConfigMirrorAnnotationKey).
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"

UNMANAGED_FATAL = "cannot delete Pods that declare no controller (use --force to override)"
DAEMONSET_FATAL = "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
LOCAL_STORAGE_FATAL = "cannot delete Pods with local storage (use --delete-emptydir-data to override)"

_RETRIES = 5


class DrainError(Exception):
    """A drain refused: ``pods`` maps each reason to the pods (``namespace/name``) that caused it."""

    def __init__(self, node: str, pods: dict[str, list[str]]) -> None:
        self.node = node
        self.pods = pods
        detail = "; ".join(f"{reason}: {', '.join(names)}" for reason, names in pods.items())
        super().__init__(f'unable to drain node "{node}": {detail}')


def _name(node: str | Node) -> str:
    return node if isinstance(node, str) else node.metadata.name


async def _set_unschedulable(store: Store, node: str | Node, unschedulable: bool) -> Node:
    name = _name(node)
    for _ in range(_RETRIES):
        current = await store.get(Node, name)
        if current.spec.unschedulable == unschedulable:
            return current
        try:
            return await store.update(
                attrs.evolve(current, spec=attrs.evolve(current.spec, unschedulable=unschedulable))
            )
        except Conflict:
            continue
    raise Conflict(f'could not {"cordon" if unschedulable else "uncordon"} node "{name}": too many conflicts')


async def cordon(store: Store, node: str | Node) -> Node:
    """Mark the node unschedulable; returns the node as stored."""
    return await _set_unschedulable(store, node, True)


async def uncordon(store: Store, node: str | Node) -> Node:
    """Mark the node schedulable again; returns the node as stored."""
    return await _set_unschedulable(store, node, False)


def _pod_key(pod: Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def _has_local_storage(pod: Pod) -> bool:
    """hasLocalStorage: an emptyDir volume (volumes are not modelled; they are in the wire extras)."""
    volumes = pod.spec.extra.get("volumes") or ()
    return any(isinstance(volume, Mapping) and volume.get("emptyDir") is not None for volume in volumes)


def pods_to_delete(
    pods: list[Pod],
    *,
    force: bool = False,
    ignore_daemonsets: bool = False,
    delete_emptydir_data: bool = False,
) -> tuple[list[Pod], dict[str, list[str]]]:
    """The pods a drain deletes, and every pod that refuses it by reason (GetPodsForDeletion).

    kubectl's filters in their order, the first that keeps a pod deciding: daemonSetFilter,
    mirrorPodFilter, localStorageFilter, unreplicatedFilter.
    """
    chosen: list[Pod] = []
    refusals: dict[str, list[str]] = {}
    for pod in pods:
        finished = pod.status.phase in (SUCCEEDED, FAILED)
        controller = pod.metadata.controller_ref()
        refusal = ""
        if controller is not None and controller.kind == "DaemonSet" and not finished:
            if ignore_daemonsets:
                continue
            refusal = DAEMONSET_FATAL
        elif MIRROR_POD_ANNOTATION in pod.metadata.annotations:
            continue
        elif _has_local_storage(pod) and not finished and not delete_emptydir_data:
            refusal = LOCAL_STORAGE_FATAL
        elif controller is None and not finished and not force:
            refusal = UNMANAGED_FATAL
        if refusal:
            refusals.setdefault(refusal, []).append(_pod_key(pod))
        else:
            chosen.append(pod)
    return chosen, refusals


async def drain(
    store: Store,
    node: str | Node,
    *,
    force: bool = False,
    ignore_daemonsets: bool = False,
    delete_emptydir_data: bool = False,
    grace_period_seconds: int | None = None,
) -> list[Pod]:
    """Cordon the node and delete the pods on it that may go; returns them as deleted (terminating).

    Raises `DrainError` (after cordoning, before deleting anything) when a pod without a controller is
    on the node and ``force`` is not given, a DaemonSet pod without ``ignore_daemonsets``, or a pod with
    an emptyDir volume without ``delete_emptydir_data``. ``grace_period_seconds`` overrides each pod's
    terminationGracePeriodSeconds.
    """
    name = _name(node)
    await cordon(store, name)
    listed = await store.list(Pod, field_selector=f"spec.nodeName={name}")
    chosen, refusals = pods_to_delete(
        list(listed.items),
        force=force,
        ignore_daemonsets=ignore_daemonsets,
        delete_emptydir_data=delete_emptydir_data,
    )
    if refusals:
        raise DrainError(name, refusals)
    deleted: list[Pod] = []
    for pod in chosen:
        try:
            deleted.append(
                await store.delete(
                    Pod,
                    pod.metadata.name,
                    pod.metadata.namespace,
                    grace_period_seconds=grace_period_seconds,
                    uid=pod.metadata.uid,
                )
            )
        except (NotFound, Conflict):
            continue  # gone already, or replaced by a new pod of the same name
    return deleted
