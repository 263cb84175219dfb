"""Incidents woven into the background activity: scripted bursts of changes.

Each incident starts in office hours, hits a cloud folder no other incident has
hit, and draws from a random generator of its own, so adding an incident leaves
the background activity's choices as they were.
"""

from __future__ import annotations

import abc
import math
import random

from .content import ENCRYPTED
from .workload_activity import BackgroundActivity
from .workload_clock import OfficeClock
from .workload_editor import Editor
from .workload_tree import Drive, File, Item, LiveTree, pick, subtree_size

SCENARIOS: tuple[str, ...] = ("mass_deletion", "ransomware", "activity_spike")
"""Incidents a workload can contain; ``"all"`` asks for every one of them."""

_SPIKE_FACTOR = 15.0
_START_DELAY = 60.0
_START_SPACING = 2 * 3600.0


class Incidents:
    """The planned incidents, and those running, with what they act on.

    Args:
        planned: names from :data:`SCENARIOS`, in the order they start.
        rnd: the incidents' own random generator.
        tree: the live tree of every cloud folder.
        editor: creates objects and versions in the tree.
        activity: the background activity the incidents stand out from.
        clock: the simulated time.

    Attributes:
        running: incidents started and not yet over; always the same list.
    """

    def __init__(
        self,
        planned: list[str],
        rnd: random.Random,
        tree: LiveTree,
        editor: Editor,
        activity: BackgroundActivity,
        clock: OfficeClock,
    ) -> None:
        self.rnd = rnd
        self.tree = tree
        self.editor = editor
        self.activity = activity
        self.clock = clock
        self.running: list[_Incident] = []
        self._planned = planned
        self._victims: set[int] = set()

    def start(self) -> None:
        """Schedule the planned incidents, two hours apart in office hours."""
        when = OfficeClock.office_slot(self.clock.now + _START_DELAY)
        for name in self._planned:
            self.running.append(_INCIDENTS[name](self, when))
            when = OfficeClock.office_slot(when + _START_SPACING)

    def next_step(self, now: float) -> tuple[Item, str, float, str] | None:
        """Perform the earliest incident step due by ``now``, if any.

        Returns:
            The changed object, the action, the step's time and the incident's
            label; None when no step is due.
        """
        running = self.running
        while running:
            incident = min(running, key=_due)
            if incident.due > now:
                return None
            when = incident.due
            step = incident.step()
            if step is None:
                running.remove(incident)
            else:
                return step[0], step[1], when, incident.label
        return None

    def victim(self, *, team: bool) -> Drive:
        """The not yet attacked drive of the wanted kind with the most files."""
        drives = self.tree.drives
        spared = [d for d in drives if d.uid not in self._victims]
        wanted = [d for d in spared if d.team == team] or spared or drives
        victim = max(wanted, key=lambda drive: len(drive.files))
        self._victims.add(victim.uid)
        return victim


class _Incident(abc.ABC):
    """A scripted burst of changes run alongside the background activity.

    ``due`` is the time of the next step; :meth:`step` performs it and returns
    the changed object and action, or None once the incident is over.
    """

    label = ""

    def __init__(self, incidents: Incidents, when: float) -> None:
        self.due = when
        self._incidents = incidents
        self._rnd = incidents.rnd

    @abc.abstractmethod
    def step(self) -> tuple[Item, str] | None:
        """Perform the step due now."""


class _MassDeletion(_Incident):
    """The owner of the fullest team folder deletes hundreds of items in minutes."""

    label = "mass_deletion"
    _drive: Drive | None = None
    _left = 0

    def step(self) -> tuple[Item, str] | None:
        """Delete one file, or now and then one directory, of the victim folder."""
        rnd = self._rnd
        if self._drive is None:
            self._drive = self._incidents.victim(team=True)
            self._left = rnd.randint(260, 380)
        drive = self._drive
        if self._left <= 0 or not drive.files:
            return None

        self._left -= 1
        self.due += rnd.uniform(0.3, 1.4)
        node: Item
        if drive.dirs and rnd.random() < 0.06:
            node = min((pick(rnd, drive.dirs) for _ in range(3)), key=subtree_size)
        else:
            node = pick(rnd, drive.files)
        self._incidents.tree.delete(node)
        return node, "deleted"


class _Ransomware(_Incident):
    """Hundreds of files are rewritten with random bytes, then renamed .locked."""

    label = "ransomware"
    _targets: list[File] | None = None
    _encrypted: File | None = None

    def step(self) -> tuple[Item, str] | None:
        """Encrypt the next target, or rename the one just encrypted."""
        rnd, tree = self._rnd, self._incidents.tree
        if self._targets is None:
            files = self._incidents.victim(team=True).files
            self._targets = rnd.sample(files, min(len(files), rnd.randint(250, 350)))
        self.due += rnd.uniform(0.3, 1.2)

        node, self._encrypted = self._encrypted, None
        if node is not None and tree.alive(node):
            tree.rename(node, f"{node.name}.locked")
            return node, "renamed"

        editor = self._incidents.editor
        while self._targets:
            node = self._targets.pop()
            if tree.alive(node):
                size = editor.sizes[node.file_id] + rnd.randrange(16, 4096)
                editor.new_version(node, size, ENCRYPTED)
                self._encrypted = node
                return node, "modified"
        return None


class _ActivitySpike(_Incident):
    """A user creates and edits files in "My Files" 15 times faster for an hour."""

    label = "activity_spike"
    _drive: Drive | None = None
    _gap = 0.0
    _end = 0.0

    def step(self) -> tuple[Item, str] | None:
        """Create or modify one file in the victim's personal folder."""
        incidents, rnd = self._incidents, self._rnd
        if self._drive is None:
            self._drive = incidents.victim(team=False)
            share = incidents.activity.share(self._drive)
            peak_rate = incidents.clock.peak_rate
            self._gap = 1.0 / (peak_rate * share * _SPIKE_FACTOR)
            self._end = self.due + 3600.0
        if self.due >= self._end:
            return None

        self.due += -math.log(1.0 - rnd.random()) * self._gap
        drive, editor = self._drive, incidents.editor
        if drive.files and rnd.random() < 0.5:
            node = pick(rnd, drive.files)
            editor.new_version(
                node, editor.sizes[node.file_id] + rnd.randrange(0, 4096)
            )
            return node, "modified"
        return editor.create_file(drive), "created"


_INCIDENTS: dict[str, type[_Incident]] = {
    "mass_deletion": _MassDeletion,
    "ransomware": _Ransomware,
    "activity_spike": _ActivitySpike,
}


def _due(incident: _Incident) -> float:
    return incident.due
