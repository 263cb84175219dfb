"""Writing record batches into date-partitioned Parquet files that appear only whole.

Rows are written as they come into one hidden temporary file per date
partition (``.tmp-...``), a row group at a time, so memory stays bounded by the
row-group size. :meth:`DatasetWriter.finish` closes the files, flushes them to
disk and renames them into place under names fixed by the commit sequence
number, ``event_date=YYYY-MM-DD/part-STREAM-SEQ.parquet``. Because a name
depends only on the stream and the sequence number, a file left by a crash
before its commit is recognised on start-up and removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import DatasetError
from .schema import PARTITION_COLUMN, SCHEMA
from .state import STATE_DIR, CommittedFile

logger = logging.getLogger("ctera_audit.dataset")

_PART = re.compile(r"^part-(?P<stream>[A-Za-z0-9_]+)-(?P<seq>\d{10})\.parquet$")


@dataclass
class _OpenFile:
    temporary: Path
    final: Path
    writer: pq.ParquetWriter
    pending: list[pa.RecordBatch] = field(default_factory=list)
    pending_rows: int = 0
    rows: int = 0


class DatasetWriter:
    """Appends batches to the files of the commit being prepared.

    Args:
        root: the dataset directory.
        stream: name of the stream, part of every file name it writes.
        row_group_rows: rows per Parquet row group (and the memory bound).
        compression: Parquet codec, zstd by default.
    """

    def __init__(
        self,
        root: Path,
        *,
        stream: str = "main",
        row_group_rows: int = 131_072,
        compression: str = "zstd",
    ) -> None:
        self.root = root
        self.stream = stream
        self.row_group_rows = row_group_rows
        self.compression = compression
        self._seq: int | None = None
        self._files: dict[str, _OpenFile] = {}
        self.open_rows = 0
        self.open_bytes = 0

    def begin(self, seq: int) -> None:
        """Start collecting rows for commit ``seq``."""
        self._seq = seq

    def add(self, batch: pa.RecordBatch) -> None:
        """Append rows (of ``BATCH_SCHEMA``) to the files of the current commit."""
        if batch.num_rows == 0:
            return

        dates = batch.column(PARTITION_COLUMN)
        low, high = pc.min_max(dates).values()
        if low == high:
            self._append(low.as_py().isoformat(), batch)
        else:
            for day in pc.unique(dates).to_pylist():
                mask = pc.equal(dates, pa.scalar(day, pa.date32()))
                self._append(day.isoformat(), batch.filter(mask))
        self.open_rows += batch.num_rows
        self.open_bytes += batch.nbytes

    def finish(self) -> list[CommittedFile]:
        """Close, flush and rename the files of the current commit into place."""
        written = []
        try:
            for day, open_file in self._files.items():
                self._flush_pending(open_file)
                open_file.writer.close()
                _fsync(open_file.temporary)
                os.replace(open_file.temporary, open_file.final)
                _fsync(open_file.final.parent)
                relative = open_file.final.relative_to(self.root).as_posix()
                size = open_file.final.stat().st_size
                written.append(CommittedFile(relative, open_file.rows, size))
                logger.debug("wrote %s (%d rows) for %s", relative, open_file.rows, day)
        except OSError as error:
            raise DatasetError(
                f"could not write data files under {self.root} ({error.strerror}); "
                "nothing was committed; free disk space or fix permissions, then "
                "run again to resume from the last checkpoint"
            ) from error
        finally:
            self._files.clear()
            self.open_rows = self.open_bytes = 0
        return written

    def discard(self) -> None:
        """Abandon the files of the current commit."""
        for open_file in self._files.values():
            with contextlib.suppress(OSError, pa.ArrowException):
                open_file.writer.close()
            open_file.temporary.unlink(missing_ok=True)
        self._files.clear()
        self.open_rows = self.open_bytes = 0

    def recover(self, committed: set[str]) -> int:
        """Remove this stream's leftovers of an interrupted run; return how many.

        Leftovers are temporary files and part files that no commit recorded.
        """
        removed = 0
        for path in self.root.glob(f"{PARTITION_COLUMN}=*/*"):
            relative = path.relative_to(self.root).as_posix()
            match = _PART.match(path.name)
            mine = (match and match["stream"] == self.stream) or path.name.startswith(
                f".tmp-{self.stream}-"
            )
            if mine and relative not in committed:
                path.unlink()
                removed += 1
        if removed:
            logger.info(
                "removed %d uncommitted file(s) left by an interrupted run", removed
            )
        return removed

    def _append(self, day: str, batch: pa.RecordBatch) -> None:
        open_file = self._files.get(day) or self._open(day)
        open_file.pending.append(batch.select(SCHEMA.names))
        open_file.pending_rows += batch.num_rows
        open_file.rows += batch.num_rows
        if open_file.pending_rows >= self.row_group_rows:
            self._flush_pending(open_file)

    def _open(self, day: str) -> _OpenFile:
        if self._seq is None:
            raise RuntimeError("begin(seq) must be called before add()")

        directory = self.root / f"{PARTITION_COLUMN}={day}"
        name = f"{self.stream}-{self._seq:010d}"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            temporary = directory / f".tmp-{name}.parquet"
            writer = pq.ParquetWriter(
                temporary,
                SCHEMA,
                compression=self.compression,
                use_dictionary=True,
                write_statistics=True,
            )
        except OSError as error:
            raise DatasetError(
                f"cannot create a data file in {directory} ({error.strerror}); "
                "check that the output folder is writable"
            ) from error
        open_file = _OpenFile(temporary, directory / f"part-{name}.parquet", writer)
        self._files[day] = open_file
        return open_file

    def _flush_pending(self, open_file: _OpenFile) -> None:
        if not open_file.pending:
            return
        table = pa.Table.from_batches(open_file.pending, schema=SCHEMA)
        try:
            open_file.writer.write_table(table, row_group_size=self.row_group_rows)
        except OSError as error:
            raise DatasetError(
                f"could not write {open_file.temporary} ({error}); nothing was "
                "committed; free disk space, then run again to resume"
            ) from error
        open_file.pending.clear()
        open_file.pending_rows = 0


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def is_data_file(path: Path) -> bool:
    """Whether a path is a committed-style data file (not state, not temporary)."""
    return bool(_PART.match(path.name)) and STATE_DIR not in path.parts
