"""The studio's web layer: a FastAPI app whose handlers only call `Studio` (session.py), which
only calls `smis.Synthesizer`. JSON in, JSON out (images as PNG data URLs); errors are
{"error": message, "field": the control that caused it} with a 4xx status.

    GET  /                                        the page (static/index.html; static/ holds the rest)
    GET  /api/info                                model, size, classes and palette, examples, limits
    POST /api/sessions                            {"example": 0, "seed": 0} -> a new session
    GET  /api/sessions/{sid}                      the state, the image and the label map
    PUT  /api/sessions/{sid}/label/ids            body: H*W class ids (uint8; uint16 LE beyond 256 classes)
    POST /api/sessions/{sid}/label                multipart file: a label map (grey ids, palette or colours)
    POST /api/sessions/{sid}/example              {"index": i}: an example layout
    GET  /api/sessions/{sid}/label.png?kind=ids   the label map (kind=ids: grey file values; colour)
    GET  /api/sessions/{sid}/image.png            the generated image
    GET  /api/sessions/{sid}/codes                the codes file (Codes.save)
    POST /api/sessions/{sid}/codes                multipart file: a codes file to load
    POST /api/sessions/{sid}/classes/{c}/look     {"seed": n | null}: re-draw class c only
    POST /api/sessions/{sid}/classes/{c}/lock     {"locked": true}
    POST /api/sessions/{sid}/classes/{c}/morph    {"t": 0..1}: between c's previous and current look
    POST /api/sessions/{sid}/classes/{c}/take-look   c's look from the reference
    POST /api/sessions/{sid}/shuffle              {"seed": n | null}: every unlocked class re-drawn
    POST /api/sessions/{sid}/reference            multipart photo + label: the reference look
    POST /api/sessions/{sid}/reference/example    {"index": i}: an example scene as the reference
    GET  /api/examples/{i}/label.png, /photo.png  the example scenes (thumbnails)

Only the studio's own page may change anything: a request that changes state (POST, PUT, PATCH,
DELETE) or names a session (/api/sessions/...) is refused (403) when its Origin, or without one
its Sec-Fetch-Site, or without both its Referer, says it comes from a page of another origin
than the one the studio is served at (scheme://Host, the Host header that TrustedHostMiddleware
checks against DNS rebinding); requests with none of the three (curl, scripts) pass. A JSON body
needs Content-Type: application/json, an upload multipart/form-data, the canvas's ids
application/octet-stream or none (415 otherwise), so no cross-site form or text/plain "simple
request" reaches a handler. One client address may open SESSIONS_PER_MINUTE sessions a minute
(429 beyond); a full session table refuses new sessions rather than closing one in use
(session.py). A client that disconnects mid-upload is one log line, not a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect

from .guards import JSON, RAW, SESSIONS_PER_MINUTE, UPLOAD, Guard, SameOrigin, SessionRate
from .session import MAX_SEED, Studio
from .uploads import StudioError

STATIC = Path(__file__).parent / "static"
LOCAL_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
log = logging.getLogger("smis.studio")
Upload = Annotated[UploadFile, File()]


class NewSession(BaseModel):
    example: int | None = 0
    seed: int = Field(0, ge=0, le=MAX_SEED)


class Seed(BaseModel):
    seed: int | None = Field(None, ge=0, le=MAX_SEED)


class Lock(BaseModel):
    locked: bool


class Morph(BaseModel):
    t: float = Field(ge=0, le=1)


class Index(BaseModel):
    index: int


# what each request field must be, for the messages of a request that does not validate
FIELD_HELP = {"t": "a number in [0, 1]", "seed": f"a whole number in 0..{MAX_SEED}, or null for a random one",
              "locked": "true or false", "index": "an example's number (0, 1, ...)",
              "example": "an example's number (0, 1, ...) or null for an empty map",
              "c": "a class id (0, 1, ...)", "file": "a file upload", "photo": "a photo file upload",
              "label": "a label map file upload"}


def expected_body(model) -> str:
    """A JSON body of `model` as text, each field with what it must be: {"locked": true or false}."""
    fields = getattr(model, "model_fields", {})
    return "{" + ", ".join(f'"{name}": {FIELD_HELP.get(name, "a value")}' for name in fields) + "}"


def validation_message(request: Request, errors: list) -> str:
    """One sentence for a request FastAPI could not validate: the field, what it must be, what came."""
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ())]
    if first.get("type") == "missing" and loc == ["body"]:
        field = getattr(request.scope.get("route"), "body_field", None)
        model = getattr(getattr(field, "field_info", None), "annotation", None)
        shown = expected_body(model) if model is not None else "a JSON body"
        return f"the request has no body; this request needs {shown}"
    where = ".".join(p for p in loc if p not in ("body", "path", "query"))
    name = loc[-1] if loc else ""
    if name in FIELD_HELP:
        if first.get("type") == "missing":
            return f"{name} is missing: it must be {FIELD_HELP[name]}"
        given = first.get("input")
        shown = repr(given[:40] if isinstance(given, str) else given)[:60]
        return f"{name} must be {FIELD_HELP[name]}; got {shown}"
    message = first.get("msg", "invalid request")
    return f"{where}: {message}" if where else message


def create_app(studio: Studio, allowed_hosts: list[str] | None = None,
               sessions_per_minute: int = SESSIONS_PER_MINUTE) -> FastAPI:
    """The app for one Studio. allowed_hosts: the Host headers accepted (None: any; the command
    line passes the loopback names when it binds 127.0.0.1, against DNS rebinding);
    sessions_per_minute: new sessions one client address may open a minute."""
    app = FastAPI(title="smis studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = studio
    app.state.session_rate = rate = SessionRate(sessions_per_minute)
    limit = studio.limits.max_bytes
    app.add_middleware(SameOrigin)                  # inside TrustedHost: the Host it compares is checked
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    app.add_middleware(Guard, max_bytes=2 * limit + 64 * 1024)          # two files (reference) + form

    @app.exception_handler(StudioError)
    async def studio_error(request: Request, e: StudioError):
        return JSONResponse({"error": e.message, "field": e.field}, e.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError):
        errors = e.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            return JSONResponse({"error": "the request body is not valid JSON", "field": None}, 422)
        return JSONResponse({"error": validation_message(request, errors), "field": None}, 422)

    def client_gone(request: Request) -> Response:
        route = getattr(request.scope.get("route"), "path", request.url.path)
        log.warning("studio: the client disconnected during %s %s before sending all of it; nothing changed",
                    request.method, route)
        return Response(status_code=400)                            # nobody is there to read it

    @app.exception_handler(ClientDisconnect)
    async def disconnected(request: Request, e: ClientDisconnect):
        return client_gone(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        if isinstance(e.__cause__, ClientDisconnect):                # FastAPI's "error parsing the body"
            return client_gone(request)
        return JSONResponse({"error": str(e.detail), "field": None}, e.status_code, headers=e.headers)

    async def call(fn, *args, **kwargs):
        """Run a Studio method on the studio's model thread (one call at a time, in order; the
        event loop stays free); anything unexpected is a 500 with a message, and the server carries on."""
        try:
            return await asyncio.wrap_future(studio.submit(fn, *args, **kwargs))
        except StudioError:
            raise
        except Exception as e:                                      # a bug, not a bad request
            log.exception("studio: %s failed", getattr(fn, "__name__", fn))
            raise StudioError(f"internal error: {type(e).__name__}: {e}", 500) from None

    async def upload(file: UploadFile, field: str) -> bytes:
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise StudioError(f"the file is larger than {limit} bytes", 413, field)
        return data

    def png(data: bytes, filename: str | None = None) -> Response:
        headers = {"content-disposition": f'attachment; filename="{filename}"'} if filename else None
        return Response(data, media_type="image/png", headers=headers)

    # --- page and model ---------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/info")
    async def info():
        return studio.info()

    @app.get("/api/examples/{index}/{kind}.png")
    async def example_png(index: int, kind: str):
        if kind not in ("label", "photo"):
            raise StudioError(f"no example picture {kind!r}: label or photo", 404, "example")
        return png(await call(studio.example_png, index, kind))

    # --- sessions ---------------------------------------------------------------------------
    @app.post("/api/sessions", dependencies=[JSON])
    async def new_session(request: Request, body: NewSession | None = None):
        body = body or NewSession()
        rate.admit(request.client.host if request.client else "an unknown address")
        return await call(studio.new_session, body.example, body.seed)

    @app.get("/api/sessions/{sid}")
    async def state(sid: str):
        return await call(studio.state, sid)

    @app.put("/api/sessions/{sid}/label/ids", dependencies=[RAW])
    async def label_ids(sid: str, request: Request):
        data = await request.body()
        return await call(studio.set_label_ids, sid, data)

    @app.post("/api/sessions/{sid}/label", dependencies=[UPLOAD])
    async def label_file(sid: str, file: Upload):
        data = await upload(file, "label")
        return await call(studio.set_label_file, sid, data, file.filename or "label map")

    @app.post("/api/sessions/{sid}/example", dependencies=[JSON])
    async def example(sid: str, body: Index):
        return await call(studio.load_example, sid, body.index)

    @app.get("/api/sessions/{sid}/label.png")
    async def label_png(sid: str, kind: str = "ids"):
        data = await call(studio.label_png, sid, kind)
        return png(data, "label.png" if kind == "ids" else "label_colour.png")

    @app.get("/api/sessions/{sid}/image.png")
    async def image_png(sid: str):
        return png(await call(studio.image_png, sid), "image.png")

    @app.get("/api/sessions/{sid}/codes")
    async def codes(sid: str):
        data = await call(studio.codes_file, sid)
        return Response(data, media_type="application/octet-stream",
                        headers={"content-disposition": 'attachment; filename="studio.codes"'})

    @app.post("/api/sessions/{sid}/codes", dependencies=[UPLOAD])
    async def load_codes(sid: str, file: Upload):
        data = await upload(file, "codes")
        return await call(studio.load_codes, sid, data)

    # --- looks ------------------------------------------------------------------------------
    @app.post("/api/sessions/{sid}/classes/{c}/look", dependencies=[JSON])
    async def look(sid: str, c: int, body: Seed | None = None):
        return await call(studio.new_look, sid, c, (body or Seed()).seed)

    @app.post("/api/sessions/{sid}/classes/{c}/lock", dependencies=[JSON])
    async def lock(sid: str, c: int, body: Lock):
        return await call(studio.set_lock, sid, c, body.locked)

    @app.post("/api/sessions/{sid}/classes/{c}/morph", dependencies=[JSON])
    async def morph(sid: str, c: int, body: Morph):
        return await call(studio.morph, sid, c, body.t)

    @app.post("/api/sessions/{sid}/classes/{c}/take-look", dependencies=[JSON])    # no body
    async def take_look(sid: str, c: int):
        return await call(studio.take_look, sid, c)

    @app.post("/api/sessions/{sid}/shuffle", dependencies=[JSON])
    async def shuffle(sid: str, body: Seed | None = None):
        return await call(studio.shuffle, sid, (body or Seed()).seed)

    @app.post("/api/sessions/{sid}/reference", dependencies=[UPLOAD])
    async def reference(sid: str, photo: Upload, label: Upload):
        photo_data = await upload(photo, "reference-photo")
        label_data = await upload(label, "reference-label")
        return await call(studio.set_reference, sid, photo_data, label_data, photo.filename or "your photo")

    @app.post("/api/sessions/{sid}/reference/example", dependencies=[JSON])
    async def reference_example(sid: str, body: Index):
        return await call(studio.reference_example, sid, body.index)

    return app


class BackgroundServer:
    """A real uvicorn serving `app` from a thread on host:port (0: a free port), for tests,
    benchmarks and screenshots:

        with BackgroundServer(app) as url: ...
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self.sock = bind(host, port)
        self.url = f"http://{url_host(host)}:{self.sock.getsockname()[1]}/"
        self.server = uvicorn.Server(server_config(app))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the studio server did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def server_config(app, max_connections: int = 64):
    """uvicorn's settings: quiet, and at most `max_connections` at once (503 beyond), so a burst
    of requests queues a bounded amount of work."""
    import uvicorn

    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                          limit_concurrency=max_connections)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one), so the URL is known before serving."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)       # accepted sockets inherit it
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1" if host == "0.0.0.0" else "[::1]"
    return f"[{host}]" if ":" in host else host
