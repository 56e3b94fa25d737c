"""Fixtures for ``tests/ibverbs``: the ibverbs test double and a namespace pair to run it in.

``ibv_double_library``: the built ``libspead2_ibv_double.so`` (scripts/ibv_double.sh
--build, cached in build/ibv-double).  ``ibv_netns``: a ``netns_support.IbvNetns``
for the session (namespace names, both interface names and addresses, the
library's path), deleted at the end; skips where namespaces cannot be made.

``--import-mode=importlib`` leaves test directories off ``sys.path``; this
conftest puts ``tests/ibverbs`` there so test modules can import ``netns_support``.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import sys

import pytest

_HERE = pathlib.Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import netns_support  # noqa: E402


@pytest.fixture(scope="session")
def ibv_double_library() -> pathlib.Path:
    compiler = os.environ.get("CXX", "g++")
    if shutil.which(compiler) is None:
        pytest.skip(f"no C++ compiler ({compiler}) to build the ibverbs double")
    return netns_support.build_double()


@pytest.fixture(scope="session")
def ibv_netns(request):
    reason = netns_support.unavailable_reason()
    if reason:
        pytest.skip(reason)
    library = request.getfixturevalue("ibv_double_library")  # not built where it could not run
    with netns_support.namespaces(library, pytest.skip) as pair:
        yield pair
