"""The live tree of every cloud folder: its objects, their names and their lists.

Files and directories are told apart by class, and a cloud folder's root by a
class of its own, so every object but a root has a parent. Each drive keeps its
files and directories in lists that random picks are drawn from, with O(1)
removal; the tree keeps every live object by guid.
"""

from __future__ import annotations

import itertools
import random
from typing import ClassVar, TypeAlias, TypeVar

from .content import FileType
from .workload_accounts import CloudFolder

MAX_DEPTH = 7
"""Deepest level a directory may sit at below its cloud folder's root."""

_PERSONAL_CAPS = (500, 60)
_TEAM_CAPS = (2500, 250)
_INITIAL_FILL = 0.4


class Root:
    """The top directory of a cloud folder; it has no parent and never changes."""

    __slots__ = ("children", "drive", "guid", "name")

    parent: ClassVar[None] = None
    file_id: ClassVar[None] = None

    def __init__(self, drive: Drive) -> None:
        self.guid = drive.folder.root_guid
        self.name = drive.folder.name
        self.drive = drive
        self.children: dict[str, Item] = {}


class Dir:
    """A directory below a cloud folder's root."""

    __slots__ = ("acl", "children", "drive", "guid", "name", "parent", "slot")

    file_id: ClassVar[None] = None

    def __init__(
        self, guid: str, parent: Container, name: str, acl: str | None
    ) -> None:
        self.guid = guid
        self.drive: Drive = parent.drive
        self.parent = parent
        self.name = name
        self.acl = acl
        self.children: dict[str, Item] = {}
        self.slot = -1


class File:
    """A file; ``file_id`` names its current version in the content store."""

    __slots__ = (
        "acl",
        "drive",
        "file_id",
        "file_type",
        "guid",
        "name",
        "parent",
        "slot",
    )

    def __init__(
        self,
        guid: str,
        parent: Container,
        name: str,
        acl: str | None,
        file_type: FileType,
        file_id: int,
    ) -> None:
        self.guid = guid
        self.drive: Drive = parent.drive
        self.parent = parent
        self.name = name
        self.acl = acl
        self.file_type = file_type
        self.file_id = file_id
        self.slot = -1


Container: TypeAlias = Root | Dir
"""An object that holds others."""

Item: TypeAlias = Dir | File
"""An object that users create, change and delete."""

Node: TypeAlias = Root | Dir | File
"""Any live object."""

_Listed = TypeVar("_Listed", Dir, File)


class Drive:
    """The live tree of one cloud folder and the lists its objects are drawn from.

    Args:
        folder: the cloud folder whose tree this is.
        team: True for a shared team folder, False for a personal one.
        acls: security descriptors that new objects may carry.

    Attributes:
        file_cap: number of files the folder's population is held below.
        dir_cap: number of directories the folder's population is held below.
        todo_files: files still to create while building the initial tree.
        todo_dirs: directories still to create while building the initial tree.
    """

    __slots__ = (
        "acls",
        "dir_cap",
        "dirs",
        "file_cap",
        "files",
        "folder",
        "root",
        "team",
        "todo_dirs",
        "todo_files",
        "uid",
    )

    def __init__(
        self, folder: CloudFolder, *, team: bool, acls: tuple[str, ...] = ()
    ) -> None:
        self.folder = folder
        self.team = team
        self.uid = folder.uid
        self.acls = acls
        self.root = Root(self)
        self.file_cap, self.dir_cap = _TEAM_CAPS if team else _PERSONAL_CAPS
        self.files: list[File] = []
        self.dirs: list[Dir] = []
        self.todo_dirs = int(self.dir_cap * _INITIAL_FILL)
        self.todo_files = int(self.file_cap * _INITIAL_FILL)


