"""Network namespaces for running ibverbs code on the test double (tests/ibverbs/double).

``IbvNetns`` creates two namespaces with random names joined by a veth pair:

* ``ns``: holds ``ifname`` (address ``addr``), the interface the double serves.
  The ibverbs program runs here (``command``/``run``/``popen``), with
  ``SPEAD2_IBV_LIBRARY`` and ``SPEAD2_IBV_DOUBLE_INTERFACE`` set (``env``); spead2
  is given ``addr`` as its interface address.
* ``peer_ns``: holds ``peer_ifname`` (``peer_addr``), the far end, for ordinary
  sockets.  ``socket()`` makes a socket inside a namespace from this process (a
  socket keeps its namespace for life), so a test can talk to the ibverbs program
  without a helper process.

Both sides route 224.0.0.0/4 to their veth end, so multicast works in both
directions.  Everything is deleted by ``destroy()``.  Needs root;
``unavailable_reason()`` says why the namespaces cannot be made here (for skips).

``double_stats()`` reads the double's counters from inside the process using it
(e.g. in a helper script run with ``popen``, after the plugin loaded the double).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pathlib
import subprocess
from typing import Callable, NoReturn

import veth_support
from veth_support import VethPair

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "ibv_double.sh"
BUILD_DIR = REPO_ROOT / "build" / "ibv-double"
LIBRARY = BUILD_DIR / "libspead2_ibv_double.so"
SMOKE = BUILD_DIR / "double_smoke"


def unavailable_reason() -> str | None:
    """Why ``IbvNetns`` cannot work on this machine, or None if it can."""
    reason = veth_support.unavailable_reason()
    if reason and reason.startswith("needs root"):
        return "needs root: network namespaces (and the double's raw-packet QPs need CAP_NET_RAW)"
    return reason


def build_double() -> pathlib.Path:
    """Builds (if out of date) the double and double_smoke with scripts/ibv_double.sh."""
    result = subprocess.run(["bash", str(BUILD_SCRIPT), "--build"], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"building the ibverbs double failed:\n{result.stderr[-4000:]}")
    return LIBRARY


def namespaces(library: pathlib.Path, skip: Callable[[str], NoReturn],
               **names: str) -> contextlib.AbstractContextManager[IbvNetns]:
    """The namespaces for a fixture: calls ``skip(reason)`` (``pytest.skip``) where they
    cannot be made, and destroys them at the end."""
    return veth_support.created(IbvNetns(library, **names), skip)


class DoubleStats(ctypes.Structure):
    """struct spead2_ibv_double_stats (tests/ibverbs/double/ibv_double.h)."""

    _fields_ = [
        ("rx_frames", ctypes.c_uint64),
        ("rx_errors", ctypes.c_uint64),
        ("rx_dropped_no_wr", ctypes.c_uint64),
        ("rx_dropped_cq_full", ctypes.c_uint64),
        ("tx_frames", ctypes.c_uint64),
        ("tx_errors", ctypes.c_uint64),
        ("tx_cq_overflow", ctypes.c_uint64),
        ("cq_events", ctypes.c_uint64),
        ("last_rate_limit_kbps", ctypes.c_uint32),
        ("live_qps", ctypes.c_uint32),
    ]


def double_stats(library: str | os.PathLike | None = None) -> dict[str, int]:
    """The double's process-wide counters.  Loading the path the code under test
    loaded (default: $SPEAD2_IBV_LIBRARY) returns that same instance."""
    lib = ctypes.CDLL(str(library or os.environ["SPEAD2_IBV_LIBRARY"]))
    stats = DoubleStats()
    lib.spead2_ibv_double_stats(ctypes.byref(stats), ctypes.c_size_t(ctypes.sizeof(stats)))
    return {name: getattr(stats, name) for name, _ in DoubleStats._fields_}


def drop_net_raw_prefix() -> list[str] | None:
    """A command prefix that runs a program (as root) without CAP_NET_RAW, or None."""
    return veth_support.drop_capabilities_prefix("net_raw")


class IbvNetns(VethPair):
    """The pair of namespaces with the double serving ``ifname`` (see the module doc)."""

    def __init__(self, library: pathlib.Path, *, ifname: str | None = None, peer_ifname: str | None = None,
                 subnet: str | None = None) -> None:
        super().__init__(prefix="ibv", ifname=ifname, peer_ifname=peer_ifname, subnet=subnet)
        self.library = pathlib.Path(library)

    @classmethod
    def create(cls, library: pathlib.Path, **names: str) -> IbvNetns:
        """Creates the namespaces; destroys what was made if a step fails."""
        pair = cls(library, **names)
        pair.bring_up()
        return pair

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for the ibverbs program: the double and its interface."""
        return super().env(**{"SPEAD2_IBV_LIBRARY": str(self.library), "SPEAD2_IBV_DOUBLE_INTERFACE": self.ifname,
                              **extra})
