"""State of one simulated portal: its workload, journal, sessions and cursors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from .config import SimulatorConfig
from .eventlog import EventLog, encode_entry
from .faults import FaultInjector
from .truth import GroundTruthWriter
from .workload import Workload

logger = logging.getLogger("ctera_audit.simulator")

_LIVE_TICK_S = 0.05


class InvalidCursorError(ValueError):
    """A cursor that this portal did not issue."""


@dataclass
class Session:
    """A logged-in session, keyed by its JSESSIONID cookie."""

    username: str
    context: str
    expires_at: float | None


class SimulatedPortal:
    """The portal behind the HTTP layer.

    It owns the workload generator (whose tree is the portal's current state),
    the journal of everything generated so far, and the login sessions. The HTTP
    layer only translates requests into calls on this object.
    """

    def __init__(
        self, config: SimulatorConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.clock = clock
        self.workload = Workload(
            config.seed,
            users=config.users,
            team_folders=config.team_folders,
            scenario=config.scenario,
            events_per_day=config.events_per_day,
            hostile_names=config.faults.hostile,
            max_file_size=config.max_file_size,
        )
        self.journal = EventLog()
        self.faults = FaultInjector(config.faults)
        self.identity = hashlib.sha256(f"ctera-sim:{config.seed}".encode()).hexdigest()[
            :12
        ]
        self._changes = self.workload.changes()
        self._truth = (
            GroundTruthWriter(
                config.ground_truth, self.workload, hashes=config.ground_truth_hashes
            )
            if config.ground_truth
            else None
        )
        self._sessions: dict[str, Session] = {}
        self.requests: Counter[str] = Counter()
        """Requests to the calls that need a session, by handler
        (``list_changes``, ``longpoll``, ``ancestors``, ...), faulted ones too."""
        self._grown: asyncio.Condition | None = None
        self._holding = True

    def generate(self, count: int) -> None:
        """Advance the workload by ``count`` changes and journal them."""
        journal, truth, changes = self.journal, self._truth, self._changes
        for _ in range(count):
            change = next(changes)
            journal.append(encode_entry(change.entry), change.entry["folder_id"])
            if truth is not None:
                truth.write(change)

        journal.flush()
        if truth is not None:
            truth.flush()

    async def stream_live(self) -> None:
        """Keep adding changes at the configured rate until cancelled."""
        rate = self.config.rate
        started = self.clock()
        produced = 0
        while True:
            await asyncio.sleep(_LIVE_TICK_S)
            due = int((self.clock() - started) * rate) - produced
            if due > 0:
                self.generate(due)
                produced += due
                await self._announce_growth()

    async def wait_for_changes(
        self, position: int, folder_ids: list[int], timeout_s: float
    ) -> bool:
        """Hold until an entry after ``position`` matches, or until the timeout."""
        if self.journal.has_match(position, folder_ids):
            return True

        grown = self._condition()
        deadline = self.clock() + timeout_s
        async with grown:
            while not self.journal.has_match(position, folder_ids):
                remaining = deadline - self.clock()
                if remaining <= 0 or not self._holding:
                    return False
                try:
                    await asyncio.wait_for(grown.wait(), remaining)
                except TimeoutError:
                    return self.journal.has_match(position, folder_ids)
        return True

    def login(self, username: str, password: str, context: str) -> str | None:
        """Open a session for valid credentials; return its cookie value."""
        valid_user = secrets.compare_digest(username, self.config.username)
        valid_password = secrets.compare_digest(password, self.config.password)
        if not (valid_user and valid_password):
            return None

        token = secrets.token_hex(16).upper()
        ttl = self.config.session_ttl
        expires_at = self.clock() + ttl if ttl is not None else None
        self._sessions[token] = Session(username, context, expires_at)
        logger.debug("session opened for %s in %s", username, context)
        return token

    def logout(self, token: str | None) -> None:
        """Close a session if it exists."""
        if token:
            self._sessions.pop(token, None)

    def session_state(self, token: str | None) -> str:
        """Classify a cookie as ``"valid"``, ``"expired"`` or ``"missing"``."""
        session = self._sessions.get(token) if token else None
        if session is None:
            return "missing"

        expired = session.expires_at is not None and self.clock() >= session.expires_at
        if expired or self.faults.happens("expire"):
            session.expires_at = 0.0
            return "expired"
        return "valid"

    def expire_sessions(self) -> None:
        """End every open session now, as a portal restart or timeout would."""
        for session in self._sessions.values():
            session.expires_at = 0.0

    def cursor_at(self, position: int) -> str:
        """Encode a journal position as an opaque cursor of this portal."""
        raw = f"{self.identity}:{position}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def position_of(self, cursor: str | None) -> int:
        """Decode a cursor; None means the beginning of the journal."""
        if cursor is None:
            return 0
        if not isinstance(cursor, str):
            raise InvalidCursorError(repr(cursor))

        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            identity, _, position = (
                base64.urlsafe_b64decode(padded).decode().partition(":")
            )
            value = int(position)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidCursorError(cursor) from error
        if identity != self.identity or not 0 <= value <= len(self.journal):
            raise InvalidCursorError(cursor)
        return value

    def close(self) -> None:
        """Release the journal and ground-truth files."""
        self.journal.close()
        if self._truth is not None:
            self._truth.close()

    async def stop_holding(self) -> None:
        """Answer every held longpoll now and hold none from here on.

        Called when the server stops, so that a client waiting on a longpoll
        gets its answer ("no changes") instead of a connection cut.
        """
        self._holding = False
        await self._announce_growth()

    def _condition(self) -> asyncio.Condition:
        if self._grown is None:
            self._grown = asyncio.Condition()
        return self._grown

    async def _announce_growth(self) -> None:
        grown = self._condition()
        async with grown:
            grown.notify_all()
