#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the checks and the tests: lint, types, the
# unit, engine, daemon and host tiers, then the kernel lab (scripts/lab.sh: real
# tunnels in a VM). With arguments, only pytest runs, with them (e.g. -k NAME);
# PLUTO_SKIP_LAB=1 leaves the lab out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The host tier's interop peers (Libreswan 4.10, strongSwan 5.9.8) and the lab's tools.
bash scripts/lab.sh --setup-only
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
if [ $# -eq 0 ] && [ "${PLUTO_SKIP_LAB:-0}" != 1 ]; then
	echo "--- kernel lab (bash scripts/lab.sh)"
	LAB_NO_SETUP=1 exec bash scripts/lab.sh
fi
