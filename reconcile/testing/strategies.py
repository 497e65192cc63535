"""Hypothesis strategies for what every controller test needs: names, labels, selectors, quantities,
object metadata, and fault schedules.

Everything drawn is valid where it goes: names are DNS-1123 labels, label keys and values pass the
apiserver's checks, quantities parse, and an `ObjectMeta` drawn here is accepted by the store's create.
Faults are plain data (`reconcile.testing.faults`), so a schedule prints as a story and replays.

Strategies for the built-in kinds (pods, nodes, deployments, services) live in
``controllers.testing.strategies``.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from reconcile.testing.faults import (
    Coalesce,
    CrashBetweenWrites,
    Delay,
    DropWatches,
    FailWrites,
    Fault,
    JumpClock,
    Stale,
)
from store import FrozenDict
from store.models import LabelSelector, LabelSelectorRequirement, ObjectMeta
from store.quantity import Quantity, parse_quantity

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"

#: A DNS-1123 label: lower-case alphanumerics and '-', alphanumeric at both ends (kept short).
dns_labels = st.from_regex(r"\A[a-z]([a-z0-9-]{0,8}[a-z0-9])?\Z")

#: Label keys: a small vocabulary with prefixes, so selectors and labels often meet.
label_keys = st.sampled_from(["app", "tier", "track", "example.com/team", "k8s.io/part"])
#: Label values: a small vocabulary (possibly empty), for the same reason.
label_values = st.sampled_from(["", "web", "db", "canary", "stable", "v1", "v2"])

label_maps = st.dictionaries(label_keys, label_values, max_size=3).map(FrozenDict)


def label_selectors(*, allow_empty: bool = True) -> st.SearchStrategy[LabelSelector]:
    """Structured selectors: ``matchLabels`` and every ``matchExpressions`` operator.

    With ``allow_empty=False`` the selector has at least one matchLabels entry (workload kinds reject
    an empty selector).
    """
    expressions = st.one_of(
        st.builds(
            LabelSelectorRequirement,
            key=label_keys,
            operator=st.sampled_from(["In", "NotIn"]),
            values=st.lists(label_values, min_size=1, max_size=3, unique=True).map(tuple),
        ),
        st.builds(
            LabelSelectorRequirement,
            key=label_keys,
            operator=st.sampled_from(["Exists", "DoesNotExist"]),
            values=st.just(()),
        ),
    )
    return st.builds(
        LabelSelector,
        match_labels=st.dictionaries(
            label_keys, label_values, min_size=0 if allow_empty else 1, max_size=2
        ).map(FrozenDict),
        match_expressions=st.lists(expressions, max_size=2).map(tuple),
    )


def quantities(
    *, suffixes: Sequence[str] = ("", "m", "k", "M", "G", "Ki", "Mi", "Gi"), max_value: int = 4096
) -> st.SearchStrategy[Quantity]:
    """Quantities as users write them (``500m``, ``2``, ``1.5Gi``, ``128Mi``), parsed exactly."""

    def spell(whole: int, tenths: int, suffix: str) -> Quantity:
        text = f"{whole}.{tenths}{suffix}" if tenths and suffix not in ("m", "") else f"{whole}{suffix}"
        return parse_quantity(text)

    return st.builds(spell, st.integers(0, max_value), st.integers(0, 9), st.sampled_from(list(suffixes)))


def object_meta(
    *, namespace: str | st.SearchStrategy[str] = "default", generate_name: bool = True
) -> st.SearchStrategy[ObjectMeta]:
    """Metadata a user may send on create: a name or a generateName, labels and annotations."""
    namespaces = namespace if isinstance(namespace, st.SearchStrategy) else st.just(namespace)
    named = st.builds(lambda name: {"name": name}, dns_labels)
    generated = st.builds(lambda prefix: {"generate_name": f"{prefix}-"}, dns_labels)
    names = st.one_of(named, generated) if generate_name else named
    return st.builds(
        lambda name, ns, labels, annotations: ObjectMeta(
            **name, namespace=ns, labels=labels, annotations=annotations
        ),
        names,
        namespaces,
        label_maps,
        st.dictionaries(label_keys, st.text(_ALNUM, max_size=8), max_size=2).map(FrozenDict),
    )


def faults(
    kinds: Sequence[str], *, controllers: Sequence[str] = (), max_lag: int = 5
) -> st.SearchStrategy[Fault]:
    """One fault against watches of ``kinds`` (kind names) or the writes of ``controllers``.

    Covers watch drops (forced Gone), stale caches lagging by k revisions, coalesced and delayed
    events, a crash between two writes, 409 and 500 on writes, and clock jumps (forward up to an hour,
    backward by less than the node-lease grace period).
    """
    kind_names = st.sampled_from(list(kinds))
    writers = st.sampled_from([None, *controllers])
    return st.one_of(
        st.builds(DropWatches, kind=st.one_of(st.none(), kind_names)),
        st.builds(Stale, kind=kind_names, revisions=st.integers(1, max_lag)),
        st.builds(Coalesce, kind=kind_names),
        st.builds(Delay, kind=kind_names, seconds=st.sampled_from([0.5, 2.0, 10.0])),
        st.builds(CrashBetweenWrites, after=st.integers(0, 4), controller=writers),
        st.builds(
            FailWrites,
            count=st.integers(1, 3),
            error=st.sampled_from(["conflict", "internal"]),
            kind=st.one_of(st.none(), kind_names),
        ),
        # Backwards only a little: a step back of more than the lease grace makes every Lease renewal
        # look old, and nodes flap NotReady until the clock catches up — in Kubernetes too. Steps add
        # up, so a machine's heal waits out what is left of them before it settles.
        st.builds(JumpClock, seconds=st.sampled_from([-30.0, 30.0, 3600.0])),
    )


def fault_schedules(
    kinds: Sequence[str], *, controllers: Sequence[str] = (), max_size: int = 8
) -> st.SearchStrategy[list[Fault]]:
    """A sequence of faults to arm one after another (see `faults`)."""
    return st.lists(faults(kinds, controllers=controllers), max_size=max_size)
