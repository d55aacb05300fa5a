#!/usr/bin/env bash
# The README's second command (and .ci/run): install what the tests need, Prometheus included, then run them all
# (the README's "Tests" section says how long that takes) and list the 15 slowest. Four pytest-xdist workers
# share the tests (-n 4; an idle one steals): the broker-backed tests mostly wait (a group join, a session
# timeout, a worker starting), so even on a 2-core machine four side by side finish sooner than two (measured:
# one at a time ~23 min, -n 2 13 min 25 s, -n 4 7 min 38 s, each test taking about as long as alone).
# pytest prints the total time at the end; pass -n 0 to run them one after the other.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n 4 --dist worksteal --durations=15 "$@"
