"""What a server is started with: the bundle's `[server]` settings, the environment, and
the command line, in that order of precedence (the command line wins)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rune.bundle import DecisionLogSync, Settings
from rune.server.errors import ServerError

__all__ = ["ADMIN_TOKEN_ENV", "API_TOKEN_ENV", "ServerConfig"]

API_TOKEN_ENV = "RUNE_API_TOKEN"
ADMIN_TOKEN_ENV = "RUNE_ADMIN_TOKEN"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Everything `rune serve` needs; see `rune.bundle.settings` (`[server]`) for what
    each value means and its default."""

    bundle: Path
    host: str = "127.0.0.1"
    port: int = 8180
    api_token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_body_bytes: int = 1 << 20
    watch: bool = True
    public_url: str | None = None
    access_request_ttl_seconds: float = 600.0
    approval_ttl_seconds: float = 3600.0
    max_depth: int = 32
    state: Path | None = None
    decision_log: Path | None = None
    decision_log_sync: DecisionLogSync = DecisionLogSync.BATCHED
    decision_log_flush_seconds: float = 0.2
    decision_log_max_bytes: int = 64 << 20
    decision_log_keep: int = 10
    decision_log_mask: tuple[str, ...] = ()
    decision_log_max_backlog: int = 100_000
    interface: str = "rsgi"
    loop: str = "auto"  # the event loop: `auto` (uvloop when installed), `uvloop`, `asyncio`
    # A node of a cluster (`rune.cluster`): NATS URLs, this node's id, the cluster's name.
    nats: tuple[str, ...] = ()
    node_id: str | None = None
    cluster: str = "rune"

    @classmethod
    def from_settings(cls, bundle: Path, settings: Settings,
                      environ: Mapping[str, str] | None = None, **overrides: Any
                      ) -> ServerConfig:
        """The configuration of a server for ``bundle``: ``settings`` (its `rune.toml`),
        then the tokens of ``environ`` (`RUNE_API_TOKEN`, `RUNE_ADMIN_TOKEN`), then
        ``overrides`` that are not None.

        Raises:
            ServerError: a token in the environment that is not a valid token.
        """
        environ = os.environ if environ is None else environ
        config = cls(
            bundle=bundle,
            host=settings.server_host,
            port=settings.server_port,
            api_token=_env_token(environ, API_TOKEN_ENV) or settings.server_api_token,
            admin_token=_env_token(environ, ADMIN_TOKEN_ENV) or settings.server_admin_token,
            tls_cert=settings.server_tls_cert,
            tls_key=settings.server_tls_key,
            max_body_bytes=settings.server_max_body_bytes,
            watch=settings.server_watch,
            public_url=settings.server_public_url,
            access_request_ttl_seconds=settings.server_access_request_ttl_seconds,
            approval_ttl_seconds=settings.approval_ttl_seconds,
            max_depth=settings.max_context_depth,
            state=settings.state_path,
            decision_log=settings.decision_log_path,
            decision_log_sync=settings.decision_log_sync,
            decision_log_flush_seconds=settings.decision_log_flush_seconds,
            decision_log_max_bytes=settings.decision_log_max_bytes,
            decision_log_keep=settings.decision_log_keep,
            decision_log_mask=settings.decision_log_mask,
            decision_log_max_backlog=settings.decision_log_max_backlog,
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        if ("tls_cert" in given) != ("tls_key" in given):
            raise ServerError("TLS takes a certificate and its key: give both",
                              code="invalid-tls")
        if "port" in given and not 0 < given["port"] < 65536:
            raise ServerError(f"the port must be from 1 to 65535, not `{given['port']}`",
                              code="invalid-port")
        if "max_body_bytes" in given and given["max_body_bytes"] <= 0:
            raise ServerError("the body limit must be at least 1 byte",
                              code="invalid-body-limit")
        if "host" in given and (not given["host"] or not all(
                c.isascii() and (c.isalnum() or c in ".-:_[]%") for c in given["host"])):
            raise ServerError(f"`{given['host'][:80]}` is not a host name or an IP address",
                              code="invalid-host")
        if "nats" in given:
            given["nats"] = tuple(given["nats"])
            if given["nats"] and not given.get("node_id"):
                raise ServerError("a node of a cluster needs an id: give --node-id with "
                                  "--nats", code="invalid-node-id")
            if given["nats"]:
                given["watch"] = False  # the cluster's published bundle is the source
        return replace(config, **given) if given else config


def _env_token(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if not value:
        return None
    if not 16 <= len(value) <= 4096 or not all("!" <= c <= "~" for c in value):
        # The message names the variable, never its value. (The same rule as the
        # settings' `api_token` and `admin_token`.)
        raise ServerError(f"`{name}` must be 16 to 4096 visible ASCII characters (no "
                          "spaces)", code="invalid-token")
    return value
