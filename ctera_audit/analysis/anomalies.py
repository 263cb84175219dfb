"""Flag incidents: mass deletions, mass renames and bursts of activity.

Three detectors run per cloud folder (each folder has one owner, so a flagged
folder names the owner too):

* **mass_deletion**: deletions per ``window`` against the folder's own robust
  baseline, median + ``deletion_k`` x MAD of its non-empty windows, and never
  fewer than ``deletion_min``.
* **mass_rename**: renames that change a file's extension to one new to the
  folder (first seen there less than ``novelty`` before) or to a known
  ransomware extension, counted per ``window`` against median +
  ``rename_k`` x MAD, and never fewer than ``rename_min``. Ordinary renames keep
  the extension, so this count is near zero in normal work.
* **activity_spike**: all events in a ``spike_window`` sliding by
  ``spike_step``, against the count expected from the folder's share of all
  events over the trailing ``spike_history``; flagged at ``spike_factor`` times
  that and at least ``spike_min`` events. Measuring a folder by its share of
  everyone's activity takes out the office-hours and weekly rhythm, which every
  folder follows; it needs a frame with many folders and at least one window of
  history before a window can be judged.

Flagged windows of one folder and kind that touch are merged into one incident.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .activity import _differs, _history, actions_of
from .load import TIME_COLUMN

logger = logging.getLogger("ctera_audit.analysis")

RANSOMWARE_EXTENSIONS = frozenset(
    {
        "akira", "basta", "cerber", "clop", "conti", "crypt", "crypted", "crypto",
        "cryptolocker", "crypz", "djvu", "enc", "encrypted", "hive", "lockbit",
        "locked", "locky", "odin", "encrypt", "ryk", "wcry", "wncry", "zepto",
    }
)  # fmt: skip
"""Extensions that ransomware families are known to append to encrypted files."""

INCIDENT_COLUMNS = (
    "kind",
    "folder_id",
    "folder_name",
    "owner",
    "start",
    "end",
    "events",
    "score",
    "evidence",
)
"""Columns of the frame :func:`detect_anomalies` returns."""


def detect_anomalies(
    frame: pd.DataFrame,
    *,
    window: str = "5min",
    deletion_min: int = 50,
    deletion_k: float = 10.0,
    rename_min: int = 20,
    rename_k: float = 10.0,
    novelty: str = "1h",
    ransomware_extensions: Iterable[str] = RANSOMWARE_EXTENSIONS,
    spike_window: str = "1h",
    spike_step: str = "10min",
    spike_history: str = "7D",
    spike_factor: float = 10.0,
    spike_min: int = 200,
) -> pd.DataFrame:
    """Find mass deletions, mass renames and activity spikes, one row per incident.

    The method and thresholds are described in the module docstring; defaults
    separate the simulator's incidents from ordinary office work by a wide
    margin (see the tests). Deletion and rename windows are fixed buckets
    aligned to the epoch; spike windows slide.

    Args:
        frame: events as :func:`~ctera_audit.analysis.load.load` returns them.
        window: bucket width for deletions and renames (a fixed pandas offset).
        deletion_min: fewest deletions in one window that can be flagged.
        deletion_k: MADs above the folder's median deletions per window.
        rename_min: fewest suspicious renames in one window that can be flagged.
        rename_k: MADs above the folder's median suspicious renames per window.
        novelty: how long after its first sighting in a folder an extension
            still counts as new there.
        ransomware_extensions: extensions (lower case, no dot) suspicious anyway.
        spike_window: length of the sliding window for activity spikes.
        spike_step: how far the sliding window moves each time.
        spike_history: trailing span the folder's usual share is taken over.
        spike_factor: how many times the expected count a window must reach.
        spike_min: fewest events in one spike window that can be flagged.

    Returns:
        Columns :data:`INCIDENT_COLUMNS`, sorted by start: start and end are the
        times of the first and last evidence event, events their count, score
        the peak window count over its threshold (1 or more) and evidence the
        list of ``frame`` index labels behind the incident.
    """
    actions = actions_of(frame).reindex(frame.index)
    deletions = (actions == "deleted").to_numpy()
    renames = _suspicious_renames(
        frame, actions, pd.Timedelta(novelty), set(ransomware_extensions)
    )

    found = [
        _robust("mass_deletion", frame, deletions, window, deletion_min, deletion_k),
        _robust("mass_rename", frame, renames, window, rename_min, rename_k),
        _spikes(
            frame,
            spike_window,
            spike_step,
            spike_history,
            spike_factor,
            spike_min,
        ),
    ]
    found = [incidents for incidents in found if not incidents.empty]
    incidents = (
        pd.concat(found, ignore_index=True).sort_values("start", kind="stable")
        if found
        else pd.DataFrame(columns=list(INCIDENT_COLUMNS))
    )

    logger.info("flagged %d incident(s) in %d events", len(incidents), len(frame))
    return incidents.reset_index(drop=True)


def evidence(frame: pd.DataFrame, incident: pd.Series) -> pd.DataFrame:
    """The events behind one incident (a row of :func:`detect_anomalies`)."""
    return frame.loc[incident["evidence"]]


def _suspicious_renames(
    frame: pd.DataFrame,
    actions: pd.Series,
    novelty: pd.Timedelta,
    known: set[str],
) -> np.ndarray:
    """Renames to a new or known-bad extension, as a mask over the frame's rows."""
    extension = frame["extension"].astype("string[pyarrow]")
    history = _history(frame.assign(extension=extension), extra=("extension",))
    changed = _differs(history["extension"], history["previous_extension"])
    changed = pd.Series(changed, index=history.index).reindex(frame.index)

    times = frame[TIME_COLUMN]
    first_seen = times.groupby([frame["folder_id"], extension]).transform("min")
    novel = (times - first_seen <= novelty).fillna(False)
    bad = extension.isin(known).fillna(False)
    mask = (actions == "renamed") & changed & (novel | bad)
    return mask.to_numpy(dtype=bool)


