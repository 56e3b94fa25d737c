#!/usr/bin/env python3
"""Receive cost and highest lossless rate of the AF_XDP reader over a veth pair,
against our recvmmsg UDP reader and the reference's UDP reader.

    python bench/xdp_veth.py --ours .venv/bin/python --reference /work/refenv/bin/python \
        [--rounds 3] [--rate MBps] [--cpu-trials 2] [--quick] [--kinds K,...] [--json OUT]

Setup: two network namespaces joined by a veth pair (MTU 9000, one queue,
``tests/veth_support.py``).  One sender for every receiver kind: our
``send.UdpXdpStream`` in the peer namespace (the cheapest sender we have, so that
it can outrun every receiver) sends 1 MiB heaps (one uint8 item, no
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
   receives losslessly (checked: a kind that lost anything there is flagged and its
   trial left out).
2. The highest lossless rate: the sender's rate is stepped up geometrically from
   ``--rate`` until a trial loses a heap (a failed step is retried once, so that one
   burst of noise does not end the search); when the sender falls behind the rate
   asked for, one last trial runs unlimited.  Reported is the rate the sender
   achieved in the last lossless trial, and the rate the receiver saw.

Where the CPU goes, and how it is measured.  On a veth the kernel's receive work for
a frame (IP/UDP stack and socket queueing for the UDP readers; the veth NAPI poll,
the XDP program and the copy into the AF_XDP ring for ours -- exactly the cost
AF_XDP is meant to cut) would by default run in softirq context on the *sender's*
CPU, inside the sender's system calls.  This kernel has no IRQ time accounting
(CONFIG_IRQ_TIME_ACCOUNTING off), so that work would be charged to the sender
process, and "all busy CPU minus the sender's CPU" would subtract exactly the cost
being compared; /proc/stat's per-context columns (user/system/softirq) are tick
samples, too coarse and aliased for this (they gave negative remainders).  So the
receive work is moved to the receiver's side, as a NIC steers it on a real host:

* the sender is pinned to CPU 0, the receiver process to the other CPUs (taskset);
* RPS on the receiving veth queue sends the UDP readers' (and generic XDP's)
  backlog processing to the receiver's CPUs;
* threaded NAPI on the receiving veth (its NAPI exists while a native XDP program
  is attached) runs the veth poll and XDP in a ``napi/<dev>`` kernel thread, pinned
  to the receiver's CPUs.

Then per CPU, busy = wall time - idle - iowait - steal (idle time in /proc/stat is
measured exactly on a tickless kernel, unlike the busy columns), and

    receiver side = busy time of the receiver's CPUs (process, NAPI thread, softirq)
    sender side   = busy time of CPU 0 (the sender, veth transmit, RPS hand-off)

The receiver process's own CPU time (``time.process_time`` in it; it includes
softirq work that happened to interrupt it) and the naive figure (all busy time
minus the sender process's CPU time) are shown too.  Everything is per GB (1e9
bytes) of heap payload received; the interval runs from the sender's go to the
receiver's end of stream.  CPU used meanwhile by other processes (from
/proc/<pid>/stat) is reported and the trial flagged when it exceeds 2% of the
machine; it cannot be split by CPU, so it is not subtracted.

Needs root (namespaces, XDP, sysctl) and ``taskset``.  ``net.core.rmem_max`` (which
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
NCPU = os.cpu_count() or 1
Snapshot = tuple[float, dict[int, list[int]]]  # monotonic time, /proc/stat per CPU

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
    config = spead2.recv.UdpXdpConfig(interface=args["interface"], endpoints=[(args["addr"], args["port"])],
                                      mode=args["xdp_mode"], busy_poll=False)
    stream.add_udp_xdp_reader(config)
else:
    stream.add_udp_reader(args["port"], max_size=9200, buffer_size=args["buffer_size"], bind_hostname=args["addr"])

holder = [stream]

def stop_on_request():
    sys.stdin.readline()
    for s in list(holder):
        s.stop()

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
# Our AF_XDP reader detaches its XDP program when the stream is destroyed, which
# interpreter exit skips while the daemon thread above lives.
holder.clear()
del stream
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
    purpose: str  # "cpu", "search" or "retry"
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
        return self.other_cpu > 0.02 * self.interval * NCPU


# ---------------------------------------------------------------------------
# /proc readers
# ---------------------------------------------------------------------------


def cpu_ticks() -> Snapshot:
    """The monotonic time and, per CPU, user nice system idle iowait irq softirq
    steal (USER_HZ ticks)."""
    result = {}
    with open("/proc/stat") as f:
        now = time.monotonic()
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *values = line.split()
                result[int(name[3:])] = [int(v) for v in values[:8]]
    return now, result


def busy_seconds(start: Snapshot, end: Snapshot) -> dict[int, float]:
    """Per CPU, the time it was not idle: from the exactly measured idle time, since
    the busy columns are tick samples."""
    wall = end[0] - start[0]
    result = {}
    for cpu, values in end[1].items():
        d = [b - a for a, b in zip(start[1][cpu], values)]
        result[cpu] = max(0.0, wall - (d[3] + d[4] + d[7]) / USER_HZ)
    return result


def process_ticks(exclude: set[int]) -> dict[int, int]:
    """utime + stime of every process (threads included) except ``exclude`` and the
    kernel threads that do receive work (ksoftirqd, NAPI threads)."""
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
        if comm.startswith(("ksoftirqd", "napi/")):
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


def read_line(proc: subprocess.Popen[str], timeout: float) -> str | None:
    """The next stdout line, or None at the timeout (the process keeps running)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        return None
    return proc.stdout.readline()


