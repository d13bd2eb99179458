"""The web UI's HTTP layer: a Starlette app serving the JSON API (``api.py``), the task
actions (``actions.py``) and the static single-page front end (``static/``).

Security model for a tool that can delete tasks: the server binds to loopback by default
(``server.py``) and answers only to an allow-list of Host names (no DNS rebinding); every
request needs the login token (``TokenAuth``: an HttpOnly SameSite=Strict cookie set by opening
the printed ``/?token=`` URL, or an ``Authorization: token`` header), like Jupyter; every
state-changing request is a POST carrying the per-process CSRF token that only the served page
knows (sent as the ``X-CSRF-Token`` header, which a cross-site form cannot set) and an Origin
equal to this server's; and every response forbids framing and restricts scripts to this
server (``SECURITY_HEADERS``). See "Web UI security" in docs/architecture.md.
"""
from __future__ import annotations

import hmac
import json
import logging
import math
import mimetypes
import os
import secrets
from importlib import resources
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from urllib.parse import parse_qsl, urlencode
from starlette.staticfiles import StaticFiles

from ..errors import (IntegrityError, NotFoundError, PipetrackError, StateError, StorageError,
                      ValidationError)
from ..store import TaskStore, default_store
from . import actions, api
from .server import allowed_hosts as host_allow_list

STATIC_DIR = Path(__file__).with_name("static")
# Headers on every response: no framing (a page of another site can't overlay our buttons), no
# content sniffing, and a CSP allowing only this server's own scripts (plotly needs inline styles).
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                 b"img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
                                 b"base-uri 'none'; form-action 'none'"),
]
MAX_BODY_BYTES = 1024 * 1024  # request bodies beyond this are refused (413), counted while reading
MAX_JSON_DEPTH = 32  # nesting of an action's JSON body (the actions take flat objects)
MAX_INT_DIGITS = 40  # integers in an action's JSON body (beyond any int64 a task field holds)


class BodyTooLarge(PipetrackError):
    """A request body over ``MAX_BODY_BYTES``."""


class ForbiddenFile(PipetrackError):
    """A download whose record names a file outside pipetrack's own destinations."""


class ExternalLink(PipetrackError):
    """A download whose record is a link elsewhere (http(s), another bucket): the UI does not
    fetch it on the user's behalf, it answers the link (``url``) for the page to show."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


ERROR_STATUS = ((BodyTooLarge, 413), (ForbiddenFile, 403), (ExternalLink, 409), (IntegrityError, 409),
                (NotFoundError, 404), (StateError, 409), (ValidationError, 400), (StorageError, 502),
                (PipetrackError, 400))


def plotly_js_path() -> Path:
    """plotly.js as shipped inside the ``plotly`` Python package: served locally, no CDN."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


class SafeJSONResponse(JSONResponse):
    """JSON where NaN and infinities (a diverged loss, say) become ``null``: browsers can't parse
    them, and plotly draws ``null`` as a gap. The common case costs one ``json.dumps``."""

    def render(self, content: Any) -> bytes:
        try:
            return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except ValueError:
            return json.dumps(_finite(content), ensure_ascii=False, allow_nan=False,
                              separators=(",", ":")).encode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class SecurityHeaders:
    """ASGI middleware adding ``SECURITY_HEADERS`` to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pipetrack: log in</title></head>
<body style="font-family: sans-serif; margin: 3em">
<h1>pipetrack</h1>
<p>This page needs the login token. Open the URL printed by <code>pipetrack ui</code>
(it ends in <code>/?token=&hellip;</code>); the token is also in <code>PIPETRACK_HOME/ui-token</code>.</p>
</body></html>
"""


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


