"""The apiserver's write path, apart from where objects are kept: what each request stores, or why not.

Every backend runs the same steps: a request is checked and turned into the object to commit from the
object currently stored (or none), then the backend commits it atomically under one new revision. This
module holds those steps as functions of values — preconditions, defaulting, validation, managed
metadata, deletion with finalizers and grace periods, binding, patches — so `store.memory.MemoryStore`
and `store.etcd.EtcdStore` apply exactly the same rules. Per-kind rules live in `store.strategy`;
Service address allocation, which needs the set of addresses held, in `store.allocation`.

What this is not: storage. Nothing here reads or writes a store, draws randomness or reads a clock.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import attrs
import jsonpatch

from store import strategy
from store.errors import (
    OPTIMISTIC_LOCK_MESSAGE,
    AlreadyExists,
    BadRequest,
    Forbidden,
    Invalid,
    MethodNotAllowed,
    conflict,
    not_found,
)
from store.interface import PatchType, PropagationPolicy
from store.models import (
    Namespace,
    Object,
    ObjectMeta,
    Pod,
    PodCondition,
    replace,
    status_of,
    with_fields,
)
from store.scheme import KindInfo, Scheme
from store.validation import FieldError, go_repr

POD_SCHEDULED = "PodScheduled"
_BINDING = "pods/binding"

M = TypeVar("M", bound=Object)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
#: The namespaces the NamespaceLifecycle admission plugin never lets anyone delete.
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
FINALIZER_ORPHAN = strategy.FINALIZER_ORPHAN
FINALIZER_FOREGROUND = strategy.FINALIZER_FOREGROUND


def namespace_of(info: KindInfo, namespace: str) -> str:
    """The namespace an object of ``info`` lives in: "" when cluster-scoped, "default" when unset."""
    if not info.namespaced:
        return ""
    return namespace or "default"


# --- create --------------------------------------------------------------------------------------


#: How many names a create with generateName tries before giving up (maxNameGenerationCreateAttempts).
GENERATE_NAME_ATTEMPTS = 8
#: SimpleNameGenerator keeps at most this much of a prefix, so that a generated name fits in 63.
MAX_GENERATED_NAME_PREFIX = 58


def generated_name(prefix: str, suffix: str) -> str:
    """A name made from a generateName ``prefix`` and a random ``suffix`` (SimpleNameGenerator)."""
    return prefix[:MAX_GENERATED_NAME_PREFIX] + suffix


def generate_name_conflict(info: KindInfo, name: str) -> AlreadyExists:
    """errors.NewGenerateNameConflict: every generated name tried was taken."""
    return AlreadyExists(
        f'{info.resource} "{name}" already exists, the server was not allowed to generate a unique name'
    )


def admit_create(info: KindInfo, obj: M, name: str) -> M:
    """``obj`` named ``name``, defaulted and prepared for create; `BadRequest` or `Invalid` if it may not be.

    ``name`` is the object's own name, or the one generated from its generateName: as upstream, the
    name is generated before validation, which checks both.
    """
    meta = obj.metadata
    if meta.resource_version:
        raise BadRequest("resourceVersion should not be set on objects to be created")
    if name != meta.name:
        obj = with_fields(obj, metadata=with_fields(meta, name=name))
    obj = cast(M, strategy.prepare_for_create(strategy.default(obj), info))
    errors = strategy.validate(obj, info)
    if errors:
        raise Invalid(info.qualified_kind, name, errors)
    return obj


def stamp_created(
    info: KindInfo, obj: M, *, name: str, namespace: str, uid: str, now: datetime, resource_version: str
) -> M:
    """``obj`` with the metadata the store sets on create."""
    stamped = with_fields(
        obj.metadata,
        name=name,
        namespace=namespace,
        uid=uid,
        creation_timestamp=now,
        deletion_timestamp=None,
        deletion_grace_period_seconds=None,
        generation=1 if info.tracks_generation else 0,
        resource_version=resource_version,
    )
    return with_fields(obj, metadata=stamped)


def check_namespace_accepts(
    ns_info: KindInfo, ns: Object | None, info: KindInfo, namespace: str, name: str
) -> None:
    """Raise `NotFound` when namespace ``ns`` is missing and `Forbidden` while it terminates."""
    if ns is None:
        raise not_found(ns_info.resource, namespace)
    if ns.metadata.deletion_timestamp is not None:
        raise Forbidden(
            f'{info.resource} "{name}" is forbidden: unable to create new content in'
            f" namespace {namespace} because it is being terminated"
        )


def check_owners(scheme: Scheme, info: KindInfo, meta: ObjectMeta) -> None:
    """A cluster-scoped object may not be owned by a namespaced one."""
    if info.namespaced:
        return
    errors = []
    for index, ref in enumerate(meta.owner_references):
        owner = scheme.info_for(ref.api_version, ref.kind)
        if owner is not None and owner.namespaced:
            errors.append(
                FieldError(
                    f"metadata.ownerReferences[{index}]",
                    f"Invalid value: {ref.kind}/{ref.name}: a cluster-scoped object cannot"
                    " be owned by a namespaced object",
                )
            )
    if errors:
        raise Invalid(info.qualified_kind, meta.name, errors)


# --- update --------------------------------------------------------------------------------------


def check_subresource(info: KindInfo, *, status_only: bool) -> None:
    """Raise `MethodNotAllowed` for a status update of a kind without a status subresource."""
    if status_only and not info.status_subresource:
        raise MethodNotAllowed(f"{info.resource} have no status subresource")


def check_update(info: KindInfo, obj: Object, current: Object) -> None:
    """Raise `Conflict` when ``obj`` names another resourceVersion or uid than ``current`` has."""
    meta = obj.metadata
    old_meta = current.metadata
    # The uid is a storage precondition, checked before the update compares resourceVersions.
    check_storage_preconditions(info, old_meta, meta.uid or None, None)
    if meta.resource_version and meta.resource_version != old_meta.resource_version:
        raise conflict(info.resource, meta.name, OPTIMISTIC_LOCK_MESSAGE)


def update_candidate(info: KindInfo, obj: M, current: M, *, status_only: bool) -> M:
    """What an update of ``current`` with ``obj`` would store, before validation.

    A status update takes only the status: it is ``current`` itself when the status is equal, else
    ``current`` with the new status and nothing else changed (backends commit it without comparing
    again). A main-resource update keeps the store-managed metadata and, where the kind has a status
    subresource, the current status. Services still need
    `store.allocation.ServiceAllocator.prepare_update` applied by the caller.
    """
    if status_only:
        status = status_of(obj)
        if status is status_of(current) or status == status_of(current):
            return current
        # Only the status changes, and it is already a constructed value: no converters to run.
        return with_fields(current, status=status)
    candidate = _with_managed_metadata(cast(M, strategy.default(obj)), current.metadata)
    if info.status_subresource and status_of(candidate) is not status_of(current):
        candidate = replace(candidate, status=status_of(current))
    return candidate


def unchanged(candidate: Object, current: Object, *, changed_spec: bool) -> bool:
    """Whether ``candidate == current``, given whether its spec changed (`strategy.spec_changed`).

    Every field but metadata and status is the spec's, so only those two are left to compare, identity
    first: an update rebuilds only what it changes, and the rest is shared with the stored object.
    """
    if changed_spec or type(candidate) is not type(current):
        return False
    meta, old_meta = candidate.metadata, current.metadata
    if meta is not old_meta and meta != old_meta:
        return False
    status, old_status = status_of(candidate), status_of(current)
    return status is old_status or bool(status == old_status)


def validate_update(
    scheme: Scheme, info: KindInfo, candidate: Object, current: Object, *, changed_spec: bool | None = None
) -> bool:
    """Raise `Invalid` if ``candidate`` may not replace ``current``; return whether the spec changed.

    ``changed_spec`` is `strategy.spec_changed` of the two, when the caller has it already.
    """
    if changed_spec is None:
        changed_spec = strategy.spec_changed(candidate, current)
    errors = strategy.validate_update(candidate, current, info, changed_spec=changed_spec)
    if errors:
        raise Invalid(info.qualified_kind, candidate.metadata.name, errors)
    check_owners(scheme, info, candidate.metadata)
    return changed_spec


def validate_status_update(info: KindInfo, candidate: Object, current: Object) -> None:
    """Raise `Invalid` if ``candidate``'s status may not replace ``current``'s (the status strategy)."""
    errors = strategy.validate_status_update(candidate, current, info)
    if errors:
        raise Invalid(info.qualified_kind, candidate.metadata.name, errors)


def is_finished(obj: Object) -> bool:
    """Whether a deleting object has nothing left holding it: committing it removes it."""
    meta = obj.metadata
    return (
        meta.deletion_timestamp is not None
        and not meta.deletion_grace_period_seconds
        and not strategy.blocking_finalizers(obj)
    )


def next_generation(info: KindInfo, new: Object, old: Object, changed_spec: bool | None) -> int:
    """``new``'s generation once committed: one more than before when its spec changed."""
    generation = new.metadata.generation
    if not info.tracks_generation:
        return generation
    if changed_spec is None:
        changed_spec = strategy.spec_changed(new, old)
    return generation + 1 if changed_spec else generation


