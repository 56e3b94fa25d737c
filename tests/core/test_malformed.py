"""Malformed / derived vectors: drop accounting, and robustness against garbage.

Our receive streams count two extension statistics, read by name (outside the
spead2 4.x layout, see ``tests/core/test_recv_api.py``):

* ``malformed_packets``: packets that failed packet decoding (protocol.md §8.1).
  The buffer reader stops at the first one (§3.4), so it is 0 or 1 per buffer.
* ``rejected_packets``: packets that decoded but were refused by heap assembly
  (§9): duplicates / gaps in in-order mode, overlaps in out-of-order mode,
  a non-zero offset for a new heap in in-order mode, no HEAP_LENGTH with
  ``allow_unsized_heaps=False``, an inconsistent HEAP_LENGTH.

``test_drop_accounting`` checks both for every vector; the expected numbers are
derived below from each case's description and mutations.  The robustness test
feeds 2000 deterministic mutations of the vectors to the receiver in a child
process (so that a crash, a hang or runaway memory use is reported as a test
failure naming the mutation instead of killing the test run).
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

import spead2
import spead2.recv

# conftest.py puts this directory on sys.path (pytest runs with --import-mode=importlib).
from vector_support import (
    FUZZ_KINDS,
    bin_bytes,
    case_id,
    fuzz_mutation,
    load_cases,
    receive,
)

CASES = load_cases()

#: (malformed_packets, rejected_packets) expected for each derived vector.
#: Packet numbers below are positions in the .bin; "hN pK" is packet K of the
#: heap with cnt N in the unmodified stream (h1 and h3 are single-packet heaps,
#: h2 has 3 packets: offsets 0, 144, 304 of 400 bytes), unless stated otherwise.
EXPECTED_DROPS = {
    # h1 h1 h2p0 h2p0 h2p1 h2p1 h2p2 h2p2 h3 h3, in-order mode.  Single-packet
    # heaps bypass assembly (both copies delivered).  The second h2p0 has
    # offset 0 but 144 bytes were received: rejected; same for the second h2p1
    # (offset 144, expected 304).  The second h2p2 arrives after heap 2
    # completed (and was forgotten): it would start a new heap at offset 304,
    # which in-order mode refuses.  -> 3 rejected.
    "duplicate_packets": (0, 3),
    # Same bytes, out-of-order mode: the second h2p0 and h2p1 overlap received
    # ranges -> rejected (2).  The second h2p2 starts a new heap 2 at offset
    # 304, which out-of-order mode accepts; it is flushed incomplete at the
    # end (expected stats: incomplete_heaps_flushed 1, heaps 6).  -> 2.
    "duplicate_packets_out_of_order_mode": (0, 2),
    # h1p0 h2p0 h1p1 h2p1 h1p2 h2p2 (3-packet heaps), max_heaps=1: h2p0 evicts
    # heap 1; h1p1 and h1p2 would then start a new heap 1 at a non-zero
    # offset, refused in in-order mode.  -> 2 rejected.
    "eviction_max_heaps_1": (0, 2),
    # h1, h2p0, h2p2 with allow_out_of_order: both heap-2 packets accepted; the
    # heap is flushed as an IncompleteHeap.  Nothing is refused.
    "incomplete_heap_delivered": (0, 0),
    # h2p1 says HEAP_LENGTH 511 (decodes fine: 144 + 160 <= 511) but the live
    # heap knows 400: rejected.  h2p2 (offset 304) then does not follow the 144
    # bytes received in in-order mode: rejected too.  -> 2.
    "inconsistent_heap_length": (0, 2),
    # Two interleaved 3-packet heaps with max_heaps=4: all accepted.
    "interleaved_heaps": (0, 0),
    # "00 01 02 53 04 03 05 00" is not a header (bad magic): one malformed
    # packet, then the reader gives up.
    "leading_garbage": (1, 0),
    # The first packet that fails decoding stops the reader: exactly one
    # malformed packet, nothing refused by assembly.
    "malformed_bad_magic_first": (1, 0),
    "malformed_bad_magic_middle": (1, 0),
    "malformed_bad_widths": (1, 0),
    "malformed_items_overflow_packet": (1, 0),
    "malformed_missing_heap_cnt": (1, 0),
    "malformed_missing_payload_length": (1, 0),
    # PAYLOAD_OFFSET 0xff00 + 160 > HEAP_LENGTH 400: a decoding failure (§8.1
    # rule 7), not an assembly rejection.
    "malformed_offset_beyond_heap_length": (1, 0),
    # The last packet is cut to 47 bytes: its 6 pointers need 56.
    "malformed_truncated_last_packet": (1, 0),
    # h2p1 cut to 100 bytes: 40 bytes of header+pointers + 160 of payload.
    "malformed_truncated_mid_heap": (1, 0),
    "malformed_wrong_version": (1, 0),
    "malformed_zero_width": (1, 0),
    # h1 h2p2 h2p1 h2p0 h3 in out-of-order mode: all accepted.
    "out_of_order_allowed": (0, 0),
    # Same in in-order mode: h2p2 and h2p1 would start heap 2 at a non-zero
    # offset: rejected (2); h2p0 starts it, and it is flushed incomplete.
    "out_of_order_rejected": (0, 2),
    # Pointer order inside a packet does not matter.
    "reordered_pointers": (0, 0),
    # Five bytes after the last packet: fewer than 8 bytes cannot be a packet
    # (§8.1 rule 1, packet_status::too_short): one malformed "packet".
    "trailing_garbage": (1, 0),
    # No HEAP_LENGTH anywhere, allowed: nothing refused.
    "unsized_heaps": (0, 0),
    # No HEAP_LENGTH and allow_unsized_heaps=False: each of the 5 packets is
    # refused by assembly (reading continues).
    "unsized_heaps_rejected": (0, 5),
}

def expected_drops(case):
    """(malformed, rejected) for a case: from EXPECTED_DROPS for derived cases; an
    unmodified sender output is entirely well formed, so (0, 0) otherwise."""
    if "derived" in case["tags"]:
        return EXPECTED_DROPS[case["name"]]
    return (0, 0)


def test_expected_drops_cover_every_derived_case():
    """Every derived vector has a reasoned entry in EXPECTED_DROPS (and no stale ones)."""
    derived = {c["name"] for c in CASES if "derived" in c["tags"]}
    assert derived == set(EXPECTED_DROPS)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_drop_accounting(case):
    """``malformed_packets`` / ``rejected_packets`` match what the case implies,
    and agree with the reference's ``packets`` statistic."""
    result = receive(bin_bytes(case), case["recv"])
    stats = result.stats
    malformed, rejected = expected_drops(case)
    got = {"malformed_packets": stats["malformed_packets"],
           "rejected_packets": stats["rejected_packets"],
           "packets": stats["packets"]}
    assert got == {"malformed_packets": malformed, "rejected_packets": rejected,
                   "packets": case["expected"]["stats"]["packets"]}
    assert stats["rejected_packets"] <= stats["packets"]


