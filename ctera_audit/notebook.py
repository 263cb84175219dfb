"""Collecting from a notebook: a collection that runs while the notebook stays usable.

:func:`start_collection` runs :func:`~ctera_audit.runner.collect_async` on the
private background event loop (see :mod:`ctera_audit.loop`) and returns at
once with a :class:`BackgroundCollection` to watch and stop it. Committed data
files are readable with :func:`~ctera_audit.analysis.load` while it runs, so a
notebook can analyse the first events while more arrive; for that the default
settings here commit every :data:`NOTEBOOK_COMMIT_S` seconds instead of every
five minutes.

In a notebook, the blocking :func:`~ctera_audit.runner.collect` works as well,
and so does top-level ``await collect_async(...)``.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

from .collector import (
    CollectionSummary,
    Collector,
    CollectorSettings,
    CollectorStatistics,
    Progress,
)
from .durations import readable_duration
from .loop import private_loop, submit
from .portal import CloudFolderRef
from .runner import DemoPortal, PortalLogin, collect_async
from .streams import MultiStreamCollector

logger = logging.getLogger("ctera_audit.notebook")

NOTEBOOK_COMMIT_S = 5.0
"""Seconds between commits when no settings are given: new events become
readable with ``load`` this long after they arrive, at the cost of one small
data file per commit (a long-running collector commits every five minutes)."""

Clock = Callable[[], float]


class BackgroundCollection:
    """A collection running on the private event loop, watched from the notebook.

    Create it with :func:`start_collection`. Nothing here blocks except
    :meth:`wait` and :meth:`stop`, which wait for the collection to end.

    Attributes:
        out: the dataset directory being written.
    """

    def __init__(
        self,
        out: str | Path,
        source: PortalLogin | DemoPortal,
        *,
        folders: Iterable[int | str | CloudFolderRef] | None,
        settings: CollectorSettings,
        progress: Progress | None,
    ) -> None:
        self.out = Path(out)
        self._progress = progress
        self._statistics = CollectorStatistics()
        self._collector: Collector | MultiStreamCollector | None = None
        self._stop_reason: str | None = None
        self._future: Future[CollectionSummary] = submit(
            self._run(source, folders, settings)
        )

    @property
    def statistics(self) -> CollectorStatistics:
        """A snapshot of the collection, taken after its latest page.

        It is a copy, consistent in itself, that the collection never changes;
        read the property again for newer figures. All zero until the first
        page arrives.
        """
        return self._statistics

    @property
    def running(self) -> bool:
        """Whether the collection is still going (logging in, collecting, stopping)."""
        return not self._future.done()

    @property
    def summary(self) -> CollectionSummary | None:
        """What the collection did, once it has ended well; None before or on error."""
        if not self._future.done() or self._future.exception() is not None:
            return None
        return self._future.result()

    def stop(self, timeout: float | None = None) -> CollectionSummary:
        """Ask the collection to commit what it has and end; wait for it to.

        The current page is finished and committed, so the dataset holds every
        event counted in the summary. Stopping an ended collection just returns
        its summary.

        Args:
            timeout: seconds to wait for the end; None waits as long as it takes.

        Returns:
            The summary of the collection.

        Raises:
            CteraAuditError: the collection failed (the error it failed with).
            TimeoutError: it did not end within ``timeout``; it still stops.
        """
        private_loop().call_soon_threadsafe(self._request_stop, "a stop was requested")
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> CollectionSummary:
        """Wait for the collection to end by itself (a stop condition in settings).

        Interrupting the wait (the notebook's stop button) leaves the collection
        running; call :meth:`stop` to end it.

        Args:
            timeout: seconds to wait; None waits as long as it takes.

        Returns:
            The summary of the collection.

        Raises:
            CteraAuditError: the collection failed (the error it failed with).
            TimeoutError: it did not end within ``timeout``.
        """
        return self._future.result(timeout)

    def __repr__(self) -> str:
        state = "running" if self.running else "ended"
        statistics = self._statistics
        return (
            f"<BackgroundCollection {state}: {statistics.events:,} events, "
            f"{statistics.committed_events:,} committed, into {self.out}>"
        )

    def _attach(self, collector: Collector | MultiStreamCollector) -> None:
        """Keep the collector once it exists; honour a stop asked for before."""
        self._collector = collector
        if self._stop_reason is not None:
            collector.request_stop(self._stop_reason)

    def _request_stop(self, reason: str) -> None:
        """Runs on the private loop, like :meth:`_attach`, so the two cannot race."""
        self._stop_reason = reason
        if self._collector is not None:
            self._collector.request_stop(reason)

    def _record(self, statistics: CollectorStatistics) -> None:
        """Take a snapshot after each page and pass it to the progress display."""
        self._statistics = dataclasses.replace(statistics)
        if self._progress is not None:
            self._progress(self._statistics)

    async def _run(
        self,
        source: PortalLogin | DemoPortal,
        folders: Iterable[int | str | CloudFolderRef] | None,
        settings: CollectorSettings,
    ) -> CollectionSummary:
        """Collect, then close the progress display before the future completes.

        Closing here rather than in a done-callback means the display is final
        by the time :meth:`wait` returns. A failure is logged too, as nobody may
        be waiting for it.
        """
        try:
            return await collect_async(
                self.out,
                source,
                folders=folders,
                settings=settings,
                progress=self._record,
                on_start=self._attach,
            )
        except Exception as error:
            logger.error(
                "the background collection into %s failed: %s", self.out, error
            )
            raise
        finally:
            close = getattr(self._progress, "close", None)
            if close is not None:
                close()


class TextProgress:
    """A one-line status refreshed in place in a notebook; needs no ipywidgets.

    It shows events, their rate, commits and lag in a display that is updated
    at most every ``refresh_s`` seconds and once more when the collection ends.

    Args:
        refresh_s: least time between two updates of the display.
        clock: monotonic time source, replaceable in tests.
    """

    def __init__(self, refresh_s: float = 1.0, clock: Clock = time.monotonic) -> None:
        from IPython.display import Pretty, display

        self._pretty = Pretty
        self._refresh_s = refresh_s
        self._clock = clock
        self._shown_at = -refresh_s
        self._latest = CollectorStatistics()
        self._handle = display(Pretty(_status_line(self._latest)), display_id=True)

    def __call__(self, statistics: CollectorStatistics) -> None:
        """Remember the newest statistics; show them if the last update is old."""
        self._latest = statistics
        now = self._clock()
        if now - self._shown_at >= self._refresh_s:
            self._shown_at = now
            self._show()

    def close(self) -> None:
        """Show the final statistics."""
        self._show(final=True)

    def _show(self, *, final: bool = False) -> None:
        """Update the display, as output of the cell running now.

        IPython sends output with the parent message found in the current
        context, else with that of the cell running now (or last). This runs
        in a task that inherited the context of the cell that started the
        collection, and front ends stop listening to that cell once another
        runs; an empty context makes the update part of the current cell.
        """
        update = self._pretty(_status_line(self._latest, final=final))
        contextvars.Context().run(self._handle.update, update)


def start_collection(
    out: str | Path,
    source: PortalLogin | DemoPortal | None = None,
    *,
    folders: Iterable[int | str | CloudFolderRef] | None = None,
    settings: CollectorSettings | None = None,
    progress: Progress | Literal["auto"] | None = "auto",
) -> BackgroundCollection:
    """Start collecting in the background and return at once.

    Example:
        >>> running = start_collection("events", DemoPortal(rate=200))
        >>> running.statistics.events        # grows while the cell is idle
        >>> frame = load("events")           # the events committed so far
        >>> summary = running.stop()

    Args:
        out: the dataset directory (created if missing).
        source: where to collect from; the embedded simulated portal when None.
        folders: cloud folders to follow; None follows all of them.
        settings: how the collection runs; None means the collector defaults
            with a commit every :data:`NOTEBOOK_COMMIT_S` seconds.
        progress: called with a statistics snapshot after every page;
            ``"auto"`` shows a :class:`TextProgress` in a Jupyter kernel and
            nothing elsewhere; None shows nothing. A callable with a ``close()``
            method is closed when the collection ends.

    Returns:
        The running collection.
    """
    if isinstance(progress, str):  # "auto"
        progress = TextProgress() if _in_kernel() else None
    return BackgroundCollection(
        out,
        DemoPortal() if source is None else source,
        folders=folders,
        settings=settings or CollectorSettings(max_age_s=NOTEBOOK_COMMIT_S),
        progress=progress,
    )


def _in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (checked without importing IPython).

    A terminal IPython shell does not count: it would print every update of a
    display on a new line.
    """
    ipython: Any = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def _status_line(statistics: CollectorStatistics, *, final: bool = False) -> str:
    """The statistics in one line: state, events, rate, commits, lag, time."""
    lag = "-" if statistics.lag_s is None else readable_duration(statistics.lag_s)
    state = "caught up" if statistics.caught_up else "collecting"
    rate = statistics.events_per_s
    return (
        f"{'ended' if final else state}: {statistics.events:,} events "
        f"({rate:,.0f}/s), {statistics.commits:,} commit(s), "
        f"{statistics.committed_events:,} committed, lag {lag}, "
        f"{readable_duration(statistics.elapsed_s)}"
    )
