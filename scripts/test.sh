#!/usr/bin/env bash
# The project's test command (README, .ci/run): set up if needed, then run the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
