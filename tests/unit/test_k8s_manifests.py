"""Every overlay renders and validates; the validator really catches each kind of mistake."""

from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability.alerts.rules import RULES
from tools.k8s_validate import OVERLAYS, ROOT, load_crds, validate_objects
from tools.kustomize import render

CRDS = load_crds()


@pytest.fixture(scope="module")
def staging() -> list[dict[str, Any]]:
    return render(ROOT / OVERLAYS[0])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates(overlay: str) -> None:
    objs = render(ROOT / overlay)
    assert len(objs) > 50
    assert validate_objects(objs, CRDS) == []


def _find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


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
