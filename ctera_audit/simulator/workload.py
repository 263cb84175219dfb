"""A deterministic workload of file changes for the simulated portal.

The workload keeps the live tree of every cloud folder and yields one change at a
time: first the initial directory trees, then an office-hours rhythm of creates,
modifications, renames, moves and deletes, with an optional incident woven in.
The same arguments give the same stream, byte for byte. Deleted objects are
forgotten at once and the population of each cloud folder is held near a cap, so
memory stays flat however long the stream runs; only the two compact per-version
arrays of :class:`~.content.ContentStore` grow.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..errors import ConfigurationError
from .content import (
    ENCRYPTED,
    FILE_TYPES,
    ContentStore,
    FileType,
    draw_size,
    file_name,
    folder_name,
    hostile_name,
    renamed_file,
    renamed_folder,
)

SCENARIOS: tuple[str, ...] = ("mass_deletion", "ransomware", "activity_spike")
"""Incidents a workload can contain; ``"all"`` asks for every one of them."""

_MAX_DEPTH = 7
_PERSONAL_CAPS = (500, 60)
_TEAM_CAPS = (2500, 250)
_TEAM_WEIGHT = 3.0
_INITIAL_FILL = 0.4
_ACL_SHARE = 0.05
_SPIKE_FACTOR = 15.0
_HOURLY = (
    0.04, 0.03, 0.03, 0.03, 0.04, 0.06, 0.15, 0.4, 1.0, 1.3, 1.4, 1.3,
    0.8, 1.0, 1.3, 1.3, 1.2, 0.9, 0.4, 0.2, 0.15, 0.1, 0.07, 0.05,
)  # fmt: skip
_WEEKEND_HOURLY = 0.05
_MIX_MODIFY = 40.0
_CHURN_WIDTH = 24.0
_MIX_CHURN = _MIX_MODIFY + _CHURN_WIDTH
_MIX_RENAME = _MIX_CHURN + 6.0
_MIX_MOVE = _MIX_RENAME + 4.0
_DIR_CHURN_WIDTH = 2.0
_MIX_DIR_CHURN = _MIX_MOVE + _DIR_CHURN_WIDTH
_MIX_DIR_RENAME = _MIX_DIR_CHURN + 0.4
_MIX_TOTAL = _MIX_DIR_RENAME + 0.25
_TYPE_CUMULATIVE = tuple(itertools.accumulate(t.weight for t in FILE_TYPES))
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOURS_MINUTES = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(24 * 60))
_SECONDS = tuple(f"{s:02d}Z" for s in range(60))
_FIRST_NAMES = (
    "alice", "bob", "carla", "david", "emma", "farid", "grace", "hiro", "ines",
    "jonas", "kemal", "lena", "mateo", "nadia", "oscar", "priya", "quentin", "rosa",
    "samir", "tanja", "ursula", "victor", "wei", "yara", "zoe",
)  # fmt: skip
_LAST_NAMES = (
    "nguyen", "smith", "garcia", "muller", "kowalski", "rossi", "tanaka", "silva",
    "cohen", "okafor", "larsen", "dubois", "novak", "ahmed", "jensen", "moreau",
)  # fmt: skip
_TEAMS = (
    "Finance", "Engineering", "Legal", "Marketing", "Sales", "HR", "Design",
    "Operations", "Support", "Research", "Procurement", "Executive",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class User:
    """A portal user; owns a personal cloud folder and perhaps team folders."""

    uid: int
    name: str


@dataclass(frozen=True, slots=True)
class CloudFolder:
    """A cloud drive folder: a personal "My Files" or a shared team folder."""

    uid: int
    name: str
    owner: User
    root_guid: str


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


class _Node:
    """A live file or directory; a file has a version id, a directory children."""

    __slots__ = (
        "acl",
        "children",
        "drive",
        "file_id",
        "file_type",
        "guid",
        "name",
        "parent",
        "slot",
    )

    def __init__(self, guid: str, drive: _Drive, file_type: FileType | None) -> None:
        self.guid = guid
        self.drive = drive
        self.file_type = file_type
        self.name = ""
        self.parent: _Node | None = None
        self.children: dict[str, _Node] | None = None if file_type else {}
        self.file_id: int | None = None
        self.acl: str | None = None
        self.slot = -1


class _Drive:
    """The live tree of one cloud folder and the lists its objects are drawn from."""

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

    def __init__(self, folder: CloudFolder, *, team: bool) -> None:
        self.folder = folder
        self.team = team
        self.uid = folder.uid
        self.root = _Node(folder.root_guid, self, None)
        self.root.name = folder.name
        self.file_cap, self.dir_cap = _TEAM_CAPS if team else _PERSONAL_CAPS
        self.files: list[_Node] = []
        self.dirs: list[_Node] = []
        self.acls: tuple[str, ...] = ()
        self.todo_dirs = int(self.dir_cap * _INITIAL_FILL)
        self.todo_files = int(self.file_cap * _INITIAL_FILL)


class _Clock:
    """Simulated time with an office-hours rhythm, formatted as the portal does.

    Most events fall Monday to Friday between 08:00 and 18:00 UTC with a dip at
    midday; nights and weekends are quiet. The weekly mean is ``events_per_day``.
    """

    def __init__(self, start: datetime, events_per_day: int) -> None:
        weekday = list(_HOURLY)
        weights = weekday * 5 + [_WEEKEND_HOURLY] * 48
        mean = sum(weights) / len(weights)
        per_second = events_per_day / 86_400
        self._rates = [per_second * weight / mean for weight in weights]
        self._gaps = [1.0 / rate for rate in self._rates]
        self.peak_rate = max(self._rates)
        self.now = start.timestamp()
        self._second = -1
        self._stamps = ("", "")
        self._minute = -1
        self._minute_prefix = ""

    def advance(self, rnd: random.Random) -> None:
        """Move to the time of the next background event."""
        hour_of_week = (int(self.now // 3600) + 72) % 168
        self.now += -math.log(1.0 - rnd.random()) * self._gaps[hour_of_week]

    def stamps(self, when: float) -> tuple[str, str]:
        """File timestamp and portal modification date of an event at ``when``."""
        second = int(when)
        if second != self._second:
            self._second = second
            self._stamps = (self._iso(second), self._iso(second + 1))
        return self._stamps

    def _iso(self, second: int) -> str:
        minute, rest = divmod(second, 60)
        if minute != self._minute:
            self._minute = minute
            day, rest_of_day = divmod(minute, 24 * 60)
            self._minute_prefix = f"{_day_prefix(day)}{_HOURS_MINUTES[rest_of_day]}"
        return self._minute_prefix + _SECONDS[rest]

    @staticmethod
    def office_slot(when: float) -> float:
        """The first moment at or after ``when`` in Mon-Fri 10:00-15:00 UTC."""
        for _ in range(24 * 8):
            weekday = (int(when // 86_400) + 3) % 7
            if weekday < 5 and 10 <= int(when % 86_400 // 3600) < 15:
                return when
            when = (int(when // 3600) + 1) * 3600.0
        raise AssertionError("a week always holds office hours")


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

        self._rnd = random.Random(seed)
        self._incident_rnd = random.Random(f"{seed}:incidents")
        self._hostile = hostile_names
        self._max_size = max_file_size
        self._content = ContentStore(seed)
        self._sizes = self._content.sizes
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self._clock = _Clock(start, events_per_day)
        self.users = self._make_users(users)
        self._drives = self._make_drives(team_folders)
        self.folders = [drive.folder for drive in self._drives]

        self._index = {drive.root.guid: drive.root for drive in self._drives}
        weights = [_TEAM_WEIGHT if d.team else 1.0 for d in self._drives]
        self._drive_cumulative = list(itertools.accumulate(weights))
        self._drive_share = {
            d.uid: w / sum(weights) for d, w in zip(self._drives, weights, strict=True)
        }
        self._building = list(self._drives)
        self._seq = 0

        self._planned = [scenario] if scenario in SCENARIOS else []
        if scenario == "all":
            self._planned = list(SCENARIOS)
        initial = sum(d.todo_dirs + d.todo_files for d in self._drives)
        trigger = max(initial, int(0.4 * events_per_day))
        self._trigger = trigger if self._planned else -1
        self._incidents: list[_Incident] = []
        self._victims: set[int] = set()

    @property
    def live_objects(self) -> int:
        """Number of live files and directories, cloud folder roots included."""
        return len(self._index)

    def changes(self) -> Iterator[Change]:
        """Yield the changes, one at a time, forever.

        The stream works on this workload's state: a second call continues where
        the first left off rather than starting again.
        """
        rnd, clock, incidents = self._rnd, self._clock, self._incidents
        while True:
            clock.advance(rnd)
            while incidents:
                incident = min(incidents, key=_due)
                if incident.due > clock.now:
                    break
                when = incident.due
                step = incident.step()
                if step is None:
                    incidents.remove(incident)
                else:
                    yield self._emit(step[0], step[1], when, incident.label)

            if self._seq == self._trigger:
                self._schedule_incidents()
            if self._building:
                node, action = self._build_step()
            else:
                node, action = self._background_step()
            yield self._emit(node, action, clock.now, None)

    def ancestors(self, guid: str) -> list[dict] | None:
        """The object's current ancestry, root directory first, the object last.

        Returns:
            One dict per path component with the keys type, guid, name, folder_id,
            parent_guid and deleted; None for an unknown or deleted object.
        """
        node = self._index.get(guid)
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

    def _make_users(self, count: int) -> list[User]:
        pairs = [f"{first}.{last}" for first in _FIRST_NAMES for last in _LAST_NAMES]
        self._rnd.shuffle(pairs)
        return [
            User(1001 + i, pairs[i % len(pairs)] + (str(i) if i >= len(pairs) else ""))
            for i in range(count)
        ]

    def _make_drives(self, team_folders: int) -> list[_Drive]:
        drives = []
        uids = itertools.count(7)
        for user in self.users:
            folder = CloudFolder(next(uids), "My Files", user, self._guid())
            drives.append(_Drive(folder, team=False))

        for i in range(team_folders):
            name = _TEAMS[i % len(_TEAMS)]
            if i >= len(_TEAMS):
                name = f"{name} {i // len(_TEAMS) + 1}"
            owner = self.users[self._rnd.randrange(len(self.users))]
            folder = CloudFolder(next(uids), name, owner, self._guid())
            drive = _Drive(folder, team=True)
            drive.acls = tuple(self._sddl(owner) for _ in range(3))
            drives.append(drive)
        return drives

    def _sddl(self, owner: User) -> str:
        domain = "-".join(str(self._rnd.randrange(10**9, 4 * 10**9)) for _ in range(3))
        group = self._rnd.randrange(1100, 1200)
        return (
            f"O:S-1-5-21-{domain}-{owner.uid}G:S-1-5-21-{domain}-513"
            f"D:P(A;OICI;FA;;;SY)(A;OICI;0x1301bf;;;S-1-5-21-{domain}-{group})"
        )

    def _guid(self) -> str:
        value = self._rnd.getrandbits(128) & _UUID_CLEAR | _UUID_SET
        text = f"{value:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def _emit(self, node: _Node, action: str, when: float, label: str | None) -> Change:
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
        while parent is not None:
            names.append(parent.name)
            parent = parent.parent
        names.reverse()
        return Change(entry, "/".join(names), action, label)

    def _build_step(self) -> tuple[_Node, str]:
        drive = self._building[int(self._rnd.random() * len(self._building))]
        dirs_left, files_left = drive.todo_dirs, drive.todo_files
        early = self._rnd.random() * (dirs_left + files_left) < 3 * dirs_left
        if dirs_left and (early or not drive.dirs):
            drive.todo_dirs -= 1
            node = self._create_dir(drive)
        else:
            drive.todo_files -= 1
            node = self._create_file(drive)

        if not drive.todo_dirs and not drive.todo_files:
            self._building.remove(drive)
        return node, "created"

    def _background_step(self) -> tuple[_Node, str]:
        """One ordinary change, drawn from a fixed mix of actions.

        File creates and deletes share one band of the mix, split by how full the
        cloud folder is, so each folder's population settles near half its cap;
        directory creates and deletes share a smaller band the same way.
        """
        rnd = self._rnd
        pick = rnd.random() * self._drive_cumulative[-1]
        drive = self._drives[bisect.bisect(self._drive_cumulative, pick)]
        if not drive.files:
            return self._create_file(drive), "created"

        pick = rnd.random() * _MIX_TOTAL
        if pick < _MIX_MODIFY:
            return self._modify_file(drive)
        if pick < _MIX_CHURN:
            full = (pick - _MIX_MODIFY) / _CHURN_WIDTH < len(
                drive.files
            ) / drive.file_cap
            return self._delete_file(drive) if full else self._add_file(drive)
        if pick < _MIX_RENAME:
            return self._rename_file(drive)
        if pick < _MIX_MOVE:
            return self._move_file(drive) or self._add_file(drive)
        if not drive.dirs or pick < _MIX_DIR_CHURN:
            full = (pick - _MIX_MOVE) / _DIR_CHURN_WIDTH < len(
                drive.dirs
            ) / drive.dir_cap
            return (
                self._delete_dir(drive) if full and drive.dirs else self._add_dir(drive)
            )
        if pick < _MIX_DIR_RENAME:
            return self._rename_dir(drive)
        return self._move_dir(drive) or self._add_file(drive)

    def _modify_file(self, drive: _Drive) -> tuple[_Node, str]:
        rnd = self._rnd
        node = _pick(rnd, drive.files)
        size = int(self._sizes[node.file_id] * (0.85 + 0.4 * rnd.random()))
        size += int(rnd.random() * 1280.0) - 256
        self._new_version(node, min(self._max_size, max(0, size)), None)
        return node, "modified"

    def _rename_file(self, drive: _Drive) -> tuple[_Node, str]:
        node = _pick(self._rnd, drive.files)
        new_name = renamed_file(self._rnd, node.name, node.file_type)
        self._rename(node, self._named(new_name))
        return node, "renamed"

    def _move_file(self, drive: _Drive) -> tuple[_Node, str] | None:
        node = _pick(self._rnd, drive.files)
        target = self._random_dir(drive)
        if target is node.parent or node.name in target.children:
            return None
        self._move(node, target)
        return node, "moved"

    def _delete_file(self, drive: _Drive) -> tuple[_Node, str]:
        node = _pick(self._rnd, drive.files)
        self._delete(node)
        return node, "deleted"

    def _add_file(self, drive: _Drive) -> tuple[_Node, str]:
        return self._create_file(drive), "created"

    def _add_dir(self, drive: _Drive) -> tuple[_Node, str]:
        return self._create_dir(drive), "created"

    def _rename_dir(self, drive: _Drive) -> tuple[_Node, str]:
        node = _pick(self._rnd, drive.dirs)
        depth = _depth(node.parent)
        new_name = renamed_folder(self._rnd, node.name, node.parent.name, depth)
        self._rename(node, self._named(new_name))
        return node, "renamed"

    def _move_dir(self, drive: _Drive) -> tuple[_Node, str] | None:
        node = _pick(self._rnd, drive.dirs)
        target = self._random_dir(drive)
        if target is node.parent or node.name in target.children:
            return None
        if _within(target, node) or _depth(target) + _height(node) > _MAX_DEPTH:
            return None
        self._move(node, target)
        return node, "moved"

    def _delete_dir(self, drive: _Drive) -> tuple[_Node, str]:
        """Delete the smaller of two random directories, with all it holds."""
        candidates = [_pick(self._rnd, drive.dirs) for _ in range(2)]
        node = min(candidates, key=_subtree_size)
        self._delete(node)
        return node, "deleted"

    def _create_file(self, drive: _Drive) -> _Node:
        rnd = self._rnd
        pick = rnd.random() * _TYPE_CUMULATIVE[-1]
        file_type = FILE_TYPES[bisect.bisect(_TYPE_CUMULATIVE, pick)]
        node = _Node(self._guid(), drive, file_type)
        size = draw_size(rnd, file_type, self._max_size)
        node.file_id = self._content.add(size, file_type.kind)
        node.acl = self._acl(drive)
        self._attach(
            node, self._random_dir(drive), self._named(file_name(rnd, file_type))
        )

        _push(drive.files, node)
        self._index[node.guid] = node
        return node

    def _create_dir(self, drive: _Drive) -> _Node:
        parent = self._random_dir(drive) if len(drive.dirs) > 3 else drive.root
        depth = _depth(parent)
        while depth >= _MAX_DEPTH:
            parent, depth = parent.parent, depth - 1
        node = _Node(self._guid(), drive, None)
        node.acl = self._acl(drive)
        self._attach(
            node, parent, self._named(folder_name(self._rnd, parent.name, depth))
        )

        _push(drive.dirs, node)
        self._index[node.guid] = node
        return node

    def _new_version(self, node: _Node, size: int, kind: int | None) -> None:
        kind = self._content.kind(node.file_id) if kind is None else kind
        node.file_id = self._content.add(size, kind)

    def _rename(self, node: _Node, name: str) -> None:
        parent = node.parent
        del parent.children[node.name]
        self._attach(node, parent, name)

    def _move(self, node: _Node, target: _Node) -> None:
        del node.parent.children[node.name]
        self._attach(node, target, node.name)

    def _delete(self, node: _Node) -> None:
        """Forget ``node`` and all under it; ``node.parent`` stays for its path."""
        del node.parent.children[node.name]
        drive = node.drive
        stack = [node]
        while stack:
            item = stack.pop()
            del self._index[item.guid]
            if item.children is None:
                _drop(drive.files, item)
            else:
                _drop(drive.dirs, item)
                stack.extend(item.children.values())

    def _attach(self, node: _Node, parent: _Node, name: str) -> None:
        children = parent.children
        if name in children:
            name = _free_name(children, name, node.children is None)
        node.name = name
        node.parent = parent
        children[name] = node

    def _random_dir(self, drive: _Drive) -> _Node:
        dirs = drive.dirs
        index = int(self._rnd.random() * (len(dirs) + 1))
        return dirs[index] if index < len(dirs) else drive.root

    def _named(self, name: str) -> str:
        if self._hostile and self._rnd.random() < self._hostile:
            return hostile_name(self._rnd, name)
        return name

    def _acl(self, drive: _Drive) -> str | None:
        if drive.acls and self._rnd.random() < _ACL_SHARE:
            return drive.acls[int(self._rnd.random() * len(drive.acls))]
        return None

    def _alive(self, node: _Node) -> bool:
        return self._index.get(node.guid) is node

    def _schedule_incidents(self) -> None:
        when = _Clock.office_slot(self._clock.now + 60.0)
        for name in self._planned:
            self._incidents.append(_INCIDENTS[name](self, when))
            when = _Clock.office_slot(when + 2 * 3600.0)

    def _victim(self, *, team: bool) -> _Drive:
        """The not yet attacked drive of the wanted kind with the most files."""
        spared = [d for d in self._drives if d.uid not in self._victims]
        wanted = [d for d in spared if d.team == team] or spared or self._drives
        victim = max(wanted, key=lambda drive: len(drive.files))
        self._victims.add(victim.uid)
        return victim


class _Incident:
    """A scripted burst of changes run alongside the background activity.

    ``due`` is the time of the next step; :meth:`step` performs it and returns
    the changed node and action, or None once the incident is over.
    """

    label = ""

    def __init__(self, workload: Workload, when: float) -> None:
        self.due = when
        self._workload = workload
        self._rnd = workload._incident_rnd

    def step(self) -> tuple[_Node, str] | None:
        """Perform the step due now."""
        raise NotImplementedError


class _MassDeletion(_Incident):
    """The owner of the fullest team folder deletes hundreds of items in minutes."""

    label = "mass_deletion"
    _drive: _Drive | None = None
    _left = 0

    def step(self) -> tuple[_Node, str] | None:
        """Delete one file, or now and then one directory, of the victim folder."""
        rnd = self._rnd
        if self._drive is None:
            self._drive = self._workload._victim(team=True)
            self._left = rnd.randint(260, 380)
        drive = self._drive
        if self._left <= 0 or not drive.files:
            return None

        self._left -= 1
        self.due += rnd.uniform(0.3, 1.4)
        if drive.dirs and rnd.random() < 0.06:
            node = min((_pick(rnd, drive.dirs) for _ in range(3)), key=_subtree_size)
        else:
            node = _pick(rnd, drive.files)
        self._workload._delete(node)
        return node, "deleted"


class _Ransomware(_Incident):
    """Hundreds of files are rewritten with random bytes, then renamed .locked."""

    label = "ransomware"
    _targets: list[_Node] | None = None
    _encrypted: _Node | None = None

    def step(self) -> tuple[_Node, str] | None:
        """Encrypt the next target, or rename the one just encrypted."""
        workload, rnd = self._workload, self._rnd
        if self._targets is None:
            files = workload._victim(team=True).files
            self._targets = rnd.sample(files, min(len(files), rnd.randint(250, 350)))
        self.due += rnd.uniform(0.3, 1.2)

        node, self._encrypted = self._encrypted, None
        if node is not None and workload._alive(node):
            workload._rename(node, f"{node.name}.locked")
            return node, "renamed"

        while self._targets:
            node = self._targets.pop()
            if workload._alive(node):
                size = workload._sizes[node.file_id] + rnd.randrange(16, 4096)
                workload._new_version(node, min(workload._max_size, size), ENCRYPTED)
                self._encrypted = node
                return node, "modified"
        return None


class _ActivitySpike(_Incident):
    """A user creates and edits files in "My Files" 15 times faster for an hour."""

    label = "activity_spike"
    _drive: _Drive | None = None
    _gap = 0.0
    _end = 0.0

    def step(self) -> tuple[_Node, str] | None:
        """Create or modify one file in the victim's personal folder."""
        workload, rnd = self._workload, self._rnd
        if self._drive is None:
            self._drive = workload._victim(team=False)
            share = workload._drive_share[self._drive.uid]
            self._gap = 1.0 / (workload._clock.peak_rate * share * _SPIKE_FACTOR)
            self._end = self.due + 3600.0
        if self.due >= self._end:
            return None

        self.due += -math.log(1.0 - rnd.random()) * self._gap
        drive = self._drive
        if drive.files and rnd.random() < 0.5:
            node = _pick(rnd, drive.files)
            size = workload._sizes[node.file_id] + rnd.randrange(0, 4096)
            workload._new_version(node, min(workload._max_size, size), None)
            return node, "modified"
        return workload._create_file(drive), "created"


