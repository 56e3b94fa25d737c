"""The shipped type stubs (.pyi) and the runtime API must not drift apart.

Each stub file is read from the source tree and parsed with :mod:`ast`; the
runtime objects come from the installed packages. For every stub module:

- every name it declares (classes, functions, constants, ``from x import a as a``
  re-exports) exists at runtime, with the stated value for literal constants;
- every public runtime name of the module is declared in the stub (names that
  third-party plugins add are ignored: their stubs are not ours);
- for every class: the bases are the runtime bases; every member the stub
  declares exists at runtime with the same kind (method, read-only or read-write
  property, constant, nested class, enum member); every public runtime member is
  declared in the stub (inheriting through the stub's own bases); and function
  signatures agree on parameter names, kinds and the presence of defaults
  (native signatures are read from the pybind11 docstrings).

Names that an optional plugin provides (``OPTIONAL_PLUGIN_NAMES``) are checked in
full where that plugin is installed, and skipped where it is not.
"""

from __future__ import annotations

import __future__
import ast
import builtins
import dataclasses
import enum
import importlib
import importlib.metadata
import inspect
import pathlib
import re
import sys
import types
from typing import Any

import pytest

import spead2
import spead2.recv
import spead2.recv.stream_stat_indices
import spead2.send
import spead2_core
import spead2_core._core
import spead2_core.plugin
from spead2 import _plugins

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORE_PKG = ROOT / "packages" / "spead2-core" / "spead2_core"
FACADE_PKG = ROOT / "src" / "spead2"
CHUNK_PKG = ROOT / "packages" / "spead2-chunk" / "spead2_chunk"

STUB_FILES = {
    "spead2_core._core": CORE_PKG / "_core.pyi",
    "spead2": FACADE_PKG / "__init__.pyi",
    "spead2.send": FACADE_PKG / "send" / "__init__.pyi",
    "spead2.recv": FACADE_PKG / "recv" / "__init__.pyi",
    "spead2.recv.stream_stat_indices": FACADE_PKG / "recv" / "stream_stat_indices.pyi",
    "spead2.send.asyncio": FACADE_PKG / "send" / "asyncio.pyi",
    "spead2.recv.asyncio": FACADE_PKG / "recv" / "asyncio.pyi",
    "spead2_chunk._chunk": CHUNK_PKG / "_chunk.pyi",
    "spead2_chunk._group": CHUNK_PKG / "_group.pyi",
}

# Declared in the recv stub so that annotations can name them, but at runtime only
# reachable in the native submodule (spec §4.1: not re-exported by spead2.recv).
NATIVE_ONLY = {
    "spead2.recv": ("spead2._spead2.recv", {"_Stream", "HeapBase", "RawItem"}),
    "spead2.send": (
        "spead2._spead2.send",
        {"InprocStreamAsyncio", "UdpStreamAsyncio", "TcpStreamAsyncio", "UdpIbvStreamAsyncio",
         "UdpXdpStreamAsyncio"},
    ),
}

# Names that only an optional plugin provides (spec §0.2: spead2-ibverbs is built only
# where rdma-core's headers are, spead2-xdp where libxdp's, libbpf's and clang are), by the plugin's entry point name in group "spead2",
# then by owner: a stub module, or a stub class as "module.qualname" for its members.
# The stubs declare them; where the plugin is installed they are checked like every
# other name, where it is not their checks are skipped (and the names must be absent).
OPTIONAL_PLUGIN_NAMES: dict[str, dict[str, set[str]]] = {
    "ibverbs": {
        "spead2.send": {"UdpIbvConfig", "UdpIbvStream", "UdpIbvStreamAsyncio"},
        "spead2.send.asyncio": {"UdpIbvStream"},
        "spead2.recv": {"UdpIbvConfig"},
        "spead2.recv._Stream": {"add_udp_ibv_reader"},
    },
    "xdp": {
        "spead2.send": {"UdpXdpConfig", "UdpXdpStream", "UdpXdpStreamAsyncio"},
        "spead2.send.asyncio": {"UdpXdpStream"},
        "spead2.recv": {"UdpXdpConfig"},
        "spead2.recv._Stream": {"add_udp_xdp_reader"},
    },
}

# Native modules without a stub of their own, whose classes the facade stubs describe.
NATIVE_SUBMODULES = {"spead2._spead2.send": "spead2.send", "spead2._spead2.recv": "spead2.recv"}

