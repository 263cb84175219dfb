"""Pages read in a child process: the same pages, its errors and logs, and its end."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pytest

from ctera_audit import NotificationService, Portal
from ctera_audit.errors import AuthenticationError, PortalUnavailableError
from ctera_audit.page_process import PageProcess
from ctera_audit.portal import SessionRecipe
from ctera_audit.retry import RetryPolicy
from ctera_audit.simulator import FaultPlan

from .cli_runs import start_collector
from .conftest import StartSimulator
from .test_directio import serve
from .test_hostile_input import HostilePortal, _entry, _page


def _page_readers(parent: int | None = None) -> list[int]:
    """Page reader processes whose parent is ``parent`` (this test process)."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        alive = "State:\tZ" not in status
        ppid = int(status.split("PPid:", 1)[1].split()[0])
        if ppid == parent and alive and b"ctera_audit.page_process" in command:
            found.append(int(entry.name))
    return found


PARTS = ("cmdline", "environ")
"""What other local users may read of a process."""


async def _pages(source, **options) -> list[tuple[str, bool, list[dict]]]:
    stream = source.pages(columnar=True, **options)
    return [(page.cursor, page.has_more, page.entries) async for page in stream]


async def test_the_child_gives_the_pages_the_service_gives(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=7_000, ground_truth=None)
    folder = simulator.portal.workload.folders[0].uid
    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        session = portal.session_recipe()
        assert session is not None
        for folders in ([], [folder]):
            here = await _pages(
                NotificationService(portal), cloudfolders=folders, until_idle=True
            )
            there = await _pages(
                PageProcess(session), cloudfolders=folders, until_idle=True
            )

            assert there == here
            assert sum(len(entries) for _, _, entries in there) > 0

    assert _page_readers() == []


async def test_pages_with_bad_values_come_as_rows():
    hostile = HostilePortal()
    hostile.pages[""] = _page(
        [_entry("a", "a.txt"), _entry("b", "b.txt", size="9")], "c1"
    )
    with serve(hostile.app()) as url:
        async with Portal(url) as portal:
            await portal.login("admin", "password")
            session = portal.session_recipe()
            assert session is not None
            [page, empty] = [
                p async for p in PageProcess(session).pages(until_idle=True)
            ]

    assert page.columns is None
    assert [entry["guid"] for entry in page.entries] == ["a", "b"]
    assert page.entries[1]["size"] == "9"
    assert (empty.cursor, len(empty)) == ("c1", 0)


async def test_the_childs_error_is_raised_here_with_its_class_and_message(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=100)
    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        good = portal.session_recipe()
    assert good is not None
    wrong = SessionRecipe(**{**vars(good), "password": "not-the-password"})

    with pytest.raises(AuthenticationError, match="refused user 'admin'") as refused:
        await _pages(PageProcess(wrong), until_idle=True)

    assert "not-the-password" not in str(refused.value)
    assert "not-the-password" not in repr(wrong)
    assert _page_readers() == []


async def test_the_childs_log_records_are_logged_here(
    start_simulator: StartSimulator, caplog: pytest.LogCaptureFixture
):
    simulator = start_simulator(events=100, faults=FaultPlan(error=1.0))
    caplog.set_level(logging.WARNING, logger="ctera_audit")
    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        session = portal.session_recipe()
    assert session is not None
    patient = SessionRecipe(
        **{**vars(session), "retry": RetryPolicy(attempts=3, initial_s=0.01)}
    )

    with pytest.raises(PortalUnavailableError, match="still failed after 3 tries"):
        await _pages(PageProcess(patient), until_idle=True)

    warnings = [r for r in caplog.records if r.name == "ctera_audit.portal"]
    assert any("failed 2 times in a row" in r.getMessage() for r in warnings)


async def test_stopping_early_ends_the_child_which_never_showed_the_password(
    start_simulator: StartSimulator,
):
    password = "pw-Zq8vX-distinct"
    simulator = start_simulator(events=20_000, ground_truth=None, password=password)
    async with Portal(simulator.url) as portal:
        await portal.login("admin", password)
        session = portal.session_recipe()
        assert session is not None
        stream = PageProcess(session, read_ahead=1).pages()
        first = await anext(stream)
        [child] = _page_readers()
        shown = [
            Path(f"/proc/{child}/{part}").read_bytes()
            for part in ("cmdline", "environ")
        ]
        await stream.aclose()

    assert len(first) == 2_000
    assert _page_readers() == []
    assert not any(password.encode() in text for text in shown)
    assert password not in repr(session)


def test_a_killed_collector_takes_its_page_reader_with_it(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=3_000, rate=500.0, ground_truth=None)
    collector = start_collector(simulator.url, tmp_path / "ds")
    try:
        deadline = time.monotonic() + 60
        readers: list[int] = []
        while not readers:
            assert time.monotonic() < deadline, "no page reader process appeared"
            readers = _page_readers(collector.pid)
            time.sleep(0.1)
        collector.send_signal(signal.SIGKILL)
        collector.communicate(timeout=30)

        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in readers):
            assert time.monotonic() < deadline, "the page reader outlived its parent"
            time.sleep(0.1)
    finally:
        collector.kill()


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status
