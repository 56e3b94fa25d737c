#!/usr/bin/env bash
# Build the documentation site (docs/) into HTML, with warnings as errors:
#
#   scripts/docs.sh [OUTDIR]        # default docs/_build/html; open OUTDIR/index.html
#
# Uses the project's venv (.venv, or $VENV), set up by scripts/setup.sh if it is
# missing: the API pages are generated from the installed spead2 and its plugins,
# and Sphinx is pinned in requirements-dev.txt. -E rebuilds every page (Sphinx
# cannot see a changed installed package); -n (nitpicky) also fails on
# references that lead nowhere. The benchmark chart is drawn during the build
# (docs/conf.py runs docs/benchmarks/make_chart.py). tests/docs/test_site.py runs
# the same build.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
out=${1:-docs/_build/html}
if [ ! -x "$venv/bin/python" ]; then
    scripts/setup.sh
fi
"$venv/bin/python" -m sphinx -E -W --keep-going -n -b html docs "$out"
echo "documentation built: $out/index.html"
