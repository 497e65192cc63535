"""``setpoint run --store``: the demo converges on etcd; a bad address is a usage error naming the option."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from controllers.cli import app
from store.etcd_server import INSTALL_HINT, EtcdServer, etcd_binary

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:2379", "expected etcd://HOST:PORT"),
        ("etcd://127.0.0.1:port", "the port is not a number"),
        ("etcd://127.0.0.1:2379/registry", "no path expected"),
    ],
)
def test_a_store_that_is_not_an_etcd_address_is_rejected_before_anything_runs(url: str, why: str) -> None:
    result = CliRunner().invoke(app, ["run", str(EXAMPLES / "myblog"), "--store", url])
    assert result.exit_code == 2
    assert "--store" in result.output
    assert why in " ".join(result.output.replace("│", " ").split())  # the message may wrap in its box


def test_the_demo_converges_with_its_objects_in_etcd() -> None:
    if etcd_binary() is None:
        pytest.skip(INSTALL_HINT)
    with EtcdServer() as server:
        args = ["run", str(EXAMPLES / "myblog"), "--node-labels", "node-1:component=mysql"]
        result = CliRunner().invoke(app, [*args, "--store", server.url])
    assert result.exit_code == 0, result.output
    assert "of real time" in result.output
    deployments = result.output.split("deployments (jds)\n", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert sorted(line.split()[:2] for line in deployments) == [["myblog", "2/2"], ["mysql", "1/1"]]
