"""The collector when the machine fails it: a full disk, a read-only output
folder, a state store held by another collector.

Each fault is made for a collector process only: ``RLIMIT_FSIZE`` stands for a
full disk (with SIGXFSZ ignored, a write past the limit fails with EFBIG, as
ENOSPC would), and an output folder of mode 0o500 is unwritable. Root ignores
permissions, so as root the collector runs without CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH (dropped from its bounding set before exec); the user
``nobody`` cannot be used here, as it cannot read the Python installation.

In each case the run must stop with one clear ``error:`` line and a non-zero
status, leave the committed data and cursor as they were, and, once the fault
is cleared, resume and end equal to the truth.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from .cli_runs import (
    assert_files_sound,
    error_line,
    run_collector,
    start_collector,
    watch_longpolls,
)
from .collecting import assert_matches_truth, read_rows
from .conftest import StartSimulator, read_truth

EVENTS = 9_000
COMMITTED = 4_000
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def _checkpoint(out: Path) -> tuple[int, str, int]:
    with sqlite3.connect(out / "_state" / "state.sqlite") as db:
        return db.execute("SELECT seq, cursor, events FROM checkpoint").fetchone()


def _first_part(start_simulator: StartSimulator, out: Path) -> tuple[object, list]:
    """A simulator and a dataset holding its first 4,000 events, committed."""
    simulator = start_simulator(events=EVENTS)
    status, errors = run_collector(
        simulator.url, out, "--max-events", str(COMMITTED), "--max-rows", "2500"
    )
    assert status == 0, errors
    truth = read_truth(simulator)
    assert_matches_truth(read_rows(out), truth[:COMMITTED])
    return simulator, truth


def _assert_intact(out: Path, truth: list, checkpoint: tuple[int, str, int]) -> None:
    assert _checkpoint(out) == checkpoint
    assert_matches_truth(read_rows(out), truth[:COMMITTED])


def _resume_to_the_end(simulator: object, out: Path, truth: list) -> None:
    status, errors = run_collector(simulator.url, out, "--until-idle")  # type: ignore[attr-defined]
    assert status == 0, errors
    assert_matches_truth(read_rows(out), truth)
    assert_files_sound(out)


def _small_files(limit: int) -> Callable[[], None]:
    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_file_size


def _without_root_permissions() -> None:
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop a capability")


def test_full_disk_stops_cleanly_and_resumes(
    start_simulator: StartSimulator, tmp_path: Path
):
    out = tmp_path / "ds"
    simulator, truth = _first_part(start_simulator, out)
    checkpoint = _checkpoint(out)

    status, errors = run_collector(
        simulator.url, out, "--until-idle", preexec_fn=_small_files(16 << 10)
    )

    assert status == 2
    message = error_line(errors)
    assert "free disk space" in message and "run again" in message
    _assert_intact(out, truth, checkpoint)
    _resume_to_the_end(simulator, out, truth)


@pytest.mark.parametrize("only_state", [False, True], ids=["every-folder", "_state"])
def test_unwritable_output_folder_stops_cleanly_and_resumes(
    start_simulator: StartSimulator, tmp_path: Path, only_state: bool
):
    out = tmp_path / "ds"
    simulator, truth = _first_part(start_simulator, out)
    checkpoint = _checkpoint(out)
    tree = [out, *out.rglob("*")]
    if only_state:
        tree = [out / "_state", *(out / "_state").iterdir()]
    for path in tree:
        path.chmod(0o500 if path.is_dir() else 0o400)

    try:
        status, errors = run_collector(
            simulator.url, out, "--until-idle", preexec_fn=_without_root_permissions
        )
    finally:
        for path in tree:
            path.chmod(0o700 if path.is_dir() else 0o600)

    assert status == 2
    message = error_line(errors)
    assert str(out) in message and "writable" in message
    _assert_intact(out, truth, checkpoint)
    _resume_to_the_end(simulator, out, truth)


def test_second_collector_process_is_refused(
    start_simulator: StartSimulator, tmp_path: Path
):
    out = tmp_path / "ds"
    simulator, truth = _first_part(start_simulator, out)
    simulator.portal.generate(0)
    held = watch_longpolls(simulator.portal)
    first = start_collector(simulator.url, out, "--commit-every", "0.2")
    assert held.wait(60), "the first collector never caught up"

    status, errors = run_collector(simulator.url, out, "--until-idle")
    first.send_signal(signal.SIGTERM)
    _, first_errors = first.communicate(timeout=30)

    assert status == 2
    assert "another collector is already writing" in error_line(errors)
    assert first.returncode == 0, first_errors
    assert_matches_truth(read_rows(out), truth)
    _resume_to_the_end(simulator, out, truth)
