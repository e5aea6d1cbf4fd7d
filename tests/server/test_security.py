"""Security over HTTP: loopback by default, bearer tokens for decision and admin routes,
admin routes absent without an admin token, TLS, and secrets never echoed or logged."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import (
    ADMIN_TOKEN,
    API_TOKEN,
    CERTIFICATION,
    CODING,
    Server,
    copy_bundle,
)

GOOD = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
        "resource": {"type": "record", "id": "record-1"}}
DECIDE = {"principal": 'user::"alice"', "action": 'Action::"read"',
          "resource": 'record::"record-1"'}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP socket listens on at ``port`` (from /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_the_server_binds_loopback_unless_told_otherwise() -> None:
    server = Server(CERTIFICATION, "--no-watch")
    try:
        assert listening_addresses(server.port) == {"0100007F"}  # 127.0.0.1 only
        assert f"on http://127.0.0.1:{server.port}" in server.output()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def guarded() -> Server:
    server = Server(CODING, "--no-watch",
                    env={"RUNE_API_TOKEN": API_TOKEN, "RUNE_ADMIN_TOKEN": ADMIN_TOKEN})
    yield server  # type: ignore[misc]
    server.stop()


def test_decision_routes_need_the_api_token(guarded: Server) -> None:
    body = {"subject": {"type": "Agent", "id": "a1"}, "action": {"name": "read_file"},
            "resource": {"type": "File", "id": "src/app.py"}}
    with guarded.client() as client:
        for path, payload in [("/access/v1/evaluation", body), ("/v1/decide", {
                "principal": 'Agent::"a1"', "action": 'Action::"read_file"',
                "resource": 'File::"src/app.py"'}), ("/access/v1/search/action", {
                "subject": body["subject"], "resource": body["resource"]})]:
            missing = client.post(path, json=payload)
            assert missing.status_code == 401, path
            assert missing.headers["www-authenticate"].startswith("Bearer")
            assert client.post(path, json=payload,
                               headers=bearer("wrong-token-0123456789")).status_code == 401
            assert client.post(path, json=payload, headers={
                "authorization": API_TOKEN}).status_code == 401  # not a bearer
            assert client.post(path, json=payload, headers=bearer(API_TOKEN)).status_code == 200
            assert client.post(path, json=payload,
                               headers=bearer(ADMIN_TOKEN)).status_code == 200
        # Health, metadata, metrics and the API description stay open.
        for path in ("/health", "/ready", "/metrics", "/openapi.json",
                     "/.well-known/authzen-configuration"):
            assert client.get(path).status_code == 200, path


def test_admin_routes_need_the_admin_token(guarded: Server) -> None:
    with guarded.client() as client:
        assert client.get("/v1/admin/version").status_code == 401
        assert client.get("/v1/admin/version", headers=bearer(API_TOKEN)).status_code == 401
        assert client.get("/v1/admin/version", headers=bearer(ADMIN_TOKEN)).json()["version"] == 1
        query = {"query": 'attr(e, n, v)'}
        assert client.post("/v1/query", json=query, headers=bearer(API_TOKEN)).status_code == 401
        rows = client.post("/v1/query", json=query, headers=bearer(ADMIN_TOKEN)).json()["rows"]
        assert ['File::\\"src/app.py\\"', "path", "src/app.py"] in rows
        # An explanation reveals policies: the API token is not enough.
        explained = {"principal": 'Agent::"a1"', "action": 'Action::"read_file"',
                     "resource": 'File::"src/app.py"', "explain": True}
        refused = client.post("/v1/decide", json=explained, headers=bearer(API_TOKEN))
        assert refused.status_code == 403
        allowed = client.post("/v1/decide", json=explained, headers=bearer(ADMIN_TOKEN)).json()
        assert allowed["decision"] == "allow" and allowed["explanation"]


def test_without_an_admin_token_the_admin_routes_do_not_exist(client: httpx.Client) -> None:
    for method, path in [("GET", "/v1/admin/version"), ("POST", "/v1/admin/write"),
                         ("POST", "/v1/admin/reload"), ("POST", "/v1/admin/approve"),
                         ("POST", "/v1/admin/record"), ("POST", "/v1/query"),
                         ("GET", "/v1/admin/requests"),
                         ("POST", "/v1/admin/requests/arq_x/approve")]:
        response = client.request(method, path, json={}, headers=bearer(ADMIN_TOKEN))
        assert response.status_code == 404, path
    # No route reveals policies, rules or entity data: an explanation needs the token.
    response = client.post("/v1/decide", json={**DECIDE, "explain": True})
    assert response.status_code == 403
    assert "policies" not in client.get("/openapi.json").text.split('"paths"')[0]


def test_tokens_from_rune_toml(tmp_path: Path) -> None:
    root = copy_bundle(CERTIFICATION, tmp_path / "b")
    with (root / "rune.toml").open("a") as toml:
        toml.write(f'\n[server]\napi_token = "{API_TOKEN}"\nadmin_token = "{ADMIN_TOKEN}"\n')
    server = Server(root, "--no-watch")
    try:
        with server.client() as client:
            assert client.post("/access/v1/evaluation", json=GOOD).status_code == 401
            assert client.post("/access/v1/evaluation", json=GOOD,
                               headers=bearer(API_TOKEN)).json() == {"decision": True}
            assert client.get("/v1/admin/version", headers=bearer(ADMIN_TOKEN)).status_code == 200
    finally:
        server.stop()


def test_a_weak_token_is_refused_at_start(tmp_path: Path) -> None:
    server = Server(CERTIFICATION, "--no-watch", env={"RUNE_API_TOKEN": "short"}, wait=False)
    assert server.process.wait(timeout=30) == 1
    output = server.output()
    server.stop()
    assert "RUNE_API_TOKEN" in output and "short" not in output.split("RUNE_API_TOKEN")[1]


def test_secrets_are_never_echoed_or_logged(tmp_path: Path) -> None:
    log = tmp_path / "decisions.log"
    server = Server(CERTIFICATION, "--no-watch", "--decision-log", str(log),
                    env={"RUNE_API_TOKEN": API_TOKEN, "RUNE_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        with server.client() as client:
            for token in (API_TOKEN, ADMIN_TOKEN, "wrong-token-0123456789"):
                client.post("/access/v1/evaluation", json=GOOD, headers=bearer(token))
                client.post("/v1/decide", json=DECIDE, headers=bearer(token))
                client.get("/v1/admin/version", headers=bearer(token))
            # A request id carrying a token is refused, and not echoed.
            response = client.post("/access/v1/evaluation", json=GOOD, headers={
                **bearer(API_TOKEN), "x-request-id": f"id-{API_TOKEN}"})
            assert response.status_code == 400
            assert "x-request-id" not in response.headers and API_TOKEN not in response.text
            ok = client.post("/access/v1/evaluation", json=GOOD, headers={
                **bearer(API_TOKEN), "x-request-id": "plain-id"})
            assert ok.headers["x-request-id"] == "plain-id"
    finally:
        server.stop()
    logged = log.read_text() + server.output()
    assert '"request_id":"plain-id"' in logged
    for secret in (API_TOKEN, ADMIN_TOKEN):
        assert secret not in logged
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_constant_time_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    from rune.engine import Engine
    from rune.server import App, ServerConfig

    calls = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr("rune.server.app.hmac.compare_digest", spy)
    app = App(Engine(""), ServerConfig(bundle=CERTIFICATION, api_token=API_TOKEN,
                                       admin_token=ADMIN_TOKEN, watch=False))
    assert app.is_admin({"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert not app.is_admin({"authorization": "Bearer x"})
    # Digests are compared: equal lengths whatever the token given.
    assert calls == [(32, 32), (32, 32)]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True)
    server = Server(CERTIFICATION, "--no-watch", "--tls-cert", str(cert), "--tls-key",
                    str(key), scheme="https")
    try:
        context = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=server.url, verify=context, timeout=10) as client:
            assert client.post("/access/v1/evaluation", json=GOOD).json() == {"decision": True}
            metadata = client.get("/.well-known/authzen-configuration").json()
            assert metadata["policy_decision_point"].startswith("https://")
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as plain, \
                pytest.raises(httpx.HTTPError):
            plain.post("/access/v1/evaluation", json=GOOD)
    finally:
        server.stop()
    assert "TLS" not in server.output() or "error" not in server.output().lower()
