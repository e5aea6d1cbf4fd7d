"""The server's view of one HTTP exchange, whatever interface (RSGI or ASGI) carried it."""

from __future__ import annotations

from typing import Any, Protocol

import orjson

__all__ = ["Call", "Headers", "JSON", "PROBLEM_JSON", "Reply", "json_reply"]

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


class Headers(Protocol):
    """Request headers by lower-case name (granian's RSGI headers, or a dict)."""

    def get(self, key: str, /) -> Any:
        """The header's value, or None."""


class Call:
    """One request as a handler sees it: the decoded JSON body (None for a GET) and the
    bytes it was decoded from (``raw``, None without a body), the headers, path
    parameters, the client's request id, and (`base_url`) the base URL endpoints are
    advertised under: ``public_url`` when configured, else the request's scheme and
    `Host` (``fallback_host`` when it has none, or a strange one)."""

    __slots__ = ("body", "fallback_host", "headers", "method", "params", "public_url",
                 "raw", "request_id", "scheme")

    def __init__(self, method: str, body: Any, headers: Headers, request_id: str | None,
                 scheme: str, public_url: str | None, fallback_host: str,
                 params: tuple[str, ...] = (), raw: bytes | None = None) -> None:
        self.method = method
        self.body = body
        self.headers = headers
        self.request_id = request_id
        self.scheme = scheme
        self.public_url = public_url
        self.fallback_host = fallback_host
        self.params = params
        self.raw = raw

    @property
    def base_url(self) -> str:
        """The PDP's base URL for this request (no trailing slash)."""
        if self.public_url is not None:
            return self.public_url
        host = self.headers.get("host")
        if not host or not host.isascii() or not host.isprintable() or "/" in host \
                or " " in host or "@" in host:
            host = self.fallback_host
        return f"{self.scheme}://{host}"


class Reply:
    """A response: status, body bytes, media type and extra headers."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(self, status: int, body: bytes, content_type: str = JSON,
                 headers: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


def json_reply(value: Any, status: int = 200, headers: list[tuple[str, str]] | None = None,
               content_type: str = JSON) -> Reply:
    """A JSON response."""
    return Reply(status, orjson.dumps(value), content_type, headers)


def header_map(pairs: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI's header pairs as a dict by lower-case name (the first of repeated ones)."""
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return out
