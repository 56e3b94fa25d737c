"""Helpers for tests of asyncio code, shared by the test folders (tests/ is on sys.path)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import pytest

#: Default timeout (seconds) of the helpers below, when a caller does not pass its own.
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


async def loop_ticks_during(step: Callable[[], Awaitable[object]], n: int) -> int:
    """How many times another task ran while ``step()`` was awaited ``n`` times.

    A coroutine that returns ready results without yielding would starve the event
    loop: then this is 0.
    """
    ticks = 0
    done = False

    async def ticker():
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    start = ticks
    for _ in range(n):
        await step()
    during = ticks - start
    done = True
    await task
    return during
