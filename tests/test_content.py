"""Content capture against the simulated portal's ground truth."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from cterasdk.direct.client import DirectIO

from ctera_audit import Portal
from ctera_audit.blockcodec import new_secret_access_key
from ctera_audit.cli import main
from ctera_audit.collector import Collector, CollectorSettings
from ctera_audit.content import ContentCapture, ContentFilter
from ctera_audit.directio import DirectIOClient
from ctera_audit.runner import ContentSettings
from ctera_audit.simulator import FaultPlan, RunningSimulator
from ctera_audit.streams import MultiStreamCollector

from .collecting import assert_matches_truth, read_rows
from .conftest import StartSimulator, read_truth

SMALL_FILES = {
    "max_file_size": 48 << 10,
    "block_size": 16 << 10,
    "users": 1,
    "team_folders": 0,
}
"""A small portal of small files of several blocks, busy with renames, moves and
deletes after its first 224 events, so tests stay fast."""
SHA256_NAME = re.compile(r"[0-9a-f]{64}")


def directio(simulator: RunningSimulator, **options: Any) -> DirectIOClient:
    """Our DirectIO client for the simulator, with its keys and no back-off waits."""
    config = simulator.portal.config
    options.setdefault("sleep", _no_wait)
    options.setdefault("access_key_id", config.access_key_id)
    options.setdefault("secret_access_key", config.secret_access_key)
    return DirectIOClient(simulator.url, **options)


async def collect_content(
    simulator: RunningSimulator, out: Path, mode: str, **client_options: Any
) -> ContentCapture:
    """Collect the whole backlog into ``out`` with content capture on."""
    async with (
        Portal(simulator.url, sleep=_no_wait) as portal,
        directio(simulator, **client_options) as client,
    ):
        await portal.login("admin", "secret")
        capture = ContentCapture(client, mode=mode, store=out / "_content")  # type: ignore[arg-type]
        collector = Collector(
            portal, out, settings=CollectorSettings(until_idle=True), content=capture
        )
        await collector.run()
        return capture


def live_files(truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in truth if t["sha256"] is not None]


def stored_objects(store: Path) -> list[Path]:
    return sorted(path for path in store.rglob("*") if path.is_file())


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


async def test_hash_records_the_true_sha256_of_every_file(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=400, **SMALL_FILES)
    truth = read_truth(simulator)

    capture = await collect_content(simulator, tmp_path / "ds", "hash")

    rows = read_rows(tmp_path / "ds")
    assert_matches_truth(rows, truth)
    assert any(t["deleted"] and t["type"] == "file" for t in truth)
    for row, true in zip(rows, truth, strict=True):
        if true["sha256"] is not None:
            assert row["content_status"] == "captured"
            assert (row["content_sha256"], row["content_size"]) == (
                true["sha256"],
                true["size"],
            )
        elif true["type"] == "folder":
            assert row["content_status"] == "skipped:folder"
        else:
            assert row["content_status"] == "skipped:deleted"
    assert capture.statistics.captured == len(live_files(truth))
    assert capture.statistics.bytes > 0
    assert not (tmp_path / "ds" / "_content").exists()


async def test_store_keeps_true_bytes_once_under_their_digest(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=300, **SMALL_FILES)
    truth = read_truth(simulator)
    store = tmp_path / "ds" / "_content"

    first = await collect_content(simulator, tmp_path / "ds", "store")
    objects = stored_objects(store)
    async with directio(simulator) as client:
        again = ContentCapture(client, mode="store", store=store)
        await again.capture_page(live_files(truth))

    digests = {t["sha256"] for t in live_files(truth)}
    assert {path.name for path in objects} == digests
    assert first.statistics.stored == len(objects) == len(digests)
    for path in objects:
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == path.name
        assert path.relative_to(store).parts == (
            path.name[:2],
            path.name[2:4],
            path.name,
        )
    assert again.statistics.captured == len(live_files(truth))
    assert again.statistics.stored == 0
    assert stored_objects(store) == objects


async def test_a_partial_version_left_by_a_crash_is_removed_on_start(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=200, **SMALL_FILES)
    store = tmp_path / "ds" / "_content"
    await collect_content(simulator, tmp_path / "ds", "store")
    objects = stored_objects(store)
    # What a run killed while writing a version leaves: a hidden, partial file.
    partial = store / ".incoming-main-k1ll3d"
    partial.write_bytes(b"half a version")

    await collect_content(simulator, tmp_path / "ds", "store")

    assert not partial.exists()
    assert objects and stored_objects(store) == objects


async def test_folder_group_streams_share_one_content_store(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=400, **{**SMALL_FILES, "users": 3})
    truth = read_truth(simulator)
    out = tmp_path / "ds"

    async with (
        Portal(simulator.url, sleep=_no_wait) as portal,
        directio(simulator) as client,
    ):
        await portal.login("admin", "secret")
        capture = ContentCapture(client, mode="store", store=out / "_content")
        streams = MultiStreamCollector(
            portal,
            out,
            settings=CollectorSettings(until_idle=True),
            max_folders_per_stream=1,
            content=capture,
        )
        summaries = await streams.run()

    rows = read_rows(out)
    assert len(summaries) == 3
    assert_matches_truth(rows, truth)
    for row, true in zip(rows, truth, strict=True):
        if true["sha256"] is not None:
            assert (row["content_status"], row["content_sha256"]) == (
                "captured",
                true["sha256"],
            )
    digests = {t["sha256"] for t in live_files(truth)}
    assert {path.name for path in stored_objects(out / "_content")} == digests
    assert capture.statistics.captured == len(live_files(truth))


async def test_hostile_names_never_write_outside_the_store(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(
        events=500, faults=FaultPlan(hostile=0.3), **SMALL_FILES
    )
    truth = read_truth(simulator)
    assert any("/" in t["name"] or ".." in t["name"] for t in truth)
    out = tmp_path / "ds"

    await collect_content(simulator, out, "store")

    assert_matches_truth(read_rows(out), truth)
    unexpected = []
    for path in tmp_path.rglob("*"):
        relative = path.relative_to(tmp_path).parts
        if relative[0] != "ds":
            expected = re.fullmatch(r"truth-\d+\.jsonl", relative[0])
        elif len(relative) == 1 or relative[1] == "_state":
            expected = True
        elif relative[1] == "_content":
            expected = _is_store_entry(path, relative[2:])
        else:
            expected = re.fullmatch(r"event_date=[\d-]+", relative[1]) and (
                len(relative) == 2 or re.fullmatch(r"part-.+\.parquet", relative[2])
            )
        if not expected:
            unexpected.append(path)
    assert not unexpected, f"unexpected paths: {unexpected[:5]}"


def _is_store_entry(path: Path, parts: tuple[str, ...]) -> bool:
    """A store directory (0o700) or object (0o600) at its content address."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if path.is_dir():
        return mode == 0o700 and len(parts) <= 2
    return (
        mode == 0o600
        and len(parts) == 3
        and SHA256_NAME.fullmatch(parts[2]) is not None
        and parts[:2] == (parts[2][:2], parts[2][2:4])
    )


