"""Building and running the C++ test programs against the installed core."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

import spead2_core

INCLUDE = pathlib.Path(__file__).resolve().parent / "include"   # check.h


def build_and_run(source: pathlib.Path, tmp_path: pathlib.Path, extra_sources: tuple[pathlib.Path, ...] = (),
                  include_dirs: tuple[pathlib.Path, ...] = ()) -> None:
    """Compile ``source`` (with ``extra_sources``) against the installed core, run it, expect "ok"."""
    compiler = shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        pytest.skip("no C++ compiler on PATH (needed only by the C++ tests)")
    exe = tmp_path / source.stem
    lib_dir = spead2_core.get_lib_dir()
    includes = [arg for directory in (spead2_core.get_include(), INCLUDE, *include_dirs) for arg in ("-I", str(directory))]
    subprocess.run(
        [compiler, "-std=c++17", "-O1", "-fvisibility=hidden", *includes, str(source), *map(str, extra_sources),
         "-L", lib_dir, "-lspead2_core", f"-Wl,-rpath,{lib_dir}", "-pthread", "-o", str(exe)],
        check=True, timeout=300,
    )
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
