"""Installing spead2 the way users do: from the wheelhouse, offline, into fresh venvs.

``scripts/wheels.sh`` builds the wheelhouse; every pip command here runs with
``--no-index`` (and ``PIP_NO_INDEX``), so the reference implementation, which owns the
name ``spead2`` on PyPI, can never be resolved instead of ours.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import venv

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

pytestmark = pytest.mark.slow


def _offline_env(wheelhouse: pathlib.Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    # No configuration file either: a machine-wide find-links or index must not leak in.
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


class Venv:
    """A fresh virtual environment that installs only from the wheelhouse."""

    def __init__(self, path: pathlib.Path, wheelhouse: pathlib.Path):
        venv.create(path, with_pip=True)
        self.python = str(path / "bin" / "python")
        self.env = _offline_env(wheelhouse)
        self.env["PATH"] = str(path / "bin") + os.pathsep + os.environ.get("PATH", "")

    def pip(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([self.python, "-m", "pip", *args], env=self.env, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def run(self, code: str) -> subprocess.CompletedProcess:
        """Run code with warnings as errors at import; fails the test on a non-zero exit."""
        result = subprocess.run([self.python, "-c", textwrap.dedent(code)], env=self.env, capture_output=True,
                                text=True, timeout=120, cwd="/")
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def distributions(self) -> set[str]:
        listed = self.pip("list", "--format=freeze").stdout.split()
        return {line.split("==")[0].lower() for line in listed}


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    env = dict(os.environ, VENV=sys.prefix)
    subprocess.run([str(ROOT / "scripts" / "wheels.sh"), str(out)], check=True, env=env, timeout=1800,
                   capture_output=True)
    return out


def _has_ibverbs(wheelhouse: pathlib.Path) -> bool:
    return any(wheelhouse.glob("spead2_ibverbs-*.whl"))


def test_wheelhouse_contents(wheelhouse):
    names = sorted(p.name for p in wheelhouse.glob("*.whl"))
    ours = [n for n in names if n.startswith(("spead2-", "spead2_"))]
    assert {n.split("-")[0] for n in ours} >= {"spead2", "spead2_core", "spead2_udp", "spead2_chunk"}, names
    for name in ours:
        assert name.split("-")[1] == "4.5.1", name
        if not name.endswith("-none-any.whl"):
            assert "manylinux" in name, f"{name} was not repaired for manylinux"
    for third_party in ("numpy", "pluggy", "meson_python", "meson", "ninja", "pybind11"):
        assert any(n.startswith(third_party + "-") for n in names), f"no {third_party} wheel in {names}"


def test_plugin_wheels_share_the_core_library(wheelhouse):
    """Only spead2-core's wheel carries libspead2_core.so: one core per process."""
    import zipfile

    carriers = [w.name for w in wheelhouse.glob("spead2*.whl")
                if any(n.endswith("/libspead2_core.so") or "libspead2_core" in n.rsplit("/", 1)[-1]
                       for n in zipfile.ZipFile(w).namelist())]
    assert len(carriers) == 1 and carriers[0].startswith("spead2_core-"), carriers


UDP_ROUND_TRIP = """
    import socket
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import numpy as np
        import spead2, spead2.recv, spead2.send
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    tp = spead2.ThreadPool()
    stream = spead2.recv.Stream(tp, spead2.recv.StreamConfig(max_heaps=4))
    stream.add_udp_reader(port, bind_hostname="127.0.0.1")
    sender = spead2.send.UdpStream(tp, [("127.0.0.1", port)], spead2.send.StreamConfig(rate=1e8))
    ig = spead2.send.ItemGroup()
    data = np.arange(100000, dtype=np.uint32)
    ig.add_item(0x1000, "data", "payload", shape=data.shape, dtype=data.dtype, value=data)
    sender.send_heap(ig.get_heap())
    sender.send_heap(ig.get_end())
    rig = spead2.ItemGroup()
    heaps = 0
    for heap in stream:
        rig.update(heap)
        heaps += 1
    np.testing.assert_array_equal(rig["data"].value, data)
    print("udp round trip:", heaps, "heap(s)")
"""


