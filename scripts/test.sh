#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the checks and the tests: lint, types,
# then the unit, daemon and host tiers. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The host tier's interop peers (Libreswan 4.10, strongSwan 5.9.8) and the lab's tools.
bash scripts/lab.sh --setup-only
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
