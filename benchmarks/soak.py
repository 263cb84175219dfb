"""Soak: every fault kind at once on a live stream, for minutes, then the tally.

The simulated portal injects latency, errors, cut connections, malformed pages,
expired sessions and hostile names while events keep arriving, and every
session is ended every few seconds besides. The collector runs for
``--minutes``, then catches up; the dataset is compared with the portal's
ground truth and the faults injected and survived are printed by kind.

Usage: python benchmarks/soak.py [--minutes 10] [--rate 500] [--seed 17]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds

from ctera_audit import Portal
from ctera_audit.arrowtext import escape_text
from ctera_audit.collector import Collector, CollectorSettings
from ctera_audit.dataset.schema import PARTITIONING_SCHEMA
from ctera_audit.simulator import (
    FaultPlan,
    RunningSimulator,
    SimulatorConfig,
    simulated_portal,
)

FAULTS = (
    "latency=0.05,latency_s=0.2,error=0.05,drop=0.03,malformed=0.03,"
    "expire=0.03,hostile=0.05"
)
EXPIRE_EVERY_S = 3.0


class _Warnings(logging.Handler):
    """Counts the portal client's warnings: one per incident, not per retry."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def _collect(simulator: RunningSimulator, out: Path, **settings: object) -> None:
    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        await Collector(portal, out, settings=CollectorSettings(**settings)).run()  # type: ignore[arg-type]


async def _expire_sessions(simulator: RunningSimulator) -> int:
    ended = 0
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            await asyncio.sleep(EXPIRE_EVERY_S)
            with contextlib.suppress(RuntimeError):  # the portal thread moved on
                simulator.portal.expire_sessions()
                ended += 1
    return ended


def _hostile(name: str) -> bool:
    return (
        "/" in name
        or ".." in name
        or len(name) >= 300
        or any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) < 0xE000 for c in name)
    )


async def soak(minutes: float, rate: float, seed: int, work: Path) -> int:
    """Run the soak; print the tally; return 0 when nothing was lost or doubled."""
    truth_path = work / "truth.jsonl"
    config = SimulatorConfig(
        events=10_000,
        rate=rate,
        faults=FaultPlan.parse(f"{FAULTS},seed={seed}"),
        ground_truth=str(truth_path),
    )
    warnings = _Warnings()
    logging.getLogger("ctera_audit.portal").addHandler(warnings)
    logging.getLogger("ctera_audit.simulator").setLevel(
        logging.CRITICAL
    )  # cut on purpose
    out = work / "ds"

    with simulated_portal(config) as simulator:
        expiring = asyncio.create_task(_expire_sessions(simulator))
        await _collect(simulator, out, duration_s=minutes * 60, max_age_s=5.0)
        expiring.cancel()
        ended = await expiring
        await _collect(simulator, out, until_idle=True)
        faults = Counter(simulator.portal.faults.counts)

    truth = [json.loads(line) for line in truth_path.open(encoding="utf-8")]
    dataset = ds.dataset(
        out,
        format="parquet",
        partitioning=ds.partitioning(PARTITIONING_SCHEMA, flavor="hive"),
    )
    rows = dataset.to_table(columns=["guid", "gvsn", "path"]).to_pylist()
    seen = Counter((row["guid"], row["gvsn"]) for row in rows)
    served = {(t["guid"], t["gvsn"]): t["path"] for t in truth[: len(rows)]}
    lost = sum(1 for key in served if key not in seen)
    duplicates = sum(count - 1 for count in seen.values())
    wrong = sum(
        1
        for r in rows
        if served.get((r["guid"], r["gvsn"])) is not None
        and escape_text(served[(r["guid"], r["gvsn"])]) != r["path"]
    )
    faults["session ends"] = ended
    faults["hostile names"] = sum(1 for t in truth[: len(rows)] if _hostile(t["name"]))

    print(f"soak: {minutes:g} min at {rate:g} events/s, seed {seed}")
    for kind, count in sorted(faults.items()):
        print(f"  {kind:>14}: {count:>7,} injected, {count:>7,} survived")
    print(
        f"  events: {len(rows):,}  lost: {lost}  duplicates: {duplicates}  "
        f"wrong paths: {wrong}  portal warnings: {warnings.count:,}"
    )
    return 0 if lost == duplicates == wrong == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seed", type=int, default=17)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ctera-soak-") as work:
        return asyncio.run(
            soak(arguments.minutes, arguments.rate, arguments.seed, Path(work))
        )


if __name__ == "__main__":
    raise SystemExit(main())
