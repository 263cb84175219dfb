"""SIGKILL the collector at named points, restart it, and compare with the truth.

Random kills (``test_crash.py``) land where time is spent; these land exactly
in the narrow windows that matter. The collector's test hook
(``CTERA_AUDIT_TEST_PAUSE_AT``, off by default) holds the process at a page, a
write, a commit or the retiring of replaced files; the longpoll is caught by
watching the simulator hold one.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

from ctera_audit.collector import PAUSE_VARIABLE

from .cli_runs import (
    assert_files_sound,
    run_collector,
    start_collector,
    watch_longpolls,
)
from .collecting import assert_matches_truth, read_rows
from .conftest import StartSimulator, read_truth

EVENTS = 9_000
"""Five pages of 2,000; with 2,500 rows per commit, a commit every two pages."""
COMMIT_SETTINGS = ("--max-rows", "2500", "--commit-every", "300")


def _parts(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("part-*.parquet")}


def _recorded(out: Path) -> set[str]:
    with sqlite3.connect(out / "_state" / "state.sqlite") as db:
        return {path for (path,) in db.execute("SELECT path FROM files")}


POINTS = [
    ("page:3", lambda out: _parts(out) == _recorded(out)),
    ("write:2", lambda out: any(out.rglob(".tmp-*"))),
    ("commit:1", lambda out: _parts(out) > _recorded(out)),
    ("retire:1", lambda out: _parts(out) > _recorded(out)),
]
"""Where each run is held, and how to tell the kill lands in that window.

One dataset goes through every kill: the first run commits 4,000 events and
dies in its third page; each later run resumes and dies at its own point. The
last is between a commit that grew a day's file and the deletion of the file
it replaced."""


def test_kill_at_every_named_point_then_resume(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=EVENTS)
    out = tmp_path / "ds"
    held = watch_longpolls(simulator.portal)

    for point, in_the_window in POINTS:
        process = start_collector(
            simulator.url,
            out,
            "--until-idle",
            *COMMIT_SETTINGS,
            env={PAUSE_VARIABLE: point},
        )
        assert process.stderr is not None
        lines = iter(process.stderr.readline, "")
        announced = next((ln for ln in lines if ln.startswith("paused at")), None)
        assert announced == f"paused at {point.partition(':')[0]}\n"
        assert in_the_window(out), f"the kill at {point} misses its window"
        assert _recorded(out), "a commit should precede the kill"
        _kill(process)

    process = start_collector(simulator.url, out, *COMMIT_SETTINGS)
    assert held.wait(60), "the collector never waited in a longpoll"
    assert process.poll() is None
    _kill(process)
    simulator.portal.generate(500)
    status, errors = run_collector(simulator.url, out, "--until-idle")

    assert status == 0, errors
    assert_matches_truth(read_rows(out), read_truth(simulator))
    assert len(read_rows(out)) == EVENTS + 500
    assert_files_sound(out)
    assert _parts(out) == _recorded(out)


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
