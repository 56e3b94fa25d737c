"""Interoperability tests driven by the byte-exact reference vectors (tests/vectors).

Only the public ``spead2`` Python API is used (see vector_support.py).

* ``test_send_bytes``: cases tagged ``send``; replaying ``send.heaps[].ops``
  through our sender must reproduce the reference output byte for byte.
* ``test_derived_rebuild``: derived cases; our sender reproduces the
  unmodified stream and applying ``mutations`` gives the ``.bin``.
* ``test_receive``: every case; the ``.bin`` fed to our receiver must give
  exactly what the reference receiver gave (heaps, raw items in order,
  descriptors, ItemGroup updates with strictly typed values, final ItemGroup,
  stats).
* Cases with ``known_upstream_bug``: we deliberately behave correctly (see
  vector_support.FIXED_UPSTREAM_BUGS and the dedicated tests at the end).
"""

import hashlib
import json

import numpy as np
import pytest

# conftest.py puts this directory on sys.path (pytest runs with --import-mode=importlib).
from vector_support import (
    FIXED_UPSTREAM_BUGS,
    VECTOR_DIR,
    apply_mutations,
    bin_bytes,
    case_by_name,
    case_id,
    compare_receive,
    decode_value,
    describe_mismatch,
    expected_for,
    load_cases,
    receive,
    send_case,
    split_packets,
)

CASES = load_cases()
SEND_CASES = [c for c in CASES if "send" in c["tags"]]
DERIVED_CASES = [c for c in CASES if "derived" in c["tags"]]


def test_vector_inventory():
    """The copy of the vectors is complete and consistent with index.json."""
    index = json.loads((VECTOR_DIR / "index.json").read_text())
    assert sorted(c["name"] for c in index["cases"]) == sorted(c["name"] for c in CASES)
    for entry in index["cases"]:
        case = case_by_name(entry["name"])
        assert case["schema_version"] == 1
        assert len(bin_bytes(case)) == entry["bin_length"]
        assert len(case["expected"]["heaps"]) == entry["expected_heaps"]
        assert bool(case["known_upstream_bug"]) == bool(entry["known_upstream_bug"])
        assert case["bin"]["identical_to_send_output"] == ("derived" not in case["tags"])
    assert (VECTOR_DIR / "README.md").is_file()


def test_known_upstream_bugs_are_handled():
    """Every case flagged with ``known_upstream_bug`` needs an explicit decision.

    We fix the two flagged cases (see the tests at the end of this file); a new
    flagged vector makes this fail until someone decides what to do with it.
    """
    flagged = {c["name"]: c["known_upstream_bug"] for c in CASES if c["known_upstream_bug"]}
    unhandled = {name: why for name, why in flagged.items() if name not in FIXED_UPSTREAM_BUGS}
    assert not unhandled, f"known_upstream_bug cases nobody has handled: {unhandled}"
    assert set(flagged) == FIXED_UPSTREAM_BUGS


# --------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------

@pytest.mark.parametrize("case", SEND_CASES, ids=case_id)
def test_send_bytes(case):
    """Our sender reproduces the reference's byte stream exactly."""
    data = send_case(case)
    if case["name"] == "padding_upstream_bug":
        # Deliberate deviation: we put the real payload before the padding.
        assert_padding_fixed(case, data)
        return
    expected = bin_bytes(case)
    assert hashlib.sha256(data).hexdigest() == case["send"]["sha256"], (
        describe_mismatch(data, expected, case))
    assert len(data) == case["send"]["length"]
    assert len(split_packets(data)) == case["send"]["packet_count"]
    assert data == expected


@pytest.mark.parametrize("case", DERIVED_CASES, ids=case_id)
def test_derived_rebuild(case):
    """For derived cases, our sender reproduces the unmodified stream (``send.sha256``)
    and applying the case's ``mutations`` to it gives the ``.bin``."""
    data = send_case(case)
    assert hashlib.sha256(data).hexdigest() == case["send"]["sha256"]
    assert len(data) == case["send"]["length"]
    mutated = apply_mutations(data, case["mutations"])
    assert mutated == bin_bytes(case), describe_mismatch(mutated, bin_bytes(case))


# --------------------------------------------------------------------------
# Receiving
# --------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_receive(case):
    """Receiving the ``.bin`` gives exactly what the reference receiver gave
    (with our deliberate fix for ``zero_size_fixed_shape``)."""
    result = receive(bin_bytes(case), case["recv"])
    compare_receive(result, expected_for(case), case["name"])


# --------------------------------------------------------------------------
# Known upstream bugs that we fix
# --------------------------------------------------------------------------

