"""kubectl's imperative commands and readers as functions on a store, and its table layout."""

from __future__ import annotations

import attrs
import pytest

from controllers import kubectl
from controllers.views import View, render, tabulate
from store import MemoryStore
from store.models import (
    ConfigMap,
    Container,
    Deployment,
    DeploymentCondition,
    DeploymentSpec,
    DeploymentStatus,
    LabelSelector,
    Node,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodSpec,
    PodTemplateSpec,
    ReplicaSet,
    ReplicaSetSpec,
)


def deployment(*, generation: int = 1, wanted: int = 2, **status: object) -> Deployment:
    return Deployment(
        metadata=ObjectMeta(name="web", namespace="default", generation=generation),
        spec=DeploymentSpec(replicas=wanted),
        status=DeploymentStatus(**status),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("obj", "message", "done"),
    [
        (
            deployment(generation=2, observed_generation=1),
            "Waiting for deployment spec update to be observed...",
            False,
        ),
        (
            deployment(observed_generation=1, updated_replicas=1, replicas=2),
            'Waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have been updated...',
            False,
        ),
        (
            deployment(observed_generation=1, updated_replicas=2, replicas=3),
            'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
            False,
        ),
        (
            deployment(observed_generation=1, updated_replicas=2, replicas=2, available_replicas=1),
            'Waiting for deployment "web" rollout to finish: 1 of 2 updated replicas are available...',
            False,
        ),
        (
            deployment(observed_generation=1, updated_replicas=2, replicas=2, available_replicas=2),
            'deployment "web" successfully rolled out',
            True,
        ),
    ],
)
def test_rollout_status_says_what_kubectl_says(obj: Deployment, message: str, done: bool) -> None:
    status = kubectl.rollout_status(obj)
    assert (status.message, status.done, status.failed) == (message, done, False)


def test_rollout_status_of_a_deployment_past_its_progress_deadline_fails() -> None:
    timed_out = DeploymentCondition(type="Progressing", status="False", reason="ProgressDeadlineExceeded")
    status = kubectl.rollout_status(deployment(observed_generation=1, conditions=(timed_out,)))
    assert (status.message, status.done, status.failed) == (
        'deployment "web" exceeded its progress deadline',
        True,
        True,
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [("po", Pod), ("pods", Pod), ("Pod", Pod), ("deploy", Deployment), ("deployments", Deployment),
     ("rs", ReplicaSet), ("no", Node), ("cm", ConfigMap), ("configmap", ConfigMap)],
)  # fmt: skip
def test_kinds_resolve_by_kubectls_names(name: str, kind: type) -> None:
    assert kubectl.resolve_kind(name).cls is kind


def test_an_unknown_kind_or_target_is_refused() -> None:
    with pytest.raises(kubectl.KubectlError, match='the server doesn\'t have a resource type "widget"'):
        kubectl.resolve_kind("widget")
    with pytest.raises(kubectl.KubectlError, match='"deploy" is not KIND/NAME'):
        kubectl.parse_target("deploy")


TEMPLATE = PodTemplateSpec(
    metadata=ObjectMeta(labels={"app": "web"}),
    spec=PodSpec(containers=[Container(name="web", image="nginx:1")]),
)


async def test_apply_creates_then_configures_then_leaves_unchanged_keeping_others_annotations() -> None:
    store = MemoryStore()
    web = Deployment(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=DeploymentSpec(selector=LabelSelector(match_labels={"app": "web"}), template=TEMPLATE),
    )
    assert await kubectl.apply(store, [web]) == ["deployment.apps/web created"]
    # The controller's bookkeeping on the stored object, which the manifest does not mention.
    stored = await store.get(Deployment, "web", "default")
    revision = {"deployment.kubernetes.io/revision": "1"}
    await store.update(attrs.evolve(stored, metadata=attrs.evolve(stored.metadata, annotations=revision)))
    assert await kubectl.apply(store, [web]) == ["deployment.apps/web unchanged"]
    bigger = attrs.evolve(web, spec=attrs.evolve(web.spec, replicas=3))
    assert await kubectl.apply(store, [bigger]) == ["deployment.apps/web configured"]
    after = await store.get(Deployment, "web", "default")
    assert after.spec.replicas == 3
    assert after.metadata.annotations == revision