def expect_ready(proc: subprocess.Popen[str], what: str, timeout: float = 60) -> None:
    line = read_line(proc, timeout)
    if line is None or line.strip() != "ready":
        proc.kill()
        _, err = proc.communicate()
        raise BenchError(f"{what} did not start: {(line or '').strip()!r} {err.strip()[-1500:]}")


def write_line(stream: IO[str] | None, text: str) -> None:
    if stream is None:
        return
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):  # exited, or already closed by communicate()
        pass


def reap(proc: subprocess.Popen[str], grace: float = 15) -> bool:
    """Waits for ``proc`` to exit, killing it after ``grace`` seconds; whether it had
    to be killed."""
    try:
        proc.communicate(timeout=grace)
        return False
    except subprocess.TimeoutExpired:
        pass
    except ValueError:  # streams already closed
        if proc.poll() is not None:
            return False
    proc.kill()
    try:
        proc.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError):
        pass
    return True


class Bench:
    def __init__(self, pair: veth_support.VethPair, pythons: dict[str, str]) -> None:
        self.pair = pair
        self.pythons = pythons
        self.rx_cpu_set = {c for c in range(NCPU) if c != SENDER_CPU}
        self.rx_cpus = ",".join(map(str, sorted(self.rx_cpu_set)))
        self.children: set[subprocess.Popen[str]] = set()

    def sysfs(self, name: str, value: str) -> bool:
        """Writes a sysfs attribute of the receiving veth (in its namespace)."""
        path = f"/sys/class/net/{self.pair.ifname}/{name}"
        return bool(self.pair.run("sh", "-c", f"echo {value} > {path}").returncode == 0)

    def steer_receive_work(self) -> None:
        """RPS: the backlog processing (UDP stack, generic XDP) on the receiver's CPUs."""
        mask = sum(1 << c for c in self.rx_cpu_set)
        if not self.sysfs("queues/rx-0/rps_cpus", f"{mask:x}"):
            raise BenchError("cannot set rps_cpus on the receiving veth")

    def pin_napi_threads(self) -> int:
        """Threaded NAPI for the receiving veth, its threads on the receiver's CPUs.
        The veth has a NAPI instance only while a native XDP program is attached
        (writing ``threaded`` fails otherwise), so this runs once the reader is up."""
        if not self.sysfs("threaded", "1"):
            return 0
        pinned = 0
        prefix = f"napi/{self.pair.ifname}-"
        for entry in os.scandir("/proc"):
            try:
                with open(f"/proc/{entry.name}/comm") as f:
                    comm = f.read().strip()
            except (OSError, ValueError):
                continue
            if entry.name.isdigit() and comm.startswith(prefix):
                os.sched_setaffinity(int(entry.name), self.rx_cpu_set)
                pinned += 1
        return pinned

    def popen(self, argv: list[str], peer: bool) -> subprocess.Popen[str]:
        proc: subprocess.Popen[str] = self.pair.popen(*argv, peer=peer, stdin=subprocess.PIPE)
        self.children.add(proc)
        return proc

    def kill_children(self) -> None:
        for proc in list(self.children):
            write_line(proc.stdin, "stop")
            reap(proc, grace=5)
        self.children.clear()

    def detach_xdp(self) -> None:
        """A reader that was killed leaves its XDP program attached, and the next
        reader refuses to replace a program it did not attach itself."""
        for mode in ("xdpgeneric", "xdpdrv"):
            self.pair.run("ip", "link", "set", "dev", self.pair.ifname, mode, "off")

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
            if kind == "xdp-native" and not self.pin_napi_threads():
                raise BenchError("no NAPI thread for the receiving veth to pin")
            tx = self.popen(["taskset", "-c", str(SENDER_CPU), self.pythons["ours"], "-c", SENDER,
                             json.dumps(tx_args)], peer=True)
            expect_ready(tx, "sender")
            mine = {os.getpid(), rx.pid, tx.pid}
            snmp0, softnet0, links0 = self.ns_snmp(), softnet_dropped(), link_drops(pair)
            procs0 = process_ticks(mine)
            cpu0 = cpu_ticks()
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
            cpu1 = cpu_ticks()
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
                    killed = reap(proc)
                    self.children.discard(proc)
                    if killed and proc is rx and kind.startswith("xdp-"):
                        self.detach_xdp()

        t.heaps, t.payload = got["heaps"], got["payload"]
        t.receiver_stats = {k: v for k, v in got.items() if k not in ("heaps", "payload", "cpu", "seconds")}
        t.send_rate = sent["bytes"] / sent["seconds"] if sent["seconds"] > 0 else 0.0
        t.recv_rate = (t.heaps - 1) * HEAP_SIZE / got["seconds"] if got["seconds"] > 0 else 0.0
        t.interval = cpu1[0] - cpu0[0]
        t.rx_process_cpu = got["cpu"]
        t.sender_process_cpu = sent["cpu"]
        busy = busy_seconds(cpu0, cpu1)
        t.rx_side_cpu = sum(b for c, b in busy.items() if c != SENDER_CPU)
        t.tx_side_cpu = busy[SENDER_CPU]
        t.naive_cpu = sum(busy.values()) - t.sender_process_cpu
        t.steal = sum(cpu1[1][c][7] - cpu0[1][c][7] for c in cpu1[1]) / USER_HZ
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


