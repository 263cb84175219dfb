"""The simulated portal's HTTP behaviour, seen by a plain httpx client.

No SDK and no client of ours in between: these tests pin down the status codes,
bodies and headers the simulator serves, so that a client test failing elsewhere
can be blamed on the client. The last tests drive the ``simulate`` command line.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import gc
import itertools
import json
import logging
import re
import socket
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest

from ctera_audit.events import EVENT_FIELDS, REQUIRED_FIELDS
from ctera_audit.simulator import (
    Behaviour,
    FaultPlan,
    RunningSimulator,
    simulator_process,
)

from .conftest import StartSimulator, read_truth

CREDENTIALS = {"j_username": "admin", "j_password": "secret"}
METADATA = "/admin/v2/api/metadata"
EXPIRED_LOCATION = "/ServicesPortal/login.html"
GUARD_S = 10.0
"""Upper bound on a call that should be quick; only a hang can break it."""
REPOSITORY = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def _logged_in(
    simulator: RunningSimulator, context: str = "admin"
) -> Iterator[httpx.Client]:
    """An httpx client holding a fresh session of ``simulator``."""
    with httpx.Client(base_url=simulator.url, timeout=GUARD_S) as client:
        response = client.post(f"/{context}/api/login", data=CREDENTIALS)
        assert response.status_code == 200, response.text
        yield client


def _list(
    client: httpx.Client,
    cursor: str | None = None,
    *,
    folder_ids: list[int] | None = None,
    max_results: int = 2000,
    context: str = "admin",
) -> dict[str, Any]:
    """One successful list page, decoded."""
    body = {
        "folder_ids": folder_ids or [],
        "cursor": cursor,
        "max_results": max_results,
    }
    response = client.post(f"/{context}/v2/api/metadata/list", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _all_pages(client: httpx.Client, **options: Any) -> list[dict[str, Any]]:
    """Every page from the beginning until ``has_more`` turns false."""
    pages = [_list(client, **options)]
    while pages[-1]["has_more"]:
        pages.append(_list(client, pages[-1]["cursor"], **options))
    return pages


def _entries(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for page in pages for entry in page["entries"]]


def _as_served(truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ground-truth records reduced to the keys a list page carries."""
    return [{k: v for k, v in record.items() if k in EVENT_FIELDS} for record in truth]


def _forged_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _is_valid_page(raw: bytes) -> bool:
    """Whether a list body is a page a client may act on."""
    try:
        page = json.loads(raw)
    except ValueError:
        return False
    return (
        isinstance(page, dict)
        and isinstance(page.get("entries"), list)
        and isinstance(page.get("cursor"), str)
        and isinstance(page.get("has_more"), bool)
        and all(
            isinstance(entry, dict) and entry.keys() >= REQUIRED_FIELDS
            for entry in page["entries"]
        )
    )


