"""The simulated portal's HTTP face: an ASGI application over a SimulatedPortal.

It answers the calls the official SDK makes (protocol document, sections 3-7) in
both the ``admin`` and the ``ServicesPortal`` contexts. Every error is a JSON or
XML body with a status a real portal would give; never a traceback page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import xmlformat
from .directio import DirectIOService
from .faults import DroppedConnection
from .portal import InvalidCursorError, SimulatedPortal

logger = logging.getLogger("ctera_audit.simulator")

CONTEXTS = ("admin", "ServicesPortal")
PORTAL_VERSION = "7.5.182.16"
_COOKIE = "JSESSIONID"
_EXPIRED_LOCATION = "/ServicesPortal/login.html"
_ROLE_SETTINGS_FIELDS = (
    "superUser",
    "allowRemoteWipe",
    "allowSSO",
    "allowSeedingExport",
    "allowSeedingImport",
    "canAccessEndUserFolders",
    "canChangePortalSettings",
    "canChangeRoles",
    "canChangeUserEmail",
    "canChangeUserPassword",
    "canManageAllFolders",
    "canManagePlans",
    "canManageUsers",
    "canManageLogSettings",
    "allowFoldersFilesPermanentDelete",
    "canManageLegalHolds",
    "canManageComplianceSetting",
)

Handler = Callable[[Request], Awaitable[Response]]


def create_app(portal: SimulatedPortal) -> Starlette:
    """Build the ASGI application serving ``portal``."""
    api = _PortalApi(portal)
    directio = DirectIOService(
        portal.workload,
        access_key_id=portal.config.access_key_id,
        secret_access_key=portal.config.secret_access_key,
        seed=portal.config.seed,
        block_size=portal.config.block_size,
        compression=portal.config.compression,
        faults=api.block_faults,
    )
    routes = [*api.routes(), *directio.routes()]
    return Starlette(
        routes=routes,
        exception_handlers={404: _not_found, 405: _not_allowed, 500: _server_error},
    )


class _PortalApi:
    """Request handlers of the login, session, folder and notification calls."""

    def __init__(self, portal: SimulatedPortal) -> None:
        self.portal = portal

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        for context in CONTEXTS:
            v1 = f"/{context}/api"
            v2 = f"/{context}/v2/api/metadata"
            routes += [
                Route(f"{v1}/login", self.login, methods=["POST"]),
                Route(f"{v1}/logout", self.logout, methods=["POST"]),
                Route(f"{v1}/currentSession", self._authed(self.current_session)),
                Route(f"{v1}/rolesSettings/{{name}}", self._authed(self.role_settings)),
                Route(f"{v1}/currentPortal", self._authed(self.current_portal)),
                Route(f"{v1}/version", self._authed(self.version)),
                Route(
                    f"{v1}/users/{{username}}",
                    self._authed(self.user),
                    methods=["POST", "GET"],
                ),
                Route(
                    f"{v1}/domains/{{domain}}/adUsers/{{username}}",
                    self._authed(self.domain_user),
                    methods=["POST", "GET"],
                ),
                Route(
                    f"{v1}/cloudDrives",
                    self._authed(self.cloud_drives),
                    methods=["POST"],
                ),
                Route(
                    f"{v2}/list",
                    self._authed(self.list_changes, True),
                    methods=["POST"],
                ),
                Route(
                    f"{v2}/longpoll",
                    self._authed(self.longpoll, True),
                    methods=["POST"],
                ),
                Route(
                    f"{v2}/ancestors",
                    self._authed(self.ancestors, True),
                    methods=["POST"],
                ),
            ]
        return routes

    async def block_faults(self, kind: str) -> Response | None:
        """Fault hook of the DirectIO block downloads."""
        return await self.portal.faults.disturb()

    def _authed(self, handler: Handler, faulty: bool = False) -> Handler:
        """Wrap a handler with the session check and, for data calls, the faults."""
        portal = self.portal
        name = handler.__name__

        async def guarded(request: Request) -> Response:
            portal.requests[name] += 1
            if faulty and portal.faults.plan.enabled:
                injected = await portal.faults.disturb()
                if injected is not None:
                    return injected

            state = portal.session_state(request.cookies.get(_COOKIE))
            if state == "missing":
                return _v2_error(401, "Unauthorized: no valid session; log in first")
            if state == "expired":
                if portal.config.behaviour.expired_session == "401":
                    return _v2_error(401, "Session expired; log in again")
                return RedirectResponse(_EXPIRED_LOCATION, status_code=302)
            return await handler(request)

        return guarded

    async def login(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        username = form.get("j_username", [""])[0]
        password = form.get("j_password", [""])[0]
        context = request.url.path.split("/")[1]
        token = self.portal.login(username, password, context)
        if token is None:
            logger.info("login refused for user %r", username)
            return _xml(
                {"msg": "Authentication failed: invalid username or password"}, 403
            )

        response = Response(b"", media_type="text/xml")
        secure = request.url.scheme == "https"
        response.set_cookie(_COOKIE, token, path="/", httponly=True, secure=secure)
        return response

    async def logout(self, request: Request) -> Response:
        self.portal.logout(request.cookies.get(_COOKIE))
        return Response(b"", media_type="text/xml")

    async def current_session(self, request: Request) -> Response:
        return _xml(
            {
                "$class": "CurrentSession",
                "username": self.portal.config.username,
                "role": "ReadWriteAdmin",
                "domain": None,
                "tenant": self.portal.config.tenant or None,
            }
        )

    async def role_settings(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in (
            "readWriteAdminSettings",
            "readOnlyAdminSettings",
            "supportAdminSettings",
        ):
            return _xml({"msg": f"unknown role settings {name}"}, 404)
        settings: dict[str, Any] = {
            "$class": "PortalRoleSettings",
            "name": "ReadWriteAdmin",
        }
        settings.update(dict.fromkeys(_ROLE_SETTINGS_FIELDS, True))
        return _xml(settings)

    async def current_portal(self, request: Request) -> Response:
        return _xml(self.portal.config.tenant)

    async def version(self, request: Request) -> Response:
        return _xml(PORTAL_VERSION)

    async def user(self, request: Request) -> Response:
        username = request.path_params["username"]
        for user in self.portal.workload.users:
            if user.name == username:
                return _xml(
                    {"$class": "PortalUser", "uid": user.uid, "name": user.name}
                )
        return _xml({"msg": f"user {username} not found"}, 404)

    async def domain_user(self, request: Request) -> Response:
        # The simulated portal has local users only, so every directory is empty.
        domain = request.path_params["domain"]
        return _xml({"msg": f"user directory {domain} has no such user"}, 404)

    async def cloud_drives(self, request: Request) -> Response:
        query = xmlformat.decode(await request.body())
        param = query.get("param") if isinstance(query, dict) else None
        if not isinstance(param, dict):
            return _xml({"msg": "malformed cloudDrives query"}, 400)

        owner = param.get("ownedBy")
        names = {
            item.get("value")
            for item in param.get("filters") or []
            if isinstance(item, dict) and item.get("field") == "name"
        }
        matches = [
            folder
            for folder in self.portal.workload.folders
            if (owner in ("", None) or folder.owner.uid == owner)
            and (not names or folder.name in names)
        ]
        start, limit = param.get("startFrom") or 0, param.get("countLimit") or 50
        if not (isinstance(start, int) and isinstance(limit, int) and start >= 0):
            return _xml({"msg": "startFrom and countLimit must be integers"}, 400)
        page = matches[start : start + limit]
        objects = [
            {
                "$class": "CloudDrive",
                "uid": folder.uid,
                "name": folder.name,
                "owner": folder.owner.name,
            }
            for folder in page
        ]
        return _xml({"hasMore": start + limit < len(matches), "objects": objects})

    async def _stream_request(
        self, request: Request
    ) -> tuple[dict[str, Any], list[int], int] | Response:
        """Read the body, folder ids and cursor position shared by list and longpoll."""
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        folder_ids = _folder_ids(body, self.portal.config.behaviour.max_folder_ids)
        if isinstance(folder_ids, Response):
            return folder_ids

        try:
            position = self.portal.position_of(body.get("cursor"))
        except InvalidCursorError:
            return _v2_error(400, "cursor: invalid or issued by another portal")
        return body, folder_ids, position

    async def list_changes(self, request: Request) -> Response:
        parsed = await self._stream_request(request)
        if isinstance(parsed, Response):
            return parsed
        body, folder_ids, position = parsed

        limit = body.get("max_results") or 2000
        if not isinstance(limit, int) or not 1 <= limit <= 10_000:
            return _v2_error(400, "max_results: must be between 1 and 10000")

        if self.portal.faults.happens("malformed"):
            return Response(
                self.portal.faults.malformed_page(), media_type="application/json"
            )
        journal = self.portal.journal
        positions, resume = journal.positions(position, limit, folder_ids)
        entries = journal.read(positions)
        has_more = journal.has_match(resume, folder_ids)
        cursor = orjson.dumps(self.portal.cursor_at(resume))
        page = b"".join(
            (
                b'{"entries":[',
                b",".join(entries),
                b'],"cursor":',
                cursor,
                b',"has_more":',
                b"true" if has_more else b"false",
                b"}",
            )
        )
        return Response(page, media_type="application/json")

    async def longpoll(self, request: Request) -> Response:
        parsed = await self._stream_request(request)
        if isinstance(parsed, Response):
            return parsed
        body, folder_ids, position = parsed

        timeout_ms = body.get("timeout") or 10_000
        if not isinstance(timeout_ms, int | float) or timeout_ms < 0:
            return _v2_error(400, "timeout: must be a positive number of milliseconds")

        hold_s = min(timeout_ms / 1000, self.portal.config.behaviour.longpoll_max_s)
        changes = await self.portal.wait_for_changes(position, folder_ids, hold_s)
        return JSONResponse({"changes": changes})

    async def ancestors(self, request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        guid = body.get("guid")
        if not isinstance(guid, str):
            return _v2_error(400, "guid: must be a string")

        behaviour = self.portal.config.behaviour
        chain = self.portal.workload.ancestors(guid)
        if chain is None:
            if behaviour.ancestors_of_missing == "empty":
                return JSONResponse([])
            return _v2_error(404, f"object {guid} not found")
        if not behaviour.ancestors_include_root:
            chain = chain[1:]
        return Response(orjson.dumps(chain), media_type="application/json")


async def _json_body(request: Request) -> dict[str, Any] | Response:
    try:
        body = orjson.loads(await request.body())
    except ClientDisconnect:
        # The caller hung up (a client being stopped); nobody reads the answer.
        return Response(status_code=499)
    except orjson.JSONDecodeError:
        return _v2_error(400, "request body: not valid JSON")
    if not isinstance(body, dict):
        return _v2_error(400, "request body: expected a JSON object")
    return body


def _folder_ids(body: dict[str, Any], maximum: int) -> list[int] | Response:
    folder_ids = body.get("folder_ids") or []
    valid = isinstance(folder_ids, list) and all(
        isinstance(item, int) and not isinstance(item, bool) for item in folder_ids
    )
    if not valid:
        return _v2_error(400, "folder_ids: must be a list of integers")
    if len(folder_ids) > maximum:
        return _v2_error(400, f"folder_ids: size must be between 0 and {maximum}")
    return folder_ids


def _v2_error(status: int, message: str) -> Response:
    return JSONResponse(
        {"msg": message, "details": [{"error": message}]}, status_code=status
    )


def _xml(value: Any, status: int = 200) -> Response:
    return Response(xmlformat.encode(value), status_code=status, media_type="text/xml")


async def _not_found(request: Request, exc: Exception) -> Response:
    return _v2_error(404, f"no such resource: {request.url.path}")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return _v2_error(405, f"method {request.method} not allowed on {request.url.path}")


async def _server_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DroppedConnection):
        logger.debug("cut the answer to %s, as the fault plan asked", request.url.path)
    else:
        logger.exception("internal error while serving %s", request.url.path)
    return _v2_error(500, "internal error")
