#!/usr/bin/env python3
"""Receive cost and highest lossless rate of the AF_XDP reader over a veth pair,
against our recvmmsg UDP reader and the reference's UDP reader.

    python bench/xdp_veth.py --ours .venv/bin/python --reference /work/refenv/bin/python \
        [--rounds 3] [--rate MBps] [--quick] [--json OUT]

Setup: two network namespaces joined by a veth pair (MTU 9000, one queue,
``tests/veth_support.py``).  One sender for every receiver kind: our
``send.UdpXdpStream`` in the peer namespace (the cheapest sender we have, so it
leaves the most CPU to the receiving side) sends 1 MiB heaps (one uint8 item, no
descriptors) in 8972-byte packets to a unicast address.  The receiver, in the other
namespace, is one of

* ``xdp-native``, ``xdp-generic``: our AF_XDP reader (``add_udp_xdp_reader``), with
  the XDP program attached in veth's native mode or the kernel's generic mode;
* ``udp``: our UDP reader (recvmmsg), our interpreter;
* ``reference-udp``: the reference's UDP reader, the reference interpreter.

The UDP receivers use only the 4.x API so that the same receiver script runs under
both interpreters; both get a 16 MiB socket buffer.  Every receiver uses a
``MemoryPool`` (as a real receiver of 1 MiB heaps would) and only counts complete
heaps of the right size.

Measured, per kind, in interleaved rounds (A B C D, A B C D, ...) because the machine
is noisy; medians and ranges are reported:

1. CPU per GB at one fixed rate (``--rate``, MB/s of SPEAD packets) that every kind
   receives losslessly (checked: a kind that lost anything there is flagged).
2. The highest lossless rate: the sender's rate is stepped up geometrically from
   ``--rate`` until a trial loses a heap (a failed step is retried once, so that one
   burst of noise does not end the search) or the sender cannot keep up; reported
   is the rate the sender actually achieved in the last lossless trial, and the rate
   the receiver saw.

How receiver CPU is measured, and why not from the receiver process alone: on a veth
the kernel's receive work for a frame (IP/UDP stack and socket queueing for the UDP
readers; veth NAPI, the XDP program and the copy into the AF_XDP ring for ours --
exactly what AF_XDP is meant to shrink) runs in softirq context, mostly on the
*sender's* CPU, inside the sender's system calls or in no process at all.  This
kernel has no IRQ time accounting (CONFIG_IRQ_TIME_ACCOUNTING off: softirq ticks
that hit a task are added to that task's stime as well as to /proc/stat's
``softirq``), so "all busy CPU minus the sender process's CPU" would subtract
precisely that receive work.  Instead the sender is pinned to CPU 0 and the receiver
to the other CPUs (``taskset``), and /proc/stat is split by CPU and by context:

    receiver side = all busy time on the receiver's CPUs
                    + irq + softirq time on the sender's CPU
    sender side   = user + nice + system time on the sender's CPU

(/proc/stat charges a tick to ``softirq`` whatever task it interrupted, so this is
right to within a tick per ~4 ms.)  The receiver process's own CPU time
(``time.process_time`` in the receiver) is reported as well, and so is the naive
figure (all busy CPU minus the sender process's CPU) for comparison.  Everything is
per GB (1e9 bytes) of heap payload received; the interval runs from the sender's
go to the receiver's end of stream.  CPU used meanwhile by other processes is
measured (from /proc/<pid>/stat) and the trial flagged when above 2% of the machine;
it cannot be split by CPU, so it is not subtracted.

Needs root (namespaces, XDP) and the ``taskset`` tool.  ``net.core.rmem_max`` (which
namespaces read from the initial namespace) is raised to the socket buffer size for
the run and restored at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import IO, Any

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import veth_support  # noqa: E402

PORT = 8888
HEAP_SIZE = 1 << 20
PACKET_SIZE = 8972
DATA_ID = 0x1000
UDP_BUFFER = 16 << 20
SENDER_CPU = 0
STEP = 1.25
KINDS = ("xdp-native", "xdp-generic", "udp", "reference-udp")
USER_HZ = os.sysconf("SC_CLK_TCK")

# Runs under our interpreter and the reference's: only the 4.x receive API for the
# UDP kinds.  Prints "ready" once its reader is added, then one JSON line at the end
# of the stream (the sender's end heap, or a line on stdin if that heap was lost).
RECEIVER = r"""
import json, sys, threading, time
import spead2, spead2.recv
args = json.loads(sys.argv[1])
heap_size = args["heap_size"]
pool = spead2.MemoryPool(heap_size, heap_size + 4096, 32, 16)
stream = spead2.recv.Stream(spead2.ThreadPool(), spead2.recv.StreamConfig(max_heaps=8, memory_allocator=pool),
                            spead2.recv.RingStreamConfig(heaps=16))
