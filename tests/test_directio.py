"""Our DirectIO client and the simulated DirectIO service, over real HTTP.

One uvicorn server on a free loopback port mounts a DirectIO service per storage
flavour; our client and the official SDK's client both read from it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from cterasdk.direct.client import DirectIO
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Mount

from ctera_audit.blockcodec import new_secret_access_key
from ctera_audit.directio import (
    BlockDownloadError,
    DirectIOClient,
    DirectIOUnauthorizedError,
    FileNotFoundOnPortalError,
)
from ctera_audit.simulator.directio import DirectIOService

T = TypeVar("T")

ACCESS_KEY_ID = "AKIA-test-access-key-id"
SECRET = new_secret_access_key()
BLOCK = 64 << 10
FILES = {
    1: b"",
    2: b"x",
    3: bytes(range(256)) * (3 * BLOCK // 256),
    4: (b"ctera " * 40_000) + bytes(range(256)) * 333,
}
FLAVOURS = ["snappy", "xerial", "gzip", "none", "plain"]
"""Mount names: a compression with encryption, or ``plain`` (snappy, unencrypted)."""


class DictContent:
    """A ContentSource over a dict of file id to bytes."""

    def __init__(self, files: dict[int, bytes]) -> None:
        self._files = files

    def content_size(self, file_id: int) -> int | None:
        data = self._files.get(file_id)
        return None if data is None else len(data)

    def content_block(self, file_id: int, offset: int, length: int) -> bytes:
        return self._files[file_id][offset : offset + length]


@dataclass
class Faults:
    """Fault hook state, set by a test; the hook runs on the server's loop."""

    failures_left: int = 0
    delay: float = 0.0
    active: int = 0
    peak: int = 0
    requests: int = 0
    statuses: list[int] = field(default_factory=list)

    def reset(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures_left, self.delay = failures, delay
        self.active = self.peak = self.requests = 0

    async def __call__(self, kind: str) -> Response | None:
        assert kind == "block"
        self.requests += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.active -= 1
        if self.failures_left:
            self.failures_left -= 1
            return Response(b"busy", status_code=503)
        return None


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free loopback port in a background thread."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def faults() -> Faults:
    return Faults()


@pytest.fixture(scope="module")
def portal(faults: Faults) -> Iterator[str]:
    """Base URL of a server with one DirectIO service per flavour under /<flavour>."""
    content = DictContent(FILES)

    def service(compression: str, **options: Any) -> list[Any]:
        return DirectIOService(
            content,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET,
            seed=7,
            block_size=BLOCK,
            compression=compression,
            **options,
        ).routes()

    mounts = [Mount(f"/{name}", routes=service(name)) for name in FLAVOURS[:4]]
    mounts += [
        Mount("/plain", routes=service("snappy", encrypted=False)),
        Mount("/faulty", routes=service("snappy", faults=faults)),
        Mount("/expired", routes=service("snappy", url_ttl=-60)),
    ]
    with serve(Starlette(routes=mounts)) as url:
        yield url


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def client(base_url: str, **options: Any) -> DirectIOClient:
    options.setdefault("sleep", _no_sleep)
    return DirectIOClient(base_url, ACCESS_KEY_ID, SECRET, **options)


async def _no_sleep(_: float) -> None:
    return None


async def read_with_ours(base_url: str, file_id: int, **options: Any) -> bytes:
    async with client(base_url, **options) as ours:
        return await ours.read(file_id)


async def read_with_sdk(base_url: str, file_id: int) -> bytes:
    async with DirectIO(base_url, ACCESS_KEY_ID, SECRET) as theirs:
        streamer = await theirs.streamer(file_id)
        return b"".join([bytes(block.data) async for block in streamer.start()])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_our_client_reads_every_file_byte_exact(portal: str, flavour: str) -> None:
    async def read_all() -> dict[int, bytes]:
        async with client(f"{portal}/{flavour}", max_concurrency=3) as ours:
            return {file_id: await ours.read(file_id) for file_id in FILES}

    assert run(read_all()) == FILES


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_official_sdk_reads_the_same_bytes(portal: str, flavour: str) -> None:
    base_url = f"{portal}/{flavour}"

    for file_id, data in FILES.items():
        assert run(read_with_sdk(base_url, file_id)) == data
        assert run(read_with_ours(base_url, file_id)) == data


def test_metadata_describes_blocks_and_repeats_the_wrapped_key(portal: str) -> None:
    async def twice() -> tuple[Any, Any]:
        async with client(f"{portal}/snappy") as ours:
            return await ours.metadata(3), await ours.metadata(3)

    first, second = run(twice())

    assert [chunk.length for chunk in first.chunks] == [BLOCK] * 3
    assert first.size == len(FILES[3])
    assert first.compressed and first.encrypted
    assert first.wrapped_key == second.wrapped_key
    assert first.wrapped_key not in repr(first)


def test_an_empty_file_is_one_empty_block(portal: str) -> None:
    async def metadata() -> Any:
        async with client(f"{portal}/snappy") as ours:
            return await ours.metadata(1)

    assert [chunk.length for chunk in run(metadata()).chunks] == [0]


def test_digest_streams_blocks_to_a_sink(portal: str) -> None:
    received: list[bytes] = []

    async def sink(block: bytes) -> None:
        received.append(block)

    async def digest() -> tuple[str, int]:
        async with client(f"{portal}/gzip") as ours:
            return await ours.digest(4, sink)

    assert run(digest()) == (hashlib.sha256(FILES[4]).hexdigest(), len(FILES[4]))
    assert b"".join(received) == FILES[4]
    assert len(received) > 1


def test_wrong_access_key_is_unauthorized_and_not_echoed(portal: str) -> None:
    async def read() -> bytes:
        async with DirectIOClient(f"{portal}/snappy", "wrong-key-id", SECRET) as ours:
            return await ours.read(2)

    with pytest.raises(DirectIOUnauthorizedError) as caught:
        run(read())

    assert "wrong-key-id" not in str(caught.value)
    assert SECRET not in str(caught.value)


def test_unknown_file_id_is_not_found(portal: str) -> None:
    with pytest.raises(FileNotFoundOnPortalError, match="999"):
        run(read_with_ours(f"{portal}/snappy", 999))


def test_non_integer_file_id_is_a_bad_request(portal: str) -> None:
    response = httpx.get(
        f"{portal}/snappy/directio/abc",
        headers={"Authorization": f"Bearer {ACCESS_KEY_ID}"},
    )

    assert response.status_code == 400


def test_blocks_have_no_content_encoding(portal: str) -> None:
    async def first_block() -> httpx.Response:
        async with client(f"{portal}/gzip") as ours:
            url = (await ours.metadata(4)).chunks[0].url
        async with httpx.AsyncClient() as plain:
            return await plain.get(url)

    response = run(first_block())

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert "content-encoding" not in response.headers


def test_a_tampered_signature_is_refused(portal: str) -> None:
    async def fetch(tamper: Callable[[str], str]) -> int:
        async with client(f"{portal}/snappy") as ours:
            url = (await ours.metadata(3)).chunks[1].url
        async with httpx.AsyncClient() as plain:
            return (await plain.get(tamper(url))).status_code

    def other_block(url: str) -> str:
        return url.replace("/3/1?", "/3/2?")

    assert run(fetch(lambda url: url)) == 200
    assert run(fetch(lambda url: url[:-4] + "0000")) == 403
    assert run(fetch(other_block)) == 403


def test_an_expired_block_url_is_refused(portal: str) -> None:
    with pytest.raises(BlockDownloadError) as caught:
        run(read_with_ours(f"{portal}/expired", 3))

    assert caught.value.status == 403


def test_transient_failures_are_retried_and_logged_once(
    portal: str, faults: Faults, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ctera_audit.directio")
    faults.reset(failures=2)
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    data = run(read_with_ours(f"{portal}/faulty", 2, sleep=sleep, backoff=1.0))

    assert data == FILES[2]
    assert faults.requests == 3
    assert len(delays) == 2
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "503" in warnings[0].getMessage()
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert all(ACCESS_KEY_ID not in r.getMessage() for r in caplog.records)


def test_failures_beyond_the_retries_raise_block_download_error(
    portal: str, faults: Faults
) -> None:
    faults.reset(failures=3)

    with pytest.raises(BlockDownloadError, match="503") as caught:
        run(read_with_ours(f"{portal}/faulty", 2, retries=2))

    assert caught.value.status == 503
    assert faults.requests == 3


def test_max_concurrency_is_respected(portal: str, faults: Faults) -> None:
    faults.reset(delay=0.05)

    data = run(read_with_ours(f"{portal}/faulty", 4, max_concurrency=2))

    assert data == FILES[4]
    assert faults.peak == 2


def test_downloads_stay_within_the_byte_budget(portal: str, faults: Faults) -> None:
    faults.reset(delay=0.01)

    async def first_block_then_wait() -> int:
        async with client(f"{portal}/faulty", max_bytes_in_flight=2 * BLOCK) as ours:
            blocks = ours.iter_blocks(4)
            await anext(blocks)
            await asyncio.sleep(0.3)
            started = faults.requests
            await blocks.aclose()
            return started

    assert run(first_block_then_wait()) == 3
    assert faults.peak <= 2


def test_secrets_stay_out_of_the_repr() -> None:
    ours = DirectIOClient("https://portal.example", ACCESS_KEY_ID, SECRET)

    assert "portal.example" in repr(ours)
    assert ACCESS_KEY_ID not in repr(ours)
    assert SECRET not in repr(ours)
    run(ours.aclose())