# --------------------------------------------------------------------------
# Robustness: deterministic mutations of the vectors
# --------------------------------------------------------------------------

FUZZ_COUNT = 2000
FUZZ_CHUNKS = 8
#: A single mutation that takes longer than this is considered hung.
FUZZ_MUTATION_TIMEOUT = 30
#: Backstop for a whole chunk (the per-mutation watchdog should fire first).
FUZZ_CHUNK_TIMEOUT = 900
#: Address-space cap for the child: garbage such as HEAP_LENGTH = 2**40 - 1
#: must not be able to exhaust the machine; the library has to survive a
#: failed allocation (drop the heap) rather than crash or hang.
FUZZ_MEMORY_LIMIT = 4 << 30


def test_fuzz_mutations_are_deterministic():
    """The mutation generator is deterministic and covers every mutation kind."""
    for index in (0, 1, 7, 1234, FUZZ_COUNT - 1):
        a, b = fuzz_mutation(index), fuzz_mutation(index)
        assert a["data"] == b["data"] and a["recv"] == b["recv"] and a["kind"] == b["kind"]
    kinds = {fuzz_mutation(i)["kind"] for i in range(len(FUZZ_KINDS))}
    assert kinds == set(FUZZ_KINDS)
    originals = {bin_bytes(c) for c in CASES}
    changed = sum(fuzz_mutation(i)["data"] not in originals for i in range(200))
    assert changed >= 190, f"only {changed} of 200 mutations changed their input"


@pytest.mark.parametrize("chunk", range(FUZZ_CHUNKS))
def test_fuzz_robustness(chunk):
    """Mutated vectors (byte flips, truncations, splices, packet drops/duplicates,
    random 0x53 0x04 packets, ...) never crash or hang the receiver; heaps are
    drained through ``ItemGroup.update`` (``ValueError`` allowed, nothing else),
    and the stats stay sane (heaps <= packets, malformed <= 1, ...).

    Runs mutations ``[start, stop)`` in a child process; reproduce one with
    ``python tests/core/vector_support.py I I+1``.
    """
    start = chunk * FUZZ_COUNT // FUZZ_CHUNKS
    stop = (chunk + 1) * FUZZ_COUNT // FUZZ_CHUNKS
    script = pathlib.Path(__file__).with_name("vector_support.py")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    cmd = [sys.executable, str(script), str(start), str(stop),
           str(FUZZ_MUTATION_TIMEOUT), str(FUZZ_MEMORY_LIMIT)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=FUZZ_CHUNK_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(f"fuzz chunk {start}..{stop} hung; last started: {_last_begin(out)}")
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    if proc.returncode != 0 or result is None:
        pytest.fail(
            f"fuzz child for mutations {start}..{stop} died (exit code {proc.returncode}) "
            f"during: {_last_begin(proc.stdout)}\n--- stderr (tail) ---\n{proc.stderr[-6000:]}")
    failures = result["failures"]
    assert not failures, (
        f"{len(failures)} mutations misbehaved; first ones:\n"
        + "\n".join(json.dumps(f, indent=1) for f in failures[:5]))
    assert result["runs"] == stop - start


def _last_begin(stdout):
    """The last ``BEGIN index kind case`` line printed by the fuzz child."""
    begins = [line for line in stdout.splitlines() if line.startswith("BEGIN ")]
    return begins[-1] if begins else "(before the first mutation)"
