"""Helpers of the AF_XDP tests: peer processes that print ``ready`` (or a JSON error
summary) once set up, and a JSON summary when done."""

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
