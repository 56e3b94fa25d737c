"""Helpers of the AF_XDP tests: peer processes that print ``ready`` (or a JSON error
summary) once set up, and a JSON summary when done; the payload they send and check."""

from __future__ import annotations

import json
import subprocess


def wait_ready(proc: subprocess.Popen) -> dict | None:
    """None once the reader is up; the receiver's error summary if adding it failed."""
    line = proc.stdout.readline()
    if line.strip() == "ready":
        return None
    if line.startswith("{"):
        return json.loads(line)
    proc.kill()
    raise AssertionError(f"receiver did not start: {line!r} {proc.communicate()[1][-3000:]}")


def finish(proc: subprocess.Popen, timeout: float = 60) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


#: Put before the senders' and receivers' scripts (which import numpy as np and
#: spead2): the payload of heap ``cnt`` (item "x"), and a receive loop checking it.
PAYLOAD = r"""
def payload(elements, cnt):
    return (np.arange(elements, dtype=np.uint32) * 7 + cnt).astype(np.uint32)

def receive(stream, stop_after=None):
    # Heaps with cnt >= 100 received, and how many of them carried the right payload.
    ig = spead2.ItemGroup()
    heaps = good = 0
    for heap in stream:
        ig.update(heap)
        if "x" in ig and heap.cnt >= 100:
            heaps += 1
            good += bool(np.array_equal(ig["x"].value, payload(ig["x"].value.size, heap.cnt)))
            if heaps == stop_after:
                stream.stop()
    return heaps, good
"""
