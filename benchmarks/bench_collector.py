"""End-to-end collector throughput against the SDK's documented pattern, and memory.

In one run, on the same simulated workload (the simulator in its own process):

* ours: ``python -m ctera_audit collect`` in a child process, full paths and
  Parquet included, timed from start to exit; its peak RSS from ``wait4``;
* the SDK's documented pattern: its notification service plus one ancestors call
  per event, on the first ``--sdk-events`` events of the same workload, served by
  a portal whose backlog ends there (so every object still exists and every
  ancestors call can succeed; on the long backlog most early objects are gone
  and the pattern cannot name them at all);
* the collector's peak memory on a second, larger backlog, to show it does not
  grow with the number of events.

Usage: python benchmarks/bench_collector.py [--events 1000000] [--large 5000000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cterasdk
from cterasdk import AsyncGlobalAdmin
from cterasdk.exceptions.notifications import AncestorsError

from ctera_audit.simulator import simulator_process


def run_collector(url: str, cert: Path, out: Path) -> tuple[float, int, float, float]:
    """Collect everything.

    Returns the wall-clock seconds (process start included), the events, the
    peak RSS in MiB, and the collector's own rate from its summary (login to
    last commit, interpreter start-up excluded).
    """
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
        "--ca-bundle",
        str(cert),
    ]
    env = {**os.environ, "CTERA_PASSWORD": "secret"}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    summary = process.stdout.read() if process.stdout else ""
    if status != 0:
        raise SystemExit(f"collector failed ({status}): {summary}")
    events = int(summary.split("Collected ", 1)[1].split(" ", 1)[0].replace(",", ""))
    own_rate = float(summary.split(" s (", 1)[1].split(" ", 1)[0].replace(",", ""))
    return elapsed, events, usage.ru_maxrss / 1024, own_rate


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


def backlog(events: int, workdir: Path):  # type: ignore[no-untyped-def]
    cert = workdir / f"cert-{events}.pem"
    arguments = [
        "--tls",
        "--tls-cert",
        str(cert),
        "--events",
        str(events),
        "--seed",
        "7",
    ]
    return simulator_process(*arguments), cert


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=5_000_000)
    parser.add_argument("--sdk-events", type=int, default=3_000)
    arguments = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-collector-"))

    try:
        server, _ = backlog(arguments.sdk_events, workdir)
        with server as url:
            host, port = url.split("://")[1].rsplit(":", 1)
            sdk_rate, unnamed = asyncio.run(
                run_sdk_pattern(host, int(port), arguments.sdk_events)
            )
        server, cert = backlog(arguments.events, workdir)
        with server as url:
            seconds, events, rss, own_rate = run_collector(url, cert, workdir / "small")
        ours = events / seconds
        print(f"workload: {events:,} events, seed 7, simulator in its own process")
        print(
            f"ours (collect, full paths, Parquet): {ours:,.0f} events/s "
            f"({seconds:.1f} s, process start included; {own_rate:,.0f} events/s "
            f"from login to last commit), peak RSS {rss:,.0f} MiB"
        )
        print(
            f"SDK documented pattern (service + ancestors per event, "
            f"first {arguments.sdk_events:,} events): {sdk_rate:,.0f} events/s, "
            f"{unnamed:,} left without a path (deleted since)"
        )
        print(f"ratio ours / SDK pattern: {ours / sdk_rate:,.0f}x")

        if arguments.large:
            server, cert = backlog(arguments.large, workdir)
            with server as url:
                seconds, events, large_rss, _ = run_collector(
                    url, cert, workdir / "large"
                )
            print(
                f"large: {events:,} events at {events / seconds:,.0f} events/s, "
                f"peak RSS {large_rss:,.0f} MiB "
                f"(vs {rss:,.0f} MiB at {arguments.events:,})"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
