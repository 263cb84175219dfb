"""Writing record batches into date-partitioned Parquet files that appear only whole.

Rows are written as they come into one file per date partition, a row group at
a time, so memory stays bounded by the row-group size. The file's name is fixed
by the commit sequence number, ``event_date=YYYY-MM-DD/part-STREAM-SEQ.parquet``,
and the :class:`~.storage.Storage` keeps it invisible until
:meth:`DatasetWriter.finish` publishes it: a hidden temporary file renamed into
place on a local disk, an upload completed under the final name on an object
store. Because a name depends only on the stream and the sequence number, a
file left by a crash before its commit is recognised on start-up and removed.

A day's file grows across commits: when a commit adds rows to a day whose last
file is still small, the new file starts with that file's rows and the old one
is retired (dropped from the manifest by the same commit, deleted after it).
So a collector that commits every few minutes still leaves a few files of tens
of MB per day, not hundreds of small ones.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import DatasetError
from .schema import PARTITION_COLUMN, SCHEMA
from .state import CommittedFile
from .storage import Storage, published_name

logger = logging.getLogger("ctera_audit.dataset")

_PART = re.compile(r"^part-(?P<stream>[A-Za-z0-9_]+)-(?P<seq>\d{10})\.parquet$")


@dataclass
class _OpenFile:
    relative: str
    sink: pa.NativeFile
    writer: pq.ParquetWriter
    pending: list[pa.RecordBatch] = field(default_factory=list)
    pending_rows: int = 0
    rows: int = 0


class DatasetWriter:
    """Appends batches to the files of the commit being prepared.

    Args:
        storage: where the dataset's files live (local folder or object store).
        stream: name of the stream, part of every file name it writes.
        row_group_rows: rows per Parquet row group (and the memory bound).
        compression: Parquet codec, zstd by default.
        file_bytes: the size a day's file grows to; a day's last file under
            half of it is rewritten with the next rows of that day.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        stream: str = "main",
        row_group_rows: int = 131_072,
        compression: str = "zstd",
        file_bytes: int = 64 << 20,
    ) -> None:
        self.storage = storage
        self.stream = stream
        self.row_group_rows = row_group_rows
        self.compression = compression
        self.file_bytes = file_bytes
        self._seq: int | None = None
        self._files: dict[str, _OpenFile] = {}
        self._tails: dict[str, CommittedFile] = {}
        self.retired: list[str] = []
        """Files whose rows the current commit's files took over."""
        self.open_rows = 0
        """New rows in the open files (rows taken over not counted)."""
        self.open_bytes = 0

    def begin(self, seq: int, tails: dict[str, CommittedFile] | None = None) -> None:
        """Start collecting rows for commit ``seq``.

        ``tails`` are the last committed file of each day, by partition folder
        (``event_date=YYYY-MM-DD``), as :meth:`StateStore.day_tails` gives them.
        """
        self._seq = seq
        self._tails = tails or {}
        self.retired = []

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
        self._bound_pending()

    def finish(self) -> list[CommittedFile]:
        """Close the files of the current commit and publish them, durable and whole."""
        written = []
        try:
            for day, open_file in list(self._files.items()):
                self._flush_pending(open_file)
                open_file.writer.close()
                size = self.storage.publish(open_file.relative, open_file.sink)
                del self._files[day]
                written.append(CommittedFile(open_file.relative, open_file.rows, size))
                logger.debug(
                    "wrote %s (%d rows) for %s", open_file.relative, open_file.rows, day
                )
        except OSError as error:
            self.withdraw(written)
            raise DatasetError(
                f"could not write data files under {self.storage.location} "
                f"({error}); nothing was committed; free disk space, fix "
                "permissions or the object store's access, then run again to resume "
                "from the last checkpoint"
            ) from error
        finally:
            self.discard()
        return written

    def withdraw(self, files: list[CommittedFile]) -> None:
        """Remove published files whose commit failed, so no reader sees them."""
        for committed in files:
            with contextlib.suppress(OSError):
                self.storage.delete(committed.path)

    def discard(self) -> None:
        """Abandon the files of the current commit."""
        for open_file in self._files.values():
            with contextlib.suppress(OSError, pa.ArrowException):
                open_file.writer.close()
            self.storage.abandon(open_file.relative, open_file.sink)
        self._files.clear()
        self.open_rows = self.open_bytes = 0

    def recover(
        self,
        committed: set[str],
        checkpoint_seq: int,
        retired: Iterable[str] = (),
    ) -> int:
        """Remove this stream's leftovers of an interrupted run; return how many.

        Leftovers are files a commit retired, temporary files, and files of the
        commit that was being prepared (seq ``checkpoint_seq + 1``) that no
        commit recorded. Any other file of this stream missing from
        ``committed`` means the state store is not the one that wrote the
        dataset (a lost or wrong state directory); deleting it would destroy
        committed data, so recovery refuses instead.

        Raises:
            DatasetError: this stream has files the state store does not know.
        """
        for relative in retired:
            try:
                self.storage.delete(relative)
            except OSError as error:
                raise DatasetError(
                    f"cannot remove {relative}, a file a later commit replaced, from "
                    f"{self.storage.location} ({error}); check the permission to "
                    "delete there and run again"
                ) from error
        try:
            files = self.storage.list_files()
        except OSError as error:
            raise DatasetError(
                f"cannot list the files of {self.storage.location} to recover from "
                f"an interrupted run ({error}); check access to it and run again"
            ) from error

        leftovers, strangers = [], []
        for relative in files:
            name = relative.rsplit("/", 1)[-1]
            match = _PART.match(published_name(name))
            if not match or match["stream"] != self.stream or relative in committed:
                continue
            if name != published_name(name) or int(match["seq"]) == checkpoint_seq + 1:
                leftovers.append(relative)
            else:
                strangers.append(relative)
        if strangers:
            raise DatasetError(
                f"{self.storage.location} holds {len(strangers)} file(s) of stream "
                f"{self.stream!r} that the state store in {self.storage.state_dir} "
                f"never committed (e.g. {strangers[0]}); point --state-dir at the "
                "state that wrote them, or collect into a new location"
            )

        try:
            for relative in leftovers:
                self.storage.delete(relative)
        except OSError as error:
            raise DatasetError(
                f"cannot remove the uncommitted file {relative} from "
                f"{self.storage.location} ({error}); check the permission to delete "
                "there and run again"
            ) from error
        if leftovers:
            logger.info(
                "removed %d uncommitted file(s) left by an interrupted run",
                len(leftovers),
            )
        return len(leftovers)

    def _append(self, day: str, batch: pa.RecordBatch) -> None:
        open_file = self._files.get(day) or self._open(day)
        self._pend(open_file, batch.select(SCHEMA.names))

    def _pend(self, open_file: _OpenFile, rows: pa.RecordBatch) -> None:
        open_file.pending.append(rows)
        open_file.pending_rows += rows.num_rows
        open_file.rows += rows.num_rows
        if open_file.pending_rows >= self.row_group_rows:
            self._flush_pending(open_file)

    def _bound_pending(self) -> None:
        """Keep the rows waiting in memory, all partitions together, under one
        row group: days the stream has moved past are written out, even as a
        smaller row group, instead of each day holding a row group's worth."""
        waiting = sum(open_file.pending_rows for open_file in self._files.values())
        if waiting < self.row_group_rows:
            return
        for open_file in sorted(self._files.values(), key=lambda f: f.pending_rows):
            waiting -= open_file.pending_rows
            self._flush_pending(open_file)
            if waiting < self.row_group_rows // 2:
                return

    def _open(self, day: str) -> _OpenFile:
        if self._seq is None:
            raise RuntimeError("begin(seq) must be called before add()")

        relative = (
            f"{PARTITION_COLUMN}={day}/part-{self.stream}-{self._seq:010d}.parquet"
        )
        try:
            sink = self.storage.open_output(relative)
            writer = pq.ParquetWriter(
                sink,
                SCHEMA,
                compression=self.compression,
                use_dictionary=True,
                write_statistics=True,
            )
        except OSError as error:
            raise DatasetError(
                f"cannot create data file {relative} in {self.storage.location} "
                f"({error}); check that the output location is writable"
            ) from error
        open_file = _OpenFile(relative, sink, writer)
        self._files[day] = open_file
        tail = self._tails.get(f"{PARTITION_COLUMN}={day}")
        if tail is not None and tail.bytes < self.file_bytes // 2:
            self._take_over(open_file, tail)
        return open_file

    def _take_over(self, open_file: _OpenFile, tail: CommittedFile) -> None:
        """Start a day's new file with the rows of its last one, which retires."""
        try:
            with self.storage.open_input(tail.path) as source:
                batches = pq.ParquetFile(source).iter_batches(
                    self.row_group_rows, use_threads=False
                )
                for batch in batches:
                    self._pend(
                        open_file,
                        pa.RecordBatch.from_arrays(batch.columns, schema=SCHEMA),
                    )
        except (OSError, pa.ArrowException) as error:
            raise DatasetError(
                f"could not read the committed file {tail.path} of "
                f"{self.storage.location} to grow its day's file ({error}); nothing "
                "was committed; check that the dataset's files are intact and "
                "readable, then run again"
            ) from error
        self.retired.append(tail.path)

    def _flush_pending(self, open_file: _OpenFile) -> None:
        if not open_file.pending:
            return
        table = pa.Table.from_batches(open_file.pending, schema=SCHEMA)
        try:
            open_file.writer.write_table(table, row_group_size=self.row_group_rows)
        except OSError as error:
            raise DatasetError(
                f"could not write {open_file.relative} ({error}); nothing was "
                "committed; free disk space, then run again to resume"
            ) from error
        open_file.pending.clear()
        open_file.pending_rows = 0
