"""Request files for `--requests`: JSON Lines (one request object per line) or one JSON
array of request objects. A bad line is reported with its number and the other lines
are still decided."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rune.cli._common import CliError

__all__ = ["RequestLine", "read_requests"]

_KEYS = ("principal", "action", "resource")


@dataclass(frozen=True, slots=True)
class RequestLine:
    """One request of a requests file: where it is (1-based line, or array index + 1) and
    the request, or why it cannot be decided."""

    line: int
    principal: Any = None
    action: Any = None
    resource: Any = None
    context: dict[str, Any] | None = None
    error: str | None = None

    def request_json(self) -> dict[str, Any]:
        """The request as the JSON output shows it."""
        return {"principal": self.principal, "action": self.action,
                "resource": self.resource, "context": self.context or {}}


def read_requests(path: Path) -> list[RequestLine]:
    """Every request of ``path`` (`-` reads standard input)."""
    if str(path) == "-":
        import sys

        text = sys.stdin.read()
    else:
        if not path.exists():
            raise CliError(f"requests file `{path}` does not exist")
        if path.is_dir():
            raise CliError(f"`{path}` is a directory, not a requests file")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CliError(f"requests file `{path}` is not UTF-8") from None
    return list(_parse(text))


def _parse(text: str) -> Iterator[RequestLine]:
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except ValueError as bad:
            raise CliError(f"the requests file is a JSON array that does not parse: {bad}"
                           ) from None
        for index, item in enumerate(items, 1):
            yield _request(index, item, f"item {index}")
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            item = json.loads(line)
        except ValueError as bad:
            yield RequestLine(number, error=f"line {number} is not valid JSON: {bad}")
            continue
        yield _request(number, item, f"line {number}")


def _request(number: int, item: Any, where: str) -> RequestLine:
    if not isinstance(item, dict):
        return RequestLine(number, error=f"{where} must be a JSON object with `principal`, "
                                         "`action` and `resource`")
    missing = [key for key in _KEYS if key not in item]
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        return RequestLine(number, item.get("principal"), item.get("action"),
                           item.get("resource"), error=f"{where} has no {names}")
    context = item.get("context")
    if context is not None and not isinstance(context, dict):
        return RequestLine(number, item["principal"], item["action"], item["resource"],
                           error=f"{where}: `context` must be a JSON object")
    unknown = sorted(set(item) - {*_KEYS, "context"})
    if unknown:
        return RequestLine(number, item["principal"], item["action"], item["resource"],
                           context, error=f"{where} has unknown key(s) "
                           + ", ".join(f"`{u}`" for u in unknown))
    return RequestLine(number, item["principal"], item["action"], item["resource"], context)
