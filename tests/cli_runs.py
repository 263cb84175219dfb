"""Helpers for tests that run the collector as a separate process.

A process can be killed, limited (file size, capabilities) and made to fail the
way an operator sees it: an exit status and one line on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

PASSWORD = "secret"
"""The simulator's default administrator password."""


def collector_command(url: str, out: Path, *extra: str) -> list[str]:
    """The ``collect`` command line for a simulated portal at ``url``."""
    return [
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
        "--no-progress",
        *extra,
    ]


def start_collector(
    url: str,
    out: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[str]:
    """Start a collector process; its stderr is a pipe the caller reads."""
    environment = {**os.environ, "CTERA_PASSWORD": PASSWORD, **(env or {})}
    return subprocess.Popen(
        collector_command(url, out, *extra),
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )


def run_collector(
    url: str,
    out: Path,
    *extra: str,
    preexec_fn: Callable[[], None] | None = None,
) -> tuple[int, str]:
    """Run a collector to its end; return its exit status and stderr."""
    process = start_collector(url, out, *extra, preexec_fn=preexec_fn)
    _, errors = process.communicate(timeout=120)
    return process.returncode, errors


def error_line(errors: str) -> str:
    """The one ``error:`` line a failed run printed; fails on a traceback."""
    assert "Traceback" not in errors, errors
    lines = [line for line in errors.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, errors
    return lines[0]


def assert_files_sound(out: Path) -> None:
    """Every data file reads whole and no temporary file is left behind."""
    for file in out.rglob("*.parquet"):
        pq.read_table(file)
    leftovers = list(out.rglob(".tmp-*"))
    assert not leftovers, f"temporary files left behind: {leftovers}"


def watch_longpolls(portal: Any) -> threading.Event:
    """An event set once the simulated portal holds a longpoll at its journal's end.

    It tells that a collector has caught up and is waiting, without a hook in
    the collector.
    """
    held = threading.Event()
    original = portal.wait_for_changes

    async def watched(position: int, folder_ids: list[int], timeout_s: float) -> bool:
        if position == len(portal.journal) and timeout_s >= 1:
            held.set()
        return await original(position, folder_ids, timeout_s)

    portal.wait_for_changes = watched
    return held
