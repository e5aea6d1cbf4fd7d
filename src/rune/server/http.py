"""The server's view of one HTTP exchange, whatever interface (RSGI or ASGI) carried it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson

__all__ = ["JSON", "PROBLEM_JSON", "Call", "Headers", "Reply", "json_reply"]

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


class Headers(Protocol):
    """Request headers by lower-case name (granian's RSGI headers, or a dict)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The header's value, or ``default``."""


class Call:
    """One request as a handler sees it: the decoded JSON body (None for a GET), the
    headers, path parameters, the client's request id, and the base URL endpoints are
    advertised under."""

    __slots__ = ("base_url", "body", "headers", "method", "params", "request_id")

    def __init__(self, method: str, body: Any, headers: Headers, request_id: str | None,
                 base_url: str, params: tuple[str, ...] = ()) -> None:
        self.method = method
        self.body = body
        self.headers = headers
        self.request_id = request_id
        self.base_url = base_url
        self.params = params


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


def header_map(pairs: list[tuple[bytes, bytes]]) -> Mapping[str, str]:
    """ASGI's header pairs as a dict by lower-case name (the first of repeated ones)."""
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return out
