"""Two network namespaces joined by a veth pair, created (and deleted) by tests.

``VethPair`` creates namespaces with random names:

* ``ns`` holds ``ifname`` (address ``addr``): where the code under test runs
  (``command``/``run``/``popen``);
* ``peer_ns`` holds ``peer_ifname`` (``peer_addr``), the far end, for ordinary
  sockets: ``socket()`` makes a socket inside a namespace from this process (a socket
  keeps its namespace for life), so a test can talk across without a helper process.

Each end has ``queues`` transmit and receive queues (a frame sent on queue *i*
arrives on the peer's queue *i*).  Both sides route 224.0.0.0/4 to their veth end, so multicast works in both
directions.  The veth carries wire-sized frames (``gso_max_segs 1``) as a real link
does.  Everything is deleted by ``destroy()``, which first kills the processes
``popen`` started that still run.  Needs root; ``unavailable_reason()``
says why the namespaces cannot be made here (for skips).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import shutil
import socket
import subprocess
import threading
from typing import Callable, Iterator, NoReturn, TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")
P = TypeVar("P", bound="VethPair")


def unavailable_reason() -> str | None:
    """Why ``VethPair`` cannot work on this machine, or None if it can."""
    if os.geteuid() != 0:
        return "needs root: network namespaces"
    if shutil.which("ip") is None:
        return "the ip tool (iproute2) is not installed"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=20)
    if probe.returncode != 0:
        return f"ip netns does not work here: {probe.stderr.strip()}"
    return None


def drop_capabilities_prefix(*capabilities: str) -> list[str] | None:
    """A command prefix that runs a program (as root) without the given capabilities
    (names as in ``net_raw``), or None if neither setpriv nor capsh is installed."""
    if shutil.which("setpriv"):
        # Out of the bounding set and the inheritable set: gone after exec.
        return ["setpriv", "--inh-caps=-all", "--bounding-set=" + ",".join("-" + c for c in capabilities), "--"]
    if shutil.which("capsh"):
        return ["capsh", "--drop=" + ",".join("cap_" + c for c in capabilities), "--", "-c", 'exec "$0" "$@"']
    return None


@contextlib.contextmanager
def created(pair: P, skip: Callable[[str], NoReturn]) -> Iterator[P]:
    """Create ``pair`` for a fixture: calls ``skip(reason)`` (``pytest.skip``) where the
    namespaces cannot be made, and destroys them at the end."""
    try:
        pair.bring_up()
    except RuntimeError as exc:
        skip(f"cannot create the namespaces: {exc}")
    try:
        yield pair
    finally:
        pair.destroy()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def in_namespace(name: str, fn: Callable[[], T]) -> T:
    """Runs fn in a short-lived thread moved into the namespace: setns affects
    only the calling thread, so the rest of the process stays where it is."""
    libc = ctypes.CDLL(None, use_errno=True)
    outcome: dict = {}

    def run() -> None:
        try:
            with open(f"/run/netns/{name}", "rb") as handle:
                if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {name}: {os.strerror(err)}")
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=f"netns-{name}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class VethPair:
    """The pair of namespaces; interface names and the /24 subnet are random unless
    given (names are per namespace, so fixed ones such as ``eth0`` cannot clash)."""

    def __init__(self, *, prefix: str = "veth", ifname: str | None = None, peer_ifname: str | None = None,
                 subnet: str | None = None, mtu: int = 1500, queues: int = 1) -> None:
        suffix = "%06x" % random.getrandbits(24)
        self.ns = f"spead2-{prefix}-{suffix}"
        self.peer_ns = f"spead2-{prefix}p-{suffix}"
        self.ifname = ifname or f"{prefix[:3]}{suffix}"
        self.peer_ifname = peer_ifname or f"{prefix[:2]}p{suffix}"
        subnet = subnet or f"10.{random.randint(100, 199)}.{random.randint(0, 255)}"
        self.addr = f"{subnet}.1"
        self.peer_addr = f"{subnet}.2"
        self.mtu = mtu
        self.queues = queues
        self._created: list[str] = []
        self._processes: list[subprocess.Popen] = []

    def bring_up(self) -> None:
        """Creates the namespaces; destroys what was made if a step fails."""
        try:
            self._setup()
        except BaseException:
            self.destroy()
            raise

    def _setup(self) -> None:
        for ns in (self.ns, self.peer_ns):
            _ip("netns", "add", ns)
            self._created.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            # No duplicate address detection: IPv6 link-local addresses usable at once.
            for conf in ("all", "default"):
                subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{conf}.accept_dad=0"],
                               capture_output=True, timeout=20)
        queues = ("numtxqueues", str(self.queues), "numrxqueues", str(self.queues))
        _ip("link", "add", self.ifname, "netns", self.ns, *queues, "type", "veth",
            "peer", "name", self.peer_ifname, "netns", self.peer_ns, *queues)
        for ns, dev, addr in ((self.ns, self.ifname, self.addr), (self.peer_ns, self.peer_ifname, self.peer_addr)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            # Wire-sized frames, as a real link carries: a veth would pass a UDP GSO
            # super-frame (up to 64 kB) through whole, which no NIC ever receives.
            _ip("-n", ns, "link", "set", "dev", dev, "gso_max_segs", "1", "mtu", str(self.mtu))
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)

    def destroy(self) -> None:
        # A test that failed half-way may leave a peer process waiting for data.
        for proc in self._processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self._processes.clear()
        for ns in reversed(self._created):
            _ip("netns", "del", ns, check=False)
        self._created.clear()

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for programs run in the namespaces."""
        return dict(os.environ, **extra)

    def command(self, *argv: str | os.PathLike, peer: bool = False) -> list[str]:
        return ["ip", "netns", "exec", self.peer_ns if peer else self.ns, *map(str, argv)]

    def run(self, *argv: str | os.PathLike, peer: bool = False, env: dict | None = None,
            timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
        """Runs a command in a namespace (``ns`` by default) with ``env()``."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.command(*argv, peer=peer), env=self.env() if env is None else env,
                              timeout=timeout, **kwargs)

    def popen(self, *argv: str | os.PathLike, peer: bool = False, env: dict | None = None,
              **kwargs) -> subprocess.Popen:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("text", True)
        proc = subprocess.Popen(self.command(*argv, peer=peer), env=self.env() if env is None else env, **kwargs)
        self._processes.append(proc)
        return proc

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_DGRAM, proto: int = 0, *,
               peer: bool = True) -> socket.socket:
        """A socket inside the peer namespace (or ``ns``, with peer=False)."""
        return in_namespace(self.peer_ns if peer else self.ns, lambda: socket.socket(family, type, proto))

    def multicast_sender(self) -> socket.socket:
        """A UDP socket on the peer side sending multicast out of the veth."""
        sock = self.socket()
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(self.peer_addr))
        return sock

    def multicast_receiver(self, group: str, port: int) -> socket.socket:
        """A UDP socket on the peer side joined to group on the veth, bound to port."""
        sock = self.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((group, port))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                        socket.inet_aton(group) + socket.inet_aton(self.peer_addr))
        return sock
