#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), then run the main job: scripts/demo.sh [demo args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec "${VENV:-.venv}/bin/python" -m spead2.tools.demo "$@"
