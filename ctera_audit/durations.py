"""Durations as people read them, for progress displays."""

from __future__ import annotations


def readable_duration(seconds: float) -> str:
    """Seconds in a readable unit: 45 s, 3 min, 5 h, 31 d."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if abs(seconds) >= 2 * size:
            return f"{seconds / size:,.0f} {unit}"
    return f"{seconds:,.0f} s"
