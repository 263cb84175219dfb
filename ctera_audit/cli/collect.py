"""``collect``: follow a portal (or the embedded demo portal) into a dataset."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ..collector import CollectionSummary, Collector, CollectorSettings
from ..content import ContentFilter
from ..dataset.storage import S3Options
from ..errors import ConfigurationError
from ..runner import (
    ContentSettings,
    DemoPortal,
    Destination,
    PortalLogin,
    StreamPlan,
    collect_async,
)
from ..streams import MultiStreamCollector
from .progress import ProgressBar

PASSWORD_VARIABLE = "CTERA_PASSWORD"
ACCESS_KEY_VARIABLE = "CTERA_ACCESS_KEY_ID"
SECRET_KEY_VARIABLE = "CTERA_SECRET_ACCESS_KEY"


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``collect`` sub-command."""
    defaults = CollectorSettings()
    parser = commands.add_parser(
        "collect",
        help="collect file events into a Parquet dataset",
        description="Follow a CTERA Portal's file events into a date-partitioned "
        f"Parquet dataset. The password comes from ${PASSWORD_VARIABLE} or a prompt; "
        f"the DirectIO key pair for --content from ${ACCESS_KEY_VARIABLE} and "
        f"${SECRET_KEY_VARIABLE}.",
    )
    parser.add_argument(
        "--out", required=True, help="dataset directory, or s3://bucket/prefix"
    )
    parser.add_argument(
        "--state-dir", help="local folder of the checkpoints (for an s3:// dataset)"
    )
    parser.add_argument(
        "--s3-endpoint", help="S3-compatible endpoint URL (default: $AWS_ENDPOINT_URL)"
    )
    parser.add_argument(
        "--stream-group-size",
        type=int,
        metavar="N",
        help="follow the folders as concurrent streams of N folders each",
    )
    parser.add_argument(
        "--shard",
        metavar="K/N",
        help="run only folder groups whose index modulo N is K (several processes)",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--portal", help="portal URL, e.g. https://portal.example.com")
    source.add_argument(
        "--demo", action="store_true", help="collect from the embedded simulated portal"
    )
    parser.add_argument(
        "--context", choices=["admin", "ServicesPortal"], default="admin"
    )
    parser.add_argument("--username", help="portal user name (with --portal)")
    parser.add_argument(
        "--demo-seed", type=int, default=7, help="seed of the demo workload"
    )
    parser.add_argument(
        "--demo-events",
        type=int,
        default=100_000,
        help="events waiting in the demo portal's backlog",
    )
    parser.add_argument(
        "--demo-scenario", help="incident to weave into the demo workload"
    )
    parser.add_argument(
        "--folder",
        action="append",
        dest="folders",
        metavar="ID_OR_OWNER/NAME",
        help="cloud folder to follow (repeatable); default: all",
    )
    parser.add_argument("--until-idle", action="store_true", help="stop once caught up")
    parser.add_argument("--max-events", type=int, help="stop after about N events")
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop after this long"
    )
    parser.add_argument(
        "--max-rows", type=int, default=defaults.max_rows, help="rows per commit"
    )
    parser.add_argument(
        "--commit-every",
        type=float,
        default=defaults.max_age_s,
        metavar="SECONDS",
        help="commit at least this often",
    )
    parser.add_argument(
        "--file-mb",
        type=float,
        default=defaults.file_bytes / (1 << 20),
        metavar="MB",
        help="size a day's data file grows to across commits (default %(default)g)",
    )
    parser.add_argument(
        "--pages-in-this-process",
        action="store_true",
        help="list and parse pages in this process, not in a child process (a "
        "machine with a single core gains nothing from the child)",
    )
    parser.add_argument(
        "--max-folders",
        type=int,
        default=defaults.max_folders,
        metavar="N",
        help="folders of the tree kept in memory for naming paths; beyond them "
        "the least recently used are forgotten and asked for again when needed",
    )
    parser.add_argument(
        "--content",
        choices=["off", "hash", "store"],
        default="off",
        help="capture each file version's sha256 (hash) or also its bytes (store, "
        "under OUT/_content) through DirectIO",
    )
    parser.add_argument(
        "--content-max-size",
        type=int,
        metavar="BYTES",
        help="skip the content of larger files",
    )
    parser.add_argument(
        "--content-extensions",
        metavar="EXT,EXT",
        help="capture only files with these extensions",
    )
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--ca-bundle", type=Path, help="CA bundle to trust for the portal")
    tls.add_argument(
        "--insecure", action="store_true", help="do not verify TLS (test portals only)"
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="hide the progress bar"
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        help="DEBUG, INFO, WARNING or ERROR (default WARNING)",
    )
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Collect until a stop condition, then print a summary paragraph."""
    source = _source(arguments)
    settings = CollectorSettings(
        max_rows=arguments.max_rows,
        max_age_s=arguments.commit_every,
        max_folders=arguments.max_folders,
        page_reader_process=not arguments.pages_in_this_process,
        file_bytes=int(arguments.file_mb * (1 << 20)),
        until_idle=arguments.until_idle,
        max_events=arguments.max_events,
        duration_s=arguments.duration,
    )
    options = {
        "folders": arguments.folders,
        "settings": settings,
        "content": _content(arguments),
        "streams": _streams(arguments),
        "destination": Destination(
            arguments.state_dir, S3Options(endpoint_url=arguments.s3_endpoint)
        ),
    }
    progress = None if arguments.no_progress else ProgressBar()
    try:
        summary = asyncio.run(_collect(arguments.out, source, progress, options))
    finally:
        if progress is not None:
            progress.close()

    print(summary.describe())
    return 0


async def _collect(
    out: str,
    source: PortalLogin | DemoPortal,
    progress: ProgressBar | None,
    options: dict[str, Any],
) -> CollectionSummary:
    loop = asyncio.get_running_loop()

    def watch_signals(collector: Collector | MultiStreamCollector) -> None:
        for number in (signal.SIGINT, signal.SIGTERM):
            name = signal.Signals(number).name
            loop.add_signal_handler(
                number, collector.request_stop, f"{name} was received"
            )

    return await collect_async(
        out, source, progress=progress, on_start=watch_signals, **options
    )


def _streams(arguments: argparse.Namespace) -> StreamPlan | None:
    if arguments.shard is None and arguments.stream_group_size is None:
        return None

    shard = None
    if arguments.shard is not None:
        index, _, count = arguments.shard.partition("/")
        if not (index.isdigit() and count.isdigit()):
            raise ConfigurationError(
                f"--shard {arguments.shard!r} is not K/N; write e.g. --shard 0/2"
            )
        shard = (int(index), int(count))
    return StreamPlan(arguments.stream_group_size, shard)


def _content(arguments: argparse.Namespace) -> ContentSettings:
    """Content settings; the key pair comes from the environment, never from argv."""
    extensions = None
    if arguments.content_extensions is not None:
        extensions = {ext for ext in arguments.content_extensions.split(",") if ext}
    filters = ContentFilter(
        extensions_allow=extensions, max_size=arguments.content_max_size
    )
    return ContentSettings(
        arguments.content,
        os.environ.get(ACCESS_KEY_VARIABLE),
        os.environ.get(SECRET_KEY_VARIABLE),
        filters=filters,
    )


def _source(arguments: argparse.Namespace) -> PortalLogin | DemoPortal:
    if arguments.demo:
        return DemoPortal(
            seed=arguments.demo_seed,
            events=arguments.demo_events,
            scenario=arguments.demo_scenario,
        )

    if not arguments.username:
        raise ConfigurationError(
            "--portal needs --username; the password comes from "
            f"${PASSWORD_VARIABLE} or a prompt"
        )
    password = os.environ.get(PASSWORD_VARIABLE)
    if password is None:
        if not sys.stdin.isatty():
            raise ConfigurationError(
                f"no password: set ${PASSWORD_VARIABLE} "
                "(it is never taken from the command line)"
            )
        password = getpass.getpass(
            f"Password for {arguments.username} at {arguments.portal}: "
        )
    verify: bool | str = True
    if arguments.insecure:
        verify = False
    elif arguments.ca_bundle:
        verify = str(arguments.ca_bundle)
    return PortalLogin(
        arguments.portal, arguments.username, password, arguments.context, verify
    )
