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

import asyncio
import logging
import struct
import threading
import time

import pytest

import spead2

#: Default timeout (seconds) of the helpers below, when a module does not pass its own.
DEFAULT_TIMEOUT = 5.0


def run_in_thread(fn, *args, timeout: float = DEFAULT_TIMEOUT, **kwargs):
    """Call ``fn(*args, **kwargs)`` in a daemon thread and return its result.

    Fails the test if the call does not return within ``timeout`` seconds;
    an exception raised by ``fn`` is re-raised in the caller.
    """
    result: dict = {}

    def target():
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001
            result["exc"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)} did not return within {timeout} s")
    if "exc" in result:
        raise result["exc"]
    return result.get("value")


def run_async(coro_fn, *args, timeout: float = DEFAULT_TIMEOUT, loop_errors: list | None = None):
    """Run ``coro_fn(*args)`` under ``asyncio.run`` in a thread, with a timeout.

    The coroutine is wrapped in ``asyncio.wait_for(..., timeout)`` and the
    thread is given ``timeout + 2`` seconds.  If ``loop_errors`` is given, the
    loop's exception handler appends each context dict to it (instead of
    logging).
    """

    async def main():
        if loop_errors is not None:
            asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: loop_errors.append(ctx))
        return await asyncio.wait_for(coro_fn(*args), timeout)

    return run_in_thread(asyncio.run, main(), timeout=timeout + 2)


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


def reader_registered(loop, fd) -> bool:
    """Whether ``loop`` watches ``fd`` for reading (selector event loops only).

    Skips the test if the loop has no selector to inspect.
    """
    selector = getattr(loop, "_selector", None)
    if selector is None:
        pytest.skip("event loop has no selector to inspect")
    try:
        key = selector.get_key(fd)
    except KeyError:
        return False
    return key.data[0] is not None  # (reader handle, writer handle)


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
