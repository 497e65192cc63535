"""Scenarios: a YAML file of kubectl-like steps run against a `Cluster`, with expectations checked.

A scenario file is one YAML mapping with a ``steps`` list (that key is what makes a file a scenario)::

    description: Roll myblog from v1 to v2.
    namespace: jds            # the default namespace of the steps (else "default")
    nodes: 3                  # simulated nodes (node-1 … node-N); nodeLabels: {node-1: {component: mysql}}
    seed: 1
    steps:
      - apply: myblog.yaml    # paths are relative to the scenario file; inline manifests work too
      - settle                # until the controllers are quiet
      - set image: {deployment: myblog, images: {myblog: "myblog:v2"}}
      - wait: 30              # virtual seconds
      - expect: {deploymentComplete: myblog}

Each step is one verb: a bare verb (``settle``), a verb with its main field (``cordon: node-1``) or a verb
with a mapping of fields. `parse` builds a typed step per verb (one attrs class each, in `VERBS`) and checks
everything before anything runs: an unknown verb, a missing, unknown or mistyped field, a bad manifest
(inline or in a file) — each is reported, all at once, as a `ScenarioError` with file:line:col. `Runner`
runs the steps in order on a cluster; a step that fails (an expectation not met, or a command refused)
raises `StepFailed` naming the step and saying what was expected and what was seen.
"""

from __future__ import annotations

import difflib
import fnmatch
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from controllers import inspection, kubectl, views
from controllers.cluster import Cluster
from controllers.deployment import util as deployment_util
from controllers.drain import DrainError, cordon, drain, uncordon
from controllers.events import creation_order
from controllers.podutil import is_pod_ready
from store import Object, StoreError
from store.manifests import InvalidManifest, ManifestError, load_node, load_paths, read_yaml
from store.models import Deployment, Endpoints, Event, Node, Pod, ReplicaSet
from store.scheme import Scheme

#: A directory holding this file is run as that scenario.
SCENARIO_FILE = "scenario.yaml"


@attrs.frozen
class Position:
    """Where something is in a file (line and column from 1)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@attrs.frozen
class Problem:
    """One thing wrong with a scenario file."""

    at: Position
    message: str

    def __str__(self) -> str:
        return f"{self.at}: {self.message}"


class ScenarioError(ValueError):
    """A scenario file that cannot run; ``problems`` holds every problem found, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.at.file, p.at.line, p.at.column)))
        super().__init__("\n".join(str(problem) for problem in self.problems))


class StepFailed(Exception):
    """A step that did not do what it said: a command refused, or an expectation not met."""

    def __init__(self, index: int, step: Step, expected: str, seen: str) -> None:
        self.index = index
        self.step = step
        self.expected = expected
        self.seen = seen
        super().__init__(f"step {index} ({step.verb}, line {step.at.line}) failed")

    def __str__(self) -> str:
        where = f"step {self.index} ({self.step.verb}, {self.step.at}) failed: {self.step.summary()}"
        if not self.expected:  # a refused command: ``seen`` is its error, in kubectl's words
            return f"{where}\n  {self.seen}"
        return f"{where}\n  expected: {self.expected}\n  seen:     {self.seen}"


class _Unmet(Exception):
    """An expectation not met (yet): what was expected and what was seen."""

    def __init__(self, expected: str, seen: str) -> None:
        super().__init__(expected)
        self.expected = expected
        self.seen = seen


# --- the steps ---------------------------------------------------------------------------------


