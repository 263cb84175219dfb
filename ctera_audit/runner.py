"""Running a collection end to end: log in (or start the demo portal), collect, log out.

:func:`collect_async` is the coroutine; :func:`collect` the blocking call for
scripts and notebooks. Both take either a :class:`PortalLogin` or a
:class:`DemoPortal`, the embedded simulated portal that needs no network and no
credentials.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .collector import (
    CollectionSummary,
    Collector,
    CollectorSettings,
    ContentSink,
    Progress,
)
from .errors import ConfigurationError
from .loop import run_blocking
from .portal import CloudFolderRef, Context, Portal


@dataclass(frozen=True)
class PortalLogin:
    """Where and how to log in to a real portal."""

    url: str
    """Portal URL with scheme and port, e.g. ``https://portal.example.com``."""
    username: str
    """User name of an administrator allowed to read notifications."""
    password: str = field(repr=False)
    """The password; never logged, never shown in a repr."""
    context: Context = "admin"
    """``admin`` for the global administration, ``ServicesPortal`` for a tenant."""
    verify: bool | str = True
    """TLS verification: on, off, or the path of a CA bundle."""


@dataclass(frozen=True)
class DemoPortal:
    """The embedded simulated portal, started for the run and stopped after it."""

    seed: int = 7
    """Workload seed: the same seed gives the same events."""
    events: int = 100_000
    """Events waiting in its backlog."""
    scenario: str | None = None
    """A named incident in the workload (see ``ctera_audit.simulator.SCENARIOS``)."""
    rate: float = 0.0
    """Events per second arriving live after the backlog."""


async def collect_async(
    out: str | Path,
    source: PortalLogin | DemoPortal,
    *,
    folders: Iterable[int | str | CloudFolderRef] | None = None,
    settings: CollectorSettings | None = None,
    progress: Progress | None = None,
    content: ContentSink | None = None,
    on_start: Progress | None = None,
) -> CollectionSummary:
    """Collect events from ``source`` into the dataset at ``out``.

    ``on_start`` receives the collector once it exists, so a caller (a signal
    handler, a notebook) can ask it to stop.
    """
    with _login_target(source) as (login, identity):
        portal = Portal(login.url, context=login.context, verify=login.verify)
        async with portal:
            await portal.login(login.username, login.password)
            collector = Collector(
                portal,
                out,
                folders=folders,
                settings=settings,
                identity=identity,
                progress=progress,
                content=content,
            )
            if on_start is not None:
                on_start(collector)  # type: ignore[arg-type]
            return await collector.run()


def collect(
    out: str | Path,
    source: PortalLogin | DemoPortal,
    *,
    folders: Iterable[int | str | CloudFolderRef] | None = None,
    settings: CollectorSettings | None = None,
    progress: Progress | None = None,
) -> CollectionSummary:
    """Blocking form of :func:`collect_async`, for scripts and notebooks.

    Example:
        >>> summary = collect("events", DemoPortal(events=10_000),
        ...                   settings=CollectorSettings(until_idle=True))
        >>> print(summary.describe())
    """
    return run_blocking(
        collect_async(
            out, source, folders=folders, settings=settings, progress=progress
        )
    )


@contextlib.contextmanager
def _login_target(
    source: PortalLogin | DemoPortal,
) -> Iterator[tuple[PortalLogin, dict[str, object] | None]]:
    if isinstance(source, PortalLogin):
        yield source, None
        return
    if not isinstance(source, DemoPortal):
        raise ConfigurationError(
            f"cannot collect from {source!r}; give a PortalLogin or a DemoPortal"
        )

    from .simulator import SimulatorConfig, simulated_portal

    config = SimulatorConfig(
        seed=source.seed,
        events=source.events,
        scenario=source.scenario,
        rate=source.rate,
    )
    with simulated_portal(config) as simulator:
        login = PortalLogin(simulator.url, config.username, config.password)
        identity = {"portal": "embedded simulated portal", "seed": source.seed}
        if source.scenario:
            identity["scenario"] = source.scenario
        yield login, identity
