"""spead2_bench.py: the agent's control protocol, and a master finding a rate over loopback.

Passes are test-sized (``--pass-size``), so a whole search takes seconds. The control
protocol is spoken here by hand, as spead2 4.x's master speaks it (its JSON keys).
"""

from __future__ import annotations

import json
import re
import socket

import numpy as np
import pytest
from tools_support import TIMEOUT, free_port, requires_ibv, requires_no_ibv, tool, wait_bound

import spead2
import spead2.send

MASTER_LINE = re.compile(
    r"^(Limited by send speed|Send rate: \d+\.\d{3} Gbps|Rate: \d+\.\d{3} Gbps \(\d+\.\d{3} actual\): (GOOD|BAD)"
    r"|Sustainable rate: \d+\.\d{3} Gbps)$"
)
SMALL_PASSES = ("--heap-size", "262144", "--pass-size", "4000000")


def check_master_output(out: str) -> float:
    """The master's lines are the spec's, in order; returns the sustainable rate."""
    lines = [line for line in out.splitlines() if not line.startswith(("WARNING:", "INFO:"))]
    assert lines and all(MASTER_LINE.match(line) for line in lines), out
    assert lines[0] == "Limited by send speed" or lines[0].startswith("Send rate: "), out
    if lines[0] == "Limited by send speed":
        assert len(lines) == 2, out
    else:
        assert all(line.startswith("Rate: ") for line in lines[1:-1]), out
        assert len(lines) >= 3, out  # at least one step of the search
    rate = float(re.match(r"^Sustainable rate: (\S+) Gbps$", lines[-1]).group(1))
    assert rate > 0
    return rate


@pytest.fixture
def agent(processes):
    port = free_port()
    process = processes.start(tool("spead2_bench.py"), "--log", "ERROR", "agent", str(port))
    wait_bound(port, socket.SOCK_STREAM, process=process)
    return port


def test_master_finds_a_rate(agent, processes):
    master = processes.run(tool("spead2_bench.py"), "master", *SMALL_PASSES, f"127.0.0.1:{agent}",
                           timeout=120)
    assert master.returncode == 0, master.stdout
    check_master_output(master.stdout)


def test_master_quiet_prints_only_the_rate(agent, processes):
    master = processes.run(tool("spead2_bench.py"), "--log", "ERROR", "master", "--quiet", *SMALL_PASSES,
                           f"127.0.0.1:{agent}", timeout=120)
    assert master.returncode == 0, master.stdout
    assert re.fullmatch(r"\d+\.\d{3}\n", master.stdout), master.stdout


def test_master_without_agent_is_a_clean_error(processes):
    port = free_port()
    master = processes.run(tool("spead2_bench.py"), "master", *SMALL_PASSES, f"127.0.0.1:{port}")
    assert master.returncode == 1
    assert "spead2_bench.py: error:" in master.stdout
    assert "Traceback" not in master.stdout


class Control:
    """A control connection to the agent, speaking newline-terminated JSON."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.file = self.sock.makefile("rwb")

    def send(self, command: dict | bytes) -> bytes:
        self.file.write(command if isinstance(command, bytes) else json.dumps(command).encode() + b"\n")
        self.file.flush()
        return self.file.readline()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def start_command(port: int, **receiver: object) -> dict:
    """What spead2 4.x's master sends (the keys the agent reads), for unicast to ``port``."""
    settings = {"buffer": 1 << 20, "bind": None, "threads": 1, "affinity": None, "memcpy_nt": False,
                "concurrent_heaps": 4, "substreams": 1, "ring_heaps": 4, "mem_pool": True, "mem_lower": 1024,
                "mem_upper": 2048, "mem_max_free": 12, "mem_initial": 8, "packet": 9200}
    settings.update(receiver)
    return {"cmd": "start", "args": {"multicast": None, "endpoint": f"127.0.0.1:{port}", "rate_method": "AUTO"},
            "protocol": {"tcp": False, "pyspead": False}, "receiver": settings}


def send_heaps(port: int, n: int) -> None:
    stream = spead2.send.UdpStream(spead2.ThreadPool(), [("127.0.0.1", port)],
                                   spead2.send.StreamConfig(rate=1e8))
    item_group = spead2.send.ItemGroup()
    item_group.add_item(0x1000, "payload", "", shape=(1024,), dtype=np.uint8, value=np.zeros(1024, np.uint8))
    for _ in range(n):
        stream.send_heap(item_group.get_heap(descriptors="all", data="all"))
    # The agent's stream ends once it has read everything before this (one socket, in
    # order), however busy the machine: "stop" then counts them all.
    stream.send_heap(item_group.get_end())


def test_agent_counts_heaps(agent):
    control = Control(agent)
    try:
        assert control.send(start_command(agent)) == b"ready\n"
        send_heaps(agent, 25)
        reply = control.send({"cmd": "stop"})
        assert json.loads(reply) == {"received_heaps": 25}
        # a second pass on the same connection starts counting from zero
        assert control.send(start_command(agent)) == b"ready\n"
        send_heaps(agent, 3)
        assert json.loads(control.send({"cmd": "stop"})) == {"received_heaps": 3}
        control.file.write(b'{"cmd": "exit"}\n')
        control.file.flush()
        assert control.file.readline() == b""  # the agent closed the connection
    finally:
        control.close()


def assert_still_serving(port: int) -> None:
    """A new control connection to the agent still runs a pass."""
    control = Control(port)
    try:
        assert control.send(start_command(port)) == b"ready\n"
        assert json.loads(control.send({"cmd": "stop"})) == {"received_heaps": 0}
    finally:
        control.close()


def start_error(port: int, command: dict) -> str:
    """Send a ``start`` the agent cannot run: its error, and the connection it then closes."""
    control = Control(port)
    try:
        reply = json.loads(control.send(command))
        assert set(reply) == {"error"}, reply
        assert control.file.readline() == b""  # the agent closed the connection
        return reply["error"]
    finally:
        control.close()


def test_agent_survives_bad_commands(agent):
    control = Control(agent)
    try:
        assert control.send(b"this is not json\n") == b""  # connection dropped
    finally:
        control.close()
    assert_still_serving(agent)


@requires_no_ibv
def test_agent_without_ibverbs_refuses_ibv(agent):
    error = start_error(agent, start_command(agent, ibv=True, bind="127.0.0.1"))
    assert error == "ibverbs was requested but this agent has no ibverbs plugin"
    assert_still_serving(agent)


@requires_ibv
def test_agent_with_ibverbs_reports_ibv_errors(agent):
    # The agent builds an ibverbs reader; without an interface address the plugin refuses it.
    command = start_command(agent, ibv=True, ibv_vector=0, ibv_max_poll=10)
    assert command["receiver"]["bind"] is None
    assert start_error(agent, command) == "interface address has not been specified"
    assert_still_serving(agent)
