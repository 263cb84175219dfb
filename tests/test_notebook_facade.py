"""The notebook facade: background collection, blocking collect inside a loop, errors.

These run against the embedded simulated portal with live arrivals, so they
poll real time for a few seconds at most.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ctera_audit import (
    CollectorSettings,
    DemoPortal,
    collect,
    load,
    start_collection,
)
from ctera_audit.analysis import scan
from ctera_audit.collector import CollectorStatistics
from ctera_audit.errors import DatasetError, FolderNotFoundError

LIVE = DemoPortal(events=5_000, rate=500)
"""A short backlog, then 500 events a second for as long as the test runs."""

FAST_COMMITS = CollectorSettings(max_age_s=0.5)


def _eventually(check: Callable[[], int | None], timeout_s: float = 20.0) -> int:
    """Poll ``check`` until it returns a number; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value is not None:
            return value
        time.sleep(0.1)
    pytest.fail(f"nothing happened within {timeout_s} s")


def _committed_rows(out: Path, more_than: int = 0) -> int | None:
    """Rows readable with ``load`` now, or None until there are ``more_than``."""
    try:
        rows = len(load(out, columns=["guid"]))
    except DatasetError:  # no file committed yet
        return None
    return rows if rows > more_than else None


def test_committed_events_are_readable_while_it_runs(tmp_path: Path) -> None:
    running = start_collection(tmp_path, LIVE, settings=FAST_COMMITS, progress=None)
    try:
        first = _eventually(lambda: _committed_rows(tmp_path))
        more = _eventually(lambda: _committed_rows(tmp_path, more_than=first))
        assert running.running
        assert running.statistics.events >= more
        assert running.summary is None
    finally:
        summary = running.stop(timeout=30)

    assert first > 0
    assert not running.running
    assert running.summary == summary
    assert summary.stopped_because == "a stop was requested"
    assert summary.events == summary.committed_events >= more
    keys = scan(tmp_path, columns=["guid", "gvsn"]).to_table().to_pylist()
    assert len(keys) == summary.events
    assert len({(key["guid"], key["gvsn"]) for key in keys}) == len(keys)
    assert len(load(tmp_path)) == summary.events


def test_a_stop_before_the_first_page_is_honoured(tmp_path: Path) -> None:
    running = start_collection(tmp_path, LIVE, settings=FAST_COMMITS, progress=None)

    summary = running.stop(timeout=30)

    assert summary.stopped_because == "a stop was requested"
    assert running.statistics.events == summary.events


def test_progress_receives_snapshots(tmp_path: Path) -> None:
    seen: list[CollectorStatistics] = []
    source = DemoPortal(events=4_000)
    settings = CollectorSettings(until_idle=True, max_results=500)

    running = start_collection(
        tmp_path, source, settings=settings, progress=seen.append
    )
    summary = running.wait(timeout=60)

    events = [snapshot.events for snapshot in seen]
    assert events[0] == 500  # a copy: later pages did not change it
    assert events == sorted(events)
    assert events[-1] == summary.events == running.statistics.events == 4_000


def test_an_error_surfaces_from_wait_and_stop(tmp_path: Path) -> None:
    running = start_collection(
        tmp_path, DemoPortal(events=1_000), folders=["nobody/x"], progress=None
    )

    with pytest.raises(FolderNotFoundError, match="nobody"):
        running.wait(timeout=60)

    with pytest.raises(FolderNotFoundError):
        running.stop(timeout=5)
    assert not running.running
    assert running.summary is None


def test_blocking_collect_from_plain_code(tmp_path: Path) -> None:
    summary = collect(
        tmp_path, DemoPortal(events=3_000), settings=CollectorSettings(until_idle=True)
    )

    assert summary.events == 3_000
    assert len(load(tmp_path)) == 3_000


async def test_blocking_collect_inside_a_running_loop(tmp_path: Path) -> None:
    """A notebook cell runs inside the kernel's event loop; collect must still work."""
    summary = collect(
        tmp_path, DemoPortal(events=3_000), settings=CollectorSettings(until_idle=True)
    )

    assert summary.events == 3_000
    assert len(load(tmp_path)) == 3_000