def test_install_with_ibverbs_extra(wheelhouse, tmp_path):
    if not _has_ibverbs(wheelhouse):
        pytest.skip("spead2-ibverbs was not built here (no rdma-core headers)")
    env = Venv(tmp_path / "venv", wheelhouse)
    # With the AF_XDP extra too where it could be built here.
    xdp = any(wheelhouse.glob("spead2_xdp-*.whl"))
    env.pip("install", "spead2[ibverbs,xdp]" if xdp else "spead2[ibverbs]")
    assert {"spead2", "spead2-core", "spead2-udp", "spead2-chunk", "spead2-ibverbs"} <= env.distributions()
    if xdp:
        assert "spead2-xdp" in env.distributions()
        env.run("import spead2.recv, spead2.send; assert hasattr(spead2.recv.Stream, 'add_udp_xdp_reader')"
                "; assert hasattr(spead2.send, 'UdpXdpStream')")
    assert "udp round trip: 1 heap(s)" in env.run(UDP_ROUND_TRIP).stdout
    result = env.run(
        """
        import spead2, spead2.recv, spead2.send, spead2.send.asyncio
        assert hasattr(spead2.recv.Stream, "add_udp_ibv_reader")
        for module, name in [(spead2.recv, "UdpIbvConfig"), (spead2.send, "UdpIbvConfig"),
                             (spead2.send, "UdpIbvStream"), (spead2.send.asyncio, "UdpIbvStream")]:
            assert hasattr(module, name), name
        try:
            spead2.recv.Stream(spead2.ThreadPool()).add_udp_ibv_reader(spead2.recv.UdpIbvConfig(
                endpoints=[("239.1.2.3", 8888)], interface_address="127.0.0.1"))
        except RuntimeError as e:
            print(e)
        else:
            print("no error")
        """
    )
    message = result.stdout.strip()
    # Either rdma-core finds no device or it is missing: both say what to do.
    if message.startswith("No RDMA device"):
        assert "ConnectX" in message and "ib_uverbs" in message, message
    else:
        assert message.startswith("Could not open") and "libibverbs" in message, message


def test_install_plain_and_uninstall_a_plugin(wheelhouse, tmp_path):
    env = Venv(tmp_path / "venv", wheelhouse)
    env.pip("install", "spead2")
    installed = env.distributions()
    assert {"spead2", "spead2-core", "spead2-udp", "spead2-chunk"} <= installed
    assert "spead2-ibverbs" not in installed
    result = env.run(
        """
        import warnings
        warnings.simplefilter("error")
        import spead2, spead2.recv, spead2.send, spead2.send.asyncio, spead2.recv.asyncio
        assert hasattr(spead2.recv.Stream, "add_udp_reader") and hasattr(spead2.send, "UdpStream")
        assert hasattr(spead2.recv, "ChunkRingStream") and hasattr(spead2.recv, "ChunkStreamRingGroup")
        optional = [n for m in (spead2, spead2.recv, spead2.send, spead2.recv.Stream) for n in dir(m)
                    if "ibv" in n.lower() or "xdp" in n.lower()]
        assert not optional, optional
        print("plain ok")
        """
    )
    assert result.stdout.strip() == "plain ok" and result.stderr == ""
    assert "udp round trip: 1 heap(s)" in env.run(UDP_ROUND_TRIP).stdout

    env.pip("uninstall", "--yes", "spead2-udp")
    result = env.run(
        """
        import warnings
        warnings.simplefilter("error")
        import numpy as np
        import spead2, spead2.recv, spead2.send
        assert not hasattr(spead2.recv.Stream, "add_udp_reader") and not hasattr(spead2.send, "UdpStream")
        assert not hasattr(spead2.recv.Stream, "add_tcp_reader") and not hasattr(spead2.send, "TcpStream")
        assert hasattr(spead2.recv, "ChunkRingStream")
        tp = spead2.ThreadPool()
        queue = spead2.InprocQueue()
        stream = spead2.recv.Stream(tp)
        stream.add_inproc_reader(queue)
        sender = spead2.send.InprocStream(tp, [queue])
        ig = spead2.send.ItemGroup()
        ig.add_item(0x1000, "x", "x", shape=(8,), dtype=np.int64, value=np.arange(8))
        sender.send_heap(ig.get_heap())
        queue.stop()
        rig = spead2.ItemGroup()
        for heap in stream:
            rig.update(heap)
        assert list(rig["x"].value) == list(range(8))
        print("without udp ok")
        """
    )
    assert result.stdout.strip() == "without udp ok" and result.stderr == ""


def test_third_party_plugin_wheel(wheelhouse, tmp_path):
    """A plugin author's wheel, built in pip's isolated environment from the wheelhouse alone."""
    env = Venv(tmp_path / "venv", wheelhouse)
    env.pip("install", "spead2")
    dist = tmp_path / "dist"
    env.pip("wheel", "--no-deps", "-w", str(dist), str(FIXTURES / "example_transport"))
    wheels = list(dist.glob("spead2_example_transport-*.whl"))
    assert len(wheels) == 1, list(dist.iterdir())
    env.pip("install", str(wheels[0]))
    result = env.run(
        """
        import warnings
        warnings.simplefilter("error")
        import numpy as np
        import spead2, spead2.recv, spead2.send
        assert hasattr(spead2.recv.Stream, "add_packet_list_reader")
        ig = spead2.send.ItemGroup()
        ig.add_item(0x1000, "x", "x", shape=(4,), dtype=np.uint32, value=np.arange(4, dtype=np.uint32))
        stream = spead2.recv.Stream(spead2.ThreadPool())
        stream.add_packet_list_reader([bytes(p) for p in spead2.send.PacketGenerator(ig.get_heap(), 1, 1472)])
        rig = spead2.ItemGroup()
        for heap in stream:
            rig.update(heap)
        print(rig["x"].value.tolist())
        """
    )
    assert result.stdout.strip() == "[0, 1, 2, 3]" and result.stderr == ""
