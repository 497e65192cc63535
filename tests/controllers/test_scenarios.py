"""Scenarios: every verb does what kubectl does, bad files are refused whole, failures name their step."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from controllers import scenarios
from controllers.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""

EVERY_VERB = """\
description: Every verb, once.
steps:
  - apply:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        replicas: 2
        selector: {matchLabels: {app: web}}
        template:
          metadata: {labels: {app: web}}
          spec: {containers: [{name: web, image: "nginx:1"}]}
  - apply: [svc.yaml]
  - settle
  - expect: {deploymentComplete: web}
  - scale: {deployment: web, replicas: 3}
  - expect: {podsReady: {count: 3, selector: app=web}, within: 30}
  - set image: {deployment: web, images: {web: "nginx:2"}}
  - expect: {deploymentComplete: web, within: 60}
  - rollout pause: web
  - set image: {deployment: web, images: {web: "nginx:3"}}
  - wait: 10
  - expect: {rolloutHistory: {deployment: web, revisions: [1, 2], current: 2, image: "nginx:3"}}
  - rollout resume: web
  - expect: {deploymentComplete: web, within: 60}
  - rollout undo: {deployment: web, toRevision: 3}
  - rollout undo: {deployment: web, toRevision: 1}
  - expect:
      rolloutHistory: {deployment: web, revisions: [2, 3, 4], current: 4, image: "nginx:1"}
      within: 30
  - expect: {deploymentComplete: web, within: 60}
  - rollout status: web
  - rollout history: web
  - cordon: node-3
  - get: nodes
  - uncordon: node-3
  - drain: node-1
  - expect: {podsReady: {count: 3}, within: 30}
  - expect: {podsReady: {count: 0, node: node-1}}
  - label: {target: node/node-2, labels: {disk: ssd}}
  - get: {kind: "no", selector: disk=ssd}
  - get: node/node-2
  - set readiness: {selector: app=web, ready: false}
  - expect: {endpoints: {name: web, ready: 0, notReady: 3}, within: 30}
  - set readiness: {selector: app=web, ready: true}
  - expect: {endpoints: {name: web, ready: 3}, within: 30}
  - stop-node: node-2
  - expect: {nodeReady: {node: node-2, status: Unknown}, within: 60}
  - start-node: node-2
  - expect: {nodeReady: {node: node-2, status: "True"}, within: 30}
  - describe: deploy/web
  - events
  - expect:
      events:
        involving: deployment/web
        sequence:
          - {reason: ScalingReplicaSet, message: "Scaled up replica set web-* from 0 to 2"}
          - {reason: ScalingReplicaSet, message: "Scaled up replica set web-* from 2 to 3"}
  - delete: deployment/web
  - expect: {podsReady: {count: 0}, within: 60}
  - get: deploy
  - apply:
      apiVersion: v1
      kind: Pod
      metadata: {name: db, labels: {app: db}}
      spec:
        nodeSelector: {disk: nvme}
        containers: [{name: db, image: "mysql:8"}]
  - expect:
      podPending: {selector: app=db, reason: FailedScheduling, message: "0/3 nodes are available*"}
      within: 5
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def in_order(output: str, expected: list[str]) -> None:
    """Each expected text appears in ``output``, after the one before it."""
    position = 0
    for text in expected:
        found = output.find(text, position)
        assert found >= 0, f"{text!r} not found after position {position} in:\n{output}"
        position = found + len(text)


def test_every_verb_and_condition_is_used_by_the_every_verb_scenario(tmp_path: Path) -> None:
    write(tmp_path, SERVICE, "svc.yaml")
    scenario = scenarios.load(write(tmp_path, EVERY_VERB))
    used = {type(step) for step in scenario.steps}
    assert {scenarios.VERBS[verb] for verb in scenarios.VERBS if verb != "expect"} <= used
    assert set(scenarios.CONDITIONS.values()) <= used


