"""A progress display fed by the collector's statistics (tqdm: terminal or notebook)."""

from __future__ import annotations

import time

from tqdm.auto import tqdm

from ..collector import CollectorStatistics
from ..durations import readable_duration

_REFRESH_S = 0.5


class ProgressBar:
    """Shows events, events per second, lag and files; refreshed twice a second.

    The bar appears with the first figures, once the collection has started,
    and shows the last figures when it closes.
    """

    def __init__(self) -> None:
        self._bar: tqdm | None = None
        self._latest: CollectorStatistics | None = None
        self._shown_at = 0.0

    def __call__(self, statistics: CollectorStatistics) -> None:
        self._latest = statistics
        now = time.monotonic()
        if now - self._shown_at >= _REFRESH_S:
            self._shown_at = now
            self._show(statistics)

    def close(self) -> None:
        """Show the last figures and leave the bar in its final state."""
        if self._latest is not None:
            self._show(self._latest)
        if self._bar is not None:
            self._bar.close()

    def _show(self, statistics: CollectorStatistics) -> None:
        if self._bar is None:
            self._bar = tqdm(unit=" events", unit_scale=True, dynamic_ncols=True)
        self._bar.update(statistics.events - self._bar.n)
        lag = statistics.lag_s
        self._bar.set_postfix(
            files=statistics.files,
            lag="-" if lag is None else readable_duration(lag),
            caught_up="yes" if statistics.caught_up else "no",
            refresh=False,
        )
