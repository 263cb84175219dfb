"""Serving the simulated portal with uvicorn: foreground, background thread, or process.

* :func:`serve_forever` runs in the foreground until SIGINT or SIGTERM (the CLI).
* :func:`simulated_portal` starts it on a background thread of this process and
  yields its URL (notebooks, tests of one client).
* :func:`simulator_process` starts it as a separate process, so that a benchmark
  gives the portal a core of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from ..errors import ConfigurationError
from .app import create_app
from .config import SimulatorConfig
from .faults import DroppedConnection
from .portal import SimulatedPortal
from .tls import write_self_signed

logger = logging.getLogger("ctera_audit.simulator")

_STOP_TIMEOUT_S = 10


@dataclass
class RunningSimulator:
    """A simulated portal that accepts connections.

    Attributes:
        url: base URL, e.g. ``http://127.0.0.1:53411``.
        portal: the portal state (workload, journal, sessions) behind it.
        cert_path: the certificate to trust when serving HTTPS, else None.
    """

    url: str
    portal: SimulatedPortal
    cert_path: Path | None

    @property
    def host(self) -> str:
        """Host part of the URL."""
        return self.url.split("://", 1)[1].rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        """Port the portal really bound."""
        return int(self.url.rsplit(":", 1)[1])


class _PortalServer(uvicorn.Server):
    """A uvicorn server that answers held longpolls before it shuts down.

    Otherwise a longpoll held past the graceful-shutdown timeout is cancelled,
    which cuts its client off and logs the cancellation as an application error.
    """

    def __init__(self, config: uvicorn.Config, portal: SimulatedPortal) -> None:
        super().__init__(config)
        self.portal = portal

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.portal.stop_holding()
        await super().shutdown(sockets)


class _QuietDrops(logging.Filter):
    """Hides the server's traceback for connections cut on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.exc_info and isinstance(record.exc_info[1], DroppedConnection)
        )


def _prepare(
    config: SimulatorConfig, host: str, port: int, tls: bool, tls_cert: Path | None
) -> tuple[SimulatedPortal, uvicorn.Server, socket.socket, str, Path | None]:
    portal = SimulatedPortal(config)
    portal.generate(config.events)

    ssl: dict[str, str] = {}
    cert_path = None
    if tls:
        key_dir = Path(tempfile.mkdtemp(prefix="ctera-sim-tls-"))
        cert_path = tls_cert or key_dir / "cert.pem"
        write_self_signed(cert_path, key_dir / "key.pem")
        ssl = {"ssl_certfile": str(cert_path), "ssl_keyfile": str(key_dir / "key.pem")}

    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only
        # when the listener says it is TCP; without it small answers wait ~40 ms.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        portal.close()
        raise ConfigurationError(
            f"cannot listen on {host}:{port} ({error.strerror}); choose another --port "
            "or use --port 0 for any free port"
        ) from error

    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    server_config = uvicorn.Config(
        create_app(portal),
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=60,
        timeout_graceful_shutdown=1,
        **ssl,  # type: ignore[arg-type]
    )
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"{'https' if tls else 'http'}://{shown_host}:{bound_port}"
    return portal, _PortalServer(server_config, portal), sock, url, cert_path


async def _serve(
    portal: SimulatedPortal, server: uvicorn.Server, sock: socket.socket
) -> None:
    live = asyncio.create_task(portal.stream_live()) if portal.config.rate > 0 else None
    try:
        await server.serve(sockets=[sock])
    finally:
        if live is not None:
            live.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await live


def serve_forever(
    config: SimulatorConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: bool = False,
    tls_cert: Path | None = None,
    on_ready: Callable[[str], None] = lambda url: None,
) -> None:
    """Serve in the foreground until SIGINT or SIGTERM.

    The backlog (and its ground truth) is complete before ``on_ready`` receives
    the URL, so whoever reads that line can start at once.
    """
    portal, server, sock, url, _ = _prepare(config, host, port, tls, tls_cert)

    async def main() -> None:
        serving = asyncio.create_task(_serve(portal, server, sock))
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            on_ready(url)
        await serving

    try:
        asyncio.run(main())
    finally:
        portal.close()


@contextlib.contextmanager
def simulated_portal(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: bool = False,
) -> Iterator[RunningSimulator]:
    """Run a simulated portal on a background thread for the ``with`` block.

    Example:
        >>> with simulated_portal(SimulatorConfig(events=1000)) as sim:
        ...     print(sim.url)
    """
    portal, server, sock, url, cert_path = _prepare(
        config or SimulatorConfig(), host, port, tls, None
    )
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_serve(portal, server, sock))
        except BaseException as error:  # reported to the caller below
            failure.append(error)

    thread = threading.Thread(target=run, name="ctera-simulator", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.01)
    if failure:
        portal.close()
        raise ConfigurationError(f"the simulated portal failed to start: {failure[0]}")

    try:
        yield RunningSimulator(url, portal, cert_path)
    finally:
        server.should_exit = True
        thread.join(30)
        portal.close()


@contextlib.contextmanager
def simulator_process(*arguments: str) -> Iterator[str]:
    """Run ``python -m ctera_audit simulate ARGUMENTS`` and yield its URL.

    The process is stopped with SIGTERM when the block ends.
    """
    command = [sys.executable, "-m", "ctera_audit", "simulate", *arguments]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("http"):
            raise ConfigurationError(
                "the simulator process exited before serving "
                f"(status {process.wait(5)})"
            )
        yield line
    finally:
        process.terminate()
        try:
            process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