# --- patch ---------------------------------------------------------------------------------------


def apply_patch(
    scheme: Scheme,
    info: KindInfo,
    current: Object,
    patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    patch_type: PatchType,
) -> Object:
    """``current`` with ``patch`` applied to its wire form; raises `BadRequest` for a bad patch."""
    document = scheme.to_dict(current)
    if patch_type == "merge":
        if not isinstance(patch, Mapping):
            raise BadRequest("a merge patch must be a JSON object")
        patched = merge_patch(document, patch)
    elif patch_type == "json":
        if isinstance(patch, Mapping):
            raise BadRequest("a JSON patch must be a list of operations")
        try:
            patched = jsonpatch.apply_patch(document, list(patch))
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise BadRequest(f"the JSON patch could not be applied: {exc}") from None
    else:
        raise BadRequest(f"unsupported patch type {patch_type!r}")
    if not isinstance(patched, Mapping):
        raise BadRequest("the patched object is not a JSON object")
    for field in ("apiVersion", "kind"):
        if patched.get(field) != document[field]:
            raise BadRequest(f"a patch may not change {field}")
    new = scheme.from_dict(patched)
    new_meta = new.metadata
    old_meta = current.metadata
    # checkName: the patched object must still be the one the request names; a namespace left out
    # is the request's.
    if new_meta.name != old_meta.name:
        raise BadRequest(
            f"the name of the object ({new_meta.name}) does not match the name on the URL ({old_meta.name})"
        )
    if info.namespaced and new_meta.namespace != old_meta.namespace:
        if new_meta.namespace:
            raise BadRequest(
                f"the namespace of the object ({new_meta.namespace}) does not match the namespace on the"
                f" URL ({old_meta.namespace})"
            )
        new = with_fields(new, metadata=with_fields(new_meta, namespace=old_meta.namespace))
    return new


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch (null removes a key; objects merge; the rest replaces)."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- delete --------------------------------------------------------------------------------------


