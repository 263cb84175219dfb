"""The collector: a portal's change stream into the Parquet dataset, exactly once.

For every page of the stream it names each event's full path, builds the rows
as one Arrow batch and appends it to the open data files. Every so often (by
rows, bytes or age) it commits: the files are made durable and visible whole
(renamed into place on a local disk, uploaded under their final names to an
object store), then the cursor after their last page is recorded with them in one
state-store transaction. A stop or crash at any moment leaves the dataset at a
commit; on start-up, files of an unfinished commit are removed and the stream
resumes from the committed cursor, so every event is there exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from .dataset.rows import FolderInfo, build_batch
from .dataset.state import StateStore
from .dataset.storage import S3Options, Storage, open_storage
from .dataset.writer import DatasetWriter
from .notifications import NotificationService
from .page_process import PageProcess
from .pages import Page
from .paths import PageOutline, PathResolver
from .portal import CloudFolderRef, Portal

logger = logging.getLogger("ctera_audit.collector")

Clock = Callable[[], float]

PAUSE_VARIABLE = "CTERA_AUDIT_TEST_PAUSE_AT"
"""Test hook, off unless set: ``POINT`` or ``POINT:N`` holds the process forever
at the Nth arrival at a named point, so a crash test can SIGKILL it exactly there.
Points: ``page`` (a page received, nothing of it written), ``write`` (its rows
appended to the temporary files of an open commit), ``commit`` (the files of a
commit renamed into place, the checkpoint not yet recorded), ``retire`` (the
checkpoint recorded, the files it replaced not yet deleted)."""
_arrivals: Counter[str] = Counter()


@dataclass(frozen=True)
class CollectorSettings:
    """How a collection runs; the defaults suit a long-running collector."""

    max_rows: int = 1_000_000
    """Commit once the open files hold this many rows."""
    max_bytes: int = 256 << 20
    """Commit once the open files hold this many bytes of rows (in memory size)."""
    max_age_s: float = 300.0
    """Commit at least this often while events arrive, in seconds."""
    row_group_rows: int = 131_072
    """Rows per Parquet row group; also bounds the rows held in memory."""
    file_bytes: int = 64 << 20
    """Size a day's file grows to over commits: a commit that adds rows to a day
    whose last file is under half of it rewrites that file with them."""
    read_ahead: int = 3
    """Pages fetched ahead of the writer."""
    max_results: int = 2000
    """Events per list page."""
    max_folders: int = 2_000_000
    """Bound on the folder tree kept in memory."""
    page_reader_process: bool = True
    """List and parse the stream's pages in a child process (see
    :mod:`ctera_audit.page_process`); off, or with content capture, they are
    read in this one."""
    until_idle: bool = False
    """Stop once the stream has caught up with the portal."""
    max_events: int | None = None
    """Stop after this many events (rounded up to a whole page)."""
    duration_s: float | None = None
    """Stop after this many seconds."""
    stream: str = "main"
    """Name of this stream within the dataset (one per folder group)."""


@dataclass
class CollectorStatistics:
    """A snapshot of the collection, updated after every page.

    Progress displays, notebooks and the CLI read it; nothing here costs work.
    """

    events: int = 0
    """Events received in this run."""
    pages: int = 0
    """Pages received in this run."""
    commits: int = 0
    """Commits made in this run."""
    files: int = 0
    """Data files this run added to the dataset; a day's file grown into a later
    one counts once."""
    committed_events: int = 0
    """Events in the dataset after the last commit (all runs)."""
    ancestors_calls: int = 0
    """Ancestors calls made to name unknown parents."""
    unresolved: int = 0
    """Events whose path could not be named."""
    lag_s: float | None = None
    """How far the collection is behind the portal: while events wait, the
    seconds between the newest collected event's portal time and its arrival;
    0 once caught up, however old that event is."""
    started: float = field(default_factory=time.monotonic)
    """Monotonic time the run started."""
    elapsed_s: float = 0.0
    """Seconds since the run started."""
    caught_up: bool = False
    """Whether the stream has nothing more waiting right now."""

    @property
    def events_per_s(self) -> float:
        """Average event rate of this run."""
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class CollectionSummary:
    """What a finished run did."""

    events: int
    pages: int
    commits: int
    files: int
    committed_events: int
    elapsed_s: float
    cursor: str | None
    ancestors_calls: int
    unresolved: int
    stopped_because: str

    def describe(self) -> str:
        """One readable paragraph for people."""
        rate = self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return (
            f"Collected {self.events:,} events in {self.elapsed_s:.1f} s "
            f"({rate:,.0f} events/s) over {self.pages:,} pages, committed in "
            f"{self.commits:,} checkpoint(s) adding {self.files:,} data file(s); the "
            f"dataset now holds {self.committed_events:,} events. Paths needed "
            f"{self.ancestors_calls:,} ancestors call(s); {self.unresolved:,} event(s) "
            f"kept without a path. Stopped because {self.stopped_because}."
        )


Progress = Callable[[CollectorStatistics], None]
ContentResult = tuple[str | None, int | None, str | None]
"""Content of one event: sha256, size and status (captured, skipped:..., failed:...)."""


class ContentSink(Protocol):
    """Captures the content of a page's events, for the rows' content columns."""

    async def capture_page(self, entries: list[dict[str, Any]]) -> list[ContentResult]:
        """Return one result per entry, in order, within a bounded time."""
        ...

    def for_stream(self, stream: str) -> ContentSink:
        """The sink as the named stream uses it; streams may share one sink."""
        ...

    def recover(self) -> None:
        """Remove what an interrupted run of this stream left half-written;
        called once the collector holds the stream."""
        ...


class Collector:
    """Collects a portal's events into a dataset directory or object-store prefix.

    Args:
        portal: a logged-in :class:`Portal`.
        out: the dataset directory (created if missing) or an
            ``s3://bucket/prefix`` URI.
        folders: cloud folders to follow (ids, ``OWNER/NAME`` or references);
            None follows all of them.
        settings: sizes, stop conditions and the stream name.
        identity: what the dataset is collected from; defaults to the portal's
            URL and context and the folder ids. A dataset refuses to resume
            from another identity.
        progress: called with the statistics after every page.
        content: captures each version's content or hash; None leaves the
            content columns empty.
        clock: monotonic time source, replaceable in tests.
        state_dir: local directory of the state store (checkpoints); by
            default ``OUT/_state``, or ``~/.ctera-audit/state/...`` for an
            object store. Keep it: without it the dataset cannot resume.
        s3: endpoint and keys of an S3-compatible store; by default from the
            ``AWS_*`` environment variables.
    """

    def __init__(
        self,
        portal: Portal,
        out: str | Path,
        *,
        folders: Iterable[int | str | CloudFolderRef] | None = None,
        settings: CollectorSettings | None = None,
        identity: dict[str, Any] | None = None,
        progress: Progress | None = None,
        content: ContentSink | None = None,
        clock: Clock = time.monotonic,
        state_dir: str | Path | None = None,
        s3: S3Options | None = None,
    ) -> None:
        self.portal = portal
        self.out = out
        self.state_dir = state_dir
        self.s3 = s3
        self.folders = list(folders) if folders is not None else None
        self.settings = settings or CollectorSettings()
        self.identity = identity
        self.progress = progress
        self.content = (
            content.for_stream(self.settings.stream) if content is not None else None
        )
        self.clock = clock
        self.statistics = CollectorStatistics(started=clock())
        self._stop = asyncio.Event()
        self._stop_reason = "the stream ended"

    def request_stop(self, reason: str = "a stop was requested") -> None:
        """Ask the run to commit what it has and end after the current page."""
        self._stop_reason = reason
        self._stop.set()

    async def run(self) -> CollectionSummary:
        """Collect until a stop condition; commit and return a summary."""
        folder_ids = await self.portal.resolve_folders(self.folders or ())
        identity = self.identity or {
            "portal": self.portal.base_url,
            "context": self.portal.context,
        }
        identity = {**identity, "folders": sorted(folder_ids) or "all"}
        storage = open_storage(self.out, state_dir=self.state_dir, s3=self.s3)
        store = StateStore(
            storage.location,
            identity,
            self.settings.stream,
            state_dir=storage.state_dir,
        )
        try:
            return await self._collect(store, storage, folder_ids)
        finally:
            store.close()

    async def _collect(
        self, store: StateStore, storage: Storage, folder_ids: list[int]
    ) -> CollectionSummary:
        settings = self.settings
        checkpoint = store.checkpoint()
        writer = DatasetWriter(
            storage,
            stream=settings.stream,
            row_group_rows=settings.row_group_rows,
            file_bytes=settings.file_bytes,
        )
        retired = store.retired_files()
        await asyncio.to_thread(
            writer.recover,
            store.committed_files(settings.stream),
            checkpoint.seq,
            retired,
        )
        store.forget_retired(retired)
        if self.content is not None:
            await asyncio.to_thread(self.content.recover)
        resolver = PathResolver(
            self.portal.ancestors, store.folders(), max_folders=settings.max_folders
        )
        folder_info = await self._folder_info()
        logger.info(
            "collecting stream %s into %s from %s (checkpoint %d, %d events so far)",
            settings.stream,
            storage.location,
            "the beginning" if checkpoint.cursor is None else "the last checkpoint",
            checkpoint.seq,
            checkpoint.events,
        )

        commit = _Committer(store, writer, resolver, checkpoint.seq, checkpoint.events)
        service = self._page_source()
        stream = service.pages(
            cloudfolders=folder_ids,
            cursor=checkpoint.cursor,
            until_idle=settings.until_idle,
            columnar=True,
        )
        statistics = self.statistics
        statistics.committed_events = checkpoint.events
        cursor, opened_at = checkpoint.cursor, self.clock()
        if settings.duration_s is not None:
            asyncio.get_running_loop().call_later(
                settings.duration_s, self.request_stop, "the duration ran out"
            )
        writer.begin(commit.seq + 1, store.day_tails())
        try:
            async for page in self._until_stopped(stream):
                if len(page):
                    await self._write_page(page, resolver, writer, folder_info)
                cursor = page.cursor
                statistics.caught_up = service.statistics.caught_up
                if statistics.caught_up:
                    statistics.lag_s = 0.0

                aged = self.clock() - opened_at >= settings.max_age_s
                full = writer.open_rows >= settings.max_rows
                if full or writer.open_bytes >= settings.max_bytes or aged:
                    await commit(cursor, statistics)
                    writer.begin(commit.seq + 1, store.day_tails())
                    opened_at = self.clock()
                self._report()
                if settings.max_events and statistics.events >= settings.max_events:
                    self.request_stop(f"{settings.max_events:,} events were collected")
        except BaseException:
            writer.discard()
            raise

        if cursor != checkpoint.cursor or writer.open_rows:
            await commit(cursor, statistics)
        writer.discard()
        self._report()
        return CollectionSummary(
            events=statistics.events,
            pages=statistics.pages,
            commits=statistics.commits,
            files=statistics.files,
            committed_events=statistics.committed_events,
            elapsed_s=statistics.elapsed_s,
            cursor=cursor,
            ancestors_calls=resolver.statistics.ancestors_calls,
            unresolved=statistics.unresolved,
            stopped_because=self._stop_reason,
        )

    async def _until_stopped(self, pages: AsyncIterator[Page]) -> AsyncIterator[Page]:
        """Yield pages until the stream ends or a stop is requested.

        A stop interrupts only the wait for the next page, never the handling
        of one, so every page is either wholly in the open files or not at all.
        """
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            while not self._stop.is_set():
                following = asyncio.ensure_future(anext(pages))
                await asyncio.wait(
                    {following, stop}, return_when=asyncio.FIRST_COMPLETED
                )
                if not following.done():
                    following.cancel()
                    with contextlib.suppress(
                        asyncio.CancelledError, StopAsyncIteration
                    ):
                        await following
                    return
                try:
                    yield following.result()
                except StopAsyncIteration:
                    self._stop_reason = "the stream caught up with the portal"
                    return
        finally:
            stop.cancel()
            await pages.aclose()  # type: ignore[attr-defined]

    async def _write_page(
        self,
        page: Page,
        resolver: PathResolver,
        writer: DatasetWriter,
        folder_info: FolderInfo,
    ) -> None:
        _pause_point("page")
        collected_at = dt.datetime.now(dt.UTC)
        outline = page.outline or PageOutline.from_entries(page.entries)
        await resolver.prepare(outline)
        resolved = resolver.resolve_page(outline)
        content = (
            await self.content.capture_page(page.entries) if self.content else None
        )
        entries = page.columns if page.columns is not None else page.entries

        def build_and_add() -> pa.RecordBatch:
            batch = build_batch(entries, resolved, folder_info, collected_at, content)
            writer.add(batch)
            return batch

        batch = await asyncio.to_thread(build_and_add)
        _pause_point("write")

        statistics = self.statistics
        statistics.pages += 1
        statistics.events += len(page)
        statistics.ancestors_calls = resolver.statistics.ancestors_calls
        statistics.unresolved += resolved[0].null_count
        newest = pc.max(batch.column("portal_modified_date")).as_py()
        if newest is not None:
            statistics.lag_s = (collected_at - newest).total_seconds()

    def _page_source(self) -> NotificationService | PageProcess:
        """Where pages come from: a child process, unless settings or content
        capture (which reads every entry) keep them in this one."""
        settings = self.settings
        session = self.portal.session_recipe()
        if settings.page_reader_process and self.content is None and session:
            return PageProcess(
                session,
                read_ahead=settings.read_ahead,
                max_results=settings.max_results,
            )
        return NotificationService(
            self.portal,
            read_ahead=settings.read_ahead,
            max_results=settings.max_results,
        )

    async def _folder_info(self) -> FolderInfo:
        """Names and owners of the cloud folders, for the rows' labels."""
        try:
            return await self.portal.cloud_folders()
        except Exception as error:  # labels are a convenience, never a reason to stop
            logger.warning(
                "cloud folder names are unavailable (%s); rows keep ids only", error
            )
            return {}

    def _report(self) -> None:
        self.statistics.elapsed_s = self.clock() - self.statistics.started
        if self.progress is not None:
            self.progress(self.statistics)


