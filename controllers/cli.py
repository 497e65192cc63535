"""The ``setpoint`` command line.

``setpoint run PATH...`` starts a whole cluster (simulated nodes and the built-in controllers, on virtual
time by default), applies the manifests found in files and folders, lets the cluster converge, and prints
what ``kubectl get`` would show: deployments, replica sets, pods, services, endpoints and events. Bad
manifests are reported with file:line:col, the exit code is 1 and nothing is applied.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated

import anyio
import structlog
import typer
from rich.console import Console
from rich.table import Table

from controllers import views
from controllers.cluster import Cluster
from store import StoreError
from store.etcd import EtcdStore, parse_url
from store.manifests import InvalidManifest, load_paths
from store.models import Deployment, Endpoints, Pod, ReplicaSet, Service

app = typer.Typer(
    name="setpoint",
    help="A Kubernetes-like control plane in one process.",
    no_args_is_help=True,
    add_completion=False,
)


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


@app.command()
def run(  # noqa: PLR0917 (typer: one parameter per option)
    paths: Annotated[list[Path], typer.Argument(help="Manifest files or folders (*.yaml, *.yml, *.json).")],
    nodes: Annotated[int, typer.Option(min=1, help="How many simulated nodes (node-1 … node-N).")] = 3,
    node_labels: Annotated[
        list[str] | None,
        typer.Option(help="Extra node labels, NODE:KEY=VALUE[,KEY=VALUE…]; repeatable."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulation (uids, names, tie-breaks).")] = 1,
    horizon: Annotated[
        float, typer.Option(min=0.0, help="Virtual seconds of requeues to wait for when settling.")
    ] = 60.0,
    store: Annotated[
        str | None,
        typer.Option(
            help="Keep the objects in etcd at etcd://HOST:PORT (the cluster then runs on real time)."
        ),
    ] = None,
) -> None:
    """Start a cluster, apply the manifests, let it converge and show the result."""
    console = Console(width=None if sys.stdout.isatty() else 200)
    errors = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
    labels = parse_node_labels(node_labels or [])
    try:
        objects = load_paths(paths)
    except InvalidManifest as invalid:
        for error in invalid.errors:
            errors.print(str(error), markup=False, highlight=False)
        errors.print(f"{len(invalid.errors)} error(s); nothing was applied.", style="red")
        raise typer.Exit(1) from None
    unknown = sorted(set(labels) - {f"node-{index}" for index in range(1, nodes + 1)})
    if unknown:
        raise BadArgument(f"no such node: {', '.join(unknown)} (nodes are node-1 … node-{nodes})")
    if store is not None:
        _check_store_url(store)
    cluster = Cluster(nodes=nodes, node_labels=labels, seed=seed) if store is None else None

    async def converge(cluster: Cluster) -> list[Table]:
        await cluster.apply(objects)
        took = await cluster.settle(horizon=horizon)
        tables = [_summary(cluster, len(objects), took)]
        for namespace in sorted({obj.metadata.namespace for obj in objects if obj.metadata.namespace}):
            tables.extend(await _namespace_tables(cluster, namespace))
        return tables

    try:
        tables = (
            cluster.run(converge) if cluster else _run_on_store(store or "", nodes, labels, seed, converge)
        )
    except StoreError as exc:
        errors.print(f"error: {exc.message}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    for table in tables:
        console.print(table)
        console.print()


def _check_store_url(url: str) -> None:
    try:
        parse_url(url)
    except ValueError as exc:
        raise BadArgument(str(exc), param_hint="--store") from None


def _run_on_store(
    url: str,
    nodes: int,
    labels: dict[str, dict[str, str]],
    seed: int,
    converge: Callable[[Cluster], Awaitable[list[Table]]],
) -> list[Table]:
    """Run ``converge`` on a real-time cluster whose objects live in the etcd at ``url``."""

    async def main() -> list[Table]:
        async with (
            EtcdStore.at(url, seed=seed) as backend,
            Cluster(nodes=nodes, node_labels=labels, seed=seed, virtual=False, store=backend) as cluster,
        ):
            return await converge(cluster)

    return anyio.run(main)


def _summary(cluster: Cluster, applied: int, took: float) -> Table:
    table = Table.grid()
    table.add_row(
        f"applied {applied} objects to a {len(cluster.node_configs)}-node cluster (seed {cluster.seed});"
        f" converged after {views.human_duration(took)} of {'virtual' if cluster.virtual else 'real'} time"
    )
    return table


async def _namespace_tables(cluster: Cluster, namespace: str) -> list[Table]:
    """What ``kubectl get deploy,rs,pods -o wide,svc,ep,events -n NAMESPACE`` shows."""
    now = cluster.clock.now()
    sections = [
        ("deployments", views.deployments(await cluster.list(Deployment, namespace=namespace), now)),
        ("replicasets", views.replica_sets(await cluster.list(ReplicaSet, namespace=namespace), now)),
        ("pods", views.pods(await cluster.list(Pod, namespace=namespace), now)),
        ("services", views.services(await cluster.list(Service, namespace=namespace), now)),
        ("endpoints", views.endpoints(await cluster.list(Endpoints, namespace=namespace), now)),
        ("events", views.events(await cluster.events(namespace=namespace), now)),
    ]
    return [_render(f"{title} ({namespace})", view) for title, view in sections if view.rows]


def _render(title: str, view: views.View) -> Table:
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for column in view.columns:
        table.add_column(column, no_wrap=True)
    for row in view.rows:
        table.add_row(*row)
    return table


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``setpoint`` console script."""
    # The controllers log every reconcile decision; on the command line only problems are worth a line.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    app(args=list(argv) if argv is not None else sys.argv[1:], prog_name="setpoint")
