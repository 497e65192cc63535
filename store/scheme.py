"""The Scheme: which kinds exist, how they are addressed, and how they convert to and from the wire.

A `KindInfo` names a kind (apiVersion, kind, plural, scope) and says how the store treats it (status
subresource, generation tracking, the fields a field selector may use). The Scheme maps classes and
apiVersion/kind pairs to `KindInfo`, and converts objects to and from the camelCase dict form with cattrs.
It does not validate semantics (that is `store.strategy`) and holds no objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from store import models
from store.errors import Invalid
from store.frozen import FrozenDict, freeze, thaw
from store.models import EMIT_EMPTY, MICRO_TIME, WIRE, GenericObject, Model, Object
from store.quantity import InvalidQuantity, Quantity, parse_quantity
from store.validation import FieldError

M = TypeVar("M", bound=Model)
K = TypeVar("K", bound=Object)

FieldGetter = Callable[[Any], str]

_ACRONYMS = {"ip": "IP", "ips": "IPs", "cidr": "CIDR", "cidrs": "CIDRs", "id": "ID", "uid": "UID"}


def wire_name(field: attrs.Attribute[Any]) -> str:
    """The camelCase wire name of a model field (``pod_ip`` → ``podIP``)."""
    explicit = field.metadata.get(WIRE)
    if explicit is not None:
        return cast(str, explicit)
    first, *rest = field.name.split("_")
    return first + "".join(_ACRONYMS.get(word, word.capitalize()) for word in rest)


@attrs.frozen(eq=False)
class KindInfo:
    """What the store needs to know about one kind (compared and hashed by identity)."""

    cls: type[Object]
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    status_subresource: bool = False
    tracks_generation: bool = False
    field_getters: Mapping[str, FieldGetter] = attrs.field(factory=dict, repr=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """The resource name used in API messages: ``pods``, ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """The kind as the apiserver names it in Invalid messages: ``Pod``, ``Deployment.apps``."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def key_prefix(self, namespace: str | None = None) -> str:
        """The apiserver-shaped key prefix: ``/registry/<group>/<plural>/[<namespace>/]``."""
        base = f"/registry/{self.group or 'core'}/{self.plural}/"
        return f"{base}{namespace}/" if self.namespaced and namespace else base

    def key(self, namespace: str, name: str) -> str:
        return f"{self.key_prefix(namespace)}{name}"


def _meta_fields() -> dict[str, FieldGetter]:
    return {
        "metadata.name": lambda obj: obj.metadata.name,
        "metadata.namespace": lambda obj: obj.metadata.namespace,
    }


def _builtin_field_getters() -> dict[type[Object], dict[str, FieldGetter]]:
    return {
        models.Pod: {
            "spec.nodeName": lambda pod: pod.spec.node_name,
            "spec.schedulerName": lambda pod: pod.spec.scheduler_name,
            "spec.restartPolicy": lambda pod: pod.spec.restart_policy,
            "spec.serviceAccountName": lambda pod: pod.spec.service_account_name,
            "spec.hostNetwork": lambda pod: str(pod.spec.host_network).lower(),
            "status.phase": lambda pod: pod.status.phase,
            "status.podIP": lambda pod: pod.status.pod_ip,
            "status.nominatedNodeName": lambda pod: pod.status.nominated_node_name,
        },
        models.Node: {"spec.unschedulable": lambda node: str(node.spec.unschedulable).lower()},
        models.Service: {
            "spec.clusterIP": lambda service: service.spec.cluster_ip,
            "spec.type": lambda service: service.spec.type,
        },
        models.Namespace: {"status.phase": lambda ns: ns.status.phase},
        models.Secret: {"type": lambda secret: secret.type},
        models.ReplicaSet: {"status.replicas": lambda rs: str(rs.status.replicas)},
        models.Event: {
            "involvedObject.kind": lambda ev: ev.involved_object.kind,
            "involvedObject.namespace": lambda ev: ev.involved_object.namespace,
            "involvedObject.name": lambda ev: ev.involved_object.name,
            "involvedObject.uid": lambda ev: ev.involved_object.uid,
            "involvedObject.apiVersion": lambda ev: ev.involved_object.api_version,
            "involvedObject.resourceVersion": lambda ev: ev.involved_object.resource_version,
            "involvedObject.fieldPath": lambda ev: ev.involved_object.field_path,
            "reason": lambda ev: ev.reason,
            "reportingComponent": lambda ev: ev.reporting_component,
            "source": lambda ev: ev.source.component,
            "type": lambda ev: ev.type,
        },
    }


# (class, plural, namespaced, status subresource, tracks generation)
_BUILTINS: tuple[tuple[type[Object], str, bool, bool, bool], ...] = (
    (models.Namespace, "namespaces", False, True, False),
    (models.Node, "nodes", False, True, False),
    (models.Pod, "pods", True, True, True),
    (models.Service, "services", True, True, False),
    (models.Endpoints, "endpoints", True, False, False),
    (models.ConfigMap, "configmaps", True, False, False),
    (models.Secret, "secrets", True, False, False),
    (models.Event, "events", True, False, False),
    (models.Lease, "leases", True, False, False),
    (models.ReplicaSet, "replicasets", True, True, True),
    (models.Deployment, "deployments", True, True, True),
)


class Scheme:
    """The registry of kinds; by default it knows the built-in kinds of `store.models`."""

    def __init__(self, *, builtins: bool = True) -> None:
        self._by_class: dict[type[Object], KindInfo] = {}
        self._by_gvk: dict[tuple[str, str], KindInfo] = {}
        self._converter = _make_converter()
        if builtins:
            getters = _builtin_field_getters()
            for cls, plural, namespaced, status, generation in _BUILTINS:
                self.register(
                    cls,
                    plural=plural,
                    namespaced=namespaced,
                    status_subresource=status,
                    tracks_generation=generation,
                    field_selectors=getters.get(cls, {}),
                )

    def register(
        self,
        cls: type[K],
        *,
        api_version: str | None = None,
        kind: str | None = None,
        plural: str | None = None,
        namespaced: bool = True,
        status_subresource: bool | None = None,
        tracks_generation: bool = True,
        field_selectors: Mapping[str, FieldGetter] | None = None,
    ) -> KindInfo:
        """Register a kind backed by ``cls``, a frozen attrs subclass of `Object`.

        ``cls`` needs a ``metadata: ObjectMeta`` field; ``api_version`` and ``kind`` default to the
        class attributes of the same names. A status subresource is assumed when the class has a
        ``status`` field. Custom kinds track generation like CRDs do.
        """
        api_version = api_version or getattr(cls, "api_version", "")
        kind = kind or getattr(cls, "kind", "") or cls.__name__
        if not api_version:
            raise ValueError(f"{cls.__name__}: an apiVersion is required to register a kind")
        is_attrs_class = attrs.has(cls)
        if not issubclass(cls, Object) or not is_attrs_class:
            raise TypeError(f"{cls.__name__} must be a frozen attrs subclass of store.models.Object")
        group, _, version = api_version.rpartition("/")
        if status_subresource is None:
            status_subresource = "status" in attrs.fields_dict(cls)
        info = KindInfo(
            cls=cls,
            group=group,
            version=version,
            kind=kind,
            plural=plural or _default_plural(kind),
            namespaced=namespaced,
            status_subresource=status_subresource,
            tracks_generation=tracks_generation,
            field_getters={**_meta_fields(), **(field_selectors or {})},
        )
        if (api_version, kind) in self._by_gvk:
            raise ValueError(f"{api_version}/{kind} is already registered")
        self._by_class[cls] = info
        self._by_gvk[(api_version, kind)] = info
        return info

    def register_generic(
        self,
        api_version: str,
        kind: str,
        *,
        plural: str | None = None,
        namespaced: bool = True,
    ) -> type[GenericObject]:
        """Register a custom kind without a class of its own; returns its `GenericObject` subclass."""
        cls = attrs.frozen(kw_only=True)(
            type(kind, (GenericObject,), {"api_version": api_version, "kind": kind})
        )
        self.register(cls, plural=plural, namespaced=namespaced, status_subresource=True)
        return cls

    def info(self, cls: type[Object]) -> KindInfo:
        try:
            return self._by_class[cls]
        except KeyError:
            raise KeyError(f"{cls.__name__} is not registered in this scheme") from None

    def info_for(self, api_version: str, kind: str) -> KindInfo | None:
        return self._by_gvk.get((api_version, kind))

    def __iter__(self) -> Iterator[KindInfo]:
        return iter(self._by_class.values())

    def __contains__(self, cls: object) -> bool:
        return cls in self._by_class

    def find(self, name: str) -> KindInfo | None:
        """A kind by the names kubectl accepts: kind, plural, singular, case-insensitively."""
        wanted = name.lower()
        for info in self:
            if wanted in (info.kind.lower(), info.plural, info.resource):
                return info
        return None

    # --- conversion ---------------------------------------------------------------------------

    def to_dict(self, obj: Object) -> dict[str, Any]:
        """The wire form of ``obj``: plain dicts and lists, camelCase, apiVersion and kind first."""
        info = self.info(type(obj))
        body = self._converter.unstructure(obj, type(obj))
        return {"apiVersion": info.api_version, "kind": info.kind, **body}

    def from_dict(self, data: Mapping[str, Any]) -> Object:
        """Build a typed object from its wire form; raises `Invalid` naming every bad field."""
        api_version, kind = data.get("apiVersion"), data.get("kind")
        info = self.info_for(str(api_version), str(kind))
        if info is None:
            raise Invalid(
                str(kind),
                _name_of(data),
                [FieldError("kind", f'no kind "{kind}" is registered for version "{api_version}"')],
            )
        body = {k: v for k, v in data.items() if k not in ("apiVersion", "kind")}
        return self.structure(body, info.cls, qualified_kind=info.qualified_kind)

    def structure(self, body: Mapping[str, Any], cls: type[M], *, qualified_kind: str = "") -> M:
        """Build ``cls`` from a wire-form mapping (without apiVersion/kind)."""
        try:
            return self._converter.structure(body, cls)
        except Exception as exc:
            causes = list(_field_errors(exc, cls, ""))
            raise Invalid(qualified_kind or cls.__name__, _name_of(body), causes) from None

    def unstructure(self, value: Any) -> Any:
        """The wire form of any model part (not only top-level objects)."""
        return self._converter.unstructure(value)


def _default_plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def _name_of(data: Mapping[str, Any]) -> str:
    metadata = data.get("metadata")
    if isinstance(metadata, Mapping):
        return str(metadata.get("name") or metadata.get("generateName") or "")
    return ""


# --- the cattrs converter ------------------------------------------------------------------------


def _format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_micro_time(value: datetime | None) -> str | None:
    # An unset optional MicroTime (a Lease's renewTime, an Event's eventTime) is left out.
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: Any, _: Any = None) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"invalid RFC 3339 timestamp: {value!r}") from None
    else:
        raise TypeError(f"expected an RFC 3339 timestamp string, got {_json_type(value)}")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _strict_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected string, got {_json_type(value)}")
    return value


def _strict_int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError(f"expected integer, got {_json_type(value)}")
    return value


def _strict_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected boolean, got {_json_type(value)}")
    return value


def _strict_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected number, got {_json_type(value)}")
    return float(value)


def _int_or_string(value: Any, _: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected integer or string, got {_json_type(value)}")
    return value


def _quantity(value: Any, _: Any) -> Quantity:
    if isinstance(value, Quantity):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected a quantity, got {_json_type(value)}")
    try:
        return parse_quantity(value if isinstance(value, str) else repr(value))
    except InvalidQuantity as exc:
        raise ValueError(str(exc)) from None


def _is_frozen_dict(type_: Any) -> bool:
    return get_origin(type_) is FrozenDict or type_ is FrozenDict


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(datetime, _parse_time)
    converter.register_unstructure_hook(datetime, _format_time)
    converter.register_structure_hook(Quantity, _quantity)
    converter.register_unstructure_hook(Quantity, str)
    converter.register_structure_hook(int | str, _int_or_string)
    converter.register_structure_hook(
        int | str | None, lambda v, t: None if v is None else _int_or_string(v, t)
    )

    def structure_frozen_dict(value: Any, type_: Any) -> FrozenDict[Any, Any]:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected object, got {_json_type(value)}")
        args = get_args(type_)
        value_type = args[1] if len(args) == 2 else Any
        if value_type is Any:
            return cast(FrozenDict[Any, Any], freeze(value))
        errors: list[Exception] = []
        items: dict[Any, Any] = {}
        for key, item in value.items():
            try:
                items[_strict_str(key, str)] = converter.structure(item, value_type)
            except Exception as exc:
                exc.__notes__ = [
                    *getattr(exc, "__notes__", []),
                    IterableValidationNote(f"@ key {key!r}", key, value_type),
                ]
                errors.append(exc)
        if errors:
            raise IterableValidationError("invalid mapping", errors, type_)
        return FrozenDict(items)

    converter.register_structure_hook_func(_is_frozen_dict, structure_frozen_dict)

    def unstructure_frozen_dict_fn(type_: Any) -> Callable[[Any], Any]:
        args = get_args(type_)
        value_type = args[1] if len(args) == 2 else Any
        if value_type is Any:
            return thaw
        unstructure_value = converter.get_unstructure_hook(value_type)
        return lambda mapping: {k: unstructure_value(v) for k, v in mapping.items()}

    converter.register_unstructure_hook_factory(_is_frozen_dict, unstructure_frozen_dict_fn)

    converter.register_structure_hook_factory(
        lambda t: attrs.has(t) and issubclass(t, Model),
        lambda cls: _structure_model_fn(cls, converter),
    )
    converter.register_unstructure_hook_factory(
        lambda t: attrs.has(t) and issubclass(t, Model),
        lambda cls: _unstructure_model_fn(cls, converter),
    )
    return converter


def _structure_model_fn(cls: type[M], converter: cattrs.Converter) -> Callable[[Any, Any], M]:
    fields = [f for f in attrs.fields(cls) if f.name != "extra"]
    overrides: dict[str, Any] = {"extra": override(omit=True)}
    for field in fields:
        hook = _parse_time if field.metadata.get(MICRO_TIME) else None
        overrides[field.name] = override(rename=wire_name(field), struct_hook=hook)
    base = make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=False, **overrides)
    known = frozenset(wire_name(field) for field in fields)

    def structure(data: Any, _: Any) -> M:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected object, got {_json_type(data)}")
        obj = base(data, cls)
        unknown = {k: v for k, v in data.items() if k not in known}
        return attrs.evolve(obj, extra=unknown) if unknown else obj

    return structure


def _unstructure_model_fn(cls: type[Model], converter: cattrs.Converter) -> Callable[[Any], Any]:
    fields = [f for f in attrs.fields(cls) if f.name != "extra"]
    overrides: dict[str, Any] = {"extra": override(omit=True)}
    for field in fields:
        hook = _format_micro_time if field.metadata.get(MICRO_TIME) else None
        overrides[field.name] = override(rename=wire_name(field), unstruct_hook=hook)
    base = make_dict_unstructure_fn(cls, converter, **overrides)
    # A field is left out of the wire form when it holds its own falsy default (omitempty).
    omittable = {
        wire_name(f): f.default
        for f in fields
        if f.default is not attrs.NOTHING
        and not isinstance(f.default, attrs.Factory)  # type: ignore[arg-type]
        and not f.default
        and not f.metadata.get(EMIT_EMPTY)
    }

    def unstructure(obj: Model) -> dict[str, Any]:
        body = base(obj)
        out = {
            k: v
            for k, v in body.items()
            if v is not None
            and not (k in omittable and not v and v == omittable[k])
            and not (isinstance(v, dict | list) and not v)
        }
        if obj.extra:
            out.update(thaw(obj.extra))
        return out

    return unstructure


# --- errors as field paths -------------------------------------------------------------------


def _field_errors(exc: BaseException, cls: Any, path: str) -> Iterator[FieldError]:
    """Flatten a cattrs validation error tree into wire-form field paths."""
    if isinstance(exc, ClassValidationError | IterableValidationError):
        for sub in exc.exceptions:
            segment, sub_type = _note_step(sub, cls)
            yield from _field_errors(sub, sub_type, path + segment)
        return
    where = path.lstrip(".") or "<root>"
    if isinstance(exc, KeyError):
        yield FieldError(where, "Required value")
        return
    yield FieldError(where, str(exc) or type(exc).__name__)


def _note_step(exc: BaseException, cls: Any) -> tuple[str, Any]:
    """The path segment a sub-error's cattrs note names, and the type found there."""
    for note in getattr(exc, "__notes__", []):
        if isinstance(note, AttributeValidationNote):
            field = attrs.fields_dict(cls).get(note.name) if attrs.has(cls) else None
            name = wire_name(field) if field is not None else note.name
            return f".{name}", _model_in(note.type)
        if isinstance(note, IterableValidationNote):
            index = note.index
            segment = f"[{index}]" if isinstance(index, int) else f".{index}"
            return segment, _model_in(note.type)
    return "", cls


def _model_in(type_: Any) -> Any:
    """The model class inside ``X``, ``X | None`` or ``tuple[X, ...]``, if there is one."""
    if attrs.has(type_):
        return type_
    for arg in get_args(type_):
        if attrs.has(arg):
            return arg
    return type_
