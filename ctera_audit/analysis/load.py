"""Read the event dataset into pandas, DuckDB or a lazy Arrow scanner.

The dataset is hive-partitioned by the UTC date of each event, so a time range
reads only the days it covers; folder and path filters are pushed down to the
Parquet reader, which skips row groups whose statistics rule them out.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from ..dataset.schema import PARTITION_COLUMN, PARTITIONING_SCHEMA, SCHEMA
from ..errors import ConfigurationError, DatasetError

logger = logging.getLogger("ctera_audit.analysis")

TIME_COLUMN = "portal_modified_date"
"""Column that places an event in time: when the portal recorded the change."""

EVENT_KEY = ("guid", "gvsn")
"""Columns that identify one event; rows sharing them are duplicates."""

_FULL_SCHEMA = pa.schema([*SCHEMA, *PARTITIONING_SCHEMA])
_SORT_KEY = [TIME_COLUMN, "gvsn"]

TimeBound = date | datetime | str | None
"""A bound of a time range: a date, a datetime (naive means UTC) or ISO text."""


def load(
    dataset: str | Path,
    *,
    since: TimeBound = None,
    until: TimeBound = None,
    folders: Iterable[int | str] | None = None,
    paths: Iterable[str] | None = None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read events into a DataFrame, one row per event, in the order they happened.

    Rows are sorted by ``portal_modified_date`` then ``gvsn`` and carry a fresh
    RangeIndex. Events that occur twice (same guid and gvsn, as a re-collected
    page may leave) are kept once: the first collected.

    Dtypes keep the declared Arrow types at a low memory cost: strings and
    nullable 64-bit integers become ``pd.ArrowDtype`` (no float conversion of
    ids, no Python string objects), dictionary-encoded labels become pandas
    categoricals, timestamps become ``datetime64[ms, UTC]`` (fast resampling),
    ``deleted`` a NumPy bool and the partition column ``event_date`` an Arrow
    ``date32``.

    Args:
        dataset: directory of the dataset, or a pyarrow filesystem URI
            (``s3://bucket/events``).
        since: keep events at or after this time. A date means its midnight UTC.
        until: keep events before this time. A date means the end of that day,
            so ``since=d, until=d`` reads day ``d``.
        folders: cloud folder ids (int) or folder names (str). Names are not
            unique: every personal folder is called "My Files".
        paths: path prefixes; an event matches a prefix when its path is the
            prefix or lies below it (``Finance/Reports`` matches
            ``Finance/Reports/q1.xlsx`` but not ``Finance/Reports2``).
        columns: columns to return; all when None.

    Returns:
        The events, possibly none when the filters match nothing.

    Raises:
        DatasetError: the dataset is missing, holds no event files or cannot be
            read.
        ConfigurationError: an unknown column, a bad time bound, or a folder the
            dataset never saw.
    """
    wanted = list(_FULL_SCHEMA.names if columns is None else columns)
    unknown = sorted(set(wanted) - set(_FULL_SCHEMA.names))
    if unknown:
        raise ConfigurationError(
            f"unknown column(s) {', '.join(unknown)}; choose from "
            f"{', '.join(_FULL_SCHEMA.names)}"
        )
    folders = None if folders is None else list(folders)
    extra = ["folder_id", "folder_name"] if folders else []
    read = [*wanted, *EVENT_KEY, *_SORT_KEY, "collected_at", *extra]
    read = list(dict.fromkeys(read))

    scanner = scan(
        dataset, since=since, until=until, folders=folders, paths=paths, columns=read
    )
    try:
        table = scanner.to_table()
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"cannot read the dataset at {dataset}: {exc}") from exc
    logger.debug("read %d rows from %s", table.num_rows, dataset)

    frame = _to_pandas(table)
    frame = frame.sort_values([*_SORT_KEY, "collected_at"], kind="stable")
    before = len(frame)
    frame = frame.drop_duplicates(list(EVENT_KEY), keep="first")
    if len(frame) < before:
        logger.info("dropped %d duplicate events", before - len(frame))
    if folders:
        _check_folders(dataset, folders, frame)
    return frame[wanted].reset_index(drop=True)


