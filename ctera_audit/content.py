"""Content capture: each file version's SHA-256, and optionally its bytes.

The collector hands every page of events to :class:`ContentCapture`, which reads
the qualifying file versions through DirectIO concurrently, within global bounds
on files and bytes in flight, and answers one ``(sha256, size, status)`` per
event for the rows' content columns. In ``store`` mode the bytes also land in a
content-addressed store, ``<sha[:2]>/<sha[2:4]>/<sha256>``: names come from the
digest only, never from the portal, so no event name can write outside the store,
and identical contents are kept once.

A file that cannot be read never stops the stream: its status says why, and a
page never waits longer than ``page_timeout_s`` for its files.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .blockcodec import BlockDecodeError, BlockLengthError, KeyUnwrapError
from .collector import ContentResult
from .dataset.storage import fsync_path
from .directio import (
    BlockDownloadError,
    DirectIOClient,
    DirectIOServerError,
    DirectIOUnauthorizedError,
    FileNotFoundOnPortalError,
    UnsupportedStorageError,
)
from .errors import ConfigurationError, ContentError

logger = logging.getLogger("ctera_audit.content")

Mode = Literal["hash", "store"]

CAPTURED = "captured"
"""Status of a version whose content was read (and stored, in ``store`` mode)."""

_MAX_EXTENSION = 16
_RECENT_VERSIONS = 4096
_INCOMING_PREFIX = ".incoming-"
_FAILURES: tuple[tuple[type[ContentError], str], ...] = (
    (FileNotFoundOnPortalError, "not_found"),
    (DirectIOUnauthorizedError, "unauthorized"),
    (KeyUnwrapError, "unauthorized"),
    (UnsupportedStorageError, "unsupported_storage"),
    (BlockDownloadError, "download_error"),
    (DirectIOServerError, "server_error"),
    (BlockDecodeError, "decode_error"),
    (BlockLengthError, "decode_error"),
)


@dataclass(frozen=True)
class ContentFilter:
    """Which events have their content captured; folders never do.

    Extensions are compared lower-case and without the dot, as in the rows'
    ``extension`` column.
    """

    include_deleted: bool = False
    """Also read the version a delete event names (it may be gone already)."""
    extensions_allow: Collection[str] | None = None
    """Only files with one of these extensions; None allows every extension."""
    extensions_deny: Collection[str] | None = None
    """Never files with one of these extensions."""
    max_size: int | None = None
    """Skip files larger than this many bytes (by the event, then while reading)."""
    folders: Collection[int] | None = None
    """Only files in these cloud folder ids; None allows every folder."""

    def __post_init__(self) -> None:
        for name in ("extensions_allow", "extensions_deny"):
            value = getattr(self, name)
            if value is not None:
                normal = frozenset(ext.strip().lower().lstrip(".") for ext in value)
                object.__setattr__(self, name, normal)
        if self.folders is not None:
            object.__setattr__(self, "folders", frozenset(self.folders))

    def skip_reason(self, entry: dict[str, Any]) -> str | None:
        """Why ``entry``'s content is not captured, or None when it should be."""
        if entry.get("type") != "file":
            return "folder"
        if entry.get("deleted") and not self.include_deleted:
            return "deleted"
        file_id = entry.get("id")
        if not isinstance(file_id, int) or isinstance(file_id, bool) or file_id <= 0:
            return "no_file_id"

        extension = _extension(entry.get("name"))
        allow, deny = self.extensions_allow, self.extensions_deny
        if (allow is not None and extension not in allow) or (
            deny is not None and extension in deny
        ):
            return "extension"
        size = _declared_size(entry)
        if self.max_size is not None and size is not None and size > self.max_size:
            return "too_large"
        if self.folders is not None and entry.get("folder_id") not in self.folders:
            return "folder_filter"
        return None


