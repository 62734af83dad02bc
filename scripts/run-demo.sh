#!/usr/bin/env bash
# Install CRMS into .venv, create the SQLite database under ./data, load the demo data and serve on
# http://127.0.0.1:8000 (API docs at /api/docs).
#
# The demo records (persons, cases, users) are loaded before the server starts; the ten synthetic
# fingerprints per person and their templates (CPU minutes) are made by a background job that starts
# beside the server and logs to <data dir>/logs/demo-fingerprints.log. It keeps going after the server
# stops; the next run resumes whatever is left (one job at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[fingerprint]"
.venv/bin/crms db upgrade
.venv/bin/crms demo --stage records "$@"
DATA=$(.venv/bin/python -c 'from crms.config import get_settings; print(get_settings().data_dir)')
mkdir -p "$DATA/logs"
LOG="$DATA/logs/demo-fingerprints.log"
nohup nice -n 10 .venv/bin/crms demo --stage fingerprints "$@" >>"$LOG" 2>&1 &
echo $! >"$DATA/logs/demo-fingerprints.pid"
echo "$(date '+%F %T') demo fingerprints: started (pid $!)" >>"$LOG"
echo "Fingerprints are being generated and enrolled in the background (log: $LOG;"
echo "counts: CRMS_USER=demo_operator CRMS_PASSWORD=... .venv/bin/crms fp enrolment). The server starts now."
exec .venv/bin/crms serve --host "${CRMS_HOST:-127.0.0.1}" --port "${CRMS_PORT:-8000}"