def _assert_json_error(response: httpx.Response, status: int) -> None:
    """The answer is ``status`` with a JSON error body, not an HTML page."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "msg" in response.json() or "error" in response.json()
    assert "Traceback" not in response.text


# -- login and session ----------------------------------------------------------


def test_login_with_a_wrong_password_is_403_without_a_cookie(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=10)

    with httpx.Client(base_url=simulator.url) as client:
        response = client.post(
            "/admin/api/login", data={"j_username": "admin", "j_password": "wrong"}
        )

    assert response.status_code == 403
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", f"{METADATA}/list", {"cursor": None}),
        ("POST", f"{METADATA}/longpoll", {"cursor": None, "timeout": 100}),
        ("POST", f"{METADATA}/ancestors", {"folder_id": 7, "guid": "x"}),
        ("GET", "/admin/api/currentSession", None),
    ],
)
@pytest.mark.parametrize("cookie", [None, "FORGED0123456789"])
def test_calls_without_a_session_are_401(
    start_simulator: StartSimulator,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    cookie: str | None,
):
    simulator = start_simulator(events=10)
    cookies = {"JSESSIONID": cookie} if cookie else None

    with httpx.Client(base_url=simulator.url, cookies=cookies) as client:
        response = client.request(method, path, json=body)

    _assert_json_error(response, 401)


def test_session_cookie_is_valid_for_every_path(start_simulator: StartSimulator):
    simulator = start_simulator(events=10)

    with httpx.Client(base_url=simulator.url) as client:
        response = client.post("/admin/api/login", data=CREDENTIALS)
    cookie = SimpleCookie(response.headers["set-cookie"])

    assert cookie["JSESSIONID"]["path"] == "/"
    assert cookie["JSESSIONID"]["httponly"]


def test_expired_session_redirects_to_the_login_page(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=10, session_ttl=0.0)

    with _logged_in(simulator) as client:
        listing = client.post(f"{METADATA}/list", json={"cursor": None})
        session = client.get("/admin/api/currentSession")

    for response in (listing, session):
        assert response.status_code == 302
        assert response.headers["location"] == EXPIRED_LOCATION


def test_expired_session_is_401_when_the_behaviour_asks(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=10, behaviour=Behaviour(expired_session="401"))

    with _logged_in(simulator) as client:
        assert client.get("/admin/api/currentSession").status_code == 200
        simulator.portal.expire_sessions()
        expired = client.post(f"{METADATA}/list", json={"cursor": None})
        client.post("/admin/api/login", data=CREDENTIALS)
        renewed = client.post(f"{METADATA}/list", json={"cursor": None})

    _assert_json_error(expired, 401)
    assert renewed.status_code == 200


# -- list -------------------------------------------------------------------------


@pytest.mark.parametrize("context", ["admin", "ServicesPortal"])
def test_both_contexts_serve_list(start_simulator: StartSimulator, context: str):
    simulator = start_simulator(events=300)
    truth = read_truth(simulator)

    with _logged_in(simulator, context) as client:
        page = _list(client, context=context)

    assert page["entries"] == _as_served(truth)
    assert page["has_more"] is False


def test_list_pages_cover_the_backlog_in_order(start_simulator: StartSimulator):
    simulator = start_simulator(events=5_000)
    truth = read_truth(simulator)

    with _logged_in(simulator) as client:
        pages = _all_pages(client, max_results=1_200)
        after_end = _list(client, pages[-1]["cursor"])

    assert [len(page["entries"]) for page in pages] == [1_200] * 4 + [200]
    assert [page["has_more"] for page in pages] == [True] * 4 + [False]
    assert _entries(pages) == _as_served(truth)
    assert after_end == {
        "entries": [],
        "cursor": pages[-1]["cursor"],
        "has_more": False,
    }


def test_a_cursor_resumes_exactly_and_repeatably(start_simulator: StartSimulator):
    simulator = start_simulator(events=5_000)
    truth = read_truth(simulator)

    with _logged_in(simulator) as client:
        first = _list(client, max_results=1_000)
        second = _list(client, first["cursor"], max_results=1_000)
        resumed = _list(client, second["cursor"], max_results=1_500)
        again = _list(client, second["cursor"], max_results=1_500)

    assert [e["gvsn"] for e in resumed["entries"]] == [
        t["gvsn"] for t in truth[2_000:3_500]
    ]
    assert again == resumed


def test_folder_filter_serves_exactly_those_folders(start_simulator: StartSimulator):
    simulator = start_simulator(events=6_000)
    truth = read_truth(simulator)
    wanted = [folder.uid for folder in simulator.portal.workload.folders[:2]]
    expected = _as_served([t for t in truth if t["folder_id"] in wanted])

    with _logged_in(simulator) as client:
        pages = _all_pages(client, folder_ids=wanted, max_results=300)

    assert _entries(pages) == expected
    assert len(pages) == -(-len(expected) // 300)


@pytest.mark.parametrize("maximum", [100, 3])
def test_too_many_folder_ids_is_400_with_the_limit(
    start_simulator: StartSimulator, maximum: int
):
    simulator = start_simulator(events=10, behaviour=Behaviour(max_folder_ids=maximum))
    folder_ids = list(range(7, 7 + maximum + 1))

    with _logged_in(simulator) as client:
        at_limit = client.post(f"{METADATA}/list", json={"folder_ids": folder_ids[1:]})
        over = client.post(f"{METADATA}/list", json={"folder_ids": folder_ids})

    assert at_limit.status_code == 200
    _assert_json_error(over, 400)
    error = over.json()["details"][0]["error"]
    assert f"size must be between 0 and {maximum}" in error


@pytest.mark.parametrize("call", ["list", "longpoll"])
@pytest.mark.parametrize(
    "forge",
    [
        lambda portal: "not a cursor!",
        lambda portal: _forged_cursor("0123456789ab:10"),
        lambda portal: portal.cursor_at(len(portal.journal) + 1),
        lambda portal: portal.cursor_at(5)[:-2],
    ],
    ids=["garbage", "other-portal", "past-the-end", "truncated"],
)
def test_a_forged_cursor_is_400(start_simulator: StartSimulator, call: str, forge):
    simulator = start_simulator(events=100)
    cursor = forge(simulator.portal)

    with _logged_in(simulator) as client:
        response = client.post(
            f"{METADATA}/{call}", json={"cursor": cursor, "timeout": 100}
        )

    _assert_json_error(response, 400)


@pytest.mark.parametrize("call", ["list", "longpoll"])
def test_a_cursor_that_is_not_a_string_is_400(
    start_simulator: StartSimulator, call: str
):
    simulator = start_simulator(events=10)

    with _logged_in(simulator) as client:
        response = client.post(f"{METADATA}/{call}", json={"cursor": 5, "timeout": 100})

    _assert_json_error(response, 400)


# -- longpoll ---------------------------------------------------------------------


def test_longpoll_answers_at_once_when_changes_exist(start_simulator: StartSimulator):
    simulator = start_simulator(events=100)

    with _logged_in(simulator) as client:
        started = time.monotonic()
        response = client.post(
            f"{METADATA}/longpoll",
            json={"cursor": simulator.portal.cursor_at(99), "timeout": 60_000},
        )
        elapsed = time.monotonic() - started

    assert response.json() == {"changes": True}
    assert elapsed < GUARD_S


def test_longpoll_answers_false_when_nothing_comes(start_simulator: StartSimulator):
    simulator = start_simulator(events=100)
    folder = simulator.portal.workload.folders[0].uid

    with _logged_in(simulator) as client:
        end = _list(client)["cursor"]
        responses = [
            client.post(
                f"{METADATA}/longpoll",
                json={"cursor": cursor, "timeout": 200, "folder_ids": folder_ids},
                timeout=GUARD_S,
            )
            for cursor, folder_ids in ((end, []), (end, [folder]))
        ]

    assert [response.json() for response in responses] == [{"changes": False}] * 2


def test_live_events_wake_a_waiting_longpoll(start_simulator: StartSimulator):
    simulator = start_simulator(events=50, rate=4.0)

    with _logged_in(simulator) as client:
        pages = _all_pages(client)
        woken = client.post(
            f"{METADATA}/longpoll",
            json={"cursor": pages[-1]["cursor"], "timeout": 25_000},
            timeout=30,
        )
        news = _list(client, pages[-1]["cursor"])["entries"]
    seen = len(_entries(pages))
    truth = _as_served(read_truth(simulator))

    assert woken.json() == {"changes": True}
    assert woken.elapsed.total_seconds() < GUARD_S
    assert news
    assert news == truth[seen : seen + len(news)]


# -- ancestors --------------------------------------------------------------------


def _settled_files(truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Live files whose path no later event changed: their truth path is current."""
    last_folder_change = max(i for i, t in enumerate(truth) if t["type"] == "folder")
    latest = {t["guid"]: t for t in truth}
    return [
        t
        for t in truth[last_folder_change + 1 :]
        if t["type"] == "file" and not t["deleted"] and latest[t["guid"]] is t
    ][:10]


