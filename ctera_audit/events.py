"""The change event, as the notification API delivers it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

EVENT_FIELDS: tuple[str, ...] = (
    "type",
    "guid",
    "deleted",
    "name",
    "folder_id",
    "file_timestamp",
    "portal_modified_date",
    "virtual_portal_id",
    "size",
    "id",
    "acl",
    "gvsn",
    "parent_guid",
)
"""Event field names, the same as the official SDK's ``Event`` attributes."""

REQUIRED_FIELDS: frozenset[str] = frozenset(("type", "guid", "deleted", "name"))


@dataclass(slots=True)
class Event:
    """One changed object from a notification page.

    The attribute names match the official SDK's ``Event`` so consumer code written
    for it works unchanged. Unknown keys sent by a portal are ignored; the legacy
    ``modified`` key fills ``portal_modified_date`` when that is absent.
    """

    type: str
    guid: str
    deleted: bool
    name: str
    folder_id: int | None = None
    file_timestamp: str | None = None
    portal_modified_date: str | None = None
    virtual_portal_id: str | None = None
    size: int | None = None
    id: int | None = None
    acl: str | None = None
    gvsn: str | None = None
    parent_guid: str | None = None

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> Event:
        """Build an event from one ``entries`` item of a list page.

        The page was validated when it arrived, so the required keys are present;
        the fast path covers entries holding exactly the known keys.
        """
        try:
            return cls(**entry)
        except TypeError:
            pass

        known = {key: entry[key] for key in EVENT_FIELDS if key in entry}
        if known.get("portal_modified_date") is None and "modified" in entry:
            known["portal_modified_date"] = entry["modified"]
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        """Return the event as a plain dict keyed by the SDK field names."""
        return {field.name: getattr(self, field.name) for field in fields(self)}
