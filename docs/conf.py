"""Sphinx configuration of the documentation site.

    scripts/docs.sh [OUTDIR]      # python -m sphinx -W --keep-going -n -b html docs OUTDIR

Only extensions that ship with Sphinx (autodoc, napoleon, viewcode) and the built-in
alabaster theme; nothing is fetched while building. The API pages (``api/``) import
the installed spead2, so build with the interpreter of the venv that has it
(``scripts/docs.sh`` does). Three hooks of our own:

* signatures come from the type stubs (``src/spead2/**/*.pyi`` and the plugins'
  ``.pyi`` files, which ``tests/facade/test_stubs.py`` keeps in step with the
  runtime): pybind11's own signature lines spell every int as
  ``typing.SupportsInt | typing.SupportsIndex`` and every default object by its
  address, and overloads only in the docstring. The signature lines pybind11 puts
  into docstrings are removed;
* where an optional plugin (``OPTIONAL_API_PAGES``: ibverbs, AF_XDP) is not installed, its
  API page says so instead of documenting names that do not exist;
* before reading, ``docs/benchmarks/make_chart.py`` draws the benchmark chart from
  the table that ``benchmarks.rst`` includes, into ``docs/_generated/`` (ignored by
  git): the chart is never drawn by hand.
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import re
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
_version_file = ROOT / "src" / "spead2" / "_version.py"
release = re.search(r'__version__ = "([^"]+)"', _version_file.read_text()).group(1)
version = release

project = "spead2"
author = "the spead2 rebuild developers"
copyright = "the spead2 rebuild developers"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
root_doc = "index"
exclude_patterns = ["_build", "_generated"]
highlight_language = "none"
html_theme = "alabaster"
html_theme_options = {
    "description": "SPEAD for Python, on a plugin-based C++ core",
    "fixed_sidebar": True,
    "page_width": "1240px",
    "sidebar_width": "240px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_static_path: list[str] = []
python_use_unqualified_type_names = True

autodoc_member_order = "groupwise"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_inherit_docstrings = True
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# Nitpicky (-n) mode resolves every type named in a signature. Names from outside
# spead2 (no intersphinx: the build is offline) are left as plain text.
nitpick_ignore_regex = [
    ("py:class", r"(numpy|np|numba|scipy|socket|asyncio|collections\.abc|typing|typing_extensions|enum)\..*"),
    ("py:class", r"(Buffer|Self|DTypeLike|ArrayLike|Sequence|Callable|Iterator|Iterable|Mapping|KeysView|"
                 r"ValuesView|ItemsView|Any|Final|ClassVar|TypeVar|_T|T|Literal)"),
    ("py:class", r"(pybind11_builtins\.)?pybind11_object|pybind11_builtins\..*"),
    ("py:class", r"spead2\._spead2\..*|spead2_core\..*|spead2_chunk\..*|spead2_udp\..*|spead2_ibverbs\..*"),
    ("py:class", r"spead2\.send\.asyncio\.Wrapped|(builtins\.)?(PyCapsule|module|object)"),
    ("py:.*", r"spead2\..*\._.*|spead2\._.*"),
]

# ---------------------------------------------------------------------------
# Signatures from the type stubs
# ---------------------------------------------------------------------------

#: Stub file of each module that has one: module name -> path.
STUBS = {
    "spead2": ROOT / "src/spead2/__init__.pyi",
    "spead2.send": ROOT / "src/spead2/send/__init__.pyi",
    "spead2.send.asyncio": ROOT / "src/spead2/send/asyncio.pyi",
    "spead2.recv": ROOT / "src/spead2/recv/__init__.pyi",
    "spead2.recv.asyncio": ROOT / "src/spead2/recv/asyncio.pyi",
    "spead2.recv.stream_stat_indices": ROOT / "src/spead2/recv/stream_stat_indices.pyi",
    "spead2_core._core": ROOT / "packages/spead2-core/spead2_core/_core.pyi",
    "spead2_chunk._chunk": ROOT / "packages/spead2-chunk/spead2_chunk/_chunk.pyi",
    "spead2_chunk._group": ROOT / "packages/spead2-chunk/spead2_chunk/_group.pyi",
    "spead2_udp._udp": ROOT / "packages/spead2-udp/spead2_udp/_udp.pyi",
    "spead2_ibverbs._ibverbs": ROOT / "packages/spead2-ibverbs/spead2_ibverbs/_ibverbs.pyi",
}


#: Names the stubs declare for annotations that exist only in the native module.
_NATIVE_ONLY = {f"spead2.recv.{name}": f"spead2._spead2.recv.{name}" for name in ("RawItem", "HeapBase", "_Stream")}


class _StubModule:
    """One parsed stub: its classes and functions, its re-exports, and the full name
    of every class name its annotations may use."""

    def __init__(self, module: str, path: pathlib.Path) -> None:
        tree = ast.parse(path.read_text())
        self.defs: dict[str, ast.AST] = {}
        self.reexports: dict[str, tuple[str, str]] = {}  # name -> (module, name there)
        self.names: dict[str, str] = {}  # name in the stub -> dotted name
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                self.defs[node.name] = node
                self.names[node.name] = f"{module}.{node.name}"
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    name = alias.asname or alias.name
                    self.names[name] = f"{node.module}.{alias.name}"
                    if not name.startswith("_"):
                        self.reexports[name] = (node.module, alias.name)

    def qualify(self, annotation: ast.expr) -> ast.expr:
        """``annotation`` with the stub's class names written out in full, so that
        they link to their documentation."""
        names = self.names

        class Qualify(ast.NodeTransformer):
            def visit_Name(self, node: ast.Name) -> ast.expr:
                full = names.get(node.id)
                if full is None:
                    return node
                full = _NATIVE_ONLY.get(full, full).replace("spead2_core._core", "spead2._spead2")
                return ast.copy_location(ast.parse(full, mode="eval").body, node)

        return Qualify().visit(annotation)


_stub_cache: dict[str, _StubModule | None] = {}


def _stub(module: str) -> _StubModule | None:
    if module not in _stub_cache:
        path = STUBS.get(module)
        _stub_cache[module] = _StubModule(module, path) if path is not None and path.exists() else None
    return _stub_cache[module]


def _find_in_stub(module: str, qualname: list[str], depth: int = 0) -> tuple[list[ast.AST], _StubModule] | None:
    """The stub definitions (several for overloads) of ``module.qualname``."""
    stub = _stub(module)
    if stub is None or depth > 5 or not qualname:
        return None
    head, rest = qualname[0], qualname[1:]
    node = stub.defs.get(head)
    if node is None:
        if head in stub.reexports:
            target_module, target_name = stub.reexports[head]
            return _find_in_stub(target_module, [target_name, *rest], depth + 1)
        return None
    for name in rest:
        if not isinstance(node, ast.ClassDef):
            return None
        matches = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                   and n.name == name]
        if not matches:  # inherited: look in the stub's bases of the class
            for base in node.bases:
                if isinstance(base, ast.Name) and base.id in stub.names:
                    base_module, base_name = stub.names[base.id].rsplit(".", 1)
                    found = _find_in_stub(base_module, [base_name, name], depth + 1)
                    if found is not None:
                        return found
            return None
        if isinstance(matches[0], ast.ClassDef) or name is not rest[-1]:
            node = matches[0]
            continue
        return matches, stub
    return [node], stub


def _format_args(node: ast.FunctionDef | ast.AsyncFunctionDef, stub: _StubModule, method: bool) -> str:
    node = ast.parse(ast.unparse(node)).body[0]  # a copy, to rewrite
    args = node.args
    if method and not any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list):
        if args.posonlyargs and args.posonlyargs[0].arg in ("self", "cls"):
            del args.posonlyargs[0]
        elif args.args and args.args[0].arg in ("self", "cls"):
            del args.args[0]
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if arg is not None and arg.annotation is not None:
            arg.annotation = stub.qualify(arg.annotation)
    text = f"({ast.unparse(args)})"
    if node.returns is not None and node.name != "__init__":
        text += f" -> {ast.unparse(stub.qualify(node.returns))}"
    return text


def _stub_signature(what: str, fullname: str) -> str | None:
    """The stub's signature lines for an autodoc object, or None to keep autodoc's."""
    parts = fullname.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module, qualname = ".".join(parts[:split]), parts[split:]
        if module in STUBS:
            break
    else:
        return None
    if what == "class":
        qualname = [*qualname, "__init__"]
    found = _find_in_stub(module, qualname)
    if found is None:
        return None
    nodes, stub = found
    functions = [n for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not functions or any(
        isinstance(d, ast.Name) and d.id == "property" for n in functions for d in n.decorator_list
    ):
        return None
    method = what in ("method", "class") or len(qualname) > 1
    return "\n".join(_format_args(n, stub, method) for n in functions)


def _process_signature(app, what, name, obj, options, signature, return_annotation):
    if what not in ("class", "method", "function", "exception"):
        return None
    stub_signature = _stub_signature(what, name)
    if stub_signature is None:
        return None
    return stub_signature, None


def _process_docstring(app, what, name, obj, options, lines):
    """Drop pybind11's signature lines ("Overloaded function.", "1. f(...)")."""
    short = "__init__" if what in ("class", "exception") else name.rsplit(".", 1)[-1]
    signature = re.compile(rf"^(\d+\. )?({re.escape(short)}|__init__)\(.*\)( -> .*)?$")
    kept = [line for line in lines if line.strip() != "Overloaded function." and not signature.match(line)]
    while kept and not kept[0].strip():
        kept.pop(0)
    lines[:] = kept