@dataclass
class ContentStatistics:
    """Counts of this capture's events, read by progress displays and tests."""

    captured: int = 0
    """Events whose content was captured (a version named twice counts twice)."""
    skipped: int = 0
    """Events left out by the filter (folders, deletes, extensions, sizes)."""
    failed: int = 0
    """Events whose content could not be read."""
    bytes: int = 0
    """Content bytes downloaded."""
    stored: int = 0
    """New objects written to the store (identical contents are stored once)."""


class _TooLarge(Exception):
    """The content turned out larger than the filter's ``max_size``."""


class ContentCapture:
    """Captures the content of each page's file versions; a collector ContentSink.

    Args:
        client: the DirectIO client to read with; the caller closes it.
        mode: ``hash`` keeps each version's SHA-256 and size; ``store`` also
            writes the bytes into the content-addressed store.
        store: the store directory (``OUT/_content``); required for ``store``.
        filters: which events qualify.
        max_concurrent_files: most versions read at once, over all pages.
        max_bytes_in_flight: most content bytes reserved at once, over all
            pages; each version reserves its event size up to this bound, so a
            larger file is read alone. Give the client a per-file window no
            larger than this, or the bound does not hold; an event that
            understates its size can overrun it by up to that window.
        page_timeout_s: longest a page waits for its files; those still
            pending get ``failed:timeout`` and their downloads are cancelled.
    """

    def __init__(
        self,
        client: DirectIOClient,
        *,
        mode: Mode,
        store: Path | None = None,
        filters: ContentFilter | None = None,
        max_concurrent_files: int = 8,
        max_bytes_in_flight: int = 256 << 20,
        page_timeout_s: float = 120.0,
    ) -> None:
        if mode not in ("hash", "store") or (mode == "store" and store is None):
            raise ConfigurationError(
                f"content mode {mode!r} is not usable; give 'hash', or 'store' "
                "together with a store directory"
            )
        if max_concurrent_files < 1 or max_bytes_in_flight < 1 or page_timeout_s <= 0:
            raise ConfigurationError(
                f"max_concurrent_files={max_concurrent_files}, max_bytes_in_flight="
                f"{max_bytes_in_flight} and page_timeout_s={page_timeout_s} must all "
                "be positive"
            )

        self.client = client
        self.mode = mode
        self.store = store
        self.filters = filters or ContentFilter()
        self.statistics = ContentStatistics()
        self._page_timeout_s = page_timeout_s
        self._budget = _ByteBudget(max_bytes_in_flight)
        self._files = asyncio.Semaphore(max_concurrent_files)
        self._recent: OrderedDict[int, tuple[str, int]] = OrderedDict()
        self._reported: set[str] = set()
        self._partial_prefix = f"{_INCOMING_PREFIX}main-"
        if mode == "store" and store is not None:
            store.mkdir(mode=0o700, parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"ContentCapture(mode={self.mode!r}, store={self.store!r})"

    def for_stream(self, stream: str) -> ContentCapture:
        """This capture as one stream of the dataset uses it.

        The client, the limits, the cache of recent versions and the
        statistics stay shared with every stream's; only the names of partial
        files are the stream's own, so that each stream's :meth:`recover`
        removes what that stream left and nothing another one is writing.
        """
        view = copy.copy(self)
        view._partial_prefix = f"{_INCOMING_PREFIX}{stream}-"
        return view

    def recover(self) -> None:
        """Remove the partial versions an interrupted run of this stream left.

        The collector calls it once it holds the stream, so no other run is
        writing under this stream's names.
        """
        if self.store is None:
            return
        for partial in self.store.glob(f"{self._partial_prefix}*"):
            partial.unlink(missing_ok=True)
            logger.info("removed a partial content file, %s", partial.name)

    async def capture_page(self, entries: list[dict[str, Any]]) -> list[ContentResult]:
        """Return ``(sha256, size, status)`` for each entry, in order.

        Versions named by several events of the page are read once; versions
        captured recently are not read again. Never raises for a file's failure
        and returns within ``page_timeout_s``.
        """
        results: list[ContentResult] = [(None, None, None)] * len(entries)
        wanted: dict[int, list[int]] = {}
        for index, entry in enumerate(entries):
            reason = self.filters.skip_reason(entry)
            if reason is not None:
                results[index] = (None, None, f"skipped:{reason}")
            else:
                wanted.setdefault(entry["id"], []).append(index)

        tasks = {
            asyncio.create_task(self._capture(file_id, entries[indexes[0]])): indexes
            for file_id, indexes in wanted.items()
        }
        try:
            late = await self._wait(tasks)
        finally:
            for task in tasks:
                task.cancel()

        for task, indexes in tasks.items():
            result = (None, None, "failed:timeout") if task in late else task.result()
            for index in indexes:
                results[index] = result
        self._count(results)
        return results

    async def _wait(
        self, tasks: dict[asyncio.Task[ContentResult], list[int]]
    ) -> set[asyncio.Task[ContentResult]]:
        """Wait for the page's reads until the deadline; return those still running."""
        if not tasks:
            return set()

        _, late = await asyncio.wait(tasks, timeout=self._page_timeout_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        if late:
            logger.warning(
                "content of %d file(s) was not read within %.0f s and is marked "
                "failed:timeout; raise page_timeout_s or lower the concurrency if "
                "the portal or storage is slow",
                len(late),
                self._page_timeout_s,
            )
        return late

    async def _capture(self, file_id: int, entry: dict[str, Any]) -> ContentResult:
        recent = self._recent.get(file_id)
        if recent is not None:
            self._recent.move_to_end(file_id)
            return recent[0], recent[1], CAPTURED

        declared = _declared_size(entry)
        reserve = self._budget.capacity if declared is None else declared
        try:
            async with self._files, self._budget.reserve(reserve):
                sha256, size = await self._read(file_id)
        except _TooLarge:
            return None, None, "skipped:too_large"
        except Exception as error:  # one file's failure never stops the stream
            return None, None, f"failed:{self._failure(file_id, error)}"

        if declared is not None and declared != size:
            logger.debug(
                "file %d has %d bytes, its event said %d", file_id, size, declared
            )
        self.statistics.bytes += size
        self._remember(file_id, sha256, size)
        return sha256, size, CAPTURED

    async def _read(self, file_id: int) -> tuple[str, int]:
        """Stream one version through SHA-256, and into the store in store mode."""
        limit = self.filters.max_size
        if self.mode == "hash" or self.store is None:
            return await self.client.digest(file_id, _SizeGuard(limit))

        incoming = _Incoming(self.store, limit, self._partial_prefix)
        try:
            sha256, size = await self.client.digest(file_id, incoming.write)
        except BaseException:
            incoming.discard()
            raise

        # Finishing runs in a thread that owns the file from here on, so a
        # cancellation cannot close it under the fsync or the rename.
        if await asyncio.to_thread(incoming.commit, sha256):
            self.statistics.stored += 1
        return sha256, size

    def _failure(self, file_id: int, error: Exception) -> str:
        """Name a failure for the status column and log it.

        A failure that strikes every file alike (a refused key pair, an
        unwritable store, a defect) is logged once per run at ERROR with what
        to do; a failure of one file is logged for that file at WARNING.
        """
        reason = next(
            (name for kind, name in _FAILURES if isinstance(error, kind)), None
        )
        if reason is not None and reason != "unauthorized":
            logger.warning("content of file %d was not captured: %s", file_id, error)
            return reason

        incident = type(error).__name__
        if incident in self._reported:
            logger.debug("content of file %d was not captured: %s", file_id, error)
        elif reason == "unauthorized":
            logger.error(
                "DirectIO refused the key pair (%s); every file's content is marked "
                "failed:unauthorized. Give the access key id and secret access key "
                "(CTERA_ACCESS_KEY_ID and CTERA_SECRET_ACCESS_KEY for the command "
                "line) of a tenant user with the Read Write Administrator role, or "
                "collect with --content off.",
                error,
            )
        elif isinstance(error, OSError):
            logger.error(
                "content could not be written to the store %s (%s); free space or "
                "fix its permissions, files are marked failed:store_error meanwhile",
                self.store,
                error,
            )
        else:
            logger.error(
                "content of file %d failed unexpectedly; files failing this way are "
                "marked failed:error, please report it",
                file_id,
                exc_info=error,
            )
        self._reported.add(incident)
        if reason is not None:
            return reason
        return "store_error" if isinstance(error, OSError) else "error"

    def _remember(self, file_id: int, sha256: str, size: int) -> None:
        self._recent[file_id] = (sha256, size)
        if len(self._recent) > _RECENT_VERSIONS:
            self._recent.popitem(last=False)

    def _count(self, results: list[ContentResult]) -> None:
        statistics = self.statistics
        for _, _, status in results:
            if status == CAPTURED:
                statistics.captured += 1
            elif status is not None and status.startswith("skipped:"):
                statistics.skipped += 1
            else:
                statistics.failed += 1


class _ByteBudget:
    """Bytes that reads may reserve at once; reservations are granted in order."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._available = capacity
        self._queue = asyncio.Lock()
        self._released = asyncio.Event()

    @contextlib.asynccontextmanager
    async def reserve(self, amount: int) -> AsyncIterator[None]:
        """Hold ``amount`` bytes (at most the capacity) for the ``async with`` block."""
        amount = min(amount, self.capacity)
        async with self._queue:  # the first in line waits; no one overtakes it
            while self._available < amount:
                self._released.clear()
                await self._released.wait()
            self._available -= amount

        try:
            yield
        finally:
            self._available += amount
            self._released.set()


class _SizeGuard:
    """Stops a read once it exceeds the filter's size limit."""

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self.size = 0

    def __call__(self, block: bytes) -> None:
        self.size += len(block)
        if self._limit is not None and self.size > self._limit:
            raise _TooLarge


class _Incoming(_SizeGuard):
    """A version being written into the store under a temporary name."""

    def __init__(self, store: Path, limit: int | None, prefix: str) -> None:
        super().__init__(limit)
        self._store = store
        descriptor, name = tempfile.mkstemp(prefix=prefix, dir=store)
        self._path = Path(name)
        self._file = os.fdopen(descriptor, "wb")

    def write(self, block: bytes) -> None:
        """Append one block (called in file order by the DirectIO client)."""
        self(block)
        self._file.write(block)

    def discard(self) -> None:
        """Drop the partial file."""
        self._file.close()
        self._path.unlink(missing_ok=True)

    def commit(self, sha256: str) -> bool:
        """Make the file durable under its digest; return whether it is new.

        When an object of that digest exists already the temporary file is
        dropped, so identical contents are stored once.
        """
        try:
            target = self._store / sha256[:2] / sha256[2:4] / sha256
            if target.exists():
                self.discard()
                return False

            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            # A new directory's own entry is durable once its parent is synced.
            synced = {target.parent}
            for directory in (target.parent.parent, target.parent):
                with contextlib.suppress(FileExistsError):
                    directory.mkdir(mode=0o700)
                    synced.add(directory.parent)
            os.replace(self._path, target)
            for directory in synced:
                fsync_path(directory)
            return True
        except BaseException:
            self.discard()
            raise


def _declared_size(entry: dict[str, Any]) -> int | None:
    size = entry.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        return size
    return None


def _extension(name: object) -> str | None:
    """The extension as the rows' ``extension`` column derives it."""
    if not isinstance(name, str):
        return None

    stem, dot, suffix = name.rpartition(".")
    if dot and stem and 0 < len(suffix) <= _MAX_EXTENSION and "/" not in suffix:
        return suffix.lower()
    return None