def _robust(
    kind: str,
    frame: pd.DataFrame,
    mask: np.ndarray,
    window: str,
    minimum: int,
    k: float,
) -> pd.DataFrame:
    """Windows whose count beats the folder's median + k x MAD and ``minimum``.

    The baseline counts every window of the frame's time span, the empty ones
    too, so a kind of event that is normally absent has a baseline of zero.
    """
    rows = frame.loc[mask, ["folder_id", TIME_COLUMN]]
    buckets = rows[TIME_COLUMN].dt.floor(window)
    counts = rows.groupby(["folder_id", buckets]).size()
    if counts.empty:
        return _incidents(kind, frame, rows.index, counts, pd.Timedelta(window))

    times = frame[TIME_COLUMN]
    windows = 1 + (times.max().floor(window) - times.min().floor(window)) // (
        pd.Timedelta(window)
    )
    threshold = counts.groupby(level="folder_id").transform(
        lambda folder: _robust_limit(folder.to_numpy(), windows, k)
    )
    threshold = np.maximum(minimum, threshold)

    flagged = (counts / threshold)[counts >= threshold]
    return _incidents(kind, frame, rows.index, flagged, pd.Timedelta(window))


def _robust_limit(counts: np.ndarray, windows: int, k: float) -> float:
    """Median + k x MAD of ``counts`` padded with zeros to ``windows`` values."""
    padded = np.zeros(max(windows, len(counts)))
    padded[: len(counts)] = counts
    median = np.median(padded)
    return float(median + k * np.median(np.abs(padded - median)))


def _spikes(
    frame: pd.DataFrame,
    window: str,
    step: str,
    history: str,
    factor: float,
    minimum: int,
) -> pd.DataFrame:
    """Sliding windows whose count beats ``factor`` x the folder's expected count.

    The expected count is the window's total over all folders times the
    folder's share of all events in the trailing ``history`` before the window.
    """
    width, stride = pd.Timedelta(window), pd.Timedelta(step)
    per = max(1, round(width / stride))
    buckets = frame[TIME_COLUMN].dt.floor(stride)
    counts = frame.groupby([buckets, frame["folder_id"]]).size().unstack(fill_value=0)
    counts = counts.asfreq(stride, fill_value=0)

    sliding = counts.rolling(per, min_periods=1).sum()
    span = max(per, int(pd.Timedelta(history) / stride))
    past = counts.rolling(span, min_periods=per).sum().shift(per)
    share = past.div(past.sum(axis=1), axis=0)
    expected = share.mul(sliding.sum(axis=1), axis=0)

    threshold = np.maximum(minimum, factor * expected)
    ratio = (sliding / threshold)[sliding >= threshold]
    flagged = ratio.stack().dropna().swaplevel().sort_index()
    ends = flagged.index.get_level_values(1) + stride
    flagged.index = pd.MultiIndex.from_arrays(
        [flagged.index.get_level_values(0), ends - width]
    )
    return _incidents("activity_spike", frame, frame.index, flagged, width)


def _incidents(
    kind: str,
    frame: pd.DataFrame,
    rows: pd.Index,
    flagged: pd.Series,
    width: pd.Timedelta,
) -> pd.DataFrame:
    """Merge overlapping or touching flagged windows of a folder into incidents.

    Args:
        kind: the incident kind.
        frame: all events.
        rows: labels of the events the windows counted.
        flagged: score per flagged (folder_id, window start).
        width: the window length.
    """
    if flagged.empty:
        return pd.DataFrame(columns=list(INCIDENT_COLUMNS))

    flagged = flagged.sort_index()
    folder = flagged.index.get_level_values(0).to_numpy()
    start = flagged.index.get_level_values(1)
    touching = (folder[1:] == folder[:-1]) & (np.diff(start.asi8) <= width.value)
    group = np.concatenate([[0], np.cumsum(~touching)])

    folders = frame.loc[rows, "folder_id"].to_numpy()
    times = frame.loc[rows, TIME_COLUMN]
    found = []
    for _, positions in pd.Series(range(len(flagged))).groupby(group):
        folder_id = folder[positions.iloc[0]]
        first = start[positions.iloc[0]]
        last = start[positions.iloc[-1]] + width
        inside = (folders == folder_id) & (times >= first).to_numpy()
        labels = rows[inside & (times < last).to_numpy()]
        found.append(
            {
                "kind": kind,
                "folder_id": folder_id,
                "folder_name": frame.at[labels[0], "folder_name"],
                "owner": frame.at[labels[0], "owner"],
                "start": frame.loc[labels, TIME_COLUMN].min(),
                "end": frame.loc[labels, TIME_COLUMN].max(),
                "events": len(labels),
                "score": float(flagged.iloc[positions].max()),
                "evidence": list(labels),
            }
        )
    return pd.DataFrame(found, columns=list(INCIDENT_COLUMNS))
