"""Running our coroutines from blocking code, including inside Jupyter.

Jupyter already runs an event loop in the main thread, so ``asyncio.run`` fails
there. Two cures exist: patch the running loop to be re-entrant (nest-asyncio,
now archived, or its fork nest-asyncio2), or run our coroutines on a private
event loop in a background thread, as fsspec does. We take the second: it
changes no global state, works with any loop implementation, and lets a
collection keep running in the background while the notebook stays usable.
Top-level ``await`` in a notebook needs neither; it awaits the coroutines
directly.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def private_loop() -> asyncio.AbstractEventLoop:
    """The process-wide background event loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="ctera-audit-loop", daemon=True
            )
            thread.start()
            _loop = loop
        return _loop


def submit(coroutine: Coroutine[Any, Any, T]) -> Future[T]:
    """Start a coroutine on the private loop; returns a thread-safe future."""
    return asyncio.run_coroutine_threadsafe(coroutine, private_loop())


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from blocking code, wherever that is.

    Outside any event loop it is simply ``asyncio.run``; inside a running loop
    (a notebook cell) the coroutine runs on the private loop while this thread
    waits for it.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    return submit(coroutine).result()