def test_every_verb_does_what_kubectl_does(tmp_path: Path) -> None:
    write(tmp_path, SERVICE, "svc.yaml")
    result = runner.invoke(app, ["run", str(write(tmp_path, EVERY_VERB))])
    assert result.exit_code == 0, result.output
    in_order(
        result.output,
        [
            "[1/45] t=0s apply deployment/web",
            "deployment.apps/web created",
            "[2/45] t=0s apply svc.yaml",
            "service/web created",
            "deployment.apps/web scaled",
            "3 Running and Ready",
            "set image deployment/web web=nginx:2",
            "deployment.apps/web image updated",
            "deployment.apps/web paused",
            # Paused: the new template waits, no revision 3 yet.
            "ok: deployment web: revisions 1, 2; at revision 2 running nginx:3",
            "deployment.apps/web resumed",
            "deployment.apps/web skipped rollback (current template already matches revision 3)",
            "rollout undo deployment/web --to-revision=1",
            "deployment.apps/web rolled back",
            "revisions 2, 3, 4; at revision 4 running nginx:1",
            'deployment "web" successfully rolled out',
            "deployment.apps/web \n    REVISION  CHANGE-CAUSE\n    2         <none>\n    3         <none>\n"
            "    4         <none>",
            "node/node-3 cordoned",
            "node-3   Ready,SchedulingDisabled   <none>",
            "node/node-3 uncordoned",
            "node/node-1 cordoned",
            "pod/web-",
            " deleted",
            "node/node-1 drained",
            "ok: 0 Running and Ready: none",
            "node/node-2 labeled",
            "get no -l disk=ssd\n    NAME     STATUS   ROLES    AGE   VERSION\n    node-2   Ready",
            "get node/node-2\n    NAME     STATUS   ROLES    AGE   VERSION\n    node-2   Ready",
            "readiness probes failing",
            "0 ready (none), 3 not ready",
            "readiness probes passing",
            "3 ready",
            "node/node-2 stopped",
            "Ready=Unknown (NodeStatusUnknown)",
            "node/node-2 started",
            "Ready=True (KubeletReady)",
            "Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable",
            "LAST SEEN   TYPE",
            "matched in order:",
            'deployment.apps "web" deleted',
            "No resources found in default namespace.",
            "pod/db created",
            # node-1 is still cordoned from the drain.
            "db Pending: FailedScheduling: 0/3 nodes are available: 1 node(s) were unschedulable,"
            " 2 node(s) didn't match Pod's node affinity/selector.",
            "scenario passed: 45 steps",
        ],
    )


BAD_STEPS = """\
steps:
  - apply:
      apiVersion: v1
      kind: Namespace
      metadata: {name: fine}
  - aply: x.yaml
  - scale: {deployment: web}
  - wait: soon
  - cordon: {node: node-1, force: true}
  - expect: {podsReady: {count: two}}
  - apply:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: x}
      spec: {replicas: two, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}}}
  - expect: {deploymentComplete: web, podsReady: {count: 1}}
  - rollout undo: {deployment: web, toRevision: -1}
  - expect: {nodeReady: {node: node-1, status: True}}
  - apply: missing.yaml
  - [wait, 1]
"""


def test_bad_steps_are_all_reported_with_their_position_and_nothing_runs(tmp_path: Path) -> None:
    path = write(tmp_path, BAD_STEPS)
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f'{path}:6:5: steps[2]: unknown verb "aply"; did you mean "apply"?',
        f"{path}:7:12: steps[3].scale: missing required field replicas",
        f"{path}:8:11: steps[4].wait.seconds: must be a number, got string",
        f'{path}:9:28: steps[5].cordon: unknown field "force" (fields: node)',
        f"{path}:10:33: steps[6].expect.podsReady.count: must be an integer, got string",
        f"{path}:15:14: steps[7].apply: spec.replicas: must be an integer, got string",
        f"{path}:16:13: steps[8].expect: needs exactly one condition (deploymentComplete, podsReady,"
        " podPending, events, endpoints, nodeReady, rolloutHistory), got deploymentComplete, podsReady",
        f"{path}:17:19: steps[9].rollout undo.toRevision: must not be negative, got -1",
        f"{path}:18:48: steps[10].expect.nodeReady.status: must be a string, got boolean"
        " (YAML reads it as a boolean: quote it)",
        f"{path}:19:12: steps[11].apply: missing.yaml: no such file or directory",
        f"{path}:20:5: steps[12]: a step is one verb (e.g. - wait: 10), got list",
        "11 problem(s) in the scenario; nothing was run.",
    ]


