"""The command-line tools' --ibv options over the verbs test double (spec §8).

spead2_send.py --ibv in the double's namespace reaches spead2_recv.py (sockets) in the
peer namespace, and the other way round.
"""

from __future__ import annotations

import pathlib
import re
import sys
import time

import pytest

import spead2
import spead2.recv

pytestmark = pytest.mark.skipif(
    not hasattr(spead2.recv.Stream, "add_udp_ibv_reader"), reason="the spead2-ibverbs plugin is not installed"
)

BIN = pathlib.Path(sys.executable).parent
ENDPOINT = "239.10.11.13:7150"


def tool(name: str) -> str:
    return str(BIN / name)


def receive(pair, recv_args, send_args, recv_peer):
    """Start spead2_recv.py, run spead2_send.py for 5 heaps, return the receiver's output."""
    recv = pair.popen(tool("spead2_recv.py"), *recv_args, ENDPOINT, peer=recv_peer)
    try:
        time.sleep(1.0)  # the receiver binds (no port to poll for on the ibverbs side)
        send = pair.run(tool("spead2_send.py"), "--heaps", "5", "--heap-size", "65536", "--rate", "0.1",
                        *send_args, ENDPOINT, peer=not recv_peer, timeout=60)
        assert send.returncode == 0, send.stdout + send.stderr
        out, err = recv.communicate(timeout=30)
        assert recv.returncode == 0, out + err
        return out
    finally:
        if recv.poll() is None:  # a failure must not leave it running
            recv.kill()
            recv.wait()


def received_heaps(out: str) -> int:
    return len(re.findall(r"^Received heap \d+ on stream", out, re.M))


def test_send_ibv_to_socket_receiver(ibv_netns):
    out = receive(ibv_netns, ["--bind", ibv_netns.peer_addr], ["--ibv", "--bind", ibv_netns.addr], recv_peer=True)
    assert received_heaps(out) == 5


@pytest.mark.parametrize("vector", ["0", "-1"], ids=["events", "busy-poll"])
def test_socket_sender_to_recv_ibv(ibv_netns, vector):
    out = receive(ibv_netns, ["--ibv", "--ibv-vector", vector, "--bind", ibv_netns.addr],
                  ["--bind", ibv_netns.peer_addr, "--ttl", "1"], recv_peer=False)
    assert received_heaps(out) == 5


def test_ibv_requires_bind(ibv_netns):
    result = ibv_netns.run(tool("spead2_recv.py"), "--ibv", ENDPOINT)
    assert result.returncode == 2
    assert "--ibv requires --bind" in result.stderr