class Deletion(enum.Enum):
    """What a delete request does to the stored object."""

    #: Nothing: the object is already being deleted.
    KEEP = "keep"
    #: Remove the object now.
    REMOVE = "remove"
    #: Commit the object as `DeletePlan.obj` (marked for deletion, or with a shortened grace period).
    COMMIT = "commit"


@attrs.frozen
class DeletePlan:
    action: Deletion
    obj: Object


def plan_delete(
    info: KindInfo,
    current: Object,
    *,
    now: datetime,
    propagation_policy: PropagationPolicy | None,
    grace_period_seconds: int | None,
    uid: str | None,
    resource_version: str | None,
) -> DeletePlan:
    """What deleting ``current`` does: preconditions, finalizers, grace period and propagation.

    As the registry's Store.Delete with rest.BeforeDelete: a pending graceful deletion only ever gets
    shorter; otherwise the propagation policy decides the garbage collector's finalizers, and an object
    that still has finalizers is only marked as being deleted.
    """
    meta = current.metadata
    if isinstance(current, Namespace):
        if meta.name in IMMORTAL_NAMESPACES:
            # The NamespaceLifecycle admission plugin, before the registry sees the request.
            raise Forbidden(f'{info.resource} "{meta.name}" is forbidden: this namespace may not be deleted')
        check_storage_preconditions(info, meta, uid, resource_version)
        return _plan_namespace_delete(current, now, propagation_policy)
    check_delete_preconditions(info, meta, uid, resource_version)
    if grace_period_seconds is not None and grace_period_seconds < 0:
        grace_period_seconds = 1  # BeforeDelete: a negative grace period means one second
    if meta.deletion_timestamp is not None:
        held = meta.deletion_grace_period_seconds
        if not held:
            return _plan_finalization(current, meta, now, propagation_policy, graceful=False)
        # A graceful deletion is pending: only a shorter grace period changes anything.
        if grace_period_seconds is None or grace_period_seconds >= held:
            return DeletePlan(Deletion.KEEP, current)
        shortened = with_fields(
            meta,
            deletion_timestamp=meta.deletion_timestamp - timedelta(seconds=held - grace_period_seconds),
            deletion_grace_period_seconds=grace_period_seconds,
        )
        return _plan_finalization(current, shortened, now, propagation_policy, graceful=True)
    grace = strategy.graceful_deletion_seconds(current, grace_period_seconds)
    if grace == 0:
        return _plan_finalization(current, meta, now, propagation_policy, graceful=False)
    graceful_meta = with_fields(
        meta,
        deletion_timestamp=now + timedelta(seconds=grace),
        deletion_grace_period_seconds=grace,
        generation=meta.generation + 1 if meta.generation else 0,
    )
    return _plan_finalization(current, graceful_meta, now, propagation_policy, graceful=True)


