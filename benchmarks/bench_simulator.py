"""How fast the simulated portal serves list pages, against its request overhead.

The simulator runs as a separate process (``python -m ctera_audit simulate``) so
it has a core of its own; this process is one plain httpx client. Three scans
are timed:

* a trivial call (``GET /admin/api/version``, and a longpoll that answers at
  once because changes exist): the cost of one request, whatever it carries;
* the whole backlog in pages of 2,000 events, no filter;
* the whole backlog filtered to one cloud folder (a sparse scan: each page
  skips over the other folders' events).

Each list page is decoded with orjson to read its cursor, as any client must.
The last column divides a call's time by the trivial call's, so the figure
travels between machines better than the absolute rates do.

Run from the project root::

    python -m benchmarks.bench_simulator --events 1000000
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson

from ctera_audit.simulator import simulator_process

LIST = "/admin/v2/api/metadata/list"
LONGPOLL = "/admin/v2/api/metadata/longpoll"


@dataclass
class Measure:
    """One timed scan: how many requests, how many events, how long."""

    name: str
    requests: int
    events: int
    seconds: float

    @property
    def per_request_ms(self) -> float:
        """Mean wall time of one request, in milliseconds."""
        return 1000 * self.seconds / self.requests


def trivial_calls(name: str, send: Callable[[], httpx.Response], count: int) -> Measure:
    """Time ``count`` calls that do no work on the portal's side."""
    started = time.perf_counter()
    for _ in range(count):
        send().raise_for_status()
    return Measure(name, count, 0, time.perf_counter() - started)


def scan(
    client: httpx.Client, name: str, folder_ids: list[int], page_size: int
) -> Measure:
    """List from the beginning until ``has_more`` is false; time every page."""
    cursor = None
    pages = events = 0
    started = time.perf_counter()
    while True:
        body = {"folder_ids": folder_ids, "cursor": cursor, "max_results": page_size}
        response = client.post(LIST, content=orjson.dumps(body))
        response.raise_for_status()
        page = orjson.loads(response.content)
        pages += 1
        events += len(page["entries"])
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    return Measure(name, pages, events, time.perf_counter() - started)


def busiest_and_quietest_folders(client: httpx.Client) -> tuple[int, int]:
    """The folders with the most and the fewest events in a 20,000-event sample.

    Filtering on the quietest folder is the sparsest scan: nearly every journal
    entry the portal reads is skipped.
    """
    counts: collections.Counter[int] = collections.Counter()
    cursor = None
    for _ in range(2):
        body = {"folder_ids": [], "cursor": cursor, "max_results": 10_000}
        page = orjson.loads(client.post(LIST, content=orjson.dumps(body)).content)
        counts.update(entry["folder_id"] for entry in page["entries"])
        cursor = page["cursor"]
    ranked = counts.most_common()
    return ranked[0][0], ranked[-1][0]


def print_table(measures: list[Measure], baseline: Measure, backlog: int) -> None:
    """One row per scan; the last column is the time per call over the baseline's."""
    print(
        f"{'scan':<34} {'requests':>8} {'seconds':>8} {'req/s':>9} "
        f"{'events/s':>10} {'scanned/s':>10} {'x trivial':>9}"
    )
    for m in measures:
        events_rate = f"{m.events / m.seconds:,.0f}" if m.events else "-"
        scanned = f"{backlog / m.seconds:,.0f}" if m.events else "-"
        print(
            f"{m.name:<34} {m.requests:>8} {m.seconds:>8.2f} "
            f"{m.requests / m.seconds:>9,.0f} {events_rate:>10} {scanned:>10} "
            f"{m.per_request_ms / baseline.per_request_ms:>9.1f}"
        )


def main() -> None:
    """Start the simulator, run the scans, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="backlog")
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--trivial-calls", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()

    print(f"generating a backlog of {arguments.events:,} events ...", flush=True)
    started = time.perf_counter()
    simulator = simulator_process(
        "--port", "0", "--events", str(arguments.events), "--seed", str(arguments.seed)
    )
    with simulator as url, httpx.Client(base_url=url, timeout=60) as client:
        print(f"simulator ready at {url} in {time.perf_counter() - started:.1f} s")
        client.post(
            "/admin/api/login", data={"j_username": "admin", "j_password": "secret"}
        ).raise_for_status()
        busy, quiet = busiest_and_quietest_folders(client)

        count = arguments.trivial_calls
        version = trivial_calls(
            "GET version (trivial)", lambda: client.get("/admin/api/version"), count
        )
        poll = orjson.dumps({"folder_ids": [], "cursor": None, "timeout": 1000})
        longpoll = trivial_calls(
            "longpoll, answers at once",
            lambda: client.post(LONGPOLL, content=poll),
            count,
        )
        size = arguments.page_size
        measures = [
            version,
            longpoll,
            scan(client, f"list all, pages of {size}", [], size),
            scan(client, f"list busiest folder ({busy})", [busy], size),
            scan(client, f"list quietest folder ({quiet})", [quiet], size),
        ]

    print()
    print_table(measures, version, arguments.events)


if __name__ == "__main__":
    main()
