"""A client of a running `rune serve`, with the engine's calling conventions.

Integrations take "an engine or a URL": `RemoteEngine(url)` answers `authorize`,
`authorize_batch`, `record`, `approve`, `write` and `query` over RUNE's `/v1` API, so the
same code runs in-process or against a server. Only the standard library is used (the
core has no third-party dependency): HTTP/1.1 is spoken by `rune._internal.http_client`,
which imports neither `http.client` nor `email` (a hook process asking a server once per
tool call pays for every import). Each thread keeps one persistent connection.

Failing closed is the caller's rule and this client's default: a server that cannot be
reached, an answer that is not RUNE's, or an error status raises `RemoteError` (never a
decision), and `authorize_or_deny` turns any failure into a deny that says why.

```python
remote = rune.RemoteEngine("http://127.0.0.1:8180", token=os.environ.get("RUNE_API_TOKEN"))
decision = remote.authorize('Agent::"a1"', 'Action::"read_file"', 'File::"src/app.py"')
decision.allowed, decision.reasons, decision.config, decision.obligations
```

Recording actions, approving and writing are admin routes: give ``admin_token``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rune._internal.http_client import Connection, Disconnected, ProtocolError
from rune.engine.decision import Obligation, Verdict
from rune.errors import RuneError, shown

if TYPE_CHECKING:
    from rune.guarding import Guarded

__all__ = ["RemoteDecision", "RemoteEngine", "RemoteError"]

# The largest answer read from a server (a batch of 10,000 decisions fits).
_MAX_ANSWER_BYTES = 64 * 1024 * 1024


class RemoteError(RuneError):
    """A server that could not be reached, refused the call, or answered nonsense.

    ``status`` is the HTTP status (None when no answer came); ``code`` is the server's
    error code (`pdp-unreachable`, `bad-answer`, or the code in its error body).
    """

    code = "remote-error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 path: str | None = None) -> None:
        super().__init__(message, code=code, path=path)
        self.status = status


@dataclass(frozen=True, slots=True)
class RemoteDecision:
    """A decision a server gave: the fields of `rune.Decision` that travel over HTTP."""

    decision: Verdict
    reasons: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    obligations: tuple[Obligation, ...] = ()
    version: int = 0
    decision_id: str = ""

    @property
    def allowed(self) -> bool:
        """True only for "allow"."""
        return self.decision is Verdict.ALLOW

    def to_json(self) -> dict[str, Any]:
        """The same summary as `rune.Decision.to_json`, with the server's decision id."""
        return {"decision": str(self.decision), "reasons": list(self.reasons),
                "errors": list(self.errors), "config": dict(self.config),
                "obligations": [o.to_json() for o in self.obligations],
                "version": self.version, "decision_id": self.decision_id}