def search(bench: Bench, kind: str, rnd: int, rate: float, heaps: int, max_steps: int,
           log: list[Trial]) -> Trial | None:
    """The last lossless trial of a geometric rate search from ``rate``; a trial at
    rate 0 (no limit) when the sender fell behind the rate asked for."""
    last_good: Trial | None = None
    step_rate = rate
    for _ in range(max_steps):
        for purpose in ("search", "retry"):
            t = bench.trial(kind, rnd, purpose, step_rate, heaps)
            log.append(t)
            print(trial_line(t), flush=True)
            if t.lossless:
                break
        if not t.lossless:
            break
        last_good = t
        if step_rate == 0:
            break
        if t.send_rate < 0.9 * step_rate:
            step_rate = 0
        else:
            step_rate *= STEP
    return last_good


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def mbps(rate: float) -> str:
    return f"{rate / 1e6:.0f}"


def trial_line(t: Trial) -> str:
    head = f"  r{t.round} {t.kind:14s} {t.purpose:6s} {mbps(t.rate) if t.rate else 'max':>5s} MB/s"
    if t.error:
        return f"{head}  ERROR {t.error}"
    drops = ",".join(f"{k}={v}" for k, v in t.drops.items() if v)
    flags = []
    if t.noisy:
        flags.append(f"other processes {100 * t.other_cpu / (t.interval * NCPU):.0f}%")
    if t.steal > 0.02 * t.interval * NCPU:
        flags.append(f"steal {100 * t.steal / (t.interval * NCPU):.0f}%")
    return (f"{head}  heaps {t.heaps}/{t.heaps_sent} {'ok  ' if t.lossless else 'LOST'} sent {mbps(t.send_rate)}"
            f" recv {mbps(t.recv_rate)} MB/s  rx-side {t.per_gb(t.rx_side_cpu):.2f} s/GB"
            f" (process {t.per_gb(t.rx_process_cpu):.2f}, naive {t.per_gb(t.naive_cpu):.2f})"
            f" tx-side {t.per_gb(t.tx_side_cpu):.2f} (process {t.per_gb(t.sender_process_cpu):.2f})"
            + (f"  drops {drops}" if drops else "") + (f"  [!{'; '.join(flags)}]" if flags else ""))


