"""The simulated portal's DirectIO side: block lists and presigned block downloads.

``GET /directio/{file_id}`` answers like a portal (protocol 7.2, 7.3), and
``GET /directio-blocks/{file_id}/{index}`` plays the object storage behind the
presigned URLs it hands out. Blocks are encoded on demand from a
:class:`ContentSource`, so a simulated file costs no memory until it is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ctera_audit.blockcodec import (
    COMPRESSIONS,
    encode_block,
    wrap_data_key,
)
from ctera_audit.errors import ConfigurationError

FaultHook = Callable[[str], Awaitable[Response | None]]
"""Awaited with a request kind (``"block"``); a returned response is served instead."""

_COMPRESSION_TYPES = {
    "snappy": "SNAPPY",
    "xerial": "SNAPPY",
    "gzip": "GZIP",
    "none": "NONE",
}
_THREADPOOL_THRESHOLD = 256 << 10


class ContentSource(Protocol):
    """Where the simulator reads file contents from."""

    def content_size(self, file_id: int) -> int | None:
        """Return the file's size in bytes, or None when the id is unknown."""
        ...

    def content_block(self, file_id: int, offset: int, length: int) -> bytes:
        """Return ``length`` bytes of the file starting at ``offset``."""
        ...


class DirectIOService:
    """DirectIO endpoints of the simulated portal, to mount into its Starlette app.

    Args:
        content: the files served, by notification event id.
        access_key_id: the only bearer token accepted by the metadata call.
        secret_access_key: the base64 secret that wraps every data key.
        seed: makes the per-file data keys reproducible across runs.
        block_size: plaintext bytes per block; the last block is shorter.
        compression: ``"snappy"``, ``"xerial"``, ``"gzip"`` or ``"none"``.
        encrypted: whether blocks are encrypted with the file's data key.
        signing_key: signs block URLs; random per service when None.
        faults: fault-injection hook awaited at the start of each block request.
        url_ttl: seconds a block URL stays valid.
        clock: current time in seconds, for URL expiry.
    """

    def __init__(
        self,
        content: ContentSource,
        *,
        access_key_id: str,
        secret_access_key: str,
        seed: int = 0,
        block_size: int = 1 << 20,
        compression: str = "snappy",
        encrypted: bool = True,
        signing_key: bytes | None = None,
        faults: FaultHook | None = None,
        url_ttl: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if compression not in COMPRESSIONS:
            raise ConfigurationError(
                f"compression={compression!r} is not supported; use one of "
                f"{sorted(COMPRESSIONS)}."
            )
        if block_size < 1:
            raise ConfigurationError(f"block_size={block_size} must be at least 1.")
        try:
            base64.b64decode(secret_access_key, validate=True)
        except binascii.Error:
            raise ConfigurationError(
                "secret_access_key is not valid base64; create one with "
                "ctera_audit.blockcodec.new_secret_access_key()."
            ) from None

        self._content = content
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._seed = seed
        self._block_size = block_size
        self._compression = compression
        self._encrypted = encrypted
        self._signing_key = signing_key if signing_key is not None else os.urandom(32)
        self._faults = faults
        self._url_ttl = url_ttl
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"DirectIOService(block_size={self._block_size}, "
            f"compression={self._compression!r}, encrypted={self._encrypted})"
        )

    def routes(self) -> list[BaseRoute]:
        """Return the metadata and block routes, ready to mount into an app."""
        return [
            Route("/directio/{file_id}", self._metadata, methods=["GET"]),
            Route(
                "/directio-blocks/{file_id}/{index}",
                self._block,
                methods=["GET"],
            ),
        ]

    def data_key(self, file_id: int) -> bytes:
        """Return the file's data key, derived from the seed so every call agrees."""
        message = f"directio-data-key:{file_id}".encode("ascii")
        return hmac.digest(str(self._seed).encode("ascii"), message, hashlib.sha256)

    async def _metadata(self, request: Request) -> Response:
        token = request.headers.get("authorization", "")
        expected = f"Bearer {self._access_key_id}"
        if not hmac.compare_digest(token.encode(), expected.encode()):
            return _error(401, "Unauthorized: unknown or missing access key id")

        file_id = _as_int(request.path_params["file_id"])
        size = None if file_id is None else self._content.content_size(file_id)
        if file_id is None or size is None:
            return _error(400, "File not found")

        expires = int(self._clock() + self._url_ttl)
        chunks = [
            {"url": self._block_url(request, file_id, index, expires), "len": length}
            for index, length in enumerate(self._block_lengths(size))
        ]
        wrapped = None
        if self._encrypted:
            wrapped = wrap_data_key(self.data_key(file_id), self._secret_access_key)
        return JSONResponse(
            {
                "chunks": chunks,
                "compression_type": _COMPRESSION_TYPES[self._compression],
                "encrypt_info": {
                    "data_encrypted": self._encrypted,
                    "wrapped_key": wrapped,
                },
            }
        )

    async def _block(self, request: Request) -> Response:
        if self._faults is not None:
            injected = await self._faults("block")
            if injected is not None:
                return injected

        file_id = _as_int(request.path_params["file_id"])
        index = _as_int(request.path_params["index"])
        if file_id is None or index is None:
            return _error(404, "No such block")
        expires = _as_int(request.query_params.get("expires", ""))
        signature = request.query_params.get("signature", "")
        if (
            expires is None
            or expires < self._clock()
            or not hmac.compare_digest(
                signature.encode(), self._signature(file_id, index, expires).encode()
            )
        ):
            return _error(403, "Request has expired or the signature does not match")

        size = self._content.content_size(file_id)
        lengths = [] if size is None else self._block_lengths(size)
        if not 0 <= index < len(lengths):
            return _error(404, "No such block")

        body = await self._encode(file_id, index, lengths[index])
        return Response(body, media_type="application/octet-stream")

    async def _encode(self, file_id: int, index: int, length: int) -> bytes:
        def encode() -> bytes:
            plain = self._content.content_block(
                file_id, index * self._block_size, length
            )
            key = self.data_key(file_id) if self._encrypted else None
            return encode_block(plain, key, self._compression)

        if length >= _THREADPOOL_THRESHOLD:
            return await run_in_threadpool(encode)
        return encode()

    def _block_lengths(self, size: int) -> list[int]:
        # A real portal's answer for an empty file is unknown; the official SDK
        # rejects an empty chunk list, so an empty file is one empty block.
        full, rest = divmod(size, self._block_size)
        lengths = [self._block_size] * full
        if rest or not lengths:
            lengths.append(rest)
        return lengths

    def _block_url(
        self, request: Request, file_id: int, index: int, expires: int
    ) -> str:
        # Relative to where the routes are mounted, on the scheme and host the
        # client used, so the URL works behind any mount, port or TLS setting.
        prefix = request.scope.get("root_path", "")
        query = urlencode(
            {"expires": expires, "signature": self._signature(file_id, index, expires)}
        )
        url = request.url.replace(
            path=f"{prefix}/directio-blocks/{file_id}/{index}", query=query
        )
        return str(url)

    def _signature(self, file_id: int, index: int, expires: int) -> str:
        message = f"{file_id}:{index}:{expires}".encode("ascii")
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()


def _as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)
