"""Shared fixtures for ``tests/udp`` (the spead2-udp plugin: UDP, TCP and pcap transports).

The project runs pytest with ``--import-mode=importlib``, which does not put test
directories on ``sys.path``; this conftest does so for ``tests/udp`` so test modules
can import ``udp_support``.

Network traffic stays on loopback addresses (or in network namespaces that
``test_namespaces.py`` creates itself).  Multicast over ``lo`` needs the interface's
MULTICAST flag (and, for IPv6, a multicast route via ``lo``); when running as root
the ``loopback_multicast*`` fixtures switch these on for the session and restore the
previous state at the end, otherwise the tests needing them are skipped.
"""

from __future__ import annotations

import os
import pathlib
import random
import select
import shutil
import socket
import struct
import subprocess
import sys

import pytest

_HERE = pathlib.Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import spead2  # noqa: E402
import spead2.recv  # noqa: E402
import udp_support  # noqa: E402

IFF_MULTICAST = 0x1000


@pytest.fixture
def thread_pool():
    """A fresh ``spead2.ThreadPool`` (two workers) per test."""
    return spead2.ThreadPool(2)


@pytest.fixture
def make_stream(thread_pool):
    """Factory for ``spead2.recv.Stream`` (or ``cls=...``), stopped at teardown.

    Without positional arguments the stream uses the ``thread_pool`` fixture.
    """
    created = []

    def make(*args, cls=spead2.recv.Stream, **kwargs):
        if not args and "thread_pool" not in kwargs:
            args = (thread_pool,)
        stream = cls(*args, **kwargs)
        created.append(stream)
        return stream

    yield make
    for stream in created:
        udp_support.run_in_thread(stream.stop)


# --------------------------------------------------------------------------
# Multicast on the loopback interface
# --------------------------------------------------------------------------


def _lo_flags() -> int:
    try:
        return int(pathlib.Path("/sys/class/net/lo/flags").read_text().strip(), 16)
    except OSError:
        return 0


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=10)


def _probe_multicast(family: int, group: str) -> str | None:
    """Send one datagram to ``group`` over ``lo`` with plain sockets; None if it arrived,
    else the reason it did not."""
    ifindex = socket.if_nametoindex("lo")
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as rx, socket.socket(family, socket.SOCK_DGRAM) as tx:
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            rx.bind((group, 0))
            port = rx.getsockname()[1]
            if family == socket.AF_INET:
                mreq = socket.inet_aton(group) + socket.inet_aton("127.0.0.1")
                rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
                tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
                tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            else:
                mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", ifindex)
                rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
                tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
                tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
            tx.sendto(b"probe", (group, port))
            if not select.select([rx], [], [], 1.0)[0]:
                return "probe datagram did not arrive"
            return None if rx.recv(100) == b"probe" else "probe datagram mangled"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="session")
def loopback_multicast():
    """Make IPv4 multicast work on ``lo`` for the session (restored afterwards); skip if impossible."""
    changed = False
    if not _lo_flags() & IFF_MULTICAST:
        if os.geteuid() != 0 or shutil.which("ip") is None:
            pytest.skip("lo lacks the MULTICAST flag and we cannot set it (not root / no ip tool)")
        result = _run("ip", "link", "set", "lo", "multicast", "on")
        if result.returncode != 0:
            pytest.skip(f"cannot enable multicast on lo: {result.stderr.strip()}")
        changed = True
    try:
        reason = _probe_multicast(socket.AF_INET, "239.255.0.77")
        if reason is not None:
            pytest.skip(f"IPv4 multicast over lo does not work here: {reason}")
        yield "127.0.0.1"
    finally:
        if changed:
            _run("ip", "link", "set", "lo", "multicast", "off")


@pytest.fixture(scope="session")
def loopback_multicast6(loopback_multicast):
    """Yields the interface index of ``lo`` if IPv6 multicast works over it; skips otherwise.

    Linux has no multicast route via ``lo`` unless ``lo`` had the MULTICAST flag when it
    came up, and it turns IPv6 routes via ``lo`` added later into reject routes, so on
    most hosts this skips; test_namespaces.py covers IPv6 multicast over a veth pair.
    """
    reason = _probe_multicast(socket.AF_INET6, "ff15::77")
    if reason is not None:
        pytest.skip(f"IPv6 multicast over lo does not work on this host ({reason}); "
                    "see test_namespaces.py for IPv6 multicast over veth")
    return socket.if_nametoindex("lo")


@pytest.fixture
def mcast_group4():
    """A random administratively-scoped IPv4 group (so concurrent runs do not mix)."""
    return f"239.255.{random.randint(1, 254)}.{random.randint(1, 254)}"