@pytest.mark.parametrize("include_root", [True, False])
def test_ancestors_are_root_first_and_end_with_the_object(
    start_simulator: StartSimulator, include_root: bool
):
    simulator = start_simulator(
        events=3_000, behaviour=Behaviour(ancestors_include_root=include_root)
    )
    files = _settled_files(read_truth(simulator))
    roots = {f.uid: f.root_guid for f in simulator.portal.workload.folders}
    assert files, "the workload left no file untouched after its last folder change"

    with _logged_in(simulator) as client:
        chains = [
            client.post(
                f"{METADATA}/ancestors",
                json={"folder_id": f["folder_id"], "guid": f["guid"]},
            ).json()
            for f in files
        ]

    for record, chain in zip(files, chains, strict=True):
        path = record["path"]
        if not include_root:
            path = path.split("/", 1)[1]
        assert "/".join(item["name"] for item in chain) == path
        assert chain[-1]["guid"] == record["guid"]
        assert (chain[0]["guid"] == roots[record["folder_id"]]) is include_root
        for parent, child in itertools.pairwise(chain):
            assert child["parent_guid"] == parent["guid"]


@pytest.mark.parametrize(
    ("behaviour", "status", "answer"),
    [("error", 404, None), ("empty", 200, [])],
)
def test_ancestors_of_a_deleted_object(
    start_simulator: StartSimulator, behaviour: str, status: int, answer: Any
):
    # Two small personal folders fill up fast, so deletions start early.
    simulator = start_simulator(
        events=2_000,
        users=2,
        team_folders=0,
        behaviour=Behaviour(ancestors_of_missing=behaviour),
    )
    deleted = next(t for t in read_truth(simulator) if t["deleted"])

    with _logged_in(simulator) as client:
        response = client.post(
            f"{METADATA}/ancestors",
            json={"folder_id": deleted["folder_id"], "guid": deleted["guid"]},
        )

    if answer is None:
        _assert_json_error(response, status)
    else:
        assert response.status_code == status
        assert response.json() == answer