def scan(
    dataset: str | Path,
    *,
    since: TimeBound = None,
    until: TimeBound = None,
    folders: Iterable[int | str] | None = None,
    paths: Iterable[str] | None = None,
    columns: Sequence[str] | None = None,
) -> ds.Scanner:
    """A lazy, filtered scanner over the dataset; nothing is read until asked.

    Use it for data larger than memory: ``scan(...).to_batches()`` streams
    record batches, ``.count_rows()`` counts without materialising. Rows come in
    file order, duplicates are not removed. Arguments are those of :func:`load`.

    Raises:
        DatasetError: the dataset is missing or holds no event files.
        ConfigurationError: a bad time bound.
    """
    data = open_dataset(dataset)
    expression = _filter(since, until, folders, paths)
    return data.scanner(
        columns=None if columns is None else list(columns), filter=expression
    )


def open_dataset(dataset: str | Path) -> ds.Dataset:
    """The dataset as a typed ``pyarrow.dataset.Dataset``, without reading data.

    Files and folders whose names start with "_" or "." (state, temporary files)
    are skipped; the partition column ``event_date`` is typed ``date32``.

    Raises:
        DatasetError: the location does not exist or holds no event files.
    """
    filesystem, root = _filesystem(dataset)
    try:
        data = ds.dataset(
            root,
            schema=_FULL_SCHEMA,
            format="parquet",
            filesystem=filesystem,
            partitioning=ds.partitioning(PARTITIONING_SCHEMA, flavor="hive"),
        )
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(
            f"cannot open the dataset at {dataset}: {exc}; check the path"
        ) from exc

    if not data.files:
        raise DatasetError(
            f"the dataset at {dataset} holds no event files; run a collection "
            "first or point at the directory that holds event_date=... folders"
        )
    return data


def duckdb_relation(dataset: str | Path, connection: Any = None) -> Any:
    """A DuckDB relation over every event file, for SQL over the whole dataset.

    The files are listed here rather than globbed by DuckDB so that the state
    folder and temporary files are left out. ``event_date`` comes from the hive
    partition, typed DATE. Duplicated events are not removed.

    Args:
        dataset: directory of the dataset, or a pyarrow filesystem URI.
        connection: a ``duckdb.DuckDBPyConnection``; a new in-memory one if None.

    Raises:
        ConfigurationError: duckdb is not installed.
        DatasetError: the dataset is missing or holds no event files.
    """
    try:
        import duckdb
    except ImportError as exc:
        raise ConfigurationError(
            "DuckDB is not installed; install it with: pip install duckdb"
        ) from exc

    files = open_dataset(dataset).files
    if not isinstance(dataset, Path) and "://" in str(dataset):
        scheme = str(dataset).split("://", 1)[0]
        files = [f"{scheme}://{name}" for name in files]
    listed = ", ".join("'" + name.replace("'", "''") + "'" for name in files)
    connection = duckdb.connect() if connection is None else connection
    return connection.sql(
        f"SELECT * FROM read_parquet([{listed}], hive_partitioning = true, "
        f"hive_types = {{'{PARTITION_COLUMN}': 'DATE'}})"
    )


