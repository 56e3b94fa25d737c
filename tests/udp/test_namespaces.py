"""Transports between two network namespaces joined by a veth pair.

The module creates (as root) two namespaces with random names, joined by a veth
pair with addresses 10.X.Y.1/24 and 10.X.Y.2/24 (MTU 9000) and a multicast route
on each side, and deletes them again in a finalizer.  Senders run in one namespace
and receivers in the other, as subprocesses (``ip netns exec NAME python script``).
Covered: IPv4 multicast with the receiver joining on its veth address, IPv6
multicast joined by interface index (which does not work over ``lo``), IPv4
unicast and TCP.  Payloads are verified by the receiver (udp_support.Collector).

Nothing leaves the namespaces: the 10.X.Y.0/24 addresses exist only inside them.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import select
import shutil
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
TIMEOUT = 30.0

if not hasattr(os, "geteuid") or os.geteuid() != 0:
    pytest.skip("network namespaces need root", allow_module_level=True)
if shutil.which("ip") is None:
    pytest.skip("the ip tool (iproute2) is not installed", allow_module_level=True)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


class Pair:
    def __init__(self) -> None:
        suffix = "%06x" % random.getrandbits(24)
        self.ns = [f"spead2-a-{suffix}", f"spead2-b-{suffix}"]
        self.ifname = [f"sva{suffix}", f"svb{suffix}"]
        subnet = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}"
        self.addr = [f"{subnet}.1", f"{subnet}.2"]
        self.mac = ["02:5e:ad:00:00:01", "02:5e:ad:00:00:02"]
        self.created: list[str] = []

    def setup(self) -> None:
        for ns in self.ns:
            ip("netns", "add", ns)
            self.created.append(ns)
            # No duplicate address detection: link-local IPv6 addresses usable at once.
            for conf in ("all", "default"):
                subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                                f"net.ipv6.conf.{conf}.accept_dad=0"], capture_output=True, timeout=20)
        ip("link", "add", self.ifname[0], "address", self.mac[0], "netns", self.ns[0], "type", "veth",
           "peer", "name", self.ifname[1], "address", self.mac[1], "netns", self.ns[1])
        for i in range(2):
            ns, dev = self.ns[i], self.ifname[i]
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", dev, "mtu", "9000")
            ip("-n", ns, "addr", "add", f"{self.addr[i]}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
            ip("-n", ns, "neigh", "replace", self.addr[1 - i], "lladdr", self.mac[1 - i],
               "dev", dev, "nud", "permanent")

    def teardown(self) -> None:
        for ns in self.created:
            ip("netns", "del", ns, check=False)


@pytest.fixture(scope="module")
def pair():
    probe = ip("netns", "list", check=False)
    if probe.returncode != 0:
        pytest.skip(f"ip netns does not work here: {probe.stderr.strip()}")
    p = Pair()
    try:
        try:
            p.setup()
        except RuntimeError as exc:
            pytest.skip(f"cannot create the namespaces: {exc}")
        yield p
    finally:
        p.teardown()


RECEIVER = r'''
import json, socket, sys
sys.path.insert(0, sys.argv[1])
import spead2, spead2.recv
import udp_support
mode, target, port, ifname, local = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
stream = spead2.recv.Stream(spead2.ThreadPool())
if mode == "mc4":
    stream.add_udp_reader(target, port, interface_address=local)
elif mode == "mc4default":
    stream.add_udp_reader(target, port)  # interface_address "0.0.0.0": the OS chooses
elif mode == "mc4bind":
    stream.add_udp_reader(port, bind_hostname=target)  # a group: joined on the default interface
elif mode == "mc6default":
    stream.add_udp_reader(target, port, interface_index=0)
elif mode == "mc6":
    stream.add_udp_reader(target, port, interface_index=socket.if_nametoindex(ifname))
elif mode == "uc4":
    stream.add_udp_reader(port, bind_hostname=local)
elif mode == "tcp":
    stream.add_tcp_reader(port, bind_hostname=local)
print("READY", flush=True)
collector = udp_support.Collector(stream)
collector.thread.join(20)
stats = stream.stats
print(json.dumps({
    "stopped": not collector.thread.is_alive(),
    "indices": collector.indices,
    "cnts": collector.cnts,
    "errors": [repr(e) for e in collector.errors],
    "heaps": stats["heaps"],
    "flushed": stats["incomplete_heaps_flushed"],
}), flush=True)
'''

SENDER = r'''
import socket, sys
sys.path.insert(0, sys.argv[1])
import spead2, spead2.send
import udp_support
mode, target, port, ifname, local, mps, n, size = (
    sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], int(sys.argv[7]),
    int(sys.argv[8]), int(sys.argv[9]))
tp = spead2.ThreadPool()
config = spead2.send.StreamConfig(max_packet_size=mps, rate=1e8)
if mode == "mc4":
    stream = spead2.send.UdpStream(tp, [(target, port)], config, ttl=1, interface_address=local)
elif mode in ("mc4default", "mc4bind", "mc6default"):
    stream = spead2.send.UdpStream(tp, [(target, port)], config, ttl=1)  # OS-chosen interface
elif mode == "mc6":
    stream = spead2.send.UdpStream(tp, [(target, port)], config, ttl=1,
                                   interface_index=socket.if_nametoindex(ifname))
elif mode == "uc4":
    stream = spead2.send.UdpStream(tp, [(target, port)], config, interface_address=local)
else:
    stream = spead2.send.TcpStream(tp, [(target, port)], config)
udp_support.send_item_heaps(stream, n, size)
print("SENT", flush=True)
'''


def in_ns(ns: str, script: pathlib.Path, *args) -> list[str]:
    return ["ip", "netns", "exec", ns, sys.executable, str(script), str(HERE), *map(str, args)]


def run_pair(pair: Pair, tmp_path, mode: str, target: str, port: int, mps: int,
             n: int = 4, size: int = 1 << 19) -> dict:
    (tmp_path / "receiver.py").write_text(RECEIVER)
    (tmp_path / "sender.py").write_text(SENDER)
    receiver = subprocess.Popen(
        in_ns(pair.ns[1], tmp_path / "receiver.py", mode, target, port, pair.ifname[1], pair.addr[1]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([receiver.stdout], [], [], TIMEOUT)
        assert ready, "receiver did not get ready"
        line = receiver.stdout.readline()
        assert line.strip() == "READY", line + receiver.stderr.read()
        sender = subprocess.run(
            in_ns(pair.ns[0], tmp_path / "sender.py", mode, target, port, pair.ifname[0], pair.addr[0],
                  mps, n, size),
            capture_output=True, text=True, timeout=TIMEOUT)
        assert sender.returncode == 0, sender.stderr[-2000:]
        assert sender.stdout.strip() == "SENT"
        out, err = receiver.communicate(timeout=TIMEOUT)
        assert receiver.returncode == 0, err[-2000:]
        return json.loads(out.strip().splitlines()[-1])
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.communicate()


def check(result: dict, n: int = 4) -> None:
    assert result["errors"] == []
    assert result["stopped"], "the receiver did not see the end-of-stream heap"
    assert result["indices"] == list(range(n))
    assert result["cnts"] == list(range(1, n + 1))
    assert result["heaps"] == n
    assert result["flushed"] == 0


def random_port() -> int:
    return random.randint(20000, 60000)


@pytest.mark.parametrize("mps", [1472, 8972])
def test_multicast_ipv4(pair, tmp_path, mps):
    group = f"239.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    check(run_pair(pair, tmp_path, "mc4", group, random_port(), mps))


@pytest.mark.parametrize("prefix", ["ff15::", "ff12::"])
def test_multicast_ipv6(pair, tmp_path, prefix):
    group = f"{prefix}{random.randint(1, 0xFFFF):x}"
    check(run_pair(pair, tmp_path, "mc6", group, random_port(), 8952))


@pytest.mark.parametrize("mode", ["mc4default", "mc4bind"])
def test_multicast_ipv4_default_interface(pair, tmp_path, mode):
    """Sender with ttl only, receiver joining on the OS's default interface (the only
    multicast route in the namespace goes through the veth)."""
    group = f"239.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    check(run_pair(pair, tmp_path, mode, group, random_port(), 1472))


def test_multicast_ipv6_default_interface(pair, tmp_path):
    group = f"ff15::{random.randint(1, 0xFFFF):x}"
    check(run_pair(pair, tmp_path, "mc6default", group, random_port(), 1452))


def test_unicast_ipv4(pair, tmp_path):
    check(run_pair(pair, tmp_path, "uc4", pair.addr[1], random_port(), 8972))


def test_tcp(pair, tmp_path):
    check(run_pair(pair, tmp_path, "tcp", pair.addr[1], random_port(), 8192))