POSONLY = inspect.Parameter.POSITIONAL_ONLY
POS_OR_KW = inspect.Parameter.POSITIONAL_OR_KEYWORD
VAR_POS = inspect.Parameter.VAR_POSITIONAL
KWONLY = inspect.Parameter.KEYWORD_ONLY
VAR_KW = inspect.Parameter.VAR_KEYWORD


# ---------------------------------------------------------------------------
# Stub parsing
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class StubMember:
    kind: str  # method, property_ro, property_rw, attr, final, classvar, hash_none, enum_member, class
    node: Any = None  # FunctionDef list (methods), value node (final/enum), ClassDef (class)
    static: bool = False
    classmethod: bool = False


@dataclasses.dataclass
class StubClass:
    module: str
    qualname: str
    node: ast.ClassDef
    members: dict[str, StubMember]


@dataclasses.dataclass
class StubModule:
    name: str
    path: pathlib.Path
    tree: ast.Module
    classes: dict[str, ast.ClassDef]
    functions: dict[str, list[ast.FunctionDef]]
    variables: dict[str, ast.expr | None]
    reexports: dict[str, tuple[str, str]]  # name -> (module, attribute)
    imports: dict[str, tuple[str, str | None]]  # every import binding; attribute None for modules

    @property
    def declared(self) -> set[str]:
        return set(self.classes) | set(self.functions) | set(self.variables) | set(self.reexports)


def _is_name(node: ast.expr, *names: str) -> bool:
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Attribute):
        return node.attr in names
    return False


