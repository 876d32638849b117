#!/usr/bin/env bash
# Create the benchmark's own virtual environment, bench/.venv, with `possible` (editable, from
# the repository root) and the peer, kep_solver. kep_solver is AGPL: it lives in this venv only
# and is never a dependency of `possible`. Safe to run again: an existing venv is reused and
# pip skips what is already installed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="$HERE/.venv"
PYTHON="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
"$VENV/bin/python" -m pip install --quiet -e "$ROOT"
"$VENV/bin/python" -m pip install --quiet "kep_solver==4.0.2" highspy psutil

"$VENV/bin/python" - <<'PY'
from importlib.metadata import version

import pulp

names = ("possible", "kep_solver", "pulp", "highspy", "psutil")
print("bench/.venv:", ", ".join(f"{n} {version(n)}" for n in names))
print("PuLP solvers available:", ", ".join(pulp.listSolvers(onlyAvailable=True)))
PY
