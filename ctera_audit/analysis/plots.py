"""Matplotlib charts of activity and incidents, for notebooks and reports.

matplotlib is an optional extra, imported only when a chart is drawn. Every
function draws on the given Axes (or a new figure's), returns the Axes and never
calls ``plt.show()``, so callers decide whether to show, save or embed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ConfigurationError
from .activity import timeline, top_directories
from .load import TIME_COLUMN

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def plot_timeline(
    frame: pd.DataFrame, *, freq: str = "1h", by: str = "action", ax: Axes | None = None
) -> Axes:
    """Stacked event counts per time bucket, one colour per value of ``by``."""
    ax = _axes(ax)
    counts = timeline(frame, freq=freq, by=by)
    counts = counts.loc[:, counts.sum() > 0]
    ax.stackplot(counts.index, counts.T.to_numpy(), labels=list(counts.columns))
    ax.set(xlabel="time (UTC)", ylabel=f"events per {freq}")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_heatmap(frame: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Events by weekday and hour of day (UTC): when people work on the files."""
    ax = _axes(ax)
    times = frame[TIME_COLUMN]
    grid = np.zeros((7, 24), dtype=np.int64)
    np.add.at(grid, (times.dt.day_of_week.to_numpy(), times.dt.hour.to_numpy()), 1)

    image = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_yticks(range(7), _WEEKDAYS)
    ax.set_xticks(range(0, 24, 3))
    ax.set(xlabel="hour (UTC)", ylabel="weekday")
    ax.figure.colorbar(image, ax=ax, label="events")
    return ax


def plot_top_directories(
    frame: pd.DataFrame, *, n: int = 10, ax: Axes | None = None
) -> Axes:
    """Horizontal bars of the ``n`` directories with the most changes."""
    ax = _axes(ax)
    top = top_directories(frame, n=n).iloc[::-1]
    ax.barh([str(path) for path in top.index], top["events"].to_numpy())
    ax.set(xlabel="events", ylabel="directory")
    return ax


def plot_anomalies(
    frame: pd.DataFrame,
    incidents: pd.DataFrame,
    *,
    freq: str = "10min",
    ax: Axes | None = None,
) -> Axes:
    """Total events per bucket with each flagged incident's span shaded."""
    ax = _axes(ax)
    counts = timeline(frame, freq=freq, by="type").sum(axis=1)
    ax.plot(counts.index, counts.to_numpy(), color="0.3", linewidth=1)

    colours = {"mass_deletion": "tab:red", "mass_rename": "tab:purple"}
    for incident in incidents.itertuples():
        ax.axvspan(
            incident.start,
            incident.end,
            color=colours.get(incident.kind, "tab:orange"),
            alpha=0.3,
            label=f"{incident.kind} ({incident.folder_name})",
        )
    ax.set(xlabel="time (UTC)", ylabel=f"events per {freq}")
    if len(incidents):
        ax.legend(loc="upper left", fontsize="small")
    return ax


def _axes(ax: Axes | None) -> Axes:
    """The given Axes, or a new figure's; matplotlib is imported only here."""
    if ax is not None:
        return ax
    pyplot = _pyplot()
    return pyplot.figure(figsize=(10, 4)).add_subplot()


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as pyplot
    except ImportError as exc:
        raise ConfigurationError(
            "plotting needs matplotlib; install it with: "
            'pip install "ctera-audit[plot]"'
        ) from exc
    return pyplot
