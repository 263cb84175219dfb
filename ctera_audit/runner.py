"""Running a collection end to end: log in (or start the demo portal), collect, log out.

:func:`collect_async` is the coroutine; :func:`collect` the blocking call for
scripts and notebooks. Both take either a :class:`PortalLogin` or a
:class:`DemoPortal`, the embedded simulated portal that needs no network and no
credentials.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .collector import CollectionSummary, Collector, CollectorSettings, Progress
from .content import ContentCapture, ContentFilter
from .dataset.storage import S3Options
from .directio import DirectIOClient
from .errors import ConfigurationError
from .loop import run_blocking
from .portal import CloudFolderRef, Context, Portal
from .streams import MultiStreamCollector


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


@dataclass(frozen=True)
class ContentSettings:
    """Whether and how each file version's content is captured through DirectIO."""

    mode: Literal["off", "hash", "store"] = "off"
    """``hash`` records each version's SHA-256 and size; ``store`` also keeps the
    bytes under ``OUT/_content``."""
    access_key_id: str | None = field(default=None, repr=False)
    """DirectIO access key id; for a DemoPortal, defaults to the simulator's."""
    secret_access_key: str | None = field(default=None, repr=False)
    """DirectIO secret access key; never logged, never shown in a repr."""
    filters: ContentFilter = field(default_factory=ContentFilter)
    """Which events qualify."""
    max_concurrent_files: int = 8
    """Most versions read at once."""
    max_bytes_in_flight: int = 256 << 20
    """Most content bytes held in memory at once."""
    page_timeout_s: float = 120.0
    """Longest a page of events waits for its contents."""


@dataclass(frozen=True)
class StreamPlan:
    """Split the folders into groups that each run as a stream of their own."""

    max_folders_per_stream: int | None = None
    """Folders per group; None learns the portal's limit. Keep it fixed for a
    dataset: another size makes other groups."""
    shard: tuple[int, int] | None = None
    """``(K, N)``: run only the groups whose index modulo N is K."""


@dataclass(frozen=True)
class Destination:
    """Where the dataset and its state live."""

    state_dir: str | Path | None = None
    """Local directory of the state store; needed for an ``s3://`` dataset."""
    s3: S3Options | None = None
    """Object-store endpoint and credentials (default: the AWS_* variables)."""


async def collect_async(
    out: str | Path,
    source: PortalLogin | DemoPortal,
    *,
    folders: Iterable[int | str | CloudFolderRef] | None = None,
    settings: CollectorSettings | None = None,
    progress: Progress | None = None,
    content: ContentSettings | None = None,
    streams: StreamPlan | None = None,
    destination: Destination | None = None,
    on_start: Callable[[Collector | MultiStreamCollector], None] | None = None,
) -> CollectionSummary:
    """Collect events from ``source`` into the dataset at ``out``.

    ``out`` is a local directory or ``s3://bucket/prefix``. ``content`` turns on
    content capture through DirectIO, at the portal's URL. ``streams`` splits
    the folders into concurrent folder-group streams (a summary of all of them
    is returned). ``on_start`` receives the collector once it exists, so a
    caller (a signal handler, a notebook) can ask it to stop.
    """
    place = destination or Destination()
    with _login_target(source) as (login, identity, demo_keys):
        capture = _content_capture(content, login, out, demo_keys)
        portal = Portal(login.url, context=login.context, verify=login.verify)
        try:
            async with portal:
                await portal.login(login.username, login.password)
                collector: Collector | MultiStreamCollector
                if streams is None:
                    collector = Collector(
                        portal,
                        out,
                        folders=folders,
                        settings=settings,
                        identity=identity,
                        progress=progress,
                        content=capture,
                        state_dir=place.state_dir,
                        s3=place.s3,
                    )
                else:
                    collector = MultiStreamCollector(
                        portal,
                        out,
                        folders=folders,
                        settings=settings,
                        max_folders_per_stream=streams.max_folders_per_stream,
                        shard=streams.shard,
                        identity=identity,
                        state_dir=place.state_dir,
                        s3=place.s3,
                        content=capture,
                    )
                if on_start is not None:
                    on_start(collector)
                result = await collector.run()
        finally:
            if capture is not None:
                await capture.client.aclose()
    return result if isinstance(result, CollectionSummary) else _combined(result)


