"""A small HTTP/1.1 client over one socket: what `rune.RemoteEngine` needs, and no more.

`rune hook claude-code --url` runs once per tool call, so its start-up is its latency.
`http.client` imports the `email` package (to parse headers) and `ssl` before it sends a
byte: about a third of such a process's life. RUNE's calls all have one shape, a `POST`
with a JSON body and a bounded answer, so this module speaks that much of HTTP/1.1
(RFC 9112) itself: a persistent connection; answers framed by `Content-Length`, by the
`chunked` transfer coding or by the end of the connection; interim `1xx` answers
skipped. `ssl` is imported only to reach an `https://` server.

A server is hostile input like any other: every line, header block and body is bounded,
and a whole exchange (connecting, sending, reading the answer) ends within the call's
timeout, so a server that trickles bytes cannot hold the caller longer than that.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["Connection", "Disconnected", "ProtocolError"]

_MAX_LINE = 65536  # a status, header or chunk-size line (http.client's limit too)
_MAX_HEADERS = 100  # header lines in one answer (http.client's limit too)
_MAX_INTERIM = 16  # interim (1xx) answers before the final one
_RECEIVE = 65536
_HEX = frozenset(b"0123456789abcdefABCDEF")
_LINE_ENDS = (b"\r\n", b"\n")


class ProtocolError(Exception):
    """An answer that is not HTTP/1.x, or is cut short."""


class Disconnected(ProtocolError):
    """The server closed the connection before answering: a kept-alive connection it had
    already closed, so the request may be sent again on a new connection."""


class Connection:
    """One persistent connection to ``host``:``port``, opened on first use.

    Not thread-safe: `rune.RemoteEngine` keeps one per thread.
    """

    def __init__(self, host: str, port: int | None, *, https: bool = False,
                 timeout: float = 5.0) -> None:
        default = 443 if https else 80
        self.port = default if port is None else port
        self.https = https
        self.timeout = timeout
        if not host.isascii():  # an internationalized name, as DNS and `Host` spell it
            host = host.encode("idna").decode("ascii")
        shown = f"[{host}]" if ":" in host else host  # an IPv6 address
        self.host = host
        self._host_header = shown if self.port == default else f"{shown}:{self.port}"
        self._socket: socket.socket | None = None
        self._buffer = bytearray()  # received and not yet read
        self._deadline = 0.0

    def post(self, target: str, body: bytes, headers: Mapping[str, str],
             max_bytes: int) -> tuple[int, bytes]:
        """Send ``body`` to ``target`` (`/v1/decide`); the answer's status and body.

        A body longer than ``max_bytes`` is returned cut to ``max_bytes + 1`` bytes (so the
        caller sees it is too long), and the connection is closed.

        Raises:
            ValueError: ``target`` or a header value holds a control character, or a
                character HTTP cannot carry (nothing is sent).
            OSError: the server cannot be reached, reset the connection, or the exchange
                took longer than the timeout (`TimeoutError`).
            ProtocolError: the answer is not HTTP/1.x (`Disconnected`: no answer at all).
        """
        request = _request(target, self._host_header, body, headers)
        self._deadline = time.monotonic() + self.timeout
        try:
            if self._socket is None:
                self._socket = self._connect()
            self._socket.settimeout(self._remaining())
            self._socket.sendall(request)
            status, answer, keep_alive = self._answer(max_bytes)
        except BaseException:
            self.close()
            raise
        if not keep_alive:
            self.close()
        return status, answer

    def close(self) -> None:
        """Close the connection (the next `post` opens a new one)."""
        sock, self._socket = self._socket, None
        self._buffer.clear()
        if sock is not None:
            sock.close()

    # -- connecting ---------------------------------------------------------------------------

    def _remaining(self) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        return remaining

    def _connect(self) -> socket.socket:
        # The name as bytes (which `getaddrinfo` takes, though typeshed says text): as
        # text, it would import the `idna` codec first, even for `127.0.0.1`.
        name: Any = self.host.encode("ascii")
        sock = socket.create_connection((name, self.port), timeout=self._remaining())
        if not self.https:
            return sock
        try:
            import ssl  # only for https: a large import

            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            sock.settimeout(self._remaining())
            return context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise

    # -- reading the answer -----------------------------------------------------------------

    def _receive(self) -> bool:
        """Receive more of the answer into the buffer; False at the end of the connection."""
        sock = self._socket
        assert sock is not None
        sock.settimeout(self._remaining())
        data = sock.recv(_RECEIVE)
        self._buffer += data
        return bool(data)

    def _line(self) -> bytes:
        """The next line with its end, or what is left (maybe nothing) at the end of the
        connection."""
        buffer = self._buffer
        searched = 0
        while True:
            end = buffer.find(b"\n", searched)
            if end >= 0:
                if end >= _MAX_LINE:
                    raise ProtocolError("a line of the answer is too long")
                line = bytes(buffer[:end + 1])
                del buffer[:end + 1]
                return line
            if len(buffer) >= _MAX_LINE:
                raise ProtocolError("a line of the answer is too long")
            searched = len(buffer)
            if not self._receive():
                line = bytes(buffer)
                buffer.clear()
                return line

    def _read(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer only at the end of the connection)."""
        buffer = self._buffer
        while len(buffer) < size and self._receive():
            pass
        data = bytes(buffer[:size])
        del buffer[:size]
        return data

    def _headers(self) -> dict[str, str]:
        """A header block (or a chunked body's trailers), names in lower case; repeated
        fields joined with commas."""
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            line = self._line()
            if line in _LINE_ENDS or not line:  # the blank line, or the end of the answer
                return headers
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or not name or name != name.strip():
                raise ProtocolError(f"a malformed header line: {line[:80]!r}")
            key = name.lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        raise ProtocolError(f"the answer has more than {_MAX_HEADERS} headers")

    def _answer(self, max_bytes: int) -> tuple[int, bytes, bool]:
        """(status, body, whether the connection may be used again)."""
        for _ in range(_MAX_INTERIM + 1):
            line = self._line()
            if not line:
                raise Disconnected("the server closed the connection without answering")
            version, status = _status_line(line)
            headers = self._headers()
            if status == 101:
                raise ProtocolError("the server switched protocols")
            if status >= 200:
                break
        else:
            raise ProtocolError("the server sent too many interim (1xx) answers")
        tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        keep_alive = ("close" not in tokens if version == "HTTP/1.1"
                      else "keep-alive" in tokens)
        if status in (204, 304):
            return status, b"", keep_alive
        coding = headers.get("transfer-encoding")
        if coding is not None:
            if coding.rsplit(",", 1)[-1].strip().lower() != "chunked":
                return status, self._until_closed(max_bytes), False
            body, complete = self._chunked(max_bytes)
            return status, body, keep_alive and complete
        length = headers.get("content-length")
        if length is None:
            return status, self._until_closed(max_bytes), False
        size = _content_length(length)
        body = self._read(min(size, max_bytes + 1))
        if len(body) < min(size, max_bytes + 1):
            raise ProtocolError(f"the answer ended after {len(body)} of {size} bytes")
        return status, body, keep_alive and size <= max_bytes

    def _until_closed(self, max_bytes: int) -> bytes:
        """The body of an answer that ends with the connection (at most max + 1 bytes)."""
        buffer = self._buffer
        while len(buffer) <= max_bytes and self._receive():
            pass
        return self._read(min(len(buffer), max_bytes + 1))

    def _chunked(self, max_bytes: int) -> tuple[bytes, bool]:
        """A chunked body (at most max + 1 bytes), and whether it was read to its end."""
        parts: list[bytes] = []
        total = 0
        while True:
            line = self._line()
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or not _HEX.issuperset(size_text) or len(size_text) > 16:
                raise ProtocolError(f"a malformed chunk size: {line[:80]!r}")
            size = int(size_text, 16)
            if size == 0:
                self._headers()  # trailers, dropped
                return b"".join(parts), True
            wanted = min(size, max_bytes + 1 - total)
            data = self._read(wanted)
            if len(data) < wanted:
                raise ProtocolError("the answer ended inside a chunk")
            parts.append(data)
            total += wanted
            if total > max_bytes:
                return b"".join(parts), False
            if self._line() not in _LINE_ENDS:
                raise ProtocolError("a chunk does not end with a line end")