# -- errors are JSON --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 404),
        ("GET", "/nowhere/at/all", 404),
        ("GET", "/admin/api/noSuchCall", 404),
        ("POST", f"{METADATA}/noSuchCall", 404),
        ("GET", f"{METADATA}/list", 405),
    ],
)
def test_unknown_paths_are_json_errors(
    start_simulator: StartSimulator, method: str, path: str, status: int
):
    simulator = start_simulator(events=10)

    with _logged_in(simulator) as client:
        response = client.request(method, path)

    _assert_json_error(response, status)


@pytest.mark.parametrize(
    ("call", "body"),
    [
        ("list", b"not json"),
        ("list", b"[1, 2]"),
        ("list", b'{"folder_ids": ["7"]}'),
        ("list", b'{"max_results": 100000}'),
        ("longpoll", b'{"timeout": -5}'),
        ("ancestors", b'{"guid": 5}'),
    ],
)
def test_malformed_requests_are_400(
    start_simulator: StartSimulator, call: str, body: bytes
):
    simulator = start_simulator(events=10)

    with _logged_in(simulator) as client:
        response = client.post(f"{METADATA}/{call}", content=body)

    _assert_json_error(response, 400)


def test_a_malformed_folder_query_is_400(start_simulator: StartSimulator):
    simulator = start_simulator(events=10)
    query = (
        b'<obj><att id="param"><obj><att id="startFrom"><val>abc</val></att>'
        b"</obj></att></obj>"
    )

    with _logged_in(simulator) as client:
        response = client.post("/admin/api/cloudDrives", content=query)

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("authorization", "file_id", "status"),
    [
        ("Bearer AK-WRONG", "known", 401),
        (None, "known", 401),
        ("Bearer AK-SIMULATED", "999999999", 400),
        ("Bearer AK-SIMULATED", "not-a-number", 400),
        ("Bearer AK-SIMULATED", "known", 200),
    ],
)
def test_directio_metadata_checks_key_and_file(
    start_simulator: StartSimulator,
    authorization: str | None,
    file_id: str,
    status: int,
):
    simulator = start_simulator(events=500)
    known = next(t["id"] for t in read_truth(simulator) if t["sha256"])
    headers = {"Authorization": authorization} if authorization else {}
    path = f"/directio/{known if file_id == 'known' else file_id}"

    with httpx.Client(base_url=simulator.url) as client:
        response = client.get(path, headers=headers)

    if status == 200:
        assert response.status_code == 200
        assert response.json()["chunks"]
    else:
        _assert_json_error(response, status)


# -- faults and hostile names -----------------------------------------------------


def test_hostile_names_are_served_as_valid_json(start_simulator: StartSimulator):
    simulator = start_simulator(events=3_000, faults=FaultPlan(hostile=0.2))
    truth = read_truth(simulator)

    with _logged_in(simulator) as client:
        raw = client.post(f"{METADATA}/list", json={"max_results": 3_000}).content
    entries = json.loads(raw)["entries"]
    hostile = [
        e["name"] for e in entries if "/" in e["name"] or not e["name"].isprintable()
    ]

    assert all(entry.keys() == set(EVENT_FIELDS) for entry in entries)
    assert entries == _as_served(truth)
    assert len(hostile) > 100


def test_error_fault_answers_5xx_or_429(start_simulator: StartSimulator):
    simulator = start_simulator(events=100, faults=FaultPlan(error=1.0, seed=1))

    with _logged_in(simulator) as client:
        statuses = {
            client.post(f"{METADATA}/list", json={"cursor": None}).status_code
            for _ in range(30)
        }

    assert statuses <= {429, 500, 502, 503}
    assert len(statuses) > 1


def test_drop_fault_cuts_the_connection(start_simulator: StartSimulator):
    simulator = start_simulator(events=100, faults=FaultPlan(drop=1.0))

    with _logged_in(simulator) as client, pytest.raises(httpx.TransportError):
        client.post(f"{METADATA}/list", json={"cursor": None})


