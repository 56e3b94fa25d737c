"""Our tools with the reference spead2 4.5.1's tools, each run as a peer process.

The reference lives in its own venv (the ``reference_python`` fixture); nothing of it
is imported here. Its sender -> our receiver and ours -> its receiver, over UDP and
TCP, our bench master against its agent, and the tools' ``--help`` side by side.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess

import pytest
from test_bench import SMALL_PASSES, check_master_output
from test_send_recv import SMALL, received, shutdown_block
from tools_support import HAVE_IBV, TIMEOUT, finish, free_port, tool, wait_bound

#: Options of ours that the reference does not have.
OUR_OPTIONS = ("--stats-interval", "--pass-size")
#: The reference has ibverbs compiled in; we have these options only with the plugin.
IBV_OPTION = re.compile(r"^--(send-|recv-)?ibv")


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


def help_entries(text: str) -> tuple[set[str], list[list[str]]]:
    """The ``--flags`` of a help text's usage block, and its other lines grouped into
    entries (an option's line with its continuation lines; headings; positionals)."""
    usage, _, rest = text.partition("\n\n")
    assert usage.startswith("usage:")
    flags = set(re.findall(r"(?<![\w-])--[A-Za-z][\w-]*", usage))
    entries: list[list[str]] = []
    for line in rest.splitlines():
        if line.startswith("    ") and entries:
            entries[-1].append(line)
        else:
            entries.append([line])
    return flags, entries


def keep(option: str, reference: bool) -> bool:
    """Whether the reference's (or our) option or entry is expected in the other's help."""
    if reference:
        return HAVE_IBV or not IBV_OPTION.match(option)
    return option not in OUR_OPTIONS


@pytest.mark.parametrize("argv", [["spead2_send.py"], ["spead2_recv.py"], ["spead2_bench.py", "master"]],
                         ids=["send", "recv", "bench-master"])
def test_help_matches_the_reference(reference_python, argv):
    """Line by line the reference's options, plus ours (and its ibverbs ones only with the plugin)."""
    texts = []
    for python in (reference_python, None):
        result = subprocess.run([tool(argv[0], python), *argv[1:], "--help"], capture_output=True, text=True,
                                timeout=TIMEOUT, env={**os.environ, "COLUMNS": "80"}, check=False)
        assert result.returncode == 0, result.stderr
        texts.append(result.stdout)
    (ref_flags, ref_entries), (our_flags, our_entries) = (help_entries(text) for text in texts)
    assert {flag for flag in ref_flags if keep(flag, True)} == {flag for flag in our_flags if keep(flag, False)}
    if HAVE_IBV:
        assert any(IBV_OPTION.match(flag) for flag in our_flags)
    assert ([entry for entry in ref_entries if keep(entry[0].split()[0] if entry[0].strip() else "", True)]
            == [entry for entry in our_entries if keep(entry[0].split()[0] if entry[0].strip() else "", False)])
