#!/usr/bin/env python3
"""Seed corpus and input format of the receive fuzz target (fuzz/fuzz_recv.cpp).

Standard library only, so that fuzz/run.sh can use any python3 and
tests/core/test_fuzz_smoke.py can import it.

A fuzz input is a two-byte configuration header followed by the bytes a buffer
reader is fed (see the comment at the top of fuzz_recv.cpp)::

    byte 0: bits 0-1 max_heaps-1, bit 2 substreams-1, bit 3 allow_out_of_order,
            bit 4 allow_unsized_heaps, bit 5 stop_on_stop_item,
            bit 6 contiguous_only, bit 7 incomplete_keep_payload_ranges
    byte 1: bits 0-2 bug_compat, bits 3-4 ring heaps-1

    python3 fuzz/corpus.py OUTDIR [VECTOR_DIR]

writes one seed per vector (``tests/vectors/*.bin`` with the header derived
from the vector's ``recv`` section) plus one seed per packet of each vector.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]

#: Defaults of StreamConfig / RingStreamConfig, for vectors without a recv section.
DEFAULT_STREAM = {
    "max_heaps": 4,
    "substreams": 1,
    "allow_out_of_order": False,
    "allow_unsized_heaps": True,
    "stop_on_stop_item": True,
    "bug_compat": 0,
}
DEFAULT_RING = {"heaps": 4, "contiguous_only": True, "incomplete_keep_payload_ranges": False}


def vector_dir() -> pathlib.Path | None:
    """The repository's copy of the vectors, else the shared one beside the clone."""
    for candidate in (REPO / "tests" / "vectors", REPO.parent / "shared" / "vectors",
                      pathlib.Path("/work/shared/vectors")):
        if any(candidate.glob("*.bin")):
            return candidate
    return None


def encode_header(stream: dict, ring: dict) -> bytes:
    """The two configuration bytes for StreamConfig / RingStreamConfig keyword dicts."""
    s = {**DEFAULT_STREAM, **stream}
    r = {**DEFAULT_RING, **ring}
    max_heaps = min(max(int(s["max_heaps"]), 1), 4)
    substreams = min(max(int(s["substreams"]), 1), 2)
    heaps = min(max(int(r["heaps"]), 1), 4)
    b0 = ((max_heaps - 1)
          | (substreams - 1) << 2
          | bool(s["allow_out_of_order"]) << 3
          | bool(s["allow_unsized_heaps"]) << 4
          | bool(s["stop_on_stop_item"]) << 5
          | bool(r["contiguous_only"]) << 6
          | bool(r["incomplete_keep_payload_ranges"]) << 7)
    b1 = (int(s["bug_compat"]) & 7) | (heaps - 1) << 3
    return bytes([b0, b1])


def decode_header(data: bytes) -> tuple[dict, dict, bytes]:
    """Split a fuzz input into (StreamConfig kwargs, RingStreamConfig kwargs, packet bytes).

    Mirrors LLVMFuzzerTestOneInput.  Inputs shorter than two bytes are ignored by the
    fuzz target; here they decode as the defaults with no packets.
    """
    if len(data) < 2:
        return dict(DEFAULT_STREAM), dict(DEFAULT_RING), b""
    b0, b1 = data[0], data[1]
    stream = {
        "max_heaps": 1 + (b0 & 3),
        "substreams": 1 + (b0 >> 2 & 1),
        "allow_out_of_order": bool(b0 & 0x08),
        "allow_unsized_heaps": bool(b0 & 0x10),
        "stop_on_stop_item": bool(b0 & 0x20),
        "bug_compat": b1 & 7,
    }
    ring = {
        "contiguous_only": bool(b0 & 0x40),
        "incomplete_keep_payload_ranges": bool(b0 & 0x80),
        "heaps": 1 + (b1 >> 3 & 3),
    }
    return stream, ring, bytes(data[2:])


def packet_length(data: bytes, pos: int) -> int | None:
    """Length of the SPEAD packet at *pos*, or None if decode_packet would reject it."""
    if len(data) - pos < 8 or data[pos] != 0x53 or data[pos + 1] != 4:
        return None
    id_bytes, address_bytes = data[pos + 2], data[pos + 3]
    if id_bytes == 0 or address_bytes == 0 or id_bytes + address_bytes != 8:
        return None
    n_items = int.from_bytes(data[pos + 6:pos + 8], "big")
    header = 8 + 8 * n_items
    if pos + header > len(data):
        return None
    bits = address_bytes * 8
    fields = {}
    for i in range(n_items):
        p = int.from_bytes(data[pos + 8 + 8 * i:pos + 16 + 8 * i], "big")
        if not p >> 63:
            continue
        item_id = (p & ~(1 << 63)) >> bits
        if 1 <= item_id <= 4:
            fields[item_id] = p & ((1 << bits) - 1)
    if 1 not in fields or 3 not in fields or 4 not in fields:
        return None
    payload_length = fields[4]
    if pos + header + payload_length > len(data):
        return None
    if 2 in fields and fields[3] + payload_length > fields[2]:
        return None
    return header + payload_length


def split_packets(data: bytes) -> list[bytes]:
    """The packets of a buffer, back to back, up to the first undecodable bytes."""
    packets = []
    pos = 0
    while pos < len(data):
        n = packet_length(data, pos)
        if n is None:
            break
        packets.append(data[pos:pos + n])
        pos += n
    return packets


def seed_inputs(directory: pathlib.Path | None = None) -> list[tuple[str, bytes]]:
    """(name, fuzz input) for every vector and every packet of every vector, deduplicated."""
    directory = directory or vector_dir()
    if directory is None:
        return []
    seen = set()
    seeds = []
    for path in sorted(directory.glob("*.bin")):
        case = path.with_suffix(".json")
        recv = {}
        if case.exists():
            recv = json.loads(case.read_text()).get("recv", {})
        header = encode_header(recv.get("stream_config", {}), recv.get("ring_config", {}))
        data = path.read_bytes()
        candidates = [(path.stem, header + data)]
        for i, packet in enumerate(split_packets(data)):
            candidates.append((f"{path.stem}.p{i}", header + packet))
        for name, value in candidates:
            if value not in seen:
                seen.add(value)
                seeds.append((name, value))
    return seeds


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    out = pathlib.Path(argv[1])
    directory = pathlib.Path(argv[2]) if len(argv) == 3 else vector_dir()
    if directory is None:
        print("corpus.py: no test vectors found", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    seeds = seed_inputs(directory)
    for name, value in seeds:
        digest = hashlib.sha1(value).hexdigest()[:12]
        (out / f"seed-{name}-{digest}").write_bytes(value)
    print(f"corpus.py: wrote {len(seeds)} seeds from {directory} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
