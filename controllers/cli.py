"""The ``setpoint`` command line.

``setpoint run PATH...`` starts a whole cluster (simulated nodes and the built-in controllers, on virtual
time by default), applies the manifests found in files and folders, lets the cluster converge, and prints
what ``kubectl get`` would show: deployments, replica sets, pods, services, endpoints and events. Bad
manifests are reported with file:line:col, the exit code is 1 and nothing is applied. A scenario (a YAML
file with a ``steps`` list, or a folder holding ``scenario.yaml``; see `controllers.scenarios`) is run
step by step instead, and a failed expectation exits 1 naming the step.

``--save FILE`` writes the final state as a manifest set; ``setpoint get|describe|events|rollout ...
--from FILE`` reads it back, as kubectl reads a cluster.

Output to a terminal gets a live view (real time) or a progress bar (scenarios); output to anything else
is plain text, the same on every run with the same seed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import anyio
import structlog
import typer
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from controllers import inspection, kubectl, scenarios, views
from controllers.cluster import Cluster
from store import MemoryStore, StoreError
from store.etcd import EtcdStore, parse_url
from store.manifests import InvalidManifest, load_paths
from store.models import Deployment, Endpoints, Pod, ReplicaSet, Service

app = typer.Typer(
    name="setpoint",
    help="A Kubernetes-like control plane in one process.",
    no_args_is_help=True,
    add_completion=False,
)
rollout_app = typer.Typer(help="Look at a deployment's rollout: history or status.", no_args_is_help=True)
app.add_typer(rollout_app, name="rollout")


@app.callback()
def _root() -> None:
    """A Kubernetes-like control plane in one process."""


class BadArgument(typer.BadParameter):
    """A command-line value that cannot be used (said with what and where)."""


def parse_node_labels(values: Sequence[str]) -> dict[str, dict[str, str]]:
    """``node-1:component=mysql,tier=db`` → {"node-1": {"component": "mysql", "tier": "db"}}."""
    labels: dict[str, dict[str, str]] = {}
    for value in values:
        node, sep, pairs = value.partition(":")
        if not sep or not node:
            raise BadArgument(f"{value!r}: expected NODE:KEY=VALUE[,KEY=VALUE…]", param_hint="--node-labels")
        for pair in pairs.split(","):
            key, eq, label = pair.partition("=")
            if not eq or not key:
                raise BadArgument(f"{value!r}: {pair!r} is not KEY=VALUE", param_hint="--node-labels")
            labels.setdefault(node, {})[key] = label
    return labels


T = TypeVar("T")


def _consoles() -> tuple[Console, Console]:
    # Lines are never wrapped (soft wrap): tables stay tables, and plain output is the same on any width.
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    return out, err


def _fail(errors: Console, lines: Sequence[str], summary: str) -> typer.Exit:
    for line in lines:
        errors.print(line, markup=False)
    errors.print(summary, style="red", markup=False)
    return typer.Exit(1)


# --- run ------------------------------------------------------------------------------------------


@app.command()
def run(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Manifest files or folders (*.yaml, *.yml, *.json), or one scenario."),
    ],
    *,
    nodes: Annotated[
        int | None, typer.Option(min=1, help="How many simulated nodes (node-1 … node-N) [default: 3].")
    ] = None,
    node_labels: Annotated[
        list[str] | None,
        typer.Option(help="Extra node labels, NODE:KEY=VALUE[,KEY=VALUE…]; repeatable."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the simulation (uids, names, tie-breaks) [default: 1].")
    ] = None,
    horizon: Annotated[
        float, typer.Option(min=0.0, help="Virtual seconds of requeues to wait for when settling.")
    ] = 60.0,
    virtual_time: Annotated[
        bool,
        typer.Option(
            "--virtual-time/--real-time",
            help="Run on virtual time (deterministic, instant) or on the real clock with a live view.",
        ),
    ] = True,
    timeout: Annotated[
        float, typer.Option(min=0.0, help="Real time only: seconds to wait for the rollouts to finish.")
    ] = 120.0,
    save: Annotated[
        Path | None, typer.Option(help="Write the final state to this file (read it back with --from).")
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="Keep the objects in etcd at etcd://HOST:PORT (the cluster then runs on real time)."
        ),
    ] = None,
) -> None:
    """Start a cluster, apply the manifests (or run the scenario), and show the result."""
    out, errors = _consoles()
    labels = parse_node_labels(node_labels or [])
    if store is not None:
        _check_store_url(store)
        virtual_time = False
    if len(paths) == 1 and scenarios.is_scenario(paths[0]):
        if store is not None:
            raise BadArgument("scenarios run on virtual time, with the store in memory", param_hint="--store")
        _run_scenario(
            paths[0],
            out=out,
            errors=errors,
            nodes=nodes,
            labels=labels,
            seed=seed,
            virtual=virtual_time,
            save=save,
        )
        return
    if any(scenarios.is_scenario(path) for path in paths):
        raise BadArgument("a scenario runs alone: give it as the only PATH", param_hint="PATHS")
    try:
        objects = load_paths(paths)
    except InvalidManifest as invalid:
        raise _fail(
            errors, [str(e) for e in invalid.errors], f"{len(invalid.errors)} error(s); nothing was applied."
        ) from None
    cluster = _cluster(nodes or 3, labels, 1 if seed is None else seed, virtual_time and store is None)
    scheme = cluster.store.scheme
    namespaces = sorted(
        {obj.metadata.namespace or "default" for obj in objects if scheme.info(type(obj)).namespaced}
    ) or ["default"]

    async def converge(cluster: Cluster) -> list[str]:
        applied = await kubectl.apply(cluster.store, objects)
        if cluster.simulation is not None:
            took = await cluster.settle(horizon=horizon)
        else:
            took = await _watch_until_rolled_out(cluster, namespaces, out, timeout)
        sections = [*applied, "", _summary(cluster, len(objects), took, cluster.simulation is not None)]
        for namespace in namespaces:
            sections.extend(await _namespace_tables(cluster, namespace))
        if save is not None:
            save.write_text(await inspection.save_state(cluster.store, cluster.clock.now()), encoding="utf-8")
            sections.append(f"state saved to {save}")
        return sections

    try:
        sections = cluster.run(converge) if store is None else _run_on_etcd(store, cluster, converge)
    except StoreError as exc:
        raise _fail(errors, [], f"Error from server ({exc.reason}): {exc.message}") from None
    for section in sections:
        out.print(section, markup=False)


def _cluster(nodes: int, labels: dict[str, dict[str, str]], seed: int, virtual: bool) -> Cluster:
    unknown = sorted(set(labels) - {f"node-{index}" for index in range(1, nodes + 1)})
    if unknown:
        raise BadArgument(f"no such node: {', '.join(unknown)} (nodes are node-1 … node-{nodes})")
    return Cluster(nodes=nodes, node_labels=labels, seed=seed, virtual=virtual)


def _check_store_url(url: str) -> None:
    try:
        parse_url(url)
    except ValueError as exc:
        raise BadArgument(str(exc), param_hint="--store") from None


def _run_on_etcd(url: str, template: Cluster, converge: Callable[[Cluster], Awaitable[T]]) -> T:
    """Run ``converge`` on a real-time cluster like ``template`` whose objects live in the etcd at ``url``."""

    async def main() -> T:
        async with (
            EtcdStore.at(url, seed=template.seed) as backend,
            Cluster(nodes=template.node_configs, seed=template.seed, virtual=False, store=backend) as cluster,
        ):
            return await converge(cluster)

    return anyio.run(main)


def _summary(cluster: Cluster, applied: int, took: float, virtual: bool) -> str:
    clock = "virtual" if virtual else "real"
    return (
        f"applied {applied} objects to a {len(cluster.node_configs)}-node cluster (seed {cluster.seed});"
        f" converged after {views.human_duration(took)} of {clock} time"
    )


async def _namespace_tables(cluster: Cluster, namespace: str) -> list[str]:
    """What ``kubectl get deploy,rs,pods -o wide,svc,ep,events -n NAMESPACE`` shows."""
    now = cluster.clock.now()
    sections = [
        ("deployments", views.deployments(await cluster.list(Deployment, namespace=namespace), now)),
        ("replicasets", views.replica_sets(await cluster.list(ReplicaSet, namespace=namespace), now)),
        ("pods", views.pods(await cluster.list(Pod, namespace=namespace), now, wide=True)),
        ("services", views.services(await cluster.list(Service, namespace=namespace), now)),
        ("endpoints", views.endpoints(await cluster.list(Endpoints, namespace=namespace), now)),
        ("events", views.events(await cluster.events(namespace=namespace), now)),
    ]
    return [f"\n{title} ({namespace})\n{views.render(view)}" for title, view in sections if view.rows]


async def _watch_until_rolled_out(
    cluster: Cluster, namespaces: list[str], out: Console, timeout: float
) -> float:
    """Real time: poll until every deployment has rolled out, showing the pods live on a terminal."""
    start = cluster.now

    async def pods_view() -> Text:
        now = cluster.clock.now()
        tables = []
        for namespace in namespaces:
            pods = await cluster.list(Pod, namespace=namespace)
            if pods:
                tables.append(views.render(views.pods(pods, now, wide=True)))
        elapsed = views.human_duration(cluster.now - start)
        return Text(f"waiting for the rollouts ({elapsed})\n" + "\n".join(tables))

    async def rolled_out() -> bool:
        deployments = [d for ns in namespaces for d in await cluster.list(Deployment, namespace=ns)]
        return all(kubectl.rollout_status(d).done for d in deployments)

    live = Live(await pods_view(), console=out, transient=True) if out.is_terminal else None
    if live is not None:
        live.start()
    try:
        while cluster.now - start < timeout:
            if await rolled_out():
                break
            await cluster.advance(0.5)
            if live is not None:
                live.update(await pods_view())
    finally:
        if live is not None:
            live.stop()
    return cluster.now - start


def _run_scenario(
    path: Path,
    *,
    out: Console,
    errors: Console,
    nodes: int | None,
    labels: dict[str, dict[str, str]],
    seed: int | None,
    virtual: bool,
    save: Path | None,
) -> None:
    try:
        scenario = scenarios.load(path)
    except scenarios.ScenarioError as invalid:
        raise _fail(
            errors,
            [str(p) for p in invalid.problems],
            f"{len(invalid.problems)} problem(s) in the scenario; nothing was run.",
        ) from None
    merged = {key: dict(value) for key, value in scenario.node_labels.items()}
    for node, extra in labels.items():
        merged.setdefault(node, {}).update(extra)
    cluster = _cluster(nodes or scenario.nodes, merged, scenario.seed if seed is None else seed, virtual)
    out.print(
        f"scenario {scenario.file}: {len(scenario.steps)} steps on a {len(cluster.node_configs)}-node cluster"
        f" (seed {cluster.seed}, {'virtual' if virtual else 'real'} time)",
        markup=False,
    )
    if scenario.description:
        out.print(scenario.description.strip(), markup=False)

    async def play(cluster: Cluster) -> scenarios.StepFailed | None:
        progress = _progress(out, len(scenario.steps))
        report = progress.console.print if progress is not None else out.print

        def show(line: str) -> None:
            report(line, markup=False)
            if progress is not None and line.startswith("["):
                progress.update(progress.task_ids[0], advance=1, description=line.split("] ", 1)[-1])

        runner = scenarios.Runner(scenario, cluster, show)
        failed = None
        try:
            if progress is not None:
                with progress:
                    await runner.run()
            else:
                await runner.run()
        except scenarios.StepFailed as exc:
            failed = exc
        if save is not None:
            save.write_text(await inspection.save_state(cluster.store, cluster.clock.now()), encoding="utf-8")
            out.print(f"state saved to {save}", markup=False)
        if failed is None:
            elapsed = views.human_duration(cluster.now - runner.start)
            clock = "virtual" if virtual else "real"
            out.print(
                f"scenario passed: {len(scenario.steps)} steps, {elapsed} of {clock} time", markup=False
            )
        return failed

    failed = cluster.run(play)
    if failed is not None:
        raise _fail(errors, [str(failed)], "scenario failed")


def _progress(out: Console, steps: int) -> Progress | None:
    """A progress bar over the steps, on a terminal only."""
    if not out.is_terminal:
        return None
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(), console=out
    )
    progress.add_task("starting", total=steps)
    return progress


# --- reading a saved state ------------------------------------------------------------------------

FromOption = Annotated[
    Path, typer.Option("--from", help="A state saved by `setpoint run --save FILE`.", show_default=False)
]
NamespaceOption = Annotated[str, typer.Option("--namespace", "-n", help="The namespace.")]
AllNamespacesOption = Annotated[
    bool, typer.Option("--all-namespaces", "-A", help="Every namespace (overrides --namespace).")
]


def _read(state: Path, action: Callable[[MemoryStore, datetime], Awaitable[str]]) -> None:
    """Load a saved state and print what ``action`` makes of it; kubectl's errors exit 1."""
    out, errors = _consoles()
    try:
        text = state.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(errors, [], f"error: cannot read {state}: {exc}") from None
    try:
        store, now = inspection.load_state(text, filename=str(state))
    except InvalidManifest as invalid:
        raise _fail(
            errors, [str(e) for e in invalid.errors], f"error: {state} is not a saved state"
        ) from None

    async def main() -> str:
        return await action(store, now)

    try:
        printed = anyio.run(main)
    except kubectl.KubectlError as exc:
        raise _fail(errors, [], f"error: {exc}") from None
    except StoreError as exc:
        raise _fail(errors, [], f"Error from server ({exc.reason}): {exc.message}") from None
    if printed.startswith(("No resources found", "No events found")):
        errors.print(printed, markup=False)
    else:
        out.print(printed, markup=False)


