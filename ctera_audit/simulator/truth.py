"""Ground truth: what the simulated portal really served, for tests to compare with."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from .eventlog import encode_entry

if TYPE_CHECKING:
    from .workload import Change, Workload


class GroundTruthWriter:
    """Writes one JSON line per served change, in the order the portal serves them.

    Each line holds the entry's fields plus ``seq`` (its position in the journal),
    ``path`` (the true full path at event time), ``sha256`` (of that file
    version's content; null for folders and deleted files, and for every event
    when hashes are off), ``action`` and ``scenario``.
    """

    def __init__(self, path: str, workload: Workload, *, hashes: bool = True) -> None:
        self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 - lives as long as the portal
        self._workload = workload
        self._hashes = hashes
        self._seq = 0

    def write(self, change: Change) -> None:
        """Record one change."""
        entry = change.entry
        is_live_file = self._hashes and entry["type"] == "file" and not entry["deleted"]
        record = {
            "seq": self._seq,
            **entry,
            "path": change.path,
            "sha256": self._workload.sha256(entry["id"]) if is_live_file else None,
            "action": change.action,
            "scenario": change.scenario,
        }
        self._file.write(encode_entry(record) + b"\n")
        self._seq += 1

    def flush(self) -> None:
        """Make every written line visible to readers of the file."""
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()
