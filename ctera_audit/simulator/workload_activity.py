"""The background activity: first the initial trees, then a fixed mix of changes.

Team folders are busier than personal ones. File creates and deletes share one
band of the mix, split by how full the cloud folder is, so each folder's
population settles near half its cap; directory creates and deletes share a
smaller band the same way.
"""

from __future__ import annotations

import bisect
import itertools
import random

from .content import renamed_file, renamed_folder
from .workload_editor import Editor
from .workload_tree import (
    MAX_DEPTH,
    Drive,
    Item,
    LiveTree,
    depth,
    height,
    pick,
    subtree_size,
    within,
)

_TEAM_WEIGHT = 3.0
_MIX_MODIFY = 40.0
_CHURN_WIDTH = 24.0
_MIX_CHURN = _MIX_MODIFY + _CHURN_WIDTH
_MIX_RENAME = _MIX_CHURN + 6.0
_MIX_MOVE = _MIX_RENAME + 4.0
_DIR_CHURN_WIDTH = 2.0
_MIX_DIR_CHURN = _MIX_MOVE + _DIR_CHURN_WIDTH
_MIX_DIR_RENAME = _MIX_DIR_CHURN + 0.4
_MIX_TOTAL = _MIX_DIR_RENAME + 0.25


class BackgroundActivity:
    """The ordinary work of all users, one change per :meth:`step`.

    Args:
        rnd: the workload's main random generator.
        tree: the live tree of every cloud folder.
        editor: creates objects and versions in the tree.
    """

    def __init__(self, rnd: random.Random, tree: LiveTree, editor: Editor) -> None:
        self._rnd = rnd
        self._tree = tree
        self._editor = editor
        self._drives = tree.drives
        weights = [_TEAM_WEIGHT if d.team else 1.0 for d in self._drives]
        self._drive_cumulative = list(itertools.accumulate(weights))
        self._drive_share = {
            d.uid: w / sum(weights) for d, w in zip(self._drives, weights, strict=True)
        }
        self._building = list(self._drives)

    def share(self, drive: Drive) -> float:
        """Share (0.0 to 1.0) of the background changes that fall in ``drive``."""
        return self._drive_share[drive.uid]

    def step(self) -> tuple[Item, str]:
        """Make the next background change and return the object and action.

        Until every cloud folder holds its initial tree, the change is a create
        that builds it; then it is drawn from the mix, in a folder drawn by weight.
        """
        if self._building:
            return self._build_step()

        rnd = self._rnd
        choice = rnd.random() * self._drive_cumulative[-1]
        drive = self._drives[bisect.bisect(self._drive_cumulative, choice)]
        if not drive.files:
            return self._add_file(drive)

        choice = rnd.random() * _MIX_TOTAL
        if choice < _MIX_MODIFY:
            return self._modify_file(drive)
        if choice < _MIX_CHURN:
            fill = len(drive.files) / drive.file_cap
            full = (choice - _MIX_MODIFY) / _CHURN_WIDTH < fill
            return self._delete_file(drive) if full else self._add_file(drive)
        if choice < _MIX_RENAME:
            return self._rename_file(drive)
        if choice < _MIX_MOVE:
            return self._move_file(drive) or self._add_file(drive)
        if not drive.dirs or choice < _MIX_DIR_CHURN:
            fill = len(drive.dirs) / drive.dir_cap
            full = (choice - _MIX_MOVE) / _DIR_CHURN_WIDTH < fill
            if full and drive.dirs:
                return self._delete_dir(drive)
            return self._add_dir(drive)
        if choice < _MIX_DIR_RENAME:
            return self._rename_dir(drive)
        return self._move_dir(drive) or self._add_file(drive)

    def _build_step(self) -> tuple[Item, str]:
        drive = self._building[int(self._rnd.random() * len(self._building))]
        dirs_left, files_left = drive.todo_dirs, drive.todo_files
        early = self._rnd.random() * (dirs_left + files_left) < 3 * dirs_left
        node: Item
        if dirs_left and (early or not drive.dirs):
            drive.todo_dirs -= 1
            node = self._editor.create_dir(drive)
        else:
            drive.todo_files -= 1
            node = self._editor.create_file(drive)

        if not drive.todo_dirs and not drive.todo_files:
            self._building.remove(drive)
        return node, "created"

    def _modify_file(self, drive: Drive) -> tuple[Item, str]:
        rnd, editor = self._rnd, self._editor
        node = pick(rnd, drive.files)
        size = int(editor.sizes[node.file_id] * (0.85 + 0.4 * rnd.random()))
        size += int(rnd.random() * 1280.0) - 256
        editor.new_version(node, size)
        return node, "modified"

    def _rename_file(self, drive: Drive) -> tuple[Item, str]:
        node = pick(self._rnd, drive.files)
        new_name = renamed_file(self._rnd, node.name, node.file_type)
        self._tree.rename(node, self._editor.named(new_name))
        return node, "renamed"

    def _move_file(self, drive: Drive) -> tuple[Item, str] | None:
        node = pick(self._rnd, drive.files)
        target = self._editor.random_dir(drive)
        if target is node.parent or node.name in target.children:
            return None
        self._tree.move(node, target)
        return node, "moved"

    def _delete_file(self, drive: Drive) -> tuple[Item, str]:
        node = pick(self._rnd, drive.files)
        self._tree.delete(node)
        return node, "deleted"

    def _add_file(self, drive: Drive) -> tuple[Item, str]:
        return self._editor.create_file(drive), "created"

    def _add_dir(self, drive: Drive) -> tuple[Item, str]:
        return self._editor.create_dir(drive), "created"

    def _rename_dir(self, drive: Drive) -> tuple[Item, str]:
        node = pick(self._rnd, drive.dirs)
        parent = node.parent
        new_name = renamed_folder(self._rnd, node.name, parent.name, depth(parent))
        self._tree.rename(node, self._editor.named(new_name))
        return node, "renamed"

    def _move_dir(self, drive: Drive) -> tuple[Item, str] | None:
        node = pick(self._rnd, drive.dirs)
        target = self._editor.random_dir(drive)
        if target is node.parent or node.name in target.children:
            return None
        if within(target, node) or depth(target) + height(node) > MAX_DEPTH:
            return None
        self._tree.move(node, target)
        return node, "moved"

    def _delete_dir(self, drive: Drive) -> tuple[Item, str]:
        """Delete the smaller of two random directories, with all it holds."""
        candidates = [pick(self._rnd, drive.dirs) for _ in range(2)]
        node = min(candidates, key=subtree_size)
        self._tree.delete(node)
        return node, "deleted"
