"""Shared fixtures for ``tests/core``.

The project runs pytest with ``--import-mode=importlib``, which does not put
test directories on ``sys.path``; this conftest does so for ``tests/core`` so
test modules can import the helper modules next to them (``support``,
``vector_support``).
"""

from __future__ import annotations

import logging
import pathlib
import sys

import pytest

_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import spead2  # noqa: E402
import spead2.recv  # noqa: E402
import support  # noqa: E402


@pytest.fixture
def thread_pool():
    """A fresh ``spead2.ThreadPool`` per test."""
    return spead2.ThreadPool()


@pytest.fixture
def queue():
    """A fresh ``spead2.InprocQueue``, stopped at teardown."""
    q = spead2.InprocQueue()
    yield q
    q.stop()


@pytest.fixture
def spead2_log():
    """Capture records of the "spead2" logger at all levels in a :class:`support.ListHandler`.

    Messages still in flight from earlier tests are let through first, so that they
    do not land in this test's capture.
    """
    support.settle_log()
    logger = logging.getLogger("spead2")
    handler = support.ListHandler()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.fixture
def make_stream(thread_pool):
    """Factory for ``spead2.recv.Stream`` (default thread pool: ``thread_pool``).

    Every stream it made is stopped at teardown (with ``support.run_in_thread``'s
    default timeout).  Modules needing another kind of stream define their own
    ``make_stream``, which overrides this one.
    """
    created = []

    def make(*args, **kwargs):
        if not args and "thread_pool" not in kwargs:
            args = (thread_pool,)
        stream = spead2.recv.Stream(*args, **kwargs)
        created.append(stream)
        return stream

    yield make
    for stream in created:
        support.run_in_thread(stream.stop)