class TokenAuth:
    """ASGI middleware: every HTTP request needs the login token, as the ``Authorization: token
    <t>`` header or the HttpOnly cookie set by opening ``/?token=<t>`` (which then redirects to
    the same URL without the token, so it doesn't stay in the address bar or the history).

    ``scope["pipetrack.auth"]`` tells the endpoints how the request was authenticated
    (``"header"``, ``"cookie"`` or ``"none"`` when the app runs without a token)."""

    def __init__(self, app: Any, token: Optional[str]) -> None:
        self.app = app
        self.token = token

    @staticmethod
    def cookie_name(scope: dict) -> str:
        # one cookie per port: cookies ignore ports, and two UIs on one machine must not clash
        server = scope.get("server") or ("", 0)
        return f"pipetrack-ui-{server[1] or 0}"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.token is None:
            scope["pipetrack.auth"] = "none"
            return await self.app(scope, receive, send)
        request = Request(scope)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if given and scope["method"] in ("GET", "HEAD"):
            if len(given) == 1 and _same(given[0], self.token):
                rest = urlencode([(k, v) for k, v in query if k != "token"])
                location = scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else "")
                response = Response(status_code=303, headers={"Location": location, "Cache-Control": "no-store"})
                response.set_cookie(self.cookie_name(scope), self.token, httponly=True, samesite="strict", path="/")
                return await response(scope, receive, send)
            return await self._refuse(scope, receive, send, "wrong login token in the URL")
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if header and scheme.lower() == "token" and _same(value.strip(), self.token):
            scope["pipetrack.auth"] = "header"
            return await self.app(scope, receive, send)
        cookie = request.cookies.get(self.cookie_name(scope))
        if cookie is not None and _same(cookie, self.token):
            scope["pipetrack.auth"] = "cookie"
            return await self.app(scope, receive, send)
        reason = "wrong login token" if header or cookie is not None else "login token required"
        return await self._refuse(scope, receive, send, reason)

    @staticmethod
    async def _refuse(scope: dict, receive: Any, send: Any, reason: str) -> None:
        if scope["path"].startswith("/api/"):
            response: Response = JSONResponse(
                {"error": f"{reason}: open the URL printed by `pipetrack ui` (it ends in /?token=...) or send "
                          "an 'Authorization: token <token>' header", "type": "AuthError"}, status_code=401)
        elif scope["path"] == "/":
            response = HTMLResponse(LOGIN_PAGE, status_code=401, headers={"Cache-Control": "no-store"})
        else:
            response = Response(f"{reason}\n", status_code=401, media_type="text/plain")
        response.headers["WWW-Authenticate"] = "Token"
        await response(scope, receive, send)


