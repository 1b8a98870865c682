#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: apt packages, a venv, pinned Python deps.
# Each step checks first, so a second run is fast.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
APT_PACKAGES=${APT_PACKAGES:-}

if [ -n "$APT_PACKAGES" ]; then
  missing=()
  for pkg in $APT_PACKAGES; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing apt packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.installed"
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing pinned Python dependencies"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "uv==0.13.9"
  "$VENV/bin/uv" pip sync -q --python "$VENV/bin/python" requirements.lock
  # torch (for sentence-transformers) is not in the lock: the machine ships a CPU wheel of
  # 2.13.0 that pip finds (uv does not), while a resolver would pull gigabytes of CUDA builds.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==2.13.0"
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -e .
  touch "$stamp"
fi
