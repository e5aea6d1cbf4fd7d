"""`rune._internal.http_client` against a scripted server: every framing of an answer,
persistent connections, and every malformed or hostile answer (each an error, never a
hang)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from rune._internal.http_client import Connection, Disconnected, ProtocolError

# What the server does with the n-th request of a connection: the bytes to send back, and
# whether to close the connection afterwards.
Script = Callable[[int, bytes], tuple[bytes, bool]]


class ScriptedServer:
    """A TCP server on 127.0.0.1 that answers each request as ``script`` says."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self._clients: list[Connection] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            index = 0
            pending = b""
            while True:
                while b"\r\n\r\n" not in pending:
                    data = conn.recv(65536)
                    if not data:
                        return
                    pending += data
                head, _, rest = pending.partition(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                pending = rest[length:]
                try:
                    answer, close = self.script(index, head)
                    conn.sendall(answer)
                except OSError:
                    return
                index += 1
                if close:
                    return

    def connect(self, timeout: float = 5.0) -> Connection:
        """A client connection to this server, closed with it."""
        self._clients.append(Connection("127.0.0.1", self.port, timeout=timeout))
        return self._clients[-1]

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._listener.close()


@pytest.fixture()
def serve() -> Iterator[Callable[[Script], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        servers.append(ScriptedServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def always(answer: bytes, close: bool = False) -> Script:
    return lambda index, head: (answer, close)


def ok(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def post(server: ScriptedServer, *, max_bytes: int = 1 << 20, timeout: float = 5.0,
         connection: Connection | None = None) -> tuple[int, bytes]:
    connection = connection or server.connect(timeout)
    return connection.post("/v1/decide", b'{"x": 1}', {"Content-Type": "application/json"},
                           max_bytes)


def test_a_request_is_one_post_with_its_length(serve: Callable[[Script], ScriptedServer]
                                                ) -> None:
    server = serve(always(ok(b"{}")))
    connection = server.connect()
    assert connection.post("/p/v1/decide", b'{"x": 1}', {"Authorization": "Bearer t"},
                           100) == (200, b"{}")
    assert server.requests == [
        b"POST /p/v1/decide HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 8\r\n"
        b"Authorization: Bearer t\r\n\r\n{\"x\": 1}" % server.port]


def test_a_connection_is_kept_alive_and_reused(serve: Callable[[Script], ScriptedServer]
                                               ) -> None:
    server = serve(always(ok(b'{"n": 1}')))
    connection = server.connect()
    for _ in range(3):
        assert post(server, connection=connection) == (200, b'{"n": 1}')
    assert server.connections == 1


@pytest.mark.parametrize("answer", [
    ok(b"{}", "Connection: close"),
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",       # 1.0: close unless keep-alive
])
def test_a_connection_the_server_closes_is_not_reused(
        serve: Callable[[Script], ScriptedServer], answer: bytes) -> None:
    server = serve(always(answer, close=True))
    connection = server.connect()
    for _ in range(2):
        assert post(server, connection=connection) == (200, b"{}")
    assert server.connections == 2


def test_chunked_answers(serve: Callable[[Script], ScriptedServer]) -> None:
    body = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4;ext=1\r\n{\"a\"\r\n5\r\n: 12}\r\n0\r\nX-Trailer: y\r\n\r\n")
    server = serve(always(body))
    connection = server.connect()
    assert post(server, connection=connection) == (200, b'{"a": 12}')
    assert post(server, connection=connection) == (200, b'{"a": 12}')
    assert server.connections == 1


def test_an_answer_that_ends_with_the_connection(serve: Callable[[Script], ScriptedServer]
                                                 ) -> None:
    server = serve(always(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{}",
                          close=True))
    assert post(server) == (200, b"{}")


def test_interim_answers_are_skipped(serve: Callable[[Script], ScriptedServer]) -> None:
    server = serve(always(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"[]")))
    assert post(server) == (200, b"[]")


def test_no_content(serve: Callable[[Script], ScriptedServer]) -> None:
    server = serve(always(b"HTTP/1.1 204 No Content\r\n\r\n" + ok(b"{}")))
    connection = server.connect()
    assert post(server, connection=connection) == (204, b"")


@pytest.mark.parametrize(("answer", "close"), [
    (ok(b"x" * 100), False),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"a\r\n0123456789\r\n" * 10
     + b"0\r\n\r\n", False),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"y" * 100, True),
])
def test_a_too_large_answer_is_cut_and_the_connection_closed(
        serve: Callable[[Script], ScriptedServer], answer: bytes, close: bool) -> None:
    server = serve(always(answer, close))
    connection = server.connect()
    status, body = post(server, max_bytes=50, connection=connection)
    assert status == 200 and len(body) == 51
    assert post(server, max_bytes=1000, connection=connection)[1] in (
        b"x" * 100, b"0123456789" * 10, b"y" * 100)
    assert server.connections == 2


@pytest.mark.parametrize(("answer", "message"), [
    (b"HTTP/2 200 OK\r\n\r\n", "status line"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "status line"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header line"),
    (b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", "header line"),
    (b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", "more than 100 headers"),
    (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", "too long"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n12345", "conflicting"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", "ended after 5 of 10"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12", "inside a chunk"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n12xx\r\n0\r\n\r\n",
     "line end"),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "switched"),
    (b"HTTP/1.1 100 Continue\r\n\r\n" * 20, "interim"),
])
def test_malformed_answers_are_errors(serve: Callable[[Script], ScriptedServer],
                                      answer: bytes, message: str) -> None:
    server = serve(always(answer, close=True))
    with pytest.raises(ProtocolError, match=message):
        post(server)


def test_no_answer_at_all_is_a_disconnection(serve: Callable[[Script], ScriptedServer]
                                             ) -> None:
    server = serve(always(b"", close=True))
    with pytest.raises(Disconnected):
        post(server)


def test_a_server_that_trickles_cannot_hold_the_caller(
        serve: Callable[[Script], ScriptedServer]) -> None:
    # One byte every 50 ms: each read is within any per-read timeout, the whole is not.
    class Slow(ScriptedServer):
        def _handle(self, conn: socket.socket) -> None:
            with conn:
                conn.recv(65536)
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    for _ in range(100):
                        time.sleep(0.05)
                        conn.sendall(b"a")
                except OSError:
                    return

    server = Slow(always(b""))
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            post(server, timeout=0.5)
        assert time.monotonic() - started < 2
    finally:
        server.close()


@pytest.mark.parametrize(("target", "headers"), [
    ("/v1/decide", {"Authorization": "Bearer x\r\nX-Admin: yes"}),
    ("/v1/decide", {"Authorization": "Bearer caf\u00e9"}),
    ("/v1/de cide", {}),
    ("/v1/d\u00e9cide", {}),
    ("v1/decide", {}),
])
def test_nothing_is_sent_that_http_cannot_carry(serve: Callable[[Script], ScriptedServer],
                                                target: str, headers: dict[str, str]
                                                ) -> None:
    server = serve(always(ok(b"{}")))
    connection = server.connect()
    with pytest.raises(ValueError):
        connection.post(target, b"{}", headers, 100)
    assert server.requests == []


def test_an_unreachable_server_is_an_os_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OSError):
        Connection("127.0.0.1", port, timeout=2).post("/", b"", {}, 10)
