"""Fixtures for ``tests/xdp``: a veth pair between two network namespaces with jumbo
frames (``xdp_veth``; parametrize it indirectly with a number of queues), made per test so that every test starts with no XDP program
attached; skipped where the plugin is not installed or namespaces cannot be made.
"""

from __future__ import annotations

import pathlib
import sys

import pytest

# Next to the tests (--import-mode=importlib leaves this directory off sys.path).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import veth_support  # noqa: E402

try:
    import spead2_xdp  # noqa: F401, E402
except ImportError:
    spead2_xdp = None


@pytest.fixture
def xdp_veth(request):
    if spead2_xdp is None:
        pytest.skip("spead2-xdp is not installed (it needs libxdp, libbpf and clang at build time)")
    reason = veth_support.unavailable_reason()
    if reason:
        pytest.skip(reason)
    queues = getattr(request, "param", 1)
    with veth_support.created(veth_support.VethPair(prefix="xdp", mtu=9000, queues=queues), pytest.skip) as pair:
        yield pair
