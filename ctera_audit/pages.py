"""A page of the list call, and the two ways of reading one.

The careful reader parses a page into dicts and checks every entry; it is what
the notification service uses. The fast reader, for the collector, reads the
page straight into Arrow columns with Arrow's JSON reader: parsing and copying
each field out of 2,000 dicts is most of what collecting costs per event, and
Arrow parses in C++ without holding the GIL, so the parse runs in a worker
thread while the event loop fetches the next page. It takes only pages that are
clean (well-formed, of the expected types, every required field present) and
leaves any other to the careful reader, which refuses what must be refused and
keeps the rest with its issues flagged: both give the same rows.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, NamedTuple

import orjson
import pyarrow as pa
import pyarrow.json as pa_json

from .errors import ProtocolError
from .paths import PageOutline

REQUIRED_FIELDS = ("type", "guid", "deleted", "name")
"""Fields without which an entry is malformed and its page refused."""

ENTRY_TYPE = pa.struct(
    [
        ("type", pa.string()),
        ("guid", pa.string()),
        ("deleted", pa.bool_()),
        ("name", pa.string()),
        ("folder_id", pa.int64()),
        ("file_timestamp", pa.string()),
        ("portal_modified_date", pa.string()),
        ("virtual_portal_id", pa.string()),
        ("size", pa.int64()),
        ("id", pa.int64()),
        ("acl", pa.string()),
        ("gvsn", pa.string()),
        ("parent_guid", pa.string()),
    ]
)
"""An entry as the portal sends it; times stay text, as in the dicts."""

_PAGE_OPTIONS = pa_json.ParseOptions(
    explicit_schema=pa.schema(
        [
            ("entries", pa.list_(ENTRY_TYPE)),
            ("cursor", pa.string()),
            ("has_more", pa.bool_()),
        ]
    ),
    unexpected_field_behavior="ignore",
    newlines_in_values=True,
)


class Page:
    """One answer of the list call: entries in server order, and the cursor after.

    A page from the fast reader also holds its entries as Arrow columns
    (``columns``) and its :class:`~ctera_audit.paths.PageOutline`; it parses
    them into dicts only if ``entries`` is read.
    """

    __slots__ = ("_entries", "_raw", "columns", "cursor", "has_more", "outline")

    def __init__(
        self,
        entries: list[dict[str, Any]] | None,
        cursor: str,
        has_more: bool,
        *,
        columns: pa.StructArray | None = None,
        outline: PageOutline | None = None,
        raw: bytes | None = None,
    ) -> None:
        self._entries = entries
        self._raw = raw
        self.cursor = cursor
        self.has_more = has_more
        self.columns = columns
        self.outline = outline

    @property
    def entries(self) -> list[dict[str, Any]]:
        """The entries as dicts, in server order.

        A page read into columns parses its body now; one that came without
        its body (from a page reader process) gives every field, absent ones
        as None.
        """
        if self._entries is None:
            if self._raw is not None:
                self._entries = load_json(self._raw)["entries"]
                self._raw = None
            else:
                assert self.columns is not None
                self._entries = self.columns.to_pylist()
        return self._entries

    def __len__(self) -> int:
        return len(self.columns) if self.columns is not None else len(self.entries)

    def __repr__(self) -> str:
        more = ", more to come" if self.has_more else ""
        return f"<Page of {len(self)} entries, cursor {self.cursor!r}{more}>"


def load_json(raw: bytes) -> Any:
    """Parse a JSON body, or raise :class:`ProtocolError`."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        # orjson refuses escaped lone surrogates, which a hostile name can carry.
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(
            f"the portal sent a body that is not JSON ({error})"
        ) from error


