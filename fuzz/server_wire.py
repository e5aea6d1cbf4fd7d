"""Fuzz target: what the server decodes from a request body before it decides.

The input is a body as a client sends it. It is decoded as the server decodes it
(`orjson`), then given to every wire parser (AuthZEN evaluation, evaluations and the
three searches; RUNE's `/v1` decide, batch, query, write, record and approve) and to the
Claude Code hook mapping (`rune.hooks`), which also reads raw bytes. Every parser may only
refuse with a `RuneError` carrying a JSON path; a decide request it accepts is decided
by an engine on the coding-agent example, where only a `RuneError` or the documented
`TypeError` may escape, and an engine that reported an error never allowed.

Run: ``python -m fuzz.server_wire [libFuzzer options] [corpus dirs]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

import rune
from fuzz._harness import FuzzFailure, calls, main
from rune.hooks.claude_code import parse_payload, request_of
from rune.server.wire.authzen_v1 import (
    SearchKind,
    parse_evaluation,
    parse_evaluations,
    parse_search,
)
from rune.server.wire.rune_v1 import (
    parse_approve,
    parse_batch,
    parse_decide,
    parse_query,
    parse_record,
    parse_write,
)

__all__ = ["check"]

_ENGINE = rune.Engine.load(Path(__file__).resolve().parent.parent / "examples" /
                           "coding-agent")
_PARSERS = (parse_evaluation, parse_evaluations, parse_batch, parse_query, parse_write,
            parse_record, parse_approve)


def _refusal_has_a_path(name: str, error: Any) -> None:
    if isinstance(error, rune.RuneError) and not getattr(error, "path", None) \
            and error.code not in ("too-many-requests",):
        raise FuzzFailure(f"{name} refused without a JSON path: {error!r}")


def check(data: bytes) -> None:
    """One fuzz input: a request body."""
    hook, error = calls(parse_payload, data)
    if error is None:
        calls(request_of, hook)
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return  # the server answers 400 before any parser runs
    for parser in _PARSERS:
        calls(parser, body)
    for kind in SearchKind:
        calls(parse_search, body, kind)
    decide, error = calls(parse_decide, body)
    _refusal_has_a_path("parse_decide", error)
    if decide is None:
        return
    decision, error = calls(_ENGINE.authorize, decide.principal, decide.action,
                            decide.resource, decide.context, argument_types=True)
    if decision is not None and decision.errors and decision.allowed:
        raise FuzzFailure(f"allowed with errors: {decision.errors}")


if __name__ == "__main__":
    main(__name__, check)
