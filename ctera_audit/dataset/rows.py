"""Turning a page of events into one Arrow record batch of the dataset schema.

Columns are built a page at a time, from the page's entries as Arrow columns
(the fast reader's) or as dicts (the careful reader's). Values of the wrong
type or range never stop a page: each column is first built on the fast path,
and only a column that Arrow refuses is rebuilt value by value, with each bad
value set to null and named in the row's ``input_issues``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..arrowtext import storable_strings
from ..paths import NamedRows
from .schema import PARTITION_COLUMN, SCHEMA

FolderInfo = dict[int, tuple[str, str | None]]
"""Cloud folder id -> (folder name, owner name)."""
Entries: TypeAlias = Sequence[dict[str, Any]] | pa.StructArray
"""A page's entries: parsed into dicts, or read as Arrow columns."""
Values: TypeAlias = list[Any] | pa.Array

_INT_FIELDS = ("folder_id", "size", "id")
_TEXT_FIELDS = ("virtual_portal_id", "acl", "gvsn", "parent_guid")
_TIME_FIELDS = ("file_timestamp", "portal_modified_date")
_MAX_EXTENSION = 16
_INT64_MAX = (1 << 63) - 1
_TIME_TYPE = pa.timestamp("ms", tz="UTC")
_INT_OR_NONE = frozenset((int, type(None)))
_EXTENSION = rf"^.+\.(?P<extension>[^./]{{1,{_MAX_EXTENSION}}})$"

BATCH_SCHEMA = SCHEMA.append(pa.field(PARTITION_COLUMN, pa.date32(), nullable=False))
"""The schema of a built batch: the file columns plus the partition key."""


def build_batch(
    entries: Entries,
    resolved: NamedRows,
    folders: FolderInfo,
    collected_at: dt.datetime,
    content: Sequence[tuple[str | None, int | None, str | None]] | None = None,
) -> pa.RecordBatch:
    """Build the dataset rows of one page.

    Args:
        entries: the page's entries, in server order.
        resolved: the paths, parent paths and path statuses of the entries
            (see :meth:`~ctera_audit.paths.PathResolver.resolve_page`).
        folders: names and owners of the cloud folders.
        collected_at: when the page arrived (UTC).
        content: ``(sha256, size, status)`` of each entry, when capture is on.
    """
    count = len(entries)
    issues: defaultdict[int, list[str]] = defaultdict(list)
    columns: dict[str, pa.Array] = {}

    columns["type"] = _text(entries, "type", issues, dictionary=True)
    columns["guid"] = _text(entries, "guid", issues)
    columns["deleted"] = _as_array(_values(entries, "deleted"), pa.bool_())
    names = _text(entries, "name", issues)
    columns["name"] = names
    for field in _INT_FIELDS:
        columns[field] = _integers(entries, field, issues)
    for field in _TIME_FIELDS:
        columns[field] = _times(entries, field, issues)
    for field in _TEXT_FIELDS:
        columns[field] = _text(entries, field, issues, dictionary=field != "gvsn")

    columns["path"], columns["parent_path"], columns["path_status"] = resolved
    columns["extension"] = _extensions(columns["type"], names)
    # Bad folder ids are null by now, so they simply match no label.
    columns["folder_name"] = _folder_labels(columns["folder_id"], folders, 0)
    columns["owner"] = _folder_labels(columns["folder_id"], folders, 1)
    stamp = pa.scalar(collected_at, _TIME_TYPE).value
    columns["collected_at"] = pa.array(
        np.full(count, stamp, dtype=np.int64), pa.int64()
    ).cast(_TIME_TYPE)
    columns["input_issues"] = pa.array(
        [";".join(issues[row]) if row in issues else None for row in range(count)]
        if issues
        else pa.nulls(count, pa.string()),
        pa.string(),
    )

    if content is None:
        columns["content_sha256"] = pa.nulls(count, pa.string())
        columns["content_size"] = pa.nulls(count, pa.int64())
        columns["content_status"] = pa.nulls(count, _label_type())
    else:
        sha256s, sizes, content_statuses = zip(*content, strict=True)
        columns["content_sha256"] = pa.array(sha256s, pa.string())
        columns["content_size"] = pa.array(sizes, pa.int64())
        columns["content_status"] = pa.array(content_statuses, _label_type())

    columns[PARTITION_COLUMN] = _event_dates(columns, collected_at)
    return pa.RecordBatch.from_arrays(
        [columns[field.name] for field in BATCH_SCHEMA], schema=BATCH_SCHEMA
    )


