"""The collector's state store: checkpoint, file manifest and folder tree, in SQLite.

One commit is one SQLite transaction: the files it makes visible, the files
they replace, the cursor after their events and the folder-tree changes those
events taught. Whatever the moment of a crash, the store holds either all of a
commit or none of it. A replaced file is recorded as retired until it has been
deleted, so a crash in between leaves it to the next start to delete.

The store lives in ``DIR/_state/`` (readers of the dataset skip names starting
with ``_``), readable by its owner only, and is locked so that two collectors
can never share one checkpoint.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..arrowtext import escape_text
from ..errors import DatasetError
from ..paths import FolderRecord
from .schema import SCHEMA_VERSION

logger = logging.getLogger("ctera_audit.dataset")

STATE_DIR = "_state"

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoint (
    stream TEXT PRIMARY KEY, seq INTEGER NOT NULL, cursor TEXT,
    events INTEGER NOT NULL, committed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, stream TEXT NOT NULL, seq INTEGER NOT NULL,
    rows INTEGER NOT NULL, bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS retired (path TEXT PRIMARY KEY, stream TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folders (
    stream TEXT NOT NULL, guid TEXT NOT NULL, name TEXT NOT NULL, parent TEXT,
    deleted INTEGER NOT NULL, from_stream INTEGER NOT NULL,
    PRIMARY KEY (stream, guid));
"""


@dataclass(frozen=True)
class CommittedFile:
    """A data file made visible by a commit (path relative to the dataset root)."""

    path: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class Checkpoint:
    """The last commit of one stream."""

    seq: int
    cursor: str | None
    events: int
    committed_at: str | None


