"""The notification service: a portal's change stream as pages or as events.

:meth:`NotificationService.run` keeps the contract of the official SDK's service,
so consumer code written for it works unchanged: events go onto the caller's
``asyncio.Queue`` in server order and, once every event of a page is marked
``task_done()``, ``save_cursor`` is awaited with that page's cursor.

:meth:`NotificationService.pages` is the same stream a page at a time, for
consumers (like the collector) that work on whole pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

from .events import Event
from .listing import PageLister
from .pages import Page
from .portal import CloudFolderRef, Portal

logger = logging.getLogger("ctera_audit.notifications")

SaveCursor = Callable[[str], Awaitable[object]]
CloudFolders = Iterable[int | str | CloudFolderRef] | None


@dataclass
class ServiceStatistics:
    """What the stream has done so far; cheap to read at any moment."""

    pages: int = 0
    """List pages received, empty ones included."""
    events: int = 0
    """Events received."""
    longpolls: int = 0
    """Longpoll calls made."""
    cursor: str | None = None
    """Cursor after the newest page received (not necessarily saved)."""
    caught_up: bool = False
    """Whether the last answer said nothing more is waiting."""


class _EndOfStream:
    """Marks the end of the page queue; carries the error that ended it, if any."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class NotificationService:
    """Follows a portal's change stream.

    Args:
        portal: a logged-in :class:`Portal`.
        read_ahead: pages fetched ahead of the consumer; bounds memory.
        max_results: events per list page.
        longpoll_timeout_ms: how long one longpoll may wait for news.
    """

    def __init__(
        self,
        portal: Portal,
        *,
        read_ahead: int = 3,
        max_results: int = 2000,
        longpoll_timeout_ms: int = 10_000,
    ) -> None:
        self.portal = portal
        self.read_ahead = read_ahead
        self.max_results = max_results
        self.longpoll_timeout_ms = longpoll_timeout_ms
        self.statistics = ServiceStatistics()
        self._task: asyncio.Task[None] | None = None

    def run(
        self,
        client_queue: asyncio.Queue[Event],
        save_cursor: SaveCursor,
        *,
        cloudfolders: CloudFolders = None,
        cursor: str | None = None,
    ) -> None:
        """Start delivering events in the background and return at once.

        Must be called from a running event loop. An error that ends the
        service is logged and raised again by :meth:`stop`.
        """
        if self._task is not None and not self._task.done():
            raise RuntimeError(
                "the notification service is already running; stop it first"
            )

        stream = self.pages(cloudfolders=cloudfolders, cursor=cursor)
        self._task = asyncio.create_task(
            self._forward(stream, client_queue, save_cursor), name="ctera-notifications"
        )

    async def stop(self) -> None:
        """Stop the service; raise the error that ended it, if one did."""
        task, self._task = self._task, None
        if task is None:
            return

        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def pages(
        self,
        *,
        cloudfolders: CloudFolders = None,
        cursor: str | None = None,
        until_idle: bool = False,
        columnar: bool = False,
    ) -> AsyncIterator[Page]:
        """Yield every list page after ``cursor``, empty pages included.

        The next page is fetched while the consumer works on this one, up to
        ``read_ahead`` pages, and requested before this one is parsed (see
        :mod:`.listing`). With ``until_idle`` the iteration ends once the
        portal has nothing more (a short longpoll finds no changes). With
        ``columnar`` clean pages come as Arrow columns (see :mod:`.pages`).
        """
        folder_ids = await self.portal.resolve_folders(cloudfolders or ())
        queue: asyncio.Queue[Page | _EndOfStream] = asyncio.Queue(self.read_ahead)
        fetcher = asyncio.create_task(
            self._fetch(queue, folder_ids, cursor, until_idle, columnar),
            name="ctera-page-fetcher",
        )
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _EndOfStream):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetcher

    async def _fetch(
        self,
        queue: asyncio.Queue[Page | _EndOfStream],
        folder_ids: list[int],
        cursor: str | None,
        until_idle: bool,
        columnar: bool,
    ) -> None:
        statistics = self.statistics
        portal = self.portal
        lister = PageLister(portal, folder_ids, self.max_results, columnar=columnar)
        must_list = cursor is None
        try:
            while True:
                if not must_list:
                    statistics.longpolls += 1
                    timeout_ms = 1 if until_idle else self.longpoll_timeout_ms
                    assert cursor is not None
                    if not await portal.longpoll(cursor, folder_ids, timeout_ms):
                        statistics.caught_up = True
                        if until_idle:
                            break
                        continue

                page = await lister.list(cursor)
                statistics.pages += 1
                statistics.events += len(page)
                statistics.cursor = cursor = page.cursor
                statistics.caught_up = not page.has_more
                must_list = page.has_more
                await queue.put(page)
        except Exception as error:
            await queue.put(_EndOfStream(error))
            return
        finally:
            lister.close()
        await queue.put(_EndOfStream())

    async def _forward(
        self,
        stream: AsyncIterator[Page],
        client_queue: asyncio.Queue[Event],
        save_cursor: SaveCursor,
    ) -> None:
        try:
            async for page in stream:
                if not page.entries:
                    continue
                for entry in page.entries:
                    await client_queue.put(Event.from_entry(entry))
                await client_queue.join()
                try:
                    await save_cursor(page.cursor)
                except Exception:
                    logger.exception("save_cursor failed; the stream goes on")
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.error("notification service stopped: %s", error)
            raise
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