class LiveTree:
    """Every live object by guid, and the changes that keep the tree consistent.

    Names stay unique within a directory: an object placed under a taken name
    gets the first free ``name (2)``, ``name (3)``... instead.

    Args:
        drives: the cloud folders' trees, each holding just its root so far.
    """

    def __init__(self, drives: list[Drive]) -> None:
        self.drives = drives
        self._index: dict[str, Node] = {drive.root.guid: drive.root for drive in drives}

    def __len__(self) -> int:
        """Number of live files and directories, cloud folder roots included."""
        return len(self._index)

    def get(self, guid: str) -> Node | None:
        """The live object with ``guid``, or None for an unknown or deleted one."""
        return self._index.get(guid)

    def alive(self, node: Item) -> bool:
        """Whether ``node`` is still in the tree."""
        return self._index.get(node.guid) is node

    def add(self, node: Item) -> None:
        """Place a new object under its parent, by its name or a free variant."""
        children = node.parent.children
        if node.name in children:
            node.name = _free_name(children, node.name, isinstance(node, File))
        children[node.name] = node

        if isinstance(node, File):
            _push(node.drive.files, node)
        else:
            _push(node.drive.dirs, node)
        self._index[node.guid] = node

    def rename(self, node: Item, name: str) -> None:
        """Give ``node`` a new name in the same directory."""
        parent = node.parent
        del parent.children[node.name]
        _attach(node, parent, name)

    def move(self, node: Item, target: Container) -> None:
        """Move ``node`` into ``target``, keeping its name if it is free there."""
        del node.parent.children[node.name]
        _attach(node, target, node.name)

    def delete(self, node: Item) -> None:
        """Forget ``node`` and all under it; ``node.parent`` stays for its path."""
        del node.parent.children[node.name]
        drive = node.drive
        stack: list[Item] = [node]
        while stack:
            item = stack.pop()
            del self._index[item.guid]
            if isinstance(item, File):
                _drop(drive.files, item)
            else:
                _drop(drive.dirs, item)
                stack.extend(item.children.values())

    def ancestors(self, guid: str) -> list[dict] | None:
        """The object's current ancestry, root directory first, the object last.

        Returns:
            One dict per path component with the keys type, guid, name, folder_id,
            parent_guid and deleted; None for an unknown or deleted object.
        """
        node: Node | None = self._index.get(guid)
        if node is None:
            return None

        chain = []
        while node is not None:
            parent = node.parent
            chain.append(
                {
                    "type": "folder" if node.file_id is None else "file",
                    "guid": node.guid,
                    "name": node.name,
                    "folder_id": node.drive.uid,
                    "parent_guid": None if parent is None else parent.guid,
                    "deleted": False,
                }
            )
            node = parent
        chain.reverse()
        return chain


def pick(rnd: random.Random, items: list[_Listed]) -> _Listed:
    """A uniformly random item of a non-empty list."""
    return items[int(rnd.random() * len(items))]


def depth(node: Node) -> int:
    """Number of directories above ``node``, its cloud folder's root included."""
    levels = 0
    while node.parent is not None:
        node = node.parent
        levels += 1
    return levels


def height(node: Dir) -> int:
    """Levels of directories from ``node`` (counted as 1) down to its deepest one."""
    below = [
        height(child) for child in node.children.values() if isinstance(child, Dir)
    ]
    return 1 + max(below, default=0)


def within(node: Node, ancestor: Dir) -> bool:
    """Whether ``node`` is ``ancestor`` or lies somewhere below it."""
    current: Node | None = node
    while current is not None:
        if current is ancestor:
            return True
        current = current.parent
    return False


def subtree_size(node: Item) -> int:
    """Number of objects in ``node``'s subtree, ``node`` included."""
    size, stack = 0, [node]
    while stack:
        item = stack.pop()
        size += 1
        if isinstance(item, Dir):
            stack.extend(item.children.values())
    return size


def _attach(node: Item, parent: Container, name: str) -> None:
    children = parent.children
    if name in children:
        name = _free_name(children, name, isinstance(node, File))
    node.name = name
    node.parent = parent
    children[name] = node


def _push(items: list[_Listed], node: _Listed) -> None:
    node.slot = len(items)
    items.append(node)


def _drop(items: list[_Listed], node: _Listed) -> None:
    """Remove ``node`` in O(1) by moving the last item into its slot."""
    last = items.pop()
    if last is not node:
        items[node.slot] = last
        last.slot = node.slot


def _free_name(children: dict[str, Item], name: str, is_file: bool) -> str:
    """First of ``name (2)``, ``name (3)``... not taken; a file keeps its extension."""
    stem, dot, ext = name.rpartition(".") if is_file else ("", "", "")
    if not dot:
        stem, ext = name, ""
    for number in itertools.count(2):
        candidate = f"{stem} ({number}){dot}{ext}"
        if candidate not in children:
            return candidate
    raise AssertionError("itertools.count never ends")
