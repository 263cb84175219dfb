"""Full paths at event time, from a folder tree learned as the stream goes by.

The naive way names each event with one ancestors call: a round trip per event,
and nothing at all for deleted objects. Instead the resolver keeps the folder
tree (guid -> name and parent) that folder events and ancestors answers teach it,
walks it to name an event's parent, applies folder renames, moves and deletes in
stream order so later paths follow, and calls ancestors only for a parent it has
never seen: once per unknown guid, however many events wait for it.

Files are not kept in the tree: every event names its own parent, so a file's
path is its parent's path plus its name, deleted or not.

A page is named as a whole, from its :class:`PageOutline`: each distinct parent
is looked up once, and the rows take their parent's path by index, in Arrow.
Folder events are applied in order. The rows between two folder events that
change existing paths (a rename, a move, a folder forgotten) are named against
the tree as it stands at the end of that run, which is the tree at each row's
time: within the run it only grows. The one difference is a folder created in
the run after a row that already names it as parent: it names that row too,
rather than leaving it unresolved.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrowtext import storable_strings
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
_NO_PARENT = f"{UNRESOLVED}:no parent guid"

NamedRows = tuple[pa.Array, pa.Array, pa.Array]
"""Paths, parent paths and path statuses of a page's rows, as Arrow arrays."""


@dataclass(frozen=True, slots=True)
class FolderEvent:
    """A folder event of a page: what it does to the tree."""

    row: int
    guid: str
    name: str
    parent: str | None
    deleted: bool


