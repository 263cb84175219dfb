"""Hostile input on every path where outside data comes in.

A small portal made for the test (login, list, longpoll, ancestors) serves
crafted pages over real HTTP: wrong types, missing required fields, huge and
negative sizes, unknown event types, names no file system would take, and
ancestors answers that loop or contradict themselves. A property test drives
the row builder with arbitrary field values, and a DirectIO block list that
lies about its lengths is read through the real client.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from ctera_audit import Portal, xmlformat
from ctera_audit.arrowtext import escape_text
from ctera_audit.blockcodec import BlockLengthError, new_secret_access_key
from ctera_audit.collector import Collector, CollectorSettings
from ctera_audit.dataset.rows import build_batch
from ctera_audit.directio import DirectIOClient
from ctera_audit.errors import PortalUnavailableError
from ctera_audit.retry import RetryPolicy
from ctera_audit.simulator.directio import DirectIOService

from .collecting import read_rows
from .test_directio import DictContent, serve

ROOT = "root-guid"
TIME = "2026-11-02T10:00:00"
NAMES = {
    "slash": "a/b.txt",
    "dots": "..",
    "nul": "nul\x00name.txt",
    "control": "bell\x07\x1b[31m.txt",
    "huge": "x" * 65_536,
}
SURROGATE_NAME = "lone\ud800.txt"
"""Sent as the JSON escape ``\\ud800``: a lone surrogate UTF-8 cannot hold."""


def _entry(guid: str, name: str, /, **fields: Any) -> dict[str, Any]:
    entry = {
        "type": "file",
        "guid": guid,
        "deleted": False,
        "name": name,
        "folder_id": 1,
        "parent_guid": ROOT,
        "size": 10,
        "id": 1,
        "gvsn": guid,
        "portal_modified_date": TIME,
        "file_timestamp": TIME,
    }
    return {**entry, **fields}


def _page(entries: list[Any], cursor: str) -> bytes:
    """A list page, more to come unless empty.

    The standard encoder escapes lone surrogates, as JSON allows.
    """
    page = {"entries": entries, "cursor": cursor, "has_more": bool(entries)}
    return json.dumps(page).encode()


class HostilePortal:
    """Serves scripted list pages and ancestors answers.

    ``pages`` maps the cursor asked for (``""`` for none) to the page body;
    a cursor without a page gets an empty page that keeps it.
    """

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        self.ancestors: dict[str, bytes] = {}
        self.asked: Counter[str] = Counter()
        """List requests by the cursor asked for."""

    def app(self) -> Starlette:
        api = "/admin/v2/api/metadata"
        return Starlette(
            routes=[
                Route("/admin/api/login", self._login, methods=["POST"]),
                Route("/admin/api/logout", self._empty, methods=["POST"]),
                Route("/admin/api/cloudDrives", self._folders, methods=["POST"]),
                Route(f"{api}/list", self._list, methods=["POST"]),
                Route(f"{api}/longpoll", self._longpoll, methods=["POST"]),
                Route(f"{api}/ancestors", self._ancestors, methods=["POST"]),
            ]
        )

    async def _login(self, request: Request) -> Response:
        response = Response(b"", media_type="text/xml")
        response.set_cookie("JSESSIONID", "S", path="/")
        return response

    async def _empty(self, request: Request) -> Response:
        return Response(b"", media_type="text/xml")

    async def _folders(self, request: Request) -> Response:
        body = xmlformat.encode({"hasMore": False, "objects": []})
        return Response(body, media_type="text/xml")

    async def _list(self, request: Request) -> Response:
        cursor = orjson.loads(await request.body())["cursor"] or ""
        self.asked[cursor] += 1
        body = self.pages.get(cursor) or _page([], cursor)
        return Response(body, media_type="application/json")

    async def _longpoll(self, request: Request) -> Response:
        cursor = orjson.loads(await request.body())["cursor"]
        return JSONResponse({"changes": cursor in self.pages})

    async def _ancestors(self, request: Request) -> Response:
        guid = orjson.loads(await request.body())["guid"]
        body = self.ancestors.get(guid, b"[]")
        return Response(body, media_type="application/json")


@pytest.fixture
def hostile() -> Iterator[tuple[HostilePortal, str]]:
    portal = HostilePortal()
    portal.ancestors[ROOT] = orjson.dumps([{"guid": ROOT, "name": "root"}])
    with serve(portal.app()) as url:
        yield portal, url


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


async def _collect(url: str, out: Path) -> None:
    retry = RetryPolicy(attempts=3)
    async with Portal(url, retry=retry, sleep=_no_wait) as portal:
        await portal.login("admin", "password")
        settings = CollectorSettings(until_idle=True, max_rows=1)
        await Collector(portal, out, settings=settings).run()


async def test_hostile_values_keep_their_rows(
    hostile: tuple[HostilePortal, str], tmp_path: Path
):
    portal, url = hostile
    entries = [
        *(_entry(kind, name) for kind, name in NAMES.items()),
        _entry("unknown-type", "link", type="symlink"),
        _entry("negative", "n.txt", size=-5),
        _entry("huge-size", "h.txt", size=2**70),
        _entry("text-size", "t.txt", size="12", folder_id="seven"),
        _entry("bad-time", "d.txt", portal_modified_date="yesterday", acl=5),
        _entry("loop", "l.txt", parent_guid="loop-a"),
        _entry("self", "s.txt", parent_guid="self-parent"),
        _entry("nonsense", "o.txt", parent_guid="nonsense-parent"),
        _entry("not-a-list", "q.txt", parent_guid="object-parent"),
    ]
    portal.pages[""] = _page([*entries, _entry("surrogate", SURROGATE_NAME)], "end")
    portal.ancestors["loop-a"] = orjson.dumps(
        [
            {"guid": "loop-a", "name": "a", "parent_guid": "loop-b"},
            {"guid": "loop-b", "name": "b", "parent_guid": "loop-a"},
        ]
    )
    portal.ancestors["self-parent"] = orjson.dumps(
        [{"guid": "self-parent", "name": "me", "parent_guid": "self-parent"}]
    )
    portal.ancestors["nonsense-parent"] = orjson.dumps([{"guid": 5}, {"name": None}])
    portal.ancestors["object-parent"] = b'{"guid": "object-parent"}'
    out = tmp_path / "ds"

    await asyncio.wait_for(_collect(url, out), 60)

    rows = {row["guid"]: row for row in read_rows(out)}
    assert len(rows) == len(entries) + 1
    assert b"\\ud800" in portal.pages[""]
    for kind, name in NAMES.items():
        assert rows[kind]["name"] == name
        assert rows[kind]["path"] == f"root/{name}"
    assert rows["surrogate"]["name"] == escape_text(SURROGATE_NAME)
    assert rows["surrogate"]["input_issues"] == "name:invalid unicode"
    assert rows["unknown-type"]["type"] == "symlink"
    assert rows["negative"]["input_issues"] == "size:negative"
    assert rows["huge-size"]["input_issues"] == "size:too large"
    assert rows["huge-size"]["size"] is None
    assert rows["text-size"]["input_issues"] == (
        "folder_id:not an integer (str);size:not an integer (str)"
    )
    assert (
        rows["bad-time"]["input_issues"]
        == "portal_modified_date:not a time;acl:not text"
    )
    for guid in ("loop", "self", "nonsense", "not-a-list"):
        assert rows[guid]["path"] is None
        assert rows[guid]["path_status"].startswith("unresolved:")
    assert "loop" in rows["loop"]["path_status"]


@pytest.mark.parametrize(
    "bad",
    [
        {"guid": None},
        {"deleted": "no"},
        {"type": 3},
        {"name": ["a"]},
        "not an object",
    ],
    ids=["no-guid", "deleted-text", "type-number", "name-list", "entry-text"],
)
async def test_a_page_with_a_bad_required_field_is_refused_whole(
    hostile: tuple[HostilePortal, str], tmp_path: Path, bad: Any
):
    portal, url = hostile
    good = [_entry("first", "f.txt")]
    broken = bad if isinstance(bad, str) else _entry("second", "g.txt", **bad)
    portal.pages[""] = _page(good, "c1")
    portal.pages["c1"] = _page([_entry("third", "h.txt"), broken], "c2")
    out = tmp_path / "ds"

    with pytest.raises(PortalUnavailableError, match="list page") as caught:
        await _collect(url, out)

    assert "still failed after 3 tries" in str(caught.value)
    assert portal.asked["c1"] == 3
    assert [row["guid"] for row in read_rows(out)] == ["first"]
    portal.pages["c1"] = _page([_entry("third", "h.txt")], "c2")
    await _collect(url, out)
    assert [row["guid"] for row in read_rows(out)] == ["first", "third"]


_INT_FIELDS = ("folder_id", "size", "id")
_TEXT_FIELDS = ("virtual_portal_id", "acl", "gvsn", "parent_guid")
_TIME_FIELDS = ("file_timestamp", "portal_modified_date")
_OPTIONAL = (*_INT_FIELDS, *_TEXT_FIELDS, *_TIME_FIELDS)
_ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
_TIMES = st.one_of(
    _ANYTHING, st.datetimes().map(dt.datetime.isoformat), st.just("2026-13-45")
)


def _hostile_entries() -> st.SearchStrategy[dict[str, Any]]:
    optional = {field: _ANYTHING for field in (*_INT_FIELDS, *_TEXT_FIELDS)}
    optional.update({field: _TIMES for field in _TIME_FIELDS})
    return st.fixed_dictionaries(
        {
            "type": st.sampled_from(["file", "folder", "symlink", "\ud800"]),
            "guid": st.text(),
            "deleted": st.booleans(),
            "name": st.text(),
        },
        optional=optional,
    )


def _is_bad(field: str, value: Any) -> bool:
    if value is None:
        return False
    if field in _INT_FIELDS:
        return type(value) is not int or not 0 <= value < 2**63
    if field in _TEXT_FIELDS:
        return not isinstance(value, str)
    if not isinstance(value, str):
        return True
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return True
    return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_hostile_entries(), max_size=8))
def test_rows_are_built_from_any_field_values(entries: list[dict[str, Any]]):
    count = len(entries)
    unnamed = pa.nulls(count, pa.string())
    statuses = pa.array(["unresolved:test"] * count, pa.string()).dictionary_encode()
    resolved = (unnamed, unnamed, statuses)
    now = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)

    batch = build_batch(entries, resolved, {}, now)

    assert batch.num_rows == len(entries)
    issues = batch.column("input_issues").to_pylist()
    for entry, found in zip(entries, issues, strict=True):
        named = {issue.split(":")[0] for issue in (found or "").split(";") if issue}
        bad = {f for f, value in entry.items() if f in _OPTIONAL and _is_bad(f, value)}
        assert bad <= named, (entry, found)
        assert named - bad <= {"type", "guid", "name"}, (entry, found)
    assert pa.types.is_string(batch.schema.field("name").type)


class _LyingLengths:
    """ASGI wrapper announcing every DirectIO block one byte longer than it is."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or "/directio/" not in scope["path"]:
            await self.app(scope, receive, send)
            return

        async def lie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                body = orjson.loads(message["body"])
                for chunk in body["chunks"]:
                    chunk["len"] += 1
                message = {**message, "body": orjson.dumps(body)}
            elif message["type"] == "http.response.start":
                headers = [h for h in message["headers"] if h[0] != b"content-length"]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, lie)


def test_a_block_list_that_lies_about_lengths_is_refused():
    secret = new_secret_access_key()
    service = DirectIOService(
        DictContent({9: b"payload" * 100}),
        access_key_id="AK",
        secret_access_key=secret,
        seed=3,
        block_size=256,
        compression="snappy",
    )
    app = _LyingLengths(Starlette(routes=[Mount("/", routes=service.routes())]))

    async def read(url: str) -> bytes:
        async with DirectIOClient(url, "AK", secret) as client:
            return await client.read(9)

    with serve(app) as url, pytest.raises(BlockLengthError):  # type: ignore[arg-type]
        asyncio.run(read(url))
