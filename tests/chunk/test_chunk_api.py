"""spead2.recv.Chunk and spead2.recv.ChunkRingbuffer (spec §6.2, §6.7).

Buffers move into a ring with the chunk (reading ``None`` meanwhile) and come back
on the same Python object; a failed put leaves the chunk as it was.
"""

from __future__ import annotations

import gc
import select
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import numpy as np
import pytest

import spead2
import spead2.recv


def make_chunk(cls=spead2.recv.Chunk, **kwargs) -> spead2.recv.Chunk:
    return cls(present=np.zeros(4, np.uint8), data=np.zeros(64, np.uint8), **kwargs)


# --------------------------------------------------------------------------
# Chunk
# --------------------------------------------------------------------------


def test_chunk_defaults():
    chunk = spead2.recv.Chunk()
    assert chunk.chunk_id == -1
    assert chunk.stream_id == 0
    assert chunk.present is None and chunk.data is None and chunk.extra is None


def test_chunk_keywords_and_identity_of_buffers():
    present, data, extra = np.zeros(4, np.uint8), bytearray(16), memoryview(bytearray(8))
    chunk = spead2.recv.Chunk(chunk_id=7, stream_id=3, present=present, data=data, extra=extra)
    assert (chunk.chunk_id, chunk.stream_id) == (7, 3)
    assert chunk.present is present and chunk.data is data and chunk.extra is extra
    chunk.data = None
    assert chunk.data is None


def test_chunk_is_keyword_only():
    with pytest.raises(TypeError):
        spead2.recv.Chunk(5)
    with pytest.raises(TypeError):
        spead2.recv.Chunk(colour="red")


@pytest.mark.parametrize("name", ["present", "data", "extra"])
def test_chunk_buffer_errors(name):
    chunk = spead2.recv.Chunk()
    with pytest.raises(ValueError, match="ndarray is not C-contiguous"):
        setattr(chunk, name, np.zeros((4, 4), np.uint8)[:, 0])
    with pytest.raises(BufferError, match="Object is not writable."):
        setattr(chunk, name, b"read-only")
    with pytest.raises(TypeError):
        setattr(chunk, name, 42)
    assert getattr(chunk, name) is None  # a failed assignment changes nothing


@pytest.mark.parametrize("kwargs", [{"stream_id": -5}, {"chunk_id": 2**63}, {"chunk_id": 1.5}])
def test_chunk_integer_conversion(kwargs):
    with pytest.raises(TypeError):
        spead2.recv.Chunk(**kwargs)


def test_chunk_holds_an_export():
    """While assigned, the buffer cannot be resized under the chunk."""
    data = bytearray(16)
    chunk = spead2.recv.Chunk(data=data)
    with pytest.raises(BufferError):
        data.extend(b"x")
    chunk.data = None
    data.extend(b"x")


# --------------------------------------------------------------------------
# ChunkRingbuffer
# --------------------------------------------------------------------------


def test_ring_round_trip_same_object():
    class Tagged(spead2.recv.Chunk):
        pass

    ring = spead2.recv.ChunkRingbuffer(2)
    chunk = make_chunk(Tagged, chunk_id=9)
    chunk.tag = "mine"
    data = chunk.data
    ring.put(chunk)
    assert chunk.data is None and chunk.present is None and chunk.extra is None  # in flight
    assert ring.qsize() == 1 and not ring.empty() and not ring.full()
    out = ring.get()
    assert out is chunk and type(out) is Tagged and out.tag == "mine"
    assert out.data is data and out.chunk_id == 9


def test_ring_fifo_full_empty():
    ring = spead2.recv.ChunkRingbuffer(2)
    assert ring.maxsize == 2 and ring.empty()
    chunks = [make_chunk(chunk_id=i) for i in range(3)]
    ring.put_nowait(chunks[0])
    ring.put(chunks[1])
    assert ring.full()
    with pytest.raises(spead2.Full):
        ring.put_nowait(chunks[2])
    assert chunks[2].data is not None  # a failed put leaves the chunk usable
    assert [ring.get_nowait().chunk_id, ring.get().chunk_id] == [0, 1]
    with pytest.raises(spead2.Empty):
        ring.get_nowait()


@pytest.mark.parametrize("missing, message", [("data", "data buffer is not set"),
                                              ("present", "present buffer is not set")])
def test_put_requires_buffers(missing, message):
    chunk = make_chunk()
    setattr(chunk, missing, None)
    ring = spead2.recv.ChunkRingbuffer(1)
    for put in (ring.put, ring.put_nowait):
        with pytest.raises(ValueError, match=message):
            put(chunk)
    assert ring.empty()