def _kind_and_name(kind: str, name: str | None) -> tuple[str, str | None]:
    """kubectl's ``KIND NAME`` or ``KIND/NAME``."""
    if "/" in kind:
        if name is not None:
            raise BadArgument(
                "there is no need to specify a resource type as a separate argument"
                " when passing arguments in resource/name form"
            )
        kind, _, name = kind.partition("/")
    return kind, name


@app.command()
def get(
    kind: Annotated[
        str, typer.Argument(help="The kind: pods, deploy, rs, svc, ep, no, ns, ev, … or KIND/NAME.")
    ],
    name: Annotated[str | None, typer.Argument(help="One object by name.")] = None,
    *,
    state: FromOption,
    output: Annotated[str, typer.Option("--output", "-o", help="wide, yaml, json or name.")] = "",
    selector: Annotated[str | None, typer.Option("--selector", "-l", help="A label selector.")] = None,
    namespace: NamespaceOption = "default",
    all_namespaces: AllNamespacesOption = False,
) -> None:
    """Show objects as `kubectl get` does."""
    kind, name = _kind_and_name(kind, name)

    async def action(store: MemoryStore, now: datetime) -> str:
        return await inspection.get(
            store,
            kind,
            name,
            now=now,
            namespace=namespace,
            all_namespaces=all_namespaces,
            selector=selector,
            output=output,
        )

    _read(state, action)


