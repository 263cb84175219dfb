"""Content capture throughput (MB/s) and peak memory on files larger than its bound.

Two parts, each against a simulated portal running as a separate process:

* Throughput: the same set of file versions is read three ways, in alternating
  rounds: plain block download through ``DirectIOClient.digest`` (8 files at a
  time, the baseline), ``ContentCapture`` in ``hash`` mode, and in ``store``
  mode (into a temporary store, fsync included). A sample of digests is checked
  against the simulator's own.
* Memory: the largest versions of a big-file workload (``--max-file-size``) are
  captured in a child process per mode, with a memory bound far below their
  size; the child reports its resident memory before the capture and its peak
  (``VmRSS`` and ``VmHWM`` of ``/proc/self/status``, so Linux only;
  ``ru_maxrss`` would carry the parent's peak over ``exec``).

Run from the project root::

    python -m benchmarks.bench_content --events 8000 --megabytes 600
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ctera_audit.content import ContentCapture
from ctera_audit.directio import DirectIOClient
from ctera_audit.simulator import SimulatorConfig, simulator_process
from ctera_audit.simulator.portal import SimulatedPortal

KEYS = SimulatorConfig()
MB = 1_000_000
FILES_AT_ONCE = 8
PAGE = 2_000
SAMPLE = 40

Reader = Callable[[str, list[dict[str, Any]], Path], Awaitable[list[str]]]


def workload_files(
    config: SimulatorConfig, events: int
) -> tuple[SimulatedPortal, list[dict[str, Any]]]:
    """The live file events the simulator serves for ``config``, one per version."""
    portal = SimulatedPortal(config)
    seen: set[int] = set()
    files = []
    for change in itertools.islice(portal.workload.changes(), events):
        entry = change.entry
        if entry["type"] == "file" and not entry["deleted"] and entry["id"] not in seen:
            seen.add(entry["id"])
            files.append(entry)
    return portal, files


async def read_digest(url: str, files: list[dict[str, Any]], _: Path) -> list[str]:
    """Baseline: each version through ``DirectIOClient.digest``, 8 at a time."""
    slots = asyncio.Semaphore(FILES_AT_ONCE)

    async def one(client: DirectIOClient, file_id: int) -> str:
        async with slots:
            return (await client.digest(file_id))[0]

    async with _client(url) as client:
        return await asyncio.gather(*(one(client, f["id"]) for f in files))


async def read_hash(url: str, files: list[dict[str, Any]], _: Path) -> list[str]:
    """``ContentCapture`` in ``hash`` mode, a page of events at a time."""
    return await _capture(url, files, "hash", None)


async def read_store(url: str, files: list[dict[str, Any]], store: Path) -> list[str]:
    """``ContentCapture`` in ``store`` mode, into a fresh store."""
    return await _capture(url, files, "store", store)


async def _capture(
    url: str,
    files: list[dict[str, Any]],
    mode: str,
    store: Path | None,
    window: int = 64 << 20,
    bound: int = 256 << 20,
) -> list[str]:
    async with _client(url, window) as client:
        capture = ContentCapture(
            client,
            mode=mode,  # type: ignore[arg-type]
            store=store,
            max_bytes_in_flight=bound,
            page_timeout_s=3600,
        )
        digests = []
        for start in range(0, len(files), PAGE):
            results = await capture.capture_page(files[start : start + PAGE])
            failed = [status for _, _, status in results if status != "captured"]
            if failed:
                raise SystemExit(f"{len(failed)} files failed, e.g. {failed[0]}")
            digests += [str(sha256) for sha256, _, _ in results]
    return digests


def _client(url: str, window: int = 64 << 20) -> DirectIOClient:
    return DirectIOClient(
        url,
        KEYS.access_key_id,
        KEYS.secret_access_key,
        max_concurrency=FILES_AT_ONCE,
        max_bytes_in_flight=window,
    )


def throughput(arguments: argparse.Namespace) -> None:
    """Time the three readers over the same versions and print MB/s."""
    config = SimulatorConfig(seed=arguments.seed, events=arguments.events)
    portal, files = workload_files(config, arguments.events)
    total, chosen = 0, []
    for entry in files:
        if total >= arguments.megabytes * MB:
            break
        chosen.append(entry)
        total += entry["size"]
    sample = chosen[:: max(1, len(chosen) // SAMPLE)]
    truth = {f["id"]: portal.workload.sha256(f["id"]) for f in sample}
    portal.close()

    print(f"{len(chosen):,} versions, {total / MB:,.0f} MB", flush=True)
    readers: dict[str, Reader] = {
        "digest (baseline)": read_digest,
        "capture hash": read_hash,
        "capture store": read_store,
    }
    rates: dict[str, list[float]] = {name: [] for name in readers}
    simulator = simulator_process(
        "--events", str(arguments.events), "--seed", str(arguments.seed)
    )
    with simulator as url:
        for round_number in range(1, arguments.repeat + 1):
            for name, reader in readers.items():
                with tempfile.TemporaryDirectory(prefix="bench-content-") as store:
                    started = time.perf_counter()
                    digests = asyncio.run(reader(url, chosen, Path(store) / "c"))
                    seconds = time.perf_counter() - started
                _check(
                    dict(zip((f["id"] for f in chosen), digests, strict=True)), truth
                )
                rates[name].append(total / MB / seconds)
                print(
                    f"round {round_number}  {name:<18} {seconds:7.2f} s "
                    f"{rates[name][-1]:8.1f} MB/s {len(chosen) / seconds:8.0f} files/s",
                    flush=True,
                )

    print(f"\n{'reader':<18} {'median MB/s':>12} {'of baseline':>12}")
    baseline = statistics.median(rates["digest (baseline)"])
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:<18} {median:>12.1f} {median / baseline:>12.2f}")


def memory(arguments: argparse.Namespace) -> None:
    """Capture the biggest versions in a child per mode and print its peak RSS."""
    config = SimulatorConfig(
        seed=arguments.seed,
        events=arguments.big_events,
        max_file_size=arguments.max_file_size,
    )
    portal, files = workload_files(config, arguments.big_events)
    biggest = sorted(files, key=lambda f: f["size"])[-arguments.big_files :]
    truth = {f["id"]: portal.workload.sha256(f["id"]) for f in biggest}
    portal.close()

    sizes = ", ".join(f"{f['size'] / MB:.0f}" for f in biggest)
    bound = arguments.bound << 20
    print(
        f"\n{len(biggest)} versions of {sizes} MB; bound {arguments.bound} MiB in "
        f"flight, {arguments.bound / 2:.0f} MiB window per file",
        flush=True,
    )
    print(
        f"{'mode':<8} {'RSS before MiB':>15} {'peak MiB':>9} {'growth':>7} {'MB/s':>7}"
    )
    simulator = simulator_process(
        "--events",
        str(arguments.big_events),
        "--seed",
        str(arguments.seed),
        "--max-file-size",
        str(arguments.max_file_size),
    )
    with simulator as url, tempfile.TemporaryDirectory() as store:
        for mode in ("digest", "hash", "store"):
            command = [sys.executable, "-m", "benchmarks.bench_content", "--child"]
            command += [url, mode, str(bound), f"{store}/{mode}"]
            command += [str(f["id"]) for f in biggest]
            report = json.loads(subprocess.check_output(command, text=True))
            _check(dict(zip(truth, report["digests"], strict=True)), truth)
            rate = sum(f["size"] for f in biggest) / MB / report["seconds"]
            before, peak = report["before"] / 1024, report["peak"] / 1024
            print(
                f"{mode:<8} {before:>15.0f} {peak:>9.0f} {peak - before:>7.0f} "
                f"{rate:>7.1f}",
                flush=True,
            )


def child(url: str, mode: str, bound: str, store: str, *ids: str) -> None:
    """In the child: read ``ids`` in one mode, print memory (KiB) and digests."""
    files = [{"type": "file", "deleted": False, "id": int(i)} for i in ids]
    window = int(bound) // 2

    async def run() -> list[str]:
        if mode == "digest":
            async with _client(url, window) as client:
                return [(await client.digest(f["id"]))[0] for f in files]
        return await _capture(url, files, mode, Path(store), window, int(bound))

    before = _memory_kib("VmRSS")
    started = time.perf_counter()
    digests = asyncio.run(run())
    seconds = time.perf_counter() - started
    peak = _memory_kib("VmHWM")
    report = {"before": before, "peak": peak, "seconds": seconds, "digests": digests}
    print(json.dumps(report))


def _memory_kib(field: str) -> int:
    """A memory figure of this process from ``/proc/self/status``, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise SystemExit(f"/proc/self/status has no {field}; this needs Linux")


def _check(digests: dict[int, str], truth: dict[int, str]) -> None:
    wrong = [file_id for file_id, sha in truth.items() if digests[file_id] != sha]
    if wrong:
        raise SystemExit(f"wrong digests for versions {wrong[:5]}")


def main() -> None:
    """Run the throughput part, then the memory part."""
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:])
        return

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=8_000, help="backlog")
    parser.add_argument(
        "--megabytes", type=int, default=600, help="content read per round"
    )
    parser.add_argument("--repeat", type=int, default=2, help="rounds per reader")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--big-events", type=int, default=200_000)
    parser.add_argument("--big-files", type=int, default=4)
    parser.add_argument("--max-file-size", type=int, default=1 << 30)
    parser.add_argument(
        "--bound", type=int, default=16, help="MiB in flight in the memory part"
    )
    parser.add_argument("--only", choices=["throughput", "memory"])
    arguments = parser.parse_args()

    if arguments.only != "memory":
        throughput(arguments)
    if arguments.only != "throughput":
        memory(arguments)


if __name__ == "__main__":
    main()