def _plan_finalization(
    current: Object,
    meta: ObjectMeta,
    now: datetime,
    propagation_policy: PropagationPolicy | None,
    *,
    graceful: bool,
) -> DeletePlan:
    """The rest of Store.Delete once the grace period is known: finalizers decide what stays.

    ``meta`` carries the graceful deletion's timestamp and grace period when ``graceful``; otherwise an
    object held by finalizers is marked as being deleted now, with no grace period (markAsDeleting).
    """
    finalizers = gc_finalizers(meta.finalizers, propagation_policy)
    if finalizers is not None:
        meta = with_fields(meta, finalizers=finalizers)
    if not meta.finalizers:
        if not graceful:
            return DeletePlan(Deletion.REMOVE, current)
        if not meta.deletion_grace_period_seconds:
            # Shortened to nothing: upstream writes the shortened object, then deletes it.
            return DeletePlan(Deletion.REMOVE, with_fields(current, metadata=meta))
    elif not graceful:
        deletion_timestamp = meta.deletion_timestamp
        if deletion_timestamp is None or deletion_timestamp > now:
            deletion_timestamp = now
        meta = with_fields(
            meta,
            deletion_timestamp=deletion_timestamp,
            deletion_grace_period_seconds=0,
            generation=meta.generation + 1
            if meta.generation and meta.deletion_timestamp is None
            else meta.generation,
        )
    if meta == current.metadata:
        return DeletePlan(Deletion.KEEP, current)
    return DeletePlan(Deletion.COMMIT, with_fields(current, metadata=meta))


def gc_finalizers(
    finalizers: tuple[str, ...], propagation_policy: PropagationPolicy | None
) -> tuple[str, ...] | None:
    """The finalizers a delete with ``propagation_policy`` leaves, or None when they stay as they are.

    deletionFinalizersForGarbageCollection: an explicit policy replaces whichever of ``orphan`` and
    ``foregroundDeletion`` the object carries (Background drops both); without one, the object keeps
    what it has. The default policy of every built-in kind here deletes dependents in background.
    """
    if propagation_policy is None:
        return None
    kept = [f for f in finalizers if f not in (FINALIZER_ORPHAN, FINALIZER_FOREGROUND)]
    if propagation_policy is PropagationPolicy.ORPHAN:
        kept.append(FINALIZER_ORPHAN)
    elif propagation_policy is PropagationPolicy.FOREGROUND:
        kept.append(FINALIZER_FOREGROUND)
    return None if set(kept) == set(finalizers) else tuple(kept)


def _plan_namespace_delete(
    namespace: Namespace, now: datetime, propagation_policy: PropagationPolicy | None
) -> DeletePlan:
    """The namespace registry's Delete: the first delete starts termination; the last one removes it.

    Termination sets the deletion timestamp and the Terminating phase (no grace period); the namespace
    stays while ``spec.finalizers`` is not empty, and is then deleted like any other object.
    """
    meta = namespace.metadata
    if meta.deletion_timestamp is not None:
        if namespace.spec.finalizers:
            return DeletePlan(Deletion.KEEP, namespace)
        return _plan_finalization(namespace, meta, now, propagation_policy, graceful=False)
    finalizers = gc_finalizers(meta.finalizers, propagation_policy)
    terminating_meta = with_fields(
        meta,
        deletion_timestamp=now,
        finalizers=meta.finalizers if finalizers is None else finalizers,
    )
    terminating = with_fields(
        namespace,
        metadata=terminating_meta,
        status=attrs.evolve(namespace.status, phase="Terminating"),
    )
    return DeletePlan(Deletion.COMMIT, terminating)


