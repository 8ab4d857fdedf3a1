"""What the studio refuses before a request reaches its handlers: bodies over the upload limit,
requests from other origins (Origin, then Sec-Fetch-Site, then Referer), bodies of the wrong
content type, and floods of new sessions from one client. Security headers go on every answer."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers

from .uploads import StudioError

JSON_TYPE, UPLOAD_TYPE, RAW_TYPE = "application/json", "multipart/form-data", "application/octet-stream"
log = logging.getLogger("smis.studio")
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'none'")
SESSIONS_PER_MINUTE = 30      # new sessions one client address may open in any 60 seconds
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class TooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"the request is larger than {limit} bytes")


class Guard:
    """Pure ASGI middleware: refuses request bodies over `max_bytes` (by Content-Length, and while
    they stream in), and adds security headers (a content security policy: nothing from elsewhere)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            status, message = (400, "bad Content-Length") if not length.isdigit() else \
                (413, f"the request is larger than {self.max_bytes} bytes")
            return await JSONResponse({"error": message, "field": None}, status)(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise TooLarge(self.max_bytes)
            return message

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                            (b"content-security-policy", CSP.encode()), (b"cache-control", b"no-store")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, limited_receive, send_with_headers)


Origin = tuple[str, str, int]                 # scheme, host (lower case), port


def origin_of(url: str) -> Origin | None:
    """scheme://host:port of a URL (default ports filled in); None when it has none ("null")."""
    try:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        return parts.scheme, parts.hostname.lower(), parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:                                      # a port that is not a number
        return None


def show_origin(origin: Origin) -> str:
    scheme, host, port = origin
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def own_origin(scope) -> Origin | None:
    """The origin this request was sent to: its scheme and Host header (which TrustedHostMiddleware
    has checked when the server binds a loopback address), else the server's address."""
    scheme = scope.get("scheme", "http")
    host = Headers(scope=scope).get("host")
    if host:
        return origin_of(f"{scheme}://{host}")
    server = scope.get("server")
    return (scheme, str(server[0]).lower(), int(server[1])) if server else None


def foreign_page(scope) -> str | None:
    """Why this request comes from a page of another origin, or None: Origin when the browser sent
    one, else Sec-Fetch-Site, else Referer; a request with none of them (curl, a script) passes."""
    headers = Headers(scope=scope)
    own = own_origin(scope)
    where = show_origin(own) if own else "this server"
    origin = headers.get("origin")
    if origin is not None:
        return None if own is not None and origin_of(origin) == own else \
            f"the request comes from a page at {origin[:100]!r}, not from the studio's own page ({where})"
    site = headers.get("sec-fetch-site")
    if site is not None:
        return None if site.lower() in ("same-origin", "none") else \
            f"the request comes from another web site (Sec-Fetch-Site: {site[:40]}), not from the studio's " \
            "own page"
    referer = headers.get("referer")
    if referer is not None:
        theirs = origin_of(referer)
        if own is None or theirs != own:
            page = show_origin(theirs) if theirs else repr(referer[:100])
            return f"the request comes from a page at {page} (Referer), not from the studio's own page " \
                   f"({where})"
    return None


class SameOrigin:
    """Pure ASGI middleware: refuses (403) a request that changes state (POST, PUT, PATCH, DELETE)
    or names a session (/api/sessions...) when it comes from a page of another origin (see
    foreign_page), before its body is read: another web site open in the same browser cannot
    create, edit or evict sessions."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and (scope["method"] in UNSAFE_METHODS
                                        or scope["path"].startswith("/api/sessions")):
            why = foreign_page(scope)
            if why is not None:
                log.warning("studio: refused %s %s: %s", scope["method"], scope["path"][:80], why)
                answer = JSONResponse({"error": f"refused: {why}", "field": None}, 403)
                return await answer(scope, receive, send)
        await self.app(scope, receive, send)


class SessionRate:
    """At most `per_minute` new sessions per client address in any 60 seconds (429 beyond)."""

    def __init__(self, per_minute: int = SESSIONS_PER_MINUTE, clock=time.monotonic):
        self.per_minute, self.clock = per_minute, clock
        self.recent: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def admit(self, client: str) -> None:
        with self.lock:
            now = self.clock()
            for key in list(self.recent):                           # forget what is over a minute old
                times = self.recent[key]
                while times and now - times[0] >= 60:
                    times.popleft()
                if not times:
                    del self.recent[key]
            times = self.recent.setdefault(client, deque())
            if len(times) >= self.per_minute:
                wait = max(1, round(60 - (now - times[0])))
                raise StudioError(f"too many new sessions from {client}: at most {self.per_minute} a minute; "
                                  f"use a studio page that is already open, or try again in {wait} s", 429,
                                  "session")
            times.append(now)


def media_type(request: Request) -> str | None:
    value = request.headers.get("content-type")
    return None if value is None else value.split(";", 1)[0].strip().lower()


def has_body(request: Request) -> bool:
    length = request.headers.get("content-length", "0")
    return "transfer-encoding" in request.headers or (length.isdigit() and int(length) > 0)


def body_type(expected: str):
    """A route dependency: the request body must be of the `expected` media type (415 otherwise). A
    request with no body may come without a Content-Type (an optional JSON body takes its
    defaults; a missing one is a 422), and raw bytes may too."""
    what = {JSON_TYPE: "a JSON body", RAW_TYPE: "raw bytes",
            UPLOAD_TYPE: "a file upload (a multipart form)"}[expected]

    async def check(request: Request) -> None:
        got = media_type(request)
        if got is None:                     # raw bytes, or no body at all (the handler says what is missing)
            ok = expected == RAW_TYPE or not has_body(request)
        else:
            ok = got == expected
        if not ok:
            given = f"Content-Type: {got[:60]}" if got is not None else "no Content-Type"
            raise StudioError(f"this request takes {what} with Content-Type: {expected}; got {given}", 415)

    return Depends(check)


JSON, UPLOAD, RAW = body_type(JSON_TYPE), body_type(UPLOAD_TYPE), body_type(RAW_TYPE)
