"""Helpers for ``tests/tools``: the installed console scripts run as real processes.

Network traffic stays on 127.0.0.1 / ::1.
"""

from __future__ import annotations

import errno
import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
import time

import pytest

import spead2.recv

BIN = pathlib.Path(sys.executable).parent
TIMEOUT = 60.0

#: Whether an installed plugin provides ibverbs: the tools then have their ``--ibv``
#: options (``cmdline._HAVE_IBV`` is the same test).
HAVE_IBV = hasattr(spead2.recv.Stream, "add_udp_ibv_reader")
#: For the tests of what the tools do with the ibverbs plugin installed.
requires_ibv = pytest.mark.skipif(not HAVE_IBV, reason="the spead2-ibverbs plugin is not installed")
#: For the tests of what the tools do without it (no ibverbs options).
requires_no_ibv = pytest.mark.skipif(HAVE_IBV,
                                     reason="the spead2-ibverbs plugin is installed: the ibverbs options exist")


def tool(name: str, python: str | None = None) -> str:
    """Path of console script ``name`` in our venv (or next to ``python``)."""
    directory = pathlib.Path(python).parent if python else BIN
    path = directory / name
    if not path.exists():
        pytest.fail(f"{path} is not installed")
    return str(path)


def free_port(host: str = "127.0.0.1") -> int:
    """A port number free for both UDP and TCP on ``host`` (the bench agent uses both).

    Chosen below the kernel's ephemeral range (32768 and up), so that an outgoing
    connection of another test cannot take it between this check and its use.
    """
    while True:
        port = random.randint(20000, 32000)
        if port_free(port, socket.SOCK_DGRAM, host) and port_free(port, socket.SOCK_STREAM, host):
            return port


def port_free(port: int, kind: int, host: str = "127.0.0.1") -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def wait_bound(port: int, kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1",
               process: subprocess.Popen | None = None, timeout: float = TIMEOUT) -> None:
    """Wait until something has bound ``port`` (the tool under test is ready to receive)."""
    deadline = time.monotonic() + timeout
    while port_free(port, kind, host):
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode} before binding port {port}: "
                                 f"{process.stdout.read() if process.stdout else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing bound port {port} within {timeout} s")
        time.sleep(0.02)


class Processes:
    """Starts tool processes; kills the ones still running at teardown."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, *argv: str, **kwargs) -> subprocess.Popen:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.STDOUT)
        kwargs.setdefault("text", True)
        process = subprocess.Popen(argv, **kwargs)
        self.started.append(process)
        return process

    def run(self, *argv: str, timeout: float = TIMEOUT, **kwargs) -> subprocess.CompletedProcess:
        process = self.start(*argv, **kwargs)
        out, err = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(argv, process.returncode, out, err)

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


def finish(process: subprocess.Popen, timeout: float = TIMEOUT) -> tuple[int, str]:
    """Wait for ``process`` to exit by itself; its status and output."""
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def interrupt(process: subprocess.Popen, timeout: float = TIMEOUT) -> tuple[int, str]:
    """Ctrl-C (SIGINT) ``process`` and wait for it to exit; its status and output."""
    process.send_signal(signal.SIGINT)
    return finish(process, timeout)