@app.command()
def describe(
    kind: Annotated[str, typer.Argument(help="The kind (or KIND/NAME).")],
    name: Annotated[str | None, typer.Argument(help="The object's name.")] = None,
    *,
    state: FromOption,
    namespace: NamespaceOption = "default",
) -> None:
    """Show one object in detail, with its events, as `kubectl describe` does."""
    kind, name = _kind_and_name(kind, name)
    if name is None:
        raise BadArgument("describe needs KIND NAME (or KIND/NAME)")
    wanted = name

    async def action(store: MemoryStore, now: datetime) -> str:
        return (await inspection.describe(store, kind, wanted, now=now, namespace=namespace)).rstrip("\n")

    _read(state, action)


@app.command()
def events(
    *, state: FromOption, namespace: NamespaceOption = "default", all_namespaces: AllNamespacesOption = False
) -> None:
    """List events, oldest first, as `kubectl events` does."""

    async def action(store: MemoryStore, now: datetime) -> str:
        return await inspection.events(store, now=now, namespace=None if all_namespaces else namespace)

    _read(state, action)


def _deployment_name(target: str) -> str:
    kind, slash, name = target.partition("/")
    if not slash:
        return target
    if kubectl.resolve_kind(kind).cls is not Deployment:
        raise BadArgument(f'no rollouts for "{kind}": only deployments roll out here')
    return name