if args["xdp_mode"]:
    stream.add_udp_xdp_reader(spead2.recv.UdpXdpConfig(interface=args["interface"], endpoints=[(args["addr"], args["port"])],
                                                       mode=args["xdp_mode"], busy_poll=False))
else:
    stream.add_udp_reader(args["port"], max_size=9200, buffer_size=args["buffer_size"], bind_hostname=args["addr"])

def stop_on_request():
    sys.stdin.readline()
    stream.stop()

threading.Thread(target=stop_on_request, daemon=True).start()
cpu0 = time.process_time()
print("ready", flush=True)
heaps = payload = 0
first = last = 0.0
for heap in stream:
    for item in heap.get_items():
        if item.id == args["data_id"] and memoryview(item).nbytes == heap_size:
            heaps += 1
            payload += heap_size
            last = time.monotonic()
            first = first or last
cpu = time.process_time() - cpu0
stats = stream.stats
out = {"heaps": heaps, "payload": payload, "cpu": cpu, "seconds": last - first}
for name in ("packets", "incomplete_heaps_evicted", "incomplete_heaps_flushed", "transport_dropped_packets",
             "xdp_readers", "xdp_fallbacks"):
    try:
        out[name] = stats[name]
    except (KeyError, IndexError, AttributeError):
        pass
print(json.dumps(out), flush=True)
"""

# Our interpreter only.  Builds everything, prints "ready", sends on a line on stdin
# (so that its start-up is outside the measured interval), prints one JSON line.
SENDER = r"""
import json, sys, time
import numpy as np
import spead2, spead2.send
args = json.loads(sys.argv[1])
batch = 16
config = spead2.send.StreamConfig(max_packet_size=args["packet_size"], rate=args["rate"], max_heaps=batch)
stream = spead2.send.UdpXdpStream(spead2.ThreadPool(), config,
                                  spead2.send.UdpXdpConfig(interface=args["interface"],
                                                           endpoints=[(args["addr"], args["port"])]))
ig = spead2.send.ItemGroup()
ig.add_item(args["data_id"], "data", "payload", shape=(args["heap_size"],), dtype=np.uint8)
ig["data"].value = (np.arange(args["heap_size"]) % 251).astype(np.uint8)
heap = ig.get_heap(descriptors="none", data="all")
n = args["heaps"]
print("ready", flush=True)
sys.stdin.readline()
cpu0 = time.process_time()
start = time.monotonic()
sent = 0
for first in range(0, n, batch):
    refs = [spead2.send.HeapReference(heap, cnt=1 + first + i) for i in range(min(batch, n - first))]
    sent += stream.send_heaps(spead2.send.HeapReferenceList(refs), spead2.send.GroupMode.SERIAL)