def _non_negative(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{_wire(attribute.name)}: must not be negative, got {value}")


def _one_of(*allowed: str) -> Callable[[Any, attrs.Attribute[Any], str], None]:
    def check(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in allowed:
            choices = ", ".join(f'"{choice}"' for choice in allowed)
            raise ValueError(f'{_wire(attribute.name)}: must be one of {choices}, got "{value}"')

    return check


@attrs.frozen(kw_only=True)
class Step:
    """A step: a verb, its fields, and where it is written."""

    verb: ClassVar[str]
    #: The field a step's value fills when it is a scalar (``cordon: node-1``).
    shorthand: ClassVar[str | None] = None
    at: Position = attrs.field(default=Position("<string>", 0, 0), eq=False)

    def summary(self) -> str:
        """The step in one line, as a kubectl command would read."""
        return self.verb

    async def run(self, run: Runner) -> list[str]:
        """Carry the step out; returns the lines to show. Raises `_Unmet` or a command's error."""
        raise NotImplementedError


@attrs.frozen(kw_only=True)
class Apply(Step):
    """``apply``: manifest files or folders (relative to the scenario), or inline manifests."""

    verb: ClassVar[str] = "apply"
    #: What was given, in order: each path as written, each inline manifest as KIND/NAME.
    sources: tuple[str, ...] = ()
    objects: tuple[Object, ...] = attrs.field(default=(), eq=False, repr=False)

    def summary(self) -> str:
        return f"apply {' '.join(self.sources)}"

    async def run(self, run: Runner) -> list[str]:
        return await kubectl.apply(run.cluster.store, self.objects)


@attrs.frozen(kw_only=True)
class Delete(Step):
    """``delete: KIND/NAME``."""

    verb: ClassVar[str] = "delete"
    shorthand: ClassVar[str | None] = "target"
    target: str
    namespace: str | None = None

    def summary(self) -> str:
        return f"delete {self.target}"

    async def run(self, run: Runner) -> list[str]:
        kind, name = kubectl.parse_target(self.target, run.scheme)
        return [await kubectl.delete(run.cluster.store, kind, name, run.namespace_of(self))]


@attrs.frozen(kw_only=True)
class Scale(Step):
    """``scale: {deployment: NAME, replicas: N}``: set spec.replicas."""

    verb: ClassVar[str] = "scale"
    deployment: str
    replicas: int = attrs.field(validator=_non_negative)
    namespace: str | None = None

    def summary(self) -> str:
        return f"scale deployment/{self.deployment} --replicas={self.replicas}"

    async def run(self, run: Runner) -> list[str]:
        store = run.cluster.store
        return [
            await kubectl.scale(store, Deployment, self.deployment, run.namespace_of(self), self.replicas)
        ]


@attrs.frozen(kw_only=True)
class SetImage(Step):
    """``set image: {deployment: NAME, images: {CONTAINER: IMAGE}}`` (``"*"``: every container)."""

    verb: ClassVar[str] = "set image"
    deployment: str
    images: Mapping[str, str]
    namespace: str | None = None

    def summary(self) -> str:
        pairs = " ".join(f"{container}={image}" for container, image in self.images.items())
        return f"set image deployment/{self.deployment} {pairs}"

    async def run(self, run: Runner) -> list[str]:
        store, namespace = run.cluster.store, run.namespace_of(self)
        return [await kubectl.set_image(store, Deployment, self.deployment, namespace, self.images)]


@attrs.frozen(kw_only=True)
class RolloutUndo(Step):
    """``rollout undo: {deployment: NAME, toRevision: N}`` (no toRevision: the previous revision)."""

    verb: ClassVar[str] = "rollout undo"
    shorthand: ClassVar[str | None] = "deployment"
    deployment: str
    to_revision: int = attrs.field(default=0, validator=_non_negative)
    namespace: str | None = None

    def summary(self) -> str:
        revision = f" --to-revision={self.to_revision}" if self.to_revision else ""
        return f"rollout undo deployment/{self.deployment}{revision}"

    async def run(self, run: Runner) -> list[str]:
        store, namespace = run.cluster.store, run.namespace_of(self)
        return [await kubectl.rollout_undo(store, self.deployment, namespace, self.to_revision)]


@attrs.frozen(kw_only=True)
class RolloutPause(Step):
    """``rollout pause: NAME``: set spec.paused."""

    verb: ClassVar[str] = "rollout pause"
    shorthand: ClassVar[str | None] = "deployment"
    deployment: str
    namespace: str | None = None

    def summary(self) -> str:
        return f"{self.verb} deployment/{self.deployment}"

    async def run(self, run: Runner) -> list[str]:
        return [await kubectl.rollout_pause(run.cluster.store, self.deployment, run.namespace_of(self))]


@attrs.frozen(kw_only=True)
class RolloutResume(RolloutPause):
    """``rollout resume: NAME``: clear spec.paused."""

    verb: ClassVar[str] = "rollout resume"

    async def run(self, run: Runner) -> list[str]:
        return [await kubectl.rollout_resume(run.cluster.store, self.deployment, run.namespace_of(self))]


@attrs.frozen(kw_only=True)
class Cordon(Step):
    """``cordon: NODE``: mark the node unschedulable."""

    verb: ClassVar[str] = "cordon"
    shorthand: ClassVar[str | None] = "node"
    node: str

    def summary(self) -> str:
        return f"{self.verb} {self.node}"

    async def run(self, run: Runner) -> list[str]:
        await cordon(run.cluster.store, self.node)
        return [f"node/{self.node} cordoned"]


@attrs.frozen(kw_only=True)
class Uncordon(Cordon):
    """``uncordon: NODE``: mark the node schedulable again."""

    verb: ClassVar[str] = "uncordon"

    async def run(self, run: Runner) -> list[str]:
        await uncordon(run.cluster.store, self.node)
        return [f"node/{self.node} uncordoned"]


@attrs.frozen(kw_only=True)
class Drain(Step):
    """``drain: {node: NODE, force: false, ignoreDaemonsets: false, deleteEmptydirData: false,
    gracePeriod: SECONDS}``."""

    verb: ClassVar[str] = "drain"
    shorthand: ClassVar[str | None] = "node"
    node: str
    force: bool = False
    ignore_daemonsets: bool = False
    delete_emptydir_data: bool = False
    grace_period: int | None = attrs.field(default=None, validator=_non_negative)

    def summary(self) -> str:
        flags = " --force" * self.force + " --ignore-daemonsets" * self.ignore_daemonsets
        flags += " --delete-emptydir-data" * self.delete_emptydir_data
        if self.grace_period is not None:
            flags += f" --grace-period={self.grace_period}"
        return f"drain {self.node}{flags}"

    async def run(self, run: Runner) -> list[str]:
        deleted = await drain(
            run.cluster.store,
            self.node,
            force=self.force,
            ignore_daemonsets=self.ignore_daemonsets,
            delete_emptydir_data=self.delete_emptydir_data,
            grace_period_seconds=self.grace_period,
        )
        lines = [f"node/{self.node} cordoned"]
        # Pods are deleted, not evicted: kubectl drain --disable-eviction reports them so.
        lines += [f"pod/{pod.metadata.name} deleted" for pod in deleted]
        return [*lines, f"node/{self.node} drained"]


def _known_node(run: Runner, name: str) -> None:
    if name not in run.cluster.kubelet.node_names:
        raise kubectl.KubectlError(
            f'no simulated node "{name}" (nodes: {", ".join(run.cluster.kubelet.node_names)})'
        )


@attrs.frozen(kw_only=True)
class StopNode(Step):
    """``stop-node: NODE``: the node's kubelet stops (no heartbeats, no pod status)."""

    verb: ClassVar[str] = "stop-node"
    shorthand: ClassVar[str | None] = "node"
    node: str

    def summary(self) -> str:
        return f"{self.verb} {self.node}"

    async def run(self, run: Runner) -> list[str]:
        _known_node(run, self.node)
        run.cluster.stop_node(self.node)
        return [f"node/{self.node} stopped (its kubelet no longer reports)"]


@attrs.frozen(kw_only=True)
class StartNode(StopNode):
    """``start-node: NODE``: the node's kubelet comes back."""

    verb: ClassVar[str] = "start-node"

    async def run(self, run: Runner) -> list[str]:
        _known_node(run, self.node)
        run.cluster.start_node(self.node)
        return [f"node/{self.node} started"]


@attrs.frozen(kw_only=True)
class Label(Step):
    """``label: {target: KIND/NAME, labels: {KEY: VALUE, GONE: null}, overwrite: false}``."""

    verb: ClassVar[str] = "label"
    target: str
    labels: Mapping[str, str | None]
    overwrite: bool = False
    namespace: str | None = None

    def summary(self) -> str:
        pairs = " ".join(f"{k}-" if v is None else f"{k}={v}" for k, v in self.labels.items())
        return f"label {self.target} {pairs}" + " --overwrite" * self.overwrite

    async def run(self, run: Runner) -> list[str]:
        kind, name = kubectl.parse_target(self.target, run.scheme)
        store, namespace = run.cluster.store, run.namespace_of(self)
        return [await kubectl.label(store, kind, name, namespace, self.labels, overwrite=self.overwrite)]


@attrs.frozen(kw_only=True)
class SetReadiness(Step):
    """``set readiness: {selector: SELECTOR | pod: NAME, ready: BOOL}``: the pods' readiness probes pass or
    fail from now on (the kubelet's knob)."""

    verb: ClassVar[str] = "set readiness"
    ready: bool
    pod: str | None = None
    selector: str | None = None
    namespace: str | None = None

    def summary(self) -> str:
        which = f"pod/{self.pod}" if self.pod else f"pods -l {self.selector}"
        return f"set readiness {which} ready={str(self.ready).lower()}"

    async def run(self, run: Runner) -> list[str]:
        namespace = run.namespace_of(self)
        if self.pod is not None:
            names = [self.pod]
        else:
            pods = await run.cluster.list(Pod, namespace=namespace, label_selector=self.selector)
            names = [pod.metadata.name for pod in pods if pod.spec.node_name]
            if not names:
                raise _Unmet(f"scheduled pods matching {self.selector}", "none")
        for name in names:
            try:
                run.cluster.kubelet.set_ready(namespace, name, self.ready)
            except KeyError as exc:
                raise kubectl.KubectlError(str(exc.args[0])) from None
        state = "passing" if self.ready else "failing"
        return [f"pod/{name} readiness probes {state}" for name in names]


@attrs.frozen(kw_only=True)
class Wait(Step):
    """``wait: SECONDS``: let virtual (or real) seconds pass with everything running."""

    verb: ClassVar[str] = "wait"
    shorthand: ClassVar[str | None] = "seconds"
    seconds: float = attrs.field(validator=_non_negative)

    def summary(self) -> str:
        return f"wait {views.human_duration(self.seconds)}"

    async def run(self, run: Runner) -> list[str]:
        await run.cluster.advance(self.seconds)
        return []


@attrs.frozen(kw_only=True)
class Settle(Step):
    """``settle``: run until the controllers are quiet (virtual time only)."""

    verb: ClassVar[str] = "settle"
    shorthand: ClassVar[str | None] = "horizon"
    horizon: float = attrs.field(default=60.0, validator=_non_negative)

    async def run(self, run: Runner) -> list[str]:
        if run.cluster.simulation is None:
            raise kubectl.KubectlError("settle needs virtual time; on real time, wait or expect ... within")
        took = await run.cluster.settle(horizon=self.horizon)
        return [f"quiet after {views.human_duration(took)}"]


# --- inspection steps ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Get(Step):
    """``get: KIND`` or ``get: {kind, name, output: wide|yaml|json|name, selector, allNamespaces}``."""

    verb: ClassVar[str] = "get"
    shorthand: ClassVar[str | None] = "kind"
    kind: str
    name: str | None = None
    output: str = attrs.field(default="", validator=_one_of(*inspection.OUTPUTS))
    selector: str | None = None
    all_namespaces: bool = False
    namespace: str | None = None

    def summary(self) -> str:
        text = f"get {self.kind}" + (f" {self.name}" if self.name else "")
        text += f" -o {self.output}" * bool(self.output) + f" -l {self.selector}" * bool(self.selector)
        return text + " -A" * self.all_namespaces

    async def run(self, run: Runner) -> list[str]:
        kind, name = self.kind, self.name
        if "/" in kind and name is None:  # kubectl's KIND/NAME
            kind, _, name = kind.partition("/")
        text = await inspection.get(
            run.cluster.store,
            kind,
            name,
            now=run.cluster.clock.now(),
            namespace=run.namespace_of(self),
            all_namespaces=self.all_namespaces,
            selector=self.selector,
            output=self.output,
        )
        return text.splitlines()


@attrs.frozen(kw_only=True)
class Describe(Step):
    """``describe: KIND/NAME``."""

    verb: ClassVar[str] = "describe"
    shorthand: ClassVar[str | None] = "target"
    target: str
    namespace: str | None = None

    def summary(self) -> str:
        return f"describe {self.target}"

    async def run(self, run: Runner) -> list[str]:
        kind, _, name = self.target.partition("/")
        kubectl.parse_target(self.target, run.scheme)
        text = await inspection.describe(
            run.cluster.store, kind, name, now=run.cluster.clock.now(), namespace=run.namespace_of(self)
        )
        return text.splitlines()


@attrs.frozen(kw_only=True)
class RolloutHistory(Step):
    """``rollout history: DEPLOYMENT``."""

    verb: ClassVar[str] = "rollout history"
    shorthand: ClassVar[str | None] = "deployment"
    deployment: str
    namespace: str | None = None

    def summary(self) -> str:
        return f"{self.verb} deployment/{self.deployment}"

    async def run(self, run: Runner) -> list[str]:
        text = await inspection.rollout_history(
            run.cluster.store, self.deployment, namespace=run.namespace_of(self)
        )
        return text.splitlines()


@attrs.frozen(kw_only=True)
class RolloutStatus(RolloutHistory):
    """``rollout status: DEPLOYMENT`` (the answer now; to wait for it, expect deploymentComplete)."""

    verb: ClassVar[str] = "rollout status"

    async def run(self, run: Runner) -> list[str]:
        status = await inspection.rollout_status(
            run.cluster.store, self.deployment, namespace=run.namespace_of(self)
        )
        return [status.message]


@attrs.frozen(kw_only=True)
class Events(Step):
    """``events`` (``allNamespaces: true`` for every namespace)."""

    verb: ClassVar[str] = "events"
    all_namespaces: bool = False
    namespace: str | None = None

    async def run(self, run: Runner) -> list[str]:
        namespace = None if self.all_namespaces else run.namespace_of(self)
        text = await inspection.events(run.cluster.store, now=run.cluster.clock.now(), namespace=namespace)
        return text.splitlines()


# --- expectations ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Expect(Step):
    """``expect: {CONDITION: ..., within: SECONDS}``: the condition holds now, or within that many seconds
    (checked every second)."""

    verb: ClassVar[str] = "expect"
    condition: ClassVar[str]
    within: float = attrs.field(default=0.0, validator=_non_negative)
    namespace: str | None = None

    def summary(self) -> str:
        return f"expect {self.condition}" + (
            f" within {views.human_duration(self.within)}" * bool(self.within)
        )

    async def check(self, run: Runner) -> str:
        """What was seen, when the condition holds; raises `_Unmet` when it does not."""
        raise NotImplementedError

    async def run(self, run: Runner) -> list[str]:
        start = run.cluster.now
        while True:
            try:
                seen = await self.check(run)
            except _Unmet:
                if run.cluster.now - start + 1 > self.within:
                    raise
                await run.cluster.advance(1.0)
                continue
            waited = run.cluster.now - start
            first, *rest = seen.splitlines()
            after = f" (after {views.human_duration(waited)})" if waited else ""
            return [f"ok: {first}{after}", *(f"    {line}" for line in rest)]


@attrs.frozen(kw_only=True)
class ExpectDeploymentComplete(Expect):
    """``deploymentComplete: NAME``: kubectl rollout status says "successfully rolled out"."""

    condition: ClassVar[str] = "deploymentComplete"
    shorthand: ClassVar[str | None] = "deployment"
    deployment: str

    async def check(self, run: Runner) -> str:
        deployment = await run.cluster.get(Deployment, self.deployment, run.namespace_of(self))
        status = kubectl.rollout_status(deployment)
        if not status.done or status.failed:
            raise _Unmet(f'deployment "{self.deployment}" successfully rolled out', status.message)
        return status.message


def _pod_names(pods: Sequence[Pod]) -> str:
    return ", ".join(pod.metadata.name for pod in pods) or "none"


@attrs.frozen(kw_only=True)
class ExpectPodsReady(Expect):
    """``podsReady: {count: N, node: NODE, selector: SELECTOR}``: exactly N pods (matching, on the node)
    are Running and Ready."""

    condition: ClassVar[str] = "podsReady"
    count: int = attrs.field(validator=_non_negative)
    node: str | None = None
    selector: str | None = None

    def _what(self) -> str:
        where = f" on {self.node}" if self.node else ""
        matching = f" matching {self.selector}" if self.selector else ""
        return f"{self.count} pod(s){matching} Running and Ready{where}"

    async def check(self, run: Runner) -> str:
        pods = await run.cluster.list(Pod, namespace=run.namespace_of(self), label_selector=self.selector)
        ready = [
            pod
            for pod in pods
            if pod.status.phase == "Running"
            and is_pod_ready(pod)
            and pod.metadata.deletion_timestamp is None
            and (self.node is None or pod.spec.node_name == self.node)
        ]
        seen = f"{len(ready)} Running and Ready: {_pod_names(ready)}"
        if len(ready) != self.count:
            raise _Unmet(self._what(), seen)
        return seen


@attrs.frozen(kw_only=True)
class ExpectPodPending(Expect):
    """``podPending: {selector: SELECTOR, reason: REASON, message: GLOB}``: a matching pod is Pending, and
    its PodScheduled condition or its latest event has that reason (and a message matching the glob)."""

    condition: ClassVar[str] = "podPending"
    reason: str
    selector: str | None = None
    message: str | None = None

    async def check(self, run: Runner) -> str:
        namespace = run.namespace_of(self)
        pods = await run.cluster.list(Pod, namespace=namespace, label_selector=self.selector)
        events = await run.cluster.events(namespace=namespace)
        expected = (
            f"a pod{f' matching {self.selector}' * bool(self.selector)} Pending with reason {self.reason}"
        )
        if self.message:
            expected += f" and message {self.message!r}"
        seen: list[str] = []
        for pod in pods:
            if pod.status.phase not in ("", "Pending") or pod.metadata.deletion_timestamp is not None:
                seen.append(f"{pod.metadata.name} {views.pod_status(pod)}")
                continue
            reasons: list[tuple[str, str]] = [
                (c.reason, c.message)
                for c in pod.status.conditions
                if c.type == "PodScheduled" and c.status != "True"
            ]
            about = [e for e in events if e.involved_object.uid == pod.metadata.uid]
            if about:
                reasons.append((about[-1].reason, about[-1].message))
            for reason, message in reasons:
                if reason == self.reason and (
                    self.message is None or fnmatch.fnmatchcase(message, self.message)
                ):
                    return f"{pod.metadata.name} Pending: {reason}: {message}"
            shown = "; ".join(f"{r}: {m}" for r, m in reasons) or "no reason yet"
            seen.append(f"{pod.metadata.name} Pending ({shown})")
        raise _Unmet(expected, "; ".join(seen) or "no pods")


@attrs.frozen(kw_only=True)
class EventPattern:
    """One event of a sequence: its reason, and optionally a glob its message matches and its type."""

    reason: str
    message: str | None = None
    type: str | None = None

    def matches(self, event: Event) -> bool:
        return (
            event.reason == self.reason
            and (self.message is None or fnmatch.fnmatchcase(event.message, self.message))
            and (self.type is None or event.type == self.type)
        )

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}" if self.message else self.reason


@attrs.frozen(kw_only=True)
class ExpectEvents(Expect):
    """``events: {involving: KIND/NAME, sequence: [{reason, message}, ...]}``: these events were recorded
    in this order (others may come between them)."""

    condition: ClassVar[str] = "events"
    sequence: tuple[EventPattern, ...]
    involving: str | None = None

    async def check(self, run: Runner) -> str:
        namespace = run.namespace_of(self)
        involved: Object | None = None
        if self.involving is not None:
            kind, name = kubectl.parse_target(self.involving, run.scheme)
            involved = await run.cluster.get(kind, name, namespace)
        events = await run.cluster.events(involving=involved, namespace=namespace)
        position = 0
        matched: list[Event] = []
        for event in sorted(events, key=creation_order):
            if position < len(self.sequence) and self.sequence[position].matches(event):
                matched.append(event)
                position += 1
        expected = " → ".join(str(pattern) for pattern in self.sequence)
        if position < len(self.sequence):
            seen = "\n            ".join(f"{e.reason}: {e.message}" for e in events) or "no events"
            raise _Unmet(
                f"{expected}\n  (no match from {self.sequence[position]}; the events, in order:)", seen
            )
        return "\n".join(["matched in order:", *(f"{e.reason}: {e.message}" for e in matched)])


@attrs.frozen(kw_only=True)
class ExpectEndpoints(Expect):
    """``endpoints: {name: NAME, ready: N, notReady: N, nodes: [NODE, ...]}``: the Endpoints object has that
    many ready and not-ready addresses, the ready ones on those nodes (in any order)."""

    condition: ClassVar[str] = "endpoints"
    shorthand: ClassVar[str | None] = "name"
    name: str
    ready: int | None = attrs.field(default=None, validator=_non_negative)
    not_ready: int | None = attrs.field(default=None, validator=_non_negative)
    nodes: tuple[str, ...] | None = None

    async def check(self, run: Runner) -> str:
        endpoints = await run.cluster.get(Endpoints, self.name, run.namespace_of(self))
        ready = [a for subset in endpoints.subsets for a in subset.addresses]
        not_ready = [a for subset in endpoints.subsets for a in subset.not_ready_addresses]
        nodes = sorted(a.node_name or "" for a in ready)
        seen = (
            f"{len(ready)} ready ({', '.join(views.endpoint_addresses(endpoints)) or 'none'}"
            f"{' on ' + ', '.join(nodes) if nodes else ''}), {len(not_ready)} not ready"
        )
        wanted: list[str] = []
        ok = True
        if self.ready is not None:
            wanted.append(f"{self.ready} ready")
            ok &= len(ready) == self.ready
        if self.not_ready is not None:
            wanted.append(f"{self.not_ready} not ready")
            ok &= len(not_ready) == self.not_ready
        if self.nodes is not None:
            wanted.append(f"ready on {', '.join(sorted(self.nodes)) or 'no node'}")
            ok &= nodes == sorted(self.nodes)
        if not ok:
            raise _Unmet(f"endpoints {self.name}: {', '.join(wanted)}", seen)
        return f"endpoints {self.name}: {seen}"


@attrs.frozen(kw_only=True)
class ExpectNodeReady(Expect):
    """``nodeReady: {node: NODE, status: "True" | "False" | "Unknown"}``: the node's Ready condition."""

    condition: ClassVar[str] = "nodeReady"
    node: str
    status: str = attrs.field(validator=_one_of("True", "False", "Unknown"))

    async def check(self, run: Runner) -> str:
        node = await run.cluster.get(Node, self.node)
        ready = next((c for c in node.status.conditions if c.type == "Ready"), None)
        seen = "no Ready condition" if ready is None else f"Ready={ready.status} ({ready.reason})"
        if ready is None or ready.status != self.status:
            raise _Unmet(f"node {self.node} Ready={self.status}", seen)
        return f"node {self.node} {seen}"


@attrs.frozen(kw_only=True)
class ExpectRolloutHistory(Expect):
    """``rolloutHistory: {deployment: NAME, revisions: [N, ...], current: N, image: IMAGE}``: kubectl rollout
    history lists exactly these revisions; the deployment is at revision ``current``, whose pod template
    runs ``image``."""

    condition: ClassVar[str] = "rolloutHistory"
    deployment: str
    revisions: tuple[int, ...] | None = None
    current: int | None = None
    image: str | None = None

    async def check(self, run: Runner) -> str:
        namespace = run.namespace_of(self)
        deployment = await run.cluster.get(Deployment, self.deployment, namespace)
        replica_sets = await run.cluster.list(ReplicaSet, namespace=namespace)
        history = kubectl.rollout_history(deployment, replica_sets)
        numbers = tuple(revision.number for revision in history)
        current = deployment.metadata.annotations.get(deployment_util.REVISION_ANNOTATION, "<none>")
        images = ",".join(c.image for c in deployment.spec.template.spec.containers)
        seen = f"revisions {', '.join(map(str, numbers)) or 'none'}; at revision {current} running {images}"
        wanted: list[str] = []
        ok = True
        if self.revisions is not None:
            wanted.append(f"revisions {', '.join(map(str, self.revisions))}")
            ok &= numbers == self.revisions
        if self.current is not None:
            wanted.append(f"at revision {self.current}")
            ok &= current == str(self.current)
        if self.image is not None:
            wanted.append(f"running {self.image}")
            ok &= images == self.image
        if not ok:
            raise _Unmet(f"deployment {self.deployment}: {'; '.join(wanted)}", seen)
        return f"deployment {self.deployment}: {seen}"


#: Every verb, and every condition of ``expect``.
VERBS: Mapping[str, type[Step]] = {
    cls.verb: cls
    for cls in (
        Apply,
        Delete,
        Scale,
        SetImage,
        RolloutUndo,
        RolloutPause,
        RolloutResume,
        RolloutHistory,
        RolloutStatus,
        Cordon,
        Uncordon,
        Drain,
        StopNode,
        StartNode,
        Label,
        SetReadiness,
        Wait,
        Settle,
        Get,
        Describe,
        Events,
        Expect,
    )
}
CONDITIONS: Mapping[str, type[Expect]] = {
    cls.condition: cls
    for cls in (
        ExpectDeploymentComplete,
        ExpectPodsReady,
        ExpectPodPending,
        ExpectEvents,
        ExpectEndpoints,
        ExpectNodeReady,
        ExpectRolloutHistory,
    )
}


# --- the scenario ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Scenario:
    """A parsed scenario: the cluster to start and the steps to run."""

    file: str
    description: str = ""
    namespace: str = "default"
    nodes: int = 3
    node_labels: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    seed: int = 1
    steps: tuple[Step, ...] = ()


def is_scenario(path: str | Path) -> bool:
    """Whether ``path`` is a scenario: a directory holding scenario.yaml, or a YAML file with ``steps``."""
    path = Path(path)
    if path.is_dir():
        return (path / SCENARIO_FILE).is_file()
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        return False
    try:
        documents = read_yaml(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError, InvalidManifest):
        return False
    return len(documents) == 1 and isinstance(documents[0], CommentedMap) and "steps" in documents[0]


def load(path: str | Path, *, scheme: Scheme | None = None) -> Scenario:
    """Read and check a scenario file (or a directory's scenario.yaml); raises `ScenarioError`."""
    path = Path(path)
    if path.is_dir():
        path = path / SCENARIO_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(Position(str(path), 1, 1), f"cannot read file: {exc}")]) from None
    return parse(text, filename=str(path), base=path.parent, scheme=scheme)


