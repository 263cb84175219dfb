"""What happened: actions inferred from events, and activity summaries.

Events carry no action. The action of an event follows from comparing it with
the previous event of the same object (guid): a new name is a rename, a new
parent a move, a new version id a modification. Every helper here takes a frame
as :func:`~ctera_audit.analysis.load.load` returns it (any row order) and, where
it needs actions, uses an ``action`` column if the frame has one or infers it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigurationError
from .load import TIME_COLUMN

ACTIONS = (
    "created",
    "modified",
    "renamed",
    "moved",
    "deleted",
    "restored",
    "unchanged",
)
"""Every action :func:`infer_actions` can give, in display order."""

_HISTORY_COLUMNS = (TIME_COLUMN, "gvsn", "guid", "deleted", "name", "parent_guid", "id")


def infer_actions(frame: pd.DataFrame) -> pd.Series:
    """The action of each event, from the previous event of the same guid.

    Events of one guid are ordered by time then gvsn and each is compared with
    the one before it, in this order of precedence:

    * ``deleted``: the event marks a deletion;
    * ``created``: the first event of the guid in the frame (so an object whose
      creation lies before the frame's start also shows as created);
    * ``restored``: the previous event was a deletion;
    * ``moved``: the parent changed (a rename made with the move included);
    * ``renamed``: the name changed;
    * ``modified``: the version id changed (new file content);
    * ``unchanged``: nothing above changed (a metadata or ACL change, or a rename
      to the very same name).

    Args:
        frame: events with at least portal_modified_date, gvsn, guid, deleted,
            name, parent_guid and id.

    Returns:
        A categorical Series named "action", aligned to ``frame.index``.

    Raises:
        ConfigurationError: a needed column is missing.
    """
    history = _history(frame)
    conditions = [
        history["deleted"].to_numpy(bool),
        history["first"].to_numpy(),
        history["was_deleted"].to_numpy(),
        _differs(history["parent_guid"], history["previous_parent_guid"]),
        _differs(history["name"], history["previous_name"]),
        _differs(history["id"], history["previous_id"]),
    ]
    labels = np.select(conditions, _PRECEDENCE, "unchanged")

    actions = pd.Series(
        pd.Categorical(labels, categories=ACTIONS), index=history.index, name="action"
    )
    return actions.reindex(frame.index)


_PRECEDENCE = ("deleted", "created", "restored", "moved", "renamed", "modified")


def actions_of(frame: pd.DataFrame) -> pd.Series:
    """The frame's ``action`` column if it has one, else :func:`infer_actions`."""
    return frame["action"] if "action" in frame else infer_actions(frame)


def timeline(frame: pd.DataFrame, freq: str = "1h", by: str = "action") -> pd.DataFrame:
    """Event counts per time bucket, one column per value of ``by``.

    Args:
        frame: events.
        freq: bucket width as a pandas offset ("5min", "1h", "1D", "1W").
        by: a low-cardinality column to split by ("action", "type", "owner",
            "folder_name", ...); "action" is inferred when absent.

    Returns:
        A frame indexed by bucket start (UTC), every bucket between the first and
        last event present, zero-filled.
    """
    values = actions_of(frame) if by == "action" else frame[by]
    dummies = pd.get_dummies(values, dtype="int64")
    dummies.index = pd.DatetimeIndex(frame[TIME_COLUMN], name=TIME_COLUMN)
    return dummies.resample(freq).sum()


def top_directories(frame: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` directories whose direct children changed most often.

    Returns:
        Indexed by directory path: events, objects (distinct guids changed),
        first and last event time; most events first.
    """
    return _top(frame, "parent_path", n).rename_axis("directory")


def top_files(frame: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` most-changed files, followed across renames and moves by guid.

    Returns:
        Indexed by guid: path (the latest), events, versions (distinct version
        ids), first and last event time; most events first.
    """
    files = frame[frame["type"] == "file"].sort_values([TIME_COLUMN, "gvsn"])
    grouped = files.groupby("guid", sort=False, observed=True)
    summary = pd.DataFrame(
        {
            "path": grouped["path"].last(),
            "events": grouped.size(),
            "versions": grouped["id"].nunique(),
            "first": grouped[TIME_COLUMN].min(),
            "last": grouped[TIME_COLUMN].max(),
        }
    )
    return summary.sort_values("events", ascending=False, kind="stable").head(n)


def extension_mix(frame: pd.DataFrame) -> pd.DataFrame:
    """Events and files per file extension; files without an extension left out.

    Returns:
        Indexed by extension: events, files (distinct guids) and share (of the
        events with an extension); most events first.
    """
    files = frame[frame["extension"].notna()]
    grouped = files.groupby("extension", observed=True)
    summary = pd.DataFrame(
        {"events": grouped.size(), "files": grouped["guid"].nunique()}
    )
    summary["share"] = summary["events"] / max(len(files), 1)
    return summary.sort_values("events", ascending=False, kind="stable")


def bytes_changed(frame: pd.DataFrame, freq: str | None = None) -> pd.DataFrame:
    """Bytes added and removed by file events, in total or per time bucket.

    A creation (or restore) adds the file's size and a deletion removes it; a
    new version adds its growth or removes its shrinkage. Deleting a directory
    yields one event for the directory only, so the files inside it are not
    counted as removed.

    Args:
        frame: events with size and the columns :func:`infer_actions` needs.
        freq: bucket width as a pandas offset; None for one total row.

    Returns:
        Columns added, removed and net (bytes); one row per bucket, or a single
        row labelled "total".
    """
    history = _history(frame)
    history = history[frame.loc[history.index, "type"] == "file"]
    size = history["size"].astype("float64").to_numpy()
    before = history["previous_size"].astype("float64").to_numpy()

    fresh = history["first"].to_numpy() | history["was_deleted"].to_numpy()
    deleted = history["deleted"].to_numpy(bool)
    gone = np.where(np.isnan(size), before, size)
    delta = np.where(deleted, -gone, np.where(fresh, size, size - before))
    delta = np.nan_to_num(delta)
    changes = pd.DataFrame(
        {"added": np.clip(delta, 0, None), "removed": np.clip(-delta, 0, None)},
        index=pd.DatetimeIndex(history[TIME_COLUMN]),
    ).astype("int64")

    if freq is None:
        changes = changes.sum().to_frame("total").T
    else:
        changes = changes.sort_index().resample(freq).sum()
    changes["net"] = changes["added"] - changes["removed"]
    return changes


def by_folder(frame: pd.DataFrame) -> pd.DataFrame:
    """Activity per cloud folder: name, owner, events per action, objects, span.

    Returns:
        Indexed by folder_id, most events first.
    """
    names = frame.groupby("folder_id", observed=True)[["folder_name", "owner"]]
    return _summary(frame, "folder_id", names.first())


def by_owner(frame: pd.DataFrame) -> pd.DataFrame:
    """Activity per folder owner: folders, events per action, objects, span.

    Returns:
        Indexed by owner, most events first.
    """
    folders = frame.groupby("owner", observed=True)["folder_id"].nunique()
    return _summary(frame, "owner", folders.rename("folders").to_frame())


def _summary(frame: pd.DataFrame, key: str, head: pd.DataFrame) -> pd.DataFrame:
    """``head``, then events, objects, span and events per action; most first."""
    counts = pd.crosstab(frame[key], actions_of(frame))
    counts = counts.reindex(columns=list(ACTIONS), fill_value=0)
    counts.columns = list(ACTIONS)

    grouped = frame.groupby(key, observed=True)
    summary = head.join(counts.sum(axis=1).rename("events"))
    summary = summary.join(_span(grouped)).join(counts)
    return summary.sort_values("events", ascending=False, kind="stable")


def _span(grouped: pd.core.groupby.DataFrameGroupBy) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "objects": grouped["guid"].nunique(),
            "first": grouped[TIME_COLUMN].min(),
            "last": grouped[TIME_COLUMN].max(),
        }
    )


def _top(frame: pd.DataFrame, key: str, n: int) -> pd.DataFrame:
    grouped = frame.groupby(key, observed=True)
    summary = _span(grouped)
    summary.insert(0, "events", grouped.size())
    return summary.sort_values("events", ascending=False, kind="stable").head(n)


def _history(frame: pd.DataFrame, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Events ordered by guid then time, each beside its guid's previous event.

    Adds ``first`` (no previous event), ``was_deleted`` (the previous event was a
    deletion) and ``previous_<column>`` for name, parent_guid, id, size and the
    ``extra`` columns. The index keeps the frame's labels.
    """
    missing = [name for name in _HISTORY_COLUMNS if name not in frame]
    if missing:
        raise ConfigurationError(
            f"the frame lacks column(s) {', '.join(missing)}; load them too "
            "(or load without columns=...)"
        )

    optional = [name for name in ("size", *extra) if name in frame]
    columns = [*_HISTORY_COLUMNS, *optional]
    history = frame[columns].sort_values(["guid", TIME_COLUMN, "gvsn"], kind="stable")
    guid = history["guid"].to_numpy()
    first = np.ones(len(history), dtype=bool)
    first[1:] = guid[1:] != guid[:-1]
    history["first"] = first

    for name in ("name", "parent_guid", "id", "deleted", *optional):
        history[f"previous_{name}"] = history[name].shift(1)
    history["was_deleted"] = ~first & history["previous_deleted"].eq(True).to_numpy()
    return history


def _differs(current: pd.Series, previous: pd.Series) -> np.ndarray:
    """Element-wise "not equal", where null equals null and differs from a value."""
    current_null = current.isna().to_numpy()
    previous_null = previous.isna().to_numpy()
    unequal = current.ne(previous).fillna(False).to_numpy(dtype=bool)
    return (unequal & ~current_null & ~previous_null) | (current_null != previous_null)