seconds = time.monotonic() - start
cpu = time.process_time() - cpu0
stream.send_heap(ig.get_end(), cnt=n + 1)
print(json.dumps({"bytes": sent, "seconds": seconds, "cpu": cpu}), flush=True)
"""


class BenchError(RuntimeError):
    pass


@dataclass
class Trial:
    kind: str
    round: int
    purpose: str  # "cpu" or "search"
    rate: float  # requested, bytes/s
    heaps_sent: int
    heaps: int = 0
    payload: int = 0
    send_rate: float = 0.0  # achieved by the sender, bytes/s
    recv_rate: float = 0.0  # seen by the receiver (first to last complete heap), bytes/s
    rx_side_cpu: float = 0.0  # seconds; see the module docstring
    tx_side_cpu: float = 0.0
    naive_cpu: float = 0.0  # all busy minus the sender process
    rx_process_cpu: float = 0.0
    softirq_cpu: float = 0.0
    sender_process_cpu: float = 0.0
    other_cpu: float = 0.0  # other processes, all CPUs
    steal: float = 0.0
    interval: float = 0.0
    drops: dict[str, int] = field(default_factory=dict)
    receiver_stats: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def lossless(self) -> bool:
        return not self.error and self.heaps == self.heaps_sent and not any(self.drops.values())

    def per_gb(self, seconds: float) -> float:
        return seconds / (self.payload / 1e9) if self.payload else float("nan")

    @property
    def noisy(self) -> bool:
        return self.other_cpu > 0.02 * self.interval * os.cpu_count()


# ---------------------------------------------------------------------------
# /proc readers
# ---------------------------------------------------------------------------


def cpu_ticks() -> dict[int, list[int]]:
    """Per CPU: user nice system idle iowait irq softirq steal (USER_HZ ticks)."""
    result = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *values = line.split()
                result[int(name[3:])] = [int(v) for v in values[:8]]
    return result


def process_ticks(exclude: set[int]) -> dict[int, int]:
    """utime + stime of every process (threads included) except ``exclude`` and
    ksoftirqd, whose time is receive work already counted as softirq."""
    result = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        if comm.startswith("ksoftirqd"):
            continue
        fields = text[text.rindex(")") + 2:].split()
        result[int(entry.name)] = int(fields[11]) + int(fields[12])
    return result


def softnet_dropped() -> int:
    """Frames dropped because a CPU's backlog queue was full (netif_rx on veth)."""
    with open("/proc/net/softnet_stat") as f:
        return sum(int(line.split()[1], 16) for line in f)