def parse(
    text: str, *, filename: str = "<string>", base: Path | None = None, scheme: Scheme | None = None
) -> Scenario:
    """A scenario from its YAML text; file paths in ``apply`` are relative to ``base``."""
    parser = _Parser(text, filename, base or Path.cwd(), scheme or Scheme())
    return parser.scenario()


_TOP_LEVEL = {
    "description": str,
    "namespace": str,
    "nodes": int,
    "nodeLabels": Mapping[str, Mapping[str, str]],
    "seed": int,
    "steps": list,
}


class _Parser:
    def __init__(self, text: str, filename: str, base: Path, scheme: Scheme) -> None:
        self.text = text
        self.filename = filename
        self.base = base
        self.scheme = scheme
        self.problems: list[Problem] = []

    def at(self, position: tuple[int, int]) -> Position:
        return Position(self.filename, position[0] + 1, position[1] + 1)

    def problem(self, position: tuple[int, int], message: str) -> None:
        self.problems.append(Problem(self.at(position), message))

    def scenario(self) -> Scenario:
        try:
            documents = read_yaml(self.text, filename=self.filename)
        except InvalidManifest as invalid:
            raise ScenarioError([_from_manifest(error) for error in invalid.errors]) from None
        if len(documents) != 1 or not isinstance(documents[0], CommentedMap) or "steps" not in documents[0]:
            raise ScenarioError(
                [Problem(Position(self.filename, 1, 1), "a scenario is one YAML mapping with a steps list")]
            )
        root: CommentedMap = documents[0]
        values: dict[str, Any] = {}
        for key in root:
            if key not in _TOP_LEVEL:
                self.problem(
                    root.lc.key(key), f'unknown field "{key}" (a scenario has {", ".join(_TOP_LEVEL)})'
                )
                continue
            if key == "steps":
                continue
            try:
                values[key] = _convert(root[key], _TOP_LEVEL[key], key)
            except _Bad as bad:
                self.problem(root.lc.value(key), bad.message)
        steps_node = root["steps"]
        steps: list[Step] = []
        if not isinstance(steps_node, CommentedSeq):
            self.problem(
                root.lc.value("steps"), f"steps: must be a list of steps, got {_json_type(steps_node)}"
            )
        else:
            for index, node in enumerate(steps_node):
                step = self.step(node, steps_node.lc.item(index), index + 1)
                if step is not None:
                    steps.append(step)
            if not steps_node:
                self.problem(root.lc.value("steps"), "steps: a scenario needs at least one step")
        if self.problems:
            raise ScenarioError(self.problems)
        return Scenario(
            file=self.filename,
            description=values.get("description", ""),
            namespace=values.get("namespace", "default"),
            nodes=values.get("nodes", 3),
            node_labels=values.get("nodeLabels", {}),
            seed=values.get("seed", 1),
            steps=tuple(steps),
        )

    def step(self, node: Any, position: tuple[int, int], index: int) -> Step | None:
        where = f"steps[{index}]"
        if isinstance(node, str):
            verb, body, body_position = node, None, position
        elif isinstance(node, CommentedMap) and len(node) == 1:
            [verb] = node
            body, body_position = node[verb], node.lc.value(verb)
        else:
            found = ", ".join(map(str, node)) if isinstance(node, CommentedMap) else _json_type(node)
            self.problem(
                position, f"{where}: a step is one verb (e.g. - wait: 10), got {found or 'an empty mapping'}"
            )
            return None
        cls = VERBS.get(verb) if isinstance(verb, str) else None
        if cls is None:
            close = difflib.get_close_matches(str(verb), VERBS, n=1)
            hint = f'; did you mean "{close[0]}"?' if close else f" (verbs: {', '.join(VERBS)})"
            self.problem(position, f'{where}: unknown verb "{verb}"{hint}')
            return None
        where = f"{where}.{verb}"
        at = self.at(position)
        if cls is Apply:
            return self.apply(body, body_position, where, at)
        if cls is Expect:
            return self.expect(body, body_position, where, at)
        return self.fields(cls, body, body_position, where, at=at, values={})

    def fields(
        self,
        cls: type[Step],
        body: Any,
        position: tuple[int, int],
        where: str,
        *,
        at: Position,
        values: dict[str, Any],
    ) -> Step | None:
        """Build ``cls`` from a mapping of fields, a scalar (its shorthand field) or nothing."""
        fields = {_wire(f.name): f for f in attrs.fields(cls) if f.name != "at"}
        if issubclass(cls, Expect):
            fields = {k: f for k, f in fields.items() if k not in ("within", "namespace")}
        hints = typing.get_type_hints(cls)
        ok = True
        if isinstance(body, CommentedMap):
            for key in body:
                field = fields.get(key) if isinstance(key, str) else None
                if field is None:
                    self.problem(
                        body.lc.key(key), f'{where}: unknown field "{key}" (fields: {", ".join(fields)})'
                    )
                    ok = False
                    continue
                try:
                    values[field.name] = _convert(body[key], hints[field.name], f"{where}.{key}")
                except _Bad as bad:
                    self.problem(body.lc.value(key), bad.message)
                    ok = False
        elif body is not None:
            if cls.shorthand is None:
                self.problem(
                    position,
                    f"{where}: needs a mapping of fields ({', '.join(fields)}), got {_json_type(body)}",
                )
                return None
            try:
                values[cls.shorthand] = _convert(
                    body, hints[cls.shorthand], f"{where}.{_wire(cls.shorthand)}"
                )
            except _Bad as bad:
                self.problem(position, bad.message)
                ok = False
        missing = [
            key
            for key, field in fields.items()
            if field.default is attrs.NOTHING and field.name not in values
        ]
        if missing and ok:
            self.problem(
                position, f"{where}: missing required field{'s' * (len(missing) > 1)} {', '.join(missing)}"
            )
            return None
        if not ok:
            return None
        try:
            return cls(at=at, **values)
        except ValueError as exc:
            self.problem(position, f"{where}.{exc}" if not str(exc).startswith("'") else f"{where}: {exc}")
            return None

    def expect(self, body: Any, position: tuple[int, int], where: str, at: Position) -> Step | None:
        if not isinstance(body, CommentedMap):
            self.problem(
                position, f"{where}: needs a condition ({', '.join(CONDITIONS)}), got {_json_type(body)}"
            )
            return None
        conditions = [key for key in body if key in CONDITIONS]
        others = [key for key in body if key not in CONDITIONS]
        values: dict[str, Any] = {}
        ok = True
        for key in others:
            if key == "within":
                try:
                    values["within"] = _convert(body[key], float, f"{where}.within")
                except _Bad as bad:
                    self.problem(body.lc.value(key), bad.message)
                    ok = False
            elif key == "namespace":
                try:
                    values["namespace"] = _convert(body[key], str, f"{where}.namespace")
                except _Bad as bad:
                    self.problem(body.lc.value(key), bad.message)
                    ok = False
            else:
                known = ", ".join([*CONDITIONS, "within", "namespace"])
                self.problem(body.lc.key(key), f'{where}: unknown field "{key}" (fields: {known})')
                ok = False
        if len(conditions) != 1:
            found = f"got {', '.join(conditions)}" if conditions else "got none"
            self.problem(position, f"{where}: needs exactly one condition ({', '.join(CONDITIONS)}), {found}")
            return None
        [condition] = conditions
        cls = CONDITIONS[condition]
        step = self.fields(
            cls, body[condition], body.lc.value(condition), f"{where}.{condition}", at=at, values=values
        )
        return step if ok else None

    def apply(self, body: Any, position: tuple[int, int], where: str, at: Position) -> Step | None:
        items: list[tuple[Any, tuple[int, int]]]
        if isinstance(body, CommentedSeq):
            items = [(item, body.lc.item(index)) for index, item in enumerate(body)]
        else:
            items = [(body, position)]
        sources: list[str] = []
        objects: list[Object] = []
        ok = True
        for item, item_position in items:
            if isinstance(item, str):
                sources.append(item)
                try:
                    objects.extend(load_paths([self.base / item], scheme=self.scheme))
                except InvalidManifest as invalid:
                    ok = False
                    for error in invalid.errors:
                        if error.message == "no such file or directory":
                            self.problem(item_position, f"{where}: {item}: no such file or directory")
                        else:
                            self.problems.append(_from_manifest(error))
            elif isinstance(item, CommentedMap):
                try:
                    obj = load_node(item, text=self.text, filename=self.filename, scheme=self.scheme)
                    objects.append(obj)
                    sources.append(f"{obj.kind.lower()}/{obj.metadata.name}")
                except InvalidManifest as invalid:
                    ok = False
                    self.problems.extend(_from_manifest(error, f"{where}: ") for error in invalid.errors)
            else:
                self.problem(
                    item_position,
                    f"{where}: needs a manifest file or folder, or an inline manifest,"
                    f" got {_json_type(item)}",
                )
                ok = False
        if not ok:
            return None
        return Apply(at=at, sources=tuple(sources), objects=tuple(objects))


