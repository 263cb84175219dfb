"""A stream's pages, listed and parsed in a child process.

The collector's own process names paths, builds batches and writes Parquet;
reading each page over HTTPS and parsing its JSON are as much work again, and
in one process all of it shares one GIL. :class:`PageProcess` moves them to a
child process (this module's :func:`main`) with a session of its own. The
child runs the ordinary :class:`~ctera_audit.notifications.NotificationService`
and sends each page back over its stdout as Arrow IPC, which the parent maps
without parsing: about a tenth more events per second on a two-core machine
whose other core also serves the portal, more where a core is free.

The parent sends one JSON line on the child's stdin (the session, with its
password, and the stream) and keeps stdin open: the child exits as soon as it
closes, so a parent that dies, even by SIGKILL, takes its child with it. The
child's log records come back as frames and are logged again in the parent,
and an error that ends the child's stream is raised again in the parent, of
the same class and with the same message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterable
from typing import IO, Any

import pyarrow as pa

from . import errors
from .errors import CteraAuditError
from .notifications import NotificationService, ServiceStatistics
from .pages import Page
from .paths import PageOutline
from .portal import SessionRecipe

logger = logging.getLogger("ctera_audit.page_process")

_FRAME = struct.Struct("<cII")
"""A frame: its kind, the length of its JSON header, the length of its payload."""
_PAGE, _ROWS, _LOG, _ERROR, _END = b"P", b"R", b"L", b"E", b"D"
"""Frame kinds: a page as Arrow columns, a page as JSON rows, a log record, the
error that ended the stream, the end of the stream."""
_STOP_TIMEOUT_S = 10
_CHILD = "from ctera_audit.page_process import main; raise SystemExit(main())"
"""The child's program (not ``-m``: the package imports this module itself)."""


class PageProcess:
    """Reads pages like :meth:`NotificationService.pages`, in a child process.

    Args:
        session: how the child logs in (see :meth:`Portal.session_recipe`).
        read_ahead: pages the child fetches ahead of the parent.
        max_results: events per list page.
    """

    def __init__(
        self, session: SessionRecipe, *, read_ahead: int = 3, max_results: int = 2000
    ) -> None:
        self.session = session
        self.read_ahead = read_ahead
        self.max_results = max_results
        self.statistics = ServiceStatistics()

    async def pages(
        self,
        *,
        cloudfolders: Iterable[int] = (),
        cursor: str | None = None,
        until_idle: bool = False,
        columnar: bool = True,
    ) -> AsyncIterator[Page]:
        """Yield every page after ``cursor``, as the service does.

        ``cloudfolders`` are folder ids; clean pages always come as Arrow
        columns (``columnar`` is accepted for the service's signature).
        """
        request = {
            "session": self.session.to_json(),
            "folder_ids": list(cloudfolders),
            "cursor": cursor,
            "until_idle": until_idle,
            "read_ahead": self.read_ahead,
            "max_results": self.max_results,
            "log_level": logging.getLogger("ctera_audit").getEffectiveLevel(),
        }
        child = await asyncio.to_thread(_start_child, request)
        logger.debug("page reader process %d started", child.pid)
        arrived: asyncio.Queue[_Arrival] = asyncio.Queue(self.read_ahead)
        receiver = asyncio.create_task(
            _receive(child, arrived), name="ctera-page-receiver"
        )
        try:
            while True:
                item = await arrived.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                header, page = item
                self._count(header, page)
                yield page
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver
            await asyncio.to_thread(_stop_child, child)

    def _count(self, header: dict[str, Any], page: Page) -> None:
        statistics = self.statistics
        statistics.pages += 1
        statistics.events += len(page)
        statistics.cursor = page.cursor
        statistics.caught_up = header["caught_up"]
        statistics.longpolls = header["longpolls"]


_Arrival = tuple[dict[str, Any], Page] | BaseException | None
"""A page with its header, the error that ended the stream, or None at its end."""


async def _receive(
    child: subprocess.Popen[bytes], arrived: asyncio.Queue[_Arrival]
) -> None:
    """Read the child's frames ahead of the consumer, up to the queue's size.

    Log records are logged again at once; pages, then the stream's end or
    error, go into ``arrived``.
    """
    assert child.stdout is not None
    while True:
        kind, header, page = await asyncio.to_thread(_next_frame, child.stdout)
        if kind == _LOG:
            _log_again(header)
            continue
        if page is not None:
            await arrived.put((header, page))
            continue

        outcome: _Arrival = None
        if kind == _ERROR:
            outcome = _error_again(header)
        elif kind != _END:
            outcome = CteraAuditError(
                f"the page reader process ended unexpectedly (status {child.poll()}); "
                "run again, or read pages in this process "
                "(CollectorSettings(page_reader_process=False))"
            )
        await arrived.put(outcome)
        return


