"""Events per second delivered by our NotificationService and by the official SDK's.

Both services read the same backlog from one simulated portal (a separate
process serving HTTPS, since the SDK cannot reach a plain-HTTP portal on a port
other than 80) and put every event on an ``asyncio.Queue`` whose consumer only
calls ``task_done()``. The clock runs from ``run()`` until the last event of the
backlog is taken. Runs alternate (ours, SDK, ours, SDK, ...) so that drift in
the machine's load touches both alike; the ratio is of the median rates.

Run from the project root::

    python -m benchmarks.bench_service --events 200000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import cterasdk
from cterasdk import AsyncGlobalAdmin

from ctera_audit import NotificationService, Portal
from ctera_audit.simulator import simulator_process

USERNAME, PASSWORD = "admin", "secret"

Runner = Callable[[str, Path, int], Awaitable[float]]


async def _drain(queue: asyncio.Queue[Any], count: int) -> None:
    """The cheapest consumer: take ``count`` events, mark each done."""
    for _ in range(count):
        await queue.get()
        queue.task_done()


async def _ignore_cursor(cursor: str) -> None:
    return None


async def run_ours(url: str, cert: Path, count: int) -> float:
    """Seconds our service takes to deliver ``count`` events from the start."""
    async with Portal(url, verify=str(cert)) as portal:
        await portal.login(USERNAME, PASSWORD)
        service = NotificationService(portal)
        queue: asyncio.Queue[Any] = asyncio.Queue()

        started = time.perf_counter()
        service.run(queue, _ignore_cursor)
        await _drain(queue, count)
        elapsed = time.perf_counter() - started

        await service.stop()
    return elapsed


async def run_sdk(url: str, cert: Path, count: int) -> float:
    """Seconds the official SDK's service takes to deliver ``count`` events."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    admin = AsyncGlobalAdmin(host, int(port))
    await admin.login(USERNAME, PASSWORD)
    try:
        queue: asyncio.Queue[Any] = asyncio.Queue()

        started = time.perf_counter()
        admin.notifications.service.run(queue, _ignore_cursor)
        await _drain(queue, count)
        elapsed = time.perf_counter() - started

        await admin.notifications.service.stop()
    finally:
        await admin.logout()
    return elapsed


async def compare(url: str, cert: Path, count: int, repeat: int) -> None:
    """Alternate the two services ``repeat`` times each and print the rates."""
    runners: dict[str, Runner] = {"ours": run_ours, "SDK": run_sdk}
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for round_number in range(1, repeat + 1):
        for name, runner in runners.items():
            seconds = await runner(url, cert, count)
            rates[name].append(count / seconds)
            print(
                f"round {round_number}  {name:<4} {seconds:7.2f} s "
                f"{count / seconds:>10,.0f} events/s",
                flush=True,
            )

    ours, sdk = (statistics.median(rates[name]) for name in runners)
    print()
    print(f"{'service':<8} {'median events/s':>16} {'best events/s':>14}")
    for name in runners:
        print(
            f"{name:<8} {statistics.median(rates[name]):>16,.0f} "
            f"{max(rates[name]):>14,.0f}"
        )
    print(f"ours/SDK {ours / sdk:>16.2f}")


def main() -> None:
    """Start the HTTPS simulator and compare the two services on its backlog."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="backlog")
    parser.add_argument("--repeat", type=int, default=3, help="runs per service")
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()

    # The SDK logs every session at INFO; only the figures matter here.
    logging.getLogger("cterasdk").setLevel(logging.WARNING)
    cterasdk.settings.core.asyn.settings.connector.ssl = False

    with tempfile.TemporaryDirectory(prefix="bench-service-") as directory:
        cert = Path(directory) / "portal.pem"
        print(f"generating a backlog of {arguments.events:,} events ...", flush=True)
        simulator = simulator_process(
            "--port",
            "0",
            "--events",
            str(arguments.events),
            "--seed",
            str(arguments.seed),
            "--tls",
            "--tls-cert",
            str(cert),
        )
        with simulator as url:
            print(f"simulator ready at {url}")
            asyncio.run(compare(url, cert, arguments.events, arguments.repeat))


if __name__ == "__main__":
    main()
