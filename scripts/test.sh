#!/usr/bin/env bash
# Install CRMS with its test tools into .venv, make sure PostgreSQL answers, and run the whole test suite
# on SQLite and PostgreSQL (the PostgreSQL tests fail rather than skip when CRMS_REQUIRE_POSTGRES=1), the web
# pages in Debian's chromium (failing rather than skipping when CRMS_REQUIRE_BROWSER=1) and the Ray shard test
# (the `cluster` extra). The tests run in CRMS_TEST_WORKERS processes (pytest-xdist; default 2, 0 for one
# process): many wait on servers, subprocesses and the browser rather than on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[fingerprint,cluster,test]"
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; } || true  # web tests
# Urdu pages are drawn with the system's Nastaliq font (screenshots in docs/img/web); Debian's Noto has it.
fc-list 2>/dev/null | grep -q "Noto Nastaliq Urdu" || { apt-get update -qq && apt-get install -y -qq fonts-noto-core; } || true
.venv/bin/pybabel compile --statistics -d crms/web/locale >/dev/null  # the web pages' Urdu catalogue (.po -> .mo)
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
export CRMS_REQUIRE_POSTGRES=${CRMS_REQUIRE_POSTGRES:-1}
export CRMS_REQUIRE_BROWSER=${CRMS_REQUIRE_BROWSER:-1}
exec .venv/bin/python -m pytest -n "${CRMS_TEST_WORKERS:-2}" "$@"