def _start_child(request: dict[str, Any]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", _CHILD]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None
    child.stdin.write(json.dumps(request).encode() + b"\n")
    child.stdin.flush()
    return child


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    """Close the child's stdin, which ends it, reap it, then close its stdout.

    In that order: a receiving thread may be blocked reading stdout, and only
    the child's exit ends that read.
    """
    with contextlib.suppress(OSError):
        child.stdin.close()  # type: ignore[union-attr]
    try:
        child.wait(_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    with contextlib.suppress(OSError):
        child.stdout.close()  # type: ignore[union-attr]


def _next_frame(source: IO[bytes]) -> tuple[bytes, dict[str, Any], Page | None]:
    """Read one frame; a page frame comes back as its :class:`Page`."""
    prefix = source.read(_FRAME.size)
    if len(prefix) < _FRAME.size:
        return b"", {}, None
    kind, header_size, payload_size = _FRAME.unpack(prefix)
    header = json.loads(source.read(header_size))
    if kind == _PAGE:
        # Read into Arrow's own memory: the columns stay views of it, and a
        # page's worth of Python bytes freed every page fragments the heap.
        payload = pa.allocate_buffer(payload_size)
        if source.readinto(memoryview(payload)) < payload_size:  # type: ignore[attr-defined]
            return b"", {}, None  # the child ended mid-frame
        entries = pa.ipc.open_stream(payload).read_next_batch().to_struct_array()
        outline = PageOutline.from_columns(entries)
        page = Page(
            None, header["cursor"], header["has_more"], columns=entries, outline=outline
        )
        return kind, header, page
    payload = source.read(payload_size)
    if kind != _ROWS:
        return kind, header, None
    rows = json.loads(payload)
    return kind, header, Page(rows, header["cursor"], header["has_more"])


def _log_again(header: dict[str, Any]) -> None:
    logging.getLogger(header["name"]).log(header["level"], "%s", header["message"])


def _error_again(header: dict[str, Any]) -> CteraAuditError:
    """The child's error as an exception of the same class and message."""
    kind = getattr(errors, header["type"], None)
    if not (isinstance(kind, type) and issubclass(kind, CteraAuditError)):
        kind = CteraAuditError
    error = kind.__new__(kind)
    Exception.__init__(error, header["message"])
    vars(error).update(header["attributes"])
    return error


# -- the child ----------------------------------------------------------------


class _Frames:
    """Writes frames to the parent, from any thread."""

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink
        self._lock = threading.Lock()

    def send(
        self, kind: bytes, header: dict[str, Any], payload: bytes | memoryview = b""
    ) -> None:
        head = json.dumps(header).encode()
        with self._lock:
            self._sink.write(_FRAME.pack(kind, len(head), len(payload)))
            self._sink.write(head)
            self._sink.write(payload)
            self._sink.flush()


class _ForwardLogs(logging.Handler):
    """Sends each log record to the parent, to be logged again there."""

    def __init__(self, frames: _Frames) -> None:
        super().__init__()
        self._frames = frames

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._frames.send(
                _LOG,
                {
                    "name": record.name,
                    "level": record.levelno,
                    "message": record.getMessage(),
                },
            )


def _page_frame(
    page: Page, service: NotificationService
) -> tuple[bytes, dict, bytes | memoryview]:
    header = {
        "cursor": page.cursor,
        "has_more": page.has_more,
        "caught_up": service.statistics.caught_up,
        "longpolls": service.statistics.longpolls,
    }
    if page.columns is None:
        return _ROWS, header, json.dumps(page.entries).encode()

    sink = pa.BufferOutputStream()
    batch = pa.RecordBatch.from_struct_array(page.columns)
    with pa.ipc.new_stream(sink, batch.schema) as stream:
        stream.write_batch(batch)
    return _PAGE, header, memoryview(sink.getvalue())


async def _serve(request: dict[str, Any], frames: _Frames) -> None:
    """List the stream and send every page, then the end or the error."""
    try:
        portal = await SessionRecipe.from_json(request["session"]).open()
        async with portal:
            service = NotificationService(
                portal,
                read_ahead=request["read_ahead"],
                max_results=request["max_results"],
            )
            stream = service.pages(
                cloudfolders=request["folder_ids"],
                cursor=request["cursor"],
                until_idle=request["until_idle"],
                columnar=True,
            )
            async for page in stream:
                frame = await asyncio.to_thread(_page_frame, page, service)
                await asyncio.to_thread(frames.send, *frame)
    except CteraAuditError as error:
        attributes = {
            key: value
            for key, value in vars(error).items()
            if isinstance(value, int | str | float | bool)
        }
        header = {
            "type": type(error).__name__,
            "message": str(error),
            "attributes": attributes,
        }
        frames.send(_ERROR, header)
        return
    frames.send(_END, {})


def _exit_when_the_parent_goes() -> None:
    """End the process once its stdin closes: the parent stopped or died.

    It reads the file descriptor itself: a thread blocked in ``sys.stdin``'s
    buffered reader would hold its lock when the interpreter shuts down.
    """
    while os.read(sys.stdin.fileno(), 65_536):
        pass
    os._exit(0)


def main() -> int:
    """Run as the child: one JSON request line on stdin, frames on stdout."""
    request = json.loads(sys.stdin.buffer.readline())
    frames = _Frames(sys.stdout.buffer)
    package = logging.getLogger("ctera_audit")
    package.setLevel(request["log_level"])
    package.addHandler(_ForwardLogs(frames))
    package.propagate = False
    watcher = threading.Thread(target=_exit_when_the_parent_goes, daemon=True)
    watcher.start()

    try:
        asyncio.run(_serve(request, frames))
    except Exception as error:  # a bug: the parent says so in one line
        frames.send(
            _ERROR,
            {
                "type": "CteraAuditError",
                "message": f"the page reader failed unexpectedly: "
                f"{type(error).__name__}: {error}",
                "attributes": {},
            },
        )
    return 0
