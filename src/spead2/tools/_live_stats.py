"""Live statistics for the command-line tools (``--stats-interval``).

A :class:`LiveDisplay` keeps a block of status lines, one per stream. On a terminal the
block stays at the bottom of the output and is redrawn in place; other output (heap
reports, the final summary) is written above it. When the output is not a terminal
(a pipe or a file), each update is written as plain lines, once per interval, so logs
and scripts see a time series with no control characters.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import textwrap
import time
import typing

# ANSI: cursor to the start of the line N lines up; erase to the end of the screen.
_UP = "\x1b[{}F"
_ERASE_BELOW = "\x1b[J"


class LiveDisplay:
    """Status lines redrawn in place on a terminal, or printed as they come otherwise."""

    def __init__(self, out: typing.TextIO | None = None, *, in_place: bool | None = None) -> None:
        self._out = out if out is not None else sys.stdout
        self._in_place = self._out.isatty() if in_place is None else in_place
        self._block: list[str] = []
        self._start = time.monotonic()

    @property
    def in_place(self) -> bool:
        """Whether status lines are redrawn in place (a terminal) or appended (a pipe)."""
        return self._in_place

    def _width(self) -> int:
        """The terminal's own width ($COLUMNS may be stale, inherited from another terminal); 0 if unknown."""
        try:
            return os.get_terminal_size(self._out.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return shutil.get_terminal_size((0, 0)).columns

    def _erase_block(self) -> None:
        if self._block:
            self._out.write(_UP.format(len(self._block)) + _ERASE_BELOW)

    def _draw_block(self) -> None:
        for line in self._block:
            self._out.write(line + "\n")

    def status(self, lines: list[str]) -> None:
        """Show ``lines`` as the current status, prefixed with the time since the start."""
        stamp = f"[{time.monotonic() - self._start:7.1f}s] "
        lines = [stamp + line for line in lines]
        if self._in_place:
            # Wrapped by us, not by the terminal, so that the next redraw knows how many
            # rows to move up over; continuation rows are indented.
            width = self._width()
            if width > 1:
                lines = [row for line in lines
                         for row in textwrap.wrap(line, width - 1, subsequent_indent="    ", break_on_hyphens=False)]
            self._erase_block()
            self._block = lines
            self._draw_block()
        else:
            for line in lines:
                self._out.write(line + "\n")
        self._out.flush()

    def print(self, text: str) -> None:
        """Write ``text`` (a line, or several) above the status block."""
        if self._in_place and self._block:
            self._erase_block()
            self._out.write(text + "\n")
            self._draw_block()
        else:
            self._out.write(text + "\n")
        self._out.flush()


async def refresh(display: LiveDisplay, lines: typing.Callable[[], list[str]], interval: float) -> None:
    """Show ``lines()`` on ``display`` every ``interval`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval)
        display.status(lines())


def per_second(count: float, seconds: float) -> float:
    """``count`` per second, 0 for an empty interval."""
    return count / seconds if seconds > 0 else 0.0


class RateMeter:
    """Counts of heaps and payload bytes, with rates since the last reading."""

    def __init__(self) -> None:
        self.heaps = 0
        self.bytes = 0
        self._last_time = time.monotonic()
        self._last_heaps = 0
        self._last_bytes = 0
        self._first_add: float | None = None
        self._last_add = 0.0

    def add(self, heaps: int, nbytes: int) -> None:
        """Count ``heaps`` heaps carrying ``nbytes`` bytes of payload."""
        self._last_add = time.monotonic()
        if self._first_add is None:
            self._first_add = self._last_add
        self.heaps += heaps
        self.bytes += nbytes

    def interval(self) -> tuple[float, float]:
        """Heaps/s and Gb/s since the previous call (or the start)."""
        now = time.monotonic()
        elapsed = now - self._last_time
        heaps = per_second(self.heaps - self._last_heaps, elapsed)
        gbps = per_second((self.bytes - self._last_bytes) * 8e-9, elapsed)
        self._last_time, self._last_heaps, self._last_bytes = now, self.heaps, self.bytes
        return heaps, gbps

    def overall(self) -> tuple[float, float, float]:
        """Seconds from the first count to the last, and the average heaps/s and Gb/s over them.

        Waiting for the first heap is not counted: a receiver is often started first.
        """
        elapsed = self._last_add - self._first_add if self._first_add is not None else 0.0
        return elapsed, per_second(self.heaps, elapsed), per_second(self.bytes * 8e-9, elapsed)