def median_range(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}..{format(max(values), fmt)})"


def ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}"


def summarise(kinds: list[str], cpu_trials: list[Trial],
              best: dict[str, list[Trial | None]]) -> dict[str, dict[str, Any]]:
    summary = {}
    for kind in kinds:
        mine = [t for t in cpu_trials if t.kind == kind and not t.error]
        good = [t for t in mine if t.lossless]
        rates = [t.send_rate if t is not None else 0.0 for t in best.get(kind, [])]
        recv = [t.recv_rate for t in best.get(kind, []) if t is not None]
        summary[kind] = {
            "rx_side": [t.per_gb(t.rx_side_cpu) for t in good],
            "process": [t.per_gb(t.rx_process_cpu) for t in good],
            "other": [t.per_gb(t.rx_side_cpu - t.rx_process_cpu) for t in good],
            "naive": [t.per_gb(t.naive_cpu) for t in good],
            "lossy_cpu_trials": len(mine) - len(good),
            "failed_cpu_trials": len([t for t in cpu_trials if t.kind == kind and t.error]),
            "max_rate": rates,
            "max_recv_rate": recv,
            "full_speed_rounds": len([t for t in best.get(kind, []) if t is not None and t.rate == 0]),
            "rounds": len(best.get(kind, [])),
        }
    return summary


