"""Collecting into an S3-compatible object store (moto's server on loopback)."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
from moto.server import ThreadedMotoServer

from ctera_audit import Portal
from ctera_audit.analysis.load import load
from ctera_audit.collector import CollectionSummary, Collector, CollectorSettings
from ctera_audit.dataset.schema import PARTITIONING_SCHEMA
from ctera_audit.dataset.storage import open_storage
from ctera_audit.errors import ConfigurationError, DatasetError
from ctera_audit.simulator import RunningSimulator

from .collecting import assert_matches_truth
from .conftest import StartSimulator, read_truth

BUCKET = "audit"
KILLS = 4

WORKER = """
import asyncio, sys
from ctera_audit import Portal
from ctera_audit.collector import Collector, CollectorSettings

def announce(statistics):
    print("page", statistics.pages, flush=True)

async def main(url, out, state_dir):
    settings = CollectorSettings(
        until_idle=True, max_rows=2_500, max_age_s=0.2, max_results=500
    )
    async with Portal(url) as portal:
        await portal.login("admin", "secret")
        collector = Collector(
            portal, out, settings=settings, state_dir=state_dir, progress=announce
        )
        summary = await collector.run()
    print(summary.committed_events, flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[pafs.S3FileSystem]:
    """A moto S3 server on loopback with one bucket; the AWS_* variables point
    at it, for this process and the collectors it starts.
    """
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    filesystem = pafs.S3FileSystem(
        endpoint_override=f"{host}:{port}",
        scheme="http",
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        allow_bucket_creation=True,
    )
    filesystem.create_dir(BUCKET)
    try:
        yield filesystem
    finally:
        server.stop()


def _rows(filesystem: pafs.S3FileSystem, prefix: str) -> list[dict]:
    """Every row of every object under the prefix, duplicates kept, gvsn order."""
    dataset = ds.dataset(
        f"{BUCKET}/{prefix}",
        filesystem=filesystem,
        format="parquet",
        partitioning=ds.partitioning(PARTITIONING_SCHEMA, flavor="hive"),
    )
    rows = dataset.to_table().to_pylist()
    rows.sort(key=lambda row: row["gvsn"])
    return rows


def _objects(filesystem: pafs.S3FileSystem, prefix: str) -> set[str]:
    selector = pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True)
    start = len(f"{BUCKET}/{prefix}/")
    return {
        info.path[start:]
        for info in filesystem.get_file_info(selector)
        if info.type == pafs.FileType.File
    }


def _manifest(state_dir: Path) -> dict[str, int]:
    """The files the state store recorded and their rows, read without opening
    a stream.
    """
    database = sqlite3.connect(f"file:{state_dir / 'state.sqlite'}?mode=ro", uri=True)
    try:
        return dict(database.execute("SELECT path, rows FROM files"))
    finally:
        database.close()


async def _collect(
    simulator: RunningSimulator, out: str, state_dir: Path, **settings: int
) -> CollectionSummary:
    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        collector = Collector(
            portal,
            out,
            settings=CollectorSettings(until_idle=True, **settings),
            state_dir=state_dir,
        )
        return await collector.run()


def _worker(url: str, out: str, state_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, url, out, str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_while_writing_objects_loses_and_duplicates_nothing(
    start_simulator: StartSimulator, s3: pafs.S3FileSystem, tmp_path: Path
):
    simulator = start_simulator(events=30_000)
    truth = read_truth(simulator)
    out, state_dir = f"s3://{BUCKET}/events", tmp_path / "state"
    moments = random.Random(5)

    for _ in range(KILLS):
        # Kill a little after a random page: within a write, an upload or a commit.
        worker = _worker(simulator.url, out, state_dir)
        assert worker.stdout is not None
        for _ in range(moments.randint(2, 12)):
            assert worker.stdout.readline().startswith("page")
        time.sleep(moments.uniform(0.0, 0.05))
        worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=30)
        assert worker.returncode == -signal.SIGKILL, "a run ended before its kill"
    # Counted from the manifest: after a kill the bucket may also hold an
    # uncommitted file, or a grown day's file beside the one it replaces.
    partial = sum(_manifest(state_dir).values())
    final = _worker(simulator.url, out, state_dir)
    output, errors = final.communicate(timeout=120)

    assert final.returncode == 0, errors
    assert 0 < partial < len(truth), "the kills did not land mid-collection"
    assert int(output.split()[-1]) == len(truth)
    assert_matches_truth(_rows(s3, "events"), truth)
    assert _objects(s3, "events") == set(_manifest(state_dir))
    frame = load(out, columns=["guid", "gvsn", "path"])
    assert len(frame) == len(truth)


async def test_orphan_objects_are_removed_and_a_foreign_state_is_refused(
    start_simulator: StartSimulator, s3: pafs.S3FileSystem, tmp_path: Path
):
    simulator = start_simulator(events=3_000)
    truth = read_truth(simulator)
    out, state_dir = f"s3://{BUCKET}/small", tmp_path / "state"
    first = await _collect(simulator, out, state_dir, max_rows=1_000)
    seq = first.commits
    assert seq >= 3
    day = next(iter(_objects(s3, "small"))).split("/")[0]
    orphan = f"{day}/part-main-{seq + 1:010d}.parquet"
    with s3.open_output_stream(f"{BUCKET}/small/{orphan}") as stream:
        stream.write(b"an upload whose commit never happened")

    await _collect(simulator, out, state_dir)
    with pytest.raises(DatasetError, match="never committed"):
        await _collect(simulator, out, tmp_path / "lost")

    assert orphan not in _objects(s3, "small")
    assert _objects(s3, "small") == set(_manifest(state_dir))
    assert_matches_truth(_rows(s3, "small"), truth)


def test_an_unsupported_scheme_is_refused_with_the_fix():
    with pytest.raises(ConfigurationError, match="use s3://BUCKET/PREFIX"):
        open_storage("gs://bucket/events")