class BodyLimit:
    """ASGI middleware capping request bodies at ``max_bytes``: a larger Content-Length is
    answered 413 before anything is read, and a body streamed without one (chunked) is cut off
    with ``BodyTooLarge`` as soon as it passes the cap, so it is never held in memory whole."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> JSONResponse:
        return JSONResponse({"error": f"the request body is larger than {self.max_bytes} bytes",
                             "type": "BodyTooLarge"}, status_code=413)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes or len(value) > 20:
                    return await self._too_large()(scope, receive, send)
        received = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(f"the request body is larger than {self.max_bytes} bytes")
            return message

        async def watched_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large()(scope, receive, send)


def _reject_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValidationError(f"the request body has an integer of {len(text.lstrip('-'))} digits "
                              f"(at most {MAX_INT_DIGITS})")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValidationError(f"the request body has a number out of range: {text[:40]}")
    return value


def _no_constant(name: str) -> Any:
    raise ValidationError(f"the request body has {name}, which is not JSON")


def parse_json_body(raw: bytes) -> Any:
    """An action's JSON body, or ValidationError (400) for anything hostile: not JSON, not
    UTF-8, nested deeper than ``MAX_JSON_DEPTH`` (a 100,000-deep array would otherwise hit the
    recursion limit), integers of more than ``MAX_INT_DIGITS`` digits, NaN/Infinity, 1e400."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the request body must be a JSON object (UTF-8)") from None
    depth = 0
    in_string = escaped = False
    for ch in text:  # nesting is measured before parsing: the parser itself recurses
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ValidationError(f"the request body is nested deeper than {MAX_JSON_DEPTH} levels")
        elif ch in "]}":
            depth -= 1
    try:
        return json.loads(text, parse_int=_reject_int, parse_float=_finite_float, parse_constant=_no_constant)
    except ValidationError:
        raise
    except (ValueError, RecursionError):
        raise ValidationError("the request body must be a JSON object") from None


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def owned_file(url: str, destinations: list[str], what: str, sha256: Optional[str] = None) -> str:
    """The local path to serve for ``url``, a file pipetrack wrote to one of ``destinations``.

    - local: its realpath (symlinks resolved) must lie under a local destination's realpath,
      else ForbiddenFile (a record naming ``file:///etc/passwd`` is not served);
    - remote: fetched only when it lies under a remote destination (protocol and prefix, e.g.
      ``s3://bucket/prefix/``) and is not http(s); else ExternalLink, answering the link;
    - with ``sha256`` the content is verified (``verified_local_copy``; IntegrityError)."""
    from ..storage import is_local, local_path, normalize_url, verified_local_copy
    from ..storage.urls import protocol
    from ..storage.cache import get_local_copy
    try:
        local = is_local(url)
    except PipetrackError:
        raise ForbiddenFile(f"{what} names {url!r}, which is not a file pipetrack can serve") from None
    if local:
        path = os.path.realpath(local_path(url))
        roots = [os.path.realpath(local_path(d)) for d in destinations if is_local(d)]
        if not any(_under(path, root) for root in roots):
            raise ForbiddenFile(f"{what} names {url!r}, which is not under pipetrack's output destinations "
                                f"({', '.join(destinations)}): not served")
        if not os.path.isfile(path):  # a local file that is gone is a 404
            raise NotFoundError(f"the file {url!r} is no longer in storage")
        if sha256:
            verified_local_copy(path, sha256, what)
        return path
    link = normalize_url(url)
    remote = [normalize_url(d).rstrip("/") + "/" for d in destinations if not is_local(d)]
    if protocol(link) in ("http", "https") or not any(link.startswith(prefix) for prefix in remote):
        raise ExternalLink(f"{what} is a link to {link}, outside this task's output destination: "
                           "the UI does not fetch it; open the link yourself", link)
    path = verified_local_copy(link, sha256, what) if sha256 else get_local_copy(link)
    if path is None or not os.path.isfile(path):
        raise NotFoundError(f"the file {url!r} is no longer in storage")
    return path


def _origin_error(request: Request) -> Optional[str]:
    """Why a state-changing request is refused for its Origin (None: it is fine). The Origin
    must be this server's own; a request without one is accepted only when it authenticated
    with the Authorization header (a script, never a browser's ambient cookie)."""
    origin = request.headers.get("origin")
    if origin is None:
        if request.scope.get("pipetrack.auth") == "header":
            return None
        return "a state-changing request needs an Origin header (or the Authorization header)"
    expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if not _same(origin.rstrip("/").lower(), expected.lower()):
        return f"the Origin {origin!r} is not this server's ({expected})"
    return None


def _error_response(exc: Exception) -> JSONResponse:
    """A pipetrack error as its 4xx; anything else is a bug, still answered as JSON (500) so
    the page can show it, and logged with its traceback."""
    for kind, status in ERROR_STATUS:
        if isinstance(exc, kind):
            content = {"error": str(exc), "type": type(exc).__name__}
            if isinstance(exc, ExternalLink):
                content["url"] = exc.url
            return SafeJSONResponse(content, status_code=status)
    logging.getLogger("pipetrack.ui").exception("internal error")
    return SafeJSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}", "type": "InternalError"},
                            status_code=500)


def _list_arg(request: Request, name: str) -> list[str]:
    """Repeated (``?status=a&status=b``) or comma-separated (``?status=a,b``) query values."""
    return [v for raw in request.query_params.getlist(name) for v in raw.split(",") if v]


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


