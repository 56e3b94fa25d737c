"""Shared helpers for the byte-exact interoperability vectors in ``tests/vectors``.

The vectors (``tests/vectors/README.md`` documents the format) were produced by
the reference implementation.  This module drives *our* ``spead2`` through its
public Python API only, and provides:

* loading of the cases and of their ``.bin`` streams;
* :func:`decode_value`, the README's decoder for tagged JSON values;
* :func:`send_case`: replays ``send.heaps[].ops`` through ``spead2.send``;
* :func:`split_packets` / :func:`apply_mutations`: rebuild derived streams;
* :func:`receive`: feeds bytes to ``spead2.recv.Stream`` and records, per heap,
  everything the vectors' ``expected`` section describes;
* strict comparison helpers (:func:`assert_strict_equal`,
  :func:`compare_receive`, ...) that raise ``AssertionError`` with a precise
  location (case / heap / item) on the first mismatch;
* a deterministic mutation fuzzer (:func:`fuzz_mutation`, :func:`fuzz_main`)
  used by ``test_malformed.py`` (run in a child process, see there).

Other test modules may import it (``from vector_support import ...``):
``conftest.py`` puts this directory on ``sys.path``.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import math
import pathlib
import random
import sys
import threading
from typing import Any, Iterable

import numpy as np
from numpy.lib import format as npformat

import spead2
import spead2.recv
import spead2.send

#: Directory holding the vectors (a copy of shared/vectors, so that a clone of
#: the project tests itself).
VECTOR_DIR = pathlib.Path(__file__).resolve().parents[1] / "vectors"

#: Cases whose ``known_upstream_bug`` we handle by behaving correctly instead of
#: matching the reference.  Every other flagged case makes the tests fail until
#: someone decides what to do with it.
FIXED_UPSTREAM_BUGS = frozenset({"padding_upstream_bug", "zero_size_fixed_shape"})

#: Default time limit (seconds) for receiving one vector.
RECEIVE_TIMEOUT = 60.0


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def load_cases() -> tuple:
    """Return every case of ``tests/vectors`` (parsed JSON), sorted by name.

    ``index.json`` is not a case and is skipped.  The result is cached; callers
    must not modify the dictionaries (use :func:`copy.deepcopy`).
    """
    cases = []
    for path in sorted(VECTOR_DIR.glob("*.json")):
        if path.name == "index.json":
            continue
        cases.append(json.loads(path.read_text()))
    return tuple(cases)


def case_by_name(name: str) -> dict:
    """Return the case called *name* (``KeyError`` if there is none)."""
    for case in load_cases():
        if case["name"] == name:
            return case
    raise KeyError(name)


def case_id(case: dict) -> str:
    """pytest id for a parametrized case: its name."""
    return case["name"]


@functools.lru_cache(maxsize=None)
def _read_bin(filename: str) -> bytes:
    """Read (once) a file of the vector directory."""
    return (VECTOR_DIR / filename).read_bytes()


def bin_bytes(case: dict) -> bytes:
    """Return the case's ``.bin`` stream, after checking its length and sha256."""
    data = _read_bin(case["bin"]["file"])
    assert len(data) == case["bin"]["length"], f"{case['name']}: .bin has the wrong length"
    assert hashlib.sha256(data).hexdigest() == case["bin"]["sha256"], (
        f"{case['name']}: .bin does not match its recorded sha256")
    return data


# --------------------------------------------------------------------------
# Values (README "Value encoding")
# --------------------------------------------------------------------------

def load_dtype(d):
    """Turn a JSON dtype description (``dtype_to_descr`` form, or ``"O"``) into a dtype."""
    return np.dtype(object) if d == "O" else npformat.descr_to_dtype(d)


def decode_value(e):
    """Decode a tagged JSON value (README snippet, unchanged in behaviour)."""
    if e is None:
        return None
    t = e["t"]
    if t == "ndarray":
        dtype = load_dtype(e["dtype"])
        if "items" in e:
            flat = np.empty(len(e["items"]), dtype=dtype)
            for i, x in enumerate(e["items"]):
                flat[i] = decode_value(x)
            arr = flat.reshape(e["shape"])
        else:
            arr = np.frombuffer(base64.b64decode(e["b64"]), dtype=dtype).reshape(e["shape"]).copy()
        return np.asfortranarray(arr) if e["fortran"] else arr
    if t == "npscalar":
        dtype = load_dtype(e["dtype"])
        if "items" in e:
            return np.array(tuple(decode_value(x) for x in e["items"]), dtype=dtype)[()]
        return np.frombuffer(base64.b64decode(e["b64"]), dtype=dtype)[0]
    if t in ("int", "bool", "str"):
        return e["v"]
    if t == "float":
        return float.fromhex(e["hex"])
    if t == "bytes":
        return base64.b64decode(e["b64"])
    if t == "tuple":
        return tuple(decode_value(x) for x in e["items"])
    if t == "list":
        return [decode_value(x) for x in e["items"]]
    raise ValueError(f"unknown value tag {t!r}")


def encode_ndarray(arr: np.ndarray) -> dict:
    """Encode a plain (non-object) array in the README's tagged form.

    Used to build expectations for cases where we deliberately differ from the
    reference (see :data:`FIXED_UPSTREAM_BUGS`).
    """
    assert not arr.dtype.hasobject
    return {
        "t": "ndarray",
        "shape": list(arr.shape),
        "fortran": bool(arr.ndim > 1 and arr.flags.f_contiguous and not arr.flags.c_contiguous),
        "dtype": npformat.dtype_to_descr(arr.dtype),
        "b64": base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii"),
    }


# --------------------------------------------------------------------------
# Strict value comparison
# --------------------------------------------------------------------------

def _dtype_descr(dtype: np.dtype):
    """numpy's ``dtype_to_descr`` form (shows byte order and field layout in messages)."""
    return npformat.dtype_to_descr(dtype)