@dataclass(frozen=True, slots=True)
class PageOutline:
    """What naming a page needs from it, in a shape both page readers give cheaply.

    Attributes:
        parents: the distinct parent guids, in order of first appearance.
        parent_codes: per row, the index of its parent in ``parents``, or
            ``len(parents)`` for a row without a parent guid.
        names: per row, the object's name, storable as UTF-8.
        folders: the folder events, in row order.
        folder_ids: per row, the cloud folder id as the portal sent it (for
            ancestors calls).
    """

    parents: list[str]
    parent_codes: np.ndarray
    names: pa.Array
    folders: list[FolderEvent]
    folder_ids: Sequence[Any]

    @classmethod
    def from_entries(cls, entries: Sequence[dict[str, Any]]) -> PageOutline:
        """Outline entries parsed into dicts (their type, guid, name and deleted
        checked already)."""
        index: dict[str, int] = {}
        codes = []
        for entry in entries:
            parent = entry.get("parent_guid")
            codes.append(
                index.setdefault(parent, len(index)) if type(parent) is str else -1
            )
        parent_codes = np.array(codes, dtype=np.int64)
        parent_codes[parent_codes < 0] = len(index)

        folders = [
            FolderEvent(
                row,
                entry["guid"],
                entry["name"],
                _guid_or_none(entry.get("parent_guid")),
                entry["deleted"],
            )
            for row, entry in enumerate(entries)
            if entry["type"] != "file"
        ]
        names = storable_strings([entry["name"] for entry in entries])
        folder_ids = [entry.get("folder_id") for entry in entries]
        return cls(list(index), parent_codes, names, folders, folder_ids)

    @classmethod
    def from_columns(cls, entries: pa.StructArray) -> PageOutline:
        """Outline entries read as Arrow columns (no null in type, guid, name
        or deleted)."""
        encoded = entries.field("parent_guid").dictionary_encode()
        parents = encoded.dictionary.to_pylist()
        parent_codes = encoded.indices.fill_null(len(parents)).to_numpy()

        is_folder = pc.not_equal(entries.field("type"), "file")
        rows = pc.indices_nonzero(is_folder)
        fields = [
            rows,
            *(
                pc.take(entries.field(name), rows)
                for name in ("guid", "name", "parent_guid", "deleted")
            ),
        ]
        folders = [
            FolderEvent(*values)
            for values in zip(*(f.to_pylist() for f in fields), strict=True)
        ]
        folder_ids = entries.field("folder_id").to_pylist()
        return cls(parents, parent_codes, entries.field("name"), folders, folder_ids)

    def first_row(self, code: int) -> int:
        """The first row whose parent is ``parents[code]``."""
        return int(np.argmax(self.parent_codes == code))


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
        max_folders: bound on the folders kept. Past it, before a page, the
            least recently used folders with none of their own below them are
            dropped, so every folder kept keeps its parents; an event that
            needs one again asks the portal.
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
        self._keep_within_bound()

    def __len__(self) -> int:
        return len(self._folders)

    async def prepare(self, page: PageOutline) -> None:
        """Learn, before naming a page, every parent it needs that is unknown.

        Folders created in the page before a row names them are not unknown;
        everything else missing from the tree is fetched concurrently, once per
        guid.
        """
        self._keep_within_bound()
        known, failed = self._folders, self._failed
        unknown = [
            code
            for code, guid in enumerate(page.parents)
            if guid not in known and guid not in failed
        ]
        if not unknown:
            return

        created: dict[str, int] = {}
        for event in page.folders:
            created.setdefault(event.guid, event.row)
        wanted: dict[str, int | None] = {}
        for code in unknown:
            guid, first = page.parents[code], page.first_row(code)
            if created.get(guid, first) >= first:
                wanted[guid] = page.folder_ids[first]
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

    def resolve_page(self, page: PageOutline) -> NamedRows:
        """Name a page of events and apply its folder events, in stream order.

        Returns the paths, parent paths and statuses as Arrow arrays, the shape
        the page's columns are built from. A row's path is null when it could
        not be named; its status then says why.
        """
        naming = _PageNaming(page, self._path_of)
        for event in page.folders:
            if self._reshapes(event):
                naming.name_rows_before(event.row)
                changed = self._apply_folder(
                    event.guid, event.name, event.parent, event.deleted
                )
                naming.forget_answers(changed)
                continue

            created = event.guid not in self._folders
            self._apply_folder(event.guid, event.name, event.parent, event.deleted)
            if created:
                naming.retry_unresolved()
        naming.name_rows_before(len(page.parent_codes))
        named = naming.result()
        self._keep_within_bound()
        return named

    def _reshapes(self, event: FolderEvent) -> bool:
        """Whether applying ``event`` may change how a folder already known is
        named: its path, or, for a folder an ancestors answer taught, only
        whether the name is event-time true (rows before the event must not
        take the stream's word for it)."""
        folder = self._folders.get(event.guid)
        if folder is not None:
            moved_or_renamed = (folder.name, folder.parent) != (
                event.name,
                event.parent,
            )
            if moved_or_renamed or not folder.from_stream:
                return True
        return event.deleted and len(self._deletions) >= self._remembered_deletions

    def _name(self, parent: Any, name: str) -> tuple[str | None, str | None, str]:
        if not isinstance(parent, str):
            return None, None, _NO_PARENT
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
        forgotten = [guid for guid in self._forgotten if guid not in self._folders]
        self._changed.clear()
        self._forgotten.clear()
        return changed, forgotten

    def _apply_folder(
        self, guid: str, name: str, parent: Any, deleted: bool
    ) -> list[str]:
        """Apply a folder event to the tree; return the folders whose paths it
        may have changed."""
        changed: list[str] = []
        folder = self._folders.get(guid)
        parent = _guid_or_none(parent)
        if folder is not None:
            if (folder.name, folder.parent) != (name, parent):
                changed += self._forget_paths_below(guid)
            if folder.parent != parent and folder.parent is not None:
                self._children.get(folder.parent, set()).discard(guid)
        self._folders[guid] = Folder(name, parent, deleted)
        if parent is not None:
            self._children.setdefault(parent, set()).add(guid)
        self._changed.add(guid)
        if deleted:
            changed += self._remember_deletion(guid)
        return changed

    def _remember_deletion(self, guid: str) -> list[str]:
        """Keep deleted folders for a while, then forget the oldest.

        A portal may still name a deleted folder as the parent of events that
        follow its deletion, so it is kept; but only the most recent deletions,
        or a long-running collector's tree would grow with every folder ever
        deleted. Returns the folders whose paths forgetting changed.
        """
        self._deletions.append(guid)
        if len(self._deletions) <= self._remembered_deletions:
            return []

        oldest = self._deletions.popleft()
        folder = self._folders.get(oldest)
        if folder is None or not folder.deleted:
            return []
        del self._folders[oldest]
        changed = self._forget_paths_below(oldest)
        self._children.pop(oldest, None)
        if folder.parent is not None:
            self._children.get(folder.parent, set()).discard(oldest)
        self._changed.discard(oldest)
        self._forgotten.add(oldest)
        return changed

    def _forget_paths_below(self, guid: str) -> list[str]:
        """Drop the cached paths of a folder and everything under it; return
        the folders visited."""
        visited = [guid]
        seen = {guid}
        for current in visited:  # grows as it goes: a walk of the subtree
            self._paths.pop(current, None)
            for child in self._children.get(current, ()):
                if child not in seen:
                    seen.add(child)
                    visited.append(child)
        return visited

    def _path_of(self, guid: str) -> tuple[str | None, str]:
        folder = self._folders.pop(guid, None)
        if folder is not None:
            self._folders[guid] = folder  # the most recently used go last
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

    def _keep_within_bound(self) -> None:
        """Past the bound, drop folders down to nine tenths of it.

        Only folders with nothing of the tree below them go, least recently
        used first, so no walk ever meets a missing ancestor; the state store
        forgets them with the next commit, and a restart loads a tree within
        the bound. Called between pages (before one is prepared and after one
        is named): while a page is named the tree may hold that page's own
        folders past the bound, but never loses one it was prepared with.
        """
        if len(self._folders) <= self._max_folders:
            return

        excess = len(self._folders) - int(self._max_folders * 0.9)
        while excess > 0:
            leaves = list(
                itertools.islice(
                    (guid for guid in self._folders if not self._children.get(guid)),
                    excess,
                )
            )
            if not leaves:
                break
            for guid in leaves:
                self._drop_leaf(guid)
            excess -= len(leaves)
            self.statistics.evictions += len(leaves)

    def _drop_leaf(self, guid: str) -> None:
        folder = self._folders.pop(guid)
        self._children.pop(guid, None)
        if folder.parent is not None:
            self._children.get(folder.parent, set()).discard(guid)
        self._paths.pop(guid, None)
        self._changed.discard(guid)
        self._forgotten.add(guid)


