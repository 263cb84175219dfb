"""Event datasets built from the simulator's workload, with the truth beside them.

The analysis tests need real Parquet files shaped like the collector's, and the
true action and incident label of every event to judge the analysis against.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from ctera_audit.dataset.schema import PARTITION_COLUMN, PARTITIONING_SCHEMA, SCHEMA
from ctera_audit.simulator.workload import Workload


@dataclass(frozen=True)
class Built:
    """A workload's events as a table, plus the truth about each row.

    Attributes:
        table: the events with :data:`SCHEMA`, in stream order.
        truth: one row per event, in the same order: guid, gvsn, time, folder_id,
            path, action (true) and scenario (label or None).
        workload: the workload that made them (for its folders).
    """

    table: pa.Table
    truth: pd.DataFrame
    workload: Workload

    def window(self, scenario: str) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last event time of the incident labelled ``scenario``."""
        times = self.truth.loc[self.truth["scenario"] == scenario, "time"]
        return times.min(), times.max()

    def victim(self, scenario: str) -> int:
        """Cloud folder id the incident labelled ``scenario`` hit."""
        rows = self.truth.loc[self.truth["scenario"] == scenario, "folder_id"]
        return int(rows.mode().iloc[0])


EVENTS = 40_000
"""Events per sample: a day and a half, the incident near its middle."""


@functools.cache
def sample(seed: int, scenario: str | None = None) -> Built:
    """The first :data:`EVENTS` changes of a workload, built once per session."""
    return build(seed, EVENTS, scenario)


def build(seed: int, events: int, scenario: str | None = None) -> Built:
    """Take the first ``events`` changes of a workload and shape them as rows."""
    workload = Workload(seed, scenario=scenario)
    folders = {folder.uid: folder for folder in workload.folders}
    changes = list(itertools.islice(workload.changes(), events))

    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    truth: dict[str, list] = {"action": [], "scenario": [], "path": []}
    for change in changes:
        entry = change.entry
        for key, value in entry.items():
            columns[key].append(
                _time(value) if key.endswith(("_date", "stamp")) else value
            )
        folder = folders[entry["folder_id"]]
        parent, _, name = change.path.rpartition("/")
        stem, dot, ext = name.rpartition(".")
        is_file = entry["type"] == "file"
        columns["path"].append(change.path)
        columns["parent_path"].append(parent)
        columns["extension"].append(ext.lower() if is_file and dot and stem else None)
        columns["folder_name"].append(folder.name)
        columns["owner"].append(folder.owner.name)
        columns["collected_at"].append(columns["portal_modified_date"][-1])
        columns["path_status"].append("tree")
        for key in ("input_issues", "content_sha256", "content_size", "content_status"):
            columns[key].append(None)
        truth["action"].append(change.action)
        truth["scenario"].append(change.scenario)
        truth["path"].append(change.path)

    table = pa.Table.from_pydict(columns, schema=SCHEMA)
    frame = pd.DataFrame(
        {
            "guid": columns["guid"],
            "gvsn": columns["gvsn"],
            "time": pd.to_datetime(columns["portal_modified_date"], utc=True),
            "folder_id": columns["folder_id"],
            "size": columns["size"],
            "type": columns["type"],
            **truth,
        }
    )
    return Built(table, frame, workload)


def write(table: pa.Table, root: Path, *, max_rows_per_file: int = 0) -> Path:
    """Write ``table`` as a hive-partitioned dataset under ``root``; return it."""
    day = table["portal_modified_date"].cast(pa.date32())
    with_day = table.append_column(PARTITION_COLUMN, day)
    ds.write_dataset(
        with_day,
        root,
        format="parquet",
        partitioning=ds.partitioning(PARTITIONING_SCHEMA, flavor="hive"),
        existing_data_behavior="overwrite_or_ignore",
        max_rows_per_file=max_rows_per_file,
        max_rows_per_group=min(max_rows_per_file or 1 << 20, 1 << 20),
    )
    return root


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
