"""What every tool's ``main`` does around its coroutine: logging, exit status, errors."""

from __future__ import annotations

import asyncio
import logging
import sys
import typing


def run_tool(prog: str, log_level: str, main: typing.Coroutine[typing.Any, typing.Any, typing.Any]) -> int:
    """Run ``main`` with logging at ``log_level``; the process's exit status.

    Ctrl-C that reaches here gives status 1. A runtime failure (a host that does not
    resolve, a port in use, a missing file) is one line on stderr and status 1, not a
    traceback: these are the user's input, not bugs.
    """
    logging.basicConfig(level=getattr(logging, log_level.upper()))
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        return 1
    except (RuntimeError, OSError, ValueError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    return 0