def _guid_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _PageNaming:
    """The rows of one page, named a run at a time.

    Each parent's lookup is kept in a slot, and a row takes its parent's slot
    as it stands when the row's run ends. After a folder event that changes
    existing paths every parent is looked up again for the rows that follow;
    after a folder is created, so are the parents that could not be named.
    """

    def __init__(
        self, page: PageOutline, lookup: Callable[[str], tuple[str | None, str]]
    ) -> None:
        self._page = page
        self._lookup = lookup
        self._answers: list[tuple[str | None, str]] = [(None, _NO_PARENT)]
        self._slot_of = np.full(len(page.parents) + 1, -1, dtype=np.int64)
        self._slot_of[-1] = 0  # the code of rows without a parent guid
        self._row_slots = np.zeros(len(page.parent_codes), dtype=np.int64)
        self._named = 0
        self._unresolved = False
        self._code_of: dict[str, int] | None = None

    def name_rows_before(self, end: int) -> None:
        """Name the rows not named yet, up to ``end``, from the tree as it is."""
        codes = self._page.parent_codes[self._named : end]
        missing = codes[self._slot_of[codes] < 0]
        for code in np.unique(missing).tolist():
            answer = self._lookup(self._page.parents[code])
            self._slot_of[code] = len(self._answers)
            self._answers.append(answer)
            self._unresolved = self._unresolved or answer[0] is None
        self._row_slots[self._named : end] = self._slot_of[codes]
        self._named = end

    def forget_answers(self, folders: list[str] | None = None) -> None:
        """Look up again the parents among ``folders`` (None: all of them)."""
        if folders is None:
            self._slot_of[:-1] = -1
            self._unresolved = False
            return

        if self._code_of is None:
            self._code_of = {guid: code for code, guid in enumerate(self._page.parents)}
        for guid in folders:
            code = self._code_of.get(guid)
            if code is not None:
                self._slot_of[code] = -1

    def retry_unresolved(self) -> None:
        """Look up again every parent, if any could not be named."""
        if self._unresolved:
            self.forget_answers()

    def result(self) -> NamedRows:
        slots = pa.array(self._row_slots)
        paths, statuses = zip(*self._answers, strict=True)
        parent_paths = storable_strings(paths).take(slots)
        named_by = pa.array(statuses, pa.string()).take(slots)
        full_paths = pc.binary_join_element_wise(parent_paths, self._page.names, "/")
        return full_paths, parent_paths, named_by.dictionary_encode()
