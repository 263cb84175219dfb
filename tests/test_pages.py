"""The two page readers: the fast one (Arrow columns) gives the careful one's rows.

The collector reads pages with the fast reader and falls back to the careful one
for any page the fast one does not take; whichever read a page, the dataset rows
must be the same, and a page the careful reader refuses must never get through
the fast one.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pytest

from ctera_audit import Portal
from ctera_audit.dataset.rows import build_batch
from ctera_audit.errors import ProtocolError
from ctera_audit.pages import Page, parse_page, read_page_columns
from ctera_audit.paths import PageOutline, PathResolver

from .conftest import StartSimulator

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
FOLDERS = {1: ("Projects", "alice")}


def _entry(guid: str, /, **fields: Any) -> dict[str, Any]:
    entry = {
        "type": "file",
        "guid": guid,
        "deleted": False,
        "name": f"{guid}.txt",
        "folder_id": 1,
        "parent_guid": "root",
        "size": 10,
        "id": 7,
        "gvsn": guid,
        "portal_modified_date": "2026-11-02T10:00:00Z",
        "file_timestamp": "2026-11-02T10:00:00Z",
    }
    return {**entry, **fields}


def _raw(entries: list[Any], cursor: Any = "c1", **extra: Any) -> bytes:
    return json.dumps({"entries": entries, "cursor": cursor, **extra}).encode()


async def _no_ancestors(folder_id: int | None, guid: str) -> list[dict[str, Any]]:
    return [{"guid": "root", "name": "Projects", "type": "folder"}]


async def _rows_both_ways(
    pages: list[Page], fast: PathResolver, careful: PathResolver
) -> tuple[list[pa.RecordBatch], list[pa.RecordBatch]]:
    by_columns, by_entries = [], []
    for page in pages:
        assert page.columns is not None and page.outline is not None
        await fast.prepare(page.outline)
        named = fast.resolve_page(page.outline)
        by_columns.append(build_batch(page.columns, named, FOLDERS, NOW))

        outline = PageOutline.from_entries(page.entries)
        await careful.prepare(outline)
        named = careful.resolve_page(outline)
        by_entries.append(build_batch(page.entries, named, FOLDERS, NOW))
    return by_columns, by_entries


async def test_both_readers_give_the_same_rows_for_a_whole_workload(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(
        events=12_000, scenario="all", ground_truth=None, ground_truth_hashes=False
    )
    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        pages, cursor = [], None
        while True:
            page = await portal.list_changes(cursor, columnar=True)
            assert page.columns is not None, "the fast reader refused a clean page"
            pages.append(page)
            cursor = page.cursor
            if not page.has_more:
                break
        fast = PathResolver(portal.ancestors)
        careful = PathResolver(portal.ancestors)
        by_columns, by_entries = await _rows_both_ways(pages, fast, careful)

    assert sum(len(page) for page in pages) == 12_000
    for columns, entries in zip(by_columns, by_entries, strict=True):
        assert columns.to_pylist() == entries.to_pylist()
        assert columns.schema == entries.schema
    assert sum(batch.column("path").null_count for batch in by_columns) == 0


async def test_values_out_of_range_are_flagged_alike_by_both_readers():
    raw = _raw(
        [
            _entry("a", size=-5),
            _entry("b", portal_modified_date="not a time"),
            _entry("c", id=None, acl="O:BA"),
            _entry("d", type="folder", name="Docs", size=None),
            _entry("e", parent_guid="d"),
            _entry("f", parent_guid=None),
        ],
        has_more=True,
    )
    page = read_page_columns(raw)
    assert page is not None and page.has_more and page.cursor == "c1"

    by_columns, by_entries = await _rows_both_ways(
        [page], PathResolver(_no_ancestors), PathResolver(_no_ancestors)
    )

    rows = by_columns[0].to_pylist()
    assert rows == by_entries[0].to_pylist()
    assert rows[0]["size"] is None and rows[0]["input_issues"] == "size:negative"
    assert rows[1]["input_issues"] == "portal_modified_date:not a time"
    assert [row["path"] for row in rows] == [
        "Projects/a.txt",
        "Projects/b.txt",
        "Projects/c.txt",
        "Projects/Docs",
        "Projects/Docs/e.txt",
        None,
    ]
    assert rows[5]["path_status"] == "unresolved:no parent guid"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(_raw([_entry("a", deleted="no")]), id="deleted-not-boolean"),
        pytest.param(_raw([_entry("a", size="10")]), id="size-as-text"),
        pytest.param(_raw([_entry("a", size=1.5)]), id="size-fractional"),
        pytest.param(_raw([_entry("a", size=2**70)]), id="size-beyond-int64"),
        pytest.param(_raw([_entry("a", acl={"x": 1})]), id="acl-an-object"),
        pytest.param(_raw([{"type": "file", "guid": "a"}]), id="name-missing"),
        pytest.param(_raw([_entry("a", guid=None)]), id="guid-null"),
        pytest.param(_raw([None]), id="entry-null"),
        pytest.param(_raw([5]), id="entry-a-number"),
        pytest.param(_raw([], cursor=None), id="cursor-missing"),
        pytest.param(_raw([], cursor=7), id="cursor-a-number"),
        pytest.param(_raw([_entry("a", name="lone\ud800")]), id="lone-surrogate"),
        pytest.param(b'{"entries": [], "cursor": "c"} {"x": 1}', id="two-documents"),
        pytest.param(b'{"entries": [], "cursor": "c", "cursor": "d"}', id="key-twice"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b'{"entries": [{"name": "\xff"}]}', id="not-utf8"),
        pytest.param(b"<html>busy</html>", id="not-json"),
    ],
)
def test_the_fast_reader_leaves_every_unclean_page_to_the_careful_one(raw: bytes):
    assert read_page_columns(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        _raw([{"type": "file", "guid": "a", "deleted": False}]),
        _raw([_entry("a", deleted=None)]),
        _raw([5]),
        _raw([], cursor=None),
        b"<html>busy</html>",
    ],
)
def test_pages_the_careful_reader_refuses_are_refused(raw: bytes):
    assert read_page_columns(raw) is None
    with pytest.raises(ProtocolError):
        parse_page(raw)


def test_a_fast_page_parses_its_entries_only_when_asked():
    entries = [_entry("a"), _entry("b", type="folder", name="B")]
    page = read_page_columns(_raw(entries))

    assert page is not None and len(page) == 2 and not page.has_more
    assert page.entries == entries
    assert "2 entries" in repr(page)