class StateStore:
    """The durable state of one collection into one dataset.

    Args:
        root: the dataset directory (or the URI of an object-store dataset).
        identity: what the dataset is collected from (portal and folders); a
            store created for another identity refuses to open.
        stream: name of the stream within the dataset (one per folder group).
        state_dir: local directory of the store; ``ROOT/_state`` by default,
            required when the dataset is not on a local disk.
    """

    def __init__(
        self,
        root: Path | str,
        identity: dict[str, Any],
        stream: str = "main",
        *,
        state_dir: Path | None = None,
    ) -> None:
        self.root = root
        self.stream = stream
        state_dir = state_dir or Path(root) / STATE_DIR
        try:
            state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock = _acquire_lock(state_dir / f"{stream}.lock", root)
            database = state_dir / "state.sqlite"
            database.touch(mode=0o600, exist_ok=True)
            self._db = sqlite3.connect(database, isolation_level=None)
        except OSError as error:
            raise DatasetError(
                f"cannot open the state store in {state_dir} ({error.strerror}); "
                "check that the output folder exists and is writable"
            ) from error

        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_TABLES)
            self._check_identity(identity)
        except sqlite3.Error as error:
            self.close()
            raise DatasetError(
                f"cannot use the state store in {state_dir} ({error}); check that "
                "the output folder is writable and the disk not full, then run again"
            ) from error
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the database and release the lock."""
        self._db.close()
        self._lock.close()

    def checkpoint(self) -> Checkpoint:
        """The last committed position of this stream (seq 0: nothing yet)."""
        row = self._db.execute(
            "SELECT seq, cursor, events, committed_at FROM checkpoint WHERE stream = ?",
            (self.stream,),
        ).fetchone()
        return Checkpoint(*row) if row else Checkpoint(0, None, 0, None)

    def committed_files(self, stream: str | None = None) -> set[str]:
        """Relative paths of the data files committed (by one stream, or by all)."""
        if stream is None:
            rows = self._db.execute("SELECT path FROM files")
        else:
            rows = self._db.execute(
                "SELECT path FROM files WHERE stream = ?", (stream,)
            )
        return {path for (path,) in rows}

    def day_tails(self) -> dict[str, CommittedFile]:
        """The last file this stream committed for each day, by partition folder
        (``event_date=YYYY-MM-DD``)."""
        rows = self._db.execute(
            "SELECT path, rows, bytes FROM files WHERE stream = ? ORDER BY seq",
            (self.stream,),
        )
        return {path.split("/", 1)[0]: CommittedFile(path, *row) for path, *row in rows}

    def retired_files(self) -> set[str]:
        """Files this stream's commits replaced that may not be deleted yet."""
        rows = self._db.execute(
            "SELECT path FROM retired WHERE stream = ?", (self.stream,)
        )
        return {path for (path,) in rows}

    def forget_retired(self, paths: Iterable[str]) -> None:
        """Note that retired files are deleted."""
        try:
            self._db.executemany(
                "DELETE FROM retired WHERE path = ?", [(path,) for path in paths]
            )
        except sqlite3.Error as error:
            raise DatasetError(
                f"could not update the state store ({error}); the files it lists "
                "as replaced are deleted again at the next start"
            ) from error

    def folders(self) -> Iterator[FolderRecord]:
        """The folder tree persisted by earlier commits of this stream, the
        least recently changed first (a replaced row takes a new rowid)."""
        rows = self._db.execute(
            "SELECT guid, name, parent, deleted, from_stream FROM folders "
            "WHERE stream = ? ORDER BY rowid",
            (self.stream,),
        )
        for guid, name, parent, deleted, from_stream in rows:
            yield guid, name, parent, bool(deleted), bool(from_stream)

    def commit(
        self,
        seq: int,
        cursor: str | None,
        events: int,
        files: Iterable[CommittedFile],
        folders: Iterable[FolderRecord],
        forgotten: Iterable[str] = (),
        retired: Iterable[str] = (),
    ) -> None:
        """Record one commit atomically; call only once its files are durable.

        ``folders`` are the tree's changed folders, ``forgotten`` the guids of
        folders the tree no longer keeps, ``retired`` the files whose rows the
        new files hold: they leave the manifest and wait to be deleted.
        """
        now = dt.datetime.now(dt.UTC).isoformat()
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                [(f.path, self.stream, seq, f.rows, f.bytes) for f in files],
            )
            replaced = [(path,) for path in retired]
            self._db.executemany("DELETE FROM files WHERE path = ?", replaced)
            self._db.executemany(
                "INSERT OR REPLACE INTO retired VALUES (?, ?)",
                [(path, self.stream) for (path,) in replaced],
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO folders VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (self.stream, guid, escape_text(name), parent, deleted, learned)
                    for guid, name, parent, deleted, learned in folders
                ],
            )
            self._db.executemany(
                "DELETE FROM folders WHERE stream = ? AND guid = ?",
                [(self.stream, guid) for guid in forgotten],
            )
            self._db.execute(
                "INSERT OR REPLACE INTO checkpoint VALUES (?, ?, ?, ?, ?)",
                (self.stream, seq, cursor, events, now),
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):  # must not hide the cause
                self._db.execute("ROLLBACK")
            raise DatasetError(
                f"could not commit checkpoint {seq} to the state store ({error}); "
                "the last committed data stays intact; free disk space and run again"
            ) from error

    def _meta(self, key: str) -> str | None:
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = ?", (key,)
        ).fetchone()
        return row[0] if row else None

    def _check_identity(self, identity: dict[str, Any]) -> None:
        wanted = json.dumps(identity, sort_keys=True)
        key = f"identity:{self.stream}"
        stored = self._meta(key)
        if stored is None:
            self._db.execute("INSERT INTO meta VALUES (?, ?)", (key, wanted))
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                (SCHEMA_VERSION,),
            )
            return

        if stored != wanted:
            raise DatasetError(
                f"{self.root} was collected from {stored}, not from {wanted}; "
                "resume with the same portal and folders, or choose a new --out folder"
            )
        version = self._meta("schema_version")
        if version != SCHEMA_VERSION:
            raise DatasetError(
                f"{self.root} holds schema version {version}, this ctera-audit writes "
                f"version {SCHEMA_VERSION}; collect into a new folder"
            )


def _acquire_lock(path: Path, root: Path | str) -> Any:
    handle = open(path, "a+")  # noqa: SIM115 - held for the life of the store
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        handle.close()
        raise DatasetError(
            f"another collector is already writing {root}; two collectors must never "
            "share a checkpoint: stop the other one, or give this one another --out"
        ) from error
    os.chmod(path, 0o600)
    return handle
