"""The chunk stream's C++ core, built from the plugin's sources against the installed core."""

from __future__ import annotations

import pathlib

import pytest
from cpp_support import build_and_run

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE = HERE.parents[1] / "packages" / "spead2-chunk"
SOURCES = sorted((HERE / "cpp").glob("*.cpp"))


@pytest.mark.parametrize("source", SOURCES, ids=[source.stem for source in SOURCES])
def test_chunk_cpp(source, tmp_path):
    build_and_run(source, tmp_path, extra_sources=tuple(sorted((PACKAGE / "src").glob("recv_*.cpp"))),
                  include_dirs=(PACKAGE / "include",))
