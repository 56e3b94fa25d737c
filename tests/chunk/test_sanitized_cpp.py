"""The C++ test programs of the core and the chunk plugin under ASan+UBSan (scripts/sanitize.sh).

Bad chunk placements (tests/chunk/cpp) must be rejected before any byte is written:
AddressSanitizer turns an out-of-bounds write into a failure rather than silent
corruption.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_cpp_tests_under_sanitizers(tmp_path):
    compiler = shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler on PATH")
    probe = tmp_path / "probe.cpp"
    probe.write_text("int main() { return 0; }\n")
    if subprocess.run([compiler, "-fsanitize=address,undefined", str(probe), "-o", str(tmp_path / "probe")],
                      capture_output=True).returncode != 0:
        pytest.skip("the C++ compiler cannot link ASan+UBSan programs")
    result = subprocess.run([str(ROOT / "scripts" / "sanitize.sh")], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok      tests/chunk/cpp/test_recv_chunk_stream.cpp" in result.stdout