def _padding_layout(case):
    """Payload byte ranges of the reference packets, and the expected fixed heap payload.

    ``padding_upstream_bug``: one heap, 200 ``>u4`` immediates plus ``var3``
    (variable shape, hence always addressed, protocol.md §5.3) with value
    ``[7, 8, 9]`` as ``u8``.  With 201 pointers at 178 per packet the heap needs
    2 packets, so the 3-byte payload is padded to ``(2 - 1) * 8 + 1 = 9`` bytes
    (§5.4).  A correct sender lays the heap payload out as the real bytes
    followed by zero padding: ``07 08 09 00 00 00 00 00 | 00``.
    """
    regions = [(p["offset"] + 8 + 8 * p["n_items"], p["offset"] + p["length"])
               for p in case["packets"]]
    (heap,) = case["send"]["heaps"]
    var3_op = next(op for op in heap["ops"] if op.get("item") == "var3")
    real = bytes(np.asarray(decode_value(var3_op["value"]), dtype=np.uint8))
    heap_length = case["packets"][0]["heap_length"]
    assert real == b"\x07\x08\x09" and heap_length == 9
    return regions, real + bytes(heap_length - len(real))


def assert_padding_fixed(case, data):
    """Our output differs from the buggy reference only in the payload bytes of the
    packet that mixes data and padding, where we write data first, then zeros."""
    reference = bin_bytes(case)
    assert len(data) == len(reference), describe_mismatch(data, reference, case)
    regions, fixed_payload = _padding_layout(case)
    diffs = [i for i in range(len(data)) if data[i] != reference[i]]
    assert diffs, "our sender reproduces the reference's padding-before-data bug"
    touched = {k for i in diffs for k, (lo, hi) in enumerate(regions) if lo <= i < hi}
    outside = [i for i in diffs if not any(lo <= i < hi for lo, hi in regions)]
    assert not outside, f"bytes outside packet payloads differ: {outside[:10]}"
    assert touched == {0}, f"payload differences in packets {sorted(touched)}, expected only packet 0"
    assert b"".join(data[lo:hi] for lo, hi in regions) == fixed_payload
    # The reference put the 5 padding bytes first in packet 0; same bytes otherwise.
    lo, hi = regions[0]
    assert sorted(data[lo:hi]) == sorted(reference[lo:hi])
    assert data[lo:hi] == b"\x07\x08\x09\x00\x00\x00\x00\x00"


def test_padding_upstream_bug_roundtrip():
    """Receiving OUR output for ``padding_upstream_bug`` gives var3 == [7, 8, 9];
    everything else is as the reference received its own (buggy) stream."""
    case = case_by_name("padding_upstream_bug")
    data = send_case(case)
    assert_padding_fixed(case, data)
    result = receive(data, case["recv"])
    expected = expected_for(case)
    fixed_var3 = {"t": "ndarray", "shape": [3], "fortran": False, "dtype": "|u1", "b64": "BwgJ"}
    heap = expected["heaps"][0]
    raw = next(r for r in heap["raw_items"] if r["id"] == 4096)
    assert raw["hex"] == "000000"      # what the reference received from its own stream
    raw["hex"] = "070809"
    upd = next(u for u in heap["update"]["updated"] if u["name"] == "var3")
    upd["value"] = fixed_var3
    item = next(i for i in expected["item_group"] if i["name"] == "var3")
    item["value"] = fixed_var3
    compare_receive(result, expected, "padding_upstream_bug (our output)")
    value = result.item_group["var3"].value
    assert value.dtype == np.uint8 and value.tolist() == [7, 8, 9]


def test_padding_upstream_bug_reference_stream():
    """Receiving the reference's (buggy) .bin still decodes as the reference did:
    var3 comes out as zeros, because the stream really contains zeros there."""
    case = case_by_name("padding_upstream_bug")
    result = receive(bin_bytes(case), case["recv"])
    compare_receive(result, case["expected"], case["name"])
    assert result.item_group["var3"].value.tolist() == [0, 0, 0]


def test_zero_size_fixed_shape_decodes_empty():
    """A ``(0,)``-shaped ``<u4`` item arrives as an all-zero immediate.  The reference's
    ``ItemGroup.update`` raises ValueError (it slices the immediate with ``[-0:]``);
    we decode it as an empty ``uint32`` array of shape ``(0,)`` instead."""
    case = case_by_name("zero_size_fixed_shape")
    assert case["expected"]["heaps"][1]["update"]["ok"] is False
    data = bin_bytes(case)
    assert send_case(case) == data      # the wire bytes are unchanged
    result = receive(data, case["recv"])
    heap = result.heaps[1]
    assert heap["update"]["ok"], f"update raised {heap['update'].get('error')}: {heap['update'].get('message')}"
    updated = {u["name"]: u["value"] for u in heap["update"]["updated"]}
    assert list(updated) == ["ok", "z"]
    z = updated["z"]
    assert type(z) is np.ndarray
    assert z.shape == (0,)
    assert z.dtype == np.dtype("<u4").newbyteorder("=")
    assert result.item_group["z"].value is z
    assert updated["ok"].tolist() == [9, 8, 7]
