"""Run the Python examples of one documentation page, in order, in one namespace.

    python run_session.py BLOCKS.json

BLOCKS.json is a list of ``{"path": ..., "line": ..., "code": ...}``: the page's
``.. code-block:: python`` blocks as ``test_examples.py`` extracted them. Each block
is compiled with the page as its file name and its own line numbers, so a traceback
points at the line of the page (and shows it). A block may use ``await`` at the top
level, as in ``python -m asyncio``: it then runs in an event loop of its own.

Every block has ``SPEAD2_DOCS_BLOCK_TIMEOUT`` seconds (default 60); a block that
takes longer dumps the stacks of all threads and ends the process. Prints one line
per block that completed, ``--- ok PATH:LINE``, on stderr.
"""

from __future__ import annotations

import ast
import asyncio
import faulthandler
import inspect
import json
import os
import sys


def main() -> int:
    with open(sys.argv[1]) as handle:
        blocks = json.load(handle)
    timeout = float(os.environ.get("SPEAD2_DOCS_BLOCK_TIMEOUT", "60"))
    namespace: dict = {"__name__": "__main__"}
    for block in blocks:
        source = "\n" * (block["line"] - 1) + block["code"]
        code = compile(source, block["path"], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        faulthandler.dump_traceback_later(timeout, exit=True)
        try:
            result = eval(code, namespace)  # noqa: S307 - the documentation's own examples
            if inspect.iscoroutine(result):
                asyncio.run(result)
        finally:
            faulthandler.cancel_dump_traceback_later()
        sys.stdout.flush()
        print(f"--- ok {block['path']}:{block['line']}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
