"""Our async DirectIO client: a file's blocks straight from object storage.

One metadata call per file (``GET /directio/{id}`` with the access key id as bearer
token) names the blocks and the wrapped data key; the blocks are then fetched from
their presigned URLs concurrently, decoded (:mod:`ctera_audit.blockcodec`) and
handed out in file order, with bounded requests and bounded buffered bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ctera_audit.blockcodec import decode_block, unwrap_data_key
from ctera_audit.errors import ConfigurationError, ContentError
from ctera_audit.tls import tls_verification

logger = logging.getLogger("ctera_audit.directio")

T = TypeVar("T")
Sink = Callable[[bytes], Awaitable[None] | None]


class FileNotFoundOnPortalError(ContentError):
    """The portal does not know the file id (HTTP 400)."""


class DirectIOUnauthorizedError(ContentError):
    """The portal refused the access key id (HTTP 401)."""


class UnsupportedStorageError(ContentError):
    """Some of the file's blocks are not on a storage node in Direct Mode (HTTP 422)."""


class DirectIOServerError(ContentError):
    """The portal failed, kept failing, or answered something unreadable.

    Attributes:
        status: the last HTTP status, or None when no answer arrived.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class BlockDownloadError(ContentError):
    """A block could not be downloaded from object storage.

    Attributes:
        status: the last HTTP status, or None when no answer arrived.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One block of a file as the portal announces it."""

    url: str = field(repr=False)
    """Presigned storage URL; a short-lived credential, so kept out of reprs."""
    length: int
    """Plaintext length of the block."""


@dataclass(frozen=True, slots=True)
class BlockList:
    """The portal's DirectIO answer for one file."""

    file_id: int
    chunks: tuple[Chunk, ...]
    """Blocks in file order; empty for an empty file."""
    compressed: bool
    encrypted: bool
    wrapped_key: str | None = field(repr=False)
    """The data key wrapped with the secret access key; None when not encrypted."""

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return sum(chunk.length for chunk in self.chunks)


class _Transient(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, reason: str, status: int | None) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


