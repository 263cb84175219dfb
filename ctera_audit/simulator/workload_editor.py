"""New files, directories and file versions, named and sized as people would.

The editor draws every name, size, parent and security descriptor from the
workload's main random generator, in a fixed order, so the same seed creates
the same objects; :class:`~.workload_tree.LiveTree` then keeps them in place.
"""

from __future__ import annotations

import bisect
import itertools
import random

from .content import (
    FILE_TYPES,
    ContentStore,
    draw_size,
    file_name,
    folder_name,
    hostile_name,
)
from .workload_accounts import random_guid
from .workload_tree import MAX_DEPTH, Container, Dir, Drive, File, LiveTree, depth

_ACL_SHARE = 0.05
_TYPE_CUMULATIVE = tuple(itertools.accumulate(t.weight for t in FILE_TYPES))


class Editor:
    """Creates files and directories in the live tree and writes new versions.

    Args:
        rnd: the workload's main random generator.
        tree: the live tree new objects are added to.
        content: the store that hands out file version ids.
        hostile_names: share (0.0 to 1.0) of new names made hostile.
        max_file_size: largest size of a file version, in bytes.

    Attributes:
        sizes: size in bytes of every file version, by id.
    """

    def __init__(
        self,
        rnd: random.Random,
        tree: LiveTree,
        content: ContentStore,
        *,
        hostile_names: float,
        max_file_size: int,
    ) -> None:
        self._rnd = rnd
        self._tree = tree
        self._content = content
        self.sizes = content.sizes
        self._hostile = hostile_names
        self._max_size = max_file_size

    def create_file(self, drive: Drive) -> File:
        """Create a file of a random type, name and size somewhere in ``drive``."""
        rnd = self._rnd
        pick = rnd.random() * _TYPE_CUMULATIVE[-1]
        file_type = FILE_TYPES[bisect.bisect(_TYPE_CUMULATIVE, pick)]
        guid = random_guid(rnd)
        size = draw_size(rnd, file_type, self._max_size)
        file_id = self._content.add(size, file_type.kind)
        acl = self._acl(drive)
        parent = self.random_dir(drive)
        name = self.named(file_name(rnd, file_type))

        node = File(guid, parent, name, acl, file_type, file_id)
        self._tree.add(node)
        return node

    def create_dir(self, drive: Drive) -> Dir:
        """Create a directory in ``drive``, named to fit its place in the tree.

        The first few directories go straight under the root; none goes deeper
        than :data:`~.workload_tree.MAX_DEPTH`.
        """
        parent = self.random_dir(drive) if len(drive.dirs) > 3 else drive.root
        level = depth(parent)
        while level >= MAX_DEPTH and isinstance(parent, Dir):
            parent, level = parent.parent, level - 1
        guid = random_guid(self._rnd)
        acl = self._acl(drive)
        name = self.named(folder_name(self._rnd, parent.name, level))

        node = Dir(guid, parent, name, acl)
        self._tree.add(node)
        return node

    def new_version(self, node: File, size: int, kind: int | None = None) -> None:
        """Give ``node`` a new version of ``size`` bytes, capped to the limits.

        Args:
            node: the file that changes.
            size: wanted size; below 0 gives 0, above the largest the largest.
            kind: content kind of the new version; None keeps the current one.
        """
        kind = self._content.kind(node.file_id) if kind is None else kind
        size = min(self._max_size, max(0, size))
        node.file_id = self._content.add(size, kind)

    def random_dir(self, drive: Drive) -> Container:
        """A random directory of ``drive``, its root as likely as any other."""
        dirs = drive.dirs
        index = int(self._rnd.random() * (len(dirs) + 1))
        return dirs[index] if index < len(dirs) else drive.root

    def named(self, name: str) -> str:
        """``name``, or with the configured odds a hostile variant of it."""
        if self._hostile and self._rnd.random() < self._hostile:
            return hostile_name(self._rnd, name)
        return name

    def _acl(self, drive: Drive) -> str | None:
        if drive.acls and self._rnd.random() < _ACL_SHARE:
            return drive.acls[int(self._rnd.random() * len(drive.acls))]
        return None
