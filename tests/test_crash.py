"""SIGKILL the collector at random moments, restart it, and compare with the truth."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from .collecting import assert_matches_truth, read_rows
from .conftest import StartSimulator, read_truth

KILLS = 12


def _collector(
    url: str, out: Path, *, until_idle: bool = False, errors: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
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
        "--max-rows",
        "2500",
        "--commit-every",
        "0.2",
        "--no-progress",
    ]
    if until_idle:
        command.append("--until-idle")
    env = {**os.environ, "CTERA_PASSWORD": "secret"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    start_simulator: StartSimulator, tmp_path: Path
):
    # A live stream keeps every run busy, so kills land in pages, writes,
    # commits and longpolls alike.
    simulator = start_simulator(events=5_000, rate=4_000, ground_truth_hashes=False)
    out = tmp_path / "ds"
    moments = random.Random(11)
    killed_mid_run = 0

    for _ in range(KILLS):
        process = _collector(simulator.url, out)
        time.sleep(moments.uniform(0.8, 3.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed_mid_run += 1
        process.wait(30)

    served_before_final = len(simulator.portal.journal)
    final = _collector(simulator.url, out, until_idle=True, errors=subprocess.PIPE)
    _, errors = final.communicate(timeout=120)
    assert final.returncode == 0, errors.decode()

    assert killed_mid_run == KILLS, "a collector ended before it was killed"
    rows = read_rows(out)
    assert len(rows) >= served_before_final
    assert_matches_truth(rows, read_truth(simulator)[: len(rows)])
    leftovers = [p for p in out.rglob(".tmp-*")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