def assert_dtype_equal(got: np.dtype, exp: np.dtype, where: str) -> None:
    """Assert two dtypes are identical, including byte order and field names/layout."""
    assert got == exp and _dtype_descr(got) == _dtype_descr(exp), (
        f"{where}: dtype {got!r} ({_dtype_descr(got)}) != expected {exp!r} ({_dtype_descr(exp)})")


def _assert_void_equal(got, exp, where: str) -> None:
    """Compare two structured scalars (``numpy.void``) field by field."""
    for name in exp.dtype.names:
        field_dtype = exp.dtype.fields[name][0]
        g, e = got[name], exp[name]
        if field_dtype.hasobject:
            assert_strict_equal(g, e, f"{where}[{name!r}]")
        else:
            gb, eb = np.asarray(g).tobytes(), np.asarray(e).tobytes()
            assert gb == eb, f"{where}[{name!r}]: {g!r} != expected {e!r}"


def assert_strict_equal(got: Any, exp: Any, where: str = "value") -> None:
    """Assert *got* equals the decoded expectation *exp*, strictly.

    Checks the exact Python type; for numpy values also the dtype (byte order,
    field names), shape, C/Fortran contiguity and the raw bytes; object arrays
    and structured values with object fields are compared element by element
    (again with exact types).  Floats are compared bit for bit.
    """
    if exp is None:
        assert got is None, f"{where}: got {got!r}, expected None"
        return
    assert type(got) is type(exp), (
        f"{where}: type {type(got).__module__}.{type(got).__qualname__} != expected "
        f"{type(exp).__module__}.{type(exp).__qualname__} (got {got!r}, expected {exp!r})")
    if isinstance(exp, np.ndarray):
        assert_dtype_equal(got.dtype, exp.dtype, where)
        assert got.shape == exp.shape, f"{where}: shape {got.shape} != expected {exp.shape}"
        if exp.ndim > 1:
            exp_fortran = exp.flags.f_contiguous and not exp.flags.c_contiguous
            if exp_fortran:
                assert got.flags.f_contiguous, f"{where}: expected a Fortran-contiguous array"
            else:
                assert got.flags.c_contiguous, f"{where}: expected a C-contiguous array"
        if exp.dtype.hasobject:
            gflat, eflat = got.ravel(order="C"), exp.ravel(order="C")
            for i, (g, e) in enumerate(zip(gflat, eflat)):
                assert_strict_equal(g, e, f"{where}.flat[{i}]")
        else:
            gb = np.ascontiguousarray(got).tobytes()
            eb = np.ascontiguousarray(exp).tobytes()
            assert gb == eb, f"{where}: contents {got!r} != expected {exp!r}"
        return
    if isinstance(exp, np.generic):
        assert_dtype_equal(got.dtype, exp.dtype, where)
        if isinstance(exp, np.void) and exp.dtype.names is not None:
            _assert_void_equal(got, exp, where)
        else:
            assert got.tobytes() == exp.tobytes(), f"{where}: {got!r} != expected {exp!r}"
        return
    if isinstance(exp, float):
        assert got.hex() == exp.hex() or (math.isnan(got) and math.isnan(exp)), (
            f"{where}: {got!r} != expected {exp!r}")
        return
    if isinstance(exp, (list, tuple)):
        assert len(got) == len(exp), f"{where}: length {len(got)} != expected {len(exp)}"
        for i, (g, e) in enumerate(zip(got, exp)):
            assert_strict_equal(g, e, f"{where}[{i}]")
        return
    assert got == exp, f"{where}: {got!r} != expected {exp!r}"


# --------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------

def make_flavour(spec: dict) -> spead2.Flavour:
    """Build a ``spead2.Flavour`` from a case's ``flavour`` dictionary."""
    return spead2.Flavour(spec["version"], spec["item_pointer_bits"],
                          spec["heap_address_bits"], spec["bug_compat"])


def _format_arg(fmt):
    """JSON format (list of ``[code, bits]``) -> ``format=`` argument (list of tuples) or None."""
    return None if fmt is None else [(str(code), int(bits)) for code, bits in fmt]


def _dtype_arg(d):
    """JSON dtype or null -> ``dtype=`` argument."""
    return None if d is None else load_dtype(d)


def make_item(spec: dict) -> spead2.Item:
    """Create the ``spead2.Item`` described by a ``send.items`` entry."""
    return spead2.Item(spec["id"], spec["name"], spec["description"], tuple(spec["shape"]),
                       dtype=_dtype_arg(spec["dtype"]), order=spec["order"],
                       format=_format_arg(spec["format"]))


def build_heap(case: dict, heap_spec: dict, items: dict) -> spead2.send.Heap:
    """Create the ``send.Heap`` for one ``send.heaps`` entry by replaying its ops in order."""
    heap = spead2.send.Heap(make_flavour(case["flavour"]))
    for op in heap_spec["ops"]:
        kind = op["op"]
        if kind == "descriptor":
            heap.add_descriptor(items[op["item"]])
        elif kind == "item":
            item = items[op["item"]]
            item.value = decode_value(op["value"])
            heap.add_item(item)
        elif kind == "start":
            heap.add_start()
        elif kind == "end":
            heap.add_end()
        else:
            raise ValueError(f"unknown op {kind!r}")
    heap.repeat_pointers = heap_spec["repeat_pointers"]
    return heap


