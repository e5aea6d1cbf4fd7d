"""RUNE as a service: an AuthZEN 1.0 policy decision point, and RUNE's own API.

`rune serve BUNDLE` (see `rune.server.runner`) serves:

* the OpenID AuthZEN Authorization API 1.0 (`/access/v1/evaluation`, `/evaluations`,
  `/search/{subject,resource,action}`, `/.well-known/authzen-configuration`) with the
  obligations and access request approval profiles (`/access/v1/requests`);
* RUNE's API under `/v1`: whole decisions, Datalog queries, admin writes;
* `/health`, `/ready`, Prometheus `/metrics`, and `/openapi.json`.

Needs the `server` extra (`pip install 'rune[server]'`): granian, orjson,
prometheus-client, watchfiles and (where it is supported) uvloop. The HTTP layer uses
only the public API of `rune.Engine` and `rune.bundle`; wire formats live in
`rune.server.wire`.
"""

from __future__ import annotations

from rune.server.app import App
from rune.server.config import ServerConfig
from rune.server.decision_log import DecisionLog, DecisionLogSink, FileSink
from rune.server.errors import ServerError
from rune.server.runner import create_app, load_config, serve

__all__ = [
    "App",
    "DecisionLog",
    "DecisionLogSink",
    "FileSink",
    "ServerConfig",
    "ServerError",
    "create_app",
    "load_config",
    "serve",
]
