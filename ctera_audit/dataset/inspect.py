"""Reading back what a dataset holds, without disturbing a collector writing it."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds

from ..errors import DatasetError
from .schema import PARTITIONING_SCHEMA
from .state import STATE_DIR


@dataclass(frozen=True)
class DatasetReport:
    """The headline figures of a dataset."""

    events: int
    files: int
    bytes: int
    first_event: str | None
    last_event: str | None
    cloud_folders: int
    objects: int
    deletions: int
    folder_tree: int
    """Folders the state store remembers for naming paths (all streams)."""
    checkpoints: dict[str, dict[str, object]]
    sources: dict[str, object]


def inspect_dataset(root: Path) -> DatasetReport:
    """Read the state store (read-only) and the data files of a dataset."""
    database = root / STATE_DIR / "state.sqlite"
    if not database.exists():
        raise DatasetError(
            f"{root} is not a ctera-audit dataset (no {STATE_DIR}/state.sqlite); "
            "give the --out folder of a collection"
        )

    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        files, size = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM files"
        ).fetchone()
        (folder_tree,) = db.execute("SELECT COUNT(*) FROM folders").fetchone()
        checkpoints = {
            stream: {"seq": seq, "events": events, "committed_at": committed_at}
            for stream, seq, events, committed_at in db.execute(
                "SELECT stream, seq, events, committed_at FROM checkpoint"
            )
        }
        sources = {
            key.removeprefix("identity:"): json.loads(value)
            for key, value in db.execute(
                "SELECT key, value FROM meta WHERE key LIKE 'identity:%'"
            )
        }
        committed = [root / path for (path,) in db.execute("SELECT path FROM files")]

    table = ds.dataset(
        [str(path) for path in committed],
        format="parquet",
        partitioning=ds.partitioning(PARTITIONING_SCHEMA, flavor="hive"),
    ).to_table(columns=["portal_modified_date", "folder_id", "guid", "deleted"])
    times = pc.min_max(table["portal_modified_date"])
    return DatasetReport(
        events=table.num_rows,
        files=files,
        bytes=size,
        first_event=_iso(times["min"].as_py()),
        last_event=_iso(times["max"].as_py()),
        cloud_folders=pc.count_distinct(table["folder_id"]).as_py(),
        objects=pc.count_distinct(table["guid"]).as_py(),
        deletions=pc.sum(table["deleted"]).as_py() or 0,
        folder_tree=folder_tree,
        checkpoints=checkpoints,
        sources=sources,
    )


def describe_dataset(root: Path) -> str:
    """A few readable lines about a dataset, for the ``report`` command."""
    report = inspect_dataset(root)
    lines = [
        f"Dataset {root}",
        f"  events:        {report.events:,} ({report.deletions:,} deletions) "
        f"on {report.objects:,} objects in {report.cloud_folders:,} cloud folder(s)",
        f"  time span:     {report.first_event or '-'} .. {report.last_event or '-'}",
        f"  data files:    {report.files:,} ({report.bytes / 1e6:,.1f} MB)",
        f"  folder tree:   {report.folder_tree:,} folders remembered for naming paths",
    ]
    for stream, checkpoint in sorted(report.checkpoints.items()):
        source = report.sources.get(stream, {})
        lines.append(
            f"  checkpoint:    stream {stream!r} #{checkpoint['seq']} at "
            f"{checkpoint['committed_at']} ({checkpoint['events']:,} events) "
            f"from {json.dumps(source, sort_keys=True)}"
        )
    return "\n".join(lines)


def _iso(value: object) -> str | None:
    return value.isoformat() if value is not None else None  # type: ignore[attr-defined]
