"""``simulate``: serve a simulated CTERA Portal in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path

from ..simulator import SCENARIOS, FaultPlan, SimulatorConfig, serve_forever


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` sub-command."""
    defaults = SimulatorConfig()
    parser = commands.add_parser(
        "simulate",
        help="serve a simulated CTERA Portal on loopback",
        description="Serve a simulated CTERA Portal. Prints its base URL once it "
        "accepts connections, then serves until SIGINT or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS, self-signed")
    parser.add_argument(
        "--tls-cert", type=Path, help="where to write the certificate clients trust"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--events", type=int, default=defaults.events, help="backlog size"
    )
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--team-folders", type=int, default=defaults.team_folders)
    parser.add_argument("--username", default=defaults.username)
    parser.add_argument("--password", default=defaults.password)
    parser.add_argument("--access-key-id", default=defaults.access_key_id)
    parser.add_argument("--secret-access-key", default=defaults.secret_access_key)
    parser.add_argument(
        "--ground-truth", type=Path, help="write every served event to this JSONL file"
    )
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="live events per second after the backlog",
    )
    parser.add_argument(
        "--faults",
        default="",
        help="fault spec, e.g. 'error=0.05,drop=0.01,expire=0.01'",
    )
    parser.add_argument(
        "--max-file-size",
        type=int,
        default=defaults.max_file_size,
        metavar="BYTES",
        help="largest file version",
    )
    parser.add_argument(
        "--session-ttl", type=float, help="seconds before a session expires"
    )
    parser.add_argument("--log-level", default="WARNING")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Serve until interrupted."""
    config = SimulatorConfig(
        seed=arguments.seed,
        events=arguments.events,
        rate=arguments.rate,
        users=arguments.users,
        team_folders=arguments.team_folders,
        scenario=arguments.scenario,
        username=arguments.username,
        password=arguments.password,
        access_key_id=arguments.access_key_id,
        secret_access_key=arguments.secret_access_key,
        session_ttl=arguments.session_ttl,
        max_file_size=arguments.max_file_size,
        faults=FaultPlan.parse(arguments.faults),
        ground_truth=str(arguments.ground_truth) if arguments.ground_truth else None,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def announce(url: str) -> None:
        print(url, flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(
            config,
            host=arguments.host,
            port=arguments.port,
            tls=arguments.tls,
            tls_cert=arguments.tls_cert,
            on_ready=announce,
        )
    return 0
