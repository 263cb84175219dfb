"""Fault injection for the simulated portal: off unless a run asks for it.

A fault specification is a comma-separated list of ``kind=probability`` pairs,
for example ``error=0.05,drop=0.02,latency=0.1,latency_s=0.5,seed=3``:

* ``latency``  -- delay an answer by up to ``latency_s`` seconds (default 0.5);
* ``error``    -- answer 500, 502, 503 or 429 instead of serving the request;
* ``drop``     -- send the headers and part of the body, then cut the connection;
* ``malformed``-- serve a list page whose JSON is broken or misses required keys;
* ``expire``   -- end the caller's session just before serving its request;
* ``hostile``  -- give that share of new object names a hostile form
  (``/``, ``..``, NUL, control characters, huge, lone surrogates).

Each decision is drawn from one seeded generator, so a single-client run is
reproducible.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, fields

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from ..errors import ConfigurationError

_ERROR_STATUSES = (500, 502, 503, 429)


@dataclass(frozen=True)
class FaultPlan:
    """Probabilities of each fault kind; all zero means a well-behaved portal."""

    latency: float = 0.0
    """Share of requests answered late."""
    latency_s: float = 0.5
    """Longest added delay, in seconds."""
    error: float = 0.0
    """Share of requests answered with a 5xx or 429 status."""
    drop: float = 0.0
    """Share of requests whose connection is cut mid-answer."""
    malformed: float = 0.0
    """Share of list pages served malformed."""
    expire: float = 0.0
    """Share of requests that find their session expired."""
    hostile: float = 0.0
    """Share of new names that are hostile."""
    seed: int = 0
    """Seed of the fault decisions."""

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        """Read a specification such as ``"error=0.05,drop=0.01"``."""
        if not spec:
            return cls()

        known = {field.name: field.type for field in fields(cls)}
        values: dict[str, float | int] = {}
        for item in spec.split(","):
            key, _, raw = item.strip().partition("=")
            if key not in known or not raw:
                raise ConfigurationError(
                    f"unknown fault setting {item.strip()!r}; use kind=value pairs "
                    f"with kinds {', '.join(sorted(known))}, "
                    "e.g. 'error=0.05,drop=0.01'"
                )
            try:
                values[key] = int(raw) if key == "seed" else float(raw)
            except ValueError as error:
                raise ConfigurationError(
                    f"fault setting {key}={raw!r} is not a number"
                ) from error
        return cls(**values)  # type: ignore[arg-type]

    @property
    def enabled(self) -> bool:
        """Whether any fault can happen at all."""
        return any((self.latency, self.error, self.drop, self.malformed, self.expire))


class DroppedConnection(Exception):
    """Raised inside the server to cut a connection on purpose."""


class _CutResponse(Response):
    """Announces a body, sends part of it, then aborts the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"4096"),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b'{"entries": [', "more_body": True}
        )
        raise DroppedConnection("connection cut by fault injection")


class FaultInjector:
    """Draws fault decisions for a running simulator."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._random = random.Random(plan.seed)
        self.counts: dict[str, int] = {}

    def happens(self, kind: str) -> bool:
        """Decide whether a fault of ``kind`` strikes now, and count it if so."""
        probability = getattr(self.plan, kind)
        if probability <= 0 or self._random.random() >= probability:
            return False

        self.counts[kind] = self.counts.get(kind, 0) + 1
        return True

    async def disturb(self) -> Response | None:
        """Apply the transport-level faults to one request.

        Returns a response to serve instead of the real one, or None to go on.
        """
        if self.happens("latency"):
            await asyncio.sleep(self._random.uniform(0, self.plan.latency_s))
        if self.happens("error"):
            status = self._random.choice(_ERROR_STATUSES)
            return JSONResponse({"msg": "injected fault"}, status_code=status)
        if self.happens("drop"):
            return _CutResponse()
        return None

    def malformed_page(self) -> bytes:
        """Return a broken list page: truncated JSON or entries without keys."""
        if self._random.random() < 0.5:
            return b'{"entries": [{"type": "file", "guid": "'
        return b'{"entries": [{"name": "x"}], "cursor": "bogus", "has_more": false}'
