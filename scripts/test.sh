#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), then run every test: scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec "${VENV:-.venv}/bin/python" -m pytest "$@"
