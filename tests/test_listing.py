"""Pages asked for early: the same pages, no request wasted, nothing trusted blindly."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest

from ctera_audit import Portal
from ctera_audit.listing import PageLister
from ctera_audit.pages import CursorGuess, Page, trailing_cursor

from .conftest import StartSimulator
from .test_directio import serve
from .test_hostile_input import HostilePortal, _entry

ENTRY = {"type": "file", "guid": "g", "deleted": False, "name": "a.txt"}


@pytest.mark.parametrize(
    ("body", "guess"),
    [
        pytest.param(
            {"entries": [ENTRY], "cursor": "c2", "has_more": True},
            CursorGuess("c2", True),
            id="portal-order",
        ),
        pytest.param(
            {"entries": [], "cursor": "c2", "has_more": False},
            CursorGuess("c2", False),
            id="caught-up",
        ),
        pytest.param(
            {"entries": [{**ENTRY, "name": '"cursor":"x","has_more":true}'}]},
            None,
            id="name-that-looks-like-a-cursor-last",
        ),
        pytest.param(
            {"cursor": "c2", "has_more": True, "entries": [ENTRY]},
            CursorGuess("c2", True),
            id="cursor-first-read-whole",
        ),
        pytest.param(
            {"entries": [ENTRY], "has_more": True, "cursor": "c2"},
            None,
            id="has-more-first",
        ),
        pytest.param({"entries": [ENTRY]}, None, id="no-cursor"),
        pytest.param(
            {"entries": [], "cursor": 7, "has_more": True}, None, id="cursor-a-number"
        ),
    ],
)
def test_the_cursor_is_read_off_the_end_or_not_at_all(
    body: dict, guess: CursorGuess | None
):
    assert trailing_cursor(json.dumps(body, separators=(",", ":")).encode()) == guess


def test_a_truncated_body_gives_no_guess():
    assert trailing_cursor(b'{"entries":[],"cursor":"c2","has_') is None


def test_a_cursor_far_from_the_end_gives_no_guess():
    body = {"cursor": "c2", "has_more": True, "entries": [ENTRY] * 500}

    assert trailing_cursor(json.dumps(body).encode()) is None


async def _every_page(
    list_page: Callable[[str | None], Awaitable[Page]],
) -> list[tuple[str, bool, list[dict]]]:
    """Cursor, has_more and entries of every page from the beginning."""
    pages, cursor = [], None
    while True:
        page = await list_page(cursor)
        pages.append((page.cursor, page.has_more, page.entries))
        cursor = page.cursor
        if not page.has_more:
            return pages


async def test_the_lister_gives_the_same_pages_and_one_request_each(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=9_000, ground_truth=None)
    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        plain = await _every_page(portal.list_changes)
        requests_before = simulator.portal.requests["list_changes"]

        lister = PageLister(portal, [], columnar=True)
        early = await _every_page(lister.list)
        lister.close()
        requests = simulator.portal.requests["list_changes"] - requests_before

    assert len(plain) == 5
    assert early == plain
    assert requests == len(early)


async def test_without_a_readable_end_pages_are_asked_for_one_by_one():
    hostile = HostilePortal()
    order = ("has_more", "cursor", "entries")
    for number in range(3):
        page = {
            "entries": [_entry(f"g{number}", f"{number}.txt")],
            "cursor": f"c{number + 1}",
            "has_more": number < 2,
        }
        body = {key: page[key] for key in order}
        hostile.pages[f"c{number}" if number else ""] = json.dumps(body).encode()

    with serve(hostile.app()) as url:
        async with Portal(url) as portal:
            await portal.login("admin", "password")
            lister = PageLister(portal, [])
            pages = [await lister.list(cursor) for cursor in (None, "c1", "c2")]

    assert [page.cursor for page in pages] == ["c1", "c2", "c3"]
    assert [page.entries[0]["guid"] for page in pages] == ["g0", "g1", "g2"]
    assert hostile.asked == {"": 1, "c1": 1, "c2": 1}


async def test_an_early_request_for_another_cursor_is_withdrawn_not_used():
    hostile = HostilePortal()
    hostile.pages[""] = json.dumps(
        {"entries": [_entry("g0", "0.txt")], "cursor": "c1", "has_more": True}
    ).encode()
    hostile.pages["c9"] = json.dumps(
        {"entries": [_entry("wrong", "w.txt")], "cursor": "c10", "has_more": False}
    ).encode()

    with serve(hostile.app()) as url:
        async with Portal(url) as portal:
            await portal.login("admin", "password")
            lister = PageLister(portal, [])
            await lister.list(None)
            page = await lister.list("c9")

    assert [entry["guid"] for entry in page.entries] == ["wrong"]
    assert hostile.asked["c1"] <= 1
    assert hostile.asked["c9"] == 1