def _combined(summaries: dict[str, CollectionSummary]) -> CollectionSummary:
    """One summary for several streams: totals, the slowest stream's time."""
    parts = list(summaries.values())
    if not parts:
        raise ConfigurationError("this shard holds no folder group; check --shard")
    return CollectionSummary(
        events=sum(p.events for p in parts),
        pages=sum(p.pages for p in parts),
        commits=sum(p.commits for p in parts),
        files=sum(p.files for p in parts),
        committed_events=sum(p.committed_events for p in parts),
        elapsed_s=max(p.elapsed_s for p in parts),
        cursor=None,
        ancestors_calls=sum(p.ancestors_calls for p in parts),
        unresolved=sum(p.unresolved for p in parts),
        stopped_because=f"{len(parts)} stream(s) ended: {parts[0].stopped_because}",
    )


def collect(
    out: str | Path,
    source: PortalLogin | DemoPortal,
    *,
    folders: Iterable[int | str | CloudFolderRef] | None = None,
    settings: CollectorSettings | None = None,
    progress: Progress | None = None,
    content: ContentSettings | None = None,
) -> CollectionSummary:
    """Blocking form of :func:`collect_async`, for scripts and notebooks.

    Example:
        >>> summary = collect("events", DemoPortal(events=10_000),
        ...                   settings=CollectorSettings(until_idle=True))
        >>> print(summary.describe())
    """
    return run_blocking(
        collect_async(
            out,
            source,
            folders=folders,
            settings=settings,
            progress=progress,
            content=content,
        )
    )


def _content_capture(
    content: ContentSettings | None,
    login: PortalLogin,
    out: str | Path,
    demo_keys: tuple[str, str] | None,
) -> ContentCapture | None:
    if content is None or content.mode == "off":
        return None
    if content.mode == "store" and str(out).startswith("s3://"):
        raise ConfigurationError(
            "--content store keeps files on a local disk; with an s3:// dataset "
            "use --content hash"
        )

    access_key_id, secret = content.access_key_id, content.secret_access_key
    if demo_keys is not None:
        access_key_id = access_key_id or demo_keys[0]
        secret = secret or demo_keys[1]
    if not access_key_id or not secret:
        raise ConfigurationError(
            f"content mode {content.mode!r} needs a DirectIO key pair; set "
            "CTERA_ACCESS_KEY_ID and CTERA_SECRET_ACCESS_KEY (or give them in "
            "ContentSettings), or collect with --content off"
        )
    client = DirectIOClient(
        login.url,
        access_key_id,
        secret,
        verify=login.verify,
        max_concurrency=content.max_concurrent_files,
        max_bytes_in_flight=min(64 << 20, content.max_bytes_in_flight),
    )
    return ContentCapture(
        client,
        mode=content.mode,
        store=Path(out) / "_content" if content.mode == "store" else None,
        filters=content.filters,
        max_concurrent_files=content.max_concurrent_files,
        max_bytes_in_flight=content.max_bytes_in_flight,
        page_timeout_s=content.page_timeout_s,
    )


@contextlib.contextmanager
def _login_target(
    source: PortalLogin | DemoPortal,
) -> Iterator[tuple[PortalLogin, dict[str, object] | None, tuple[str, str] | None]]:
    """Yield the login, the dataset identity and, for the demo, its DirectIO keys."""
    if isinstance(source, PortalLogin):
        yield source, None, None
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
        yield login, identity, (config.access_key_id, config.secret_access_key)
