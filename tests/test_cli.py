"""The command line as the README runs it: ``collect --demo``, then ``report``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ctera_audit.arrowtext import escape_text

from .cli_runs import PASSWORD, collector_command, error_line
from .collecting import assert_matches_truth, read_rows
from .conftest import StartSimulator, read_truth

DEMO_EVENTS = 6_000


def _collect_from_nowhere(out: Path) -> tuple[str, ...]:
    """A collect command line against a port where no portal listens."""
    portal = ("--portal", "http://127.0.0.1:9", "--username", "admin")
    return ("collect", *portal, "--out", str(out))


def _run(
    *arguments: str, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """The command line in a child process: this environment plus ``env``,
    less the variables named in ``unset``."""
    environment = {**os.environ, **(env or {})}
    for name in unset:
        environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "ctera_audit", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        stdin=subprocess.DEVNULL,
    )


def test_demo_collect_then_report(start_simulator: StartSimulator, tmp_path: Path):
    out = tmp_path / "demo-events"
    same_workload = start_simulator(seed=11, events=DEMO_EVENTS)
    truth = read_truth(same_workload)

    collected = _run(
        "collect",
        "--demo",
        "--demo-seed",
        "11",
        "--demo-events",
        str(DEMO_EVENTS),
        "--out",
        str(out),
        "--until-idle",
        "--no-progress",
    )
    reported = _run("report", str(out))

    assert collected.returncode == 0, collected.stderr
    assert f"Collected {DEMO_EVENTS:,} events" in collected.stdout
    assert "Stopped because the stream caught up with the portal" in collected.stdout
    rows = read_rows(out)
    assert [(row["guid"], row["gvsn"]) for row in rows] == [
        (t["guid"], t["gvsn"]) for t in truth
    ]
    assert [row["path"] for row in rows] == [escape_text(t["path"]) for t in truth]

    assert reported.returncode == 0, reported.stderr
    lines = reported.stdout.splitlines()
    assert lines[0] == f"Dataset {out}"
    assert lines[1].startswith(f"  events:        {DEMO_EVENTS:,} (")
    assert lines[4].startswith("  folder tree:   ")
    assert "stream 'main' #1 at " in lines[5]
    assert f"({DEMO_EVENTS:,} events)" in lines[5]


def test_report_of_a_folder_that_is_no_dataset_says_so(tmp_path: Path):
    reported = _run("report", str(tmp_path))

    assert reported.returncode == 2
    assert reported.stderr.startswith("error: ")
    assert "is not a ctera-audit dataset" in reported.stderr
    assert len(reported.stderr.splitlines()) == 1


def test_collect_without_a_password_says_where_it_comes_from(tmp_path: Path):
    collected = _run(
        *_collect_from_nowhere(tmp_path / "ds"),
        unset=("CTERA_PASSWORD",),
    )

    assert collected.returncode == 2
    assert collected.stderr.strip() == (
        "error: no password: set $CTERA_PASSWORD "
        "(it is never taken from the command line)"
    )
    assert not (tmp_path / "ds").exists()


def test_an_unreachable_portal_ends_with_one_error_line(tmp_path: Path):
    collected = _run(
        *_collect_from_nowhere(tmp_path / "ds"),
        "--no-progress",
        env={"CTERA_PASSWORD": "secret"},
    )

    assert collected.returncode == 2
    line = error_line(collected.stderr)
    assert "login to http://127.0.0.1:9 still failed" in line
    assert collected.stderr.splitlines()[-1] == line


def test_sigint_mid_stream_commits_and_exits_cleanly(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=3_000, rate=2_000.0)
    out = tmp_path / "ds"
    process = subprocess.Popen(
        collector_command(simulator.url, out, "--commit-every", "3600"),
        env={**os.environ, "CTERA_PASSWORD": PASSWORD},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(simulator.portal.journal) < 9_000:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        summary, errors = process.communicate(timeout=60)
    finally:
        process.kill()

    rows = read_rows(out)
    served = read_truth(simulator)
    assert process.returncode == 0, errors
    assert "Stopped because SIGINT was received" in summary
    assert f"the dataset now holds {len(rows):,} events" in summary
    assert len(rows) >= 3_000
    assert_matches_truth(rows, served[: len(rows)])
