"""Simulated time for the workload: an office-hours rhythm and portal timestamps."""

from __future__ import annotations

import functools
import math
import random
from datetime import UTC, datetime, timedelta

_HOURLY = (
    0.04, 0.03, 0.03, 0.03, 0.04, 0.06, 0.15, 0.4, 1.0, 1.3, 1.4, 1.3,
    0.8, 1.0, 1.3, 1.3, 1.2, 0.9, 0.4, 0.2, 0.15, 0.1, 0.07, 0.05,
)  # fmt: skip
_WEEKEND_HOURLY = 0.05
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOURS_MINUTES = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(24 * 60))
_SECONDS = tuple(f"{s:02d}Z" for s in range(60))


class OfficeClock:
    """Simulated time with an office-hours rhythm, formatted as the portal does.

    Most events fall Monday to Friday between 08:00 and 18:00 UTC with a dip at
    midday; nights and weekends are quiet. The weekly mean is ``events_per_day``.

    Args:
        start: simulated time of the first event, timezone-aware.
        events_per_day: weekly average of simulated events per day.

    Attributes:
        now: the current simulated time, in seconds since the epoch.
        peak_rate: events per second in the busiest hour of the week.
    """

    def __init__(self, start: datetime, events_per_day: int) -> None:
        weekday = list(_HOURLY)
        weights = weekday * 5 + [_WEEKEND_HOURLY] * 48
        mean = sum(weights) / len(weights)
        per_second = events_per_day / 86_400
        self._rates = [per_second * weight / mean for weight in weights]
        self._gaps = [1.0 / rate for rate in self._rates]
        self.peak_rate = max(self._rates)
        self.now = start.timestamp()
        self._second = -1
        self._stamps = ("", "")
        self._minute = -1
        self._minute_prefix = ""

    def advance(self, rnd: random.Random) -> None:
        """Move to the time of the next background event."""
        hour_of_week = (int(self.now // 3600) + 72) % 168
        self.now += -math.log(1.0 - rnd.random()) * self._gaps[hour_of_week]

    def stamps(self, when: float) -> tuple[str, str]:
        """File timestamp and portal modification date of an event at ``when``."""
        second = int(when)
        if second != self._second:
            self._second = second
            self._stamps = (self._iso(second), self._iso(second + 1))
        return self._stamps

    def _iso(self, second: int) -> str:
        minute, rest = divmod(second, 60)
        if minute != self._minute:
            self._minute = minute
            day, rest_of_day = divmod(minute, 24 * 60)
            self._minute_prefix = f"{_day_prefix(day)}{_HOURS_MINUTES[rest_of_day]}"
        return self._minute_prefix + _SECONDS[rest]

    @staticmethod
    def office_slot(when: float) -> float:
        """The first moment at or after ``when`` in Mon-Fri 10:00-15:00 UTC."""
        for _ in range(24 * 8):
            weekday = (int(when // 86_400) + 3) % 7
            if weekday < 5 and 10 <= int(when % 86_400 // 3600) < 15:
                return when
            when = (int(when // 3600) + 1) * 3600.0
        raise AssertionError("a week always holds office hours")


@functools.lru_cache(maxsize=4)
def _day_prefix(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
