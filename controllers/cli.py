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
from store.models import Namespace, Object

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
    console = Console()
    errors = Console(stderr=True)
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
    table = Table(title=f"Stored {len(objects)} objects (store revision {store.revision})")
    for column in ("KIND", "NAMESPACE", "NAME", "RESOURCE VERSION", "GENERATION", "UID"):
        table.add_column(column, no_wrap=True)
    for obj in objects:
        meta = obj.metadata
        info = store.scheme.info(type(obj))
        stored = store.get_now(type(obj), meta.name, meta.namespace)
        smeta = stored.metadata
        table.add_row(
            info.kind,
            smeta.namespace or "-",
            smeta.name,
            smeta.resource_version,
            str(smeta.generation) if smeta.generation else "-",
            smeta.uid,
        )
    return table


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``setpoint`` console script."""
    app(args=list(argv) if argv is not None else sys.argv[1:], prog_name="setpoint")
