"""Our portal client and notification service against the simulated portal."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ctera_audit import Event, NotificationService, Portal
from ctera_audit.errors import (
    AncestorsUnavailableError,
    AuthenticationError,
    CertificateError,
    FolderNotFoundError,
    TooManyFoldersError,
)
from ctera_audit.retry import RetryPolicy
from ctera_audit.simulator import Behaviour, FaultPlan

from .conftest import StartSimulator, read_truth


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


def _portal(simulator, **options) -> Portal:
    options.setdefault("retry", RetryPolicy(attempts=None))
    options.setdefault("sleep", _no_wait)
    return Portal(simulator.url, **options)


async def consume(
    service: NotificationService, count: int, **run_options
) -> tuple[list[Event], list[str]]:
    """Run the service until ``count`` events arrived, the way SDK users do."""
    queue: asyncio.Queue[Event] = asyncio.Queue()
    saved: list[str] = []
    events: list[Event] = []

    async def save_cursor(cursor: str) -> None:
        saved.append(cursor)

    service.run(queue, save_cursor, **run_options)
    try:
        while len(events) < count:
            events.append(await asyncio.wait_for(queue.get(), 60))
            queue.task_done()
        await asyncio.sleep(0.05)
    finally:
        await service.stop()
    return events, saved


async def test_backlog_of_100k_arrives_complete_in_order(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=100_000, ground_truth_hashes=False)
    truth = read_truth(simulator)

    async with _portal(simulator) as portal:
        await portal.login("admin", "secret")
        events, saved = await consume(NotificationService(portal), 100_000)

    assert [e.gvsn for e in events] == [t["gvsn"] for t in truth]
    assert [e.guid for e in events] == [t["guid"] for t in truth]
    expected_cursors = [
        simulator.portal.cursor_at(n) for n in range(2000, 100_001, 2000)
    ]
    assert saved == expected_cursors


async def test_resume_from_saved_cursor_delivers_exactly_the_rest(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=9_000)
    truth = read_truth(simulator)

    async with _portal(simulator) as portal:
        await portal.login("admin", "secret")
        first, saved = await consume(NotificationService(portal), 4_000)
        rest, _ = await consume(NotificationService(portal), 5_000, cursor=saved[1])

    assert [e.gvsn for e in first + rest] == [t["gvsn"] for t in truth]


async def test_folders_by_id_and_by_owner_and_name(start_simulator: StartSimulator):
    simulator = start_simulator(events=6_000)
    truth = read_truth(simulator)
    first, second = simulator.portal.workload.folders[:2]
    wanted = {first.uid, second.uid}
    expected = [t["gvsn"] for t in truth if t["folder_id"] in wanted]

    async with _portal(simulator) as portal:
        await portal.login("admin", "secret")
        by_mix, _ = await consume(
            NotificationService(portal),
            len(expected),
            cloudfolders=[first.uid, f"{second.owner.name}/{second.name}"],
        )
        with pytest.raises(FolderNotFoundError, match="nobody"):
            await portal.resolve_folders(["nobody/My Files"])

    assert [e.gvsn for e in by_mix] == expected


async def test_session_expiry_mid_stream_loses_and_repeats_nothing(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=20_000)
    truth = read_truth(simulator)
    queue: asyncio.Queue[Event] = asyncio.Queue()
    events: list[Event] = []

    async with _portal(simulator) as portal:
        await portal.login("admin", "secret")
        service = NotificationService(portal, read_ahead=1)
        service.run(queue, _ignore)
        while len(events) < 20_000:
            events.append(await asyncio.wait_for(queue.get(), 60))
            queue.task_done()
            if len(events) in (3_000, 11_000):
                simulator.portal.expire_sessions()
        await service.stop()
        relogins = portal.relogins

    assert [e.gvsn for e in events] == [t["gvsn"] for t in truth]
    assert relogins >= 2


@pytest.mark.parametrize(
    "fault",
    [
        "error=0.3",
        "drop=0.2",
        "malformed=0.2",
        "latency=0.3,latency_s=0.05",
        "expire=0.2",
    ],
)
async def test_each_fault_kind_is_survived(
    start_simulator: StartSimulator, fault: str, caplog: pytest.LogCaptureFixture
):
    simulator = start_simulator(
        events=12_000, faults=FaultPlan.parse(fault + ",seed=5")
    )
    truth = read_truth(simulator)
    caplog.set_level(logging.WARNING, logger="ctera_audit")

    async with _portal(simulator) as portal:
        await portal.login("admin", "secret")
        events, _ = await consume(NotificationService(portal, max_results=500), 12_000)

    assert [e.gvsn for e in events] == [t["gvsn"] for t in truth]
    kind = fault.split("=")[0]
    assert simulator.portal.faults.counts.get(kind, 0) > 0


async def test_stop_while_longpoll_is_pending_returns_promptly(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=100)

    async with _portal(simulator) as portal:
        await portal.login("admin", "secret")
        service = NotificationService(portal, longpoll_timeout_ms=60_000)
        events, _ = await consume_then_wait_for_longpoll(service, 100)
    assert len(events) == 100


async def consume_then_wait_for_longpoll(service: NotificationService, count: int):
    queue: asyncio.Queue[Event] = asyncio.Queue()
    events: list[Event] = []
    service.run(queue, _ignore)
    while len(events) < count:
        events.append(await asyncio.wait_for(queue.get(), 30))
        queue.task_done()
    while service.statistics.longpolls == 0:
        await asyncio.sleep(0.01)

    # The longpoll now holds for up to 60 s; stopping must not wait for it.
    await asyncio.wait_for(service.stop(), 5)
    return events, []


async def _ignore(cursor: str) -> None:
    return None


async def test_too_many_folders_is_a_clear_error(start_simulator: StartSimulator):
    simulator = start_simulator(events=10, behaviour=Behaviour(max_folder_ids=3))

    async with _portal(simulator) as portal:
        await portal.login("admin", "secret")
        with pytest.raises(TooManyFoldersError, match="at most 3") as caught:
            await portal.list_changes(None, [1, 2, 3, 4])
    assert caught.value.max_size == 3


async def test_wrong_password_is_refused_without_leaking_it(
    start_simulator: StartSimulator, caplog: pytest.LogCaptureFixture
):
    simulator = start_simulator(events=10)
    caplog.set_level(logging.DEBUG)

    portal = _portal(simulator)
    with pytest.raises(AuthenticationError) as caught:
        await portal.login("admin", "hunter2-wrong")
    await portal.close()

    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(portal)
    assert "hunter2" not in caplog.text


async def test_ancestors_of_a_deleted_object_is_a_skippable_error(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=2_000, users=2, team_folders=0)
    deleted = next(t for t in read_truth(simulator) if t["deleted"])

    async with _portal(simulator) as portal:
        await portal.login("admin", "secret")
        with pytest.raises(AncestorsUnavailableError, match=deleted["guid"]):
            await portal.ancestors(deleted["folder_id"], deleted["guid"])


async def test_tls_is_verified_by_default(start_simulator: StartSimulator):
    simulator = start_simulator(events=10, tls=True)

    strict = _portal(simulator)
    with pytest.raises(CertificateError, match="not trusted"):
        await strict.login("admin", "secret")
    await strict.close()

    async with _portal(simulator, verify=str(simulator.cert_path)) as trusting:
        await trusting.login("admin", "secret")
        page = await trusting.list_changes(None, max_results=5)
    assert len(page.entries) == 5
