"""How long ``load`` takes for one day and for the whole dataset, and what it reads.

Builds a dataset with the collector from the simulated portal (its own process),
then times, in the same run, ``load`` of one day against ``load`` of everything,
and counts the bytes of the data files each has to open (the partition pruning
is what makes the one-day question cheap).

Usage: python benchmarks/bench_load.py [--events 5000000] [--dataset DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ctera_audit.analysis import load
from ctera_audit.simulator import simulator_process


def build(dataset: Path, events: int) -> None:
    """Collect ``events`` events from a simulated portal into ``dataset``."""
    with simulator_process("--events", str(events), "--seed", "7") as url:
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
            str(dataset),
            "--until-idle",
            "--no-progress",
        ]
        env = {**os.environ, "CTERA_PASSWORD": "secret"}
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def timed(repeats: int, **options: object) -> tuple[float, int]:
    """Best time of ``repeats`` loads, and the rows loaded."""
    best, rows = float("inf"), 0
    for _ in range(repeats):
        started = time.perf_counter()
        frame = load(**options)  # type: ignore[arg-type]
        best = min(best, time.perf_counter() - started)
        rows = len(frame)
        del frame
    return best, rows


def bytes_under(dataset: Path, pattern: str) -> int:
    return sum(path.stat().st_size for path in dataset.glob(pattern))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--dataset", type=Path, help="reuse (or keep) this dataset")
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    workdir = (
        None if arguments.dataset else Path(tempfile.mkdtemp(prefix="bench-load-"))
    )
    dataset = arguments.dataset or workdir / "events"  # type: ignore[operator]

    try:
        if not dataset.exists():
            started = time.perf_counter()
            build(dataset, arguments.events)
            elapsed = time.perf_counter() - started
            print(f"built {arguments.events:,} events in {elapsed:.0f} s")

        days = sorted(p.name.split("=", 1)[1] for p in dataset.glob("event_date=*"))
        # The busiest day: the one-day question at its most expensive.
        day = max(days, key=lambda d: bytes_under(dataset, f"event_date={d}/*.parquet"))
        one_day_s, one_day_rows = timed(
            arguments.repeats, dataset=dataset, since=day, until=day
        )
        all_s, all_rows = timed(arguments.repeats, dataset=dataset)
        day_bytes = bytes_under(dataset, f"event_date={day}/*.parquet")
        all_bytes = bytes_under(dataset, "event_date=*/*.parquet")

        print(
            f"dataset: {all_rows:,} events over {len(days)} days, "
            f"{all_bytes / 1e6:,.0f} MB"
        )
        print(
            f"load one day ({day}): {one_day_s:.2f} s, {one_day_rows:,} rows, "
            f"reads {day_bytes / 1e6:,.1f} MB"
        )
        print(
            f"load everything:       {all_s:.2f} s, {all_rows:,} rows, "
            f"reads {all_bytes / 1e6:,.0f} MB"
        )
        print(
            f"one day / everything: {one_day_s / all_s:.3f} of the time, "
            f"{day_bytes / all_bytes:.3f} of the bytes"
        )
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
