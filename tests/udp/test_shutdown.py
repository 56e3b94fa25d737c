"""A TCP peer that stops reading can never hang a sender's destruction or the interpreter's exit.

Each case runs in its own interpreter: the peer is a listening socket that accepts
nothing and reads nothing, so the kernel's buffers fill and the send stalls for good.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

STALL = textwrap.dedent("""
    import signal, socket, sys, time
    import numpy as np
    import spead2, spead2.send

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)             # completes the handshake, never reads

    stream = spead2.send.TcpStream(
        spead2.ThreadPool(), socket.create_connection(listener.getsockname()),
        spead2.send.StreamConfig(max_packet_size=8972))
    heap = spead2.send.Heap()
    heap.add_item(spead2.Item(0x1000, "x", "", shape=(64 << 20,), dtype=np.uint8,
                              value=np.zeros(64 << 20, np.uint8)))

    def interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        stream.send_heap(heap)     # stalls: only Ctrl-C gets the caller out
        print("the peer should have stalled the send")
        sys.exit(1)
    except KeyboardInterrupt:
        pass                       # the heap is still queued on the stream
    start = time.monotonic()
    if sys.argv[1] == "del":
        del stream                 # lingers, then cancels the heap
        print("del took", round(time.monotonic() - start, 1))
    else:
        print("exiting with a stalled stream at", time.time(), flush=True)   # the exit registry stops it
""")


def _run(mode: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", STALL, mode], capture_output=True, text=True, timeout=60)
    return result, time.monotonic() - start


def test_del_of_stalled_stream_cancels_after_linger():
    result, _ = _run("del")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    took = float(line.split()[2])
    assert 4.5 <= took < 20, line         # the 5 s linger, then the heap is cancelled
    assert "no progress" in result.stderr


def test_exit_with_stalled_stream_does_not_hang():
    result, _ = _run("exit")
    ended = time.time()
    assert result.returncode == 0, result.stderr
    exit_began = float(result.stdout.split("exiting with a stalled stream at")[1])
    # Well under the 5 s linger: the exit registry stopped the stream, nothing waited it out.
    assert ended - exit_began < 3.0
