"""``--stats-interval``: live statistics as a user sees them.

On a terminal the status lines are redrawn in place: checked in a real terminal
emulator (tmux: what is on the screen after the run) and on a pseudo-terminal (the
bytes written). Piped, they are plain lines, one set per interval. The default output
without the option is covered by test_send_recv.py.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import time
import uuid

import pytest
from tools_support import TIMEOUT, finish, free_port, tool, wait_bound

STATUS = re.compile(
    r"^\[\s*\d+\.\ds\] (?P<name>\S+): (?P<rate>\d+\.\d) heaps/s, (?P<gbps>\d+\.\d{3}) Gb/s, heaps (?P<heaps>\d+), "
    r"packets (?P<packets>\d+), incomplete (?P<incomplete>\d+) \(evicted (?P<evicted>\d+)\), "
    r"malformed (?P<malformed>\d+), rejected (?P<rejected>\d+), socket drops (?P<drops>\d+)$"
)
SUMMARY = re.compile(
    r"^Summary for stream (?P<name>\S+): (?P<heaps>\d+) heaps, (?P<bytes>\d+) bytes in \d+\.\d{3}s "
    r"\(\d+\.\d heaps/s, \d+\.\d{3} Gb/s\); incomplete heaps (?P<incomplete>\d+), malformed packets (\d+), "
    r"rejected packets (\d+), socket drops (?P<drops>\d+)$"
)
SEND_STATUS = re.compile(r"^\[\s*\d+\.\ds\] sent (\d+) heaps, (\d+) bytes: \d+\.\d heaps/s, \d+\.\d{3} Gb/s; errors 0$")
# 100 heaps of 100 kB at 0.4 Gb/s: about 0.2 s of sending, several intervals of 0.05 s.
HEAPS = 100
SEND = ("--heaps", str(HEAPS), "--heap-size", "100000", "--rate", "0.4")


class Tmux:
    """A private tmux server (its own socket) with one window of a fixed size."""

    def __init__(self) -> None:
        self.socket = f"spead2-test-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              check=True, timeout=30).stdout

    def start(self, command: str, width: int = 200) -> None:
        # "; sleep" keeps the pane (and its screen) after the command exits.
        self("new-session", "-d", "-x", str(width), "-y", "40", f"{command}; echo EXITED $?; sleep 600")

    def screen(self) -> list[str]:
        return [line.rstrip() for line in self("capture-pane", "-p", "-J").splitlines()]

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if any(text in line for line in screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear on the screen:\n" + "\n".join(screen))
            time.sleep(0.05)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


@pytest.fixture
def tmux():
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/setup.sh installs it when run as root with apt)")
    session = Tmux()
    yield session
    session.kill()


def test_receiver_lines_redrawn_in_place_on_a_terminal(tmux, processes):
    ports = [free_port(), free_port()]
    names = [f"127.0.0.1:{ports[0]}", str(ports[1])]
    tmux.start(f"{tool('spead2_recv.py')} --log ERROR --stats-interval 0.05 {' '.join(names)}")
    for port in ports:
        wait_bound(port)
    send = processes.run(tool("spead2_send.py"), *SEND, f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}")
    assert send.returncode == 0
    screen = tmux.wait_for("EXITED")
    assert "EXITED 0" in screen
    status = [m for m in map(STATUS.match, screen) if m]
    # one line per stream on the screen however many intervals passed: redrawn, not appended
    assert sorted(m["name"] for m in status) == sorted(names), screen
    assert [int(m["heaps"]) for m in status] == [HEAPS // 2] * 2  # redrawn once more at the end
    summaries = {m["name"]: m for m in map(SUMMARY.match, screen) if m}
    assert set(summaries) == set(names), screen
    for name in names:
        assert int(summaries[name]["heaps"]) == HEAPS // 2
        assert int(summaries[name]["bytes"]) == HEAPS // 2 * 100000
        assert int(summaries[name]["incomplete"]) == 0
    assert not any("\x1b" in line for line in screen)
    # no per-heap lines with --stats-interval (only with --values or --descriptors)
    assert not any(line.startswith("Received heap") for line in screen)


def test_sender_rate_redrawn_in_place_on_a_terminal(tmux):
    port = free_port()
    tmux.start(f"{tool('spead2_send.py')} --stats-interval 0.05 {' '.join(SEND)} 127.0.0.1:{port}")
    screen = tmux.wait_for("EXITED")
    assert "EXITED 0" in screen
    status = [line for line in screen if SEND_STATUS.match(line)]
    assert len(status) == 1, screen
    assert any(line.startswith("Sent ") and line.endswith(" Gb/s") for line in screen)


def test_narrow_terminal_lines_wrapped_by_the_tool(tmux, processes):
    port = free_port()
    tmux.start(f"{tool('spead2_recv.py')} --log ERROR --stats-interval 0.05 {port}", width=60)
    wait_bound(port)
    assert processes.run(tool("spead2_send.py"), *SEND, f"127.0.0.1:{port}").returncode == 0
    screen = tmux.wait_for("EXITED")
    starts = [i for i, line in enumerate(screen) if re.match(rf"^\[\s*\d+\.\ds\] {port}: ", line)]
    assert len(starts) == 1, screen  # rows the terminal wrapped itself would leave stale halves behind
    block = screen[starts[0] : screen.index("EXITED 0")]
    assert all(len(row) < 60 for row in block)
    assert all(row.startswith("    ") for row in block[1:])
    joined = " ".join(row.strip() for row in block)
    assert STATUS.match(joined) and int(STATUS.match(joined)["heaps"]) == HEAPS, block  # nothing cut off


def read_all(fd: int, process: subprocess.Popen) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other end closed
            break
        if not chunk:
            break
        data += chunk
    process.wait(timeout=TIMEOUT)
    return data


def test_pseudo_terminal_gets_cursor_movement(processes):
    port = free_port()
    controller, terminal = pty.openpty()
    try:
        recv = processes.start(tool("spead2_recv.py"), "--log", "ERROR", "--stats-interval", "0.05", str(port),
                               stdout=terminal, stderr=terminal, text=False)
        os.close(terminal)
        wait_bound(port)
        assert processes.run(tool("spead2_send.py"), *SEND, f"127.0.0.1:{port}").returncode == 0
        output = read_all(controller, recv).decode()
    finally:
        os.close(controller)
    assert recv.returncode == 0
    # each redraw moves up over the previous status line and erases it
    assert output.count("\x1b[1F\x1b[J") >= 2, output
    assert "Summary for stream" in output


def test_piped_output_is_plain_lines(processes):
    port = free_port()
    recv = processes.start(tool("spead2_recv.py"), "--log", "ERROR", "--stats-interval", "0.05", str(port))
    wait_bound(port, process=recv)
    assert processes.run(tool("spead2_send.py"), *SEND, f"127.0.0.1:{port}").returncode == 0
    status, out = finish(recv)
    assert status == 0
    assert "\x1b" not in out
    lines = out.splitlines()
    status_lines = [m for m in map(STATUS.match, lines) if m]
    assert len(status_lines) >= 2  # a time series: one line per interval
    counts = [int(m["heaps"]) for m in status_lines]
    assert counts == sorted(counts)
    assert max(int(m["packets"]) for m in status_lines) > 0
    summary = [m for m in map(SUMMARY.match, lines) if m]
    assert len(summary) == 1 and int(summary[0]["heaps"]) == HEAPS
    assert int(status_lines[-1]["heaps"]) == HEAPS  # the final counts, after the stream ended


def test_values_still_printed_with_stats_interval(processes):
    port = free_port()
    recv = processes.start(tool("spead2_recv.py"), "--values", "--stats-interval", "10", str(port))
    wait_bound(port, process=recv)
    assert processes.run(tool("spead2_send.py"), "--heaps", "2", "--heap-size", "8", "--dtype", "u1",
                         f"127.0.0.1:{port}").returncode == 0
    status, out = finish(recv)
    assert status == 0
    assert f"Received heap 1 on stream {port}" in out
    assert "Test item 0 = [0 0 0 0 0 0 0 0]" in out
    assert re.search(rf"^Summary for stream {port}: 2 heaps, 16 bytes", out, re.M)


def test_socket_drops_are_reported(processes):
    """A receive buffer too small for a burst: the kernel's drop count reaches the live line."""
    port = free_port()
    recv = processes.start(tool("spead2_recv.py"), "--log", "ERROR", "--stats-interval", "0.05",
                           "--buffer", "4096", "--ring-heaps", "1", str(port))
    wait_bound(port, process=recv)
    send = processes.run(tool("spead2_send.py"), "--heaps", "20", "--heap-size", "1000000", "--packet", "8972",
                         f"127.0.0.1:{port}")
    assert send.returncode == 0
    time.sleep(0.5)
    recv.send_signal(2)
    status, out = finish(recv)
    assert status == 0
    summary = [m for m in map(SUMMARY.match, out.splitlines()) if m]
    assert len(summary) == 1, out
    assert int(summary[0]["drops"]) > 0, out