def send_case(case: dict) -> bytes:
    """Replay ``case["send"]`` through our sender and return ``BytesStream.getvalue()``.

    One ``spead2.Item`` per ``send.items`` entry (shared by all heaps, as in the
    generator), heaps built and sent in order with ``cnt=-1`` for automatic cnts.
    """
    send = case["send"]
    items = {spec["key"]: make_item(spec) for spec in send["items"]}
    config = spead2.send.StreamConfig(**send["stream_config"])
    stream = spead2.send.BytesStream(spead2.ThreadPool(), config)
    for heap_spec in send["heaps"]:
        heap = build_heap(case, heap_spec, items)
        cnt = -1 if heap_spec["auto_cnt"] else heap_spec["cnt"]
        stream.send_heap(heap, cnt)
    return stream.getvalue()


def describe_mismatch(got: bytes, exp: bytes, case: dict | None = None) -> str:
    """Human-readable description of the first difference between two byte streams.

    When *case* is given, the difference is located in the reference's heaps
    (``send.heaps[].byte_range``) and packets (``packets[]``).
    """
    lines = [f"length {len(got)} vs expected {len(exp)}"]
    n = min(len(got), len(exp))
    first = next((i for i in range(n) if got[i] != exp[i]), n)
    lines.append(f"first difference at byte {first}")
    if case is not None:
        for hi, h in enumerate(case["send"]["heaps"]):
            lo, hi_ = h["byte_range"]
            if lo <= first < hi_:
                lines.append(f"inside reference heap #{hi} (cnt {h['cnt']}, bytes {lo}..{hi_})")
        for pi, p in enumerate(case.get("packets", [])):
            if p.get("length") is not None and p["offset"] <= first < p["offset"] + p["length"]:
                rel = first - p["offset"]
                where = "header" if rel < 8 else (
                    f"item pointer #{(rel - 8) // 8}" if rel < 8 + 8 * p["n_items"] else
                    f"payload byte {rel - 8 - 8 * p['n_items']}")
                lines.append(f"inside reference packet #{pi} at offset {rel} ({where})")
    lo = max(0, first - 16)
    lines.append(f"got      [{lo}:{first + 16}] {got[lo:first + 16].hex()}")
    lines.append(f"expected [{lo}:{first + 16}] {exp[lo:first + 16].hex()}")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Packets and mutations (our own minimal parser; never used on untrusted input
# except in the fuzzer, where it only needs to be best effort)
# --------------------------------------------------------------------------

def packet_info(pkt: bytes) -> dict:
    """Decode the header and item pointers of a well-formed packet.

    Returns ``hab`` (heap address bits), ``n_items``, ``pointers`` (list of
    ``(immediate, id, value)``) and ``payload_length`` (``None`` if absent).
    """
    assert len(pkt) >= 8 and pkt[0] == 0x53 and pkt[1] == 0x04, "not a SPEAD packet"
    hab = pkt[3] * 8
    n_items = int.from_bytes(pkt[6:8], "big")
    pointers = []
    payload_length = None
    for i in range(n_items):
        word = int.from_bytes(pkt[8 + 8 * i: 16 + 8 * i], "big")
        imm = bool(word >> 63)
        item_id = (word >> hab) & ((1 << (63 - hab)) - 1)
        value = word & ((1 << hab) - 1)
        pointers.append((imm, item_id, value))
        if imm and item_id == 4:
            payload_length = value
    return {"hab": hab, "n_items": n_items, "pointers": pointers, "payload_length": payload_length}


def split_packets(data: bytes) -> list:
    """Split a stream of concatenated well-formed packets (e.g. sender output) into packets."""
    packets = []
    pos = 0
    while pos < len(data):
        info = packet_info(data[pos:pos + 8 + 8 * int.from_bytes(data[pos + 6:pos + 8], "big")])
        assert info["payload_length"] is not None, f"packet at {pos} has no PAYLOAD_LENGTH"
        size = 8 + 8 * info["n_items"] + info["payload_length"]
        assert pos + size <= len(data), f"packet at {pos} overruns the data"
        packets.append(data[pos:pos + size])
        pos += size
    return packets


def _remove_pointer(pkt: bytes, item_id: int) -> bytes:
    """Mutation ``remove_pointer``: drop every pointer with *item_id*, fix the count."""
    info = packet_info(pkt)
    n = info["n_items"]
    kept = [pkt[8 + 8 * i:16 + 8 * i] for i, p in enumerate(info["pointers"]) if p[1] != item_id]
    header = pkt[:6] + len(kept).to_bytes(2, "big")
    return header + b"".join(kept) + pkt[8 + 8 * n:]


def _reverse_pointers(pkt: bytes) -> bytes:
    """Mutation ``reverse_pointers``: reverse the order of the packet's item pointers."""
    n = int.from_bytes(pkt[6:8], "big")
    ptrs = [pkt[8 + 8 * i:16 + 8 * i] for i in range(n)]
    return pkt[:8] + b"".join(reversed(ptrs)) + pkt[8 + 8 * n:]


def apply_mutations(data: bytes, mutations: list) -> bytes:
    """Apply a case's ``mutations`` (README table) to unmodified sender output."""
    packets = split_packets(data)
    prefix = suffix = b""
    for m in mutations:
        op = m["op"]
        if op == "select_packets":
            packets = [packets[i] for i in m["order"]]
        elif op == "patch":
            pkt = bytearray(packets[m["packet"]])
            patch = bytes.fromhex(m["hex"])
            pkt[m["offset"]:m["offset"] + len(patch)] = patch
            packets[m["packet"]] = bytes(pkt)
        elif op == "truncate_packet":
            packets[m["packet"]] = packets[m["packet"]][:m["length"]]
        elif op == "remove_pointer":
            targets = range(len(packets)) if m["packet"] is None else [m["packet"]]
            for i in targets:
                packets[i] = _remove_pointer(packets[i], m["item_id"])
        elif op == "reverse_pointers":
            targets = range(len(packets)) if m["packet"] is None else [m["packet"]]
            for i in targets:
                packets[i] = _reverse_pointers(packets[i])
        elif op == "append":
            suffix = suffix + bytes.fromhex(m["hex"])
        elif op == "prepend":
            prefix = bytes.fromhex(m["hex"]) + prefix
        else:
            raise ValueError(f"unknown mutation {op!r}")
    return prefix + b"".join(packets) + suffix


# --------------------------------------------------------------------------
# Receiving
# --------------------------------------------------------------------------

def make_item_group(initial_items: Iterable[dict]) -> spead2.ItemGroup:
    """An ``ItemGroup`` pre-loaded (via ``add_item``, no values) with ``recv.initial_items``."""
    ig = spead2.ItemGroup()
    for spec in initial_items:
        ig.add_item(spec["id"], spec["name"], spec["description"], tuple(spec["shape"]),
                    dtype=_dtype_arg(spec["dtype"]), order=spec["order"],
                    format=_format_arg(spec["format"]))
    return ig


def snapshot_raw_item(raw) -> dict:
    """Record a ``recv.RawItem`` in the form of ``expected.heaps[].raw_items``."""
    snap = {"id": raw.id, "is_immediate": raw.is_immediate}
    if raw.is_immediate:
        snap["immediate_value"] = raw.immediate_value
    snap["hex"] = bytes(raw).hex()
    return snap


def snapshot_descriptor(raw) -> dict:
    """Record a ``RawDescriptor`` (raw attribute values, bytes kept as bytes)."""
    return {"id": raw.id, "name": raw.name, "description": raw.description,
            "shape": list(raw.shape), "format": list(raw.format),
            "numpy_header": raw.numpy_header}


def snapshot_heap(heap, item_group: spead2.ItemGroup, new_order: str) -> dict:
    """Record one heap yielded by a stream, and apply it to *item_group*.

    ``update`` holds the outcome of ``item_group.update(heap, new_order)``
    (complete heaps only); ``updated`` values are the live Python objects
    captured right after the update.
    """
    fl = heap.flavour
    snap = {
        "type": type(heap).__name__,
        "type_obj": type(heap),
        "cnt": heap.cnt,
        "flavour": {"version": fl.version, "item_pointer_bits": fl.item_pointer_bits,
                    "heap_address_bits": fl.heap_address_bits, "bug_compat": fl.bug_compat},
        "is_start_of_stream": heap.is_start_of_stream(),
        "is_end_of_stream": heap.is_end_of_stream(),
        "raw_items": [snapshot_raw_item(r) for r in heap.get_items()],
    }
    if isinstance(heap, spead2.recv.IncompleteHeap):
        snap["heap_length"] = heap.heap_length
        snap["received_length"] = heap.received_length
        snap["payload_ranges"] = [list(r) for r in heap.payload_ranges]
        return snap
    snap["descriptors"] = [snapshot_descriptor(d) for d in heap.get_descriptors()]
    try:
        updated = item_group.update(heap, new_order=new_order)
    except Exception as exc:  # compared with the reference's outcome
        snap["update"] = {"ok": False, "error": type(exc).__name__, "message": str(exc),
                          "exception": exc}
    else:
        snap["update"] = {"ok": True, "updated": [
            {"name": name, "id": item.id, "value": item.value} for name, item in updated.items()]}
    return snap


class ReceiveResult:
    """What :func:`receive` observed: heap snapshots, the final ItemGroup and stats."""

    def __init__(self, heaps: list, item_group: spead2.ItemGroup, stats):
        self.heaps = heaps
        self.item_group = item_group
        self.stats = stats


def receive(data: bytes, recv: dict, *, timeout: float = RECEIVE_TIMEOUT) -> ReceiveResult:
    """Feed *data* to a ``spead2.recv.Stream`` configured from a case's ``recv`` section.

    Every yielded heap is recorded with :func:`snapshot_heap` (which applies it
    to an ItemGroup pre-loaded with ``recv.initial_items``).  The stream is
    stopped afterwards so that ``stream.stats`` is final.  A watchdog stops the
    stream (and fails) if the stream is not drained within *timeout* seconds,
    so a hang in the library becomes a test failure instead of a stuck run.
    """
    thread_pool = spead2.ThreadPool()
    config = spead2.recv.StreamConfig(**recv["stream_config"])
    ring_config = spead2.recv.RingStreamConfig(**recv["ring_config"])
    stream = spead2.recv.Stream(thread_pool, config, ring_config)
    item_group = make_item_group(recv["initial_items"])
    expired = threading.Event()

    def expire():
        expired.set()
        stream.stop()

    watchdog = threading.Timer(timeout, expire)
    watchdog.daemon = True
    heaps = []
    watchdog.start()
    try:
        stream.add_buffer_reader(data)
        for heap in stream:
            heaps.append(snapshot_heap(heap, item_group, recv["new_order"]))
    finally:
        watchdog.cancel()
        stream.stop()
    assert not expired.is_set(), (
        f"the stream was not drained within {timeout} s (got {len(heaps)} heaps so far)")
    return ReceiveResult(heaps, item_group, stream.stats)


# --------------------------------------------------------------------------
# Receive comparisons
# --------------------------------------------------------------------------

def compare_raw_items(got: list, exp: list, where: str) -> None:
    """Compare ``get_items()`` snapshots with ``expected.heaps[].raw_items``, in order."""
    got_ids = [g["id"] for g in got]
    exp_ids = [e["id"] for e in exp]
    assert got_ids == exp_ids, f"{where}: raw item ids (in order) {got_ids} != expected {exp_ids}"
    for g, e in zip(got, exp):
        w = f"{where}: raw item {e['id']:#x}"
        assert g["is_immediate"] is e["is_immediate"], f"{w}: is_immediate {g['is_immediate']!r}"
        if e["is_immediate"]:
            assert g["immediate_value"] == e["immediate_value"], (
                f"{w}: immediate_value {g['immediate_value']} != expected {e['immediate_value']}")
        assert g["hex"] == e["hex"], f"{w}: bytes {g['hex']} != expected {e['hex']}"


def compare_descriptors(got: list, exp: list, where: str) -> None:
    """Compare ``get_descriptors()`` snapshots with ``expected.heaps[].descriptors``, in order."""
    assert [g["id"] for g in got] == [e["id"] for e in exp], (
        f"{where}: descriptor ids {[g['id'] for g in got]} != expected {[e['id'] for e in exp]}")
    for g, e in zip(got, exp):
        w = f"{where}: descriptor {e['id']:#x}"
        assert g["name"] == e["name"].encode("ascii"), f"{w}: name {g['name']!r}"
        assert g["description"] == e["description"].encode("ascii"), (
            f"{w}: description {g['description']!r}")
        assert g["shape"] == e["shape"], f"{w}: shape {g['shape']} != expected {e['shape']}"
        got_format = [(type(c), c, type(b), b) for c, b in g["format"]]
        exp_format = [(str, c, int, b) for c, b in e["format"]]
        assert got_format == exp_format, f"{w}: format {g['format']} != expected {e['format']}"
        assert g["numpy_header"] == e["numpy_header"].encode("ascii"), (
            f"{w}: numpy_header {g['numpy_header']!r} != expected {e['numpy_header']!r}")


def compare_update(got: dict, exp: dict, where: str) -> None:
    """Compare the outcome of ``ItemGroup.update`` (ok / error type / updated items in order)."""
    if not exp["ok"]:
        assert not got["ok"], (
            f"{where}: update succeeded but the reference raised {exp['error']} ({exp['message']})")
        assert got["error"] == exp["error"], (
            f"{where}: update raised {got['error']} ({got['message']}), expected {exp['error']}")
        return
    if not got["ok"]:
        raise AssertionError(
            f"{where}: update raised {got['error']}: {got['message']}") from got["exception"]
    got_names = [(u["name"], u["id"]) for u in got["updated"]]
    exp_names = [(u["name"], u["id"]) for u in exp["updated"]]
    assert got_names == exp_names, f"{where}: updated items {got_names} != expected {exp_names}"
    for g, e in zip(got["updated"], exp["updated"]):
        assert_strict_equal(g["value"], decode_value(e["value"]), f"{where}: updated {e['name']!r}")


def compare_heap(got: dict, exp: dict, where: str) -> None:
    """Compare one heap snapshot with one ``expected.heaps`` entry."""
    expected_type = {"Heap": spead2.recv.Heap, "IncompleteHeap": spead2.recv.IncompleteHeap}[exp["type"]]
    assert got["type_obj"] is expected_type, f"{where}: type {got['type']} != expected {exp['type']}"
    assert got["cnt"] == exp["cnt"], f"{where}: cnt {got['cnt']} != expected {exp['cnt']}"
    assert got["flavour"] == exp["flavour"], f"{where}: flavour {got['flavour']} != {exp['flavour']}"
    for key in ("is_start_of_stream", "is_end_of_stream"):
        assert got[key] is exp[key], f"{where}: {key}() is {got[key]!r}, expected {exp[key]!r}"
    compare_raw_items(got["raw_items"], exp["raw_items"], where)
    if exp["type"] == "IncompleteHeap":
        for key in ("heap_length", "received_length", "payload_ranges"):
            assert got[key] == exp[key], f"{where}: {key} {got[key]} != expected {exp[key]}"
        return
    compare_descriptors(got["descriptors"], exp["descriptors"], where)
    compare_update(got["update"], exp["update"], where)


def compare_item_group(item_group: spead2.ItemGroup, exp: list, where: str = "item_group") -> None:
    """Compare the final ItemGroup (sorted by id) with ``expected.item_group``.

    Checks id, name, description, shape, dtype (exactly), order, format, value
    (strictly) and version (python-api.md §1.12: +2 per received update).
    """
    items = sorted(item_group.values(), key=lambda item: item.id)
    assert [it.id for it in items] == [e["id"] for e in exp], (
        f"{where}: ids {[it.id for it in items]} != expected {[e['id'] for e in exp]}")
    for it, e in zip(items, exp):
        w = f"{where}[{e['id']:#x} {e['name']!r}]"
        assert it.name == e["name"], f"{w}: name {it.name!r}"
        assert it.description == e["description"], f"{w}: description {it.description!r}"
        assert tuple(it.shape) == tuple(e["shape"]), f"{w}: shape {it.shape} != {e['shape']}"
        if e["dtype"] is None:
            assert it.dtype is None, f"{w}: dtype {it.dtype!r}, expected None"
        else:
            assert it.dtype is not None, f"{w}: dtype None, expected {e['dtype']}"
            assert_dtype_equal(it.dtype, load_dtype(e["dtype"]), w)
        assert it.order == e["order"], f"{w}: order {it.order!r} != {e['order']!r}"
        got_format = None if it.format is None else [tuple(f) for f in it.format]
        exp_format = None if e["format"] is None else [tuple(f) for f in e["format"]]
        assert got_format == exp_format, f"{w}: format {got_format} != {exp_format}"
        assert_strict_equal(it.value, decode_value(e["value"]), f"{w}.value")
        assert it.version == e["version"], f"{w}: version {it.version} != expected {e['version']}"


STAT_KEYS = ("packets", "heaps", "single_packet_heaps",
             "incomplete_heaps_evicted", "incomplete_heaps_flushed")


def compare_stats(stats, exp: dict, where: str = "stats") -> None:
    """Compare ``stream.stats`` with ``expected.stats`` for the keys the vectors give."""
    got = {key: stats[key] for key in exp}
    assert got == exp, f"{where}: {got} != expected {exp}"


def compare_receive(result: ReceiveResult, expected: dict, name: str) -> None:
    """Strictly compare everything :func:`receive` saw with a case's ``expected``."""
    got_seq = [(h["type"], h["cnt"]) for h in result.heaps]
    exp_seq = [(h["type"], h["cnt"]) for h in expected["heaps"]]
    assert got_seq == exp_seq, f"{name}: heaps (type, cnt) {got_seq} != expected {exp_seq}"
    for i, (g, e) in enumerate(zip(result.heaps, expected["heaps"])):
        compare_heap(g, e, f"{name}: heap #{i} (cnt {e['cnt']})")
    compare_item_group(result.item_group, expected["item_group"], f"{name}: item_group")
    compare_stats(result.stats, expected["stats"], f"{name}: stats")


def expected_for(case: dict) -> dict:
    """The receive expectation for a case's ``.bin``, with our deliberate bug fixes applied.

    ``zero_size_fixed_shape``: the reference's ``ItemGroup.update`` raises
    ``ValueError`` on a ``(0,)``-shaped ``<u4`` item sent as an immediate (it
    slices the immediate with ``[-0:]``).  We decode it as an empty array, so
    the second heap's update succeeds and updates ``ok`` then ``z``
    (addressed before immediate, protocol.md §10), and ``z`` ends with an
    empty native-order ``uint32`` array and version 3.
    """
    exp = copy.deepcopy(case["expected"])
    if case["name"] == "zero_size_fixed_shape":
        heap = exp["heaps"][1]
        assert heap["update"]["ok"] is False
        ok_item = next(e for e in exp["item_group"] if e["name"] == "ok")
        z_item = next(e for e in exp["item_group"] if e["name"] == "z")
        empty = encode_ndarray(np.zeros((0,), dtype=np.dtype("<u4").newbyteorder("=")))
        heap["update"] = {"ok": True, "updated": [
            {"name": "ok", "id": ok_item["id"], "value": ok_item["value"]},
            {"name": "z", "id": z_item["id"], "value": empty},
        ]}
        z_item["value"] = empty
        z_item["version"] = 3
    return exp


# --------------------------------------------------------------------------
# Deterministic mutation fuzzer
# --------------------------------------------------------------------------

FUZZ_KINDS = ("flip", "flip_header", "flip_payload", "pointer_value", "truncate", "splice",
              "packets", "random_packets", "random_bytes")

_HABS = (8, 16, 24, 32, 40, 48, 56)


def _best_effort_packets(data: bytes) -> list:
    """Split *data* at packet boundaries as far as it parses; the rest is one chunk."""
    try:
        return split_packets(data)
    except (AssertionError, IndexError, ValueError):
        return [data]


def _payload_regions(data: bytes) -> list:
    """``(start, end)`` byte ranges of the packet payloads in *data* (best effort)."""
    regions = []
    pos = 0
    for pkt in _best_effort_packets(data):
        n = int.from_bytes(pkt[6:8], "big") if len(pkt) >= 8 else 0
        start = pos + 8 + 8 * n
        if start < pos + len(pkt):
            regions.append((start, pos + len(pkt)))
        pos += len(pkt)
    return regions


def _pointer(imm: int, item_id: int, value: int, hab: int) -> bytes:
    """Encode one item pointer (fields are masked to their widths)."""
    word = ((imm & 1) << 63) | ((item_id & ((1 << (63 - hab)) - 1)) << hab) | (value & ((1 << hab) - 1))
    return word.to_bytes(8, "big")


def random_packet(rng: random.Random) -> bytes:
    """A random packet with the 0x53 0x04 magic: usually valid widths and plausible
    special items (so that it reaches heap assembly), sometimes not."""
    hab = 40 if rng.random() < 0.6 else rng.choice(_HABS)
    id_bytes, addr_bytes = (64 - hab) // 8, hab // 8
    if rng.random() < 0.05:
        id_bytes, addr_bytes = rng.randrange(256), rng.randrange(256)
    payload_length = rng.choice([0, 1, 8, rng.randrange(0, 64), rng.randrange(0, 300)])
    heap_cnt = rng.choice([0, 1, 2, 3, rng.randrange(1 << hab)])
    heap_length = rng.choice([None, payload_length, payload_length + rng.randrange(1, 200),
                              rng.randrange(1 << hab)])
    offset = 0 if rng.random() < 0.5 else rng.randrange(0, (heap_length or 400) + 1)
    ptrs = [_pointer(1, 1, heap_cnt, hab), _pointer(1, 3, offset, hab), _pointer(1, 4, payload_length, hab)]
    if heap_length is not None:
        ptrs.append(_pointer(1, 2, heap_length, hab))
    for _ in range(rng.randrange(0, 8)):
        item_id = rng.choice([0, 5, 6, 0x1000, 0x1001, 0x1002, 0x1003, rng.randrange(1 << min(20, 63 - hab))])
        imm = rng.randrange(2)
        value = rng.choice([0, 1, 2, 3, rng.randrange(0, 400), rng.randrange(1 << hab)])
        ptrs.append(_pointer(imm, item_id, value, hab))
    if rng.random() < 0.1:
        ptrs = [p for p in ptrs if rng.random() < 0.8]
    rng.shuffle(ptrs)
    n_field = len(ptrs) if rng.random() < 0.95 else rng.randrange(1 << 16)
    header = bytes([0x53, 0x04, id_bytes & 0xFF, addr_bytes & 0xFF, 0, 0]) + n_field.to_bytes(2, "big")
    if rng.random() < 0.3 and payload_length >= 40:
        # A descriptor-like nested packet at the start of the payload.
        inner = random_packet(rng)[:payload_length]
        payload = inner + rng.randbytes(payload_length - len(inner))
    else:
        payload = rng.randbytes(payload_length)
    return header + b"".join(ptrs) + payload


def _random_recv(rng: random.Random, case: dict) -> dict:
    """The case's receiver configuration, or (half of the time) a random valid one."""
    if rng.random() < 0.5:
        return case["recv"]
    stream_config = {
        "max_heaps": rng.randrange(1, 5),
        "substreams": rng.randrange(1, 4),
        "bug_compat": rng.choice([0, 0, case["flavour"]["bug_compat"], 7]),
        "allow_unsized_heaps": rng.random() < 0.7,
        "allow_out_of_order": rng.random() < 0.5,
        "stop_on_stop_item": rng.random() < 0.7,
    }
    ring_config = {
        "contiguous_only": rng.random() < 0.5,
        "incomplete_keep_payload_ranges": rng.random() < 0.5,
    }
    return {"stream_config": stream_config, "ring_config": ring_config,
            "initial_items": case["recv"]["initial_items"],
            "new_order": rng.choice(["=", "=", "|", "<", ">"])}


def fuzz_mutation(index: int) -> dict:
    """Deterministically derive mutation number *index* from the vectors.

    Returns ``{"index", "kind", "case", "data", "recv"}``; kinds cycle through
    :data:`FUZZ_KINDS` so that every kind is equally represented.
    """
    rng = random.Random(f"spead2-vector-fuzz/{index}")
    cases = load_cases()
    case = rng.choice(cases)
    data = bytearray(bin_bytes(case))
    kind = FUZZ_KINDS[index % len(FUZZ_KINDS)]
    if kind == "flip" and data:
        for _ in range(rng.randrange(1, 9)):
            data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
    elif kind == "flip_header":
        starts, pos = [], 0
        for pkt in _best_effort_packets(bytes(data)):
            starts.append(pos)
            pos += len(pkt)
        for _ in range(rng.randrange(1, 4)):
            if not data:
                break
            base = rng.choice(starts)
            i = min(len(data) - 1, base + rng.randrange(0, 8 + 8 * 4))
            data[i] ^= rng.randrange(1, 256)
    elif kind == "flip_payload":
        regions = _payload_regions(bytes(data))
        for _ in range(rng.randrange(1, 6)):
            if not regions:
                break
            lo, hi = rng.choice(regions)
            data[rng.randrange(lo, hi)] ^= rng.randrange(1, 256)
    elif kind == "pointer_value":
        packets = [bytearray(p) for p in _best_effort_packets(bytes(data))]
        for _ in range(rng.randrange(1, 4)):
            pkt = rng.choice(packets)
            n = int.from_bytes(pkt[6:8], "big") if len(pkt) >= 8 else 0
            n = min(n, (len(pkt) - 8) // 8)
            if n <= 0:
                continue
            hab = pkt[3] * 8 if 0 < pkt[3] < 8 else 40
            i = rng.randrange(n)
            word = int.from_bytes(pkt[8 + 8 * i:16 + 8 * i], "big")
            value = word & ((1 << hab) - 1)
            choice = rng.randrange(4)
            if choice == 0:    # interesting value, e.g. huge HEAP_LENGTH / offset
                value = rng.choice([0, 1, 7, 8, value - 1, value + 1, value * 2, (1 << hab) - 1,
                                    1 << (hab - 1), 1 << min(32, hab - 1), rng.randrange(1 << hab)])
                word = (word & ~((1 << hab) - 1)) | (value & ((1 << hab) - 1))
            elif choice == 1:  # change the ID to a special one
                word = (word & ~(((1 << (63 - hab)) - 1) << hab)) | (rng.randrange(0, 8) << hab)
            elif choice == 2:  # toggle immediate/address mode
                word ^= 1 << 63
            else:              # duplicate another pointer over this one
                j = rng.randrange(n)
                word = int.from_bytes(pkt[8 + 8 * j:16 + 8 * j], "big")
            pkt[8 + 8 * i:16 + 8 * i] = word.to_bytes(8, "big")
        data = bytearray(b"".join(packets))
    elif kind == "truncate" and data:
        data = data[:rng.randrange(len(data))]
    elif kind == "splice":
        other = bin_bytes(rng.choice(cases))
        if rng.random() < 0.5:
            a = _best_effort_packets(bytes(data))
            b = _best_effort_packets(other)
            data = bytearray(b"".join(a[:rng.randrange(len(a) + 1)] + b[rng.randrange(len(b) + 1):]))
        else:
            data = bytearray(bytes(data[:rng.randrange(len(data) + 1)]) + other[rng.randrange(len(other) + 1):])
    elif kind == "packets":
        packets = _best_effort_packets(bytes(data))
        for _ in range(rng.randrange(1, 6)):
            op = rng.randrange(3)
            if op == 0 and packets:
                del packets[rng.randrange(len(packets))]
            elif op == 1 and packets:
                i = rng.randrange(len(packets))
                packets.insert(rng.randrange(len(packets) + 1), packets[i])
            else:
                rng.shuffle(packets)
        data = bytearray(b"".join(packets))
    elif kind == "random_packets":
        packets = _best_effort_packets(bytes(data))
        for _ in range(rng.randrange(1, 6)):
            packets.insert(rng.randrange(len(packets) + 1), random_packet(rng))
        if rng.random() < 0.3:
            packets = [random_packet(rng) for _ in range(rng.randrange(1, 10))]
        data = bytearray(b"".join(packets))
    elif kind == "random_bytes":
        data = bytearray(b"\x53\x04" + rng.randbytes(rng.randrange(0, 600)))
    return {"index": index, "kind": kind, "case": case["name"], "data": bytes(data),
            "recv": _random_recv(rng, case)}


def fuzz_drain(data: bytes, recv: dict, thread_pool) -> dict:
    """Feed one (possibly garbage) buffer to a stream and exercise every heap accessor.

    ``ItemGroup.update`` may raise ``ValueError`` (including
    ``UnicodeDecodeError``) on garbage; anything else propagates.  Returns
    the number of heaps, value errors and the final stats as a dict.
    """
    config = spead2.recv.StreamConfig(**recv["stream_config"])
    ring_config = spead2.recv.RingStreamConfig(**recv["ring_config"])
    stream = spead2.recv.Stream(thread_pool, config, ring_config)
    item_group = make_item_group(recv["initial_items"])
    yielded = value_errors = 0
    try:
        stream.add_buffer_reader(data)
        for heap in stream:
            yielded += 1
            heap.cnt, heap.flavour.heap_address_bits, heap.is_start_of_stream(), heap.is_end_of_stream()
            for raw in heap.get_items():
                raw.id, bytes(raw)
                if raw.is_immediate:
                    raw.immediate_value
            if isinstance(heap, spead2.recv.IncompleteHeap):
                heap.heap_length, heap.received_length, list(heap.payload_ranges)
                continue
            for d in heap.get_descriptors():
                d.id, d.name, d.description, d.shape, d.numpy_header
                try:
                    # A format code is a one-character str: a garbage code byte
                    # that is not valid UTF-8 raises UnicodeDecodeError (as
                    # pybind11's char caster does in the reference).
                    d.format
                except UnicodeDecodeError:
                    value_errors += 1
            try:
                item_group.update(heap, new_order=recv["new_order"])
            except ValueError:  # includes UnicodeDecodeError
                value_errors += 1
    finally:
        stream.stop()
    stats = stream.stats
    # The 4.x layout plus the extension statistics, which keys() does not list.
    names = list(stats.keys()) + ["malformed_packets", "rejected_packets"]
    return {"yielded": yielded, "value_errors": value_errors,
            "stats": {key: stats[key] for key in names}}


def fuzz_check(result: dict, data: bytes) -> list:
    """Sanity conditions on the stats of one fuzz run; returns a list of violations."""
    s = result["stats"]
    problems = []
    for key in ("packets", "heaps", "malformed_packets", "rejected_packets"):
        if key not in s:
            problems.append(f"stat {key!r} missing")
    if problems:
        return problems
    if not s["packets"] + s["malformed_packets"] >= 0:
        problems.append("packets + malformed_packets < 0")
    if s["malformed_packets"] > 1:
        problems.append(f"malformed_packets = {s['malformed_packets']} > 1 for one buffer")
    if s["heaps"] > s["packets"]:
        problems.append(f"heaps {s['heaps']} > packets {s['packets']}")
    if s["rejected_packets"] > s["packets"]:
        problems.append(f"rejected_packets {s['rejected_packets']} > packets {s['packets']}")
    if s["packets"] * 32 > len(data):  # a valid packet has >= 8 + 3*8 bytes
        problems.append(f"packets {s['packets']} impossible in {len(data)} bytes")
    if result["yielded"] > s["heaps"]:
        problems.append(f"{result['yielded']} heaps yielded but stats heaps = {s['heaps']}")
    if s["incomplete_heaps_evicted"] + s["incomplete_heaps_flushed"] > s["heaps"]:
        problems.append("incomplete_heaps_evicted + incomplete_heaps_flushed > heaps")
    return problems


def _sanitizer_runtime() -> bool:
    """Whether AddressSanitizer's or ThreadSanitizer's runtime is in this process."""
    import ctypes
    process = ctypes.CDLL(None)
    return any(hasattr(process, symbol) for symbol in ("__asan_init", "__tsan_init"))


def fuzz_main(argv: list) -> int:
    """Child-process entry point: ``fuzz_main([start, stop, per_mutation_timeout, mem_limit])``.

    Runs mutations ``start <= i < stop``.  Prints ``BEGIN i kind case`` before
    each (so the parent can name the culprit of a crash), and a final
    ``RESULT <json>`` line.  A hung mutation is caught by
    ``faulthandler.dump_traceback_later`` (all thread stacks dumped, exit 3).
    If *mem_limit* (bytes) is non-zero the address space is capped, so that
    e.g. a garbage HEAP_LENGTH of 2**40 cannot take the machine down: the
    library must cope with a failed allocation without crashing or hanging.
    Not under a sanitizer (scripts/sanitize_suite.sh), whose shadow memory alone
    takes terabytes of address space: there ASan's allocator fails the sizes it
    cannot serve (allocator_may_return_null=1) and maps the rest without reserving it.
    """
    import faulthandler
    import traceback

    start, stop = int(argv[0]), int(argv[1])
    per_mutation_timeout = float(argv[2]) if len(argv) > 2 else 60.0
    mem_limit = int(argv[3]) if len(argv) > 3 else 0
    if mem_limit and not _sanitizer_runtime():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))
    faulthandler.enable()
    thread_pool = spead2.ThreadPool()
    summary = {"runs": 0, "heaps": 0, "value_errors": 0, "failures": [], "kinds": {}}
    for index in range(start, stop):
        mutation = fuzz_mutation(index)
        print(f"BEGIN {index} {mutation['kind']} {mutation['case']}", flush=True)
        faulthandler.dump_traceback_later(per_mutation_timeout, exit=True)
        try:
            result = fuzz_drain(mutation["data"], mutation["recv"], thread_pool)
        except Exception:
            summary["failures"].append({"index": index, "kind": mutation["kind"],
                                        "case": mutation["case"], "error": traceback.format_exc()})
            continue
        finally:
            faulthandler.cancel_dump_traceback_later()
        summary["runs"] += 1
        summary["heaps"] += result["yielded"]
        summary["value_errors"] += result["value_errors"]
        summary["kinds"][mutation["kind"]] = summary["kinds"].get(mutation["kind"], 0) + 1
        for problem in fuzz_check(result, mutation["data"]):
            summary["failures"].append({"index": index, "kind": mutation["kind"],
                                        "case": mutation["case"], "error": problem,
                                        "stats": result["stats"]})
    print("RESULT " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(fuzz_main(sys.argv[1:]))
