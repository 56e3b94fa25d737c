"""Sphinx configuration: plain reStructuredText, no extensions, builds offline.

    python -m sphinx -W -b html docs docs/_build/html
"""

import pathlib
import re

_version_file = pathlib.Path(__file__).resolve().parents[1] / "src" / "spead2" / "_version.py"
release = re.search(r'__version__ = "([^"]+)"', _version_file.read_text()).group(1)
version = release

project = "spead2"
author = "the spead2 rebuild developers"
copyright = "the spead2 rebuild developers"

extensions: list[str] = []
root_doc = "index"
exclude_patterns = ["_build"]
highlight_language = "none"
html_theme = "alabaster"
