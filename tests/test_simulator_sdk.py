"""The official SDK, unchanged, as the client of the simulated portal.

Only host, port and the TLS verification switch are set; the SDK must accept
every answer as it would a real portal's.
"""

from __future__ import annotations

import asyncio
import hashlib

import cterasdk
import pytest
from cterasdk import AsyncGlobalAdmin
from cterasdk.core.types import CloudFSFolderFindingHelper, UserAccount
from cterasdk.direct.client import DirectIO

from .conftest import StartSimulator, read_truth

BACKLOG = 5_000


async def _logged_in(simulator) -> AsyncGlobalAdmin:
    admin = AsyncGlobalAdmin(simulator.host, simulator.port)
    await admin.login("admin", "secret")
    return admin


@pytest.fixture(autouse=True)
def _trust_self_signed() -> None:
    cterasdk.settings.core.asyn.settings.connector.ssl = False


async def _collect(service, count: int, **run_options) -> tuple[list, list]:
    """The consumer code SDK users write; it takes either service unchanged."""
    queue: asyncio.Queue = asyncio.Queue()
    saved: list[str] = []
    events = []

    async def save_cursor(cursor: str) -> None:
        saved.append(cursor)

    service.run(queue, save_cursor, **run_options)
    try:
        while len(events) < count:
            events.append(await asyncio.wait_for(queue.get(), 30))
            queue.task_done()
        await asyncio.sleep(0.2)
    finally:
        await service.stop()
    return events, saved


async def test_sdk_service_delivers_the_backlog_in_order(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(tls=True, events=BACKLOG)
    truth = read_truth(simulator)

    admin = await _logged_in(simulator)
    try:
        events, saved = await _collect(admin.notifications.service, BACKLOG)
    finally:
        await admin.logout()

    assert [(e.guid, e.gvsn) for e in events] == [(t["guid"], t["gvsn"]) for t in truth]
    assert [e.name for e in events[:100]] == [t["name"] for t in truth[:100]]
    assert len(saved) == -(-BACKLOG // 2000)
    assert len(set(saved)) == len(saved)


async def test_sdk_resumes_from_a_saved_cursor(start_simulator: StartSimulator):
    simulator = start_simulator(tls=True, events=BACKLOG)
    truth = read_truth(simulator)

    admin = await _logged_in(simulator)
    try:
        _, saved = await _collect(admin.notifications.service, 2000)
        rest, _ = await _collect(
            admin.notifications.service, BACKLOG - 2000, cursor=saved[0]
        )
    finally:
        await admin.logout()

    assert [e.gvsn for e in rest] == [t["gvsn"] for t in truth[2000:]]


async def test_sdk_ancestors_name_the_true_path(start_simulator: StartSimulator):
    simulator = start_simulator(tls=True, events=3_000)
    truth = read_truth(simulator)
    last_folder_change = max(i for i, t in enumerate(truth) if t["type"] == "folder")
    settled = [
        t
        for t in truth[last_folder_change + 1 :]
        if t["type"] == "file" and not t["deleted"]
    ]
    latest = {t["guid"]: t for t in truth}
    settled = [t for t in settled if latest[t["guid"]] is t][:20]
    assert settled, "the workload left no file untouched after its last folder change"

    admin = await _logged_in(simulator)
    try:
        events, _ = await _collect(admin.notifications.service, 3_000)
        by_gvsn = {e.gvsn: e for e in events}
        for record in settled:
            chain = await admin.notifications.ancestors(by_gvsn[record["gvsn"]])
            assert "/".join(item.name for item in chain) == record["path"]
    finally:
        await admin.logout()


async def test_sdk_filters_by_folder_helper(start_simulator: StartSimulator):
    simulator = start_simulator(tls=True, events=BACKLOG)
    truth = read_truth(simulator)
    folder = simulator.portal.workload.folders[0]

    admin = await _logged_in(simulator)
    expected = [t["gvsn"] for t in truth if t["folder_id"] == folder.uid]
    helper = CloudFSFolderFindingHelper(folder.name, UserAccount(folder.owner.name))
    try:
        events, _ = await _collect(
            admin.notifications.service, len(expected), cloudfolders=[helper]
        )
    finally:
        await admin.logout()

    assert [e.gvsn for e in events] == expected
    assert {e.folder_id for e in events} == {folder.uid}


async def test_sdk_directio_reads_the_true_bytes(start_simulator: StartSimulator):
    simulator = start_simulator(tls=False, events=2_000)
    config = simulator.portal.config
    files = [t for t in read_truth(simulator) if t["sha256"]][:15]

    async with DirectIO(
        simulator.url, config.access_key_id, config.secret_access_key
    ) as io:
        for record in files:
            streamer = await io.streamer(record["id"])
            data = b"".join([bytes(block.data) async for block in streamer.start()])
            assert len(data) == record["size"]
            assert hashlib.sha256(data).hexdigest() == record["sha256"]


async def test_sdk_sees_expired_session(start_simulator: StartSimulator):
    from cterasdk.exceptions.session import SessionExpired

    simulator = start_simulator(tls=True, events=100)
    async with AsyncGlobalAdmin(simulator.host, simulator.port) as admin:
        await admin.login("admin", "secret")
        simulator.portal.expire_sessions()
        with pytest.raises(SessionExpired):
            await admin.notifications.get(cursor=None)


async def test_sdk_wrong_password_is_refused(start_simulator: StartSimulator):
    from cterasdk.exceptions.auth import AuthenticationError

    simulator = start_simulator(tls=True, events=10)
    async with AsyncGlobalAdmin(simulator.host, simulator.port) as admin:
        with pytest.raises(AuthenticationError):
            await admin.login("admin", "not-the-password")


async def test_the_same_consumer_gets_the_same_from_the_sdk_and_from_ours(
    start_simulator: StartSimulator,
):
    from ctera_audit import NotificationService, Portal

    simulator = start_simulator(tls=True, events=BACKLOG, ground_truth_hashes=False)
    fields = ("type", "guid", "deleted", "name", "folder_id", "size", "id", "gvsn")

    admin = await _logged_in(simulator)
    try:
        sdk_events, sdk_cursors = await _collect(admin.notifications.service, BACKLOG)
    finally:
        await admin.logout()
    async with Portal(simulator.url, verify=str(simulator.cert_path)) as portal:
        await portal.login("admin", "secret")
        our_events, our_cursors = await _collect(NotificationService(portal), BACKLOG)

    def seen(events: list) -> list[tuple]:
        return [tuple(getattr(event, name) for name in fields) for event in events]

    assert seen(our_events) == seen(sdk_events)
    assert our_cursors == sdk_cursors
