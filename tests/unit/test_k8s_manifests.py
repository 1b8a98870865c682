"""The base and every overlay render with the real ``kubectl kustomize`` and validate; the
validator really catches each kind of mistake."""

from __future__ import annotations

import copy
import itertools
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability.alerts.rules import RULES
from streams import __version__
from tools.k8s_validate import OVERLAYS, RENDERED, ROOT, load_crds, render, validate_objects
from tools.kubectl import kubectl

CRDS = load_crds()


@pytest.fixture(scope="module")
def staging() -> list[dict[str, Any]]:
    return render(ROOT / OVERLAYS[0])


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    return render(ROOT / OVERLAYS[1])


def test_the_kubectl_is_the_pinned_one() -> None:
    out = kubectl("version", "--client")
    assert "Client Version: v1.33.9" in out
    assert "Kustomize Version: v5.6.0" in out


def test_the_documented_kustomize_command_renders_production() -> None:
    text = (ROOT / "docs/ship.md").read_text(encoding="utf-8")
    (command,) = [
        line for line in text.splitlines() if line.startswith(".venv/bin/python -m tools.kubectl")
    ]
    argv = shlex.split(command)
    argv[0] = sys.executable  # the venv's python, wherever the venv is
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "kind: Rollout" in done.stdout
    assert "namespace: munjero\n" in done.stdout


@pytest.mark.parametrize("directory", RENDERED)
def test_kustomize_renders_and_every_object_validates(directory: str) -> None:
    objs = render(ROOT / directory)
    assert len(objs) > 50
    assert validate_objects(objs, CRDS) == []


def _find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def test_generated_config_maps_are_hashed_and_the_rollout_refers_to_the_hashed_name(
    staging: list[dict[str, Any]],
) -> None:
    (env,) = [
        o["metadata"]["name"]
        for o in staging
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("munjero-env")
    ]
    assert re.fullmatch(r"munjero-env-[a-z0-9]{10}", env)
    pod = _find(staging, "Rollout", "api")["spec"]["template"]["spec"]
    assert pod["containers"][0]["envFrom"] == [{"configMapRef": {"name": env}}]
    # The staging patch changed the generated ConfigMap, so its hash differs from the base's.
    (base_env,) = [
        o["metadata"]["name"]
        for o in render(ROOT / "k8s/base")
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("munjero-env")
    ]
    assert base_env != env


def test_without_argo_rollouts_configuration_the_dangling_reference_is_caught(
    tmp_path: Path,
) -> None:
    tree = tmp_path / "k8s"
    shutil.copytree(ROOT / "k8s", tree)
    kustomization = tree / "base/apps/kustomization.yaml"
    spec = yaml.safe_load(kustomization.read_text())
    del spec["configurations"]
    kustomization.write_text(yaml.safe_dump(spec))
    errors = validate_objects(render(tree / "overlays/staging"), CRDS)
    assert any(e.startswith("Rollout/api: ConfigMap munjero-env is not rendered") for e in errors)


def test_production_runs_three_api_replicas(production: list[dict[str, Any]]) -> None:
    assert _find(production, "Rollout", "api")["spec"]["replicas"] == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_recommended_labels_on_every_object_and_pod_template(overlay: str) -> None:
    instance = "munjero-" + overlay.rsplit("/", 1)[1]
    wanted = {
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/version": __version__,
        "app.kubernetes.io/managed-by": "kustomize",
    }
    for obj in render(ROOT / overlay):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert wanted.items() <= obj["metadata"].get("labels", {}).items(), where
        template = obj.get("spec", {}).get("template")
        if isinstance(template, dict) and "spec" in template:
            assert wanted.items() <= template["metadata"]["labels"].items(), where
        # Selectors are immutable once applied: the new labels must stay out of them.
        selector = obj.get("spec", {}).get("selector", {})
        assert "app.kubernetes.io/version" not in str(selector), where


def test_invalid_core_object_fails(staging: list[dict[str, Any]]) -> None:
    objs = copy.deepcopy(staging)
    _find(objs, "Deployment", "content")["spec"]["replicas"] = "two"
    assert any("Deployment/content" in e for e in validate_objects(objs, CRDS))


def test_invalid_custom_resource_fails(staging: list[dict[str, Any]]) -> None:
    objs = copy.deepcopy(staging)
    _find(objs, "KafkaTopic", "problems.submitted")["spec"]["partitions"] = "three"
    errors = validate_objects(objs, CRDS)
    assert any("KafkaTopic/problems.submitted" in e and "partitions" in e for e in errors)


def test_unknown_field_in_custom_resource_fails(staging: list[dict[str, Any]]) -> None:
    objs = copy.deepcopy(staging)
    _find(objs, "KafkaTopic", "problems.submitted")["spec"]["partitionz"] = 3
    assert any("partitionz" in e for e in validate_objects(objs, CRDS))


def test_unknown_kind_fails(staging: list[dict[str, Any]]) -> None:
    objs = [*staging, {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "x"}}]
    assert any("unknown kind Gizmo" in e for e in validate_objects(objs, CRDS))


def test_missing_limits_fail(staging: list[dict[str, Any]]) -> None:
    objs = copy.deepcopy(staging)
    _find(objs, "Deployment", "render")["spec"]["template"]["spec"]["containers"][0][
        "resources"
    ].pop("limits")
    assert any("requests and resources.limits" in e for e in validate_objects(objs, CRDS))


def test_inline_secret_fails(staging: list[dict[str, Any]]) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "oops"},
        "stringData": {"password": "hunter2"},
    }
    assert any("inline secret" in e for e in validate_objects([*staging, secret], CRDS))
    objs = copy.deepcopy(staging)
    env = _find(objs, "Deployment", "content")["spec"]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "MUNJERO_LLM_API_KEY", "value": "sk-live"})
    assert any("inline value" in e for e in validate_objects(objs, CRDS))


def test_missing_secret_and_bad_probe_fail(staging: list[dict[str, Any]]) -> None:
    objs = copy.deepcopy(staging)
    container = _find(objs, "Deployment", "render")["spec"]["template"]["spec"]["containers"][0]
    container["env"].append(
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "nowhere", "key": "k"}}}
    )
    container["livenessProbe"]["httpGet"]["path"] = "/health"
    errors = validate_objects(objs, CRDS)
    assert any("Secret nowhere" in e for e in errors)
    assert any("/health is not" in e for e in errors)


def test_runbook_covers_every_rule() -> None:
    text = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    missing = [r.name for r in RULES if r.runbook_anchor not in anchors]
    assert not missing, f"docs/runbook.md has no section for {missing}"


def test_release_pipeline_order() -> None:
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())["jobs"]
    chain = ["test", "build", "staging", "smoke", "promote"]
    for before, after in itertools.pairwise(chain):
        needs = jobs[after]["needs"]
        assert before in ([needs] if isinstance(needs, str) else needs), (after, needs)


def test_generated_users_cover_every_worker_group() -> None:
    from factory.topology import worker_group_names

    users = yaml.safe_load_all((Path(ROOT) / "k8s/base/kafka/users.yaml").read_text())
    names = {u["metadata"]["name"] for u in users}
    assert {f"munjero-{g}" for g in worker_group_names()} <= names


def test_the_image_copies_every_package_the_manifests_run() -> None:
    """The pods run ``munjero <command>`` (factory.cli): the image must hold every package of the
    wheel, or the entry point fails to import in the cluster while every test here passes."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.M)
    assert set(packages) <= set(copied), set(packages) - set(copied)
