"""Build each C++ program in cpp/ against the installed core (headers + libspead2_core.so) and run it."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

import spead2_core

SOURCES = sorted((pathlib.Path(__file__).resolve().parent / "cpp").glob("*.cpp"))


@pytest.mark.parametrize("source", SOURCES, ids=[source.stem for source in SOURCES])
def test_installed_cpp_api(source, tmp_path):
    compiler = shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        pytest.skip("no C++ compiler on PATH (needed only by this test)")
    exe = tmp_path / source.stem
    lib_dir = spead2_core.get_lib_dir()
    subprocess.run(
        [compiler, "-std=c++17", "-O1", "-fvisibility=hidden", "-I", spead2_core.get_include(), str(source),
         "-L", lib_dir, "-lspead2_core", f"-Wl,-rpath,{lib_dir}", "-pthread", "-o", str(exe)],
        check=True, timeout=300,
    )
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