def _decorator_names(fn: ast.FunctionDef) -> list[str]:
    out = []
    for dec in fn.decorator_list:
        if isinstance(dec, ast.Attribute):  # @x.setter
            out.append(dec.attr)
        elif isinstance(dec, ast.Name):
            out.append(dec.id)
    return out


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def parse_stub(name: str, path: pathlib.Path) -> StubModule:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.pyi"
    mod = StubModule(name, path, tree, {}, {}, {}, {}, {})
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            mod.classes[node.name] = node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mod.functions.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            mod.variables[node.target.id] = node.value
        elif isinstance(node, ast.Assign):
            value = node.value
            if isinstance(value, ast.Call) and _is_name(value.func, "TypeVar", "ParamSpec", "TypeVarTuple"):
                continue  # typing-only helper
            for target in node.targets:
                if isinstance(target, ast.Name):
                    mod.variables[target.id] = value
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(name, is_package, node)
            for alias in node.names:
                bound = alias.asname or alias.name
                mod.imports[bound] = (source, alias.name)
                if alias.asname == alias.name:  # explicit re-export in a stub
                    mod.reexports[bound] = (source, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    mod.imports[alias.asname] = (alias.name, None)
                else:
                    top = alias.name.split(".")[0]
                    mod.imports[top] = (top, None)
    return mod


STUBS = {name: parse_stub(name, path) for name, path in STUB_FILES.items()}


def class_members(node: ast.ClassDef) -> dict[str, StubMember]:
    is_enum = any(_is_name(base, "Enum", "IntEnum", "Flag", "IntFlag") for base in node.bases)
    members: dict[str, StubMember] = {}
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            decorators = _decorator_names(item)
            if "setter" in decorators:
                members[item.name].kind = "property_rw"
                continue
            if "property" in decorators:
                members[item.name] = StubMember("property_ro", [item])
                continue
            member = members.setdefault(item.name, StubMember("method", []))
            member.node.append(item)
            member.static = member.static or "staticmethod" in decorators
            member.classmethod = member.classmethod or "classmethod" in decorators
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            ann = item.annotation
            head = ann.value if isinstance(ann, ast.Subscript) else ann
            if _is_name(head, "Final"):
                kind = "final"
            elif _is_name(head, "ClassVar"):
                inner = ann.slice if isinstance(ann, ast.Subscript) else None
                none = isinstance(inner, ast.Constant) and inner.value is None
                kind = "hash_none" if item.target.id == "__hash__" and none else "classvar"
            else:
                kind = "attr"
            members[item.target.id] = StubMember(kind, item.value)
        elif isinstance(item, ast.Assign):
            for target in item.targets:
                if isinstance(target, ast.Name):
                    members[target.id] = StubMember("enum_member" if is_enum else "final", item.value)
        elif isinstance(item, ast.ClassDef):
            members[item.name] = StubMember("class", item)
    return members


def all_stub_classes() -> list[StubClass]:
    out = []

    def walk(module: str, prefix: str, node: ast.ClassDef) -> None:
        qualname = f"{prefix}{node.name}"
        out.append(StubClass(module, qualname, node, class_members(node)))
        for item in node.body:
            if isinstance(item, ast.ClassDef):
                walk(module, qualname + ".", item)

    for name, stub in STUBS.items():
        for node in stub.classes.values():
            walk(name, "", node)
    return out


STUB_CLASSES = all_stub_classes()


# ---------------------------------------------------------------------------
# Resolution of stub names to runtime objects and to stub classes
# ---------------------------------------------------------------------------


def plugin_names(hook: str) -> set[str]:
    """Names that plugins other than the core's own add through ``hook``."""
    core = getattr(spead2_core.plugin, hook, None)
    mine = set(core()) if core is not None else set()
    return set(_plugins.collect(hook)) - mine


FOREIGN = {
    "spead2": plugin_names("spead2_names"),
    "spead2_core._core": plugin_names("spead2_names"),
    "spead2.send": plugin_names("spead2_send_names"),
    "spead2._spead2.send": plugin_names("spead2_send_names"),
    "spead2.recv": plugin_names("spead2_recv_names"),
    "spead2._spead2.recv": plugin_names("spead2_recv_names"),
}
FOREIGN_READER_METHODS = plugin_names("spead2_recv_reader_methods")


def plugin_installed(entry_point: str) -> bool:
    return any(ep.name == entry_point for ep in importlib.metadata.entry_points(group=_plugins.ENTRY_POINT_GROUP))


def optional_plugin(owner: str, name: str) -> str | None:
    """The optional plugin that provides ``owner.name``, if it is one of OPTIONAL_PLUGIN_NAMES."""
    return next((plugin for plugin, owners in OPTIONAL_PLUGIN_NAMES.items() if name in owners.get(owner, ())), None)


def not_installed(owner: str, name: str) -> str | None:
    """Why ``owner.name`` may be missing at runtime (its plugin is not installed), else None."""
    plugin = optional_plugin(owner, name)
    if plugin is None or plugin_installed(plugin):
        return None
    return f"{owner}.{name} comes from the {plugin!r} plugin, which is not installed"


def skip_if_not_installed(owner: str, name: str) -> None:
    reason = not_installed(owner, name)
    if reason is not None:
        pytest.skip(reason)


def skip_class_if_not_installed(cls: StubClass) -> None:
    skip_if_not_installed(cls.module, cls.qualname.split(".")[0])


def runtime_module(name: str) -> types.ModuleType:
    return importlib.import_module(name)


def runtime_attr(module: str, name: str) -> Any:
    """The runtime object that stub module ``module`` calls ``name``."""
    if module in NATIVE_ONLY and name in NATIVE_ONLY[module][1]:
        return getattr(runtime_module(NATIVE_ONLY[module][0]), name)
    return getattr(runtime_module(module), name)


def resolve_runtime(module: str, node: ast.expr) -> Any:
    """Evaluate a name/attribute/literal expression of stub ``module`` at runtime."""
    stub = STUBS[module]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -resolve_runtime(module, node.operand)
    if isinstance(node, ast.Attribute):
        return getattr(resolve_runtime(module, node.value), node.attr)
    if isinstance(node, ast.Name):
        if node.id in stub.declared and node.id not in stub.imports:
            return runtime_attr(module, node.id)
        if node.id in stub.imports:
            source, attr = stub.imports[node.id]
            if source in STUBS and attr is not None:
                return runtime_attr(source, attr)
            target = runtime_module(source)
            return target if attr is None else getattr(target, attr)
        return getattr(builtins, node.id)
    raise AssertionError(f"cannot evaluate {ast.dump(node)} in {module}")


def resolve_stub_class(module: str, node: ast.expr) -> StubClass | None:
    """The stub class a base-class expression refers to, if it is one of ours."""
    stub = STUBS[module]
    if isinstance(node, ast.Name):
        if node.id in stub.classes:
            return next(c for c in STUB_CLASSES if c.module == module and c.qualname == node.id)
        if node.id in stub.imports:
            source, attr = stub.imports[node.id]
            if attr is not None and source in STUBS:
                return resolve_stub_class(source, ast.Name(attr))
        return None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        binding = stub.imports.get(node.value.id)
        if binding and binding[1] is None and binding[0] in STUBS:
            return resolve_stub_class(binding[0], ast.Name(node.attr))
    return None


def runtime_class(cls: StubClass) -> Any:
    parts = cls.qualname.split(".")
    obj = runtime_attr(cls.module, parts[0])
    for part in parts[1:]:
        obj = getattr(obj, part)
    return obj


def stub_class_by_qualname(module: str, qualname: str) -> StubClass:
    return next(c for c in STUB_CLASSES if c.module == module and c.qualname == qualname)


def inherited_members(cls: StubClass) -> dict[str, StubMember]:
    """The stub members of ``cls`` including those of its stub bases."""
    members: dict[str, StubMember] = {}
    for base in reversed(cls.node.bases):
        base_cls = resolve_stub_class(cls.module, base)
        if base_cls is not None:
            members.update(inherited_members(base_cls))
    members.update(cls.members)
    return members


def literal(node: ast.expr | None) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else ...
    except ValueError:
        return ...


# ---------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------

Param = tuple[str, Any, bool]  # (name, kind, has_default)


def stub_signature(fn: ast.FunctionDef, drop_first: bool) -> list[Param]:
    args = fn.args
    positional = [(a.arg, POSONLY) for a in args.posonlyargs] + [(a.arg, POS_OR_KW) for a in args.args]
    n_defaults = len(args.defaults)
    params = [
        (name, kind, i >= len(positional) - n_defaults) for i, (name, kind) in enumerate(positional)
    ]
    if drop_first:
        params = params[1:]
    if args.vararg:
        params.append((args.vararg.arg, VAR_POS, False))
    for a, default in zip(args.kwonlyargs, args.kw_defaults):
        params.append((a.arg, KWONLY, default is not None))
    if args.kwarg:
        params.append((args.kwarg.arg, VAR_KW, False))
    return params


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def pybind_signatures(name: str, doc: str | None, drop_first: bool) -> list[list[Param]]:
    """Parameter lists of every overload in a pybind11 docstring."""
    out = []
    for line in (doc or "").splitlines():
        m = re.match(rf"^(?:\d+\. )?{re.escape(name)}\((.*)\) -> ", line)
        if not m:
            continue
        params: list[Param] = []
        kind = POS_OR_KW
        for part in _split_top_level(m.group(1)):
            if part == "*":
                kind = KWONLY
                continue
            if part == "/":   # everything before it is positional-only
                params = [(n, POSONLY, d) for n, _, d in params]
                continue
            if part.startswith("**"):
                params.append((part[2:].split(":")[0].strip(), VAR_KW, False))
                continue
            if part.startswith("*"):
                params.append((part[1:].split(":")[0].strip(), VAR_POS, False))
                kind = KWONLY
                continue
            pname = part.split(":")[0].split("=")[0].strip()
            pkind = POSONLY if re.fullmatch(r"arg\d+", pname) else kind
            params.append((pname, pkind, " = " in part or "=" in part.split(":")[0]))
        out.append(params[1:] if drop_first else params)
    return out


def python_signature(fn: Any, drop_first: bool) -> list[Param]:
    params = [
        (p.name, p.kind, p.default is not inspect.Parameter.empty)
        for p in inspect.signature(fn).parameters.values()
    ]
    return params[1:] if drop_first else params


def runtime_signatures(owner: Any, name: str) -> tuple[list[list[Param]], Any]:
    """Runtime parameter lists of ``owner.name`` (a class member or module function)."""
    if isinstance(owner, type):
        raw = inspect.getattr_static(owner, name)
        drop_first = not isinstance(raw, staticmethod)
        fn = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
    else:
        fn = getattr(owner, name)
        drop_first = False
    if inspect.isfunction(fn) and inspect.isfunction(inspect.unwrap(fn)):
        return [python_signature(fn, drop_first)], fn
    # A native function, possibly behind functools.wraps (a plugin's reader method).
    return pybind_signatures(name, getattr(inspect.unwrap(fn), "__doc__", None), drop_first), fn


def params_compatible(stub: list[Param], rt: list[Param], narrowing: bool) -> str | None:
    """None if a stub parameter list describes a runtime one, else the reason."""
    if any(kind in (VAR_POS, VAR_KW) for _, kind, _ in rt):
        # A pass-through wrapper (*args, **kwargs): only its explicit parameters can be checked.
        explicit = {(n, k) for n, k, _ in rt if k not in (VAR_POS, VAR_KW)}
        missing = explicit - {(n, k) for n, k, _ in stub}
        return f"explicit runtime parameters {sorted(missing)} missing" if missing else None
    if len(stub) != len(rt):
        return f"{len(stub)} parameters in the stub, {len(rt)} at runtime"
    for i, ((sname, skind, sdef), (rname, rkind, rdef)) in enumerate(zip(stub, rt)):
        if rkind == POSONLY and re.fullmatch(r"arg\d+", rname):
            if skind != POSONLY:
                return f"{sname!r} must be positional-only (runtime {rname})"
        elif (sname, skind) != (rname, rkind) and not (
            # Python syntax cannot put a parameter without a default after defaulted ones
            # (pybind11 can: UdpStream's ttl); the stub makes it keyword-only.
            sname == rname and skind == KWONLY and rkind == POS_OR_KW and not sdef and not rdef
            and any(default for _, _, default in rt[:i])
        ):
            return f"stub {sname!r} ({skind.description}) vs runtime {rname!r} ({rkind.description})"
        if sdef != rdef and not (narrowing and rdef and not sdef):
            return f"default of {sname!r}: stub {sdef}, runtime {rdef}"
    return None


def check_signatures(owner: Any, name: str, fns: list[ast.FunctionDef], drop_first: bool) -> None:
    rt_sigs, rt_fn = runtime_signatures(owner, name)
    stub_sigs = [stub_signature(fn, drop_first) for fn in fns]
    where = f"{getattr(owner, '__qualname__', getattr(owner, '__name__', owner))}.{name}"
    if name == "__init__" and inspect.isfunction(rt_fn) and rt_fn.__qualname__.startswith("keyword_only_init"):
        # Config classes: __init__(**kwargs) sets attributes; the stub lists them keyword-only.
        assert len(stub_sigs) == 1, where
        settable = {
            n for n in dir(owner)
            if not n.startswith("_") and isinstance(inspect.getattr_static(owner, n), property)
            and inspect.getattr_static(owner, n).fset is not None
        }
        assert all(kind == KWONLY and has_default for _, kind, has_default in stub_sigs[0]), where
        assert {n for n, _, _ in stub_sigs[0]} == settable, where
        return
    assert rt_sigs, f"{where}: no runtime signature found"
    if len(rt_sigs) == 1 and len(stub_sigs) > 1:
        # Overloads in the stub that refine one runtime signature (e.g. by default type).
        for sig in stub_sigs:
            problem = params_compatible(sig, rt_sigs[0], narrowing=True)
            assert problem is None, f"{where}: {problem}"
        return
    assert len(stub_sigs) == len(rt_sigs), f"{where}: {len(stub_sigs)} stub overloads, {len(rt_sigs)} at runtime"
    for i, (sig, rt) in enumerate(zip(stub_sigs, rt_sigs)):
        problem = params_compatible(sig, rt, narrowing=False)
        assert problem is None, f"{where} (overload {i + 1}): {problem}"


# ---------------------------------------------------------------------------
# Module-level tests
# ---------------------------------------------------------------------------


def _declared_cases() -> list[tuple[str, str]]:
    return [(module, name) for module, stub in STUBS.items() for name in sorted(stub.declared)]


@pytest.mark.parametrize(("module", "name"), _declared_cases(), ids=lambda x: x)
def test_declared_name_exists(module: str, name: str) -> None:
    skip_if_not_installed(module, name)
    stub = STUBS[module]
    if module in NATIVE_ONLY and name in NATIVE_ONLY[module][1]:
        assert not hasattr(runtime_module(module), name), f"{module}.{name} now exists: drop it from NATIVE_ONLY"
    obj = runtime_attr(module, name)
    if name in stub.reexports:
        source, attr = stub.reexports[name]
        assert obj is getattr(runtime_module(source), attr)
    elif name in stub.classes:
        assert isinstance(obj, type)
    elif name in stub.functions:
        assert callable(obj) and not isinstance(obj, type)
    else:
        value = literal(stub.variables[name])
        if value is not ...:
            assert obj == value and type(obj) is type(value), f"{module}.{name} = {obj!r}, stub says {value!r}"


def _is_api_name(module: str, name: str, value: Any) -> bool:
    return not (
        name.startswith("_")
        or isinstance(value, types.ModuleType)  # submodules, and modules the code imports
        or isinstance(value, __future__._Feature)
        or name in FOREIGN.get(module, ())
    )


@pytest.mark.parametrize("module", sorted(STUBS))
def test_runtime_names_are_declared(module: str) -> None:
    rt = runtime_module(module)
    missing = {
        name for name in dir(rt) if _is_api_name(module, name, getattr(rt, name))
    } - STUBS[module].declared
    assert not missing, f"public runtime names of {module} missing from its stub"


@pytest.mark.parametrize(("native", "facade"), sorted(NATIVE_SUBMODULES.items()))
def test_native_submodule_classes_are_declared(native: str, facade: str) -> None:
    rt = runtime_module(native)
    wanted = {
        name for name in dir(rt)
        if isinstance(getattr(rt, name), (type, types.ModuleType))
        and not name.startswith("__") and name not in FOREIGN.get(native, ())
    }
    assert wanted - STUBS[facade].declared == set()


def test_native_module_alias() -> None:
    assert STUBS["spead2"].imports["_spead2"] == ("spead2_core", "_core")
    assert spead2._spead2 is spead2_core._core


@pytest.mark.parametrize(
    ("module", "name"),
    [(module, name) for module, stub in STUBS.items() for name in sorted(stub.functions)],
)
def test_function_signature(module: str, name: str) -> None:
    skip_if_not_installed(module, name)
    check_signatures(runtime_module(module), name, STUBS[module].functions[name], drop_first=False)


# ---------------------------------------------------------------------------
# Class tests
# ---------------------------------------------------------------------------

INVISIBLE_BASES = {object} | {base for base in type(spead2.Flavour()).__mro__ if base.__name__ == "pybind11_object"}


#: Methods that exist only when a feature was built in (spec §0.2): the stubs declare
#: them, the runtime may lack them.
OPTIONAL_FEATURE_NAMES = {"add_udp_pcap_file_reader"}


@pytest.mark.parametrize("cls", STUB_CLASSES, ids=lambda c: f"{c.module}.{c.qualname}")
def test_class_bases(cls: StubClass) -> None:
    skip_class_if_not_installed(cls)
    rt = runtime_class(cls)
    assert isinstance(rt, type)
    expected = tuple(resolve_runtime(cls.module, base) for base in cls.node.bases)
    if expected:
        bases = rt.__bases__
        # spec §3: class TcpStream(<wrapped>(TcpStreamAsyncio)) -- the stub cannot name the
        # wrapped class in between, which has the same name.
        if len(bases) == 1 and bases[0].__name__ == rt.__name__ and bases != expected:
            bases = bases[0].__bases__
        assert bases == expected
    else:
        assert set(rt.__bases__) <= INVISIBLE_BASES, rt.__bases__


def _static(rt: type, name: str) -> Any:
    try:
        return inspect.getattr_static(rt, name)
    except AttributeError:
        return None


def _annotated(rt: type, name: str) -> bool:
    return any(name in getattr(klass, "__annotations__", {}) for klass in rt.__mro__)


def _defines_constructor(rt: type) -> bool:
    init = vars(rt).get("__init__")
    return init is not None and type(init).__name__ != "wrapper_descriptor"


@pytest.mark.parametrize("cls", STUB_CLASSES, ids=lambda c: f"{c.module}.{c.qualname}")
def test_class_members(cls: StubClass) -> None:
    skip_class_if_not_installed(cls)
    rt = runtime_class(cls)
    where = f"{cls.module}.{cls.qualname}"
    if "__init__" not in cls.members and not issubclass(rt, (BaseException, enum.Enum)):
        assert not _defines_constructor(rt), f"{where} has a constructor that the stub does not declare"
    for name, member in cls.members.items():
        static = _static(rt, name)
        label = f"{where}.{name}"
        if static is None and name in OPTIONAL_FEATURE_NAMES:
            continue  # spec §0.2: absent when the feature was not built
        if static is None and not_installed(where, name):
            continue  # spec §0.2: absent when the plugin providing it is not installed

        if name == "__buffer__":
            if sys.version_info >= (3, 12):
                assert hasattr(rt, "__buffer__"), label
            continue  # before 3.12 the buffer protocol has no Python-visible attribute
        if member.kind == "hash_none":
            assert rt.__hash__ is None, label
            continue
        assert static is not None or (member.kind == "attr" and _annotated(rt, name)), f"{label} missing at runtime"
        if member.kind == "method":
            assert isinstance(static, (staticmethod, classmethod)) or callable(static), label
            assert not isinstance(static, property), label
            if member.static:
                assert isinstance(static, staticmethod), label
            if member.classmethod:
                assert isinstance(static, classmethod), label
            check_signatures(rt, name, member.node, drop_first=not member.static)
        elif member.kind == "property_ro":
            assert isinstance(static, property) and static.fset is None, f"{label} should be a read-only property"
        elif member.kind == "property_rw":
            assert isinstance(static, property) and static.fset is not None, f"{label} should be settable"
        elif member.kind == "attr":
            if static is not None:
                assert not callable(static) or isinstance(static, property), label
                if isinstance(static, property):
                    assert static.fset is not None, f"{label} is read-only at runtime; declare a @property"
        elif member.kind in ("final", "classvar"):
            if isinstance(static, property):
                assert static.fset is None, f"{label} is settable at runtime"
            if member.node is not None:
                expected = resolve_runtime(cls.module, member.node)
                assert getattr(rt, name) == expected, f"{label} = {getattr(rt, name)!r}, stub says {expected!r}"
        elif member.kind == "enum_member":
            assert rt[name].value == literal(member.node), label
        elif member.kind == "class":
            assert isinstance(getattr(rt, name), type), label
        else:  # pragma: no cover
            raise AssertionError(member.kind)


@pytest.mark.parametrize("cls", STUB_CLASSES, ids=lambda c: f"{c.module}.{c.qualname}")
def test_runtime_members_are_declared(cls: StubClass) -> None:
    skip_class_if_not_installed(cls)
    rt = runtime_class(cls)
    declared = set(inherited_members(cls))
    public = {name for name in dir(rt) if not name.startswith("_")}
    if issubclass(rt, BaseException):
        public -= set(dir(Exception))
    missing = public - declared - FOREIGN_READER_METHODS
    assert not missing, f"public members of {cls.module}.{cls.qualname} missing from the stub"


# ---------------------------------------------------------------------------
# Things the generic checks cannot see
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("plugin", sorted(OPTIONAL_PLUGIN_NAMES))
def test_optional_plugin_names(plugin: str) -> None:
    """Every listed name is declared by a stub, and exists exactly when its plugin is installed."""
    installed = plugin_installed(plugin)
    for owner, names in OPTIONAL_PLUGIN_NAMES[plugin].items():
        for name in sorted(names):
            label = f"{owner}.{name}"
            if owner in STUBS:
                assert name in STUBS[owner].declared, f"{label} is not declared by its stub"
                try:
                    runtime_attr(owner, name)
                    present = True
                except AttributeError:
                    present = False
            else:
                cls = next((c for c in STUB_CLASSES if f"{c.module}.{c.qualname}" == owner), None)
                assert cls is not None, f"{owner} is not a stub class"
                assert name in cls.members, f"{label} is not declared by its stub"
                present = _static(runtime_class(cls), name) is not None
            assert present == installed, f"{label}: present {present}, but {plugin!r} installed {installed}"


def test_exceptions_derive_directly_from_exception() -> None:
    for name in ("Stopped", "Empty", "Full"):
        assert getattr(spead2, name).__mro__[1] is Exception


def test_raw_item_buffer_protocol() -> None:
    thread_pool = spead2.ThreadPool()
    sender = spead2.send.BytesStream(thread_pool)
    ig = spead2.send.ItemGroup()
    ig.add_item(0x1000, "x", "", (8,), dtype="u1", value=list(range(1, 9)))  # too big for an immediate
    sender.send_heap(ig.get_heap())
    receiver = spead2.recv.Stream(thread_pool)
    receiver.add_buffer_reader(sender.getvalue())
    items = [item for heap in receiver for item in heap.get_items()]
    assert items and all(isinstance(item, spead2._spead2.recv.RawItem) for item in items)
    view = memoryview(items[-1])
    assert view.format == "B" and view.ndim == 1
    assert bytes(view) == bytes(range(1, 9))


def test_typed_markers_and_installation() -> None:
    assert (FACADE_PKG / "py.typed").is_file()
    assert (CORE_PKG / "py.typed").is_file()
    core_build = (ROOT / "packages" / "spead2-core" / "meson.build").read_text()
    assert "'spead2_core/_core.pyi'" in core_build
    facade_build = (ROOT / "meson.build").read_text()
    # The facade installs its whole source folder (stubs included) and excludes nothing.
    assert re.search(r"install_subdir\(\s*'src/spead2'", facade_build)
    assert "exclude_files" not in facade_build
