#!/usr/bin/env bash
# The README's second command (and .ci/run): install what the tests need, Prometheus included, then run them all
# (about 16 minutes on 2 cores) and list the 15 slowest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@"
