"""File types, names and contents of the simulated portal's files.

Every file version is described by two numbers held in compact arrays, its size
and its content kind, so millions of versions cost nine bytes each. The bytes are
never stored: each 64 KiB block is cut on demand from a fixed pool of words or of
random bytes, at offsets derived from the seed, the version id and the block
index, so any block of any version can be produced directly and identically.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from array import array
from dataclasses import dataclass

BLOCK_SIZE = 64 * 1024
"""Granularity at which content is derived; a block depends on nothing else."""

TEXT, BINARY, ENCRYPTED = 0, 1, 2
"""Content kinds: compressible words, random bytes, ransomware-rewritten bytes."""

_POOL_SIZE = 1 << 20
_SLICE = BLOCK_SIZE // 4
_SHA_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class FileType:
    """One kind of file people keep: its extension, content kind and usual size."""

    ext: str
    kind: int
    median: int
    """Median size in bytes of the type's log-normal size distribution."""
    sigma: float
    """Spread of the log-normal size distribution."""
    weight: float
    """Relative frequency of the type among created files."""


FILE_TYPES: tuple[FileType, ...] = (
    FileType("docx", TEXT, 38_000, 1.0, 16),
    FileType("xlsx", TEXT, 30_000, 1.1, 14),
    FileType("pptx", TEXT, 450_000, 1.2, 5),
    FileType("pdf", TEXT, 80_000, 1.3, 12),
    FileType("txt", TEXT, 3_000, 1.2, 8),
    FileType("csv", TEXT, 25_000, 1.6, 6),
    FileType("jpg", BINARY, 250_000, 0.8, 12),
    FileType("png", BINARY, 140_000, 1.1, 8),
    FileType("py", TEXT, 6_000, 1.0, 6),
    FileType("js", TEXT, 9_000, 1.2, 5),
    FileType("zip", BINARY, 900_000, 1.5, 4),
)

_TOPICS = (
    "budget", "forecast", "roadmap", "meeting notes", "proposal", "contract",
    "report", "summary", "timesheet", "expenses", "board deck", "brief", "minutes",
    "plan", "review", "specification", "onboarding", "inventory", "payroll",
    "pricing", "sales pipeline", "headcount", "audit findings", "release notes",
)  # fmt: skip
_CLIENTS = (
    "Acme Corp", "Globex", "Initech", "Umbrella", "Stark Industries", "Hooli",
    "Wayne Enterprises", "Vandelay", "Soylent", "Tyrell", "Cyberdyne", "Wonka",
)  # fmt: skip
_PERIODS = (
    "Q1", "Q2", "Q3", "Q4", "H1", "H2", "2025", "2026", "2027", "January",
    "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_SUFFIXES = (
    "", "", "", "", " v2", " v3", " final", " draft", " (1)", " - Copy",
    " FINAL v2", " signed", " old", " reviewed",
)  # fmt: skip
_NOTES = ("notes", "todo", "README", "scratch", "ideas", "links", "log", "agenda")
_CODE = (
    "utils", "main", "etl_loader", "report_builder", "config", "api_client",
    "chart-widget", "app", "index", "helpers", "test_models", "migrate", "sync",
)  # fmt: skip
_TOP_FOLDERS = (
    "Projects", "Reports", "Invoices", "Designs", "Contracts", "Meetings",
    "Archive", "Templates", "Clients", "Budget", "Photos", "Drafts",
    "Presentations", "Research", "Shared", "Tax", "Policies", "Scans",
)  # fmt: skip
_PROJECTS = (
    "Project Atlas", "Project Borealis", "Website relaunch", "Migration",
    "Office move", "ERP rollout", "Brand refresh", "Data platform", "Mobile app",
)  # fmt: skip
_SUBFOLDERS = (
    "Working", "Final", "Old", "Input", "Output", "Backup", "Review", "Images",
    "Assets", "Drafts", "Signed", "Received", "Sent", "Misc", "Exports",
)  # fmt: skip
_YEARS = ("2024", "2025", "2026", "2027")
_QUARTERS = ("Q1", "Q2", "Q3", "Q4")
_MONTHS = (
    "01 January", "02 February", "03 March", "04 April", "05 May", "06 June",
    "07 July", "08 August", "09 September", "10 October", "11 November",
    "12 December",
)  # fmt: skip
_WORDS = (
    "the", "of", "and", "to", "in", "a", "for", "is", "on", "that", "by", "with",
    "customer", "revenue", "quarter", "budget", "forecast", "project", "team",
    "review", "approved", "pending", "invoice", "payment", "contract", "delivery",
    "schedule", "milestone", "risk", "owner", "status", "total", "growth", "cost",
    "margin", "target", "update", "meeting", "action", "item", "decision", "draft",
    "policy", "employee", "office", "supplier", "order", "stock", "region", "sales",
    "def", "return", "import", "const", "function", "value", "data", "result",
    "self", "config", "error", "None", "true", "false", "0", "1", "12", "2026",
)  # fmt: skip
_SURROGATES = ("\ud800", "\udfff", "\udc80")
_ODD_UNICODE = (
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\ufeff",  # byte order mark
    "e\u0301",  # decomposed accent
    "\U0001f4c1",  # emoji
    "\uff0f",  # fullwidth solidus
    "\u00a0",  # no-break space
    "\ufffd",  # replacement character
)


