"""A small Kustomize subset in Python: render an overlay without kubectl (none on this machine).

Supported (exactly what k8s/**/kustomization.yaml use; anything else is an error, never ignored):
``resources`` (files, and directories holding a kustomization.yaml), ``namespace``,
``namePrefix``, ``commonLabels`` and ``labels`` (metadata labels only: selectors are left alone,
like ``labels`` without ``includeSelectors``), ``images`` (newName/newTag), ``replicas``,
``patches`` (inline or ``path``; strategic merge with containers merged by name, or JSON 6902
when the patch is a list with a ``target``) and ``configMapGenerator`` (files, literals).

Differences from kustomize, on purpose: generated ConfigMaps get NO hash suffix (so names in
the rendered output equal names in the sources and the validator's cross-references stay
simple); `kubectl kustomize` adds the suffix and rewrites references itself.

    python -m tools.kustomize k8s/overlays/staging > staging.yaml
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]
KNOWN = {
    "apiVersion", "kind", "resources", "namespace", "namePrefix", "commonLabels", "labels",
    "images", "replicas", "patches", "configMapGenerator",
}  # fmt: skip
# Kinds whose pod template carries container images and whose spec has replicas.
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "Rollout", "ReplicaSet"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


class KustomizeError(ValueError):
    pass


def render(directory: Path) -> list[Obj]:
    """Every object of the kustomization in ``directory``, transformed, in source order."""
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{directory}: no kustomization.yaml")
    spec: Obj = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(spec) - KNOWN
    if unknown:
        raise KustomizeError(f"{path}: unsupported fields {sorted(unknown)}")
    objs: list[Obj] = []
    for entry in spec.get("resources", []):
        target = directory / entry
        if target.is_dir():
            objs += render(target)
        elif target.is_file():
            objs += [d for d in yaml.safe_load_all(target.read_text(encoding="utf-8")) if d]
        else:
            raise KustomizeError(f"{path}: resource {entry} not found")
    objs += [_config_map(directory, g) for g in spec.get("configMapGenerator", [])]
    for patch in spec.get("patches", []):
        _apply_patch(directory, objs, patch)
    for image in spec.get("images", []):
        for obj in objs:
            for container in _containers(obj):
                _set_image(container, image)
    for rep in spec.get("replicas", []):
        hits = [o for o in objs if o["metadata"]["name"] == rep["name"] and o["kind"] in WORKLOADS]
        if not hits:
            raise KustomizeError(f"{path}: replicas target {rep['name']} not found")
        for obj in hits:
            obj["spec"]["replicas"] = rep["count"]
    labels: dict[str, str] = dict(spec.get("commonLabels", {}))
    for group in spec.get("labels", []):
        labels.update(group.get("pairs", {}))
    for obj in objs:
        meta = obj.setdefault("metadata", {})
        if labels:
            meta["labels"] = {**meta.get("labels", {}), **labels}
        if spec.get("namePrefix"):
            meta["name"] = spec["namePrefix"] + meta["name"]
        if spec.get("namespace") and obj["kind"] not in CLUSTER_SCOPED:
            meta["namespace"] = spec["namespace"]
    return objs


def _config_map(directory: Path, gen: Obj) -> Obj:
    data: dict[str, str] = {}
    for item in gen.get("files", []):
        key, _, rel = item.partition("=") if "=" in item else (Path(item).name, "", item)
        data[key] = (directory / rel).read_text(encoding="utf-8")
    for literal in gen.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    meta: Obj = {"name": gen["name"]}
    options = gen.get("options", {})
    if options.get("labels"):
        meta["labels"] = dict(options["labels"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def _containers(obj: Obj) -> list[Obj]:
    if obj.get("kind") not in WORKLOADS:
        return []
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _set_image(container: Obj, image: Obj) -> None:
    current = str(container.get("image", ""))
    name, tag = ([*current.rsplit(":", 1), ""])[:2] if ":" in current else (current, "")
    if name != image["name"]:
        return
    name = image.get("newName", name)
    tag = str(image.get("newTag", tag))
    container["image"] = f"{name}:{tag}" if tag else name


def _apply_patch(directory: Path, objs: list[Obj], patch: Obj) -> None:
    text = patch.get("patch")
    if text is None:
        text = (directory / patch["path"]).read_text(encoding="utf-8")
    body = yaml.safe_load(text)
    target = patch.get("target")
    if isinstance(body, list):
        if not target:
            raise KustomizeError("a JSON 6902 patch needs a target")
        hits = [o for o in objs if _matches(o, target)]
        if not hits:
            raise KustomizeError(f"patch target {target} matched nothing")
        for obj in hits:
            for op in body:
                _json6902(obj, op)
        return
    target = target or {"kind": body["kind"], "name": body["metadata"]["name"]}
    hits = [o for o in objs if _matches(o, target)]
    if not hits:
        raise KustomizeError(f"patch target {target} matched nothing")
    for obj in hits:
        merged = _merge(obj, body)
        obj.clear()
        obj.update(merged)


def _matches(obj: Obj, target: Obj) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    return (
        ("kind" not in target or obj["kind"] == target["kind"])
        and ("name" not in target or obj["metadata"]["name"] == target["name"])
        and ("group" not in target or group == target["group"])
    )


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge, the part we need: maps merge recursively, ``null`` deletes, lists of
    maps with a ``name`` merge item by name (containers, env, ports, volumes), other lists
    are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = _merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in [*base, *patch])
    ):
        out_list = [copy.deepcopy(i) for i in base]
        for item in patch:
            index = next((n for n, b in enumerate(out_list) if b["name"] == item["name"]), None)
            if index is None:
                out_list.append(copy.deepcopy(item))
            else:
                out_list[index] = _merge(out_list[index], item)
        return out_list
    return copy.deepcopy(patch)


def _json6902(obj: Obj, op: Obj) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
    parent: Any = obj
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    kind = op["op"]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if kind == "add":
            parent.insert(index, copy.deepcopy(op["value"]))
        elif kind == "replace":
            parent[index] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del parent[index]
        else:
            raise KustomizeError(f"unsupported JSON patch op {kind}")
        return
    if kind in ("add", "replace"):
        if kind == "replace" and last not in parent:
            raise KustomizeError(f"replace of missing path {op['path']}")
        parent[last] = copy.deepcopy(op["value"])
    elif kind == "remove":
        del parent[last]
    else:
        raise KustomizeError(f"unsupported JSON patch op {kind}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tools.kustomize DIR", file=sys.stderr)
        return 2
    sys.stdout.write(yaml.safe_dump_all(render(Path(args[0])), sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
