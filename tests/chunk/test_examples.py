"""The chunking receiver examples in ``examples/`` run, and notice bad data.

Each example is run as a subprocess with this interpreter, as a user would run it,
and must exit with status 0 and report every chunk and heap. The negative tests run
an example with its sender sabotaged (one heap never sent, or one heap's payload
changed) and expect it to say so and exit with status 1.
"""

from __future__ import annotations

import importlib.util
import pathlib
import socket
import subprocess
import sys
import textwrap

import pytest

import spead2
import spead2.recv
import spead2.recv.asyncio

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
#: A safety net: every example finishes in a second or two.
SUBPROCESS_TIMEOUT = 60
#: Passed to the examples, whose watchdog stops the stream if a stop heap is lost.
EXAMPLE_TIMEOUT = "15"


def _missing() -> str | None:
    if not hasattr(spead2.recv, "ChunkRingStream"):
        return "the spead2-chunk plugin is not installed"
    if not hasattr(spead2.recv.Stream, "add_udp_reader"):
        return "the spead2-udp plugin is not installed (no add_udp_reader)"
    for module in ("numba", "scipy"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (the examples compile their place callbacks with it)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")

needs_async_ring = pytest.mark.skipif(
    not hasattr(spead2.recv.asyncio, "ChunkRingbuffer"),
    reason="spead2.recv.asyncio.ChunkRingbuffer is not available",
)


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT, cwd=ROOT)


def run_example(name: str, *args: str) -> subprocess.CompletedProcess:
    return run([str(EXAMPLES / name), "--timeout", EXAMPLE_TIMEOUT, *args])


def assert_ok(result: subprocess.CompletedProcess, *lines: str) -> None:
    detail = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, detail
    for line in lines:
        assert line in result.stdout.splitlines(), f"missing line {line!r}\n{detail}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_fengine_defaults():
    result = run_example("chunk_fengine_udp.py")
    assert_ok(
        result,
        "received 8/8 chunks, 128/128 heaps (4 F-engines x 4 channel groups per chunk), 3 empty chunks",
        # 128 data heaps and the descriptor heap; the descriptor and stop heaps rejected.
        "stream statistics: heaps=129 rejected_heaps=2 too_old_heaps=0 incomplete_heaps_evicted=0",
        "OK: every heap arrived with the right payload",
    )


def test_fengine_options():
    result = run_example("chunk_fengine_udp.py", "--chunks", "3", "--port", str(free_port()))
    assert_ok(
        result,
        "received 3/3 chunks, 48/48 heaps (4 F-engines x 4 channel groups per chunk), 3 empty chunks",
        "OK: every heap arrived with the right payload",
    )


@pytest.mark.parametrize("mode", ["lossy", "lossless"])
def test_group(mode: str):
    result = run_example("chunk_group.py", "--eviction-mode", mode)
    lines = result.stdout.splitlines()
    assert_ok(
        result,
        f"eviction mode {mode.upper()}: received 16/16 chunks, 128/128 heaps",
        "OK: every chunk was completed by both members with the right payload",
    )
    # Each member received its half of the band, plus its descriptor heap, and
    # rejected the descriptor and stop heaps.
    members = [line for line in lines if line.startswith("member ")]
    assert len(members) == 2, result.stdout
    for member in members:
        assert member.endswith(": heaps=65 rejected_heaps=2 too_old_heaps=0"), result.stdout


@needs_async_ring
def test_asyncio():
    result = run_example("chunk_asyncio.py", "--chunks", "10")
    assert_ok(
        result,
        "received 10/10 chunks, 80/80 heaps",
        "stream statistics: heaps=81 rejected_heaps=2 too_old_heaps=0",
        "OK: every heap arrived with the right payload and extra",
    )


# Loads an example as a module (so that its main() does not run yet), applies PATCH,
# then runs main() with the remaining command-line arguments.
HARNESS = """\
import asyncio, importlib.util, sys
spec = importlib.util.spec_from_file_location("example", sys.argv[1])
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)
{patch}
sys.argv = sys.argv[1:]
result = example.main()
sys.exit(asyncio.run(result) if asyncio.iscoroutine(result) else result)
"""

# The tenth heap sent (a data heap in all three examples) is not sent at all.
DROP_SYNC = """\
import spead2.send
class DroppingStream(spead2.send.UdpStream):
    sent = 0
    def send_heap(self, heap, *args, **kwargs):
        DroppingStream.sent += 1
        if DroppingStream.sent == 10:
            return 0
        return super().send_heap(heap, *args, **kwargs)
spead2.send.UdpStream = DroppingStream
"""
DROP_ASYNC = """\
import spead2.send.asyncio
class DroppingStream(spead2.send.asyncio.UdpStream):
    sent = 0
    def async_send_heap(self, heap, *args, **kwargs):
        DroppingStream.sent += 1
        if DroppingStream.sent == 10:
            future = asyncio.get_running_loop().create_future()
            future.set_result(0)
            return future
        return super().async_send_heap(heap, *args, **kwargs)
spead2.send.asyncio.UdpStream = DroppingStream
"""


def run_sabotaged(name: str, patch: str, *args: str) -> subprocess.CompletedProcess:
    code = HARNESS.format(patch=textwrap.dedent(patch))
    return run(["-c", code, str(EXAMPLES / name), "--timeout", EXAMPLE_TIMEOUT, *args])


@pytest.mark.parametrize(
    "name, patch",
    [
        ("chunk_fengine_udp.py", DROP_SYNC),
        ("chunk_group.py", DROP_SYNC),
        pytest.param("chunk_asyncio.py", DROP_ASYNC, marks=needs_async_ring),
    ],
)
def test_missing_heap_fails(name: str, patch: str):
    result = run_sabotaged(name, patch, "--chunks", "4")
    assert result.returncode == 1, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    errors = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].endswith("heap missing"), result.stdout
    assert "FAILED: 1 problems" in result.stdout.splitlines()


def test_wrong_payload_fails():
    # The F-engine example's sender (a thread) sends one sample changed; the main
    # thread's check computes the true payload.
    patch = """\
    import threading
    true_voltages = example.simulated_voltages
    def simulated_voltages(timestamp, feng_id, frequency):
        voltages = true_voltages(timestamp, feng_id, frequency)
        if threading.current_thread() is not threading.main_thread() and (feng_id, frequency) == (2, 64):
            voltages[5, 3, 1, 0] ^= 1
        return voltages
    example.simulated_voltages = simulated_voltages
    """
    result = run_sabotaged("chunk_fengine_udp.py", patch, "--chunks", "2")
    assert result.returncode == 1, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    errors = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: chunk 1000000, F-engine 2, channel 64: wrong payload",
        "error: chunk 1000001, F-engine 2, channel 64: wrong payload",
    ], result.stdout
