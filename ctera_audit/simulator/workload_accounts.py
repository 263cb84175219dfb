"""The simulated portal's users and cloud folders, drawn from the workload's seed.

Every function here takes the workload's random generator and draws from it in a
fixed order, so the same seed gives the same people, folders and guids.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_FIRST_FOLDER_UID = 7
_FIRST_USER_UID = 1001
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)
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


def random_guid(rnd: random.Random) -> str:
    """Draw a random version 4 UUID, in its usual hyphenated form."""
    value = rnd.getrandbits(128) & _UUID_CLEAR | _UUID_SET
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def make_users(rnd: random.Random, count: int) -> list[User]:
    """``count`` users named ``first.last`` in shuffled order, uids from 1001.

    Once every name is taken, names repeat with the user's index appended.
    """
    pairs = [f"{first}.{last}" for first in _FIRST_NAMES for last in _LAST_NAMES]
    rnd.shuffle(pairs)
    return [
        User(
            _FIRST_USER_UID + i,
            pairs[i % len(pairs)] + (str(i) if i >= len(pairs) else ""),
        )
        for i in range(count)
    ]


def personal_folders(rnd: random.Random, users: list[User]) -> list[CloudFolder]:
    """One "My Files" folder per user, uids from 7 in the order of ``users``."""
    return [
        CloudFolder(_FIRST_FOLDER_UID + i, "My Files", user, random_guid(rnd))
        for i, user in enumerate(users)
    ]


def team_folders(
    rnd: random.Random, users: list[User], count: int
) -> list[tuple[CloudFolder, tuple[str, ...]]]:
    """``count`` team folders, numbered on from the personal folders' uids.

    Returns:
        Each folder with the three security descriptors its objects may carry.
    """
    folders = []
    for i in range(count):
        name = _TEAMS[i % len(_TEAMS)]
        if i >= len(_TEAMS):
            name = f"{name} {i // len(_TEAMS) + 1}"
        owner = users[rnd.randrange(len(users))]
        uid = _FIRST_FOLDER_UID + len(users) + i
        folder = CloudFolder(uid, name, owner, random_guid(rnd))
        acls = tuple(_sddl(rnd, owner) for _ in range(3))
        folders.append((folder, acls))
    return folders


def _sddl(rnd: random.Random, owner: User) -> str:
    domain = "-".join(str(rnd.randrange(10**9, 4 * 10**9)) for _ in range(3))
    group = rnd.randrange(1100, 1200)
    return (
        f"O:S-1-5-21-{domain}-{owner.uid}G:S-1-5-21-{domain}-513"
        f"D:P(A;OICI;FA;;;SY)(A;OICI;0x1301bf;;;S-1-5-21-{domain}-{group})"
    )
