#!/usr/bin/env bash
# The README's second command (and .ci/run): install what the tests need, Prometheus included, then run them all
# (the README's "Tests" section says how long that takes) and list the 15 slowest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@"