class RemoteEngine:
    """`rune serve` at ``url`` (``http://`` or ``https://``), called like an `Engine`.

    ``token`` authenticates decisions (the server's API token), ``admin_token`` the
    admin routes (`record`, `approve`, `write`, `query`). ``timeout`` bounds every call
    in seconds. Thread-safe: each thread has its own connection.
    """

    def __init__(self, url: str, *, token: str | None = None, admin_token: str | None = None,
                 timeout: float = 5.0) -> None:
        parts = _split_url(url)
        if parts is None:
            raise RemoteError(f"`{shown(url, 200)}` is not an http:// or https:// URL",
                              code="invalid-url")
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise RemoteError("the timeout must be a positive number of seconds",
                              code="invalid-timeout")
        self.url = url.rstrip("/")
        scheme, self._host, self._port, prefix = parts
        self._https = scheme == "https"
        self._prefix = prefix.rstrip("/")
        self._token = token
        self._admin_token = admin_token
        self._timeout = float(timeout)
        self._local = threading.local()

    # -- decisions ------------------------------------------------------------------------

    def authorize(self, principal: Any, action: Any, resource: Any,
                  context: Mapping[str, Any] | None = None) -> RemoteDecision:
        """One decision (`POST /v1/decide`).

        Raises:
            RemoteError: no decision came back (unreachable, refused, malformed answer).
        """
        body = _request(principal, action, resource, context)
        return _decision(self._call("/v1/decide", body, self._token), "$")

    def authorize_or_deny(self, principal: Any, action: Any, resource: Any,
                          context: Mapping[str, Any] | None = None) -> RemoteDecision:
        """`authorize`, except that any failure is a deny whose error says why."""
        try:
            return self.authorize(principal, action, resource, context)
        except (RemoteError, TypeError, ValueError) as error:
            return RemoteDecision(Verdict.DENY, errors=(f"remote: {error}",))

    def authorize_batch(self, rows: Iterable[Sequence[Any]]) -> list[RemoteDecision]:
        """A decision per `(principal, action, resource[, context])` row, in one call."""
        requests = []
        for index, row in enumerate(rows):
            if not isinstance(row, (tuple, list)) or len(row) not in (3, 4):
                raise TypeError(f"row {index} must be (principal, action, resource[, "
                                "context])")
            requests.append(_request(*row))
        answer = self._call("/v1/decide/batch", {"requests": requests}, self._token)
        items = answer.get("decisions")
        if not isinstance(items, list) or len(items) != len(requests):
            raise RemoteError("the server's batch answer does not hold one decision per "
                              "request", code="bad-answer")
        return [_decision(item, f"$.decisions[{i}]") for i, item in enumerate(items)]

    def guarded(self, principal: Any, action: Any, resource: Any,
                context: Mapping[str, Any] | None = None, *, record: bool = True,
                amount: int | None = None) -> Guarded:
        """A guarded action, as `rune.Engine.guarded` (an unreachable server is a deny;
        recording needs ``admin_token``)."""
        from rune.guarding import Guarded

        return Guarded(self, principal, action, resource, context, record=record,
                       amount=amount)

    # -- writes (admin) -------------------------------------------------------------------

    def record(self, principal: Any, action: Any, resource: Any, *, at: float | None = None,
               amount: int | None = None) -> int:
        """Record a performed action; returns the new version."""
        body: dict[str, Any] = {"principal": _uid(principal), "action": _uid(action),
                                "resource": _uid(resource)}
        if at is not None:
            body["at"] = at
        if amount is not None:
            body["amount"] = amount
        return _version(self._call("/v1/admin/record", body, self._admin_token))

    def approve(self, principal: Any, action: Any, resource: Any, *,
                ttl_seconds: float | None = None) -> int:
        """Approve one request for ``ttl_seconds`` (the server's default when None)."""
        body: dict[str, Any] = {"principal": _uid(principal), "action": _uid(action),
                                "resource": _uid(resource)}
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        return _version(self._call("/v1/admin/approve", body, self._admin_token))

    def write(self, *, entities: Sequence[Any] | None = None,
              remove_entities: Sequence[Any] = (),
              facts: Mapping[str, Sequence[Sequence[Any]]] | None = None,
              retract: Mapping[str, Sequence[Sequence[Any]]] | None = None) -> int:
        """Write entities and facts as one version; returns it."""
        body: dict[str, Any] = {"remove_entities": [_uid(u) for u in remove_entities]}
        if entities is not None:
            body["entities"] = list(entities)
        if facts is not None:
            body["facts"] = {k: [list(r) for r in v] for k, v in facts.items()}
        if retract is not None:
            body["retract"] = {k: [list(r) for r in v] for k, v in retract.items()}
        return _version(self._call("/v1/admin/write", body, self._admin_token))

    def query(self, text: str) -> list[tuple[Any, ...]]:
        """The rows of a Datalog query on the server's current version."""
        answer = self._call("/v1/query", {"query": text}, self._admin_token)
        rows = answer.get("rows")
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise RemoteError("the server's query answer has no rows", code="bad-answer")
        return [tuple(row) for row in rows]

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteEngine({self.url!r})"

    # -- HTTP -----------------------------------------------------------------------------

    def _connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = Connection(self._host, self._port, https=self._https,
                                    timeout=self._timeout)
            self._local.connection = connection
        return connection

    def _call(self, path: str, body: Any, token: str | None) -> dict[str, Any]:
        try:
            payload = json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError) as error:
            raise TypeError(f"the request cannot be sent as JSON: {error}") from None
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # A kept-alive connection the server closed fails on first use: retry once, on a
        # new connection. Decisions and these writes are safe to resend only before the
        # server read them, which is the only case a stale connection produces.
        for attempt in (1, 2):
            connection = self._connection()
            try:
                status, raw = connection.post(self._prefix + path, payload, headers,
                                              _MAX_ANSWER_BYTES)
                break
            except (Disconnected, BrokenPipeError, ConnectionResetError) as error:
                self.close()
                if attempt == 2:
                    raise RemoteError(f"{self.url} closed the connection: {error}",
                                      code="pdp-unreachable") from None
            except (OSError, ProtocolError) as error:
                self.close()
                raise RemoteError(f"{self.url} cannot be reached: {error}",
                                  code="pdp-unreachable") from None
        if len(raw) > _MAX_ANSWER_BYTES:
            self.close()
            raise RemoteError("the server's answer is too large", code="bad-answer")
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        if status != 200:
            problem = answer.get("error") if isinstance(answer, dict) else None
            if isinstance(problem, dict) and isinstance(problem.get("message"), str):
                where = problem.get("path")
                raise RemoteError(f"{self.url}{path}: {problem['message']}",
                                  code=str(problem.get("code") or "remote-error"),
                                  status=status,
                                  path=where if isinstance(where, str) else None)
            raise RemoteError(f"{self.url}{path} answered HTTP {status}",
                              code="remote-error", status=status)
        if not isinstance(answer, dict):
            raise RemoteError(f"{self.url}{path} did not answer a JSON object",
                              code="bad-answer", status=status)
        return answer


