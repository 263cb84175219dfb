"""Listing a stream's pages back to back, each next page asked for early.

Every list call needs the cursor of the answer before it, and that cursor comes
at the end of the answer. Rather than wait until the whole page is parsed, the
lister reads the cursor off the end of the body (see
:func:`~ctera_audit.pages.trailing_cursor`) and sends the next request at once,
so the portal prepares and sends page N+1 while page N is parsed. That early
answer is simply the first try of the next list call: a guess the parsed page
contradicts costs one request, never a wrong page, and retries count as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from .pages import Page, trailing_cursor
from .portal import Portal


class PageLister:
    """Lists the pages of one stream, the next one asked for early.

    Args:
        portal: a logged-in portal.
        folder_ids: cloud folders of the stream; empty means all of them.
        max_results: events per page.
        columnar: read clean pages into Arrow columns.
    """

    def __init__(
        self,
        portal: Portal,
        folder_ids: Sequence[int],
        max_results: int = 2000,
        *,
        columnar: bool = False,
    ) -> None:
        self.portal = portal
        self.folder_ids = list(folder_ids)
        self.max_results = max_results
        self.columnar = columnar
        self._early: tuple[str, asyncio.Task[bytes]] | None = None

    async def list(self, cursor: str | None) -> Page:
        """The page after ``cursor``, as :meth:`Portal.list_changes` gives it."""
        sent = None
        if self._early is not None and self._early[0] == cursor:
            _, sent = self._early
            self._early = None
        self.close()

        page = await self.portal.list_changes(
            cursor,
            self.folder_ids,
            self.max_results,
            columnar=self.columnar,
            sent=sent,
            on_answer=self._ask_early,
        )
        asked = self._early[0] if self._early is not None else None
        if asked is not None and (asked != page.cursor or not page.has_more):
            self.close()
        return page

    def close(self) -> None:
        """Withdraw the request sent early, if any."""
        if self._early is None:
            return
        _, request = self._early
        self._early = None
        request.cancel()
        request.add_done_callback(_forget_outcome)

    def _ask_early(self, answer: bytes) -> None:
        guess = trailing_cursor(answer)
        if guess is None or not guess.has_more:
            return
        if self._early is not None and self._early[0] == guess.cursor:
            return

        self.close()
        request = self.portal.send_list(guess.cursor, self.folder_ids, self.max_results)
        self._early = (guess.cursor, request)


def _forget_outcome(request: asyncio.Task[bytes]) -> None:
    """Retrieve a withdrawn request's outcome: it concerns a page nobody reads."""
    with contextlib.suppress(asyncio.CancelledError, Exception):
        request.result()
