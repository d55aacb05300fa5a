#!/usr/bin/env bash
# The README's second command (and .ci/run): install what the tests need, Prometheus included, then run them all
# (the README's "Tests" section says how long that takes) and list the 15 slowest. Two pytest-xdist workers
# share the tests (-n 2; an idle one steals): the broker-backed tests mostly wait (a group join, a session
# timeout, a worker starting), so two side by side take about half the time of one after the other on a
# 2-core machine. pytest prints the total time at the end; pass -n 0 to run them one after the other.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist worksteal --durations=15 "$@"
