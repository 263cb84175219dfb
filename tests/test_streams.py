"""Folder-group streams: more folders than one request allows, resumes, shards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ctera_audit import Portal
from ctera_audit.collector import Collector, CollectorSettings
from ctera_audit.errors import ConfigurationError, TooManyFoldersError
from ctera_audit.simulator import Behaviour, RunningSimulator
from ctera_audit.streams import MultiStreamCollector, plan_groups, select_groups

from .collecting import assert_matches_truth, read_rows
from .conftest import StartSimulator, read_truth

LIMIT = 4
"""Folder ids the simulated portal accepts per request (it has 30 folders)."""

SHARD_WORKER = """
import asyncio, json, sys
from ctera_audit import Portal
from ctera_audit.collector import CollectorSettings
from ctera_audit.streams import MultiStreamCollector

async def main(url, out, index, count):
    async with Portal(url) as portal:
        await portal.login("admin", "secret")
        streams = MultiStreamCollector(
            portal, out, settings=CollectorSettings(until_idle=True),
            shard=(index, count),
        )
        summaries = await streams.run()
    print(json.dumps({name: s.committed_events for name, s in summaries.items()}))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""


def _start(
    start_simulator: StartSimulator, events: int, **config: Any
) -> RunningSimulator:
    return start_simulator(
        events=events, behaviour=Behaviour(max_folder_ids=LIMIT), **config
    )


def _streams_of(out: Path) -> Counter[str]:
    """How many committed data files each stream wrote."""
    return Counter(
        p.name.split("-")[1] for p in out.glob("event_date=*/part-*.parquet")
    )


def test_groups_are_stable_and_shards_partition_them():
    ids = [31, 7, 12, 5, 40, 12, 9]

    groups = plan_groups(ids, 2)

    assert [g.name for g in groups] == ["g5", "g9", "g31"]
    assert [g.folder_ids for g in groups] == [(5, 7), (9, 12), (31, 40)]
    assert plan_groups(reversed(ids), 2) == groups
    shards = [select_groups(groups, shard=(k, 2)) for k in range(2)]
    assert [g.name for g in shards[0]] == ["g5", "g31"]
    assert [g.name for g in shards[1]] == ["g9"]
    assert select_groups(groups, names=["g9"]) == [groups[1]]
    with pytest.raises(ConfigurationError, match="no stream group called g6"):
        select_groups(groups, names=["g6"])
    with pytest.raises(ConfigurationError, match="0 <= K < N"):
        select_groups(groups, shard=(2, 2))


async def test_folders_beyond_the_limit_are_split_into_streams(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = _start(start_simulator, 6_000)
    truth = read_truth(simulator)
    out = tmp_path / "ds"

    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        every_folder = sorted(await portal.cloud_folders())
        single = Collector(
            portal,
            tmp_path / "single",
            folders=every_folder,
            settings=CollectorSettings(until_idle=True),
        )
        with pytest.raises(TooManyFoldersError) as refused:
            await single.run()
        streams = MultiStreamCollector(
            portal, out, settings=CollectorSettings(until_idle=True)
        )
        groups = await streams.plan()
        summaries = await streams.run()

    assert refused.value.max_size == LIMIT
    assert len(every_folder) == 30
    assert [len(g.folder_ids) for g in groups] == [4] * 7 + [2]
    assert [i for g in groups for i in g.folder_ids] == every_folder
    assert list(summaries) == [f"g{g.folder_ids[0]}" for g in groups]
    assert set(_streams_of(out)) == set(summaries)
    assert sum(s.committed_events for s in summaries.values()) == len(truth)
    assert_matches_truth(read_rows(out), truth)


async def test_each_group_resumes_from_its_own_cursor(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = _start(start_simulator, 8_000)
    truth = read_truth(simulator)
    out = tmp_path / "ds"
    settings = CollectorSettings(until_idle=True, max_results=100, max_events=300)

    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        first = await MultiStreamCollector(portal, out, settings=settings).run()
        groups = await MultiStreamCollector(portal, out).plan()
        second = await MultiStreamCollector(
            portal, out, settings=CollectorSettings(until_idle=True)
        ).run()

    per_folder = Counter(t["folder_id"] for t in truth)
    for group in groups:
        in_group = sum(per_folder[i] for i in group.folder_ids)
        before = first[group.name].committed_events
        assert 0 < before < in_group, f"{group.name} did not stop part-way"
        assert second[group.name].events == in_group - before
        assert second[group.name].committed_events == in_group
    assert_matches_truth(read_rows(out), truth)


def test_two_processes_on_two_shards_make_one_exact_dataset(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = _start(start_simulator, 6_000)
    truth = read_truth(simulator)
    out = tmp_path / "ds"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    workers = [
        subprocess.Popen(
            [sys.executable, "-c", SHARD_WORKER, simulator.url, str(out), str(k), "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    results = [worker.communicate(timeout=120) for worker in workers]

    for worker, (_, errors) in zip(workers, results, strict=True):
        assert worker.returncode == 0, errors
    shards = [json.loads(output) for output, _ in results]
    assert len(shards[0]) == len(shards[1]) == 4
    assert not set(shards[0]) & set(shards[1])
    assert set(_streams_of(out)) == set(shards[0]) | set(shards[1])
    assert_matches_truth(read_rows(out), truth)


async def test_duckdb_reads_the_streams_and_prunes_days(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = _start(start_simulator, 8_000, events_per_day=2_000)
    truth = read_truth(simulator)
    out = tmp_path / "ds"
    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        await MultiStreamCollector(
            portal, out, settings=CollectorSettings(until_idle=True)
        ).run()
    days = Counter(t["portal_modified_date"][:10] for t in truth)
    first, *others = sorted(days)
    # A file no reader can parse, in another day: only pruning keeps it unread.
    (out / f"event_date={others[0]}" / "part-broken-0000000001.parquet").write_bytes(
        b"not parquet"
    )
    files = f"{out}/**/*.parquet"

    counts = duckdb.sql(
        f"SELECT count(*), count(DISTINCT (guid, gvsn)) FROM read_parquet('{files}', "
        f"hive_partitioning = true) WHERE event_date = DATE '{first}'"
    ).fetchall()

    assert counts == [(days[first], days[first])]
    with pytest.raises(duckdb.Error):
        duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{files}', hive_partitioning = true)"
        ).fetchall()
