"""The HTTP application: routes, authentication, bodies, errors, and its two interfaces.

`App` is served by granian through RSGI (`__rsgi__`, the fast path `rune serve` uses)
or by any ASGI server (`__call__`), with the same behaviour. Every request is:

1. routed by exact path (a few paths carry an id: `/access/v1/requests/{id}`); an
   unknown path is a 404, a known one with another method a 405;
2. authenticated: decision routes need `Authorization: Bearer <api token>` when one is
   configured (the admin token is accepted too); admin routes need the admin token and
   do not exist (404) when none is configured. Tokens are compared in constant time
   (as SHA-256 digests, so not even their length leaks);
3. read: a POST must say `Content-Type: application/json` and carry at most
   `max_body_bytes` (413 beyond, before the body is read), one JSON object;
4. answered: a refused request gets a 4xx with `{"error": {"status", "code",
   "message", "path"}}` (access request routes: `application/problem+json`). Hostile
   input never yields a 5xx or an allow; a decision whose evaluation failed is a deny.

`X-Request-ID` is echoed when the client sends one (visible ASCII, at most 200
characters, and never one that contains a configured token: such an id is refused, so
that no response or log line repeats a secret).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any

import orjson

from rune.engine.cache_stats import CacheCounter
from rune.errors import RuneError
from rune.server import authzen, hooks_api, rune_api
from rune.server.approvals import AccessRequests
from rune.server.errors import ServerError
from rune.server.heap import refreeze_heap
from rune.server.http import JSON, PROBLEM_JSON, Call, Headers, Reply, header_map, json_reply
from rune.server.mapping import KnownEntities
from rune.server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from rune.server.metrics import FOLD_AT, Metrics
from rune.server.wire.authzen_v1 import SearchKind, error_body

if TYPE_CHECKING:
    from rune.engine import Engine
    from rune.server.config import ServerConfig
    from rune.server.decision_log import DecisionLog

__all__ = ["App"]

_log = logging.getLogger("rune.server")

Handler = Callable[[Any, Call], Awaitable[Reply]]


class _ClientGone(Exception):
    """The client closed the connection before its request was read: nobody to answer."""

_OPEN, _API, _ADMIN = "open", "api", "admin"


@dataclass(frozen=True, slots=True)
class Route:
    """A route: its name (for metrics), methods, who may call it, and its handler."""

    name: str
    methods: tuple[str, ...]
    guard: str
    handler: Handler
    body: bool  # POST with a JSON body
    raw: bool = False  # POST whose body the handler reads itself (bytes, or the refusal)


def _search(kind: SearchKind) -> Handler:
    async def handler(app: App, call: Call) -> Reply:
        return await authzen.search_route(app, call, kind)
    return handler


async def _health(app: App, call: Call) -> Reply:
    return Reply(200, b'{"status":"ok"}')


async def _ready(app: App, call: Call) -> Reply:
    log = app.log
    if app.closing or (log is not None and not log.healthy):
        reason = "stopping" if app.closing else "the decision log cannot be written"
        return json_reply({"status": "unavailable", "reason": reason}, status=503)
    return json_reply({"status": "ready", "version": app.engine.version})


async def _metrics(app: App, call: Call) -> Reply:
    return Reply(200, app.metrics.render(), METRICS_CONTENT_TYPE)


async def _openapi(app: App, call: Call) -> Reply:
    from rune.server.openapi import openapi_document

    if app._openapi is None:
        app._openapi = orjson.dumps(openapi_document())
    return Reply(200, app._openapi)


_ROUTES: dict[str, Route] = {route.name: route for route in (
    Route("/health", ("GET",), _OPEN, _health, False),
    Route("/ready", ("GET",), _OPEN, _ready, False),
    Route("/metrics", ("GET",), _OPEN, _metrics, False),
    Route("/openapi.json", ("GET",), _OPEN, _openapi, False),
    Route("/.well-known/authzen-configuration", ("GET",), _OPEN, authzen.metadata_route,
          False),
    Route("/access/v1/evaluation", ("POST",), _API, authzen.evaluation_route, True),
    Route("/access/v1/evaluations", ("POST",), _API, authzen.evaluations_route, True),
    Route("/access/v1/search/subject", ("POST",), _API, _search(SearchKind.SUBJECT), True),
    Route("/access/v1/search/resource", ("POST",), _API, _search(SearchKind.RESOURCE), True),
    Route("/access/v1/search/action", ("POST",), _API, _search(SearchKind.ACTION), True),
    Route("/access/v1/requests", ("POST",), _API, authzen.submit_route, True),
    Route("/v1/decide", ("POST",), _API, rune_api.decide_route, True),
    Route("/v1/decide/batch", ("POST",), _API, rune_api.batch_route, True),
    Route("/v1/hooks/claude-code", ("POST",), _API, hooks_api.claude_code_route, False,
          raw=True),
    Route("/v1/query", ("POST",), _ADMIN, rune_api.query_route, True),
    Route("/v1/admin/write", ("POST",), _ADMIN, rune_api.write_route, True),
    Route("/v1/admin/record", ("POST",), _ADMIN, rune_api.record_route, True),
    Route("/v1/admin/approve", ("POST",), _ADMIN, rune_api.approve_route, True),
    Route("/v1/admin/reload", ("POST",), _ADMIN, rune_api.reload_route, False),
    Route("/v1/admin/version", ("GET",), _ADMIN, rune_api.version_route, False),
    Route("/v1/admin/requests", ("GET",), _ADMIN, rune_api.pending_route, False),
)}
# Paths with an id: (prefix, suffix) -> route; the id is one path segment.
_ID_ROUTES: dict[tuple[str, str], Route] = {
    ("/access/v1/requests/", ""): Route("/access/v1/requests/{id}", ("GET",), _API,
                                        authzen.task_route, False),
    ("/access/v1/requests/", "/cancel"): Route("/access/v1/requests/{id}/cancel",
                                               ("POST", "DELETE"), _API,
                                               authzen.cancel_route, False),
    ("/v1/admin/requests/", "/approve"): Route("/v1/admin/requests/{id}/approve", ("POST",),
                                               _ADMIN, rune_api.approve_task_route, False),
    ("/v1/admin/requests/", "/deny"): Route("/v1/admin/requests/{id}/deny", ("POST",),
                                            _ADMIN, rune_api.deny_task_route, False),
}
_NOT_FOUND = ServerError("no such route", status=404, code="not-found")
_FAST_ROUTE = _ROUTES["/access/v1/evaluation"]
_GONE = Reply(499, b"")  # (never sent: the client is gone)
try:
    from granian._granian import RSGIProtocolClosed as _ProtocolClosed
except ImportError:  # served through ASGI without granian
    class _ProtocolClosed(Exception):  # type: ignore[no-redef]
        """Never raised."""
_JSON_HEADERS = [("content-type", JSON)]
_MAX_REQUEST_ID = 200


def _digest(token: str | None) -> bytes | None:
    return None if token is None else hashlib.sha256(token.encode()).digest()


class App:
    """The RUNE server application over one engine (see the module docstring).

    Args:
        engine: the engine deciding (`Engine.load` of the served bundle).
        config: the server's configuration.
        decision_log: where decisions are logged, or None.
        node: the cluster node the engine belongs to (`rune.cluster.Node`), closed when
            the app stops; None for a standalone engine.
    """

    def __init__(self, engine: Engine, config: ServerConfig, *,
                 decision_log: DecisionLog | None = None, node: Any = None) -> None:
        self.engine = engine
        self.node = node
        self.config = config
        self.log = decision_log
        self.cache = CacheCounter()
        self.known = KnownEntities()
        self.requests = AccessRequests(denial_ttl_seconds=config.access_request_ttl_seconds)
        log = decision_log
        self.metrics = Metrics(
            version=lambda: self.engine.version,
            runtime_errors=lambda: self.engine.runtime_errors,
            cache=lambda: (self.cache.hits, self.cache.misses),
            log=(lambda: (log.backlog, log.written, log.failures)) if log is not None
            else (lambda: None))
        self._evaluation_latencies = self.metrics.latencies(_FAST_ROUTE.name)
        self.token_key = os.urandom(32)  # signs search page tokens (this process only)
        self.closing = False
        self._api = _digest(config.api_token)
        self._admin = _digest(config.admin_token)
        self._secrets = tuple(t for t in (config.api_token, config.admin_token) if t)
        self._reload_lock: asyncio.Lock | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stop_watching: asyncio.Event | None = None
        self._openapi: bytes | None = None
        self._public_url = config.public_url
        self._max_body = config.max_body_bytes
        self._fallback_host = (f"[{config.host}]:{config.port}" if ":" in config.host
                               else f"{config.host}:{config.port}")
        self._ids = 0
        self._prefix = os.urandom(4).hex()

    def next_id(self) -> str:
        """A decision id (the decision log's when there is one)."""
        if self.log is not None:
            return self.log.next_id()
        self._ids += 1
        return f"{self._prefix}-{self._ids:x}"

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the decision log's writer and, when configured, the bundle watcher (in
        the running loop, or ``loop``)."""
        if self.log is not None:
            self.log.start()
        if self.config.watch and self._watcher is None:
            from rune.server.reload import watch_bundle

            loop = loop or asyncio.get_event_loop()
            self._stop_watching = asyncio.Event()
            self._watcher = loop.create_task(watch_bundle(self, self._stop_watching))

    def stop(self) -> None:
        """Stop watching, and write and close the decision log."""
        self.closing = True
        if self._stop_watching is not None:
            self._stop_watching.set()
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        if self.log is not None:
            self.log.close()
        if self.node is not None:
            self.node.close()

    async def reload(self, trigger: str) -> list[dict[str, Any]]:
        """Reload the bundle (one reload at a time, in a worker thread); the errors that
        kept the running version serving, or [] when the new version is published."""
        if self._reload_lock is None:
            self._reload_lock = asyncio.Lock()
        async with self._reload_lock:
            try:
                version = await asyncio.to_thread(self.engine.reload)
            except RuneError as error:
                self.metrics.reload_failures += 1
                _log.error("the bundle was not reloaded (%s); version %d keeps serving:\n%s",
                           trigger, self.engine.version, error.render())
                return [_diagnostic(d) for d in error.diagnostics]
            except OSError as error:
                self.metrics.reload_failures += 1
                _log.error("the bundle was not reloaded (%s); version %d keeps serving: %s",
                           trigger, self.engine.version, error)
                return [{"code": "unreadable", "message": str(error)}]
        self.metrics.reloads += 1
        refreeze_heap()
        _log.info("reloaded the bundle (%s): version %d", trigger, version)
        return []

    # -- authentication ------------------------------------------------------------------
    def _bearer(self, headers: Headers) -> bytes | None:
        value = headers.get("authorization")
        if value is None or value[:7].lower() != "bearer ":
            return None
        return hashlib.sha256(value[7:].strip().encode()).digest()

    def is_admin(self, headers: Headers) -> bool:
        """Whether the request carries the admin token (False when there is none)."""
        if self._admin is None:
            return False
        given = self._bearer(headers)
        return given is not None and hmac.compare_digest(given, self._admin)

    def _authorize(self, route: Route, headers: Headers) -> None:
        if route.guard == _ADMIN:
            if self._admin is None:
                raise _NOT_FOUND  # no admin token: the admin routes do not exist
            if not self.is_admin(headers):
                raise _unauthorized("the admin token")
        elif route.guard == _API and self._api is not None:
            given = self._bearer(headers)
            if given is None or not (hmac.compare_digest(given, self._api) or (
                    self._admin is not None and hmac.compare_digest(given, self._admin))):
                raise _unauthorized("the API token")

    # -- dispatch ------------------------------------------------------------------------
    def _route(self, path: str) -> tuple[Route, tuple[str, ...]]:
        route = _ROUTES.get(path)
        if route is not None:
            return route, ()
        for (prefix, suffix), candidate in _ID_ROUTES.items():
            if path.startswith(prefix) and path.endswith(suffix):
                ident = path[len(prefix):len(path) - len(suffix)]
                if ident and "/" not in ident:
                    return candidate, (ident,)
        raise _NOT_FOUND

    def _request_id(self, value: str) -> str:
        if not value or len(value) > _MAX_REQUEST_ID or not value.isascii() \
                or not value.isprintable() or any(s in value for s in self._secrets):
            raise ServerError(f"`X-Request-ID` must be 1 to {_MAX_REQUEST_ID} visible ASCII "
                              "characters and no secret", code="invalid-request-id")
        return value  # type: ignore[no-any-return]

    def _check_body(self, route: Route, headers: Headers) -> int | None:
        """Check the media type and declared size; the declared length, if any."""
        media = headers.get("content-type")
        if media is None or (media != JSON and media.split(";", 1)[0].strip().lower() != JSON):
            raise ServerError("the body must be JSON (`Content-Type: application/json`)",
                              code="unsupported-media-type")
        length = headers.get("content-length")
        if length is None:
            return None
        if not length.isdigit():
            raise ServerError("`Content-Length` must be a number", code="invalid-length")
        size = int(length)
        if size > self.config.max_body_bytes:
            raise _too_large(self.config.max_body_bytes)
        return size

    def _declared_size(self, headers: Headers) -> int | None:
        """The declared body length (None when not declared), within the limit."""
        length = headers.get("content-length")
        if length is None:
            return None
        if not length.isdigit():
            raise ServerError("`Content-Length` must be a number", code="invalid-length")
        if int(length) > self.config.max_body_bytes:
            raise _too_large(self.config.max_body_bytes)
        return int(length)

    def _parse(self, body: bytes) -> Any:
        if not body:
            raise ServerError("the request body is empty: a JSON object is expected",
                              code="empty-body")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            reason = str(error).split(":", 1)[0]
            raise ServerError(f"the body is not valid JSON: {reason[:1].lower()}{reason[1:]}",
                              code="invalid-json") from None
        if data.__class__ is not dict:
            raise ServerError("the body must be a JSON object", code="invalid-json", path="$")
        return data

    def _error(self, error: ServerError, request_id: str | None, route: str) -> Reply:
        self.metrics.refused(error.code)
        problem = getattr(error, "problem", None)
        headers: list[tuple[str, str]] = []
        if error.status == 401:
            headers.append(("www-authenticate", 'Bearer realm="rune"'))
        if error.status == 405:
            headers.append(("allow", ", ".join(getattr(error, "allow", ()))))
        if error.status == 413:
            # The body was not read to its end: the connection cannot carry another
            # request, and a client that reused it would find it closed under it.
            headers.append(("connection", "close"))
        if request_id is not None:
            headers.append(("x-request-id", request_id))
        if problem is not None:
            body = {"type": problem, "title": error.code.replace("_", " "),
                    "status": error.status, "detail": error.message}
            return json_reply(body, error.status, headers, PROBLEM_JSON)
        return json_reply(error_body(error), error.status, headers)

    async def _handle(self, method: str, path: str, scheme: str, headers: Headers,
                      read: Callable[[int | None], Awaitable[bytes]]) -> Reply | None:
        started = perf_counter()
        request_id: str | None = None
        route = _ROUTES.get(path)
        name = path if route is not None else "unknown"
        try:
            given = headers.get("x-request-id")
            if given is not None:
                request_id = self._request_id(given)
            params: tuple[str, ...] = ()
            if route is None:
                route, params = self._route(path)
                name = route.name
            if method not in route.methods:
                error = ServerError(f"`{method}` is not allowed here", status=405,
                                    code="method-not-allowed")
                error.allow = route.methods  # type: ignore[attr-defined]
                raise error
            self._authorize(route, headers)
            body: Any = None
            raw: bytes | None = None
            if route.body:
                size = self._check_body(route, headers)
                raw = await read(size)
                body = self._parse(raw)
            elif route.raw:
                # An agent's hook: whatever the body, the handler answers (a deny when
                # the body is refused), since a hook that fails may let the action pass.
                try:
                    body = await read(self._declared_size(headers))
                except ServerError as refused:
                    body = refused
            elif method != "GET" and headers.get("content-length") not in (None, "0"):
                # An optional JSON body (approving a task with a lifetime, say).
                size = self._check_body(route, headers)
                raw = await read(size)
                body = self._parse(raw) if raw.strip() else None
            call = Call(method, body, headers, request_id, scheme, self._public_url,
                        self._fallback_host, params, raw)
            reply = await route.handler(self, call)
            if request_id is not None:
                reply.headers = [*(reply.headers or ()), ("x-request-id", request_id)]
        except ServerError as error:
            reply = self._error(error, request_id, name)
        except _ClientGone:
            return None
        except Exception:
            _log.exception("internal error on %s %s", method, name)
            reply = self._error(ServerError("internal error", status=500, code="internal"),
                                request_id, name)
        self.metrics.observe(name, perf_counter() - started)
        return reply

    async def _evaluation(self, scope: Any, proto: Any, headers: Headers) -> Reply | None:
        """`POST /access/v1/evaluation` in its common form, with fewer layers than
        `_handle` (the same checks, in the same order); None when the request is not in
        that form (it then takes `_handle`, before its body has been read)."""
        if headers.get("content-type") != JSON or headers.get("x-request-id") is not None:
            return None
        length = headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > self._max_body:
            return None
        started = perf_counter()
        try:
            if self._api is not None:
                self._authorize(_FAST_ROUTE, headers)
            try:
                raw = await proto()
            except _ProtocolClosed:
                return _GONE
            call = Call("POST", self._parse(raw), headers, None, scope.scheme,
                        self._public_url, self._fallback_host, (), raw)
            reply, future = authzen.plain_reply(self, call) or \
                authzen.evaluation_reply(self, call)
            if future is not None:
                await authzen.logged([future])
        except ServerError as error:
            reply = self._error(error, None, _FAST_ROUTE.name)
        except Exception:
            _log.exception("internal error on POST %s", _FAST_ROUTE.name)
            reply = self._error(ServerError("internal error", status=500, code="internal"),
                                None, _FAST_ROUTE.name)
        latencies = self._evaluation_latencies
        latencies.append(perf_counter() - started)
        if len(latencies) >= FOLD_AT:
            self.metrics.fold(_FAST_ROUTE.name)
        return reply

    # -- RSGI (granian) ------------------------------------------------------------------
    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        """Serve one RSGI request."""
        if scope.proto != "http":
            return
        if scope.path == "/access/v1/evaluation" and scope.method == "POST":
            headers = scope.headers
            reply = await self._evaluation(scope, proto, headers)
            if reply is _GONE:
                return
            if reply is not None:
                if reply.headers:
                    proto.response_bytes(reply.status, [("content-type", reply.content_type),
                                                        *reply.headers], reply.body)
                else:
                    proto.response_bytes(reply.status, _JSON_HEADERS
                                         if reply.content_type is JSON
                                         else [("content-type", reply.content_type)],
                                         reply.body)
                return
        limit = self.config.max_body_bytes

        async def read(size: int | None) -> bytes:
            try:
                if size is not None:
                    return await proto()  # type: ignore[no-any-return]
                chunks = []
                total = 0
                async for chunk in proto:
                    total += len(chunk)
                    if total > limit:
                        raise _too_large(limit)
                    chunks.append(chunk)
                return b"".join(chunks)
            except _ProtocolClosed:
                raise _ClientGone from None

        reply = await self._handle(scope.method, scope.path, scope.scheme, scope.headers, read)
        if reply is None:
            return
        headers = [("content-type", reply.content_type)]
        if reply.headers:
            headers += reply.headers
        proto.response_bytes(reply.status, headers, reply.body)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Granian calls this when its worker starts."""
        self.start(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Granian calls this when its worker stops."""
        self.stop()

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve one ASGI request (and the lifespan protocol)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        limit = self.config.max_body_bytes

        async def read(size: int | None) -> bytes:
            chunks = []
            total = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _ClientGone
                chunk = message.get("body", b"")
                total += len(chunk)
                if total > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body"):
                    return b"".join(chunks)

        headers = header_map(scope["headers"])
        reply = await self._handle(scope["method"], scope["path"], scope.get("scheme", "http"),
                                   headers, read)
        if reply is None:
            return
        raw = [(b"content-type", reply.content_type.encode())]
        raw += [(k.encode(), v.encode("latin-1")) for k, v in reply.headers or ()]
        await send({"type": "http.response.start", "status": reply.status, "headers": raw})
        await send({"type": "http.response.body", "body": reply.body})


def _unauthorized(what: str) -> ServerError:
    return ServerError(f"this route needs {what} (`Authorization: Bearer <token>`)",
                       status=401, code="unauthorized")


def _too_large(limit: int) -> ServerError:
    return ServerError(f"the body is larger than {limit} bytes", status=413,
                       code="body-too-large")


def _diagnostic(diagnostic: Any) -> dict[str, Any]:
    out = {"code": diagnostic.code, "message": diagnostic.message}
    if diagnostic.span is not None:
        out["at"] = str(diagnostic.span)
    elif diagnostic.path is not None:
        out["at"] = diagnostic.path
    return out