def parse_page(raw: bytes) -> Page:
    """The careful reader: entries as dicts, each checked; raise on a malformed page."""
    page = load_json(raw)
    if not isinstance(page, dict):
        raise ProtocolError("list page is not a JSON object")

    entries = page.get("entries")
    if entries is None:
        entries = []
    cursor = page.get("cursor")
    if not isinstance(entries, list) or not isinstance(cursor, str):
        raise ProtocolError("list page lacks an 'entries' list or a 'cursor' string")
    for entry in entries:
        if not _valid_entry(entry):
            raise ProtocolError(
                "list page holds an entry without a valid type, guid, deleted or name; "
                "the page was rejected whole and the cursor did not move"
            )
    return Page(entries, cursor, bool(page.get("has_more")))


_LONGEST_TAIL = 16_384
"""Bytes from the last ``"cursor":`` to the end beyond which the cursor is not
at the end (a cursor is some hundred bytes), and no guess is worth a parse."""


class CursorGuess(NamedTuple):
    """The cursor and ``has_more`` of a list answer, read off its end."""

    cursor: str
    has_more: bool


async def read_page(raw: bytes, *, columnar: bool = False) -> Page:
    """Read a list answer, with the fast reader first when ``columnar``.

    Raises:
        ProtocolError: the answer is malformed; fetch it again.
    """
    if columnar:
        table = await asyncio.to_thread(read_page_table, raw)
        page = None if table is None else columns_page(table, raw)
        if page is not None:
            return page
    return parse_page(raw)


def trailing_cursor(raw: bytes) -> CursorGuess | None:
    """Guess a list answer's cursor and ``has_more`` without parsing its entries.

    Portals write them after the entries, so the last ``"cursor":`` of the body
    starts them: those bytes cannot occur inside a name, where JSON escapes the
    quotes. Only a guess, for asking for the next page early; None when the end
    of the body does not read that way.
    """
    start = raw.rfind(b'"cursor":')
    if start < 0 or len(raw) - start > _LONGEST_TAIL:
        return None
    try:
        tail = orjson.loads(b"{" + raw[start:])
    except orjson.JSONDecodeError:
        return None
    cursor, has_more = tail.get("cursor"), tail.get("has_more")
    if not isinstance(cursor, str) or not isinstance(has_more, bool):
        return None
    return CursorGuess(cursor, has_more)


def read_page_columns(raw: bytes) -> Page | None:
    """The fast reader: entries as Arrow columns, or None if the page is not clean.

    :func:`read_page_table` then :func:`columns_page`, in one call.
    """
    table = read_page_table(raw)
    return None if table is None else columns_page(table, raw)


def read_page_table(raw: bytes) -> pa.Table | None:
    """Parse a list body with Arrow's JSON reader; None if Arrow refuses it.

    This is the costly part of the fast reader, and it is one call that does not
    hold the GIL: run it in a worker thread. Everything else stays on the event
    loop's thread on purpose; a worker that takes the GIL back many times per
    page waits for it each time while the loop runs Python.
    """
    try:
        read = pa_json.ReadOptions(block_size=len(raw) + 1, use_threads=False)
        return pa_json.read_json(
            pa.BufferReader(raw), read_options=read, parse_options=_PAGE_OPTIONS
        )
    except (pa.ArrowException, ValueError):
        return None


def columns_page(table: pa.Table, raw: bytes) -> Page | None:
    """Make a page of :func:`read_page_table`'s table, or None if it is not clean."""
    if table.num_rows != 1:
        return None
    cursor, has_more = table.column("cursor")[0].as_py(), table.column("has_more")[0]
    listed = table.column("entries").combine_chunks()
    if not isinstance(cursor, str) or listed.null_count:
        return None
    entries = listed.flatten()
    if entries.null_count or any(entries.field(f).null_count for f in REQUIRED_FIELDS):
        return None
    return Page(
        None,
        cursor,
        bool(has_more.as_py()),
        columns=entries,
        outline=PageOutline.from_columns(entries),
        raw=raw,
    )


def _valid_entry(entry: Any) -> bool:
    try:
        return (
            type(entry["type"]) is str
            and type(entry["guid"]) is str
            and type(entry["deleted"]) is bool
            and type(entry["name"]) is str
        )
    except (KeyError, TypeError, IndexError):
        return False
