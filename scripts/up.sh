#!/usr/bin/env bash
# The README's first command: install what the main job needs (nothing for the tests), then run it on the embedded broker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --main
exec .venv/bin/partd up "$@"