# ---------------------------------------------------------------------------
# The ibverbs page, and the benchmark chart
# ---------------------------------------------------------------------------


#: API pages of optional plugins: page -> (distribution, the reader method it adds to
#: every receive stream, its user guide page). Where the plugin is not installed the
#: page says so instead of documenting names that do not exist.
OPTIONAL_API_PAGES = {
    "api/ibverbs": ("spead2-ibverbs", "add_udp_ibv_reader", "ibverbs"),
    "api/xdp": ("spead2-xdp", "add_udp_xdp_reader", "xdp"),
}


def plugin_installed(page: str) -> bool:
    """Whether the plugin of an optional API page is installed."""
    import spead2.recv

    return hasattr(spead2.recv.Stream, OPTIONAL_API_PAGES[page][1])


def _source_read(app, docname, source):
    if docname in OPTIONAL_API_PAGES and not plugin_installed(docname):
        distribution, _, guide = OPTIONAL_API_PAGES[docname]
        title = source[0].splitlines()[0]
        source[0] = (
            f"{title}\n{'=' * len(title)}\n\n"
            f"This site was built where the ``{distribution}`` plugin is not installed, so "
            f"the names it adds do not exist here; see :doc:`../{guide}`.\n"
        )


BENCHMARK_TABLE = re.compile(r"^\.\. literalinclude:: (benchmarks/compare-[^\s]+\.txt)\s*$", re.MULTILINE)
BENCHMARK_CHART = DOCS / "_generated" / "benchmark-ratios.svg"


