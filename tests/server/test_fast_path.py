"""The one-pass paths (`authzen.plain_reply` for a single evaluation,
`authzen.plain_evaluations_reply` for a batch: what `rune serve` takes for nearly every
request) answer exactly as the general paths (`evaluation_reply`, `evaluations_reply`)
do, and decline, before deciding anything, whatever they do not handle themselves.

Each bundle is served by two apps in this process: one answers every body through the
general path only, the other as the server does (the one-pass path, else the general
one), twice per body, since a first sighting of an entity takes the general path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings

from rune.server import authzen, create_app
from rune.server.app import App
from rune.server.errors import ServerError
from rune.server.http import Call
from tests.server.conftest import CERTIFICATION, CODING
from tests.strategies import authzen_batch_bodies, authzen_evaluation_bodies

# Per-answer values: the ids and times of a requestable denial.
_VOLATILE = re.compile(rb'"(eval_[A-Za-z0-9_-]+|\d{4}-\d\d-\d\dT[0-9:.]+Z)"')


def _app(bundle: Path, log: Path | None) -> App:
    app: App = create_app(bundle, watch=False, decision_log=log)
    return app


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[App, App]]]:
    logs = tmp_path_factory.mktemp("logs")
    pairs = [(_app(bundle, None), _app(bundle, None)) for bundle in (CERTIFICATION, CODING)]
    pairs.append((_app(CODING, logs / "general.log"), _app(CODING, logs / "fast.log")))
    yield pairs
    for general, fast in pairs:
        general.stop()
        fast.stop()


def _call(body: dict[str, Any]) -> Call:
    # The body as the server has it: the bytes received, decoded by orjson.
    raw = json.dumps(body).encode()
    return Call("POST", orjson.loads(raw), {"host": "127.0.0.1:8180"}, None, "http", None,
                "127.0.0.1:8180", (), raw)


def _outcome(app: App, body: dict[str, Any], fast: bool) -> tuple[Any, ...]:
    call = _call(body)
    try:
        replied = authzen.plain_reply(app, call) if fast else None
        took_fast = replied is not None
        reply, _ = replied or authzen.evaluation_reply(app, call)
    except ServerError as error:
        return ("refused", error.status, error.code, error.path, error.message)
    headers = [(k, "<id>" if k == "x-decision-id" else v) for k, v in reply.headers or ()]
    return ("answered", reply.status, _VOLATILE.sub(b'"<v>"', reply.body), headers,
            took_fast)


@given(body=authzen_evaluation_bodies())
@settings(max_examples=400, deadline=None)
def test_the_one_pass_path_answers_as_the_general_path(
        apps: list[tuple[App, App]], body: dict[str, Any]) -> None:
    for general, fast in apps:
        expected = _outcome(general, body, fast=False)
        for _ in range(2):
            got = _outcome(fast, body, fast=True)
            assert got[:4] == expected[:4], (body, got, expected)


def test_the_one_pass_path_serves_the_common_request(apps: list[tuple[App, App]]) -> None:
    _, fast = apps[0]
    body = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
            "resource": {"type": "record", "id": "record-1",
                         "properties": {"status": "archived"}},  # (the store says active)
            "context": {"ip": "10.0.0.1"}}
    _outcome(fast, body, fast=True)  # (the first sighting of these entities)
    assert _outcome(fast, body, fast=True)[-1] is True
    # Declined, nothing decided: an approval presented, or properties the store lacks.
    for other in ({**body, "context": {"approval": {"id": "x"}}},
                  {**body, "subject": {"type": "user", "id": "alice",
                                       "properties": {"role": "admin"}}}):
        assert authzen.plain_reply(fast, _call(other)) is None


def _batch_outcome(app: App, body: dict[str, Any], fast: bool) -> tuple[Any, ...]:
    call = _call(body)
    try:
        replied = authzen.plain_evaluations_reply(app, call) if fast else None
        took_fast = replied is not None
        reply, _ = replied or authzen.evaluations_reply(app, call)
    except ServerError as error:
        return ("refused", error.status, error.code, error.path, error.message)
    headers = [(k, "<id>" if k == "x-decision-id" else v) for k, v in reply.headers or ()]
    return ("answered", reply.status, _VOLATILE.sub(b'"<v>"', reply.body), headers,
            took_fast)


@given(body=authzen_batch_bodies())
@settings(max_examples=300, deadline=None)
def test_the_one_pass_batch_answers_as_the_general_path(
        apps: list[tuple[App, App]], body: dict[str, Any]) -> None:
    for general, fast in apps:
        expected = _batch_outcome(general, body, fast=False)
        for _ in range(2):
            got = _batch_outcome(fast, body, fast=True)
            assert got[:4] == expected[:4], (body, got, expected)


def test_the_one_pass_batch_serves_the_common_batch(apps: list[tuple[App, App]]) -> None:
    _, fast = apps[0]
    body = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
            "context": {"ip": "10.0.0.1"},
            "evaluations": [{"resource": {"type": "record", "id": f"record-{i}"}}
                            for i in range(1, 4)]}
    _batch_outcome(fast, body, fast=True)  # (the first sighting of these entities)
    assert _batch_outcome(fast, body, fast=True)[-1] is True
    # Declined, nothing decided: an approval presented, properties the store lacks, a
    # malformed default that every item overrides.
    item = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
            "resource": {"type": "record", "id": "record-1"}}
    for other in ({**body, "context": {"approval": {"id": "x"}}},
                  {**body, "subject": {"type": "user", "id": "alice",
                                       "properties": {"role": "admin"}}},
                  {"subject": {"type": 3}, "evaluations": [item]}):
        assert authzen.plain_evaluations_reply(fast, _call(other)) is None
