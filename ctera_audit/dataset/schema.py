"""The one Arrow schema of the event dataset, and its version.

Every data file carries this schema and ``SCHEMA_VERSION`` in its metadata, so a
reader can tell which layout it holds. Low-cardinality strings are dictionary
encoded; times are UTC timestamps; sizes and ids are 64-bit.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1"
"""Bumped whenever a column is added, removed or changes type."""

PARTITION_COLUMN = "event_date"
"""Hive partition key: the UTC date of the event (``event_date=2026-11-02``)."""

_LABEL = pa.dictionary(pa.int32(), pa.string())
_TIME = pa.timestamp("ms", tz="UTC")

COLUMN_DOCS: dict[str, str] = {
    "type": "object type as the portal names it: file or folder",
    "guid": "unique id of the object",
    "deleted": "whether the change is a deletion",
    "name": "object name at event time (the new name after a rename)",
    "folder_id": "id of the cloud drive folder holding the object",
    "file_timestamp": "file time reported by the portal",
    "portal_modified_date": "time the portal recorded the change",
    "virtual_portal_id": "tenant (virtual portal) id",
    "size": "size in bytes; null for folders or when the portal sent none",
    "id": "file id of this version (the id DirectIO takes)",
    "acl": "access control list in SDDL form",
    "gvsn": "the portal's version stamp of the change",
    "parent_guid": "guid of the parent directory at event time",
    "path": "full path at event time, root first, names joined by '/'",
    "parent_path": "path of the parent directory at event time",
    "extension": "lower-case file extension without the dot; null for folders",
    "folder_name": "name of the cloud drive folder",
    "owner": "owner of the cloud drive folder",
    "collected_at": "time ctera-audit received the event",
    "path_status": "how the path was found: tree, ancestors, or unresolved:<reason>",
    "input_issues": "fields the portal sent with a wrong type or value, else null",
    "content_sha256": "sha256 of the version's content, when captured",
    "content_size": "size of the captured content in bytes",
    "content_status": "captured, skipped:<reason>, failed:<reason>, or null when off",
}

SCHEMA = pa.schema(
    [
        pa.field("type", _LABEL, nullable=False),
        pa.field("guid", pa.string(), nullable=False),
        pa.field("deleted", pa.bool_(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("folder_id", pa.int64()),
        pa.field("file_timestamp", _TIME),
        pa.field("portal_modified_date", _TIME),
        pa.field("virtual_portal_id", _LABEL),
        pa.field("size", pa.int64()),
        pa.field("id", pa.int64()),
        pa.field("acl", _LABEL),
        pa.field("gvsn", pa.string()),
        pa.field("parent_guid", pa.string()),
        pa.field("path", pa.string()),
        pa.field("parent_path", pa.string()),
        pa.field("extension", _LABEL),
        pa.field("folder_name", _LABEL),
        pa.field("owner", _LABEL),
        pa.field("collected_at", _TIME, nullable=False),
        pa.field("path_status", _LABEL, nullable=False),
        pa.field("input_issues", pa.string()),
        pa.field("content_sha256", pa.string()),
        pa.field("content_size", pa.int64()),
        pa.field("content_status", _LABEL),
    ],
    metadata={"ctera_audit.schema_version": SCHEMA_VERSION},
)
"""Columns of every data file; the partition column is not stored in the files."""

PARTITIONING_SCHEMA = pa.schema([pa.field(PARTITION_COLUMN, pa.date32())])
"""Type of the hive partition key, for readers that want it typed."""
