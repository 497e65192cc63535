"""The ``setpoint`` command: run manifests on a simulated cluster, refuse bad ones whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from controllers import inspection
from controllers.cli import BadArgument, app, parse_node_labels
from controllers.cluster import Cluster
from store.manifests import load_paths

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_run_converges_the_myblog_example_and_prints_kubectl_tables() -> None:
    result = runner.invoke(app, ["run", str(EXAMPLES / "myblog"), "--node-labels", "node-1:component=mysql"])
    assert result.exit_code == 0, result.output
    assert "applied 8 objects to a 3-node cluster (seed 1)" in result.output
    for title in ("deployments (jds)", "replicasets (jds)", "pods (jds)", "services (jds)", "events (jds)"):
        assert title in result.output
    assert "NAME     READY   UP-TO-DATE   AVAILABLE   AGE" in result.output
    lines = result.output.splitlines()
    myblog = next(line for line in lines if line.startswith("myblog  "))
    assert myblog.split()[:4] == ["myblog", "2/2", "2", "2"]
    mysql_pod = next(line for line in lines if line.startswith("mysql-") and "Running" in line)
    assert mysql_pod.split()[6] == "node-1"


def test_without_a_mysql_node_the_database_stays_pending_with_the_reason() -> None:
    result = runner.invoke(app, ["run", str(EXAMPLES / "myblog")])
    assert result.exit_code == 0, result.output
    assert "FailedScheduling" in result.output
    assert "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector." in result.output


def test_run_reports_every_manifest_error_and_applies_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: two\n")
    result = runner.invoke(app, ["run", str(bad), str(EXAMPLES / "myblog")])
    assert result.exit_code == 1
    assert f"{bad}:5:3: spec.replicas: must be an integer, got string" in result.output
    assert "3 error(s); nothing was applied." in result.output
    assert "applied" not in result.output.replace("nothing was applied", "")


def test_run_of_a_missing_path_fails() -> None:
    result = runner.invoke(app, ["run", "does/not/exist.yaml"])
    assert result.exit_code == 1
    assert "does/not/exist.yaml:1:1: no such file or directory" in result.output


def test_node_labels_for_a_node_that_does_not_exist_are_refused() -> None:
    result = runner.invoke(app, ["run", str(EXAMPLES / "myblog"), "--node-labels", "node-9:a=b"])
    assert result.exit_code == 2
    assert "no such node: node-9" in result.output


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["node-1:component=mysql"], {"node-1": {"component": "mysql"}}),
        (["node-1:a=1,b=2", "node-2:c="], {"node-1": {"a": "1", "b": "2"}, "node-2": {"c": ""}}),
    ],
)
def test_node_labels_parse(values: list[str], expected: dict[str, dict[str, str]]) -> None:
    assert parse_node_labels(values) == expected


@pytest.mark.parametrize("value", ["component=mysql", "node-1:component", ":a=b", "node-1:=b"])
def test_malformed_node_labels_are_refused(value: str) -> None:
    with pytest.raises(BadArgument):
        parse_node_labels([value])


# --- --save, and reading the saved state back ------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The myblog demo without a mysql node (so mysql's rollout is unfinished), saved."""
    state = tmp_path_factory.mktemp("state") / "state.yaml"
    result = runner.invoke(app, ["run", str(EXAMPLES / "myblog"), "--save", str(state)])
    assert result.exit_code == 0, result.output
    assert f"state saved to {state}" in result.output
    return state


def from_state(saved: Path, *args: str) -> Result:
    return runner.invoke(app, [*args, "--from", str(saved)])


def test_a_saved_state_restores_every_object_as_it_was() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths([EXAMPLES / "myblog"]))
        await cluster.settle()
        text = await inspection.save_state(cluster.store, cluster.clock.now())
        store, saved_at = inspection.load_state(text)
        assert saved_at == cluster.clock.now().replace(microsecond=0)
        for info in cluster.store.scheme:
            before = (await cluster.store.list(info.cls)).items
            after = (await store.list(info.cls)).items
            # Equal values: uids, resource versions, timestamps, owner references and status included.
            assert after == before, info.kind
        assert store.revision == cluster.store.revision

    Cluster(nodes=3, seed=1).run(scenario)


def test_get_reads_a_saved_state_like_kubectl(saved: Path) -> None:
    result = from_state(saved, "get", "deploy", "-n", "jds")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "NAME     READY   UP-TO-DATE   AVAILABLE   AGE",
        "myblog   2/2     2            2           11s",
        "mysql    0/1     1            0           11s",
    ]
    result = from_state(saved, "get", "pods", "-A", "-o", "wide", "-l", "app=mysql")
    [header, mysql] = result.output.splitlines()
    assert header.split() == [
        "NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
        "READINESS", "GATES",
    ]  # fmt: skip
    assert mysql.split()[:4] == ["jds", mysql.split()[1], "0/1", "Pending"]
    assert mysql.split()[-4:] == ["<none>"] * 4


def test_get_by_name_in_every_output_format(saved: Path) -> None:
    as_yaml = from_state(saved, "get", "svc/myblog-np", "-n", "jds", "-o", "yaml").output
    assert as_yaml.startswith("apiVersion: v1\nkind: Service\nmetadata:\n  name: myblog-np\n")
    assert "nodePort: 300" in as_yaml
    as_json = json.loads(from_state(saved, "get", "service", "myblog-np", "-n", "jds", "-o", "json").output)
    assert as_json["spec"]["type"] == "NodePort"
    assert as_json["metadata"]["uid"]
    names = from_state(saved, "get", "rs", "-n", "jds", "-o", "name").output.split()
    assert [name.rpartition("-")[0] for name in names] == ["replicaset.apps/myblog", "replicaset.apps/mysql"]
    listed = from_state(saved, "get", "ns", "-o", "yaml").output
    assert listed.startswith("apiVersion: v1\nitems:\n")
    assert "kind: List" in listed


