"""`rune.RemoteEngine` against a real `rune serve` over HTTP: the same decisions as the
engine in-process, writes through the admin routes, and every failure fails closed."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import rune
from rune.cedar import EntityUID
from tests.server.conftest import ADMIN_TOKEN, API_TOKEN, CODING, Server, copy_bundle, free_port

REQUESTS = [
    ('Agent::"a2"', 'Action::"read_file"', 'File::"tests/test_app.py"', {"env": "prod"}),
    ('Agent::"a1"', 'Action::"write_file"', 'File::"config/.env"', {"env": "dev"}),
    ('Agent::"a2"', 'Action::"write_file"', 'File::"src/ui.ts"', {"env": "dev"}),
    ('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "prod"}),
    ('Agent::"a1"', 'Action::"call_api"', 'Api::"llm"', {"env": "prod"}),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    bundle = copy_bundle(CODING, tmp_path_factory.mktemp("remote") / "bundle")
    running = Server(bundle, "--no-watch", env={"RUNE_API_TOKEN": API_TOKEN,
                                                 "RUNE_ADMIN_TOKEN": ADMIN_TOKEN})
    yield running
    running.stop()


@pytest.fixture()
def remote(server: Server) -> Iterator[rune.RemoteEngine]:
    with rune.RemoteEngine(server.url, token=API_TOKEN, admin_token=ADMIN_TOKEN) as client:
        yield client


def test_decisions_are_the_engines(remote: rune.RemoteEngine) -> None:
    local = rune.Engine.load(CODING)
    for request in REQUESTS:
        mine, theirs = local.authorize(*request), remote.authorize(*request)
        assert theirs.decision == mine.decision, request
        assert theirs.reasons == mine.reasons and theirs.config == dict(mine.config)
        assert theirs.obligations == mine.obligations and theirs.errors == mine.errors
        assert theirs.decision_id
    batch = remote.authorize_batch(REQUESTS)
    assert [d.decision for d in batch] == [local.authorize(*r).decision for r in REQUESTS]


def test_uids_may_be_entity_uids(remote: rune.RemoteEngine) -> None:
    decision = remote.authorize(EntityUID("Agent", "a2"), EntityUID("Action", "read_file"),
                                {"type": "File", "id": "src/app.py"}, {"env": "dev"})
    assert decision.allowed and decision.reasons == ("read-source",)


def test_approvals_and_records_go_through_the_server(remote: rune.RemoteEngine) -> None:
    write = REQUESTS[3][:3]
    assert remote.authorize(*REQUESTS[3]).decision == "ask"
    version = remote.approve(*write, ttl_seconds=600)
    after = remote.authorize(*REQUESTS[3])
    assert after.allowed and after.version >= version
    call = ('Agent::"a2"', 'Action::"call_api"', 'Api::"llm"')
    before = len(remote.query("performed(p, a, r, t, n)"))
    remote.record(*call, at=1_700_000_000)
    rows = remote.query("performed(p, a, r, t, n)")
    assert len(rows) == before + 1 and rows[-1][3] == 1_700_000_000
    decisions = [remote.authorize(*call, {"env": "prod"}) for _ in range(3)]
    assert [d.decision for d in decisions] == ["allow", "allow", "deny"]
    assert decisions[2].reasons == ('rate-limit:api:Agent::"a2"',)
    assert decisions[0].obligations[0].limit == 2


def test_writes_and_queries(remote: rune.RemoteEngine) -> None:
    remote.write(entities=[{"uid": {"type": "Agent", "id": "a7"},
                            "attrs": {"level": 3, "model": "large"},
                            "parents": [{"type": "Team", "id": "coding"}]}])
    # Rows hold symbols as rules hold them (quotes escaped), as `Engine.query` does.
    assert ('Agent::\\"a7\\"', 'Group::\\"senior\\"') in remote.query("derived_parent(a, g)")
    prod_write = ('Agent::"a7"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "prod"})
    assert remote.authorize(*prod_write).decision == "ask"  # senior now: asks, not denied
    with pytest.raises(rune.RemoteError) as bad:
        remote.write(entities=[{"uid": {"type": "Agent"}}])
    assert bad.value.status == 400 and bad.value.path


def test_a_wrong_token_is_refused(server: Server) -> None:
    with rune.RemoteEngine(server.url, token="wrong-token-0123456789") as remote:
        with pytest.raises(rune.RemoteError) as refused:
            remote.authorize(*REQUESTS[0])
        assert refused.value.status == 401
        denied = remote.authorize_or_deny(*REQUESTS[0])
        assert denied.decision == "deny" and denied.errors[0].startswith("remote: ")
    with rune.RemoteEngine(server.url, token=API_TOKEN) as remote:  # no admin token
        with pytest.raises(rune.RemoteError) as refused:
            remote.record(*REQUESTS[0][:3])
        assert refused.value.status in (401, 404)


def test_bad_requests_carry_the_servers_error(remote: rune.RemoteEngine) -> None:
    with pytest.raises(rune.RemoteError) as bad:
        remote.authorize('Agent::"a1', 'Action::"read_file"', 'File::"x"')
    assert bad.value.status == 400 and bad.value.code != "remote-error"
    with pytest.raises(TypeError):
        remote.authorize(42, 'Action::"read_file"', 'File::"x"')
    with pytest.raises(TypeError):
        remote.authorize('Agent::"a1"', 'Action::"read_file"', 'File::"x"',
                         {"x": float("nan")})


def test_an_unreachable_server_fails_closed() -> None:
    with rune.RemoteEngine(f"http://127.0.0.1:{free_port()}", timeout=2) as remote:
        with pytest.raises(rune.RemoteError) as down:
            remote.authorize(*REQUESTS[0])
        assert down.value.code == "pdp-unreachable"
        assert not remote.authorize_or_deny(*REQUESTS[0]).allowed


@pytest.mark.parametrize("answer", [b"not json", b"[]", b'{"decision": "maybe"}',
                                    b'{"decision": "allow", "reasons": "everything"}',
                                    b'{"decision": "allow", "obligations": [{"x": 1}]}'])
def test_an_answer_that_is_not_a_decision_is_an_error(answer: bytes) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    try:
        with rune.RemoteEngine(f"http://127.0.0.1:{fake.server_port}") as remote:
            with pytest.raises(rune.RemoteError) as bad:
                remote.authorize(*REQUESTS[0])
            assert bad.value.code == "bad-answer"
            assert not remote.authorize_or_deny(*REQUESTS[0]).allowed
    finally:
        fake.shutdown()
        fake.server_close()


@pytest.mark.parametrize("url", ["ftp://x", "127.0.0.1:8180", "http://", ""])
def test_urls_are_checked(url: str) -> None:
    with pytest.raises(rune.RemoteError):
        rune.RemoteEngine(url)


def test_import_rune_does_not_load_the_client() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import rune, sys; "
                           "print('http.client' in sys.modules, 'rune.remote' in sys.modules)"],
                          capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
    assert done.stdout.split() == ["False", "False"]


def test_a_kept_alive_connection_the_server_closed_is_opened_again() -> None:
    # The server answers, then closes without saying so: the next call finds the kept-
    # alive connection dead before any answer, and is sent again on a new one.
    from tests._internal.test_http_client import ScriptedServer, ok

    answer = ok(b'{"decision": "allow", "reasons": ["p"]}')
    server = ScriptedServer(lambda index, head: (answer, True))
    try:
        with rune.RemoteEngine(f"http://127.0.0.1:{server.port}") as remote:
            for _ in range(3):
                assert remote.authorize(*REQUESTS[0]).reasons == ("p",)
        assert server.connections == 3
    finally:
        server.close()


@pytest.mark.parametrize("url", ["http://x:99999", "http://[::1", "http://x/a b",
                                 "http://x/\u00e9"])
def test_urls_http_cannot_carry_are_refused(url: str) -> None:
    with pytest.raises(rune.RemoteError) as refused:
        rune.RemoteEngine(url)
    assert refused.value.code == "invalid-url"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8180", "https://PDP.Example.com/rune/", "http://[::1]:8180/a/b?x=1#f",
    "http://user:secret@host:1/p", "HTTP://host", "http://host:/p", "https://h/p%20q",
    "http://[::ffff:10.0.0.1]/"])
def test_urls_are_read_as_urllib_reads_them(url: str) -> None:
    from urllib.parse import urlsplit

    from rune.remote import _split_url

    parts = urlsplit(url)
    assert _split_url(url) == (parts.scheme, parts.hostname, parts.port, parts.path)