def test_put_checks_data_before_present():
    with pytest.raises(ValueError, match="data buffer is not set"):
        spead2.recv.ChunkRingbuffer(1).put(spead2.recv.Chunk())


def test_ring_maxsize_zero_refused():
    with pytest.raises(ValueError):
        spead2.recv.ChunkRingbuffer(0)
    with pytest.raises(TypeError):
        spead2.recv.ChunkRingbuffer(-1)


def test_stop_drains_then_raises():
    ring = spead2.recv.ChunkRingbuffer(2)
    ring.put(make_chunk(chunk_id=1))
    assert ring.stop() is True
    assert ring.stop() is True
    chunk = make_chunk()
    with pytest.raises(spead2.Stopped):
        ring.put(chunk)
    with pytest.raises(spead2.Stopped):
        ring.put_nowait(chunk)
    assert chunk.data is not None
    assert ring.get().chunk_id == 1
    with pytest.raises(spead2.Stopped):
        ring.get()
    with pytest.raises(spead2.Stopped):
        ring.get_nowait()


def test_iteration_ends_at_stop():
    ring = spead2.recv.ChunkRingbuffer(3)
    for i in range(3):
        ring.put(make_chunk(chunk_id=i))
    ring.stop()
    assert iter(ring) is ring
    assert [chunk.chunk_id for chunk in ring] == [0, 1, 2]


def test_producers():
    ring = spead2.recv.ChunkRingbuffer(1)
    ring.add_producer()
    ring.add_producer()
    assert ring.remove_producer() is False
    ring.put(make_chunk())  # still running
    assert ring.remove_producer() is True
    with pytest.raises(spead2.Stopped):
        ring.put(make_chunk())
    assert ring.get() is not None


def test_blocking_get_woken_by_put_and_stop():
    ring = spead2.recv.ChunkRingbuffer(1)
    got = []
    thread = threading.Thread(target=lambda: got.append(ring.get()))
    thread.start()
    time.sleep(0.05)
    chunk = make_chunk()
    ring.put(chunk)
    thread.join(5)
    assert got == [chunk]

    failed = []

    def wait_stopped():
        try:
            ring.get()
        except spead2.Stopped:
            failed.append(True)

    thread = threading.Thread(target=wait_stopped)
    thread.start()
    time.sleep(0.05)
    ring.stop()
    thread.join(5)
    assert failed == [True]


def test_blocking_put_woken_by_get():
    ring = spead2.recv.ChunkRingbuffer(1)
    ring.put(make_chunk(chunk_id=1))
    thread = threading.Thread(target=lambda: ring.put(make_chunk(chunk_id=2)))
    thread.start()
    time.sleep(0.05)
    assert thread.is_alive()
    assert ring.get().chunk_id == 1
    thread.join(5)
    assert ring.get().chunk_id == 2


def test_exit_with_daemon_thread_blocked_in_put():
    # While the interpreter finalises, CPython ends a daemon thread that wakes up to take
    # the GIL back by unwinding its stack: put's chunk, held in that frame, used to be
    # handed back (and released) without the GIL.  Builds with assertions (the sanitizer
    # suite) abort there; others corrupted reference counts silently.  The object
    # deleted during finalisation sleeps, so that the blocked put wakes up meanwhile.
    script = textwrap.dedent("""
        import threading, time
        import numpy as np
        import spead2.recv

        def make_chunk():
            return spead2.recv.Chunk(present=np.zeros(4, np.uint8), data=np.zeros(64, np.uint8))

        class SlowFinalisation:
            def __del__(self):
                time.sleep(0.2)

        def put():
            started.set()
            ring.put(make_chunk())

        ring = spead2.recv.ChunkRingbuffer(1)
        ring.put(make_chunk())
        started = threading.Event()
        threading.Thread(target=put, daemon=True).start()
        started.wait()
        time.sleep(0.1)
        slow = SlowFinalisation()
        print("exiting", flush=True)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "exiting\n"


def readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def test_readiness_fds():
    ring = spead2.recv.ChunkRingbuffer(1)
    assert not readable(ring.data_fd) and readable(ring.space_fd)
    ring.put(make_chunk())
    assert readable(ring.data_fd) and not readable(ring.space_fd)
    ring.get()
    assert not readable(ring.data_fd) and readable(ring.space_fd)
    ring.stop()
    assert readable(ring.data_fd) and readable(ring.space_fd)


def test_ring_releases_chunks_it_holds():
    ring = spead2.recv.ChunkRingbuffer(1)
    chunk = make_chunk()
    ref = weakref.ref(chunk)
    ring.put(chunk)
    del chunk
    gc.collect()
    assert ref() is not None  # the ring keeps it alive
    del ring
    gc.collect()
    assert ref() is None
