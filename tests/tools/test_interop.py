"""Our tools with the reference spead2 4.5.1's tools, each run as a peer process.

The reference lives in its own venv (the ``reference_python`` fixture); nothing of it
is imported here. Its sender -> our receiver and ours -> its receiver, over UDP and
TCP, and our bench master against its agent.
"""

from __future__ import annotations

import socket

from test_bench import SMALL_PASSES, check_master_output
from test_send_recv import SMALL, received, shutdown_block
from tools_support import finish, free_port, tool, wait_bound


def run_pair(processes, receiver: list[str], sender: list[str], port: int, kind: int = socket.SOCK_DGRAM):
    recv = processes.start(*receiver)
    wait_bound(port, kind, process=recv)
    send = processes.run(*sender)
    assert send.returncode == 0, send.stdout
    status, out = finish(recv)
    assert status == 0, out
    return send.stdout, out


def test_reference_send_to_our_recv(processes, reference_python):
    port = free_port()
    name = f"127.0.0.1:{port}"
    sent, out = run_pair(
        processes,
        [tool("spead2_recv.py"), "--values", "--descriptors", name],
        [tool("spead2_send.py", reference_python), "--heaps", "3", *SMALL, name],
        port,
    )
    assert sent.strip().startswith("Sent 819 bytes in ")  # the same bytes as ours
    assert received(out, name) == [1, 2, 3]
    assert "    Descriptor for Test item 1 (0x1001)" in out
    assert out.count("Test item 0 = [0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0]") == 3
    assert shutdown_block(out, name)["heaps"] == 3


def test_our_send_to_reference_recv(processes, reference_python):
    port = free_port()
    name = f"127.0.0.1:{port}"
    ours, theirs = run_pair(
        processes,
        [tool("spead2_recv.py", reference_python), "--values", "--descriptors", name],
        [tool("spead2_send.py"), "--heaps", "3", *SMALL, name],
        port,
    )
    assert ours.strip().startswith("Sent 819 bytes in ")
    assert received(theirs, name) == [1, 2, 3]
    assert "    Descriptor for Test item 0 (0x1000)" in theirs
    assert "      dtype:       uint16" in theirs
    assert shutdown_block(theirs, name)["heaps"] == 3


def test_outputs_match_the_reference(processes, reference_python):
    """The same session with its tools and with ours prints the same lines."""
    outputs = []
    for python in (reference_python, None):
        port = free_port()
        _, out = run_pair(
            processes,
            [tool("spead2_recv.py", python), "--values", "--descriptors", str(port)],
            [tool("spead2_send.py", python), "--heaps", "4", *SMALL, f"127.0.0.1:{port}"],
            port,
        )
        # Warnings differ in wording; batching statistics depend on timing.
        lines = [line for line in out.splitlines()
                 if not line.startswith("WARNING:") and not line.startswith(("batches:", "max_batch:"))]
        outputs.append([line.replace(str(port), "PORT") for line in lines])
    assert outputs[1] == outputs[0]


def test_tcp_both_ways(processes, reference_python):
    for receiver_python, sender_python in ((None, reference_python), (reference_python, None)):
        port = free_port()
        name = f"127.0.0.1:{port}"
        _, out = run_pair(
            processes,
            [tool("spead2_recv.py", receiver_python), "--tcp", name],
            [tool("spead2_send.py", sender_python), "--tcp", "--heaps", "5", "--heap-size", "100000", name],
            port,
            socket.SOCK_STREAM,
        )
        assert received(out, name) == [1, 2, 3, 4, 5]
        assert shutdown_block(out, name)["heaps"] == 5


def test_our_master_with_reference_agent(processes, reference_python):
    port = free_port()
    agent = processes.start(tool("spead2_bench.py", reference_python), "agent", str(port))
    wait_bound(port, socket.SOCK_STREAM, process=agent)
    master = processes.run(tool("spead2_bench.py"), "master", *SMALL_PASSES, f"127.0.0.1:{port}", timeout=120)
    assert master.returncode == 0, master.stdout
    check_master_output(master.stdout)
    assert agent.poll() is None  # the agent serves on after the master is done
    agent.kill()
    out, _ = agent.communicate()
    assert "Traceback" not in out, out
