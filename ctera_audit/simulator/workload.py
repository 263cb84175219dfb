"""A deterministic workload of file changes for the simulated portal.

The workload keeps the live tree of every cloud folder and yields one change at a
time: first the initial directory trees, then an office-hours rhythm of creates,
modifications, renames, moves and deletes, with an optional incident woven in.
The same arguments give the same stream, byte for byte. Deleted objects are
forgotten at once and the population of each cloud folder is held near a cap, so
memory stays flat however long the stream runs; only the two compact per-version
arrays of :class:`~.content.ContentStore` grow.

This module is the entry point; the parts live beside it: the users and folders
(:mod:`.workload_accounts`), the clock (:mod:`.workload_clock`), the live tree
(:mod:`.workload_tree`), object creation (:mod:`.workload_editor`), the
background mix (:mod:`.workload_activity`) and the incidents
(:mod:`.workload_scenarios`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import ConfigurationError
from .content import ContentStore
from .workload_accounts import (
    CloudFolder,
    User,
    make_users,
    personal_folders,
    team_folders,
)
from .workload_activity import BackgroundActivity
from .workload_clock import OfficeClock
from .workload_editor import Editor
from .workload_scenarios import SCENARIOS, Incidents
from .workload_tree import Dir, Drive, Item, LiveTree

__all__ = ["SCENARIOS", "Change", "CloudFolder", "User", "Workload"]

_INCIDENT_DAY_SHARE = 0.4


@dataclass(slots=True)
class Change:
    """One generated event with the truth about it.

    Attributes:
        entry: the event exactly as the list API serves it (the 13 SDK keys).
        path: the object's full path at event time, root folder name first.
        action: "created", "modified", "renamed", "moved" or "deleted".
        scenario: the incident this change belongs to, None for background work.
    """

    entry: dict
    path: str
    action: str
    scenario: str | None


class Workload:
    """Deterministic, endless stream of file changes in a set of cloud folders.

    The workload is also the simulated portal's current state: :meth:`ancestors`
    and the content methods answer from the tree as it stands after the last
    change yielded.

    Args:
        seed: the seed of every random choice; same arguments, same stream.
        users: number of users, each with a personal "My Files" folder.
        team_folders: number of shared team folders.
        scenario: one of :data:`SCENARIOS`, ``"all"``, or None for none.
        start: simulated time of the first event; a naive value is taken as UTC.
        events_per_day: weekly average of simulated events per day.
        hostile_names: share (0.0 to 1.0) of new names made hostile.
        max_file_size: largest size of a file version, in bytes.

    Attributes:
        users: the portal's users, uids from 1001.
        folders: personal folders (one per user, uids from 7) then team folders.

    Raises:
        ConfigurationError: no users, an unknown scenario, or a share outside
            0.0 to 1.0.
    """

    def __init__(
        self,
        seed: int = 7,
        *,
        users: int = 24,
        team_folders: int = 6,
        scenario: str | None = None,
        start: datetime = datetime(2026, 11, 2, tzinfo=UTC),
        events_per_day: int = 20_000,
        hostile_names: float = 0.0,
        max_file_size: int = 8 * 1024 * 1024,
    ) -> None:
        _check(scenario, users, team_folders, hostile_names)

        self._rnd = random.Random(seed)
        self._content = ContentStore(seed)
        self._sizes = self._content.sizes
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self._clock = OfficeClock(start, events_per_day)
        self.users = make_users(self._rnd, users)
        drives = self._make_drives(team_folders)
        self.folders = [drive.folder for drive in drives]

        self._tree = LiveTree(drives)
        self._editor = Editor(
            self._rnd,
            self._tree,
            self._content,
            hostile_names=hostile_names,
            max_file_size=max_file_size,
        )
        self._activity = BackgroundActivity(self._rnd, self._tree, self._editor)
        self._seq = 0

        planned = list(SCENARIOS) if scenario == "all" else []
        if scenario in SCENARIOS:
            planned = [scenario]
        self._incidents = Incidents(
            planned,
            random.Random(f"{seed}:incidents"),
            self._tree,
            self._editor,
            self._activity,
            self._clock,
        )
        initial = sum(d.todo_dirs + d.todo_files for d in drives)
        trigger = max(initial, int(_INCIDENT_DAY_SHARE * events_per_day))
        self._trigger = trigger if planned else -1

    @property
    def live_objects(self) -> int:
        """Number of live files and directories, cloud folder roots included."""
        return len(self._tree)

    def changes(self) -> Iterator[Change]:
        """Yield the changes, one at a time, forever.

        The stream works on this workload's state: a second call continues where
        the first left off rather than starting again.
        """
        rnd, clock, incidents = self._rnd, self._clock, self._incidents
        running, activity = incidents.running, self._activity
        while True:
            clock.advance(rnd)
            while running:
                due = incidents.next_step(clock.now)
                if due is None:
                    break
                yield self._emit(*due)

            if self._seq == self._trigger:
                incidents.start()
            node, action = activity.step()
            yield self._emit(node, action, clock.now, None)

    def ancestors(self, guid: str) -> list[dict] | None:
        """The object's current ancestry, root directory first, the object last.

        Returns:
            One dict per path component with the keys type, guid, name, folder_id,
            parent_guid and deleted; None for an unknown or deleted object.
        """
        return self._tree.ancestors(guid)

    def content_size(self, file_id: int) -> int | None:
        """Size in bytes of file version ``file_id``; None if the id is unknown."""
        return self._content.size(file_id)

    def content_block(self, file_id: int, offset: int, length: int) -> bytes:
        """Bytes ``offset`` to ``offset + length`` of file version ``file_id``.

        Content is derived, not stored, so any range is cheap and always the same.
        The answer is shorter when the range passes the end of the version.

        Raises:
            KeyError: the id names no version.
            ValueError: negative offset or length.
        """
        return self._content.read(file_id, offset, length)

    def sha256(self, file_id: int) -> str:
        """Hex SHA-256 of the whole content of file version ``file_id``.

        Raises:
            KeyError: the id names no version.
        """
        return self._content.sha256(file_id)

    def _make_drives(self, count: int) -> list[Drive]:
        personal = [
            Drive(folder, team=False)
            for folder in personal_folders(self._rnd, self.users)
        ]
        teams = [
            Drive(folder, team=True, acls=acls)
            for folder, acls in team_folders(self._rnd, self.users, count)
        ]
        return personal + teams

    def _emit(self, node: Item, action: str, when: float, label: str | None) -> Change:
        self._seq += 1
        stamp, portal_stamp = self._clock.stamps(when)
        file_id = node.file_id
        entry = {
            "type": "folder" if file_id is None else "file",
            "guid": node.guid,
            "deleted": action == "deleted",
            "name": node.name,
            "folder_id": node.drive.uid,
            "file_timestamp": stamp,
            "portal_modified_date": portal_stamp,
            "virtual_portal_id": "1",
            "size": None if file_id is None else self._sizes[file_id],
            "id": file_id,
            "acl": node.acl,
            "gvsn": f"{self._seq:016x}",
            "parent_guid": node.parent.guid,
        }

        names = [node.name]
        parent = node.parent
        while isinstance(parent, Dir):
            names.append(parent.name)
            parent = parent.parent
        names.append(parent.name)
        names.reverse()
        return Change(entry, "/".join(names), action, label)


def _check(
    scenario: str | None, users: int, team_folders: int, hostile_names: float
) -> None:
    """Refuse arguments no workload can be built from."""
    if scenario is not None and scenario not in (*SCENARIOS, "all"):
        raise ConfigurationError(
            f"unknown scenario {scenario!r}; use one of {', '.join(SCENARIOS)}, "
            "'all', or None"
        )
    if users < 1 or team_folders < 0:
        raise ConfigurationError(
            f"users={users!r}, team_folders={team_folders!r}: a workload needs "
            "at least one user and no negative folder count"
        )
    if not 0.0 <= hostile_names <= 1.0:
        raise ConfigurationError(
            f"hostile_names={hostile_names!r} is a share; give 0.0 to 1.0"
        )