def _values(entries: Entries, field: str) -> Values:
    """One field of every entry; None where an entry lacks it."""
    if isinstance(entries, pa.StructArray):
        return entries.field(field)
    try:
        return list(map(itemgetter(field), entries))
    except KeyError:
        return [entry.get(field) for entry in entries]


def _label_type() -> pa.DataType:
    return pa.dictionary(pa.int32(), pa.string())


def _with_fallback(
    fast: Callable[[], pa.Array], slow: Callable[[], pa.Array]
) -> pa.Array:
    try:
        return fast()
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError, ValueError):
        return slow()


def _text(
    entries: Entries,
    field: str,
    issues: dict[int, list[str]],
    dictionary: bool = False,
) -> pa.Array:
    kind = _label_type() if dictionary else pa.string()
    values = _values(entries, field)
    if isinstance(values, pa.Array):
        return values.dictionary_encode() if dictionary else values

    def slow() -> pa.Array:
        cleaned = []
        for row, value in enumerate(values):
            if value is not None and not isinstance(value, str):
                issues[row].append(f"{field}:not text")
                value = None
            elif value is not None and not _encodable(value):
                issues[row].append(f"{field}:invalid unicode")
            cleaned.append(value)
        return storable_strings(cleaned, kind)

    return _with_fallback(lambda: pa.array(values, kind), slow)


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _integers(entries: Entries, field: str, issues: dict[int, list[str]]) -> pa.Array:
    values = _values(entries, field)

    def fast() -> pa.Array:
        if (
            not isinstance(values, pa.Array)
            and not set(map(type, values)) <= _INT_OR_NONE
        ):
            raise TypeError(field)
        array = _as_array(values, pa.int64())
        if pc.any(pc.less(array, 0)).as_py():  # flagged alike on either path
            raise ValueError(field)
        return array

    def slow() -> pa.Array:
        cleaned = []
        for row, value in enumerate(_listed(values)):
            if value is not None and (
                type(value) is not int or not 0 <= value <= _INT64_MAX
            ):
                issues[row].append(f"{field}:{_describe(value)}")
                value = None
            cleaned.append(value)
        return pa.array(cleaned, pa.int64())

    return _with_fallback(fast, slow)


def _describe(value: Any) -> str:
    if type(value) is int:
        return "negative" if value < 0 else "too large"
    return f"not an integer ({type(value).__name__})"


def _times(entries: Entries, field: str, issues: dict[int, list[str]]) -> pa.Array:
    values = _values(entries, field)

    def fast() -> pa.Array:
        return _as_array(values, pa.string()).cast(_TIME_TYPE)

    def slow() -> pa.Array:
        parsed = []
        for row, value in enumerate(_listed(values)):
            moment = _parse_time(value)
            if value is not None and moment is None:
                issues[row].append(f"{field}:not a time")
            parsed.append(moment)
        return pa.array(parsed, _TIME_TYPE)

    return _with_fallback(fast, slow)


def _as_array(values: Values, kind: pa.DataType) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(values, kind)


def _listed(values: Values) -> list[Any]:
    return values.to_pylist() if isinstance(values, pa.Array) else values


def _parse_time(value: Any) -> dt.datetime | None:
    """Read an ISO 8601 time; one without a zone is taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def _extensions(types: pa.Array, names: pa.Array) -> pa.Array:
    """Lower-case extension of each file name; null for folders and bare names."""
    found = pc.struct_field(pc.extract_regex(names, _EXTENSION), "extension")
    is_file = pc.equal(types.cast(pa.string()), "file")
    extensions = pc.if_else(is_file, pc.utf8_lower(found), pa.scalar(None, pa.string()))
    return extensions.dictionary_encode()


def _folder_labels(folder_ids: pa.Array, folders: FolderInfo, index: int) -> pa.Array:
    """The folder name (index 0) or owner (index 1) of each row's cloud folder."""
    known = list(folders)
    labels = storable_strings([folders[uid][index] for uid in known])
    positions = pc.index_in(folder_ids, value_set=pa.array(known, pa.int64()))
    return pc.take(labels, positions).dictionary_encode()


def _event_dates(columns: dict[str, pa.Array], collected_at: dt.datetime) -> pa.Array:
    """The UTC date of each event: portal time, else file time, else arrival."""
    moment = pc.coalesce(
        columns["portal_modified_date"],
        columns["file_timestamp"],
        columns["collected_at"],
    )
    return pc.cast(moment, pa.date32())