async def test_block_faults_are_retried_and_the_rest_reported(
    start_simulator: StartSimulator, tmp_path: Path
):
    plan = FaultPlan(error=0.2, drop=0.05, seed=3)
    simulator = start_simulator(events=500, faults=plan, **SMALL_FILES)
    truth = read_truth(simulator)

    capture = await collect_content(simulator, tmp_path / "ds", "hash", retries=1)

    rows = read_rows(tmp_path / "ds")
    assert_matches_truth(rows, truth)
    statuses = [row["content_status"] for row in rows]
    assert statuses.count("captured") > 0.5 * len(live_files(truth))
    assert statuses.count("failed:download_error") > 0
    assert set(statuses) <= {
        "captured",
        "failed:download_error",
        "skipped:folder",
        "skipped:deleted",
    }
    for row, true in zip(rows, truth, strict=True):
        if row["content_status"] == "captured":
            assert row["content_sha256"] == true["sha256"]
        else:
            assert row["content_sha256"] is None
    assert capture.statistics.failed == statuses.count("failed:download_error")


@pytest.mark.parametrize("wrong", ["secret_access_key", "access_key_id"])
async def test_a_wrong_key_fails_every_file_with_one_error_line(
    start_simulator: StartSimulator, wrong: str, caplog: pytest.LogCaptureFixture
):
    simulator = start_simulator(events=200, **SMALL_FILES)
    truth = read_truth(simulator)
    bad_key = new_secret_access_key() if wrong == "secret_access_key" else "AK-WRONG"

    async with directio(simulator, **{wrong: bad_key}) as client:
        capture = ContentCapture(client, mode="hash")
        with caplog.at_level(logging.WARNING, logger="ctera_audit"):
            results = await capture.capture_page(truth[:100])
            results += await capture.capture_page(truth[100:])

    files = [r for r, t in zip(results, truth, strict=True) if t["sha256"]]
    assert files and all(r == (None, None, "failed:unauthorized") for r in files)
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1
    assert errors[0].levelno == logging.ERROR
    assert errors[0].name == "ctera_audit.content"
    config = simulator.portal.config
    for secret in (config.secret_access_key, bad_key):
        assert secret not in caplog.text


