"""Every Python example in ``docs/`` runs, so the documentation cannot rot.

Sessions.  The ``.. code-block:: python`` blocks of a page run in order in one
interpreter (``run_session.py``), like a doctest file: a block may use what an
earlier block of the page defined, and may ``await`` at the top level, as in
``python -m asyncio``.  One test per page; a failure names the page's line.

Programs.  A block with ``:caption: NAME.py`` is a whole program, not a session
step: it is written to ``NAME.py`` and run as the page shows it, by a check of its
own in ``PROGRAM_CHECKS`` (a program block without one fails the test suite, so no
example goes unrun).

The example network.  Pages are written for a host whose ``eth0`` has the address
10.0.0.1 (and an IPv6 link-local address), on a link shared with another host at
10.0.0.2, and whose ``eth0`` can do ibverbs.  The tests build exactly that in a
pair of network namespaces (``tests/ibverbs/netns_support.py``): ``eth0`` is one
end of a veth pair, served by the verbs test double (``tests/ibverbs/double``),
and the peer namespace holds the other end, 10.0.0.2.  While a page runs, the peer
sends a small heap and an end-of-stream heap to 239.102.0.1:7148 every 0.1 s
(whatever the page receives from "another host"), and the page's working folder
holds ``capture.pcap``: UDP datagrams to port 7148 carrying three heaps and an
end-of-stream heap.  Nothing leaves the namespaces.  Without root or iproute2 the
tests skip, saying why, and so do the pages of ``NEEDS`` without what they need.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.send

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RUNNER = pathlib.Path(__file__).resolve().parent / "run_session.py"
sys.path.insert(0, str(ROOT / "tests" / "ibverbs"))

import netns_support  # noqa: E402
from pcap_support import PcapWriter, ethernet, ipv4_udp  # noqa: E402

PAGES = sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)
SESSION_TIMEOUT = 240.0
DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. code-block::\s*(?P<language>\S+)\s*$")
PEER_GROUP = ("239.102.0.1", 7148)


@dataclasses.dataclass
class Block:
    path: pathlib.Path
    line: int  # of the first line of code, 1-based
    code: str
    caption: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def python_blocks(path: pathlib.Path) -> list[Block]:
    """The ``.. code-block:: python`` blocks of a page, dedented, with their options."""
    lines = path.read_text().splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = DIRECTIVE.match(lines[i])
        i += 1
        if not match or match["language"] not in ("python", "python3", "py"):
            continue
        indent = len(match["indent"])
        options: dict[str, str] = {}
        while i < len(lines) and lines[i].strip().startswith(":"):
            name, _, value = lines[i].strip()[1:].partition(":")
            options[name] = value.strip()
            i += 1
        body: list[str] = []
        start = None
        while i < len(lines):
            line = lines[i]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            if start is None and line.strip():
                start = i + 1
            if start is not None:
                body.append(line)
            i += 1
        while body and not body[-1].strip():
            body.pop()
        assert start is not None, f"{path.name}:{i}: empty code block"
        margin = min(len(line) - len(line.lstrip()) for line in body if line.strip())
        code = "\n".join(line[margin:] for line in body) + "\n"
        blocks.append(Block(path, start, code, options.get("caption")))
    return blocks


ALL_BLOCKS = {page: python_blocks(page) for page in PAGES}
SESSION_PAGES = [page for page, blocks in ALL_BLOCKS.items() if any(b.caption is None for b in blocks)]
PROGRAMS = {b.caption: b for blocks in ALL_BLOCKS.values() for b in blocks if b.caption is not None}


def test_examples_are_found():
    """The extraction works: the user guide has examples, and every page's blocks parse."""
    assert len(SESSION_PAGES) >= 5, SESSION_PAGES
    for blocks in ALL_BLOCKS.values():
        for block in blocks:
            compile(block.code, block.where, "exec", flags=0x2000)  # PyCF_ALLOW_TOP_LEVEL_AWAIT


@pytest.fixture(scope="module")
def network():
    reason = netns_support.unavailable_reason()
    if reason:
        pytest.skip(f"the examples run in network namespaces: {reason}")
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("no C++ compiler to build the verbs test double")
    library = netns_support.build_double()
    with netns_support.namespaces(library, pytest.skip, ifname="eth0", peer_ifname="eth0", subnet="10.0.0") as pair:
        yield pair


def heap_packets(value: int) -> list[bytes]:
    """A heap with one item and its descriptor, then an end-of-stream heap."""
    ig = spead2.send.ItemGroup()
    ig.add_item(0x1000, "value", "A counter", shape=(), format=[("u", 32)], value=value)
    ig.add_item(0x1001, "data", "Some bytes", shape=(64,), dtype=np.uint8, value=np.arange(64, dtype=np.uint8))
    packets = []
    for cnt, heap in ((2 * value + 1, ig.get_heap(descriptors="all", data="all")), (2 * value + 2, ig.get_end())):
        packets += [bytes(p) for p in spead2.send.PacketGenerator(heap, cnt, 1472)]
    return packets


@pytest.fixture
def peer_traffic(network):
    """The peer's multicast heaps to 239.102.0.1:7148, every 0.1 s while the test runs."""
    sock = network.multicast_sender()
    stop = threading.Event()

    def run() -> None:
        value = 0
        while not stop.wait(0.1):
            for packet in heap_packets(value):
                sock.sendto(packet, PEER_GROUP)
            value += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()
    sock.close()


