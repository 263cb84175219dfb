"""A progress display fed by the collector's statistics (tqdm: terminal or notebook)."""

from __future__ import annotations

import time

from tqdm.auto import tqdm

from ..collector import CollectorStatistics

_REFRESH_S = 0.5


class ProgressBar:
    """Shows events, events per second, lag and files; refreshed twice a second."""

    def __init__(self) -> None:
        self._bar = tqdm(unit=" events", unit_scale=True, dynamic_ncols=True)
        self._shown = 0
        self._last = 0.0

    def __call__(self, statistics: CollectorStatistics) -> None:
        now = time.monotonic()
        if now - self._last < _REFRESH_S:
            return
        self._last = now

        self._bar.update(statistics.events - self._shown)
        self._shown = statistics.events
        lag = "-" if statistics.lag_s is None else f"{statistics.lag_s:,.0f}s"
        self._bar.set_postfix(
            files=statistics.files,
            lag=lag,
            caught_up=statistics.caught_up,
            refresh=False,
        )

    def close(self) -> None:
        """Leave the bar in its final state."""
        self._bar.close()
