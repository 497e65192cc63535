"""``setpoint run --store``: a bad etcd address is a usage error that names the option."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from controllers.cli import app

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
