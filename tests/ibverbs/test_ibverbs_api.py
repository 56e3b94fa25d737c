"""The spead2-ibverbs plugin without a NIC: configs, validation, and the errors that say
what is missing (library, device) — spec §0.2, §1.16, §2.13, §4.9.

The data path runs over the verbs test double (test_ibverbs_data.py); here the
library is either the system's (no RDMA device on a test machine) or a missing file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.send

pytestmark = pytest.mark.skipif(
    not hasattr(spead2.recv.Stream, "add_udp_ibv_reader"), reason="the spead2-ibverbs plugin is not installed"
)

MISSING_LIBRARY = "/nonexistent/libibverbs.so.1"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run @a code in a fresh interpreter with extra environment variables; warnings are errors."""
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=60, env=full_env,
    )


# --------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------


def test_recv_config_defaults_and_constants():
    cls = spead2.recv.UdpIbvConfig
    assert (cls.DEFAULT_BUFFER_SIZE, cls.DEFAULT_MAX_SIZE, cls.DEFAULT_MAX_POLL) == (16777216, 9200, 10)
    config = cls()
    assert config.endpoints == [] and config.interface_address == ""
    assert (config.buffer_size, config.max_size, config.comp_vector, config.max_poll) == (16777216, 9200, 0, 10)
    with pytest.raises(TypeError):
        cls([("239.1.2.3", 8888)])  # keyword-only


def test_recv_config_attributes_and_validation():
    config = spead2.recv.UdpIbvConfig(
        endpoints=[("239.1.2.3", 8888)], interface_address="10.0.0.1", buffer_size=1000, max_size=1500,
        comp_vector=-1, max_poll=3,
    )
    assert config.endpoints == [("239.1.2.3", 8888)]
    config.endpoints.append(("239.1.2.4", 8888))  # a copy: no effect
    assert config.endpoints == [("239.1.2.3", 8888)]
    assert (config.buffer_size, config.max_size, config.comp_vector, config.max_poll) == (1000, 1500, -1, 3)
    config.buffer_size = 0
    assert config.buffer_size == spead2.recv.UdpIbvConfig.DEFAULT_BUFFER_SIZE
    with pytest.raises(ValueError, match="max_size must be positive"):
        config.max_size = 0
    with pytest.raises(ValueError, match="max_poll must be at least 1"):
        config.max_poll = 0
    with pytest.raises(ValueError, match="max_poll must be at least 1"):
        spead2.recv.UdpIbvConfig(max_poll=-5)


def test_send_config_defaults_and_validation():
    cls = spead2.send.UdpIbvConfig
    assert (cls.DEFAULT_BUFFER_SIZE, cls.DEFAULT_MAX_POLL) == (524288, 10)
    config = cls()
    assert (config.endpoints, config.interface_address, config.buffer_size) == ([], "", 524288)
    assert (config.ttl, config.comp_vector, config.max_poll, config.memory_regions) == (1, 0, 10, [])
    config.buffer_size = 0
    assert config.buffer_size == 524288
    with pytest.raises(ValueError, match="max_poll must be at least 1"):
        config.max_poll = 0
    with pytest.raises(TypeError):
        cls([("239.1.2.3", 8888)])


def test_send_config_memory_regions():
    a, b = np.zeros(100, np.uint8), bytearray(50)
    config = spead2.send.UdpIbvConfig(memory_regions=[a, b])
    regions = config.memory_regions
    assert regions[0] is a and regions[1] is b  # the very objects
    regions.append(np.zeros(3))
    assert len(config.memory_regions) == 2
    with pytest.raises(ValueError, match="memory region must have non-zero size"):
        config.memory_regions = [np.zeros(0, np.uint8)]
    with pytest.raises(ValueError, match="memory regions overlap"):
        config.memory_regions = [a[:60], a[50:]]
    assert config.memory_regions[0] is a  # unchanged by a failed assignment
    config.memory_regions = [a[:50], a[50:]]  # adjacent is fine


# --------------------------------------------------------------------------
# Validation order and the clear errors
# --------------------------------------------------------------------------


def add_reader(**kwargs) -> None:
    stream = spead2.recv.Stream(spead2.ThreadPool())
    try:
        stream.add_udp_ibv_reader(spead2.recv.UdpIbvConfig(**kwargs))
    finally:
        stream.stop()


def make_sender(**kwargs) -> None:
    spead2.send.UdpIbvStream(spead2.ThreadPool(), spead2.send.StreamConfig(), spead2.send.UdpIbvConfig(**kwargs))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({}, ValueError, "endpoints is empty"),
        ({"endpoints": [("::1", 8888)], "interface_address": "10.0.0.1"}, ValueError, "endpoint is not an IPv4 address"),
        ({"endpoints": [("239.1.2.3", 8888)]}, ValueError, "interface address"),
        ({"endpoints": [("239.1.2.3", 8888)], "interface_address": "::1"}, ValueError, "interface address"),
        ({"endpoints": [("239.1.2.3", 8888)], "interface_address": "no-such-host.invalid"}, RuntimeError,
         "Host not found"),
    ],
)
def test_reader_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        add_reader(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({}, ValueError, "endpoints is empty"),
        ({"endpoints": [("10.0.0.2", 8888)], "interface_address": "10.0.0.1"}, ValueError,
         "endpoint is not an IPv4 multicast address"),
        ({"endpoints": [("ff02::1", 8888)], "interface_address": "10.0.0.1"}, ValueError,
         "endpoint is not an IPv4 multicast address"),
        ({"endpoints": [("239.1.2.3", 8888)]}, ValueError, "interface address"),
        ({"endpoints": [("239.1.2.3", 8888)], "interface_address": "::1"}, ValueError, "interface address"),
        ({"endpoints": [("239.1.2.3", 8888)], "interface_address": "no-such-host.invalid"}, RuntimeError,
         "Host not found"),
    ],
)
def test_sender_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_sender(**kwargs)