def test_malformed_fault_serves_pages_that_are_not_valid(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=100, faults=FaultPlan(malformed=1.0, seed=2))

    with _logged_in(simulator) as client:
        bodies = {
            client.post(f"{METADATA}/list", json={"cursor": None}).content
            for _ in range(10)
        }
        healthy = client.post(f"{METADATA}/longpoll", json={"timeout": 100})

    assert not any(_is_valid_page(body) for body in bodies)
    assert len(bodies) == 2
    assert healthy.json() == {"changes": True}


# -- the command line -------------------------------------------------------------


def _cli_run(truth: Path) -> bytes:
    """Serve a seeded CLI simulator; check it is ready with its ground truth."""
    arguments = ("--port", "0", "--events", "2000", "--seed", "3")
    with simulator_process(*arguments, "--ground-truth", str(truth)) as url:
        lines = truth.read_bytes().count(b"\n")
        with httpx.Client(base_url=url) as client:
            login = client.post("/admin/api/login", data=CREDENTIALS)

    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert lines == 2000
    assert login.status_code == 200
    return truth.read_bytes()


def test_simulator_process_releases_its_pipe():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with simulator_process("--events", "10"):
            pass
        gc.collect()

    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_cli_same_seed_gives_identical_ground_truth(tmp_path: Path):
    first = _cli_run(tmp_path / "first.jsonl")
    second = _cli_run(tmp_path / "second.jsonl")

    assert first == second


def test_cli_stops_cleanly_on_sigterm():
    command = [sys.executable, "-m", "ctera_audit", "simulate", "--events", "100"]

    with subprocess.Popen(
        command,
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        url = process.stdout.readline().strip()
        process.terminate()
        status = process.wait(GUARD_S)
        errors = process.stderr.read()

    assert url.startswith("http://")
    assert status == 0
    assert "Traceback" not in errors


def test_sigterm_answers_a_held_longpoll_and_stops_cleanly():
    command = [sys.executable, "-m", "ctera_audit", "simulate", "--events", "100"]
    process = subprocess.Popen(
        command,
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        url = process.stdout.readline().strip()
        with (
            httpx.Client(base_url=url, timeout=GUARD_S) as client,
            concurrent.futures.ThreadPoolExecutor(1) as pool,
        ):
            client.post("/admin/api/login", data=CREDENTIALS)
            end = _all_pages(client)[-1]["cursor"]
            held = pool.submit(
                client.post,
                f"{METADATA}/longpoll",
                json={"cursor": end, "timeout": 30_000},
                timeout=GUARD_S,
            )
            time.sleep(0.5)  # the longpoll is now held by the portal
            process.terminate()
            answer = held.result(GUARD_S)
        status = process.wait(GUARD_S)
        errors = process.stderr.read()
    finally:
        process.kill()
        process.communicate()

    assert answer.json() == {"changes": False}
    assert status == 0
    assert "Traceback" not in errors and "ERROR" not in errors


def test_cli_serves_https_with_the_certificate_it_wrote(tmp_path: Path):
    cert = tmp_path / "portal.pem"

    with simulator_process("--events", "10", "--tls", "--tls-cert", str(cert)) as url:
        trusting = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=url, verify=trusting) as client:
            login = client.post("/admin/api/login", data=CREDENTIALS)
        with httpx.Client(base_url=url) as client, pytest.raises(httpx.ConnectError):
            client.post("/admin/api/login", data=CREDENTIALS)

    assert url.startswith("https://127.0.0.1:")
    assert login.status_code == 200
    assert "Secure" in login.headers["set-cookie"]


# -- connection handling ----------------------------------------------------------


def test_a_client_hanging_up_mid_request_is_not_an_error(
    start_simulator: StartSimulator, caplog: pytest.LogCaptureFixture
):
    simulator = start_simulator(events=10)
    caplog.set_level(logging.ERROR)
    with _logged_in(simulator) as client:
        cookie = client.cookies["JSESSIONID"]
    head = (
        f"POST {METADATA}/longpoll HTTP/1.1\r\nHost: {simulator.host}\r\n"
        f"Cookie: JSESSIONID={cookie}\r\nContent-Length: 100\r\n\r\n"
    )

    with socket.create_connection((simulator.host, simulator.port)) as connection:
        connection.sendall(head.encode())
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and not caplog.records:
        time.sleep(0.02)

    assert [record.getMessage() for record in caplog.records] == []