def check_delete_preconditions(
    info: KindInfo, meta: ObjectMeta, uid: str | None, resource_version: str | None
) -> None:
    """Raise `Conflict` when a delete's uid or resourceVersion precondition does not hold.

    Worded as rest.BeforeDelete words it, naming the kind where other conflicts name the resource.
    """
    if uid is not None and uid != meta.uid:
        raise conflict(
            info.qualified_kind,
            meta.name,
            f"the UID in the precondition ({uid}) does not match the UID in record ({meta.uid})."
            " The object might have been deleted and then recreated",
        )
    if resource_version is not None and resource_version != meta.resource_version:
        raise conflict(
            info.qualified_kind,
            meta.name,
            f"the ResourceVersion in the precondition ({resource_version}) does not match the"
            f" ResourceVersion in record ({meta.resource_version}). The object might have been modified",
        )


def check_storage_preconditions(
    info: KindInfo, meta: ObjectMeta, uid: str | None, resource_version: str | None
) -> None:
    """Raise `Conflict` when a write's uid or resourceVersion precondition does not hold.

    storage.Preconditions.Check, for writes that reach storage without rest.BeforeDelete: updates,
    bindings and namespace deletion.
    """
    if uid is not None and uid != meta.uid:
        raise conflict(
            info.resource,
            meta.name,
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.uid}",
        )
    if resource_version is not None and resource_version != meta.resource_version:
        raise conflict(
            info.resource,
            meta.name,
            f"Precondition failed: ResourceVersion in precondition: {resource_version},"
            f" ResourceVersion in object meta: {meta.resource_version}",
        )


# --- bind ----------------------------------------------------------------------------------------


def bind(info: KindInfo, pod: Pod, node_name: str, uid: str | None, *, now: datetime) -> Pod:
    """``pod`` assigned to ``node_name`` (the pods/binding subresource), or `Conflict`.

    As BindingREST.setPodNodeAndMetadata, the pod's PodScheduled condition becomes True (reason and
    message cleared, the transition time ``now`` unless it was True already).
    """
    name = pod.metadata.name
    check_storage_preconditions(info, pod.metadata, uid, None)
    # assignPod wraps these refusals as conflicts on the binding subresource.
    if pod.metadata.deletion_timestamp is not None:
        raise conflict(_BINDING, name, f"pod {name} is being deleted, cannot be assigned to a host")
    if pod.spec.node_name:
        assigned = go_repr(pod.spec.node_name)
        raise conflict(_BINDING, name, f"pod {name} is already assigned to node {assigned}")
    return with_fields(
        pod,
        spec=with_fields(pod.spec, node_name=node_name),
        status=with_fields(pod.status, conditions=_scheduled(pod.status.conditions, now)),
    )


def _scheduled(conditions: tuple[PodCondition, ...], now: datetime) -> tuple[PodCondition, ...]:
    """The conditions with PodScheduled=True (podutil.UpdatePodCondition)."""
    for index, condition in enumerate(conditions):
        if condition.type == POD_SCHEDULED:
            since = condition.last_transition_time if condition.status == "True" else now
            scheduled = _scheduled_since(since)
            return (*conditions[:index], scheduled, *conditions[index + 1 :])
    return (*conditions, _scheduled_since(now))


_SCHEDULED = PodCondition(type=POD_SCHEDULED, status="True")


@functools.lru_cache(maxsize=1)
def _scheduled_since(since: datetime | None) -> PodCondition:
    # Bindings come in bursts at one instant: one frozen condition serves them all.
    return with_fields(_SCHEDULED, last_transition_time=since)


# --- helpers -------------------------------------------------------------------------------------


def _with_managed_metadata(obj: M, current: ObjectMeta) -> M:
    """``obj`` with the metadata only the store manages taken from ``current``."""
    meta = obj.metadata
    if meta is current:
        return obj
    if (
        meta.uid == current.uid
        and meta.resource_version == current.resource_version
        and meta.generation == current.generation
        and meta.creation_timestamp == current.creation_timestamp
        and meta.deletion_timestamp == current.deletion_timestamp
        and meta.deletion_grace_period_seconds == current.deletion_grace_period_seconds
    ):
        return obj
    managed = attrs.evolve(
        meta,
        uid=current.uid,
        resource_version=current.resource_version,
        generation=current.generation,
        creation_timestamp=current.creation_timestamp,
        deletion_timestamp=current.deletion_timestamp,
        deletion_grace_period_seconds=current.deletion_grace_period_seconds,
    )
    return attrs.evolve(obj, metadata=managed)