def _request(target: str, host: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """The request's bytes: line, headers and body, sent with one `sendall` (so Nagle's
    algorithm never holds the body back)."""
    if not target.startswith("/") or not target.isprintable() or " " in target:
        raise ValueError(f"`{target[:80]}` cannot be an HTTP request target")
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    for name, value in headers.items():
        if not value.isprintable():
            raise ValueError(f"the value of the `{name}` header holds a control character")
        lines.append(f"{name}: {value}")
    try:
        head = "\r\n".join(lines).encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("the request holds a character HTTP/1.1 cannot carry") from None
    return head + b"\r\n\r\n" + body


def _status_line(line: bytes) -> tuple[str, int]:
    """(version, status) of ``HTTP/1.1 200 OK``."""
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    if len(parts) < 2 or parts[0] not in ("HTTP/1.0", "HTTP/1.1") or \
            len(parts[1]) != 3 or not parts[1].isdigit() or not parts[1].isascii():
        raise ProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
    return parts[0], int(parts[1])


def _content_length(text: str) -> int:
    """`Content-Length`: digits, or the same digits repeated (`5, 5`, RFC 9110 8.6)."""
    values = {v.strip() for v in text.split(",")}
    if len(values) != 1:
        raise ProtocolError(f"conflicting Content-Length values: `{text[:80]}`")
    value = values.pop()
    if not value or not value.isdigit() or not value.isascii() or len(value) > 18:
        raise ProtocolError(f"a malformed Content-Length: `{text[:80]}`")
    return int(value)
