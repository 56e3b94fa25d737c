"""The type stubs serve user code: mypy --strict accepts typed send/recv/chunk code and
rejects code that would fail at run time.

The checks run against the installed packages' stubs (what users get), with the
repository's mypy configuration (pyproject.toml).
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "typed_user_code.py"

pytest.importorskip("mypy", reason="mypy is not installed (requirements-dev.txt)")

#: Code that fails at run time, and the error mypy must report for it.
WRONG = {
    "rate_as_string": ("spead2.send.StreamConfig(rate='fast')", "arg-type"),
    "chunk_config_type": ("spead2.recv.ChunkStreamConfig(max_chunks='2')", "arg-type"),
    "stats_are_not_int": ("n: int = spead2.recv.Stream(tp).stats", "assignment"),
    "incomplete_heap_to_update": ("spead2.ItemGroup().update(spead2.recv.Stream(tp).get())", "arg-type"),
    "chunk_stream_without_rings": (
        "spead2.recv.ChunkRingStream(tp, spead2.recv.StreamConfig(),"
        " chunk_stream_config=spead2.recv.ChunkStreamConfig())",
        "call-overload",
    ),
    "udp_reader_bad_port": ("spead2.recv.Stream(tp).add_udp_reader('8888')", "call-overload"),
    "misspelt_method": ("spead2.send.UdpStream(tp, [('127.0.0.1', 8888)]).send_heapz(spead2.send.Heap())",
                        "attr-defined"),
    "repeat_pointers_is_bool": ("s: str = spead2.send.Heap().repeat_pointers", "assignment"),
}


def _mypy(paths: list[pathlib.Path], cache: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(cache),
         "--show-error-codes", "--no-color-output", "--no-error-summary", *map(str, paths)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )


def test_typed_user_code_passes_strict(tmp_path):
    result = _mypy([EXAMPLE], tmp_path / "cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_wrong_code_is_rejected(tmp_path):
    files = []
    for name, (code, _) in WRONG.items():
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(f"""\
            import spead2
            import spead2.recv
            import spead2.send

            tp = spead2.ThreadPool()
            {code}
            """))
        files.append(path)
    result = _mypy(files, tmp_path / "cache")
    errors: dict[str, set[str]] = {}
    for line in result.stdout.splitlines():
        match = re.match(r".*?([a-z_]+)\.py:\d+: error: .*\[([a-z-]+)\]$", line)
        if match:
            errors.setdefault(match.group(1), set()).add(match.group(2))
    for name, (code, expected) in WRONG.items():
        assert expected in errors.get(name, set()), f"mypy did not reject {code!r} ({expected}):\n{result.stdout}"


def test_typed_user_code_runs():
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "udp: 8/8 rows intact; chunks: 8/8 rows intact"
