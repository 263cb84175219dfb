"""Helpers for tests that collect from a simulated portal and check the dataset."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds

from ctera_audit import Portal
from ctera_audit.arrowtext import escape_text
from ctera_audit.collector import CollectionSummary, Collector, CollectorSettings
from ctera_audit.dataset.schema import PARTITIONING_SCHEMA
from ctera_audit.simulator import RunningSimulator


async def collect_from(
    simulator: RunningSimulator, out: Path, **settings: Any
) -> CollectionSummary:
    """Run one collection against ``simulator`` into ``out``."""
    folders = settings.pop("folders", None)
    settings.setdefault("until_idle", True)
    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        collector = Collector(
            portal, out, folders=folders, settings=CollectorSettings(**settings)
        )
        return await collector.run()


def read_rows(out: Path) -> list[dict[str, Any]]:
    """Every row of the committed data files, in stream order."""
    dataset = ds.dataset(
        out,
        format="parquet",
        partitioning=ds.partitioning(PARTITIONING_SCHEMA, flavor="hive"),
    )
    rows = dataset.to_table().to_pylist()
    rows.sort(key=lambda row: row["gvsn"])
    return rows


def assert_matches_truth(
    rows: list[dict[str, Any]], truth: list[dict[str, Any]]
) -> None:
    """Every true event is in the dataset exactly once, with its true path."""
    assert_each_event_once(rows, truth)

    wrong = [
        (row["path"], t["path"])
        for row, t in zip(rows, truth, strict=True)
        if row["path"] != escape_text(t["path"])
    ]
    assert not wrong, f"{len(wrong)} wrong paths, e.g. {wrong[:3]}"


def assert_each_event_once(
    rows: list[dict[str, Any]], truth: list[dict[str, Any]]
) -> None:
    """Every true event is in the dataset exactly once, and nothing else is."""
    counts = Counter((row["guid"], row["gvsn"]) for row in rows)
    duplicates = [key for key, count in counts.items() if count > 1]
    assert not duplicates, f"{len(duplicates)} events appear more than once"

    expected = [(t["guid"], t["gvsn"]) for t in truth]
    actual = [(row["guid"], row["gvsn"]) for row in rows]
    missing = set(expected) - set(actual)
    assert not missing, f"{len(missing)} events are missing"
    assert len(actual) == len(expected), (
        "the dataset holds events the portal never served"
    )