def test_a_bad_manifest_file_in_a_scenario_is_reported_at_its_own_position(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: high}]}\n",
        "s.yaml",
    )
    result = runner.invoke(app, ["run", str(write(tmp_path, "steps:\n  - apply: s.yaml\n"))])
    assert result.exit_code == 1
    assert f"{bad}:4:17: spec.ports[0].port: must be an integer, got string" in result.output
    assert "nothing was run" in result.output


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("steps: []\n", "1:8: steps: a scenario needs at least one step"),
        ("steps: wait\n", "1:8: steps: must be a list of steps, got string"),
        ("nodes: three\nsteps: [settle]\n", "1:8: nodes: must be an integer, got string"),
        ("steps: [settle]\nextra: 1\n", '2:1: unknown field "extra"'),
        ("steps: [{expect: {}}]\n", "needs exactly one condition"),
        (
            "steps: [{get: {kind: pods, output: tall}}]\n",
            'steps[1].get.output: must be one of "", "wide", "yaml", "json", "name", got "tall"',
        ),
        ("steps: [{scale: web}]\n", "steps[1].scale: needs a mapping of fields (deployment, replicas"),
    ],
)
def test_malformed_scenarios_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(scenarios.ScenarioError) as raised:
        scenarios.load(write(tmp_path, text))
    assert problem in str(raised.value)


def test_a_failing_expectation_exits_1_naming_the_step_with_expected_and_seen(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
steps:
  - apply: svc.yaml
  - wait: 5
  - expect: {endpoints: {name: web, ready: 1}, within: 3}
  - get: pods
""",
    )
    write(tmp_path, SERVICE, "svc.yaml")
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines()[-4:] == [
        f"step 3 (expect, {path}:4:5) failed: expect endpoints within 3s",
        "  expected: endpoints web: 1 ready",
        "  seen:     0 ready (none), 0 not ready",
        "scenario failed",
    ]
    assert "[3/4] t=5s expect endpoints" in result.output
    assert "[4/4]" not in result.output


def test_an_event_sequence_out_of_order_fails_and_shows_the_events(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
steps:
  - apply: {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: i}]}}
  - settle
  - expect:
      events:
        involving: pod/p
        sequence: [{reason: Started}, {reason: Scheduled}]
""",
    )
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 1
    assert "expected: Started → Scheduled" in result.output
    assert "seen:     Scheduled: Successfully assigned default/p to node-" in result.output


@pytest.mark.parametrize(
    ("step", "error"),
    [
        (
            "rollout undo: {deployment: web, toRevision: 9}",
            "error: unable to find specified revision 9 in history",
        ),
        ("rollout resume: web", 'error: deployments.apps "web" is not paused'),
        ("set image: {deployment: web, images: {nginx: x}}", 'error: unable to find container named "nginx"'),
        (
            "scale: {deployment: nope, replicas: 1}",
            'Error from server (NotFound): deployments.apps "nope" not found',
        ),
        ("stop-node: node-7", 'error: no simulated node "node-7" (nodes: node-1, node-2, node-3)'),
        (
            "label: {target: node/node-1, labels: {kubernetes.io/os: windows}}",
            "'kubernetes.io/os' already has a value (linux), and --overwrite is false",
        ),
        ("describe: widget/x", 'error: the server doesn\'t have a resource type "widget"'),
    ],
)
def test_a_refused_command_fails_its_step_with_kubectls_error(tmp_path: Path, step: str, error: str) -> None:
    path = write(
        tmp_path,
        f"""\
steps:
  - apply:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {{name: web}}
      spec:
        selector: {{matchLabels: {{app: web}}}}
        template: {{metadata: {{labels: {{app: web}}}}, spec: {{containers: [{{name: web, image: a}}]}}}}
  - settle
  - {step}
""",
    )
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 1, result.output
    assert f"step 3 ({step.split(':', maxsplit=1)[0]}, {path}:10:5) failed" in result.output
    assert error in result.output