async def test_the_official_sdk_reads_the_bytes_we_store(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=300, **SMALL_FILES)
    files = sorted(live_files(read_truth(simulator)), key=lambda t: t["size"])
    sample = files[:: max(1, len(files) // 10)][:10] + files[-1:]
    assert sum(1 for t in sample if t["size"] > SMALL_FILES["block_size"]) >= 3
    config = simulator.portal.config

    async with directio(simulator) as client:
        capture = ContentCapture(client, mode="store", store=tmp_path / "store")
        results = await capture.capture_page(sample)
    async with DirectIO(
        simulator.url, config.access_key_id, config.secret_access_key
    ) as theirs:
        for (sha256, size, status), true in zip(results, sample, strict=True):
            streamer = await theirs.streamer(true["id"])
            data = b"".join([bytes(block.data) async for block in streamer.start()])
            ours = (tmp_path / "store" / sha256[:2] / sha256[2:4] / sha256).read_bytes()
            assert status == "captured"
            assert ours == data
            assert size == len(data) == true["size"]


async def test_filters_skip_what_they_should(start_simulator: StartSimulator):
    simulator = start_simulator(events=1_000, **{**SMALL_FILES, "users": 2})
    truth = read_truth(simulator)
    candidates = [
        t for t in live_files(truth) if _extension(t) in ("docx", "pdf") and t["size"]
    ]
    folder = candidates[0]["folder_id"]
    filters = ContentFilter(
        extensions_allow={"DOCX", ".pdf", "txt"},
        extensions_deny={"txt"},
        max_size=30_000,
        folders={folder},
    )

    async with directio(simulator) as client:
        capture = ContentCapture(client, mode="hash", filters=filters)
        results = await capture.capture_page(truth)

    expected = []
    for t in truth:
        if t["type"] == "folder":
            expected.append("skipped:folder")
        elif t["deleted"]:
            expected.append("skipped:deleted")
        elif _extension(t) not in ("docx", "pdf"):
            expected.append("skipped:extension")
        elif t["size"] > 30_000:
            expected.append("skipped:too_large")
        elif t["folder_id"] != folder:
            expected.append("skipped:folder_filter")
        else:
            expected.append("captured")
    assert [status for _, _, status in results] == expected
    assert expected.count("captured") >= 2
    assert "skipped:folder_filter" in expected
    assert capture.statistics.skipped == len(truth) - expected.count("captured")


async def test_deleted_files_are_read_when_asked(start_simulator: StartSimulator):
    simulator = start_simulator(events=400, **SMALL_FILES)
    truth = read_truth(simulator)
    live = {t["id"]: t["sha256"] for t in live_files(truth)}
    deleted = [t for t in truth if t["type"] == "file" and t["deleted"]][:5]
    assert deleted

    async with directio(simulator) as client:
        capture = ContentCapture(
            client, mode="hash", filters=ContentFilter(include_deleted=True)
        )
        results = await capture.capture_page(deleted)

    assert [(sha256, status) for sha256, _, status in results] == [
        (live[t["id"]], "captured") for t in deleted
    ]


def _extension(entry: dict[str, Any]) -> str:
    return entry["name"].rpartition(".")[2].lower()


async def test_the_real_size_wins_and_a_size_lie_is_caught_while_reading(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=400, **SMALL_FILES)
    files = [t for t in live_files(read_truth(simulator)) if t["size"] > 40_000][:4]
    understated = [{**t, "size": 10} for t in files]

    async with directio(simulator) as client:
        plain = await ContentCapture(client, mode="hash").capture_page(understated)
        limited = ContentCapture(
            client, mode="hash", filters=ContentFilter(max_size=20_000)
        )
        guarded = await limited.capture_page(understated)

    assert plain == [(t["sha256"], t["size"], "captured") for t in files]
    assert guarded == [(None, None, "skipped:too_large")] * len(files)


async def test_a_slow_page_times_out_and_leaves_no_partial_files(
    start_simulator: StartSimulator, tmp_path: Path
):
    plan = FaultPlan(latency=1.0, latency_s=5.0, seed=1)
    simulator = start_simulator(events=300, faults=plan, **SMALL_FILES)
    files = [t for t in live_files(read_truth(simulator)) if t["size"] > 40_000][:8]
    store = tmp_path / "store"

    async with directio(simulator) as client:
        capture = ContentCapture(client, mode="store", store=store, page_timeout_s=0.5)
        started = time.monotonic()
        results = await capture.capture_page(files)
        elapsed = time.monotonic() - started

    assert elapsed < 1.5
    assert results == [(None, None, "failed:timeout")] * len(files)
    assert list(store.iterdir()) == []


def test_the_command_line_captures_demo_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("CTERA_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("CTERA_SECRET_ACCESS_KEY", raising=False)
    out = tmp_path / "ds"

    status = main(
        [
            "collect",
            "--out",
            str(out),
            "--demo",
            "--demo-events",
            "600",
            "--until-idle",
            "--no-progress",
            "--content",
            "store",
            "--content-extensions",
            "txt,PY",
            "--content-max-size",
            "20000",
            "--stream-group-size",
            "10",
        ]
    )

    rows = read_rows(out)
    captured = [row for row in rows if row["content_status"] == "captured"]
    streams = {path.name.split("-")[1] for path in out.glob("event_date=*/*.parquet")}
    assert status == 0
    assert len(streams) == 3
    assert captured
    for row in captured:
        assert row["extension"] in ("txt", "py") and row["content_size"] <= 20_000
        sha256 = row["content_sha256"]
        data = (out / "_content" / sha256[:2] / sha256[2:4] / sha256).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256
    assert {row["content_status"] for row in rows} - {"captured"} <= {
        "skipped:folder",
        "skipped:deleted",
        "skipped:extension",
        "skipped:too_large",
    }
    assert "hidden" not in repr(ContentSettings("hash", "AK", "hidden"))
