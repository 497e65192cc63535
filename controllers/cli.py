"""The ``setpoint`` command line.

``setpoint run PATH...`` loads manifests (files or folders), validates every document, stores them in a
fresh `MemoryStore` and prints what was stored. Bad manifests are reported with file:line:col, the exit
code is 1 and nothing is stored.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.console import Console
from rich.table import Table

from store import MemoryStore, StoreError
from store.manifests import InvalidManifest, load_paths
from store.models import ConfigMap, Deployment, Namespace, Object, Secret, Service

app = typer.Typer(
    name="setpoint",
    help="A Kubernetes-like control plane in one process.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """A Kubernetes-like control plane in one process."""


@app.command()
def run(
    paths: Annotated[list[Path], typer.Argument(help="Manifest files or folders (*.yaml, *.yml, *.json).")],
    seed: Annotated[int, typer.Option(help="Seed for uids and generated names.")] = 0,
) -> None:
    """Load manifests into a fresh in-memory store and show what was stored."""
    # Like kubectl, never truncate columns when the output is not a terminal.
    console = Console(width=None if sys.stdout.isatty() else 200)
    errors = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
    try:
        objects = load_paths(paths)
    except InvalidManifest as invalid:
        for error in invalid.errors:
            errors.print(str(error), markup=False, highlight=False)
        errors.print(f"{len(invalid.errors)} error(s); nothing was applied.", style="red")
        raise typer.Exit(1) from None
    try:
        store = anyio.run(_apply, objects, seed)
    except StoreError as exc:
        errors.print(f"error: {exc.message}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    console.print(_stored_table(store, objects))


async def _apply(objects: Sequence[Object], seed: int) -> MemoryStore:
    store = MemoryStore(seed=seed)
    # Namespaces first, as `kubectl apply -f` of a folder needs them before their contents.
    for obj in sorted(objects, key=lambda o: not isinstance(o, Namespace)):
        await store.create(obj)
    return store


def _stored_table(store: MemoryStore, objects: Sequence[Object]) -> Table:
    """What was stored, in the style of ``kubectl get all -A``."""
    table = Table(
        title=f"stored {len(objects)} objects; store revision {store.revision}",
        title_justify="left",
        box=None,
        pad_edge=False,
        header_style="bold",
    )
    for column in ("NAMESPACE", "NAME", "REVISION", "GENERATION", "DETAILS"):
        table.add_column(column, no_wrap=True)
    for obj in objects:
        info = store.scheme.info(type(obj))
        stored = store.get_now(type(obj), obj.metadata.name, obj.metadata.namespace)
        meta = stored.metadata
        table.add_row(
            meta.namespace or "",
            f"{info.qualified_kind.lower()}/{meta.name}",
            meta.resource_version,
            str(meta.generation) if meta.generation else "",
            _details(stored),
        )
    return table


def _details(obj: Object) -> str:
    if isinstance(obj, Deployment):
        images = ",".join(c.image for c in obj.spec.template.spec.containers)
        return f"replicas={obj.spec.replicas} image={images}"
    if isinstance(obj, Service):
        ports = ",".join(f"{p.port}/{p.protocol}" for p in obj.spec.ports)
        return f"type={obj.spec.type} ports={ports}"
    if isinstance(obj, ConfigMap | Secret):
        return f"data={','.join(sorted(obj.data))}"
    return ""


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``setpoint`` console script."""
    app(args=list(argv) if argv is not None else sys.argv[1:], prog_name="setpoint")
