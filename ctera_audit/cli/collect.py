"""``collect``: follow a portal (or the embedded demo portal) into a dataset."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import sys
from pathlib import Path

from ..collector import Collector, CollectorSettings
from ..content import ContentFilter
from ..errors import ConfigurationError
from ..runner import ContentSettings, DemoPortal, PortalLogin, collect_async
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
    parser.add_argument("--out", type=Path, required=True, help="dataset directory")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--portal", help="portal URL, e.g. https://portal.example.com")
    source.add_argument(
        "--demo", action="store_true", help="collect from the embedded simulated portal"
    )
    parser.add_argument(
        "--context", choices=["admin", "ServicesPortal"], default="admin"
    )
    parser.add_argument("--username", help="portal user name (with --portal)")
    parser.add_argument("--demo-seed", type=int, default=7)
    parser.add_argument("--demo-events", type=int, default=100_000)
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
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after")
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
    parser.add_argument("--log-level", default="WARNING")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Collect until a stop condition, then print a summary paragraph."""
    source = _source(arguments)
    settings = CollectorSettings(
        max_rows=arguments.max_rows,
        max_age_s=arguments.commit_every,
        until_idle=arguments.until_idle,
        max_events=arguments.max_events,
        duration_s=arguments.duration,
    )
    content = _content(arguments)
    progress = None if arguments.no_progress else ProgressBar()
    try:
        summary = asyncio.run(
            _collect(
                arguments.out, source, arguments.folders, settings, progress, content
            )
        )
    finally:
        if progress is not None:
            progress.close()

    print(summary.describe())
    return 0


async def _collect(out, source, folders, settings, progress, content):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()

    def watch_signals(collector: Collector) -> None:
        for number in (signal.SIGINT, signal.SIGTERM):
            name = signal.Signals(number).name
            loop.add_signal_handler(
                number, collector.request_stop, f"{name} was received"
            )

    return await collect_async(
        out,
        source,
        folders=folders,
        settings=settings,
        progress=progress,
        content=content,
        on_start=watch_signals,
    )


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
