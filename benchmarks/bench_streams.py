"""Collector throughput with 1, 2 and 4 folder-group streams, in one run.

The simulated portal runs in its own process with a fixed backlog. Each
configuration collects the whole backlog into a fresh local dataset, full paths
and Parquet included, and is timed from the first request to the last commit:

* streams in one process: one :class:`MultiStreamCollector` whose group size
  gives 1, 2 or 4 groups, the streams running concurrently on one event loop;
* shards in processes: the same groups, one process per shard (``shard=(K, N)``),
  all writing the same dataset, timed from start to the last exit.

Usage: python benchmarks/bench_streams.py [--events 300000] [--streams 1 2 4]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ctera_audit import Portal
from ctera_audit.collector import CollectorSettings
from ctera_audit.simulator import simulator_process
from ctera_audit.streams import MultiStreamCollector

SHARD = """
import asyncio, sys
from ctera_audit import Portal
from ctera_audit.collector import CollectorSettings
from ctera_audit.streams import MultiStreamCollector

async def main(url, out, size, index, count):
    async with Portal(url) as portal:
        await portal.login("admin", "secret")
        streams = MultiStreamCollector(
            portal, out, settings=CollectorSettings(until_idle=True),
            max_folders_per_stream=int(size), shard=(int(index), int(count)),
        )
        summaries = await streams.run()
    print(sum(s.events for s in summaries.values()))

asyncio.run(main(*sys.argv[1:]))
"""


async def folder_count(url: str) -> int:
    """How many cloud folders the simulated portal has."""
    async with Portal(url) as portal:
        await portal.login("admin", "secret")
        return len(await portal.cloud_folders())


async def in_process(url: str, out: Path, size: int) -> tuple[int, int, float]:
    """Collect everything with concurrent streams; (streams, events, seconds)."""
    async with Portal(url) as portal:
        await portal.login("admin", "secret")
        streams = MultiStreamCollector(
            portal,
            out,
            settings=CollectorSettings(until_idle=True),
            max_folders_per_stream=size,
        )
        started = time.perf_counter()
        summaries = await streams.run()
        elapsed = time.perf_counter() - started
    return len(summaries), sum(s.events for s in summaries.values()), elapsed


def in_processes(url: str, out: Path, size: int, count: int) -> tuple[int, float]:
    """Collect everything with one process per shard; (events, seconds)."""
    started = time.perf_counter()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", SHARD, url, str(out), str(size), str(k), str(count)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(count)
    ]
    outputs = [worker.communicate()[0] for worker in workers]
    elapsed = time.perf_counter() - started
    if any(worker.returncode for worker in workers):
        raise SystemExit("a shard process failed")
    return sum(int(output.split()[-1]) for output in outputs), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4])
    arguments = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-streams-"))

    try:
        with simulator_process("--events", str(arguments.events)) as url:
            folders = asyncio.run(folder_count(url))
            print(
                f"workload: {arguments.events:,} events in {folders} cloud folders, "
                "seed 7, simulator in its own process"
            )
            for count in arguments.streams:
                size = math.ceil(folders / count)
                streams, events, seconds = asyncio.run(
                    in_process(url, workdir / f"one-{count}", size)
                )
                print(
                    f"{streams} stream(s) in one process: {events / seconds:,.0f} "
                    f"events/s ({events:,} events in {seconds:.1f} s)"
                )
                if count > 1:
                    events, seconds = in_processes(
                        url, workdir / f"shards-{count}", size, count
                    )
                    print(
                        f"{count} shard processes: {events / seconds:,.0f} events/s "
                        f"({events:,} events in {seconds:.1f} s, process start "
                        "included)"
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