def _split_url(url: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port, path) of `http[s]://[user@]host[:port][/path][?query]`, the
    host in lower case (an IPv6 address without its brackets); None when ``url`` is not
    such a URL, or holds what HTTP cannot carry (control characters, spaces, non-ASCII
    text in the path). `urllib.parse` would do, but it imports `ipaddress`: a hook process
    asking a server pays for every import."""
    if not isinstance(url, str) or not url.isprintable():
        return None
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in ("http", "https"):
        return None
    ends = [i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0]
    end = min(ends) if ends else len(rest)
    authority, path = rest[:end], rest[end:].split("?", 1)[0].split("#", 1)[0]
    if " " in path or not path.isascii():
        return None
    place = authority.rpartition("@")[2]
    if place.startswith("["):
        host, bracket, after = place[1:].partition("]")
        if not bracket or not host or not set(host) <= _IPV6_CHARACTERS:
            return None
        if after and not after.startswith(":"):
            return None
        port_text = after[1:]
    else:
        host, _, port_text = place.partition(":")
        if not host or "[" in host or "]" in host:
            return None
        if not host.isascii():
            try:
                host.encode("idna")  # a name DNS cannot carry is refused here
            except UnicodeError:
                return None
    port = None
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
            return None
        port = int(port_text)
    return scheme, host.lower(), port, path


_IPV6_CHARACTERS = frozenset("0123456789abcdefABCDEF:.")


def _uid(value: Any) -> Any:
    if isinstance(value, str) or (isinstance(value, dict) and set(value) == {"type", "id"}):
        return value
    from rune.cedar.values import EntityUID  # here: a client given only text never needs it

    if isinstance(value, EntityUID):
        return {"type": value.type, "id": value.id}
    raise TypeError(f"a uid must be text like `Type::\"id\"`, an EntityUID or "
                    f"{{\"type\", \"id\"}}, not {type(value).__name__}")


def _request(principal: Any, action: Any, resource: Any,
             context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"principal": _uid(principal), "action": _uid(action),
                            "resource": _uid(resource)}
    if context is not None:
        if not isinstance(context, Mapping):
            raise TypeError("the context must be a mapping")
        body["context"] = dict(context)
    return body


def _decision(item: Any, path: str) -> RemoteDecision:
    """A decision from its wire form, checked: anything unexpected is not a decision."""
    try:
        verdict = Verdict(item["decision"])
        reasons = tuple(_strings(item.get("reasons", [])))
        errors = tuple(_strings(item.get("errors", [])))
        config = item.get("config", {})
        if not isinstance(config, dict):
            raise TypeError
        obligations = tuple(_obligation(o) for o in item.get("obligations", []))
        version = item.get("version", 0)
        if not isinstance(version, int):
            raise TypeError
        decision_id = str(item.get("decision_id", ""))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RemoteError(f"`{path}` is not a RUNE decision", code="bad-answer") from None
    return RemoteDecision(verdict, reasons, errors, config, obligations, version,
                          decision_id)


def _strings(items: Any) -> list[str]:
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise TypeError
    return items


def _obligation(item: Any) -> Obligation:
    if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
        raise TypeError
    known = {"kind", "key", "limit", "window_seconds", "amount", "detail"}
    return Obligation(**{k: v for k, v in item.items() if k in known})


def _version(answer: dict[str, Any]) -> int:
    version = answer.get("version")
    if not isinstance(version, int):
        raise RemoteError("the server's answer has no version", code="bad-answer")
    return version
