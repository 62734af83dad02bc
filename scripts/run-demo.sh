#!/usr/bin/env bash
# Install CRMS into .venv, create the SQLite database under ./data (or $CRMS_DATA_DIR), load the demo data
# and serve on http://127.0.0.1:8000 (API docs at /api/docs). The server runs in the FOREGROUND: Ctrl-C
# stops it; run `.venv/bin/crms serve` to start it again.
#
# The demo records (persons, cases, users) are loaded before the server starts; the ten synthetic
# fingerprints per person and their templates (CPU minutes) are made person by person by a background job,
# started detached from the server (its own session, not a child of the server), logging to
# <data dir>/logs/demo-fingerprints.log; its pid is in <data dir>/logs/demo-fingerprints.pid. It keeps
# going after the server stops; `kill $(cat <data dir>/logs/demo-fingerprints.pid)` stops it cleanly
# ("stopped at N of M persons"), and the next run resumes whatever is left (one job at a time).
# Arguments go to `crms demo` (for example --people 50).
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
PIDFILE="$DATA/logs/demo-fingerprints.pid"
echo "$(date '+%F %T') demo fingerprints: starting" >>"$LOG"
# A subshell that exits at once: the job is re-parented away from this script (which becomes the server),
# so it never lingers as the server's zombie; setsid gives it a session of its own.
(
  setsid nice -n 10 .venv/bin/crms demo --stage fingerprints "$@" >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
)
echo "Fingerprints are being generated and enrolled in the background, person by person"
echo "  log: $LOG   (stop it: kill \$(cat $PIDFILE))"
echo "  counts: CRMS_USER=demo_operator CRMS_PASSWORD=... .venv/bin/crms fp enrolment"
echo "Demo logins: $DATA/demo/logins.txt"
echo "The server starts now, in the foreground (Ctrl-C stops it): http://${CRMS_HOST:-127.0.0.1}:${CRMS_PORT:-8000}/api/docs"
exec .venv/bin/crms serve --host "${CRMS_HOST:-127.0.0.1}" --port "${CRMS_PORT:-8000}"