@pytest.mark.parametrize(
    "kind", ["po", "pod", "pods", "Pod", "deploy", "rs", "svc", "ep", "no", "ns", "ev", "cm"]
)
def test_kind_aliases(saved: Path, kind: str) -> None:
    result = from_state(saved, "get", kind, "-n", "jds")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(("NAME", "LAST SEEN"))


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["get", "widgets"], 'error: the server doesn\'t have a resource type "widgets"'),
        (
            ["get", "deploy", "nope", "-n", "jds"],
            'Error from server (NotFound): deployments.apps "nope" not found',
        ),
        (["get", "pods", "-o", "tall"], 'unable to match a printer suitable for the output format "tall"'),
        (["describe", "pod", "nope"], 'Error from server (NotFound): pods "nope" not found'),
        (["rollout", "history", "nope"], 'Error from server (NotFound): deployments.apps "nope" not found'),
    ],
)
def test_inspection_errors_exit_1_in_kubectls_words(saved: Path, args: list[str], error: str) -> None:
    result = from_state(saved, *args)
    assert result.exit_code == 1
    assert error in result.output


def test_nothing_found_is_said_as_kubectl_says_it(saved: Path) -> None:
    result = from_state(saved, "get", "pods", "-l", "app=none", "-n", "jds")
    assert result.exit_code == 0
    assert result.output == "No resources found in jds namespace.\n"


def test_describe_deployment_shows_its_replica_sets_and_events(saved: Path) -> None:
    result = from_state(saved, "describe", "deployment", "myblog", "-n", "jds")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["Name:                   myblog", "Namespace:              jds"]
    assert "Replicas:               2 desired | 2 updated | 2 total | 2 available | 0 unavailable" in lines
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in lines
    assert "   myblog:" in lines  # the container, under Pod Template
    assert any(
        line.startswith("NewReplicaSet:   myblog-") and "(2/2 replicas created)" in line for line in lines
    )
    assert lines[-4:-1] == [
        "Events:",
        "  Type    Reason             Age   From                   Message",
        "  ----    ------             ----  ----                   -------",
    ]
    assert lines[-1].split()[:3] == ["Normal", "ScalingReplicaSet", "11s"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["rs", "-l", "app=myblog"],
            ["Controlled By:  Deployment/myblog", "Pods Status:    2 Running / 0 Waiting"],
        ),
        (
            ["pods", "-l", "app=mysql"],
            ["Status:           Pending", "Node-Selectors:  component=mysql", "FailedScheduling"],
        ),
        (
            ["node", "node-1"],
            [
                "Roles: <none>",
                "Non-terminated Pods:",
                "KubeletReady",
                "Allocated resources:",
                "cpu 0 (0%) 0 (0%)",
            ],
        ),
        (["node", "node-3"], ["cpu 50m (1%) 100m (2%)", "memory 100Mi (0%) 500Mi (3%)"]),
        (
            ["svc", "myblog-np"],
            ["Type:                     NodePort", "NodePort:", "Endpoints:                "],
        ),
        (["ep", "myblog"], ["Subsets:", "  Addresses:          10.244."]),
        (["cm", "myblog"], ["Name:               myblog", "Events:             <none>"]),
    ],
)
def test_describe_each_kind(saved: Path, args: list[str], expected: list[str]) -> None:
    kind, *rest = args
    if rest[0] == "-l":  # generated names: find the object first
        [name] = from_state(saved, "get", kind, "-n", "jds", *rest, "-o", "name").output.split()
        rest = [name.partition("/")[2]]
    result = from_state(saved, "describe", kind, *rest, "-n", "jds")
    assert result.exit_code == 0, result.output
    # Column widths depend on the whole block; compare with runs of spaces squeezed.
    squeezed = re.sub(r" +", " ", result.output)
    for text in expected:
        assert re.sub(r" +", " ", text) in squeezed


def test_events_and_rollouts_from_a_saved_state(saved: Path) -> None:
    events = from_state(saved, "events", "-n", "jds").output.splitlines()
    assert events[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any("FailedScheduling" in line and "pod/mysql-" in line for line in events)
    assert "NAMESPACE" in from_state(saved, "events", "-A").output.splitlines()[0]
    history = from_state(saved, "rollout", "history", "deployment/myblog", "-n", "jds")
    assert history.output == "deployment.apps/myblog \nREVISION  CHANGE-CAUSE\n1         <none>\n"
    done = from_state(saved, "rollout", "status", "myblog", "-n", "jds")
    assert (done.exit_code, done.output) == (0, 'deployment "myblog" successfully rolled out\n')
    waiting = from_state(saved, "rollout", "status", "mysql", "-n", "jds")
    assert waiting.exit_code == 1
    assert waiting.output == (
        'Waiting for deployment "mysql" rollout to finish: 0 of 1 updated replicas are available...\n'
    )


def test_a_file_that_is_not_a_saved_state_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "state.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: oops}\n")
    result = runner.invoke(app, ["get", "pods", "--from", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:4:8: spec.containers: must be an array, got string" in result.output
    assert f"error: {bad} is not a saved state" in result.output


def test_real_time_run_converges_on_the_real_clock(tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: web, image: nginx}]}\n"
    )
    result = runner.invoke(app, ["run", str(manifest), "--real-time", "--nodes", "1"])
    assert result.exit_code == 0, result.output
    assert "of real time" in result.output
    assert "web    1/1     1            1" in result.output