def create_app(allowed_hosts: Optional[list[str]] = None, auth_token: Optional[str] = None) -> Starlette:
    """The UI application over the store under ``PIPETRACK_HOME``; ``allowed_hosts`` are the
    Host names it answers to (default: loopback names only; see ``server.allowed_hosts``);
    ``auth_token`` is the login token every request needs (None: no login, see ``TokenAuth``).

    The store is looked up per request through ``default_store()``, which also runs the
    dead-task watchdog now and then, so tasks whose process died show as aborted."""
    token = secrets.token_urlsafe(32)
    token_bytes = token.encode()
    index_html = (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace("{{CSRF_TOKEN}}", token)

    def json_endpoint(handler: Callable[[TaskStore, Request], Any]) -> Callable[[Request], Awaitable[Response]]:
        """Run ``handler`` (blocking SQLite work, the store lookup and its watchdog sweep included)
        in the thread pool, never on the event loop; PipetrackErrors become 4xx."""
        def call(request: Request) -> Response:
            result = handler(default_store(), request)
            return result if isinstance(result, Response) else SafeJSONResponse(result)

        async def endpoint(request: Request) -> Response:
            try:
                return await run_in_threadpool(call, request)
            except Exception as exc:
                return _error_response(exc)
        return endpoint

    def action_endpoint(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not secrets.compare_digest(request.headers.get("x-csrf-token", "").encode(), token_bytes):
                return JSONResponse({"error": "missing or wrong CSRF token (send the page's X-CSRF-Token header)",
                                     "type": "CSRFError"}, status_code=403)
            origin_problem = _origin_error(request)
            if origin_problem:
                return JSONResponse({"error": origin_problem, "type": "OriginError"}, status_code=403)
            try:
                raw = await request.body()
                body = parse_json_body(raw) if raw else {}
                if not isinstance(body, dict):
                    raise ValidationError(f"the request body must be a JSON object, got {type(body).__name__}")
                result = await run_in_threadpool(
                    lambda: actions.perform(default_store(), name, request.path_params["task_id"], body))
            except Exception as exc:
                return _error_response(exc)
            return SafeJSONResponse(result)
        return endpoint

    def file_response(url: str, filename: str, destinations: list[str], what: str,
                      media_type: Optional[str] = None, sha256: Optional[str] = None) -> Response:
        """Serve ``url`` only if pipetrack owns it (see ``owned_file``), checked against
        ``sha256`` when one was recorded (a mismatch is a 409 naming it, never the bytes)."""
        path = owned_file(url, destinations, what, sha256)
        media_type = media_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type, filename=filename)

    def artifact_file(store: TaskStore, request: Request) -> Response:
        task_id, name = request.path_params["task_id"], request.path_params["name"]
        url, row = api.artifact_url(store, task_id, name)
        if not url:
            raise NotFoundError(f"artifact {name!r} of task {task_id!r} has no file (it is stored inline)")
        extension = row.get("extension") or Path(url).suffix
        filename = name if name.endswith(extension or "") else f"{name}{extension or ''}"
        return file_response(url, filename, api.output_destinations(store, task_id),
                             f"artifact {name!r} of task {task_id}", row.get("content_type"), row.get("hash"))

    def model_file(store: TaskStore, request: Request) -> Response:
        task_id, model_id = request.path_params["task_id"], request.path_params["model_id"]
        url, name, creator = api.model_source(store, task_id, model_id)
        return file_response(url, Path(url.rstrip("/")).name or name,
                             api.output_destinations(store, task_id, creator), f"model {model_id!r}")

    def debug_sample_file(store: TaskStore, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        seq = api._int_arg("seq", request.path_params["seq"], 0, 0, 2 ** 63 - 1)
        url = api.debug_sample_url(store, task_id, seq)
        return file_response(url, Path(url).name, api.output_destinations(store, task_id),
                             f"debug sample #{seq} of task {task_id}")

    def tasks(store: TaskStore, request: Request) -> Any:
        q = request.query_params
        return api.list_tasks(store, project=q.get("project") or None, status=_list_arg(request, "status"),
                              type=_list_arg(request, "type"), tag=_list_arg(request, "tag"),
                              search=q.get("search") or None, sort=q.get("sort") or "-created", page=q.get("page"),
                              page_size=q.get("page_size"), archived=_flag(request, "archived"),
                              parent=q.get("parent") or None, columns=q.getlist("col"))

    def task_id(request: Request) -> str:
        return request.path_params["task_id"]

    routes = [
        Route("/", lambda request: HTMLResponse(index_html, headers={"Cache-Control": "no-store"})),
        Route("/api/projects", json_endpoint(lambda store, r: api.list_projects(store))),
        Route("/api/tasks", json_endpoint(tasks)),
        Route("/api/columns", json_endpoint(lambda store, r: api.task_columns(
            store, project=r.query_params.get("project") or None, archived=_flag(r, "archived")))),
        Route("/api/tasks/{task_id}", json_endpoint(lambda store, r: api.task_detail(store, task_id(r)))),
        Route("/api/tasks/{task_id}/console", json_endpoint(lambda store, r: api.task_console(
            store, task_id(r), tail=r.query_params.get("tail"), after=r.query_params.get("after"),
            before=r.query_params.get("before"), search=r.query_params.get("search") or None))),
        Route("/api/tasks/{task_id}/status", json_endpoint(lambda store, r: api.task_status(store, task_id(r)))),
        Route("/api/tasks/{task_id}/scalars", json_endpoint(lambda store, r: api.task_scalars(
            store, task_id(r), x_axis=r.query_params.get("x_axis") or "iter",
            max_points=r.query_params.get("max_points")))),
        Route("/api/tasks/{task_id}/plots", json_endpoint(lambda store, r: api.task_plots(store, task_id(r)))),
        Route("/api/tasks/{task_id}/debug_samples", json_endpoint(lambda store, r: api.task_debug_samples(store, task_id(r)))),
        Route("/api/tasks/{task_id}/debug_samples/{seq}", json_endpoint(debug_sample_file)),
        Route("/api/tasks/{task_id}/artifacts/{name}", json_endpoint(artifact_file)),
        Route("/api/tasks/{task_id}/models/{model_id}", json_endpoint(model_file)),
        *[Route(f"/api/tasks/{{task_id}}/{name}", action_endpoint(name), methods=["POST"]) for name in actions.ACTIONS],
        Route("/api/compare", json_endpoint(lambda store, r: api.compare_tasks(store, _list_arg(r, "ids")))),
        Route("/api/pipelines", json_endpoint(lambda store, r: api.list_pipelines(
            store, project=r.query_params.get("project") or None, name=r.query_params.get("name") or None,
            page=r.query_params.get("page"), page_size=r.query_params.get("page_size")))),
        Route("/api/pipelines/{run_id}", json_endpoint(lambda store, r: api.pipeline_run(store, r.path_params["run_id"]))),
        Route("/api/queues", json_endpoint(lambda store, r: api.list_queues(store))),
        Route("/api/session", json_endpoint(lambda store, r: api.session_info(store))),
        Route("/static/vendor/plotly.min.js", lambda request: FileResponse(plotly_js_path(),
                                                                          media_type="text/javascript")),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]

    async def api_not_found(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            message = ("no such API endpoint" if exc.status_code == 404 else exc.detail)
            return JSONResponse({"error": f"{message}: {request.method} {request.url.path}", "type": "HTTPError"},
                                status_code=exc.status_code)
        return Response(exc.detail, status_code=exc.status_code)

    middleware = [Middleware(SecurityHeaders),
                  Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or host_allow_list("127.0.0.1")),
                  Middleware(TokenAuth, token=auth_token), Middleware(BodyLimit)]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: api_not_found})
