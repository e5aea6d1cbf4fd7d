"""Hostile input over HTTP: every malformed request is a 4xx with an AuthZEN-style error
body; never a 5xx, never an allow, never a hung worker."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import CERTIFICATION, JSON, Server

GOOD = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
        "resource": {"type": "record", "id": "record-1"}}
ROUTES = ["/access/v1/evaluation", "/access/v1/evaluations", "/access/v1/search/subject",
          "/access/v1/search/resource", "/access/v1/search/action", "/v1/decide",
          "/v1/decide/batch", "/access/v1/requests"]


@pytest.fixture(scope="module")
def small_server() -> Iterator[Server]:
    # A small body limit, so the 413 tests send little.
    server = Server(CERTIFICATION, "--no-watch", "--max-body-bytes", "4096")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def small(small_server: Server) -> Iterator[httpx.Client]:
    with small_server.client() as client:
        yield client


def refused(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["status"] == status and error["code"] and error["message"]
    return error  # type: ignore[no-any-return]


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


BAD_BODIES: list[tuple[str, bytes]] = [
    ("not json", b"{nope"),
    ("truncated", b'{"subject": {"type": "user"'),
    ("an array", b"[1, 2]"),
    ("a string", b'"subject"'),
    ("null", b"null"),
    ("invalid utf-8", b'{"subject": "\xff\xfe"}'),
    ("lone surrogate", b'{"subject": {"type": "user", "id": "\\ud800"}}'),
    ("huge integer", b'{"context": {"n": 123456789012345678901234567890}}'),
    ("nan", b'{"subject": NaN}'),
    ("nesting past the parser", b"[" * 2000 + b"]" * 2000),
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("name", "body"), BAD_BODIES, ids=[n for n, _ in BAD_BODIES])
def test_malformed_bodies_are_400(small: httpx.Client, route: str, name: str,
                                  body: bytes) -> None:
    refused(small.post(route, content=body, headers=JSON))


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("media", ["text/plain", "application/xml",
                                   "application/x-www-form-urlencoded", "application/jsonx"])
def test_wrong_media_type_is_400(small: httpx.Client, route: str, media: str) -> None:
    refused(small.post(route, content=b"{}", headers={"content-type": media}))


@pytest.mark.parametrize("route", ROUTES)
def test_a_body_over_the_limit_is_413(small: httpx.Client, route: str) -> None:
    body = {"context": {"padding": "x" * 10_000}}
    refused(small.post(route, json=body), 413)


def test_a_chunked_body_over_the_limit_is_413(small: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"context": {"padding": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}}'

    refused(small.post("/access/v1/evaluation", content=chunks(), headers=JSON), 413)


def test_a_413_closes_the_connection(small: httpx.Client) -> None:
    # The body was not read to its end, so the connection cannot carry another request:
    # the answer says so, and the client opens a new one (a client that reused it found
    # it closed under the next request now and then).
    def chunks() -> Iterator[bytes]:
        yield b'{"context": {"padding": "' + b"x" * 8000 + b'"}}'

    for content in (chunks(), b"x" * 8000):
        answer = small.post("/access/v1/evaluation", content=content, headers=JSON)
        assert answer.status_code == 413 and answer.headers["connection"] == "close"
        refused(small.post("/access/v1/evaluation", json={**GOOD, "subject": 5}))


@pytest.mark.parametrize(("name", "body"), [
    ("subject a number", {**GOOD, "subject": 5}),
    ("type a list", {**GOOD, "subject": {"type": ["user"], "id": "alice"}}),
    ("id a number", {**GOOD, "subject": {"type": "user", "id": 7}}),
    ("id null", {**GOOD, "subject": {"type": "user", "id": None}}),
    ("properties a list", {**GOOD, "subject": {"type": "user", "id": "a", "properties": []}}),
    ("context a string", {**GOOD, "context": "now"}),
    ("type not a Cedar name", {**GOOD, "subject": {"type": "us er", "id": "alice"}}),
    ("type reserved", {**GOOD, "subject": {"type": "if", "id": "alice"}}),
    ("deep context", {**GOOD, "context": deep(100)}),
    ("deep properties", {**GOOD, "subject": {"type": "user", "id": "x",
                                             "properties": deep(100)}}),
    ("float without a decimal", {**GOOD, "context": {"x": 1e-10}}),
    ("float out of range", {**GOOD, "context": {"x": 1e300}}),
    ("integer out of Long", {**GOOD, "context": {"x": 2 ** 63}}),
    ("null in an array", {**GOOD, "context": {"x": [1, None]}}),
    ("bad extension", {**GOOD, "context": {"x": {"__extn": {"fn": "ip", "arg": "nope"}}}}),
    ("bad entity escape", {**GOOD, "context": {"x": {"__entity": {"type": "1", "id": "x"}}}}),
])
def test_wrong_types_are_400_and_never_allow(small: httpx.Client, name: str,
                                             body: dict[str, Any]) -> None:
    refused(small.post("/access/v1/evaluation", json=body))


def test_values_cedar_cannot_hold_get_the_stated_treatment(small: httpx.Client) -> None:
    # null members are absent; a short fraction is a decimal: the request is decided.
    body = {**GOOD, "context": {"skip": None, "score": 0.5, "nested": {"gone": None}},
            "subject": {"type": "user", "id": "alice", "properties": {"age": None}}}
    response = small.post("/access/v1/evaluation", json=body)
    assert response.status_code == 200 and response.json() == {"decision": True}


def test_unknown_entity_types_and_ids_are_denied_without_a_schema(small: httpx.Client) -> None:
    body = {**GOOD, "subject": {"type": "spaceship", "id": "enterprise"}}
    assert small.post("/access/v1/evaluation", json=body).json() == {"decision": False}


def test_unknown_entity_types_are_400_with_a_schema(tmp_path: Path) -> None:
    root = tmp_path / "b"
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "p.cedar").write_text(
        'permit(principal is User, action == Action::"read", resource is Doc);')
    (root / "schema.cedarschema").write_text(
        "entity User; entity Doc; action read appliesTo { principal: User, resource: Doc };")
    server = Server(root, "--no-watch")
    try:
        with server.client() as client:
            good = {"subject": {"type": "User", "id": "u"}, "action": {"name": "read"},
                    "resource": {"type": "Doc", "id": "d"}}
            assert client.post("/access/v1/evaluation", json=good).json() == {"decision": True}
            unknown = {**good, "subject": {"type": "Spaceship", "id": "u"}}
            refused(client.post("/access/v1/evaluation", json=unknown))
            wrong_property = {**good, "subject": {"type": "User", "id": "u2",
                                                  "properties": {"level": "high"}}}
            # Undeclared properties are ignored, as unknown fields are.
            assert client.post("/access/v1/evaluation",
                               json=wrong_property).json() == {"decision": True}
            batch = client.post("/access/v1/evaluations", json={
                "action": {"name": "read"}, "resource": {"type": "Doc", "id": "d"},
                "evaluations": [{"subject": {"type": "User", "id": "u"}},
                                {"subject": {"type": "Spaceship", "id": "u"}}]})
            assert [e["decision"] for e in batch.json()["evaluations"]] == [True, False]
    finally:
        server.stop()


def test_unknown_routes_and_methods(small: httpx.Client) -> None:
    refused(small.get("/nope"), 404)
    refused(small.post("/access/v2/evaluation", json=GOOD), 404)
    refused(small.get("/access/v1/evaluation"), 405)
    refused(small.delete("/v1/decide"), 405)


def test_a_slow_client_does_not_hold_the_server(small_server: Server,
                                                small: httpx.Client) -> None:
    # A client that sends half a request and stalls: others are still answered.
    with socket.create_connection(("127.0.0.1", small_server.port)) as stalled:
        stalled.sendall(b"POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        assert small.post("/access/v1/evaluation", json=GOOD).json() == {"decision": True}


def test_the_server_survived(small: httpx.Client) -> None:
    assert small.get("/health").status_code == 200
    metrics = small.get("/metrics").text
    assert 'rune_request_errors_total{code="invalid-json"}' in metrics
    assert 'code="internal"' not in metrics