def link_drops(pair: veth_support.VethPair) -> dict[str, int]:
    drops = {}
    for peer, dev in ((False, pair.ifname), (True, pair.peer_ifname)):
        out = pair.run("ip", "-s", "-j", "link", "show", "dev", dev, peer=peer).stdout
        stats = json.loads(out)[0]["stats64"]
        drops[f"{'peer' if peer else 'rx'}-link-rx"] = stats["rx"]["dropped"]
        drops[f"{'peer' if peer else 'rx'}-link-tx"] = stats["tx"]["dropped"]
    return drops


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def read_line(proc: subprocess.Popen, timeout: float) -> str | None:
    """The next stdout line, or None at the timeout (the process keeps running)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        return None
    return proc.stdout.readline()


def expect_ready(proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    line = read_line(proc, timeout)
    if line is None or line.strip() != "ready":
        proc.kill()
        _, err = proc.communicate()
        raise BenchError(f"{what} did not start: {(line or '').strip()!r} {err.strip()[-1500:]}")


def write_line(stream: IO[str] | None, text: str) -> None:
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):  # exited, or already closed by communicate()
        pass


def reap(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    try:
        proc.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError):
        pass


class Bench:
    def __init__(self, pair: veth_support.VethPair, pythons: dict[str, str]) -> None:
        self.pair = pair
        self.pythons = pythons
        self.ncpu = os.cpu_count() or 1
        self.rx_cpus = ",".join(str(c) for c in range(self.ncpu) if c != SENDER_CPU)
        self.children: set[subprocess.Popen] = set()

    def popen(self, argv: list[str], peer: bool) -> subprocess.Popen:
        proc = self.pair.popen(*argv, peer=peer, stdin=subprocess.PIPE)
        self.children.add(proc)
        return proc

    def kill_children(self) -> None:
        for proc in list(self.children):
            reap(proc)
        self.children.clear()

    def trial(self, kind: str, rnd: int, purpose: str, rate: float, heaps: int) -> Trial:
        t = Trial(kind=kind, round=rnd, purpose=purpose, rate=rate, heaps_sent=heaps)
        pair = self.pair
        rx_args = dict(heap_size=HEAP_SIZE, data_id=DATA_ID, interface=pair.ifname, addr=pair.addr, port=PORT,
                       buffer_size=UDP_BUFFER, xdp_mode=kind[4:] if kind.startswith("xdp-") else "")
        tx_args = dict(heap_size=HEAP_SIZE, data_id=DATA_ID, interface=pair.peer_ifname, addr=pair.addr, port=PORT,
                       packet_size=PACKET_SIZE, rate=rate, heaps=heaps)
        python = self.pythons["reference" if kind == "reference-udp" else "ours"]
        rx = tx = None
        try:
            rx = self.popen(["taskset", "-c", self.rx_cpus, python, "-c", RECEIVER, json.dumps(rx_args)], peer=False)
            expect_ready(rx, f"{kind} receiver")
            tx = self.popen(["taskset", "-c", str(SENDER_CPU), self.pythons["ours"], "-c", SENDER,
                             json.dumps(tx_args)], peer=True)
            expect_ready(tx, "sender")
            mine = {os.getpid(), rx.pid, tx.pid}
            snmp0, softnet0, links0 = self.ns_snmp(), softnet_dropped(), link_drops(pair)
            procs0 = process_ticks(mine)
            cpu0, wall0 = cpu_ticks(), time.monotonic()
            write_line(tx.stdin, "go")

            expected = heaps * HEAP_SIZE / rate if rate else heaps * HEAP_SIZE / 1e8
            line = read_line(tx, 3 * expected + 60)
            if not line:
                raise BenchError(f"sender: no report ({'timeout' if line is None else tx.communicate()[1][-1500:]})")
            sent = json.loads(line)
            # Ends with the end heap; stopped from outside if that heap was lost.
            line = read_line(rx, 2.0)
            if line is None:
                write_line(rx.stdin, "stop")
                line = read_line(rx, 30)
            cpu1, wall1 = cpu_ticks(), time.monotonic()
            procs1 = process_ticks(mine)
            if not line:
                raise BenchError(f"{kind} receiver: no report ({rx.communicate()[1].strip()[-1500:]})")
            got = json.loads(line)
            snmp1, softnet1, links1 = self.ns_snmp(), softnet_dropped(), link_drops(pair)
        except BenchError as exc:
            t.error = str(exc)
            return t
        finally:
            for proc in (tx, rx):
                if proc is not None:
                    write_line(proc.stdin, "stop")
            for proc in (tx, rx):
                if proc is not None:
                    reap(proc)
                    self.children.discard(proc)

        t.heaps, t.payload = got["heaps"], got["payload"]
        t.receiver_stats = {k: v for k, v in got.items() if k not in ("heaps", "payload", "cpu", "seconds")}
        t.send_rate = sent["bytes"] / sent["seconds"] if sent["seconds"] > 0 else 0.0
        t.recv_rate = (t.heaps - 1) * HEAP_SIZE / got["seconds"] if got["seconds"] > 0 else 0.0
        t.interval = wall1 - wall0
        t.rx_process_cpu = got["cpu"]
        t.sender_process_cpu = sent["cpu"]
        d = {c: [b - a for a, b in zip(cpu0[c], cpu1[c])] for c in cpu1}
        # user nice system idle iowait irq softirq steal
        busy = {c: v[0] + v[1] + v[2] + v[5] + v[6] for c, v in d.items()}
        t.rx_side_cpu = (sum(b for c, b in busy.items() if c != SENDER_CPU)
                         + d[SENDER_CPU][5] + d[SENDER_CPU][6]) / USER_HZ
        t.tx_side_cpu = (d[SENDER_CPU][0] + d[SENDER_CPU][1] + d[SENDER_CPU][2]) / USER_HZ
        t.naive_cpu = sum(busy.values()) / USER_HZ - t.sender_process_cpu
        t.softirq_cpu = sum(v[6] for v in d.values()) / USER_HZ
        t.steal = sum(v[7] for v in d.values()) / USER_HZ
        t.other_cpu = sum(v - procs0.get(p, 0) for p, v in procs1.items()) / USER_HZ
        t.drops = {"udp-rcvbuf": snmp1.get("RcvbufErrors", 0) - snmp0.get("RcvbufErrors", 0),
                   "softnet": softnet1 - softnet0,
                   "transport": got.get("transport_dropped_packets", 0),
                   **{k: links1[k] - links0[k] for k in links0}}
        return t

    def ns_snmp(self) -> dict[str, int]:
        out = self.pair.run("cat", "/proc/net/snmp").stdout.splitlines()
        lines = [line.split() for line in out if line.startswith("Udp:")]
        return dict(zip(lines[0][1:], map(int, lines[1][1:])))


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def mbps(rate: float) -> str:
    return f"{rate / 1e6:.0f}"


def trial_line(t: Trial) -> str:
    head = f"  r{t.round} {t.kind:14s} {t.purpose:6s} {mbps(t.rate):>5s} MB/s"
    if t.error:
        return f"{head}  ERROR {t.error}"
    drops = ",".join(f"{k}={v}" for k, v in t.drops.items() if v)
    flags = []
    if t.noisy:
        flags.append(f"other processes {100 * t.other_cpu / (t.interval * os.cpu_count()):.0f}%")
    if t.steal > 0.02 * t.interval * os.cpu_count():
        flags.append(f"steal {100 * t.steal / (t.interval * os.cpu_count()):.0f}%")
    return (f"{head}  heaps {t.heaps}/{t.heaps_sent} {'ok  ' if t.lossless else 'LOST'} sent {mbps(t.send_rate)}"
            f" recv {mbps(t.recv_rate)} MB/s  rx-side {t.per_gb(t.rx_side_cpu):.2f} s/GB"
            f" (process {t.per_gb(t.rx_process_cpu):.2f}, softirq {t.per_gb(t.softirq_cpu):.2f},"
            f" naive {t.per_gb(t.naive_cpu):.2f}) tx-side {t.per_gb(t.tx_side_cpu):.2f}"
            + (f"  drops {drops}" if drops else "") + (f"  [!{'; '.join(flags)}]" if flags else ""))


def median_range(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}..{format(max(values), fmt)})"


def ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}"


def summarise(kinds: list[str], cpu_trials: list[Trial], best: dict[str, list[Trial | None]]) -> dict[str, dict]:
    summary = {}
    for kind in kinds:
        mine = [t for t in cpu_trials if t.kind == kind and not t.error]
        good = [t for t in mine if t.lossless]
        rates = [t.send_rate if t is not None else 0.0 for t in best.get(kind, [])]
        recv = [t.recv_rate for t in best.get(kind, []) if t is not None]
        summary[kind] = {
            "rx_side": [t.per_gb(t.rx_side_cpu) for t in good],
            "process": [t.per_gb(t.rx_process_cpu) for t in good],
            "softirq": [t.per_gb(t.softirq_cpu) for t in good],
            "naive": [t.per_gb(t.naive_cpu) for t in good],
            "lossy_cpu_trials": len(mine) - len(good),
            "failed_cpu_trials": len([t for t in cpu_trials if t.kind == kind and t.error]),
            "max_rate": rates,
            "max_recv_rate": recv,
        }
    return summary


def print_table(summary: dict[str, dict], rate: float) -> None:
    def med(kind: str, key: str) -> float | None:
        values = summary.get(kind, {}).get(key)
        return statistics.median(values) if values else None

    print()
    print(f"Receiver CPU per GB of payload at {mbps(rate)} MB/s (median (min..max) over rounds), and the highest"
          " lossless rate (sender's achieved MB/s, median (min..max)); ratios of medians to 'udp'.")
    header = ("kind", "rx-side s/GB", "/udp", "rx-process s/GB", "softirq s/GB", "naive s/GB",
              "max lossless MB/s", "/udp", "recv MB/s at max")
    rows = [header]
    for kind, s in summary.items():
        rows.append((
            kind,
            median_range(s["rx_side"], ".2f"),
            ratio(med(kind, "rx_side"), med("udp", "rx_side")),
            median_range(s["process"], ".2f"),
            median_range(s["softirq"], ".2f"),
            median_range(s["naive"], ".2f"),
            median_range([r / 1e6 for r in s["max_rate"]], ".0f"),
            ratio(med(kind, "max_rate"), med("udp", "max_rate")),
            median_range([r / 1e6 for r in s["max_recv_rate"]], ".0f"),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) if j == 0 else cell.rjust(w) for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for kind, s in summary.items():
        if s["lossy_cpu_trials"] or s["failed_cpu_trials"]:
            print(f"note: {kind}: {s['lossy_cpu_trials']} CPU trial(s) lost data and {s['failed_cpu_trials']}"
                  f" failed at {mbps(rate)} MB/s; left out of its CPU figures")
    for xdp in ("xdp-native", "xdp-generic"):
        cpu, base = med(xdp, "rx_side"), med("udp", "rx_side")
        top, base_top = med(xdp, "max_rate"), med("udp", "max_rate")
        if cpu is not None and base:
            print(f"goal {xdp}: rx-side CPU/GB {cpu / base:.2f} x udp ({'meets' if cpu <= 0.7 * base else 'MISSES'}"
                  " <= 0.7)", end="")
        if top is not None and base_top:
            print(f"; max lossless rate {top / base_top:.2f} x udp ({'meets' if top >= base_top else 'MISSES'} >= 1)",
                  end="")
        print()


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def check_python(python: str | None, want_xdp: bool) -> str | None:
    """Why ``python`` cannot be used, or None."""
    if not python:
        return "not given"
    code = ("import spead2, spead2.recv, spead2.send; print(spead2.__version__, "
            "hasattr(spead2.recv, 'UdpXdpConfig'), hasattr(spead2.send, 'UdpXdpStream'))")
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        return str(exc)
    if out.returncode != 0:
        return out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "cannot import spead2"
    version, recv_xdp, send_xdp = out.stdout.split()
    if want_xdp and not (recv_xdp == send_xdp == "True"):
        return f"spead2 {version} there has no AF_XDP reader/sender (spead2-xdp not installed?)"
    if not want_xdp and version != "4.5.1":
        return f"spead2 {version}, not 4.5.1"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ours", default=sys.executable, help="interpreter with our spead2 and spead2-xdp")
    parser.add_argument("--reference", help="interpreter with the reference spead2 4.5.1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=400, help="MB/s for the CPU comparison (default 400)")
    parser.add_argument("--quick", action="store_true", help="1 round, short trials (a smoke test)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of " + ",".join(KINDS))
    parser.add_argument("--json", help="write every trial here")
    args = parser.parse_args()

    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"machine: nproc {os.cpu_count()}, uname -r {platform.release()}, {platform.machine()}")
    if os.geteuid() != 0:
        print("error: needs root (network namespaces, XDP programs)", file=sys.stderr)
        return 2
    reason = veth_support.unavailable_reason()
    if reason or not shutil.which("taskset"):
        print(f"error: {reason or 'taskset (util-linux) is not installed'}", file=sys.stderr)
        return 2
    if (os.cpu_count() or 1) < 2:
        print("error: needs 2 CPUs (the sender and the receiver are pinned apart)", file=sys.stderr)
        return 2

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}")
    reason = check_python(args.ours, want_xdp=True)
    if reason:
        print(f"error: --ours {args.ours}: {reason}", file=sys.stderr)
        return 2
    pythons = {"ours": args.ours}
    if "reference-udp" in kinds:
        reason = check_python(args.reference, want_xdp=False)
        if reason:
            print(f"skipping reference-udp: --reference {args.reference}: {reason}")
            kinds.remove("reference-udp")
        else:
            pythons["reference"] = args.reference
    rounds = 1 if args.quick else args.rounds
    cpu_heaps, search_heaps, max_steps = (256, 128, 6) if args.quick else (1024, 512, 10)
    rate = args.rate * 1e6
    print(f"sender: our UdpXdpStream pinned to CPU {SENDER_CPU}; receivers pinned to the other CPUs;"
          f" {HEAP_SIZE} B heaps in {PACKET_SIZE} B packets; CPU trials {cpu_heaps} heaps at {mbps(rate)} MB/s,"
          f" rate search {search_heaps} heaps per step (x{STEP}, a failed step retried once); {rounds} round(s)")

    # SIGTERM as ^C, so that the finally below removes the namespaces and children.
    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # The harness itself stays off the receiver's CPUs, where it would count as receive cost.
    os.sched_setaffinity(0, {SENDER_CPU})

    rmem_path = pathlib.Path("/proc/sys/net/core/rmem_max")
    old_rmem = int(rmem_path.read_text())
    pair = veth_support.VethPair(prefix="xb", mtu=9000, queues=1)
    bench = Bench(pair, pythons)
    cpu_trials: list[Trial] = []
    best: dict[str, list[Trial | None]] = {k: [] for k in kinds}
    all_trials: list[Trial] = []
    start = time.monotonic()
    try:
        if old_rmem < UDP_BUFFER:
            rmem_path.write_text(str(UDP_BUFFER))
            print(f"net.core.rmem_max raised from {old_rmem} to {UDP_BUFFER} for the run (restored at the end)")
        pair.bring_up()
        link = pair.run("ip", "-j", "link", "show", "dev", pair.ifname).stdout
        mac = json.loads(link)[0]["address"]
        # Our AF_XDP sender addresses unicast frames from the kernel's neighbour table.
        pair.run("ip", "neigh", "replace", pair.addr, "lladdr", mac, "dev", pair.peer_ifname, peer=True, check=True)

        for rnd in range(1, rounds + 1):
            print(f"round {rnd}/{rounds}: CPU at {mbps(rate)} MB/s", flush=True)
            for kind in kinds:
                t = bench.trial(kind, rnd, "cpu", rate, cpu_heaps)
                cpu_trials.append(t)
                all_trials.append(t)
                print(trial_line(t), flush=True)
            print(f"round {rnd}/{rounds}: highest lossless rate", flush=True)
            for kind in kinds:
                last_good: Trial | None = None
                step_rate = rate
                for _ in range(max_steps):
                    t = bench.trial(kind, rnd, "search", step_rate, search_heaps)
                    all_trials.append(t)
                    print(trial_line(t), flush=True)
                    if not t.lossless:
                        t = bench.trial(kind, rnd, "retry", step_rate, search_heaps)
                        all_trials.append(t)
                        print(trial_line(t), flush=True)
                    if not t.lossless:
                        break
                    last_good = t
                    if t.send_rate < 0.9 * step_rate:
                        print(f"  ({kind}: the sender reached only {mbps(t.send_rate)} of {mbps(step_rate)} MB/s:"
                              " sender-bound, search ends)")
                        break
                    step_rate *= STEP
                best[kind].append(last_good)
        print(f"\n(total {time.monotonic() - start:.0f} s)")
        summary = summarise(kinds, cpu_trials, best)
        print_table(summary, rate)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"argv": sys.argv, "nproc": os.cpu_count(), "kernel": platform.release(),
                           "rate": rate, "summary": summary, "trials": [asdict(t) for t in all_trials]}, f, indent=1)
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        bench.kill_children()
        pair.destroy()
        if int(rmem_path.read_text()) != old_rmem:
            rmem_path.write_text(str(old_rmem))
            print(f"net.core.rmem_max restored to {old_rmem}")


if __name__ == "__main__":
    sys.exit(main())
