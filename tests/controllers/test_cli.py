"""The ``setpoint`` command: loading manifests into a store, and refusing bad ones whole."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from controllers.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_run_stores_the_myblog_example_and_lists_it() -> None:
    result = runner.invoke(app, ["run", str(EXAMPLES / "myblog")])
    assert result.exit_code == 0, result.output
    assert "stored 8 objects" in result.output
    assert "deployment.apps/myblog" in result.output
    assert "service/myblog-np" in result.output


def test_run_reports_every_manifest_error_and_applies_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: two\n")
    result = runner.invoke(app, ["run", str(bad), str(EXAMPLES / "myblog")])
    assert result.exit_code == 1
    assert f"{bad}:5:3: spec.replicas: must be an integer, got string" in result.output
    assert "3 error(s); nothing was applied." in result.output
    assert "stored" not in result.output


def test_run_of_a_missing_path_fails() -> None:
    result = runner.invoke(app, ["run", "does/not/exist.yaml"])
    assert result.exit_code == 1
    assert "does/not/exist.yaml:1:1: no such file or directory" in result.output
