"""Many folder-group streams into one dataset, and shards of them across processes.

A portal caps how many cloud folders one notification request may name. Beyond
that cap the folders are split into groups, each followed by its own stream
(its own cursor, checkpoint and file names) into the same dataset. Groups come
from the sorted folder ids cut into runs of the group size, and each is named
after its first folder id (``g1042``), so the same folders and size give the
same groups on every run and each stream resumes from its own checkpoint.

Sharding spreads the groups over processes or machines: shard ``(K, N)`` takes
every group whose index modulo ``N`` is ``K``. Streams never share a file name
or a checkpoint row and each holds its own lock, so shards write one dataset
without touching each other's files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .collector import CollectionSummary, Collector, CollectorSettings, ContentSink
from .dataset.storage import S3Options
from .errors import ConfigurationError, TooManyFoldersError
from .portal import CloudFolderRef, Portal

logger = logging.getLogger("ctera_audit.streams")


@dataclass(frozen=True)
class FolderGroup:
    """Cloud folders followed by one stream."""

    name: str
    """Stream name, ``g`` and the group's smallest folder id."""
    folder_ids: tuple[int, ...]
    """The group's folder ids, ascending."""


def plan_groups(folder_ids: Iterable[int], size: int) -> list[FolderGroup]:
    """Cut the sorted, distinct folder ids into groups of at most ``size``.

    The result depends only on the set of ids and the size, which is what lets
    every group resume its own stream on the next run.

    Raises:
        ConfigurationError: ``size`` is smaller than 1.
    """
    if size < 1:
        raise ConfigurationError(
            f"a stream group must hold at least one folder, not {size}; "
            "give --stream-group-size 1 or more"
        )
    ordered = sorted(set(folder_ids))
    chunks = [tuple(ordered[i : i + size]) for i in range(0, len(ordered), size)]
    return [FolderGroup(f"g{chunk[0]}", chunk) for chunk in chunks]


def select_groups(
    groups: Sequence[FolderGroup],
    *,
    shard: tuple[int, int] | None = None,
    names: Iterable[str] | None = None,
) -> list[FolderGroup]:
    """The groups one process runs: a shard, named groups, or all of them.

    Args:
        groups: every group, in plan order.
        shard: ``(K, N)`` takes the groups whose index modulo ``N`` is ``K``.
        names: explicit group names instead of a shard.

    Raises:
        ConfigurationError: a shard outside ``0 <= K < N``, both a shard and
            names, or a name that is not a group of the plan.
    """
    if shard is not None and names is not None:
        raise ConfigurationError("choose either a shard or group names, not both")
    if shard is not None:
        index, count = shard
        if not 0 <= index < count:
            raise ConfigurationError(
                f"shard {index}/{count} does not exist; write K/N with 0 <= K < N"
            )
        return [group for i, group in enumerate(groups) if i % count == index]
    if names is not None:
        by_name = {group.name: group for group in groups}
        wanted = list(names)
        unknown = [name for name in wanted if name not in by_name]
        if unknown:
            raise ConfigurationError(
                f"no stream group called {', '.join(unknown)}; the groups are "
                f"{', '.join(by_name)}"
            )
        return [by_name[name] for name in wanted]
    return list(groups)


async def learn_folder_limit(portal: Portal, folder_ids: Sequence[int]) -> int:
    """How many folder ids one request may carry, learned from the portal.

    One list call for a single event names every folder; a portal that refuses
    says its limit, which becomes the group size. A portal that accepts takes
    them all in one group.
    """
    try:
        await portal.list_changes(None, folder_ids, max_results=1)
    except TooManyFoldersError as error:
        logger.info(
            "the portal accepts at most %d folders per request; splitting %d folders",
            error.max_size,
            len(folder_ids),
        )
        return error.max_size
    return max(len(folder_ids), 1)


