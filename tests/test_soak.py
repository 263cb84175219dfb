"""Soak: every fault kind at once on a live stream, for about a minute.

The portal injects latency, errors, cut connections, malformed pages, expired
sessions and hostile names while new events keep arriving, and every session is
ended every few seconds besides. The dataset must still hold exactly the
events served, once each with its true path, and the log must tell each
incident once, not once per retry. ``benchmarks/soak.py`` runs the same longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import pytest

from ctera_audit import Portal
from ctera_audit.collector import Collector, CollectorSettings
from ctera_audit.simulator import FaultPlan, RunningSimulator

from .collecting import assert_matches_truth, read_rows
from .conftest import StartSimulator, read_truth

FAULTS = (
    "latency=0.05,latency_s=0.2,error=0.05,drop=0.03,malformed=0.03,"
    "expire=0.03,hostile=0.05,seed=17"
)
LIVE_S = 40.0
"""Seconds of collection from the live stream before catching up."""
EXPIRE_EVERY_S = 3.0
RETRIED_KINDS = ("error", "drop", "malformed")


async def _collect(simulator: RunningSimulator, out: Path, **settings: Any) -> None:
    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        collector = Collector(portal, out, settings=CollectorSettings(**settings))
        await collector.run()


async def _expire_sessions(simulator: RunningSimulator) -> None:
    """End every portal session now and then, as a portal restart would."""
    while True:
        await asyncio.sleep(EXPIRE_EVERY_S)
        # The portal's thread may open a session meanwhile; try again next time.
        with contextlib.suppress(RuntimeError):
            simulator.portal.expire_sessions()


@pytest.mark.soak
async def test_every_fault_at_once_on_a_live_stream(
    start_simulator: StartSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    simulator = start_simulator(events=10_000, rate=300, faults=FaultPlan.parse(FAULTS))
    out = tmp_path / "ds"
    caplog.set_level(logging.INFO, logger="ctera_audit")

    expiring = asyncio.create_task(_expire_sessions(simulator))
    try:
        await _collect(simulator, out, duration_s=LIVE_S, max_age_s=2.0)
    finally:
        expiring.cancel()
    served = len(simulator.portal.journal)
    await _collect(simulator, out, until_idle=True)

    rows = read_rows(out)
    assert len(rows) >= served
    assert_matches_truth(rows, read_truth(simulator)[: len(rows)])
    assert any("/" in row["name"] or "\x00" in row["name"] for row in rows)

    counts = simulator.portal.faults.counts
    assert all(counts.get(kind, 0) > 0 for kind in (*RETRIED_KINDS, "expire"))
    retried = sum(counts[kind] for kind in RETRIED_KINDS)
    warnings = [
        r
        for r in caplog.records
        if r.name == "ctera_audit.portal" and r.levelno >= logging.WARNING
    ]
    assert len(warnings) <= retried / 4, f"{len(warnings)} warnings, {retried} faults"
    for record in warnings:
        message = record.getMessage()
        assert record.exc_info is None and "\n" not in message
        assert "failed" in message and "retrying" in message
    relogins = [r for r in caplog.records if "logging in again" in r.getMessage()]
    assert relogins and len(relogins) <= counts["expire"] + 2 * LIVE_S / EXPIRE_EVERY_S
