"""Build each C++ program in cpp/ against the installed core (headers + libspead2_core.so) and run it."""

from __future__ import annotations

import pathlib
import platform
import re
import shutil
import subprocess

import pytest

import spead2_core
from cpp_support import build_and_run

SOURCES = sorted((pathlib.Path(__file__).resolve().parent / "cpp").glob("*.cpp"))


@pytest.mark.parametrize("source", SOURCES, ids=[source.stem for source in SOURCES])
def test_installed_cpp_api(source, tmp_path):
    build_and_run(source, tmp_path)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="streaming stores are used on x86-64 only")
def test_nontemporal_copy_uses_streaming_stores():
    """MEMCPY_NONTEMPORAL is a real non-temporal copy, not std::memcpy by another name."""
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("no objdump on PATH (needed only by this test)")
    library = pathlib.Path(spead2_core.get_lib_dir()) / "libspead2_core.so"
    listing = subprocess.run(
        [objdump, "-d", "--no-show-raw-insn", "-C", str(library)],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout
    # memcpy_nontemporal dispatches to the widest variant the CPU has.  The header line
    # alone names the function: not a "[clone .cold]" part (a sanitized build has one),
    # nor a call to it.
    for variant in ("sse2", "avx2"):
        body = re.search(
            rf"<spead2::\(anonymous namespace\)::memcpy_nontemporal_{variant}\([^\n]*?\)>:\n(.*?)\n\n", listing, re.S
        )
        assert body is not None, f"memcpy_nontemporal_{variant} not found in the library"
        assert "movnt" in body.group(1)
        assert "sfence" in body.group(1)