def test_drain_refuses_a_bare_pod_without_force(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
nodes: 1
steps:
  - apply: {apiVersion: v1, kind: Pod, metadata: {name: bare}, spec: {containers: [{name: c, image: i}]}}
  - settle
  - drain: node-1
""",
    )
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 1
    assert (
        'error: unable to drain node "node-1": cannot delete Pods that declare no controller'
        " (use --force to override): default/bare" in result.output
    )
    forced = write(tmp_path, path.read_text().replace("drain: node-1", "drain: {node: node-1, force: true}"))
    result = runner.invoke(app, ["run", str(forced)])
    assert result.exit_code == 0, result.output
    assert "pod/bare deleted" in result.output


def test_drain_refuses_a_pod_with_local_storage_without_delete_emptydir_data(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
nodes: 1
steps:
  - apply:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: cache}
      spec:
        selector: {matchLabels: {app: cache}}
        template:
          metadata: {labels: {app: cache}}
          spec:
            containers: [{name: c, image: i}]
            volumes: [{name: scratch, emptyDir: {}}]
  - settle
  - drain: node-1
""",
    )
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 1
    assert (
        'error: unable to drain node "node-1": cannot delete Pods with local storage'
        " (use --delete-emptydir-data to override): default/cache-" in result.output
    )
    allowed = write(
        tmp_path, path.read_text().replace("drain: node-1", "drain: {node: node-1, deleteEmptydirData: true}")
    )
    result = runner.invoke(app, ["run", str(allowed)])
    assert result.exit_code == 0, result.output
    assert "drain node-1 --delete-emptydir-data" in result.output
    assert "node/node-1 drained" in result.output


@pytest.mark.parametrize("example", sorted(p.parent.name for p in EXAMPLES.glob("*/scenario.yaml")))
def test_example_scenario_passes(example: str) -> None:
    result = runner.invoke(app, ["run", str(EXAMPLES / example)])
    assert result.exit_code == 0, result.output
    assert "scenario passed" in result.output


def test_the_examples_include_the_documented_scenarios() -> None:
    names = {p.parent.name for p in EXAMPLES.glob("*/scenario.yaml")}
    assert {"rolling-update", "rollback", "node-failure", "nodeselector-pending"} <= names


def test_scenario_settings_can_be_overridden_on_the_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, "nodes: 2\nseed: 5\nsteps: [settle, {get: nodes}]\n")
    result = runner.invoke(app, ["run", str(path)])
    assert "on a 2-node cluster (seed 5, virtual time)" in result.output
    result = runner.invoke(app, ["run", str(path), "--nodes", "4", "--seed", "7"])
    assert "on a 4-node cluster (seed 7, virtual time)" in result.output
    assert "node-4   Ready" in result.output


def test_a_scenario_runs_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "steps: [settle]\n")
    result = runner.invoke(app, ["run", str(path), str(EXAMPLES / "myblog")])
    assert result.exit_code == 2
    assert "a scenario runs alone" in result.output


def test_what_counts_as_a_scenario(tmp_path: Path) -> None:
    assert scenarios.is_scenario(EXAMPLES / "rolling-update")
    assert scenarios.is_scenario(EXAMPLES / "rolling-update" / "scenario.yaml")
    assert not scenarios.is_scenario(EXAMPLES / "rolling-update" / "myblog.yaml")
    assert not scenarios.is_scenario(EXAMPLES / "myblog")
    assert not scenarios.is_scenario(write(tmp_path, "steps: [\n", "broken.yaml"))


def test_settle_needs_virtual_time(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(write(tmp_path, "steps: [settle]\n")), "--real-time"])
    assert result.exit_code == 1
    assert "  error: settle needs virtual time; on real time, wait or expect ... within" in result.output


def test_a_scenarios_final_state_can_be_saved_and_read_back(tmp_path: Path) -> None:
    state = tmp_path / "state.yaml"
    result = runner.invoke(app, ["run", str(EXAMPLES / "rollback"), "--save", str(state)])
    assert result.exit_code == 0, result.output
    history = runner.invoke(app, ["rollout", "history", "myblog", "--from", str(state)])
    assert history.output.splitlines()[2:] == ["3         <none>", "4         <none>"]