def print_table(summary: dict[str, dict[str, Any]], rate: float) -> None:
    def med(kind: str, key: str) -> float | None:
        values = summary.get(kind, {}).get(key)
        return statistics.median(values) if values else None

    print()
    print(f"Receiver CPU per GB of payload at {mbps(rate)} MB/s (median (min..max) over rounds), and the highest"
          " lossless rate (sender's achieved MB/s, median (min..max)); ratios of medians to 'udp'.")
    header = ("kind", "rx-side s/GB", "/udp", "rx-process s/GB", "rx-rest s/GB", "naive s/GB",
              "max lossless MB/s", "/udp", "recv MB/s at max", "full speed")
    rows = [header]
    for kind, s in summary.items():
        rows.append((
            kind,
            median_range(s["rx_side"], ".2f"),
            ratio(med(kind, "rx_side"), med("udp", "rx_side")),
            median_range(s["process"], ".2f"),
            median_range(s["other"], ".2f"),
            median_range(s["naive"], ".2f"),
            median_range([r / 1e6 for r in s["max_rate"]], ".0f"),
            ratio(med(kind, "max_rate"), med("udp", "max_rate")),
            median_range([r / 1e6 for r in s["max_recv_rate"]], ".0f"),
            f"{s['full_speed_rounds']}/{s['rounds']}",
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
    print("rx-side: busy time of the receiver's CPUs; rx-process: the receiver process (with softirq work that"
          " interrupted it); rx-rest: the difference (NAPI thread, softirq in other contexts); naive: all busy time"
          " minus the sender process.")
    print("full speed: rounds whose highest lossless trial had no rate limit (the sender could go no faster:"
          " a lower bound on the receiver's capacity)")
    for xdp in ("xdp-native", "xdp-generic"):
        verdicts = []
        cpu, base = med(xdp, "rx_side"), med("udp", "rx_side")
        if cpu is not None and base:
            verdicts.append(f"rx-side CPU/GB {cpu / base:.2f} x udp ({'meets' if cpu <= 0.7 * base else 'MISSES'}"
                            " the goal <= 0.7)")
        top, base_top = med(xdp, "max_rate"), med("udp", "max_rate")
        if top is not None and base_top:
            bound = summary[xdp]["full_speed_rounds"]
            verdicts.append(f"highest lossless rate {top / base_top:.2f} x udp"
                            f" ({'meets' if top >= base_top else 'MISSES'} the goal >= 1"
                            + (f"; sender-bound in {bound} round(s), so a lower bound" if bound else "") + ")")
        if verdicts:
            print(f"{xdp}: " + "; ".join(verdicts))


def print_cpu_by_rate(kinds: list[str], trials: list[Trial]) -> None:
    """The rate search's lossless trials, as CPU per GB against rate: the cost per GB
    falls as the rate rises (more packets per wake-up), and not alike for every kind."""
    table: dict[float, dict[str, list[float]]] = {}
    for t in trials:
        if t.purpose != "cpu" and t.rate and t.lossless:
            table.setdefault(t.rate, {}).setdefault(t.kind, []).append(t.per_gb(t.rx_side_cpu))
    if not table:
        return
    print()
    print("rx-side CPU s/GB against rate, lossless rate-search trials (median over rounds; '-': none lossless)")
    rows = [("MB/s", *kinds, *([f"{k}/udp" for k in kinds if k.startswith("xdp-")] if "udp" in kinds else []))]
    for rate in sorted(table):
        meds = {k: statistics.median(v) for k, v in table[rate].items()}
        cells = [f"{meds[k]:.2f}" if k in meds else "-" for k in kinds]
        if "udp" in kinds:
            cells += [ratio(meds.get(k), meds.get("udp")) for k in kinds if k.startswith("xdp-")]
        rows.append((mbps(rate), *cells))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))


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
    parser.add_argument("--cpu-trials", type=int, default=2, help="CPU trials per kind and round (default 2)")
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
    cpu_passes = 1 if args.quick else args.cpu_trials
    rate = args.rate * 1e6
    print(f"sender: our UdpXdpStream pinned to CPU {SENDER_CPU}; receivers, RPS and NAPI threads on the other CPUs;"
          f" {HEAP_SIZE} B heaps in {PACKET_SIZE} B packets; CPU trials {cpu_passes} x {cpu_heaps} heaps"
          f" per kind and round at {mbps(rate)} MB/s,"
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
        bench.steer_receive_work()

        for rnd in range(1, rounds + 1):
            print(f"round {rnd}/{rounds}: CPU at {mbps(rate)} MB/s", flush=True)
            for _ in range(cpu_passes):
                for kind in kinds:
                    t = bench.trial(kind, rnd, "cpu", rate, cpu_heaps)
                    cpu_trials.append(t)
                    all_trials.append(t)
                    print(trial_line(t), flush=True)
            print(f"round {rnd}/{rounds}: highest lossless rate", flush=True)
            for kind in kinds:
                best[kind].append(search(bench, kind, rnd, rate, search_heaps, max_steps, all_trials))
        print(f"\n(total {time.monotonic() - start:.0f} s)")
        summary = summarise(kinds, cpu_trials, best)
        print_table(summary, rate)
        print_cpu_by_rate(kinds, all_trials)
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
