"""Fixtures for ``tests/tools``: every process a test starts is killed at its end if still running."""

from __future__ import annotations

import pathlib
import sys

import pytest

_HERE = pathlib.Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import tools_support  # noqa: E402


@pytest.fixture
def processes():
    """A :class:`tools_support.Processes`: starts tool processes, kills leftovers at teardown."""
    procs = tools_support.Processes()
    yield procs
    procs.kill_all()