def utc_bound(value: TimeBound, *, end: bool = False) -> datetime | None:
    """Turn a time bound into an aware UTC datetime.

    A date (or date-only ISO text) means its midnight UTC, or with ``end`` the
    next midnight, so that a date used as an upper bound includes its whole day.

    Raises:
        ConfigurationError: text that is not an ISO date or datetime.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = (
                date.fromisoformat(value)
                if len(value) == 10
                else datetime.fromisoformat(value)
            )
        except ValueError as exc:
            raise ConfigurationError(
                f"time bound {value!r} is not ISO 8601; give e.g. 2026-11-02 or "
                "2026-11-02T09:00:00Z"
            ) from exc
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    midnight = datetime.combine(value, time(), tzinfo=UTC)
    return midnight + timedelta(days=1) if end else midnight


def _filter(
    since: TimeBound,
    until: TimeBound,
    folders: Iterable[int | str] | None,
    paths: Iterable[str] | None,
) -> pc.Expression | None:
    """One filter expression; the event_date terms prune whole partitions."""
    terms = []
    start, stop = utc_bound(since), utc_bound(until, end=True)
    if start is not None:
        terms.append(pc.field(PARTITION_COLUMN) >= start.astimezone(UTC).date())
        terms.append(
            pc.field(TIME_COLUMN) >= pa.scalar(start, SCHEMA.field(TIME_COLUMN).type)
        )
    if stop is not None:
        last_day = (stop.astimezone(UTC) - timedelta(milliseconds=1)).date()
        terms.append(pc.field(PARTITION_COLUMN) <= last_day)
        terms.append(
            pc.field(TIME_COLUMN) < pa.scalar(stop, SCHEMA.field(TIME_COLUMN).type)
        )

    if folders is not None:
        folders = list(folders)
        ids = [value for value in folders if isinstance(value, int)]
        names = [value for value in folders if isinstance(value, str)]
        either = [pc.scalar(False)]
        if ids:
            either.append(pc.field("folder_id").isin(pa.array(ids, pa.int64())))
        if names:
            either.append(pc.field("folder_name").isin(pa.array(names, pa.string())))
        terms.append(functools.reduce(operator.or_, either))

    if paths is not None:
        matches = [
            (pc.field("path") == prefix.rstrip("/"))
            | pc.starts_with(pc.field("path"), pattern=prefix.rstrip("/") + "/")
            for prefix in paths
        ]
        terms.append(functools.reduce(operator.or_, matches, pc.scalar(False)))
    return functools.reduce(operator.and_, terms) if terms else None


def _filesystem(dataset: str | Path) -> tuple[pafs.FileSystem, str]:
    """The filesystem and root path of a local directory or a URI."""
    text = str(dataset)
    if isinstance(dataset, Path) or "://" not in text:
        path = Path(text).expanduser()
        if not path.is_dir():
            raise DatasetError(
                f"no dataset at {path}: the directory does not exist; check the "
                "path or run a collection first"
            )
        return pafs.LocalFileSystem(), str(path.resolve())

    try:
        return pafs.FileSystem.from_uri(text)
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"cannot open {text}: {exc}") from exc


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=_arrow_dtype)


def _arrow_dtype(data_type: pa.DataType) -> pd.ArrowDtype | None:
    """Keep strings, 64-bit integers and dates as Arrow; the rest by default."""
    if (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_int64(data_type)
        or pa.types.is_date32(data_type)
    ):
        return pd.ArrowDtype(data_type)
    return None


def _check_folders(
    dataset: str | Path, folders: list[int | str], frame: pd.DataFrame
) -> None:
    """Raise when a requested folder occurs nowhere in the dataset.

    Folders found among the loaded rows need no check; only the others cost a
    scan of the two folder columns.
    """
    found = set(frame["folder_id"].dropna()) | set(frame["folder_name"].dropna())
    folders = [value for value in folders if value not in found]
    if not folders:
        return

    table = open_dataset(dataset).to_table(columns=["folder_id", "folder_name"])
    known_ids = set(pc.unique(table["folder_id"]).to_pylist())
    known_names = set(pc.unique(table["folder_name"].cast(pa.string())).to_pylist())
    missing = [
        value
        for value in folders
        if value not in known_ids and value not in known_names
    ]
    if missing:
        raise ConfigurationError(
            f"folder(s) {', '.join(map(repr, missing))} do not occur in the dataset "
            f"at {dataset}; known folders: {', '.join(sorted(map(str, known_names)))} "
            f"(ids {', '.join(map(str, sorted(known_ids - {None})))})"
        )