def _draw_benchmark_chart(app) -> None:
    table = BENCHMARK_TABLE.search((DOCS / "benchmarks.rst").read_text())
    if table is None:
        raise RuntimeError("benchmarks.rst includes no benchmarks/compare-*.txt table")
    spec = importlib.util.spec_from_file_location("make_chart", DOCS / "benchmarks" / "make_chart.py")
    make_chart = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_chart", make_chart)  # dataclasses look their module up
    spec.loader.exec_module(make_chart)
    make_chart.write_chart(DOCS / table.group(1), BENCHMARK_CHART)


def _numpy_style_only_where_it_can_be(app) -> None:
    """napoleon reads a property's one-line docstring "X: Y" as type X; ours are prose.
    So its handler is kept off attributes, properties and data."""
    import sphinx.ext.napoleon as napoleon

    for listener in list(app.events.listeners.get("autodoc-process-docstring", [])):
        if listener.handler is napoleon._process_docstring:
            app.disconnect(listener.id)

            def numpy_style(app, what, name, obj, options, lines, _handler=listener.handler):
                if what not in ("attribute", "property", "data"):
                    _handler(app, what, name, obj, options, lines)

            app.connect("autodoc-process-docstring", numpy_style, priority=listener.priority)


def _process_bases(app, name, obj, options, bases):
    """Private bases (``_Stream``) and pybind11's own base are shown as what they
    derive from, down to ``object``."""
    shown = []
    pending = list(bases)
    while pending:
        base = pending.pop(0)
        if base.__name__.startswith("_") or base.__module__ == "pybind11_builtins":
            pending[:0] = [b for b in base.__bases__ if b not in shown and b not in pending]
        elif base not in shown:
            shown.append(base)
    bases[:] = shown


def setup(app):
    _numpy_style_only_where_it_can_be(app)
    app.connect("autodoc-process-bases", _process_bases)
    app.connect("builder-inited", _draw_benchmark_chart)
    app.connect("source-read", _source_read)
    app.connect("autodoc-process-signature", _process_signature)
    app.connect("autodoc-process-docstring", _process_docstring)