class MultiStreamCollector:
    """Collects many cloud folders as concurrent folder-group streams.

    Args:
        portal: a logged-in :class:`Portal`, shared by the streams.
        out: the dataset directory or ``s3://bucket/prefix``.
        folders: cloud folders to follow (ids, ``OWNER/NAME`` or references);
            None follows every cloud folder the portal lists.
        settings: applied to every stream; its ``stream`` name is replaced by
            each group's name.
        max_folders_per_stream: the group size; None learns the portal's limit.
            Keep it fixed for a dataset: another size gives other groups, whose
            streams start from the beginning or are refused.
        shard: ``(K, N)``: run only the groups whose index modulo ``N`` is ``K``.
        groups: run only these group names (instead of a shard).
        identity: passed to each stream's :class:`Collector`.
        state_dir: local directory of the state store (see :class:`Collector`).
        s3: object store options (see :class:`Collector`).
        content: content capture shared by the streams: one client, one set
            of limits and one store, each stream with partial files of its own.
    """

    def __init__(
        self,
        portal: Portal,
        out: str | Path,
        *,
        folders: Iterable[int | str | CloudFolderRef] | None = None,
        settings: CollectorSettings | None = None,
        max_folders_per_stream: int | None = None,
        shard: tuple[int, int] | None = None,
        groups: Iterable[str] | None = None,
        identity: dict[str, Any] | None = None,
        state_dir: str | Path | None = None,
        s3: S3Options | None = None,
        content: ContentSink | None = None,
    ) -> None:
        self.portal = portal
        self.out = out
        self.folders = list(folders) if folders is not None else None
        self.settings = settings or CollectorSettings()
        self.max_folders_per_stream = max_folders_per_stream
        self.shard = shard
        self.group_names = list(groups) if groups is not None else None
        self.identity = identity
        self.state_dir = state_dir
        self.s3 = s3
        self.content = content
        self.collectors: dict[str, Collector] = {}
        """The running streams by group name; their ``statistics`` show progress."""
        self._stop_reason: str | None = None

    async def plan(self) -> list[FolderGroup]:
        """Every group of the dataset, in order (not only this shard's)."""
        if self.folders is None:
            folder_ids = sorted(await self.portal.cloud_folders())
        else:
            folder_ids = sorted(set(await self.portal.resolve_folders(self.folders)))
        if not folder_ids:
            raise ConfigurationError(
                "the portal lists no cloud folders to follow; check the account's "
                "rights or name the folders"
            )

        size = self.max_folders_per_stream or await learn_folder_limit(
            self.portal, folder_ids
        )
        return plan_groups(folder_ids, size)

    def request_stop(self, reason: str = "a stop was requested") -> None:
        """Ask every stream to commit what it has and end."""
        self._stop_reason = reason
        for collector in self.collectors.values():
            collector.request_stop(reason)

    async def run(self) -> dict[str, CollectionSummary]:
        """Run this process's groups concurrently until each stops; summaries by name.

        When one stream fails, the others are asked to stop (committing what
        they hold) and the first failure is raised once all have ended.
        """
        groups = select_groups(
            await self.plan(), shard=self.shard, names=self.group_names
        )
        # Page reader processes pay for one stream; many would only compete.
        reader_process = self.settings.page_reader_process and len(groups) == 1
        for group in groups:
            settings = dataclasses.replace(
                self.settings, stream=group.name, page_reader_process=reader_process
            )
            self.collectors[group.name] = Collector(
                self.portal,
                self.out,
                folders=group.folder_ids,
                settings=settings,
                identity=self.identity,
                state_dir=self.state_dir,
                s3=self.s3,
                content=self.content,
            )
        if self._stop_reason is not None:
            self.request_stop(self._stop_reason)
        logger.info("running %d stream(s): %s", len(groups), ", ".join(self.collectors))

        tasks = [asyncio.ensure_future(c.run()) for c in self.collectors.values()]
        try:
            summaries = await asyncio.gather(*tasks)
        except BaseException:
            self.request_stop("another stream failed")
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return dict(zip(self.collectors, summaries, strict=True))
