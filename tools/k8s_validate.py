"""Render the base and every overlay with the real ``kubectl kustomize`` (tools/kubectl.py) and
validate every object it renders: ``make k8s-validate``.

* Core kinds: ``kubernetes_validate`` (strict: unknown fields fail) at K8S_VERSION.
* Custom resources: the CRD ``openAPIV3Schema`` vendored under k8s/crds/ (README there), turned
  into JSON Schema that rejects unknown fields except where the CRD preserves them.
* Unknown kinds fail. So do cross-object mistakes: a Secret/ConfigMap that is neither rendered
  nor in EXTERNAL_SECRETS (checked on kustomize's output, so a reference kustomize did not
  rewrite to a generated ``<name>-<hash>`` fails), a Service selecting no workload, a probe
  path other than /healthz or /readyz, a container without requests and limits, an inline
  secret value.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the lock
import kubernetes_validate
import yaml

from tools.kubectl import kustomize

Obj = dict[str, Any]
ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ("k8s/overlays/staging", "k8s/overlays/production")
# The base renders on its own too (no namespace): what an operator diffs against an overlay.
RENDERED = ("k8s/base", *OVERLAYS)
CRD_DIR = ROOT / "k8s" / "crds"
K8S_VERSION = "1.33"
# Created outside git: by an operator (kubectl create secret) or by Strimzi's User Operator.
EXTERNAL_SECRETS = {
    "munjero-clickhouse", "munjero-qdrant", "munjero-registry", "munjero-api-keys",
    "munjero-artifacts", "munjero-youtube",
    "munjero-api", "munjero-content", "munjero-render", "munjero-publish", "munjero-evaluator",
    "munjero-operator",
}  # fmt: skip
SECRET_SUFFIXES = ("PASSWORD", "SECRET", "SECRET_KEY", "TOKEN", "API_KEY", "DSN")
PROBE_PATHS = {"/healthz", "/readyz"}
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "Rollout"}


def _strict(schema: Any) -> Any:
    """CRD schema -> JSON Schema: unknown fields fail unless the CRD preserves them."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def load_crds(directory: Path = CRD_DIR) -> dict[tuple[str, str], Any]:
    schemas = {}
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        schemas[(doc["apiVersion"], doc["kind"])] = _strict(doc["openAPIV3Schema"])
    return schemas


def _pod_spec(obj: Obj) -> dict[str, Any] | None:
    if obj.get("kind") not in POD_KINDS:
        return None
    spec: dict[str, Any] | None = obj.get("spec", {}).get("template", {}).get("spec")
    return spec


def _containers(obj: Obj) -> Iterator[dict[str, Any]]:
    pod = _pod_spec(obj)
    if pod:
        yield from pod.get("initContainers", [])
        yield from pod.get("containers", [])


def validate_object(obj: Obj, crds: dict[tuple[str, str], Any]) -> list[str]:
    """Schema errors of one object ("" list when valid)."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    if key in crds:
        validator = jsonschema.Draft7Validator(crds[key])
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(obj)
        ]
        if obj["kind"] == "Rollout":
            # The pod template is a core PodTemplateSpec: check it as a Deployment's.
            wrapped = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": obj["metadata"]["name"]},
                "spec": {"selector": obj["spec"]["selector"], "template": obj["spec"]["template"]},
            }
            errors += [f"template: {e}" for e in validate_object(wrapped, crds)]
        return errors
    try:
        kubernetes_validate.validate(copy.deepcopy(obj), K8S_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"unknown kind {key[1]} ({key[0]}): no core schema and no vendored CRD"]
    except kubernetes_validate.ValidationError as exc:
        # kubernetes_validate's error copies the jsonschema error's attributes onto itself.
        path = "/".join(map(str, exc.absolute_path))
        return [f"{path}: {exc.message}"]
    return []


def cross_check(objs: list[Obj]) -> list[str]:
    errors: list[str] = []
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    config_maps = {n for k, n in names if k == "ConfigMap"}
    secrets = {n for k, n in names if k == "Secret"} | EXTERNAL_SECRETS
    for obj in objs:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "Secret" and (obj.get("data") or obj.get("stringData")):
            errors.append(f"{where}: inline secret values (reference a Secret created out of git)")
        for ref in _refs(obj, "secretKeyRef") + _refs(obj, "secretRef") + _refs(obj, "secret"):
            name = ref.get("name") or ref.get("secretName")
            if name and name not in secrets:
                errors.append(f"{where}: Secret {name} is neither rendered nor declared external")
        for ref in (
            _refs(obj, "configMapKeyRef") + _refs(obj, "configMapRef") + _refs(obj, "configMap")
        ):
            if ref.get("name") not in config_maps:
                errors.append(f"{where}: ConfigMap {ref.get('name')} is not rendered")
        for container in _containers(obj):
            cname = f"{where} container {container.get('name')}"
            resources = container.get("resources", {})
            if not resources.get("requests") or not resources.get("limits"):
                errors.append(f"{cname}: needs resources.requests and resources.limits")
            for env in container.get("env", []):
                if "value" in env and env["name"].upper().endswith(SECRET_SUFFIXES):
                    errors.append(f"{cname}: {env['name']} has an inline value (use secretKeyRef)")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                path = container.get(probe, {}).get("httpGet", {}).get("path")
                if path is not None and path not in PROBE_PATHS:
                    errors.append(f"{cname}: {probe} path {path} is not /healthz or /readyz")
        if obj["kind"] == "Service" and obj["spec"].get("selector"):
            selector = obj["spec"]["selector"]
            if not any(
                selector.items()
                <= (o["spec"]["template"].get("metadata", {}).get("labels", {})).items()
                for o in objs
                if _pod_spec(o) is not None
            ):
                errors.append(f"{where}: selector {selector} matches no workload")
    return errors


def _refs(node: Any, key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, dict):
                found.append(v)
            else:
                found += _refs(v, key)
    elif isinstance(node, list):
        for item in node:
            found += _refs(item, key)
    return found


def validate_objects(objs: list[Obj], crds: dict[tuple[str, str], Any] | None = None) -> list[str]:
    crds = load_crds() if crds is None else crds
    errors = []
    for obj in objs:
        where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        errors += [f"{where}: {e}" for e in validate_object(obj, crds)]
    return errors + cross_check(objs)


def render(directory: Path) -> list[Obj]:
    """Every object ``kubectl kustomize directory`` renders (raises when kustomize fails)."""
    return [doc for doc in yaml.safe_load_all(kustomize(directory)) if doc]


def main() -> int:
    crds = load_crds()
    failed = False
    for overlay in RENDERED:
        try:
            objs = render(ROOT / overlay)
        except subprocess.CalledProcessError as exc:
            print(f"{overlay}: kubectl kustomize exited {exc.returncode}: {exc.stderr.strip()}")
            failed = True
            continue
        errors = validate_objects(objs, crds)
        for error in errors:
            print(f"{overlay}: {error}")
        failed = failed or bool(errors)
        print(f"{overlay}: {len(objs)} objects rendered, {len(errors)} error(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
