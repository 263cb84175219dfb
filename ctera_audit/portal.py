"""Our own async client of a CTERA Portal's login and notification APIs, on httpx.

One :class:`Portal` is one logged-in session. It retries transient failures,
logs in again by itself when the session expires, and turns every foreign
exception into one of ours.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import orjson

from . import xmlformat
from .errors import (
    AncestorsUnavailableError,
    AuthenticationError,
    CertificateError,
    ConfigurationError,
    FolderNotFoundError,
    PortalRequestError,
    ProtocolError,
    SessionError,
    TooManyFoldersError,
    TransientError,
)
from .pages import Page, load_json, read_page
from .retry import RetryPolicy, Sleep, call_with_retries
from .tls import tls_verification

logger = logging.getLogger("ctera_audit.portal")

Context = Literal["admin", "ServicesPortal"]

_EXPIRED_LOCATION = "/ServicesPortal/login.html"
_RETRYABLE_STATUSES = frozenset((429, 500, 502, 503, 504))
_RELOGINS_PER_CALL = 4
_SIZE_LIMIT = re.compile(r"size must be between (\d+) and (\d+)")


class _Transient(TransientError):
    """One failed try; the retry loop decides whether it becomes an incident."""


class _SessionGone(Exception):
    """The portal no longer knows our session."""


@dataclass(frozen=True, slots=True)
class CloudFolderRef:
    """A cloud drive folder named by its owner and its name, e.g. ``alice/My Files``."""

    owner: str
    name: str

    @classmethod
    def parse(cls, text: str) -> CloudFolderRef:
        """Read ``OWNER/NAME``; the name may itself contain slashes."""
        owner, separator, name = text.partition("/")
        if not separator or not owner or not name:
            raise ConfigurationError(
                f"cloud folder {text!r} is neither an id nor OWNER/NAME; "
                "write it like 'alice/My Files' or give the numeric folder id"
            )
        return cls(owner, name)

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class SessionRecipe:
    """What it takes to open another session like a logged-in :class:`Portal`'s,
    for instance in a child process.

    It carries the password: hand it over a pipe, never on a command line, in
    the environment or in a file.
    """

    url: str
    context: Context
    verify: bool | str
    timeout_s: float
    retry: RetryPolicy
    username: str
    password: str = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """The recipe as JSON values."""
        return {**asdict(self), "retry": asdict(self.retry)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionRecipe:
        """Read a recipe written by :meth:`to_json`."""
        return cls(**{**data, "retry": RetryPolicy(**data["retry"])})

    async def open(self) -> Portal:
        """A new, logged-in portal session."""
        portal = Portal(
            self.url,
            context=self.context,
            verify=self.verify,
            timeout_s=self.timeout_s,
            retry=self.retry,
        )
        try:
            await portal.login(self.username, self.password)
        except BaseException:
            await portal.close()
            raise
        return portal


@dataclass(frozen=True)
class _Credentials:
    username: str
    password: str

    def __repr__(self) -> str:
        return f"_Credentials(username={self.username!r}, password=<hidden>)"


class Portal:
    """An async session with a CTERA Portal.

    Args:
        url: ``https://host:port``, ``http://host:port`` or a bare host name.
        port: port when ``url`` is a bare host; defaults to 443 or 80.
        https: scheme when ``url`` is a bare host.
        context: ``"admin"`` (global administration) or ``"ServicesPortal"`` (tenant).
        verify: verify the TLS certificate (default), ``False`` to skip, or the
            path of a CA bundle to trust.
        timeout_s: read timeout of ordinary calls; longpoll waits longer.
        retry: how transient failures are retried.
        sleep: the back-off sleep, replaceable so tests do not wait.

    Example:
        >>> async with Portal("https://portal.example.com") as portal:
        ...     await portal.login("admin", password)
        ...     page = await portal.list_changes(None)
    """

    def __init__(
        self,
        url: str,
        *,
        port: int | None = None,
        https: bool = True,
        context: Context = "admin",
        verify: bool | str = True,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if context not in ("admin", "ServicesPortal"):
            raise ConfigurationError(
                f"context {context!r} is not known; use 'admin' or 'ServicesPortal'"
            )
        self.base_url = _base_url(url, port, https)
        self.context = context
        self.retry = retry or RetryPolicy()
        self._verify = verify
        self._timeout_s = timeout_s
        self._sleep = sleep
        self._credentials: _Credentials | None = None
        self._relogin_lock = asyncio.Lock()
        self._session_epoch = 0
        self.relogins = 0
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            verify=tls_verification(verify),
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        user = self._credentials.username if self._credentials else None
        return f"Portal({self.base_url!r}, context={self.context!r}, user={user!r})"

    async def __aenter__(self) -> Portal:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def login(self, username: str, password: str) -> None:
        """Open a session; raises :class:`AuthenticationError` on bad credentials."""
        self._credentials = _Credentials(username, password)
        await call_with_retries(
            self._login_once,
            policy=self.retry,
            what=f"login to {self.base_url}",
            logger=logger,
            sleep=self._sleep,
        )
        logger.info("logged in to %s as %s (%s)", self.base_url, username, self.context)

    def session_recipe(self) -> SessionRecipe | None:
        """How to open another session like this one; None before :meth:`login`."""
        if self._credentials is None or not isinstance(self._verify, bool | str):
            return None
        return SessionRecipe(
            self.base_url,
            self.context,
            self._verify,
            self._timeout_s,
            self.retry,
            self._credentials.username,
            self._credentials.password,
        )

    async def logout(self) -> None:
        """End the session; a session the portal already forgot is not an error."""
        if self._credentials is None:
            return
        try:
            await self._http.post(f"/{self.context}/api/logout")
        except httpx.HTTPError as error:
            logger.debug("logout failed: %s", error)
        self._credentials = None
        self._http.cookies.clear()

    async def close(self) -> None:
        """Log out and release the connections."""
        await self.logout()
        await self._http.aclose()

    async def list_changes(
        self,
        cursor: str | None,
        folder_ids: Sequence[int] = (),
        max_results: int = 2000,
        *,
        columnar: bool = False,
        sent: asyncio.Task[bytes] | None = None,
        on_answer: Callable[[bytes], object] | None = None,
    ) -> Page:
        """List changes after ``cursor`` (None: from the beginning).

        ``folder_ids`` empty means every cloud folder. A malformed page is fetched
        again like any transient failure; it never moves the cursor. With
        ``columnar`` a clean page is read into Arrow columns, parsed in a worker
        thread (see :mod:`ctera_audit.pages`).

        A stream that asks for pages early passes the first try's answer, asked
        for with :meth:`send_list`, as ``sent``; ``on_answer`` sees every answer
        before it is read, which is when the next page can be asked for.
        """
        body = _list_request(cursor, folder_ids, max_results)
        first_try = sent

        async def fetch() -> Page:
            nonlocal first_try
            if first_try is None:
                raw = await self._v2("list", body, len(folder_ids))
            else:
                answer, first_try = first_try, None
                raw = await answer
            if on_answer is not None:
                on_answer(raw)
            try:
                return await read_page(raw, columnar=columnar)
            except ProtocolError as error:
                raise _Transient(str(error)) from error

        return await self._with_retries(fetch, "listing changes")

    def send_list(
        self,
        cursor: str | None,
        folder_ids: Sequence[int] = (),
        max_results: int = 2000,
    ) -> asyncio.Task[bytes]:
        """Send one list request now; its answer is one try of a later
        :meth:`list_changes` (its ``sent``)."""
        body = _list_request(cursor, folder_ids, max_results)
        request = self._v2("list", body, len(folder_ids))
        return asyncio.create_task(request, name="ctera-list-sent-early")

    async def longpoll(
        self, cursor: str, folder_ids: Sequence[int] = (), timeout_ms: int = 10_000
    ) -> bool:
        """Wait up to ``timeout_ms`` for changes after ``cursor``; True if there are."""
        body = {"folder_ids": list(folder_ids), "cursor": cursor, "timeout": timeout_ms}
        read_timeout = timeout_ms / 1000 + 10

        async def poll() -> bool:
            raw = await self._v2("longpoll", body, len(folder_ids), read_timeout)
            answer = load_json(raw)
            if not isinstance(answer, dict) or "changes" not in answer:
                raise _Transient("longpoll answer has no 'changes' field")
            return bool(answer["changes"])

        return await self._with_retries(poll, "waiting for changes")

    async def ancestors(self, folder_id: int | None, guid: str) -> list[dict[str, Any]]:
        """Name an object's parents: root first, the object itself last.

        Raises :class:`AncestorsUnavailableError` when the portal does not know
        the object (deleted, or never existed).
        """
        body = {"folder_id": folder_id, "guid": guid}

        async def fetch() -> list[dict[str, Any]]:
            try:
                raw = await self._v2("ancestors", body, 0)
            except PortalRequestError as error:
                if error.status in (400, 404):
                    raise AncestorsUnavailableError(
                        f"the portal cannot name the parents of {guid} in folder "
                        f"{folder_id} (HTTP {error.status}); it was probably deleted"
                    ) from error
                raise
            chain = load_json(raw)
            if not isinstance(chain, list) or not all(
                isinstance(i, dict) for i in chain
            ):
                raise ProtocolError(
                    f"ancestors answer for {guid} is not a list of objects"
                )
            return chain

        return await self._with_retries(fetch, f"ancestors of {guid}")

    async def resolve_folders(
        self, cloudfolders: Iterable[int | str | CloudFolderRef]
    ) -> list[int]:
        """Turn ids, ``OWNER/NAME`` strings and references into folder ids, in order."""
        folder_ids: list[int] = []
        for item in cloudfolders:
            if isinstance(item, int) and not isinstance(item, bool):
                folder_ids.append(item)
            elif isinstance(item, str) and item.isdigit():
                folder_ids.append(int(item))
            else:
                reference = item if isinstance(item, CloudFolderRef) else _to_ref(item)
                folder_ids.extend(await self.find_cloud_folder(reference))
        return folder_ids

    async def cloud_folders(self) -> dict[int, tuple[str, str | None]]:
        """Every cloud folder the account can see: id -> (name, owner name)."""
        return {
            int(item["uid"]): (str(item["name"]), _owner_name(item))
            async for item in self._query_folders(None, None)
        }

    async def find_cloud_folder(self, reference: CloudFolderRef) -> list[int]:
        """Look up the ids of the cloud folders called ``reference.name`` owned by
        ``reference.owner``; raises :class:`FolderNotFoundError` if there is none.
        """
        user = await self._v1("POST", f"users/{reference.owner}", _GET_UID_QUERY)
        if not isinstance(user, dict) or not user.get("name"):
            raise FolderNotFoundError(
                f"user {reference.owner!r} does not exist on the portal"
            )

        folder_ids = [
            int(item["uid"])
            async for item in self._query_folders(user["uid"], reference.name)
        ]
        if not folder_ids:
            raise FolderNotFoundError(
                f"no cloud folder named {reference.name!r} is owned by "
                f"{reference.owner!r}; check the spelling or give the folder id"
            )
        return folder_ids

    async def _query_folders(
        self, owner_uid: int | None, name: str | None
    ) -> AsyncIterator[dict[str, Any]]:
        """Page through the cloud folder query, optionally by owner and name."""
        start = 0
        while True:
            query = _folder_query(owner_uid, name, start)
            answer = await self._v1("POST", "cloudDrives", query)
            if not isinstance(answer, dict) or "objects" not in answer:
                raise ProtocolError(
                    "the portal's cloud folder query was not understood"
                )
            for item in answer["objects"] or []:
                yield item
            if not answer.get("hasMore"):
                return
            start += _QUERY_PAGE

    async def _login_once(self) -> None:
        assert self._credentials is not None
        # The old cookie stays until the answer replaces it: calls in flight
        # meanwhile then fail as expired, not as never logged in.
        form = {
            "j_username": self._credentials.username,
            "j_password": self._credentials.password,
        }
        response = await self._send("POST", f"/{self.context}/api/login", data=form)
        if response.status_code in (401, 403):
            raise AuthenticationError(
                f"the portal at {self.base_url} refused user "
                f"{self._credentials.username!r} (HTTP {response.status_code}); "
                "check the user name and password"
            )
        _raise_for_status(response, "login")
        self._session_epoch += 1

    async def _relogin(self, epoch: int) -> bool:
        """Log in again once, however many calls found the session gone at once.

        Returns whether this call logged in (False: another call already did).
        """
        async with self._relogin_lock:
            if epoch != self._session_epoch:
                return False
            if self._credentials is None:
                raise SessionError(
                    "the portal session ended and no credentials are kept; log in first"
                )
            logger.info("portal session expired; logging in again")
            await self._login_once()
            self.relogins += 1
            return True

    async def _with_retries(self, call: Any, what: str) -> Any:
        return await call_with_retries(
            call, policy=self.retry, what=what, logger=logger, sleep=self._sleep
        )

    async def _v2(
        self,
        call: str,
        body: dict[str, Any],
        folder_count: int,
        read_timeout: float | None = None,
    ) -> bytes:
        path = f"/{self.context}/v2/api/metadata/{call}"
        response = await self._authed(
            "POST",
            path,
            content=orjson.dumps(body),
            headers=_JSON,
            read_timeout=read_timeout,
        )
        if response.status_code == 400:
            _raise_folder_limit(response, folder_count)
        _raise_for_status(response, call)
        return response.content

    async def _v1(self, method: str, path: str, body: Any) -> Any:
        response = await self._authed(
            method, f"/{self.context}/api/{path}", content=xmlformat.encode(body)
        )
        if response.status_code == 404:
            return None
        _raise_for_status(response, path)
        return xmlformat.decode(response.content)

    async def _authed(
        self, method: str, path: str, read_timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send a call that needs the session, logging in again if it expired.

        A session may expire again just after a fresh login (a portal restart);
        only when the logins this call makes itself keep failing is it an error.
        Logins made by concurrent calls do not count against it.
        """
        own_logins = 0
        for _ in range(4 * _RELOGINS_PER_CALL):
            epoch = self._session_epoch
            response = await self._send(
                method, path, read_timeout=read_timeout, **kwargs
            )
            if not _session_gone(response):
                return response
            own_logins += await self._relogin(epoch)
            if own_logins >= _RELOGINS_PER_CALL:
                break

        raise SessionError(
            f"the portal at {self.base_url} dropped the session {_RELOGINS_PER_CALL} "
            "times in a row right after logging in; check that the account may use "
            "the notification API"
        )

    async def _send(
        self, method: str, path: str, read_timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        if read_timeout is not None:
            kwargs["timeout"] = httpx.Timeout(read_timeout, connect=5.0)
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as error:
            raise _Transient(f"{method} {path} timed out") from error
        except httpx.ConnectError as error:
            if _untrusted_certificate(error):
                raise CertificateError(
                    f"the TLS certificate of {self.base_url} is not trusted; pass the "
                    "portal's CA bundle (verify='ca.pem', --ca-bundle) or, for a test "
                    "portal only, turn verification off (verify=False, --insecure)"
                ) from error
            raise _Transient(f"{method} {path}: connection failed") from error
        except httpx.TransportError as error:
            raise _Transient(f"{method} {path}: {type(error).__name__}") from error
        if response.status_code in _RETRYABLE_STATUSES:
            raise _Transient(f"{method} {path} answered HTTP {response.status_code}")
        return response


_JSON = {"Content-Type": "application/json"}
_QUERY_PAGE = 50
_GET_UID_QUERY = {"type": "db", "name": "get-multi", "param": ["/uid", "/name"]}


def _folder_query(
    owner_uid: int | None, name: str | None, start: int
) -> dict[str, Any]:
    param: dict[str, Any] = {
        "startFrom": start,
        "countLimit": _QUERY_PAGE,
        "include": ["uid", "name", "owner"],
    }
    if owner_uid is not None:
        param["ownedBy"] = owner_uid
    if name is not None:
        name_filter = {
            "$class": "StringFilter",
            "field": "name",
            "restriction": "eq",
            "value": name,
        }
        param["filters"] = [name_filter]
    return {"type": "db", "name": "query", "param": param}


def _owner_name(item: dict[str, Any]) -> str | None:
    """The owner of a cloud folder as a name.

    The protocol does not show how a real portal spells the owner; a plain name
    and an object with a ``name`` field are both read, anything else is dropped.
    """
    owner = item.get("owner")
    if isinstance(owner, dict):
        owner = owner.get("name")
    return owner if isinstance(owner, str) and owner else None


def _to_ref(item: object) -> CloudFolderRef:
    if isinstance(item, str):
        return CloudFolderRef.parse(item)
    if isinstance(item, tuple) and len(item) == 2:
        owner, name = item
        return CloudFolderRef(str(getattr(owner, "name", owner)), str(name))
    name, owner = getattr(item, "name", None), getattr(item, "owner", None)
    if name is not None and owner is not None:
        return CloudFolderRef(str(getattr(owner, "name", owner)), str(name))
    raise ConfigurationError(
        f"cannot read {item!r} as a cloud folder; give an id or OWNER/NAME"
    )


def _base_url(url: str, port: int | None, https: bool) -> str:
    if "://" not in url:
        scheme = "https" if https else "http"
        url = f"{scheme}://{url}" + (f":{port}" if port else "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"portal address {url!r} is not a URL; write it like https://portal.example.com:443"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _untrusted_certificate(error: BaseException) -> bool:
    while error is not None:
        if isinstance(error, ssl.SSLCertVerificationError):
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False


def _session_gone(response: httpx.Response) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code == 302 and response.headers.get(
        "location", ""
    ).startswith((_EXPIRED_LOCATION, "https://login.microsoftonline.com"))


def _raise_folder_limit(response: httpx.Response, folder_count: int) -> None:
    match = _SIZE_LIMIT.search(response.text)
    if match:
        raise TooManyFoldersError(
            folder_count, int(match.group(1)), int(match.group(2))
        )


def _list_request(
    cursor: str | None, folder_ids: Sequence[int], max_results: int
) -> dict[str, Any]:
    return {
        "folder_ids": list(folder_ids),
        "cursor": cursor,
        "max_results": max_results,
    }


def _raise_for_status(response: httpx.Response, call: str) -> None:
    if response.is_success:
        return
    detail = response.text[:200]
    raise PortalRequestError(
        f"the portal answered HTTP {response.status_code} to {call}: {detail}",
        response.status_code,
    )