@rollout_app.command("history")
def rollout_history(
    deployment: Annotated[str, typer.Argument(help="The deployment (NAME or deployment/NAME).")],
    *,
    state: FromOption,
    namespace: NamespaceOption = "default",
) -> None:
    """The deployment's revisions, as `kubectl rollout history` shows them."""
    name = _deployment_name(deployment)

    async def action(store: MemoryStore, now: datetime) -> str:
        return await inspection.rollout_history(store, name, namespace=namespace)

    _read(state, action)


@rollout_app.command("status")
def rollout_status(
    deployment: Annotated[str, typer.Argument(help="The deployment (NAME or deployment/NAME).")],
    *,
    state: FromOption,
    namespace: NamespaceOption = "default",
) -> None:
    """Where the deployment's rollout stood, in `kubectl rollout status`'s words (exit 1 if unfinished)."""
    name = _deployment_name(deployment)
    done = True

    async def action(store: MemoryStore, now: datetime) -> str:
        nonlocal done
        status = await inspection.rollout_status(store, name, namespace=namespace)
        done = status.done and not status.failed
        return status.message

    _read(state, action)
    if not done:
        raise typer.Exit(1)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``setpoint`` console script."""
    # The controllers log every reconcile decision; on the command line only problems are worth a line.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    app(args=list(argv) if argv is not None else sys.argv[1:], prog_name="setpoint")
