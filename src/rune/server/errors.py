"""Errors the HTTP layer answers with a 4xx: each has an HTTP status and a stable code."""

from __future__ import annotations

from rune.errors import RuneError

__all__ = ["ServerError"]


class ServerError(RuneError):
    """A request the server refuses: malformed, unauthenticated, too large, unknown.

    ``status`` is the HTTP status of the answer (400 unless said otherwise); ``code`` and
    the JSON path of the offending part (``path``) go into the error body.
    """

    code = "bad-request"

    def __init__(self, message: str, *, status: int = 400, code: str | None = None,
                 path: str | None = None) -> None:
        super().__init__(message, code=code, path=path)
        self.status = status