async def test_label_adds_refuses_to_overwrite_without_overwrite_and_removes() -> None:
    store = MemoryStore()
    await store.create(Node(metadata=ObjectMeta(name="n1", labels={"zone": "a"})))
    assert await kubectl.label(store, Node, "n1", "", {"disk": "ssd"}) == "node/n1 labeled"
    with pytest.raises(
        kubectl.KubectlError, match=r"'zone' already has a value \(a\), and --overwrite is false"
    ):
        await kubectl.label(store, Node, "n1", "", {"zone": "b"})
    assert await kubectl.label(store, Node, "n1", "", {"zone": "b"}, overwrite=True) == "node/n1 labeled"
    assert await kubectl.label(store, Node, "n1", "", {"zone": None}) == "node/n1 labeled"
    assert await kubectl.label(store, Node, "n1", "", {"disk": "ssd"}) == "node/n1 not labeled"
    assert (await store.get(Node, "n1")).metadata.labels == {"disk": "ssd"}


async def test_a_refused_command_changes_nothing() -> None:
    store = MemoryStore()
    web = Deployment(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=DeploymentSpec(selector=LabelSelector(match_labels={"app": "web"}), template=TEMPLATE),
    )
    await store.create(web)
    revision = store.revision
    with pytest.raises(kubectl.KubectlError, match='unable to find container named "db"'):
        await kubectl.set_image(store, Deployment, "web", "default", {"web": "nginx:2", "db": "mysql"})
    with pytest.raises(kubectl.KubectlError, match=r'deployments\.apps "web" is not paused'):
        await kubectl.rollout_resume(store, "web", "default")
    with pytest.raises(kubectl.KubectlError, match='no rollout history found for deployment "web"'):
        await kubectl.rollout_undo(store, "web", "default")
    with pytest.raises(kubectl.KubectlError, match="must be greater than or equal to 0"):
        await kubectl.scale(store, Deployment, "web", "default", -1)
    assert store.revision == revision


async def test_set_image_changes_only_the_named_container_or_every_one_with_a_star() -> None:
    store = MemoryStore()
    pod = Pod(
        metadata=ObjectMeta(name="p", namespace="default"),
        spec=PodSpec(containers=[Container(name="a", image="a:1"), Container(name="b", image="b:1")]),
    )
    await store.create(pod)
    assert await kubectl.set_image(store, Pod, "p", "default", {"b": "b:2"}) == "pod/p image updated"
    assert [c.image for c in (await store.get(Pod, "p", "default")).spec.containers] == ["a:1", "b:2"]
    await kubectl.set_image(store, Pod, "p", "default", {"*": "x:9"})
    assert [c.image for c in (await store.get(Pod, "p", "default")).spec.containers] == ["x:9", "x:9"]


def test_tables_are_laid_out_as_kubectls_tabwriter_does() -> None:
    view = View(("NAME", "READY", "AGE"), (("nginx-deployment", "3/3", "18s"), ("a", "10/10", "5m")))
    assert render(view).splitlines() == [
        "NAME               READY   AGE",
        "nginx-deployment   3/3     18s",
        "a                  10/10   5m",
    ]
    # Cells align per block of consecutive lines that have that column, as text/tabwriter does.
    assert tabulate("Name:\tweb\nLabels:\tapp=web\nPod Template:\n  Image:\tnginx").splitlines() == [
        "Name:    web",
        "Labels:  app=web",
        "Pod Template:",
        "  Image:  nginx",
    ]


async def test_a_skipped_undo_names_the_revision_asked_for_as_kubectl_does() -> None:
    # DeploymentRollbacker.Rollback reports toRevision as given: 0 for "the previous one".
    store = MemoryStore()
    template = PodTemplateSpec(
        metadata=ObjectMeta(labels={"app": "web"}),
        spec=PodSpec(containers=[Container(name="web", image="web:1")]),
    )
    web = await store.create(
        Deployment(
            metadata=ObjectMeta(name="web", namespace="default"),
            spec=DeploymentSpec(selector=LabelSelector(match_labels={"app": "web"}), template=template),
        )
    )
    owner = OwnerReference(
        api_version="apps/v1", kind="Deployment", name="web", uid=web.metadata.uid, controller=True
    )
    for revision in ("1", "2"):  # two revisions of one template, as adoption can leave them
        await store.create(
            ReplicaSet(
                metadata=ObjectMeta(
                    name=f"web-{revision}",
                    namespace="default",
                    labels={"app": "web"},
                    annotations={"deployment.kubernetes.io/revision": revision},
                    owner_references=[owner],
                ),
                spec=ReplicaSetSpec(selector=LabelSelector(match_labels={"app": "web"}), template=template),
            )
        )
    assert await kubectl.rollout_undo(store, "web", "default") == (
        "deployment.apps/web skipped rollback (current template already matches revision 0)"
    )