_INCIDENTS: dict[str, type[_Incident]] = {
    "mass_deletion": _MassDeletion,
    "ransomware": _Ransomware,
    "activity_spike": _ActivitySpike,
}


def _due(incident: _Incident) -> float:
    return incident.due


def _pick(rnd: random.Random, items: list[_Node]) -> _Node:
    return items[int(rnd.random() * len(items))]


def _push(items: list[_Node], node: _Node) -> None:
    node.slot = len(items)
    items.append(node)


def _drop(items: list[_Node], node: _Node) -> None:
    """Remove ``node`` in O(1) by moving the last item into its slot."""
    last = items.pop()
    if last is not node:
        items[node.slot] = last
        last.slot = node.slot


def _depth(node: _Node) -> int:
    depth = 0
    while node.parent is not None:
        node = node.parent
        depth += 1
    return depth


def _height(node: _Node) -> int:
    """Levels of directories from ``node`` (counted as 1) down to its deepest one."""
    below = [
        _height(child) for child in node.children.values() if child.children is not None
    ]
    return 1 + max(below, default=0)


def _within(node: _Node, ancestor: _Node) -> bool:
    while node is not None:
        if node is ancestor:
            return True
        node = node.parent
    return False


def _subtree_size(node: _Node) -> int:
    size, stack = 0, [node]
    while stack:
        item = stack.pop()
        size += 1
        if item.children is not None:
            stack.extend(item.children.values())
    return size


def _free_name(children: dict[str, _Node], name: str, is_file: bool) -> str:
    """First of ``name (2)``, ``name (3)``... not taken; a file keeps its extension."""
    stem, dot, ext = name.rpartition(".") if is_file else ("", "", "")
    if not dot:
        stem, ext = name, ""
    for number in itertools.count(2):
        candidate = f"{stem} ({number}){dot}{ext}"
        if candidate not in children:
            return candidate
    raise AssertionError("itertools.count never ends")


@functools.lru_cache(maxsize=4)
def _day_prefix(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