class DirectIOClient:
    """Reads files through DirectIO with bounded concurrency and memory.

    Args:
        base_url: the portal's address, e.g. ``https://portal.example.com``.
        access_key_id: the key pair's access key id, sent as bearer token.
        secret_access_key: the key pair's secret; only used to unwrap data keys.
        verify: TLS verification: True, False, or a CA bundle path.
        max_concurrency: most HTTP requests in flight at once, over all files.
        max_bytes_in_flight: most block bytes downloaded ahead of the consumer, per
            file being read; a single larger block is still fetched, alone.
        retries: how often a transient failure is retried (so up to retries + 1
            attempts per request).
        timeout: seconds allowed for connecting and for each read.
        transport: an httpx transport to use instead of the network (tests).
        backoff: first back-off in seconds; doubled per retry, with jitter.
        max_backoff: longest back-off in seconds.
        sleep: the coroutine that waits between attempts, injectable for tests.
    """

    def __init__(
        self,
        base_url: str,
        access_key_id: str,
        secret_access_key: str,
        *,
        verify: bool | str = True,
        max_concurrency: int = 8,
        max_bytes_in_flight: int = 64 << 20,
        retries: int = 3,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: float = 1.0,
        max_backoff: float = 10.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if max_concurrency < 1 or max_bytes_in_flight < 1 or retries < 0:
            raise ConfigurationError(
                f"max_concurrency={max_concurrency} and max_bytes_in_flight="
                f"{max_bytes_in_flight} must be at least 1 and retries={retries} at "
                "least 0."
            )

        self._base_url = base_url.rstrip("/")
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._max_bytes_in_flight = max_bytes_in_flight
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._requests = asyncio.Semaphore(max_concurrency)

        limits = httpx.Limits(max_connections=max_concurrency)
        options: dict[str, Any] = {
            "verify": tls_verification(verify),
            "timeout": httpx.Timeout(timeout),
            "limits": limits,
            "transport": transport,
        }
        self._portal = httpx.AsyncClient(**options)
        # Storage must not compress on the wire: a gzip block would lose a layer.
        self._storage = httpx.AsyncClient(
            headers={"Accept-Encoding": "identity"}, **options
        )

    def __repr__(self) -> str:
        return f"DirectIOClient(base_url={self._base_url!r})"

    async def __aenter__(self) -> DirectIOClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections to the portal and to object storage."""
        await self._portal.aclose()
        await self._storage.aclose()

    async def metadata(self, file_id: int) -> BlockList:
        """Ask the portal where the file's blocks are and how they are stored.

        Raises:
            FileNotFoundOnPortalError: the portal does not know the id (400).
            DirectIOUnauthorizedError: the access key id was refused (401).
            UnsupportedStorageError: the file is not on Direct Mode storage (422).
            DirectIOServerError: any other failure, after retries where transient.
        """
        url = f"{self._base_url}/directio/{file_id}"
        headers = {"Authorization": f"Bearer {self._access_key_id}"}

        try:
            response = await self._with_retries(
                f"DirectIO metadata of file {file_id}",
                lambda: self._get(self._portal, url, headers),
            )
        except _Transient as failure:
            raise DirectIOServerError(
                f"the portal's DirectIO metadata for file {file_id} failed after "
                f"{self._retries + 1} attempts ({failure.reason}); check the portal's "
                "health and read the file again later.",
                failure.status,
            ) from failure.__cause__

        _raise_for_metadata_status(file_id, response.status_code)
        return _parse_block_list(file_id, response)

    async def iter_blocks(self, file_id: int) -> AsyncIterator[bytes]:
        """Yield the file's plaintext blocks in file order.

        Blocks are downloaded concurrently ahead of the consumer, within
        ``max_concurrency`` requests and ``max_bytes_in_flight`` buffered bytes.
        Closing the iterator early cancels the downloads still running.

        Raises:
            ContentError: a subclass naming what failed, from the metadata call,
                the key unwrap, a download or a block's decoding.
        """
        blocks = await self.metadata(file_id)
        data_key = None
        if blocks.encrypted:
            data_key = unwrap_data_key(
                blocks.wrapped_key or "", self._secret_access_key
            )

        pending: deque[tuple[Chunk, asyncio.Task[bytes]]] = deque()
        buffered = 0
        upcoming = iter(enumerate(blocks.chunks))
        following = next(upcoming, None)
        ready: bytes | None = None
        try:
            while True:
                # Refill the window before handing a block out, so downloads go on
                # while the consumer works; the handed-out block no longer counts.
                while following is not None and (
                    not pending
                    or buffered + following[1].length <= self._max_bytes_in_flight
                ):
                    index, chunk = following
                    task = asyncio.create_task(
                        self._fetch_block(blocks, index, chunk, data_key)
                    )
                    pending.append((chunk, task))
                    buffered += chunk.length
                    following = next(upcoming, None)

                if ready is not None:
                    yield ready
                if not pending:
                    break

                chunk, task = pending.popleft()
                ready = await task
                buffered -= chunk.length
        finally:
            for _, task in pending:
                task.cancel()
            await asyncio.gather(*(task for _, task in pending), return_exceptions=True)

    async def read(self, file_id: int) -> bytes:
        """Return the whole file; for large files prefer :meth:`iter_blocks`."""
        return b"".join([block async for block in self.iter_blocks(file_id)])

    async def digest(self, file_id: int, sink: Sink | None = None) -> tuple[str, int]:
        """Hash the file while streaming it, optionally passing each block on.

        Args:
            file_id: the notification event id of the file.
            sink: called (and awaited, if it returns an awaitable) with each block
                in order, e.g. to write the content somewhere as it is hashed.

        Returns:
            The SHA-256 hex digest and the size in bytes.
        """
        sha256 = hashlib.sha256()
        size = 0
        async for block in self.iter_blocks(file_id):
            sha256.update(block)
            size += len(block)
            if sink is not None:
                result = sink(block)
                if inspect.isawaitable(result):
                    await result
        return sha256.hexdigest(), size

    async def _fetch_block(
        self, blocks: BlockList, index: int, chunk: Chunk, data_key: bytes | None
    ) -> bytes:
        what = (
            f"DirectIO block {index + 1}/{len(blocks.chunks)} of file {blocks.file_id}"
        )

        try:
            response = await self._with_retries(
                what, lambda: self._get(self._storage, chunk.url, {})
            )
        except _Transient as failure:
            raise BlockDownloadError(
                f"{what} failed after {self._retries + 1} attempts ({failure.reason}); "
                "check the network path to object storage and read the file again "
                "later.",
                failure.status,
            ) from failure.__cause__
        if not response.is_success:
            raise BlockDownloadError(
                f"{what} was refused with HTTP {response.status_code}; its presigned "
                "URL may have expired, so read the file again.",
                response.status_code,
            )

        return decode_block(response.content, data_key, blocks.compressed, chunk.length)

    async def _get(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str]
    ) -> httpx.Response:
        async with self._requests:
            try:
                response = await client.get(url, headers=headers)
            except httpx.TransportError as exc:
                raise _Transient(type(exc).__name__, None) from exc

        if response.status_code >= 500 or response.status_code == 429:
            raise _Transient(f"HTTP {response.status_code}", response.status_code)
        return response

    async def _with_retries(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        for number in range(self._retries):
            try:
                return await attempt()
            except _Transient as failure:
                if number == 0:
                    logger.warning(
                        "%s failed (%s); retrying up to %d times",
                        what,
                        failure.reason,
                        self._retries,
                    )
                else:
                    logger.debug("%s failed again (%s)", what, failure.reason)

            delay = min(self._max_backoff, self._backoff * 2**number)
            await self._sleep(delay * random.uniform(0.5, 1.0))

        return await attempt()


def _raise_for_metadata_status(file_id: int, status: int) -> None:
    if status == 400:
        raise FileNotFoundOnPortalError(
            f"the portal does not know file id {file_id} (HTTP 400); the file may have "
            "been deleted since its event, so skip it."
        )
    if status == 401:
        raise DirectIOUnauthorizedError(
            f"the portal refused the access key id while reading file {file_id} "
            "(HTTP 401); check that the key pair belongs to a tenant user with the "
            "Read Write Administrator role."
        )
    if status == 422:
        raise UnsupportedStorageError(
            f"file {file_id} is not entirely on a storage node in Direct Mode "
            "(HTTP 422); set its storage node to Direct Mode or skip the file."
        )
    if not 200 <= status < 300:
        raise DirectIOServerError(
            f"the portal answered the DirectIO metadata call for file {file_id} with "
            f"HTTP {status}; check that the base URL points at the portal.",
            status,
        )


def _parse_block_list(file_id: int, response: httpx.Response) -> BlockList:
    try:
        body = response.json()
        chunks = tuple(
            Chunk(str(item["url"]), int(item["len"])) for item in body["chunks"] or ()
        )
        compressed = str(body["compression_type"]).upper() != "NONE"
        encrypted = bool(body["encrypt_info"]["data_encrypted"])
        wrapped_key = body["encrypt_info"].get("wrapped_key") if encrypted else None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DirectIOServerError(
            f"the portal's DirectIO metadata for file {file_id} could not be read "
            f"({type(exc).__name__}: a field is missing or malformed); check that the "
            "base URL points at a CTERA portal.",
            response.status_code,
        ) from exc

    if any(chunk.length < 0 for chunk in chunks) or (
        encrypted and not isinstance(wrapped_key, str)
    ):
        raise DirectIOServerError(
            f"the portal's DirectIO metadata for file {file_id} has a negative block "
            "length or an encrypted file without a wrapped key; report it to the "
            "portal administrator.",
            response.status_code,
        )
    return BlockList(file_id, chunks, compressed, encrypted, wrapped_key)