def test_no_interface_with_that_address():
    with pytest.raises(RuntimeError, match="No network interface has the interface address 192.0.2.77"):
        add_reader(endpoints=[("239.1.2.3", 8888)], interface_address="192.0.2.77")


def test_missing_library_is_a_clear_error_and_nothing_else_breaks():
    # spec §0.2: the names exist; using them says what is missing; import is quiet.
    result = run_python(
        """
        import socket
        import numpy as np
        import spead2, spead2.recv, spead2.send
        assert hasattr(spead2.recv.Stream, "add_udp_ibv_reader")
        assert hasattr(spead2.send, "UdpIbvStream") and hasattr(spead2.recv, "UdpIbvConfig")
        assert not hasattr(spead2, "IbvContext")
        for attempt in (
            lambda: spead2.recv.Stream(spead2.ThreadPool()).add_udp_ibv_reader(spead2.recv.UdpIbvConfig(
                endpoints=[("239.1.2.3", 8888)], interface_address="127.0.0.1")),
            lambda: spead2.send.UdpIbvStream(spead2.ThreadPool(), spead2.send.StreamConfig(),
                spead2.send.UdpIbvConfig(endpoints=[("239.1.2.3", 8888)], interface_address="127.0.0.1")),
        ):
            try:
                attempt()
            except RuntimeError as e:
                print("error:", e)
            else:
                raise AssertionError("no error")
        # UDP still works
        stream = spead2.recv.Stream(spead2.ThreadPool())
        stream.add_udp_reader(0, bind_hostname="127.0.0.1")
        print("udp ok")
        """,
        SPEAD2_IBV_LIBRARY=MISSING_LIBRARY,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[2] == "udp ok"
    for line in lines[:2]:
        assert f"Could not open {MISSING_LIBRARY}" in line
        assert "libibverbs" in line
    # Quiet about ibverbs (the UDP reader may still warn about this host's socket buffers).
    assert "ibverbs" not in result.stderr.lower() and "Warning" not in result.stderr


def test_no_device_is_a_clear_error():
    """The system library (rdma-core) on a machine without an RDMA device."""
    result = run_python(
        """
        import spead2, spead2.recv
        assert not hasattr(spead2, "IbvContext")
        try:
            spead2.recv.Stream(spead2.ThreadPool()).add_udp_ibv_reader(spead2.recv.UdpIbvConfig(
                endpoints=[("239.1.2.3", 8888)], interface_address="127.0.0.1"))
        except RuntimeError as e:
            print(e)
        """,
    )
    assert result.returncode == 0, result.stderr
    if "Could not open" in result.stdout:
        pytest.skip("libibverbs.so.1 is not installed here")
    if result.stdout == "":
        pytest.skip("this machine has an RDMA device serving 127.0.0.1")
    assert "No RDMA device" in result.stdout


# --------------------------------------------------------------------------
# SPEAD2_IBV_INTERFACE: add_udp_reader through ibverbs
# --------------------------------------------------------------------------


OVERRIDE_PROGRAM = """
import socket
import spead2, spead2.recv
stream = spead2.recv.Stream(spead2.ThreadPool())
def attempt(name, *args, **kwargs):
    try:
        stream.add_udp_reader(*args, **kwargs)
    except Exception as e:
        print(name, type(e).__name__, e)
    else:
        print(name, "ok")
attempt("multicast", "239.1.2.3", 0)
attempt("multicast-kw", multicast_group="239.1.2.3", port=0, max_size=1500)
attempt("explicit-interface", "239.1.2.3", 0, 9200, 1000, "no-such-host.invalid")
attempt("unicast", 0, bind_hostname="127.0.0.1")
attempt("unicast-group-form", "127.0.0.1", 0)
"""


def test_override_routes_ipv4_multicast_readers_through_ibverbs():
    result = run_python(OVERRIDE_PROGRAM, SPEAD2_IBV_INTERFACE="127.0.0.1", SPEAD2_IBV_LIBRARY=MISSING_LIBRARY)
    assert result.returncode == 0, result.stderr
    outcome = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    # Multicast calls reach ibverbs (whose library is missing here)...
    assert outcome["multicast"].startswith("RuntimeError Could not open")
    assert outcome["multicast-kw"].startswith("RuntimeError Could not open")
    # ...with the call's own interface address, when it names one.
    assert "Host not found" in outcome["explicit-interface"]
    # Everything else stays on the socket path.
    assert outcome["unicast"] == "ok"
    assert outcome["unicast-group-form"].startswith("ValueError endpoint is not multicast")  # the socket path's


def test_without_the_variable_multicast_stays_on_sockets():
    result = run_python(OVERRIDE_PROGRAM, SPEAD2_IBV_LIBRARY=MISSING_LIBRARY)
    assert result.returncode == 0, result.stderr
    outcome = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert outcome["multicast"] == "ok"
    assert "Host not found" in outcome["explicit-interface"]  # the socket path's own resolution