def draw_size(rnd: random.Random, file_type: FileType, cap: int) -> int:
    """Draw a plausible size for a new file of ``file_type``, at most ``cap``."""
    size = rnd.lognormvariate(math.log(file_type.median), file_type.sigma)
    return min(cap, int(size))


def file_name(rnd: random.Random, file_type: FileType) -> str:
    """Invent a realistic name for a new file, such as ``Q3 budget v2.xlsx``."""
    ext = file_type.ext
    pick = rnd.random()
    if ext in ("jpg", "png"):
        stem = _picture_stem(rnd, pick)
    elif ext in ("py", "js"):
        stem = rnd.choice(_CODE)
    elif ext == "txt":
        stem = rnd.choice(_NOTES) + rnd.choice(_SUFFIXES)
    elif ext == "zip":
        stem = f"backup {_date(rnd)[:7]}" if pick < 0.5 else f"{_topic(rnd)} files"
    elif ext == "csv":
        stem = f"export_{_date(rnd)}" if pick < 0.5 else _topic(rnd).replace(" ", "_")
    elif ext == "pdf" and pick < 0.4:
        stem = f"Invoice INV-{rnd.randrange(10_000, 99_999)}"
    elif pick < 0.45:
        stem = f"{rnd.choice(_PERIODS)} {rnd.choice(_TOPICS)}{rnd.choice(_SUFFIXES)}"
    elif pick < 0.75:
        stem = f"{_topic(rnd)} - {rnd.choice(_CLIENTS)}{rnd.choice(_SUFFIXES)}"
    else:
        stem = f"{_topic(rnd)} {_date(rnd)}"
    return f"{stem}.{ext}"


def renamed_file(rnd: random.Random, name: str, file_type: FileType) -> str:
    """Invent the new name of a renamed file: a new version suffix or a new name."""
    stem, dot, ext = name.rpartition(".")
    if dot and rnd.random() < 0.6:
        return f"{stem}{rnd.choice(_SUFFIXES[4:])}.{ext}"
    return file_name(rnd, file_type)


def folder_name(rnd: random.Random, parent_name: str, depth: int) -> str:
    """Invent a directory name that fits under ``parent_name`` at ``depth``.

    Top-level directories get category names (``Projects``, ``Invoices``); below
    them come years, quarters and months, projects, clients and working folders,
    so paths read like ``Projects/2026/Q3/Working``.
    """
    if depth == 0:
        return rnd.choice(_TOP_FOLDERS)
    if parent_name in _YEARS:
        return rnd.choice(_QUARTERS if rnd.random() < 0.5 else _MONTHS)
    if parent_name == "Projects":
        return rnd.choice(_PROJECTS)
    if parent_name in ("Clients", "Contracts", "Invoices"):
        return rnd.choice(_CLIENTS if rnd.random() < 0.7 else _YEARS)
    if rnd.random() < 0.4:
        return rnd.choice(_YEARS)
    return rnd.choice(_SUBFOLDERS)


def renamed_folder(rnd: random.Random, name: str, parent_name: str, depth: int) -> str:
    """Invent the new name of a renamed directory."""
    pick = rnd.random()
    marked = name.startswith("_") or name.endswith(" (old)")
    if marked or pick >= 0.5:
        return folder_name(rnd, parent_name, depth)
    return f"{name} (old)" if pick < 0.3 else f"_{name}"