@pytest.fixture
def workdir(tmp_path) -> pathlib.Path:
    writer = PcapWriter()
    for value in range(3):
        packets = heap_packets(value)
        if value < 2:
            packets = packets[:-1]  # one end-of-stream heap, at the end
        for packet in packets:
            writer.add(ethernet(ipv4_udp(packet, dport=PEER_GROUP[1], dst=PEER_GROUP[0])))
    writer.write(tmp_path / "capture.pcap")
    return tmp_path


#: Pages about optional features, which cannot run without them: page -> (the
#: method of receive streams the feature adds, what provides it).
NEEDS = {
    "ibverbs.rst": ("add_udp_ibv_reader", "the spead2-ibverbs plugin"),
    "xdp.rst": ("add_udp_xdp_reader", "the spead2-xdp plugin"),
    "transports.rst": ("add_udp_pcap_file_reader", "spead2-udp built with libpcap"),
}


@pytest.mark.parametrize("page", SESSION_PAGES, ids=lambda p: p.name)
def test_page_examples(page, network, peer_traffic, workdir):
    if page.name in NEEDS and not hasattr(spead2.recv.Stream, NEEDS[page.name][0]):
        pytest.skip(f"the examples of {page.name} need {NEEDS[page.name][1]}, which is not installed")
    blocks = [b for b in ALL_BLOCKS[page] if b.caption is None]
    spec = workdir / "blocks.json"
    spec.write_text(json.dumps([{"path": str(b.path), "line": b.line, "code": b.code} for b in blocks]))
    result = network.run(sys.executable, RUNNER, spec, cwd=workdir, timeout=SESSION_TIMEOUT)
    assert result.returncode == 0, (
        f"the examples of {page.name} failed (status {result.returncode}):\n"
        f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-10000:]}"
    )


# ---------------------------------------------------------------------------
# Programs
# ---------------------------------------------------------------------------


def console_runs(path: pathlib.Path, program: str) -> list[tuple[list[str], list[str]]]:
    """``$ python PROGRAM args`` lines of the page's literal blocks, with the output shown."""
    runs: list[tuple[list[str], list[str]]] = []
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        text = line.strip()
        if text.startswith("$ "):
            current = None
            argv = text[2:].split()
            if argv[:2] == ["python", program]:
                current = []
                runs.append((argv[2:], current))
        elif current is not None:
            if text and not line.startswith("   "):
                current = None
            else:
                current.append(text)
    for _, shown in runs:
        while shown and not shown[-1]:
            shown.pop()
    return runs


def matches_shown(shown: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` has the ``shown`` lines in order, where ``...`` stands for any lines."""
    pattern = "\n".join(".*?" if line == "..." else re.escape(line) for line in shown)
    pattern = pattern.replace("\n.*?\n", "\n(?:.*\n)*?")
    return re.fullmatch(pattern + "\n?", "\n".join(line.strip() for line in actual) + "\n", re.DOTALL) is not None


def check_count_heaps(block: Block, network, tmp_path: pathlib.Path) -> None:
    """tools.rst: each ``$ python count_heaps.py`` run, against the sender the page names."""
    program = tmp_path / "count_heaps.py"
    program.write_text(block.code)
    text = block.path.read_text()
    runs = console_runs(block.path, "count_heaps.py")
    assert len(runs) >= 4, runs
    bindir = pathlib.Path(sys.executable).parent
    have_ibverbs = hasattr(spead2.recv.Stream, "add_udp_ibv_reader")
    for args, shown in runs:
        if args == ["--help"] and not have_ibverbs:
            continue  # the page shows the options with the ibverbs plugin installed
        sender = None
        if args and re.fullmatch(r"[\d.]+:\d+", args[-1]):
            found = re.search(r"``spead2_send.py ([^`]*" + re.escape(args[-1]) + ")``", text)
            assert found, f"no sender named for {args}"
            sender = found[1].replace("'", "").split()
        receiver = network.popen(sys.executable, program, *args, cwd=tmp_path)
        try:
            if sender:
                # The receiver binds quickly; TCP retries below, UDP heaps need it bound.
                for _ in range(50):
                    ready = network.run("ss", "-ltnu", timeout=10).stdout
                    if f":{args[-1].rsplit(':', 1)[1]} " in ready:
                        break
                    threading.Event().wait(0.1)
                send = network.run(bindir / "spead2_send.py", *sender, timeout=30)
                assert send.returncode == 0, send.stderr
            out, err = receiver.communicate(timeout=30)
        finally:
            if receiver.poll() is None:
                receiver.kill()
                receiver.communicate()
        actual = (out + err).splitlines()
        assert matches_shown(shown, actual), f"count_heaps.py {' '.join(args)}:\nshown:\n" + "\n".join(
            shown) + "\nactual:\n" + "\n".join(actual)


PROGRAM_CHECKS = {"count_heaps.py": check_count_heaps}


def test_every_program_is_checked():
    assert set(PROGRAMS) == set(PROGRAM_CHECKS), "program blocks and PROGRAM_CHECKS differ"


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program(name, network, tmp_path):
    PROGRAM_CHECKS[name](PROGRAMS[name], network, tmp_path)
