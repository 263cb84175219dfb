"""The collector against the simulated portal's ground truth."""

from __future__ import annotations

import asyncio
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ctera_audit import Portal
from ctera_audit.collector import Collector, CollectorSettings
from ctera_audit.dataset.schema import SCHEMA, SCHEMA_VERSION
from ctera_audit.errors import DatasetError
from ctera_audit.simulator import FaultPlan

from .collecting import assert_matches_truth, collect_from, read_rows
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
        collector = Collector(
            portal, tmp_path / "ds", settings=CollectorSettings(until_idle=True)
        )
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
