#!/usr/bin/env bash
# The project's test command (README, .ci/run): set up if needed, then run the whole pytest suite on one
# pytest-xdist worker per core (FUZZYMEMO_TEST_WORKERS overrides the count; 0 runs in this process). The
# workers share one build cache (tests/conftest.py), so a design several tests simulate is built once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n "${FUZZYMEMO_TEST_WORKERS:-auto}" "$@"