class _Committer:
    """Makes the open files durable, then records them with the cursor."""

    def __init__(
        self,
        store: StateStore,
        writer: DatasetWriter,
        resolver: PathResolver,
        seq: int,
        events: int,
    ) -> None:
        self.store = store
        self.writer = writer
        self.resolver = resolver
        self.seq = seq
        self.events = events

    async def __call__(
        self, cursor: str | None, statistics: CollectorStatistics
    ) -> None:
        rows = self.writer.open_rows
        files = await asyncio.to_thread(self.writer.finish)
        retired = self.writer.retired
        _pause_point("commit")
        changed, forgotten = self.resolver.take_changes()
        try:
            self.store.commit(
                self.seq + 1,
                cursor,
                self.events + rows,
                files,
                changed,
                forgotten,
                retired,
            )
        except BaseException:
            await asyncio.to_thread(self.writer.withdraw, files)
            raise
        self.seq += 1
        self.events += rows
        if retired:
            _pause_point("retire")
            deleted = await asyncio.to_thread(self._delete, retired)
            self.store.forget_retired(deleted)

        statistics.commits += 1
        statistics.files += len(files) - len(retired)
        statistics.committed_events = self.events
        logger.info(
            "checkpoint %d committed: %d rows in %d file(s), %d events in the dataset",
            self.seq,
            rows,
            len(files),
            self.events,
        )

    def _delete(self, retired: list[str]) -> list[str]:
        """Delete the files a commit replaced and return those deleted; any left
        are deleted at the next start."""
        deleted = []
        for relative in retired:
            try:
                self.writer.storage.delete(relative)
            except OSError as error:
                logger.warning(
                    "could not delete %s, replaced by checkpoint %d (%s); the next "
                    "start deletes it",
                    relative,
                    self.seq,
                    error,
                )
            else:
                deleted.append(relative)
        return deleted


def _pause_point(point: str) -> None:
    """Hold the process at ``point`` if :data:`PAUSE_VARIABLE` asks for it.

    The pause is announced on stderr (``paused at POINT``) and blocks the whole
    process on purpose: nothing may move until the test kills it.
    """
    wanted = os.environ.get(PAUSE_VARIABLE)
    if not wanted or wanted.partition(":")[0] != point:
        return

    _arrivals[point] += 1
    if _arrivals[point] == int(wanted.partition(":")[2] or 1):
        print(f"paused at {point}", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
