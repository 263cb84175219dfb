"""The collector against the simulated portal's ground truth."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ctera_audit import Portal
from ctera_audit.collector import Collector, CollectorSettings
from ctera_audit.dataset.inspect import inspect_dataset
from ctera_audit.dataset.schema import SCHEMA, SCHEMA_VERSION
from ctera_audit.errors import DatasetError
from ctera_audit.simulator import FaultPlan

from .collecting import (
    assert_each_event_once,
    assert_matches_truth,
    collect_from,
    read_rows,
)
from .conftest import StartSimulator, read_truth


async def test_every_event_once_with_its_true_path(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(
        events=60_000, scenario="all", ground_truth_hashes=False
    )
    truth = read_truth(simulator)
    assert any(t["type"] == "folder" and t["action"] == "renamed" for t in truth)
    assert any(t["type"] == "folder" and t["action"] == "moved" for t in truth)

    summary = await collect_from(simulator, tmp_path / "ds", max_rows=7_000)

    assert_matches_truth(read_rows(tmp_path / "ds"), truth)
    assert summary.commits > 1
    assert summary.ancestors_calls / len(truth) <= 0.02


async def test_hostile_names_keep_their_rows(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=8_000, faults=FaultPlan(hostile=0.2))
    truth = read_truth(simulator)
    assert any("\x00" in t["name"] or "/" in t["name"] for t in truth)

    await collect_from(simulator, tmp_path / "ds")

    assert_matches_truth(read_rows(tmp_path / "ds"), truth)


async def test_resume_continues_exactly_where_it_stopped(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=20_000)
    truth = read_truth(simulator)
    out = tmp_path / "ds"

    first = await collect_from(simulator, out, until_idle=False, max_events=6_000)
    second = await collect_from(simulator, out)

    assert first.committed_events == 6_000
    assert second.events == 14_000
    assert_matches_truth(read_rows(out), truth)


async def test_the_folder_bound_holds_in_the_state_across_runs(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=20_000, ground_truth_hashes=False)
    truth = read_truth(simulator)
    out = tmp_path / "ds"
    assert len({t["guid"] for t in truth if t["type"] == "folder"}) > 1_000

    await collect_from(
        simulator, out, until_idle=False, max_events=8_000, max_folders=400
    )
    after_first = inspect_dataset(out).folder_tree
    await collect_from(simulator, out, max_folders=150, max_rows=3_000)

    assert 0 < after_first <= 400
    assert 0 < inspect_dataset(out).folder_tree <= 150
    rows = read_rows(out)
    assert_each_event_once(rows, truth)
    # Past the bound some parents are asked for again: named as they are now,
    # or not at all if deleted since. What the tree names is event-time true.
    from_tree = [
        (row["path"], t["path"])
        for row, t in zip(rows, truth, strict=True)
        if row["path_status"] == "tree"
    ]
    assert from_tree, "no path was named from the tree"
    assert all(path == true_path for path, true_path in from_tree)


async def test_lag_is_the_newest_event_age_until_caught_up(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=6_000, ground_truth_hashes=False)
    truth = read_truth(simulator)
    first_page = max(
        dt.datetime.fromisoformat(t["portal_modified_date"]) for t in truth[:1_000]
    )
    seen: list[tuple[bool, float | None]] = []

    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        collector = Collector(
            portal,
            tmp_path / "ds",
            settings=CollectorSettings(until_idle=True, max_results=1_000),
            progress=lambda statistics: seen.append(
                (statistics.caught_up, statistics.lag_s)
            ),
        )
        started = dt.datetime.now(dt.UTC)
        await collector.run()

    behind = [lag for caught_up, lag in seen if not caught_up]
    assert behind and seen[-1] == (True, 0.0)
    # The backlog's events are weeks old: while it lasts, the lag is their age.
    assert behind[0] is not None
    assert behind[0] >= (started - first_page).total_seconds()


async def test_folder_subset_and_another_portal_is_refused(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=10_000)
    truth = read_truth(simulator)
    folder = simulator.portal.workload.folders[2]
    out = tmp_path / "ds"

    await collect_from(simulator, out, folders=[f"{folder.owner.name}/{folder.name}"])

    assert_matches_truth(
        read_rows(out), [t for t in truth if t["folder_id"] == folder.uid]
    )
    with pytest.raises(DatasetError, match="choose a new --out"):
        await collect_from(simulator, out)


async def test_two_collectors_never_share_a_checkpoint(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=5_000, rate=200, ground_truth_hashes=False)
    out = tmp_path / "ds"

    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        first = Collector(portal, out, settings=CollectorSettings())
        running = asyncio.create_task(first.run())
        while first.statistics.pages == 0:
            await asyncio.sleep(0.01)

        with pytest.raises(DatasetError, match="another collector"):
            await collect_from(simulator, out)
        first.request_stop()
        summary = await running

    assert summary.stopped_because == "a stop was requested"
    assert summary.committed_events == summary.events


async def test_faults_leave_the_dataset_exact(
    start_simulator: StartSimulator, tmp_path: Path
):
    plan = FaultPlan.parse("error=0.1,drop=0.05,malformed=0.05,expire=0.05,seed=2")
    simulator = start_simulator(events=15_000, faults=plan)
    truth = read_truth(simulator)

    async with Portal(simulator.url, sleep=_no_wait) as portal:
        await portal.login("admin", "secret")
        # Small pages make many requests, so the faults drawn are many too.
        settings = CollectorSettings(until_idle=True, max_results=250)
        collector = Collector(portal, tmp_path / "ds", settings=settings)
        await collector.run()

    assert_matches_truth(read_rows(tmp_path / "ds"), truth)
    assert sum(simulator.portal.faults.counts.values()) > 10


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


async def test_files_read_back_with_declared_types(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=5_000)
    out = tmp_path / "ds"
    await collect_from(simulator, out)
    files = sorted(out.glob("event_date=*/part-*.parquet"))

    for file in files:
        assert pq.read_schema(file).remove_metadata() == SCHEMA.remove_metadata()
        metadata = pq.read_metadata(file).schema.to_arrow_schema().metadata
        assert metadata[b"ctera_audit.schema_version"] == SCHEMA_VERSION.encode()

    frame = pd.read_parquet(out)
    assert len(frame) == 5_000
    assert str(frame["portal_modified_date"].dtype) == "datetime64[ms, UTC]"
    assert isinstance(frame["type"].dtype, pd.CategoricalDtype)
    arrow_backed = pd.read_parquet(out, dtype_backend="pyarrow")
    assert str(arrow_backed["size"].dtype) == "int64[pyarrow]"

    relation = duckdb.sql(
        "SELECT typeof(portal_modified_date), typeof(size), typeof(event_date), "
        f"count(*) FROM read_parquet('{out}/**/*.parquet', hive_partitioning = true) "
        "GROUP BY ALL"
    ).fetchall()
    assert relation == [("TIMESTAMP WITH TIME ZONE", "BIGINT", "DATE", 5_000)]
    assert pa.types.is_dictionary(pq.read_schema(files[0]).field("path_status").type)


def _day(record: dict) -> str:
    return f"event_date={record['portal_modified_date'][:10]}"


def _day_files(out: Path) -> dict[str, list[Path]]:
    days: dict[str, list[Path]] = {}
    for path in sorted(out.glob("event_date=*/*.parquet")):
        days.setdefault(path.parent.name, []).append(path)
    return days


async def test_a_day_file_grows_across_commits_and_runs(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=30_000, events_per_day=12_000)
    truth = read_truth(simulator)
    out = tmp_path / "ds"

    first = await collect_from(simulator, out, until_idle=False, max_events=10_000)
    second = await collect_from(simulator, out, max_rows=2_000)

    assert first.commits + second.commits >= 10
    assert_matches_truth(read_rows(out), truth)
    days = _day_files(out)
    seen_first = {_day(t) for t in truth[:10_000]}
    assert set(days) == {_day(t) for t in truth} and len(days) > len(seen_first)
    assert all(len(files) == 1 for files in days.values()), days
    assert first.files == len(seen_first)
    assert second.files == len(days) - len(seen_first)  # the rest grew older files
    assert sum(pq.read_metadata(f).num_rows for [f] in days.values()) == 30_000


async def test_a_day_file_stops_growing_at_half_the_target(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=20_000, events_per_day=40_000)
    truth = read_truth(simulator)
    out = tmp_path / "ds"
    target = 400_000

    await collect_from(simulator, out, max_rows=1_000, file_bytes=target)

    assert_matches_truth(read_rows(out), truth)
    [files] = _day_files(out).values()
    sizes = [path.stat().st_size for path in files]
    assert len(files) > 2
    assert all(target // 2 <= size for size in sizes[:-1]), sizes
    assert all(size < target for size in sizes), sizes
