"""The docs cannot silently rot: every page is reachable, every file they name exists,
and nothing points outside the repository."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)
#: Repository paths quoted as inline literals, e.g. ``packages/spead2-core/src/recv_stream.cpp``.
REPO_PATH = re.compile(r"``((?:packages|src|tests|bench|docs|examples|fuzz)/[^`\s]+)``")
LITERALINCLUDE = re.compile(r"^\s*\.\. literalinclude::\s*(\S+)", re.MULTILINE)


def toctree_entries(index: pathlib.Path) -> set[str]:
    """Document names listed in the ``toctree`` directives of ``index``."""
    entries: set[str] = set()
    in_toctree = False
    for line in index.read_text().splitlines():
        if line.strip().startswith(".. toctree::"):
            in_toctree = True
        elif in_toctree:
            if line and not line[0].isspace():
                in_toctree = False
            elif line.strip() and not line.strip().startswith(":"):
                entries.add(line.strip())
    return entries


def test_every_page_is_in_the_toctree():
    entries = toctree_entries(DOCS / "index.rst")
    pages = {p.relative_to(DOCS).with_suffix("").as_posix() for p in PAGES} - {"index"}
    assert pages, "no documentation pages found"
    assert not pages - entries, f"pages missing from the index.rst toctree: {sorted(pages - entries)}"
    assert not entries - pages, f"toctree entries without a page: {sorted(entries - pages)}"


def test_architecture_names_only_existing_files():
    paths = REPO_PATH.findall((DOCS / "architecture.rst").read_text())
    assert len(paths) > 10, "architecture.rst should point at the code it describes"
    missing = sorted({p for p in paths if not (ROOT / p).exists()})
    assert not missing, f"architecture.rst names files that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_quoted_files_exist(page: pathlib.Path):
    """Other pages too: repository paths and literalinclude targets must exist."""
    text = page.read_text()
    missing = sorted({p for p in REPO_PATH.findall(text) if not (ROOT / p).exists()})
    missing += sorted({p for p in LITERALINCLUDE.findall(text) if not (page.parent / p).exists()})
    assert not missing, f"{page.name} names files that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_nothing_points_outside_the_repository(page: pathlib.Path):
    """The site stands alone: no page refers to files beside the checkout (``../shared``)."""
    text = page.read_text()
    outside = sorted(set(re.findall(r"(?:\.\./)+shared\S*|\bshared/(?:spec|bench|vectors|hooks)\S*", text)))
    assert not outside, f"{page.name} points outside the repository: {outside}"
