"""Retrying transient failures with capped exponential back-off and jitter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_never,
    wait_random_exponential,
)

from .errors import PortalUnavailableError, TransientError

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]

_INCIDENT_TRIES = 2
"""Failed tries in a row that make an incident worth a warning."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a call that fails transiently.

    Waits grow exponentially from ``initial_s`` up to ``maximum_s``, each drawn at
    random below that bound ("full jitter") so many clients do not retry in step.
    """

    attempts: int | None = 8
    """Tries in all before giving up; None retries forever (a long-running stream)."""
    initial_s: float = 0.25
    """Upper bound of the first wait."""
    maximum_s: float = 30.0
    """Cap on any single wait."""


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    what: str,
    logger: logging.Logger,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Await ``call()``, retrying it on :class:`TransientError` as ``policy`` says.

    A single failed try that the next one heals is a blip, logged at DEBUG: on a
    busy portal it happens every few calls. A call that fails twice in a row is
    an incident, logged once at WARNING when it starts and once at INFO when it
    ends, however many tries it takes. When the tries run out the last error is
    raised as :class:`PortalUnavailableError`.
    """

    def announce(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if state.attempt_number == 1:
            logger.debug("%s failed (%s); trying again", what, error)
        elif state.attempt_number == _INCIDENT_TRIES:
            logger.warning(
                "%s failed %d times in a row (%s); retrying with back-off",
                what,
                _INCIDENT_TRIES,
                error,
            )

    stop = (
        stop_never if policy.attempts is None else stop_after_attempt(policy.attempts)
    )
    retrying = AsyncRetrying(
        stop=stop,
        wait=wait_random_exponential(multiplier=policy.initial_s, max=policy.maximum_s),
        retry=retry_if_exception_type(TransientError),
        before_sleep=announce,
        sleep=sleep,
        reraise=True,
    )
    attempts = 0
    try:
        async for attempt in retrying:
            attempts = attempt.retry_state.attempt_number
            with attempt:
                result = await call()
    except TransientError as error:
        raise PortalUnavailableError(
            f"{what} still failed after {attempts} tries ({error}); check that the "
            "portal is reachable and healthy, then run again: nothing was lost"
        ) from error

    if attempts > _INCIDENT_TRIES:
        logger.info("%s succeeded after %d tries", what, attempts)
    return result