def _from_manifest(error: ManifestError, prefix: str = "") -> Problem:
    message = f"{error.path}: {error.message}" if error.path else error.message
    return Problem(Position(error.file, error.line, error.column), prefix + message)


class _Bad(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _wire(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _convert(value: Any, type_: Any, path: str) -> Any:
    """``value`` as ``type_``: str, int, float, bool, optional, tuple, mapping or attrs class (or `_Bad`)."""
    origin = typing.get_origin(type_)
    args = typing.get_args(type_)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        [inner] = [arg for arg in args if arg is not type(None)]
        return _convert(value, inner, path)
    if type_ is bool:
        if isinstance(value, bool):
            return bool(value)
        raise _Bad(f"{path}: must be a boolean, got {_json_type(value)}")
    if type_ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        raise _Bad(f"{path}: must be an integer, got {_json_type(value)}")
    if type_ is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _Bad(f"{path}: must be a number, got {_json_type(value)}")
    if type_ is str:
        if isinstance(value, str):
            return str(value)
        hint = " (YAML reads it as a boolean: quote it)" if isinstance(value, bool) else ""
        raise _Bad(f"{path}: must be a string, got {_json_type(value)}{hint}")
    if type_ is list:
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise _Bad(f"{path}: must be a list, got {_json_type(value)}")
        return tuple(_convert(item, args[0], f"{path}[{index}]") for index, item in enumerate(value))
    if origin in (Mapping, dict) or type_ is Mapping:
        if not isinstance(value, Mapping):
            raise _Bad(f"{path}: must be a mapping, got {_json_type(value)}")
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Bad(f"{path}: key {key!r} must be a string, got {_json_type(key)}")
            result[key] = _convert(item, args[1], f"{path}.{key}")
        return result
    if attrs.has(type_):
        if not isinstance(value, Mapping):
            raise _Bad(f"{path}: must be a mapping, got {_json_type(value)}")
        hints = typing.get_type_hints(type_)
        fields = {_wire(f.name): f for f in attrs.fields(type_)}
        kwargs: dict[str, Any] = {}
        for key, item in value.items():
            field = fields.get(key)
            if field is None:
                raise _Bad(f'{path}: unknown field "{key}" (fields: {", ".join(fields)})')
            kwargs[field.name] = _convert(item, hints[field.name], f"{path}.{key}")
        missing = [key for key, f in fields.items() if f.default is attrs.NOTHING and f.name not in kwargs]
        if missing:
            raise _Bad(f"{path}: missing required field {', '.join(missing)}")
        return type_(**kwargs)
    raise TypeError(f"no conversion to {type_!r}")  # a field type this parser does not know: a bug here


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    return "list"


# --- running --------------------------------------------------------------------------------------


class Runner:
    """Runs a scenario's steps on a running cluster, reporting each step through ``report``."""

    def __init__(self, scenario: Scenario, cluster: Cluster, report: Callable[[str], None]) -> None:
        self.scenario = scenario
        self.cluster = cluster
        self.report = report
        self.scheme = cluster.store.scheme
        self.start = cluster.now

    def namespace_of(self, step: Step) -> str:
        return getattr(step, "namespace", None) or self.scenario.namespace

    async def run(self) -> None:
        """Run every step in order; raises `StepFailed` at the first step that fails."""
        total = len(self.scenario.steps)
        for index, step in enumerate(self.scenario.steps, 1):
            elapsed = views.human_duration(self.cluster.now - self.start)
            self.report(f"[{index}/{total}] t={elapsed} {step.summary()}")
            try:
                lines = await step.run(self)
            except _Unmet as unmet:
                raise StepFailed(index, step, unmet.expected, unmet.seen) from None
            except (kubectl.KubectlError, DrainError) as exc:
                raise StepFailed(index, step, "", f"error: {exc}") from None
            except StoreError as exc:
                raise StepFailed(
                    index, step, "", f"Error from server ({exc.reason}): {exc.message}"
                ) from None
            for line in lines:
                self.report(f"    {line}")
