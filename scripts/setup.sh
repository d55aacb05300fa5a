#!/usr/bin/env bash
# Create .venv (Python 3.11) and install partd with everything it needs, the broker binary included.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || { echo "partd needs Python 3.11 (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
echo "installing partd and its dependencies into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
# Debian packages (none is started as a service: tests start their own):
#   prometheus  promtool/prometheus for tests/ops
#   stunnel4    the TLS end of the embedded broker (`partd broker --tls`; Tansu 0.6 cannot serve TLS itself)
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
{ command -v stunnel4 >/dev/null 2>&1 || command -v stunnel >/dev/null 2>&1; } || missing+=(stunnel4)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || echo "warning: could not install ${missing[*]}; tests/ops (prometheus) and the TLS tests (stunnel4) will fail" >&2
  else
    echo "note: not root: install Debian's ${missing[*]} (tests/ops need prometheus, \`partd broker --tls\` stunnel4)" >&2
  fi
fi
echo "ready: .venv/bin/partd"
