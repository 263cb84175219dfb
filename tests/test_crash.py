"""SIGKILL the collector at random moments, restart it, and compare with the truth."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

from .cli_runs import assert_files_sound, run_collector, start_collector
from .collecting import assert_matches_truth, read_rows
from .conftest import StartSimulator, read_truth

KILLS = 12


SMALL_COMMITS = ("--max-rows", "2500", "--commit-every", "0.2")
"""Frequent commits, so kills often land while files are being published."""


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
        process = start_collector(simulator.url, out, *SMALL_COMMITS)
        time.sleep(moments.uniform(0.8, 3.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed_mid_run += 1
        process.communicate(timeout=30)

    served_before_final = len(simulator.portal.journal)
    status, errors = run_collector(simulator.url, out, *SMALL_COMMITS, "--until-idle")
    assert status == 0, errors

    assert killed_mid_run == KILLS, "a collector ended before it was killed"
    rows = read_rows(out)
    assert len(rows) >= served_before_final
    assert_matches_truth(rows, read_truth(simulator)[: len(rows)])
    assert_files_sound(out)
