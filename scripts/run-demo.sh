#!/usr/bin/env bash
# Install CRMS into .venv, create the SQLite database under ./data, load the demo data and serve on
# http://127.0.0.1:8000 (API docs at /api/docs).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[fingerprint]"
.venv/bin/crms db upgrade
.venv/bin/crms demo
exec .venv/bin/crms serve --host "${CRMS_HOST:-127.0.0.1}" --port "${CRMS_PORT:-8000}"