def hostile_name(rnd: random.Random, name: str) -> str:
    """Turn ``name`` into one a careless client would mishandle.

    The result may contain a slash, ``..``, NUL or other control characters, a
    lone surrogate or odd Unicode, or be 300 to 65,536 characters long.
    """
    cut = rnd.randrange(len(name) + 1)
    pick = rnd.randrange(7)
    if pick == 0:
        return f"{name[:cut]}/{name[cut:]}"
    if pick == 1:
        return rnd.choice(("..", "...", f"..{name}", f"{name[:cut]}..{name[cut:]}"))
    if pick == 2:
        return f"{name[:cut]}\x00{name[cut:]}"
    if pick == 3:
        control = chr(rnd.choice((*range(1, 32), 127)))
        return f"{name[:cut]}{control}{name[cut:]}"
    if pick == 4:
        length = int(math.exp(rnd.uniform(math.log(300), math.log(65_536))))
        return (name * (length // max(1, len(name)) + 1))[:length]
    if pick == 5:
        return f"{name[:cut]}{rnd.choice(_SURROGATES)}{name[cut:]}"
    return f"{name[:cut]}{rnd.choice(_ODD_UNICODE)}{name[cut:]}"


class ContentStore:
    """Size and content kind of every file version, and its bytes on demand.

    Version ids start at 1 and are handed out in order by :meth:`add`.
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self.sizes = array("q", [0])
        """Size of every version by id; index 0 is unused."""
        self._kinds = bytearray(1)
        self._digests: dict[int, str] = {}

    def add(self, size: int, kind: int) -> int:
        """Record a new version and return its id."""
        self.sizes.append(size)
        self._kinds.append(kind)
        return len(self._kinds) - 1

    def size(self, file_id: int) -> int | None:
        """Size of version ``file_id``, or None if no such version exists."""
        if 0 < file_id < len(self._kinds):
            return self.sizes[file_id]
        return None

    def kind(self, file_id: int) -> int:
        """Content kind of an existing version ``file_id``."""
        return self._kinds[file_id]

    def read(self, file_id: int, offset: int, length: int) -> bytes:
        """Return ``length`` bytes of version ``file_id`` from ``offset``.

        The answer is shorter when it reaches the end of the version.

        Raises:
            KeyError: no version has this id.
            ValueError: offset or length is negative.
        """
        size = self.size(file_id)
        if size is None:
            raise KeyError(f"unknown file version id {file_id!r}")
        if offset < 0 or length < 0:
            raise ValueError(f"offset {offset} and length {length} must be >= 0")

        end = min(size, offset + length)
        if offset >= end:
            return b""

        first, last = offset // BLOCK_SIZE, (end - 1) // BLOCK_SIZE
        data = b"".join(self._block(file_id, i) for i in range(first, last + 1))
        start = offset - first * BLOCK_SIZE
        return data[start : start + end - offset]

    def sha256(self, file_id: int) -> str:
        """Hex SHA-256 of the whole version, computed block by block.

        Recent answers are cached, since renames, moves and deletes of a file
        name the same version again.

        Raises:
            KeyError: no version has this id.
        """
        cached = self._digests.get(file_id)
        if cached is not None:
            return cached

        size = self.size(file_id)
        if size is None:
            raise KeyError(f"unknown file version id {file_id!r}")
        digest = hashlib.sha256()
        for index in range(0, -(-size // BLOCK_SIZE)):
            digest.update(self._block(file_id, index)[: size - index * BLOCK_SIZE])

        if len(self._digests) >= _SHA_CACHE_SIZE:
            del self._digests[next(iter(self._digests))]
        self._digests[file_id] = hex_digest = digest.hexdigest()
        return hex_digest

    def _block(self, file_id: int, index: int) -> bytes:
        key = f"{self._seed}:{file_id}:{index}".encode()
        digest = hashlib.blake2b(key, digest_size=16).digest()
        pool = _text_pool() if self._kinds[file_id] == TEXT else _random_pool()
        starts = [
            int.from_bytes(digest[i : i + 4]) % _POOL_SIZE for i in range(0, 16, 4)
        ]
        return b"".join([pool[start : start + _SLICE] for start in starts])


def _topic(rnd: random.Random) -> str:
    return rnd.choice(_TOPICS).capitalize()


def _date(rnd: random.Random) -> str:
    return f"{rnd.choice(_YEARS)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"


def _picture_stem(rnd: random.Random, pick: float) -> str:
    if pick < 0.4:
        return f"IMG_{rnd.randrange(10_000):04d}"
    if pick < 0.6:
        return f"DSC{rnd.randrange(100_000):05d}"
    if pick < 0.85:
        hour, minute = rnd.randrange(8, 19), rnd.randrange(60)
        return f"Screenshot {_date(rnd)} at {hour}.{minute:02d}.{rnd.randrange(60):02d}"
    return f"{rnd.choice(_PROJECTS)} logo{rnd.choice(_SUFFIXES)}"


@functools.cache
def _text_pool() -> bytes:
    """Lines of words, long enough to cut any block slice from; built once."""
    rnd = random.Random(0x5EED)
    lines: list[str] = []
    total = 0
    while total < _POOL_SIZE + _SLICE:
        line = " ".join(rnd.choices(_WORDS, k=rnd.randint(5, 14))).capitalize()
        lines.append(f"{line}.\n")
        total += len(lines[-1])
    return "".join(lines).encode()


@functools.cache
def _random_pool() -> bytes:
    """Incompressible bytes to cut any block slice from; built once."""
    return random.Random(0x5EED).randbytes(_POOL_SIZE + _SLICE)
