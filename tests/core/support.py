"""Shared helpers for the tests in ``tests/core``.

Test modules import this as ``import support`` (``conftest.py`` puts this
directory on ``sys.path``, because the project runs pytest with
``--import-mode=importlib``).  Modules that use a different default timeout
bind it once, e.g.::

    run_in_thread = functools.partial(support.run_in_thread, timeout=TIMEOUT)

Shared fixtures (``thread_pool``, ``queue``, ``spead2_log``) live in
``conftest.py``.
"""

from __future__ import annotations

import logging
import struct
import threading
import time


import spead2

import asyncio_support

# The thread and event-loop helpers are shared with other test folders.
DEFAULT_TIMEOUT = asyncio_support.DEFAULT_TIMEOUT
run_in_thread = asyncio_support.run_in_thread
run_async = asyncio_support.run_async
reader_registered = asyncio_support.reader_registered


def drain(stream, timeout: float = DEFAULT_TIMEOUT) -> list:
    """All heaps of ``stream`` until it stops (iterated in a thread with a timeout)."""
    return run_in_thread(list, stream, timeout=timeout)


def poll(predicate, timeout: float = DEFAULT_TIMEOUT, interval: float = 0.01) -> bool:
    """Call ``predicate`` every ``interval`` seconds until it is true.

    Returns True once it is, or False if ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def raw_packet(cnt: int, payload: bytes, offset: int, heap_length: int | None, extra=()) -> bytes:
    """A hand-made SPEAD-64-40 packet: HEAP_CNT, HEAP_LENGTH (omitted if ``None``),
    PAYLOAD_OFFSET and PAYLOAD_LENGTH immediates, then the raw pointers ``extra``.

    For packets the sender cannot produce (e.g. without HEAP_LENGTH).
    """
    imm = lambda item_id, value: (1 << 63) | (item_id << 40) | value  # noqa: E731
    pointers = [imm(spead2.HEAP_CNT_ID, cnt)]
    if heap_length is not None:
        pointers.append(imm(spead2.HEAP_LENGTH_ID, heap_length))
    pointers += [imm(spead2.PAYLOAD_OFFSET_ID, offset), imm(spead2.PAYLOAD_LENGTH_ID, len(payload)), *extra]
    header = struct.pack(">BBBBHH", 0x53, 4, 3, 5, 0, len(pointers))
    return header + struct.pack(f">{len(pointers)}Q", *pointers) + payload


class ListHandler(logging.Handler):
    """Logging handler that keeps every record (at all levels) in ``records``.

    ``records`` may be appended to from the native log thread, so readers
    should hold ``records_lock`` or use :meth:`snapshot` / :meth:`messages`.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.records_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.records_lock:
            self.records.append(record)

    def snapshot(self) -> list[logging.LogRecord]:
        """A copy of the records captured so far."""
        with self.records_lock:
            return list(self.records)

    def messages(self) -> list[str]:
        """The formatted messages of the records captured so far."""
        with self.records_lock:
            return [r.getMessage() for r in self.records]


class DuckItem:
    """Minimal object satisfying ``spead2.send.Heap.add_item``'s duck typing."""

    def __init__(self, id: int, data, immediate: bool = False) -> None:
        self.id = id
        self.data = data
        self.immediate = immediate

    def to_buffer(self):
        return self.data

    def allow_immediate(self) -> bool:
        return self.immediate


def settle_log(timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until every native log message issued so far has reached Python logging.

    Native messages are forwarded in order by a log thread, so once a marker logged
    now has arrived, so has everything before it.
    """
    marker = f"settle-{time.monotonic_ns()}"
    handler = ListHandler()
    logger = logging.getLogger("spead2")
    old_level = logger.level
    logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
    logger.addHandler(handler)
    try:
        spead2._spead2.log_info(marker)
        assert poll(lambda: marker in handler.messages(), timeout=timeout), "log thread did not catch up"
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
