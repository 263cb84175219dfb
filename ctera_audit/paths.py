"""Full paths at event time, from a folder tree learned as the stream goes by.

The naive way names each event with one ancestors call: a round trip per event,
and nothing at all for deleted objects. Instead the resolver keeps the folder
tree (guid -> name and parent) that folder events and ancestors answers teach it,
walks it to name an event's parent, applies folder renames, moves and deletes in
stream order so later paths follow, and calls ancestors only for a parent it has
never seen: once per unknown guid, however many events wait for it.

Files are not kept in the tree: every event names its own parent, so a file's
path is its parent's path plus its name, deleted or not.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import AncestorsUnavailableError, CteraAuditError

logger = logging.getLogger("ctera_audit.paths")

Ancestors = Callable[[int | None, str], Awaitable[list[dict[str, Any]]]]
FolderRecord = tuple[str, str, str | None, bool, bool]
"""A persisted folder: guid, name, parent guid, deleted, learned from the stream."""

_MAX_REMEMBERED_FAILURES = 100_000
_MAX_DEPTH = 4096

TREE = "tree"
"""Path status: named from the tree learned from the stream."""
ANCESTORS = "ancestors"
"""Path status: a directory below the root was learned from an ancestors answer
(the portal's current state, which matches event time unless it changed since).
Roots learned that way do not count: a cloud folder's root is never renamed."""
UNRESOLVED = "unresolved"
"""Path status prefix: the path could not be named; the reason follows a colon."""


@dataclass(slots=True)
class Folder:
    """What the tree knows of one directory."""

    name: str
    parent: str | None
    deleted: bool = False
    from_stream: bool = True


@dataclass(slots=True)
class ResolverStatistics:
    """Counters of the resolver's work."""

    ancestors_calls: int = 0
    ancestors_failures: int = 0
    evictions: int = 0


class PathResolver:
    """Names events with their full path at event time.

    Args:
        ancestors: the portal's ancestors call, ``(folder_id, guid) -> chain``.
        folders: a tree persisted by an earlier run, to start warm.
        max_folders: bound on the folders kept; the oldest learned are dropped
            past it (and asked for again should an event need them).
        remembered_deletions: how many deleted folders are kept, newest first,
            for events that still name them as a parent.
        concurrency: ancestors calls in flight at once.
    """

    def __init__(
        self,
        ancestors: Ancestors,
        folders: Iterable[FolderRecord] = (),
        *,
        max_folders: int = 2_000_000,
        remembered_deletions: int = 20_000,
        concurrency: int = 8,
    ) -> None:
        self._ancestors = ancestors
        self._folders: dict[str, Folder] = {
            guid: Folder(name, parent, deleted, from_stream)
            for guid, name, parent, deleted, from_stream in folders
        }
        self._max_folders = max_folders
        self._remembered_deletions = remembered_deletions
        self._children: dict[str, set[str]] = {}
        self._index_children()
        self._paths: dict[str, tuple[str, str]] = {}
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._failed: dict[str, str] = {}
        self._limit = asyncio.Semaphore(concurrency)
        self._changed: set[str] = set()
        self._forgotten: set[str] = set()
        self._deletions: deque[str] = deque(
            guid for guid, folder in self._folders.items() if folder.deleted
        )
        self.statistics = ResolverStatistics()

    def __len__(self) -> int:
        return len(self._folders)

    async def prepare(self, entries: list[dict[str, Any]]) -> None:
        """Learn, before naming a page, every parent it needs that is unknown.

        Folders created earlier in the same page are not unknown; everything
        else missing from the tree is fetched concurrently, once per guid.
        """
        known, failed = self._folders, self._failed
        created_here: set[str] = set()
        wanted: dict[str, int | None] = {}
        for entry in entries:
            parent = entry.get("parent_guid")
            unknown = parent not in known and parent not in created_here
            if isinstance(parent, str) and unknown and parent not in failed:
                wanted.setdefault(parent, entry.get("folder_id"))
            if entry["type"] != "file":
                created_here.add(entry["guid"])

        if wanted:
            await asyncio.gather(
                *(self._learn(guid, folder) for guid, folder in wanted.items())
            )

    def resolve(self, entry: dict[str, Any]) -> tuple[str | None, str | None, str]:
        """Name one event and apply it to the tree; call in stream order.

        Returns ``(path, parent_path, status)``. A folder event is applied first,
        so its path carries its new name and place.
        """
        parent = entry.get("parent_guid")
        if entry["type"] != "file":
            self._apply_folder(entry["guid"], entry["name"], parent, entry["deleted"])
        return self._name(parent, entry["name"])

    def resolve_page(
        self, entries: list[dict[str, Any]]
    ) -> tuple[list[str | None], list[str | None], list[str]]:
        """Name a page of events in order, as :meth:`resolve` does for one.

        Returns the paths, parent paths and statuses as three lists: the shape
        the page's columns are built from. The common case, a parent whose path
        is cached, is handled inline because it runs once per event.
        """
        paths: list[str | None] = []
        parent_paths: list[str | None] = []
        statuses: list[str] = []
        cached = self._paths
        for entry in entries:
            parent = entry.get("parent_guid")
            name = entry["name"]
            if entry["type"] != "file":
                self._apply_folder(entry["guid"], name, parent, entry["deleted"])

            hit = cached.get(parent) if type(parent) is str else None
            if hit is None:
                path, parent_path, status = self._name(parent, name)
            else:
                parent_path, status = hit
                path = f"{parent_path}/{name}"
            paths.append(path)
            parent_paths.append(parent_path)
            statuses.append(status)
        return paths, parent_paths, statuses

    def _name(self, parent: Any, name: str) -> tuple[str | None, str | None, str]:
        if not isinstance(parent, str):
            return None, None, f"{UNRESOLVED}:no parent guid"
        parent_path, status = self._path_of(parent)
        if parent_path is None:
            return None, None, status
        return f"{parent_path}/{name}", parent_path, status

    def take_changes(self) -> tuple[list[FolderRecord], list[str]]:
        """Folders changed and folders forgotten since the last call, for the
        state store to persist with the next commit."""
        changed = [
            (guid, folder.name, folder.parent, folder.deleted, folder.from_stream)
            for guid in self._changed
            if (folder := self._folders.get(guid)) is not None
        ]
        forgotten = list(self._forgotten)
        self._changed.clear()
        self._forgotten.clear()
        return changed, forgotten

    def _apply_folder(self, guid: str, name: str, parent: Any, deleted: bool) -> None:
        folder = self._folders.get(guid)
        parent = parent if isinstance(parent, str) else None
        if folder is not None:
            if (folder.name, folder.parent) != (name, parent):
                self._forget_paths_below(guid)
            if folder.parent != parent and folder.parent is not None:
                self._children.get(folder.parent, set()).discard(guid)
        self._folders[guid] = Folder(name, parent, deleted)
        if parent is not None:
            self._children.setdefault(parent, set()).add(guid)
        self._changed.add(guid)
        if deleted:
            self._remember_deletion(guid)
        if len(self._folders) > self._max_folders:
            self._evict()

    def _remember_deletion(self, guid: str) -> None:
        """Keep deleted folders for a while, then forget the oldest.

        A portal may still name a deleted folder as the parent of events that
        follow its deletion, so it is kept; but only the most recent deletions,
        or a long-running collector's tree would grow with every folder ever
        deleted.
        """
        self._deletions.append(guid)
        if len(self._deletions) <= self._remembered_deletions:
            return

        oldest = self._deletions.popleft()
        folder = self._folders.get(oldest)
        if folder is not None and folder.deleted:
            del self._folders[oldest]
            self._forget_paths_below(oldest)
            self._children.pop(oldest, None)
            if folder.parent is not None:
                self._children.get(folder.parent, set()).discard(oldest)
            self._changed.discard(oldest)
            self._forgotten.add(oldest)

    def _forget_paths_below(self, guid: str) -> None:
        """Drop the cached paths of a folder and everything under it."""
        stack = [guid]
        while stack:
            current = stack.pop()
            self._paths.pop(current, None)
            stack.extend(self._children.get(current, ()))

    def _path_of(self, guid: str) -> tuple[str | None, str]:
        cached = self._paths.get(guid)
        if cached is not None:
            return cached

        folders = self._folders
        names: list[str] = []
        status = TREE
        current: str | None = guid
        for _ in range(_MAX_DEPTH):
            folder = folders.get(current)  # type: ignore[arg-type]
            if folder is None:
                reason = self._failed.get(current, "parent unknown")  # type: ignore[arg-type]
                return None, f"{UNRESOLVED}:{reason}"
            if not folder.from_stream and folder.parent is not None:
                status = ANCESTORS
            names.append(folder.name)
            current = folder.parent
            if current is None:
                names.reverse()
                resolved = "/".join(names), status
                self._paths[guid] = resolved
                return resolved
        return None, f"{UNRESOLVED}:folder loop above {guid}"

    def _index_children(self) -> None:
        self._children.clear()
        for guid, folder in self._folders.items():
            if folder.parent is not None:
                self._children.setdefault(folder.parent, set()).add(guid)

    async def _learn(self, guid: str, folder_id: int | None) -> None:
        pending = self._pending.get(guid)
        if pending is not None:
            await pending
            return

        future = asyncio.get_running_loop().create_future()
        self._pending[guid] = future
        try:
            async with self._limit:
                self.statistics.ancestors_calls += 1
                chain = await self._ancestors(folder_id, guid)
            self._learn_chain(chain)
        except AncestorsUnavailableError:
            self.statistics.ancestors_failures += 1
            if len(self._failed) > _MAX_REMEMBERED_FAILURES:
                self._failed.clear()
            self._failed[guid] = "parent deleted before it was seen"
        except CteraAuditError as error:
            self.statistics.ancestors_failures += 1
            self._failed[guid] = f"ancestors failed ({type(error).__name__})"
            logger.warning("could not learn the parents of %s: %s", guid, error)
        finally:
            future.set_result(None)
            del self._pending[guid]

    def _learn_chain(self, chain: list[dict[str, Any]]) -> None:
        """Add the folders of an ancestors answer that the stream has not taught us.

        The answer is root first; an item without ``parent_guid`` takes the one
        before it as parent. What the stream taught wins: it is event-time true.
        """
        previous: str | None = None
        for item in chain:
            guid, name = item.get("guid"), item.get("name")
            if not isinstance(guid, str) or not isinstance(name, str):
                return
            parent = item.get("parent_guid", previous)
            is_folder = item.get("type", "folder") != "file"
            if is_folder and guid not in self._folders:
                parent = parent if isinstance(parent, str) else None
                self._folders[guid] = Folder(name, parent, from_stream=False)
                if parent is not None:
                    self._children.setdefault(parent, set()).add(guid)
                self._changed.add(guid)
            previous = guid

    def _evict(self) -> None:
        """Drop the oldest tenth of the tree; an event needing it asks again."""
        count = len(self._folders) // 10
        for guid in list(self._folders)[:count]:
            del self._folders[guid]
        self._index_children()
        self._paths.clear()
        self.statistics.evictions += count
