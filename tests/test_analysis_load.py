"""load(), scan() and duckdb_relation() on real hive-partitioned files."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ctera_audit.analysis import duckdb_relation, load, scan
from ctera_audit.dataset.schema import SCHEMA
from ctera_audit.errors import ConfigurationError, DatasetError
from tests.analysis_data import Built, sample, write


@pytest.fixture(scope="module")
def built() -> Built:
    return sample(1, "ransomware")


@pytest.fixture
def dataset(built: Built, tmp_path: Path) -> Path:
    """Several files per day, plus state and temporary files that are not data."""
    root = write(built.table, tmp_path / "events", max_rows_per_file=7_000)
    (root / "_state").mkdir()
    shutil.copy(
        next(root.glob("event_date=*/*.parquet")), root / "_state" / "a.parquet"
    )
    (next(root.glob("event_date=*")) / "_partial.parquet").write_bytes(b"junk")
    (next(root.glob("event_date=*")) / ".hidden.parquet").write_bytes(b"junk")
    return root


def _day(built: Built, day: str) -> pd.DataFrame:
    return built.truth[built.truth["time"].dt.strftime("%Y-%m-%d") == day]


def test_load_returns_every_event_in_time_order(built: Built, dataset: Path) -> None:
    frame = load(dataset)

    expected = built.truth.sort_values(["time", "gvsn"])["gvsn"].tolist()
    assert frame["gvsn"].tolist() == expected
    assert frame.index.equals(pd.RangeIndex(len(built.truth)))


def test_dtypes_keep_the_declared_types(dataset: Path) -> None:
    frame = load(dataset)

    for field in SCHEMA:
        dtype = frame[field.name].dtype
        if pa.types.is_dictionary(field.type):
            assert isinstance(dtype, pd.CategoricalDtype), field.name
        elif pa.types.is_timestamp(field.type):
            assert dtype == "datetime64[ms, UTC]", field.name
        elif pa.types.is_boolean(field.type):
            assert dtype == pd.api.types.pandas_dtype(bool), field.name
        else:
            assert dtype == pd.ArrowDtype(field.type), field.name
    assert frame["event_date"].dtype == pd.ArrowDtype(pa.date32())


def test_one_day_reads_only_that_days_files(built: Built, dataset: Path) -> None:
    """Every other day's files are corrupted: touching one would fail the read."""
    day = "2026-11-03"
    for path in dataset.glob("event_date=*/part-*.parquet"):
        if f"event_date={day}" not in str(path):
            path.write_bytes(b"not parquet: reading this file would fail")

    frame = load(dataset, since=day, until=day)
    scanner = scan(dataset, since=day, until=day)

    assert sorted(frame["gvsn"]) == sorted(_day(built, day)["gvsn"])
    assert scanner.count_rows() == len(_day(built, day))
    with pytest.raises(DatasetError):
        load(dataset)


def test_datetime_bounds_are_half_open(built: Built, dataset: Path) -> None:
    since = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    until = "2026-11-02T12:05:00"  # naive text means UTC

    frame = load(dataset, since=since, until=until, columns=["gvsn"])

    times = built.truth["time"]
    expected = built.truth[(times >= since) & (times < pd.Timestamp(until, tz=UTC))]
    assert sorted(frame["gvsn"]) == sorted(expected["gvsn"])
    assert list(frame.columns) == ["gvsn"]


def test_a_duplicated_file_is_read_once(built: Built, dataset: Path) -> None:
    original = next(dataset.glob("event_date=*/part-*.parquet"))
    shutil.copy(original, original.with_name("copy-of-part.parquet"))
    copied = pq.read_metadata(original).num_rows

    frame = load(dataset)
    relation = duckdb_relation(dataset)

    assert len(frame) == len(built.truth)
    assert frame[["guid", "gvsn"]].duplicated().sum() == 0
    assert relation.count("*").fetchall()[0][0] == len(built.truth) + copied


def test_folders_by_id_and_name(built: Built, dataset: Path) -> None:
    victim = built.victim("ransomware")
    name = next(f.name for f in built.workload.folders if f.uid == victim)

    by_id = load(dataset, folders=[victim])
    by_name = load(dataset, folders=[name])

    assert len(by_id) == (built.truth["folder_id"] == victim).sum()
    assert len(by_name) == len(by_id)


def test_path_prefix_matches_the_directory_and_below(
    built: Built, dataset: Path
) -> None:
    paths = built.truth["path"]
    prefix = paths[paths.str.count("/") == 2].iloc[100].rsplit("/", 1)[0]

    frame = load(dataset, paths=[prefix + "/"])

    expected = (paths == prefix) | paths.str.startswith(prefix + "/")
    assert len(frame) == expected.sum() > 0


def test_an_unknown_folder_is_a_configuration_error(dataset: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"'Nowhere'.*known folders"):
        load(dataset, folders=["Nowhere"])


def test_missing_and_empty_datasets_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load(tmp_path / "absent")
    (tmp_path / "empty" / "_state").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no event files"):
        load(tmp_path / "empty")


def test_duckdb_counts_per_day(built: Built, dataset: Path) -> None:
    relation = duckdb_relation(dataset)

    counts = dict(relation.aggregate("event_date, count(*)").fetchall())

    expected = built.truth["time"].dt.date.value_counts().to_dict()
    assert counts == expected
