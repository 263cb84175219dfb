"""Settings of a simulated portal run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .faults import FaultPlan


@dataclass(frozen=True)
class Behaviour:
    """Choices for what the protocol leaves unknown about a real portal.

    The defaults are the most plausible behaviour; each can be switched so a
    client can be tested against the alternatives.
    """

    ancestors_of_missing: Literal["error", "empty"] = "error"
    """Answer for an unknown or deleted object: a 404 error, or an empty list."""
    ancestors_include_root: bool = True
    """Whether the ancestors list starts with the cloud folder's root directory."""
    expired_session: Literal["redirect", "401"] = "redirect"
    """Answer to a call on an expired session: the login-page redirect the SDK
    recognises, or a plain 401."""
    max_folder_ids: int = 100
    """Largest ``folder_ids`` list a notification request may carry."""
    longpoll_max_s: float = 30.0
    """Upper bound on how long a longpoll is held, whatever it asks for."""


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that defines one simulated portal run.

    Two runs with the same configuration serve the same events byte for byte.
    """

    seed: int = 7
    """Seed of the workload: same seed, same events."""
    events: int = 100_000
    """Size of the backlog generated before the portal starts serving."""
    rate: float = 0.0
    """Events per second added live after the backlog; 0 means a finite backlog."""
    users: int = 24
    """Number of users, each with a personal cloud folder."""
    team_folders: int = 6
    """Number of shared team cloud folders."""
    scenario: str | None = None
    """Named incident woven into the workload (see ``SCENARIOS``), or None."""
    events_per_day: int = 20_000
    """Average simulated activity per day, which sets the spread of timestamps."""
    username: str = "admin"
    """Administrator user name accepted at login."""
    password: str = "secret"
    """Administrator password accepted at login."""
    access_key_id: str = "AK-SIMULATED"
    """DirectIO access key id (the bearer token of block-list calls)."""
    secret_access_key: str = "c2ltdWxhdGVkLXNlY3JldC1hY2Nlc3Mta2V5LTMyYnl0ZSE="
    """DirectIO secret access key, base64; its decoded bytes wrap the file keys."""
    session_ttl: float | None = None
    """Seconds a session stays valid after login; None for no expiry."""
    tenant: str = ""
    """Tenant name reported by ``currentPortal``; empty for global administration."""
    faults: FaultPlan = field(default_factory=FaultPlan)
    """Injected faults; none by default."""
    behaviour: Behaviour = field(default_factory=Behaviour)
    """Answers chosen where the protocol is silent."""
    ground_truth: str | None = None
    """Path of a JSON Lines file receiving every served event with its true path."""
    ground_truth_hashes: bool = True
    """Whether the ground truth carries each file version's sha256. Hashing every
    version dominates backlog generation; runs that check no content skip it."""
    block_size: int = 1 << 20
    """Plaintext size of a DirectIO block."""
    compression: str = "snappy"
    """DirectIO block format: snappy, xerial, gzip or none."""
    max_file_size: int = 8 << 20
    """Largest size of a file version in bytes; raise it to serve big files."""

    def __repr__(self) -> str:
        return (
            f"SimulatorConfig(seed={self.seed}, events={self.events}, rate={self.rate})"
        )
