"""The documentation site builds cleanly, and documents the whole public API.

- ``test_site_builds``: the build that ``scripts/docs.sh`` runs (Sphinx, warnings
  as errors, nitpicky), into a temporary folder; the benchmark chart is generated
  on the way.
- ``test_public_names_have_docstrings``: every public class and function of the
  documented modules, and every public method and property of those classes, has
  a docstring of its own beyond pybind11's signature lines.
- ``test_api_pages_cover_public_names``: each of those names has a directive on
  an API page (``docs/api``), so nothing public goes undocumented.
"""

from __future__ import annotations

import __future__
import enum
import importlib
import importlib.util
import inspect
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MODULES = [
    "spead2",
    "spead2.send",
    "spead2.send.asyncio",
    "spead2.recv",
    "spead2.recv.asyncio",
    "spead2.recv.stream_stat_indices",
    "spead2.numba",
    "spead2.recv.numba",
]


def test_site_builds(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"sphinx failed:\n{result.stdout[-5000:]}\n{result.stderr[-10000:]}"
    html = tmp_path / "html"
    for page in ("index", "send", "receive", "api/recv", "benchmarks"):
        assert (html / f"{page}.html").is_file(), page
    assert "<svg" in (html / "_images" / "benchmark-ratios.svg").read_text()
    assert 'id="spead2.recv.Stream.add_udp_reader"' in (html / "api" / "recv.html").read_text()


def public_names() -> dict[str, object]:
    """``module.name`` -> object, for what ``dir()`` lists without a leading underscore,
    less modules and ``from __future__`` features (imports, not API)."""
    names = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in dir(module):
            obj = getattr(module, name)
            if name.startswith("_") or inspect.ismodule(obj) or isinstance(obj, __future__._Feature):
                continue
            names[f"{module_name}.{name}"] = obj
    return names


def own_doc(obj: object, name: str) -> str:
    """The docstring less the signature lines pybind11 writes for ``name``."""
    doc = inspect.getdoc(obj) if not isinstance(obj, property) else obj.__doc__
    signature = re.compile(rf"^(\d+\. )?({re.escape(name)}|__init__)\(.*\)( -> .*)?$")
    lines = [line for line in (doc or "").splitlines()
             if line.strip() != "Overloaded function." and not signature.match(line.strip())]
    return "\n".join(lines).strip()


def members(cls: type) -> dict[str, object]:
    """Public methods and properties of ``cls`` and its bases, other than ``object``'s
    and pybind11's own; enum members and constants are data, not members here."""
    found = {}
    for base in reversed(cls.__mro__):
        if base is object or base.__module__ in ("builtins", "pybind11_builtins"):
            continue
        for name, value in vars(base).items():
            if name.startswith("_"):
                continue
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if type(value).__name__ == "pybind11_static_property":
                found.pop(name, None)  # a class constant (DEFAULT_...)
            elif isinstance(value, property) or inspect.isroutine(value) or type(value).__name__ in (
                    "instancemethod", "builtin_function_or_method"):
                found[name] = value
            else:
                found.pop(name, None)
    return found


def test_public_names_have_docstrings():
    missing = []
    for full_name, obj in public_names().items():
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue  # constants: documented on the API pages
        short = full_name.rsplit(".", 1)[1]
        if not own_doc(obj, short):
            missing.append(full_name)
        if inspect.isclass(obj) and not issubclass(obj, enum.Enum):
            for name, member in members(obj).items():
                if not own_doc(member, name):
                    missing.append(f"{full_name}.{name}")
    assert not missing, "no docstring: " + ", ".join(sorted(missing))


DIRECTIVE = re.compile(r"^\.\. (?:auto)?(?:py:)?(?:class|function|exception|data)::\s*(\S+)((?:\n {13,}\S+)*)",
                       re.MULTILINE)
MODULE = re.compile(r"^\.\. (?:py:)?(?:module|currentmodule)::\s*(\S+)", re.MULTILINE)


def docs_conf():
    spec = importlib.util.spec_from_file_location("docs_conf", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def documented_names(skip_absent_plugins: bool = False) -> set[str]:
    """Full names given to autodoc and py: directives on the API pages (less the pages
    of optional plugins that are not installed, if asked)."""
    conf = docs_conf()
    names = set()
    for page in sorted((DOCS / "api").glob("*.rst")):
        docname = f"api/{page.stem}"
        if skip_absent_plugins and docname in conf.OPTIONAL_API_PAGES and not conf.plugin_installed(docname):
            continue
        text = page.read_text()
        events = sorted([(m.start(), "module", m.group(1)) for m in MODULE.finditer(text)]
                        + [(m.start(), "name", m) for m in DIRECTIVE.finditer(text)], key=lambda e: e[0])
        module = ""
        for _, kind, value in events:
            if kind == "module":
                module = value
                continue
            for name in [value.group(1), *value.group(2).split()]:
                names.add(name if name.startswith("spead2.") else f"{module}.{name}")
    return names


def test_api_pages_cover_public_names():
    documented = documented_names()
    missing = sorted(set(public_names()) - documented)
    assert not missing, f"public names without an entry on a docs/api page: {missing}"
    stale = sorted(name for name in documented_names(skip_absent_plugins=True)
                   if name not in public_names() and not name.startswith("spead2._spead2."))
    assert not stale, f"docs/api pages name what is not public (any more): {stale}"

