"""The simulated portal's change journal: every served entry, in order, on disk.

Entries are kept as their final JSON bytes in a spill file, with two compact
arrays in memory (byte offset and cloud folder of each entry). A list page is then
a slice of the file: no per-request serialization, no per-event Python objects,
and memory of about 12 bytes per event however long the journal grows.
"""

from __future__ import annotations

import json
import os
import tempfile
from array import array
from collections.abc import Collection
from typing import Any

import numpy as np
import orjson

_SCAN_WINDOW = 1 << 16


def encode_entry(entry: dict[str, Any]) -> bytes:
    """Serialize one entry as compact JSON.

    orjson refuses strings holding lone surrogates; the standard library escapes
    them as ``\\udXXX``, which is what a Java portal would send for such a name.
    """
    try:
        return orjson.dumps(entry)
    except TypeError:
        return json.dumps(entry, separators=(",", ":")).encode()


class EventLog:
    """Append-only journal of served entries with positional, folder-filtered reads."""

    def __init__(self, directory: str | None = None) -> None:
        handle, self._path = tempfile.mkstemp(
            prefix="ctera-sim-", suffix=".journal", dir=directory
        )
        self._file = os.fdopen(handle, "w+b")
        self._offsets = array("q", [0])
        self._folders = array("i")
        self._pending = bytearray()

    def __len__(self) -> int:
        return len(self._folders)

    def append(self, entry_json: bytes, folder_id: int) -> None:
        """Add one serialized entry at the end of the journal."""
        self._pending += entry_json
        self._offsets.append(self._offsets[-1] + len(entry_json))
        self._folders.append(folder_id)
        if len(self._pending) > 1 << 22:
            self.flush()

    def flush(self) -> None:
        """Write buffered entries to the spill file so readers see them."""
        if self._pending:
            self._file.seek(0, os.SEEK_END)
            self._file.write(self._pending)
            self._file.flush()
            self._pending.clear()

    def close(self) -> None:
        """Close and delete the spill file."""
        self._file.close()
        os.unlink(self._path)

    def positions(
        self, start: int, limit: int, folder_ids: Collection[int] | None
    ) -> tuple[np.ndarray | range, int]:
        """Find up to ``limit`` entries at or after ``start`` in the given folders.

        Returns the matching positions and the position to resume from: just after
        the last match, or the end of the journal when fewer than ``limit`` matched.
        """
        end = len(self)
        if not folder_ids:
            stop = min(end, start + limit)
            return range(start, stop), stop

        wanted = np.fromiter(folder_ids, dtype=np.int32)
        folders = np.frombuffer(self._folders, dtype=np.int32)
        found: list[np.ndarray] = []
        count = 0
        position = start
        while position < end and count < limit:
            window_end = min(end, position + _SCAN_WINDOW)
            hits = np.flatnonzero(np.isin(folders[position:window_end], wanted))
            hits += position
            found.append(hits[: limit - count])
            count += len(found[-1])
            position = window_end

        matches = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
        resume = int(matches[-1]) + 1 if count >= limit else end
        return matches, resume

    def has_match(self, start: int, folder_ids: Collection[int] | None) -> bool:
        """Tell whether any entry at or after ``start`` lies in the given folders."""
        matches, _ = self.positions(start, 1, folder_ids)
        return len(matches) > 0

    def read(self, positions: np.ndarray | range) -> list[bytes]:
        """Return the serialized entries at the given positions, in order."""
        if len(positions) == 0:
            return []

        self.flush()
        offsets = self._offsets
        indexes = positions if isinstance(positions, range) else positions.tolist()
        first, last = indexes[0], indexes[-1] + 1
        if last - first > 4 * len(indexes):
            return [self._pread(offsets[i], offsets[i + 1]) for i in indexes]

        blob = self._pread(offsets[first], offsets[last])
        base = offsets[first]
        return [blob[offsets[i] - base : offsets[i + 1] - base] for i in indexes]

    def _pread(self, begin: int, end: int) -> bytes:
        return os.pread(self._file.fileno(), end - begin, begin)
