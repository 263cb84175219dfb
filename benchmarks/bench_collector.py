"""End-to-end collector throughput against the SDK's documented pattern, and memory.

In one run, on the same simulated workload (the simulator in its own process):

* ours: ``python -m ctera_audit collect`` in a child process, full paths and
  Parquet included, timed from start to exit; its RSS sampled by a launcher.
  ``--repeat`` runs over HTTPS, alternating with as many that read pages in
  the collector's own process (``--pages-in-this-process``), and as many over
  plain HTTP, each into a fresh dataset; the table gives the median and the
  best of each;
* the SDK's documented pattern: its notification service plus one ancestors call
  per event, on the first ``--sdk-events`` events of the same workload, served by
  a portal whose backlog ends there (so every object still exists and every
  ancestors call can succeed; on the long backlog most early objects are gone
  and the pattern cannot name them at all);
* the collector's peak memory on a backlog ``--large`` events long, once as is
  and once with the folder tree held to the size it reached on the first
  backlog (``--max-folders``), to tell what grows with the portal's folders
  from what would grow with its events.

Usage: python benchmarks/bench_collector.py [--events 1000000] [--large 5000000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cterasdk
from cterasdk import AsyncGlobalAdmin
from cterasdk.exceptions.notifications import AncestorsError

from ctera_audit.dataset.inspect import inspect_dataset
from ctera_audit.simulator import simulator_process

LAUNCHER = """
import os, statistics, subprocess, sys, threading, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:])
samples, done = [], threading.Event()

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return sum(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

def parent_of(entry):
    with open(f"/proc/{entry}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])

def family(pid):
    members = [pid]
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if parent_of(entry) == pid:
                members.append(int(entry))
        except OSError:
            pass
    return members

def sample():
    while not done.wait(0.25):
        try:
            samples.append(sum(rss_kib(pid) for pid in family(child.pid)))
        except OSError:
            pass

threading.Thread(target=sample, daemon=True).start()
_, status, usage = os.wait4(child.pid, 0)
done.set()
settled = samples[len(samples) // 2 :]
typical = statistics.median(settled) if settled else 0
print(time.perf_counter() - started, max(samples, default=0), typical, file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""
"""Runs the collector and reports its wall time, then the RSS of the collector
and its page reader process together, sampled four times a second: the
highest sample, and the median over the second half of the run, once start-up
is far behind (KiB). It is a process of its own because a process's peak RSS
counts the image of the process it was forked from: the benchmark grows as it
reads back the datasets."""


@dataclass(frozen=True)
class Run:
    """One collection by the command line."""

    events: int
    seconds: float
    """Wall clock from process start to exit."""
    own_rate: float
    """The rate the summary states: login to last commit."""
    peak_rss_mib: float
    """The highest RSS sample of the collector and its page reader together."""
    median_rss_mib: float
    """RSS over the second half of the run, the median: its level, not its spikes."""
    folder_tree: int
    """Folders the dataset's state remembers after the run."""
    ancestors_calls: int
    unnamed: int
    """Events kept without a path."""

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def run_collector(url: str, cert: Path | None, out: Path, *extra: str) -> Run:
    """Collect the whole backlog into ``out`` (removed first)."""
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "ctera_audit",
        "collect",
        "--portal",
        url,
        "--username",
        "admin",
        "--out",
        str(out),
        "--until-idle",
        "--no-progress",
        *(["--ca-bundle", str(cert)] if cert else []),
        *extra,
    ]
    env = {**os.environ, "CTERA_PASSWORD": "secret"}
    launched = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command],
        env=env,
        capture_output=True,
        text=True,
    )
    if launched.returncode != 0:
        raise SystemExit(f"collector failed: {launched.stderr}")
    summary = launched.stdout
    elapsed, peak_kib, typical_kib = launched.stderr.split()[-3:]
    events = int(summary.split("Collected ", 1)[1].split(" ", 1)[0].replace(",", ""))
    own_rate = float(summary.split(" s (", 1)[1].split(" ", 1)[0].replace(",", ""))
    ancestors = int(
        summary.split("Paths needed ", 1)[1].split(" ", 1)[0].replace(",", "")
    )
    unnamed = int(summary.split("call(s); ", 1)[1].split(" ", 1)[0].replace(",", ""))
    tree = inspect_dataset(out).folder_tree
    return Run(
        events,
        float(elapsed),
        own_rate,
        int(peak_kib) / 1024,
        float(typical_kib) / 1024,
        tree,
        ancestors,
        unnamed,
    )


async def run_sdk_pattern(host: str, port: int, count: int) -> tuple[float, int]:
    """The SDK's documented pattern: service.run plus ancestors per event.

    Returns the rate and how many events it could not name (objects deleted
    since: the portal no longer knows them).
    """
    cterasdk.settings.core.asyn.settings.connector.ssl = False
    logging.getLogger("cterasdk").setLevel(logging.CRITICAL)
    admin = AsyncGlobalAdmin(host, port)
    await admin.login("admin", "secret")
    queue: asyncio.Queue = asyncio.Queue()

    async def save_cursor(cursor: str) -> None:
        return None

    unnamed = 0
    started = time.perf_counter()
    admin.notifications.service.run(queue, save_cursor)
    for _ in range(count):
        event = await queue.get()
        try:
            chain = await admin.notifications.ancestors(event)
            "/".join(item.name for item in chain)
        except AncestorsError:
            unnamed += 1
        queue.task_done()
    elapsed = time.perf_counter() - started
    await admin.notifications.service.stop()
    await admin.logout()
    return count / elapsed, unnamed


def backlog(events: int, workdir: Path, *, tls: bool = True):  # type: ignore[no-untyped-def]
    """A simulator process with ``events`` waiting, and the certificate to trust."""
    cert = workdir / f"cert-{events}.pem" if tls else None
    arguments = ["--events", str(events), "--seed", "7"]
    if cert is not None:
        arguments += ["--tls", "--tls-cert", str(cert)]
    return simulator_process(*arguments), cert


def repeated(url: str, cert: Path | None, out: Path, times: int) -> list[Run]:
    return [run_collector(url, cert, out) for _ in range(times)]


def describe(label: str, runs: list[Run]) -> str:
    rates = [run.rate for run in runs]
    own = statistics.median(run.own_rate for run in runs)
    peak = max(run.peak_rss_mib for run in runs)
    return (
        f"ours over {label}: median {statistics.median(rates):,.0f} events/s, "
        f"best {max(rates):,.0f} ({len(runs)} runs of {runs[0].events:,} events, "
        f"process start included; median {own:,.0f} from login to last commit), "
        f"peak RSS {peak:,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=5_000_000)
    parser.add_argument("--sdk-events", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    out = workdir / "dataset"

    try:
        server, _ = backlog(arguments.sdk_events, workdir)
        with server as url:
            host, port = url.split("://")[1].rsplit(":", 1)
            sdk_rate, unnamed = asyncio.run(
                run_sdk_pattern(host, int(port), arguments.sdk_events)
            )
        server, cert = backlog(arguments.events, workdir)
        with server as url:
            over_tls, in_one_process = [], []
            for _ in range(arguments.repeat):
                over_tls.append(run_collector(url, cert, out))
                in_one_process.append(
                    run_collector(url, cert, out, "--pages-in-this-process")
                )
        server, _ = backlog(arguments.events, workdir, tls=False)
        with server as url:
            over_http = repeated(url, None, out, arguments.repeat)

        ours = statistics.median(run.rate for run in over_tls)
        print(
            f"workload: {arguments.events:,} events, seed 7, simulator in its own "
            "process"
        )
        print(describe("HTTPS", over_tls))
        print(describe("HTTPS, pages read in the collector's process", in_one_process))
        alone = statistics.median(run.rate for run in in_one_process)
        print(f"ratio, page reader process / pages in one process: {ours / alone:.2f}")
        print(describe("plain HTTP", over_http))
        print(
            f"SDK documented pattern (service + ancestors per event, "
            f"first {arguments.sdk_events:,} events, HTTPS): {sdk_rate:,.0f} "
            f"events/s, {unnamed:,} left without a path (deleted since)"
        )
        print(f"ratio ours (HTTPS median) / SDK pattern: {ours / sdk_rate:,.0f}x")

        if arguments.large:
            tree = over_tls[0].folder_tree
            server, cert = backlog(arguments.large, workdir)
            with server as url:
                large = run_collector(url, cert, out)
                held = run_collector(url, cert, out, "--max-folders", str(tree))
            first = over_tls[0]
            for label, run in (
                (f"{first.events:,} events", first),
                (f"{large.events:,} events", large),
                (f"{held.events:,} events, --max-folders {tree:,}", held),
            ):
                print(
                    f"RSS at {label}: peak {run.peak_rss_mib:,.0f} MiB, median "
                    f"{run.median_rss_mib:,.0f} MiB; {run.folder_tree:,} folders "
                    f"in the state; {run.ancestors_calls:,} ancestors calls, "
                    f"{run.unnamed:,} events without a path ({run.rate:,.0f} events/s)"
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
