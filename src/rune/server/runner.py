"""Starting a server: the engine, the decision log, the app, and granian in this process.

`rune serve` runs granian embedded in its own event loop (one process, one engine: rate
limits, approvals and writes have one source of truth). The app speaks RSGI to granian,
its fastest interface; `--interface asgi` serves the same app over ASGI, and
`create_app` builds it for any other ASGI server (`uvicorn --factory
rune.server:create_app`, with `RUNE_BUNDLE` naming the bundle).

The event loop is uvloop's when it is installed (the server extra pins it on the
platforms it supports), else asyncio's (`--loop` chooses). granian hands every request
to the loop from its own I/O thread; asyncio wakes the loop with a write to its
self-pipe for each one, uvloop coalesces those wake-ups, which took a fifth to a third
off the server's CPU time per request on a bare JSON echo (`benchmarks/server.py`).

The heap loaded before serving is frozen out of the garbage collector's reach
(`rune.server.heap`), for anything served through `run_until_stopped` (the benchmark's
echo included). A shorter GIL switch interval (0.5 ms instead of 5) was tried against
granian's I/O thread waiting for a busy loop: with the machine otherwise idle it changed
neither RUNE's p99 nor its throughput beyond the noise, and may have cost the echo some
of its maximum rate, so CPython's default stays.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rune.bundle import Settings
from rune.server.config import ServerConfig
from rune.server.errors import ServerError
from rune.server.heap import freeze_heap

__all__ = ["create_app", "event_loop_factory", "granian_server", "load_config",
           "run_until_stopped", "serve"]

_log = logging.getLogger("rune.server")
BUNDLE_ENV = "RUNE_BUNDLE"


def load_config(bundle: str | os.PathLike[str], environ: Any = None, **overrides: Any
                ) -> ServerConfig:
    """The configuration for serving ``bundle``: its `rune.toml`, the environment's
    tokens, and ``overrides`` (the command line).

    Raises:
        RuneError: the settings or a token are invalid.
    """
    root = Path(bundle)
    toml = root / "rune.toml"
    settings = (Settings.from_toml(toml.read_text(encoding="utf-8"), file=toml)
                if toml.is_file() else Settings())
    return ServerConfig.from_settings(root, settings, environ, **overrides)


def create_app(bundle: str | os.PathLike[str] | None = None, **overrides: Any) -> Any:
    """An `App` serving ``bundle`` (default: `$RUNE_BUNDLE`), for any ASGI server.

    Raises:
        RuneError: the bundle, its settings or its state do not load.
    """
    from rune.engine import Engine
    from rune.server.app import App
    from rune.server.decision_log import DecisionLog, FileSink

    if bundle is None:
        bundle = os.environ.get(BUNDLE_ENV)
        if not bundle:
            raise SystemExit(f"set {BUNDLE_ENV} to the bundle to serve")
    config = load_config(bundle, **overrides)
    node: Any = None
    if config.nats:
        try:
            from rune.cluster import Node
        except ImportError as error:
            raise SystemExit("a cluster node needs the nats extra (pip install "
                             f"'rune[nats]'): {error}") from None
        assert config.node_id is not None
        node = Node(config.bundle, nats=config.nats, node_id=config.node_id,
                    state=config.state, cluster=config.cluster)
        engine = node.engine
    else:
        engine = Engine.load(config.bundle, state=config.state)
    log = None
    if config.decision_log is not None:
        log = DecisionLog(FileSink(config.decision_log, max_bytes=config.decision_log_max_bytes,
                                   keep=config.decision_log_keep),
                          sync=config.decision_log_sync,
                          flush_seconds=config.decision_log_flush_seconds,
                          max_backlog=config.decision_log_max_backlog,
                          mask=config.decision_log_mask)
    return App(engine, config, decision_log=log, node=node)


def event_loop_factory(kind: str = "auto") -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the server's event loop: ``kind`` `uvloop`, `asyncio`, or `auto`
    (uvloop when it can be imported).

    Raises:
        ServerError: `uvloop` was asked for and is not installed.
    """
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise ServerError("`--loop uvloop` needs uvloop (pip install 'rune[server]' "
                                  "installs it where it is supported)",
                                  code="missing-event-loop") from None
        else:
            return uvloop.new_event_loop  # type: ignore[no-any-return]
    return asyncio.new_event_loop


def granian_server(target: Any, *, host: str = "127.0.0.1", port: int = 8180,
                   interface: str = "rsgi", tls_cert: Path | None = None,
                   tls_key: Path | None = None) -> Any:
    """granian's embedded server for ``target`` with the settings `rune serve` uses (one
    process, the errors of granian's log only); `benchmarks/server.py` serves its JSON
    echo through this too, so that the floor it measures is the same stack."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    return Server(
        target, address=host, port=port,
        interface=Interfaces.RSGI if interface == "rsgi" else Interfaces.ASGI,
        backlog=2048, log_enabled=True, log_level=LogLevels.error,
        ssl_cert=tls_cert, ssl_key=tls_key)


def run_until_stopped(server: Any, *, loop: str = "auto",
                      started: Callable[[], None] | None = None) -> None:
    """Run ``server`` (`granian_server`) in a new event loop of kind ``loop`` (see
    `event_loop_factory`) until SIGINT or SIGTERM; ``started`` is called once the loop
    runs."""

    async def main() -> None:
        running = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            running.add_signal_handler(sig, server.stop)
        if started is not None:
            started()
        # Everything loaded so far (the engine, imports) lives as long as the server:
        # freezing it keeps the collector's pauses off the requests (rune.server.heap).
        freeze_heap()
        await server.serve()

    with asyncio.Runner(loop_factory=event_loop_factory(loop)) as runner:
        runner.run(main())


def serve(app: Any, *, announce: bool = True) -> None:
    """Serve ``app`` with granian on its configured address until SIGINT or SIGTERM,
    then write out the decision log."""
    config: ServerConfig = app.config
    scheme = "https" if config.tls_cert else "http"
    server = granian_server(app, host=config.host, port=config.port,
                            interface=config.interface, tls_cert=config.tls_cert,
                            tls_key=config.tls_key)

    def started() -> None:
        if announce:
            print(f"rune: serving {config.bundle} (version {app.engine.version}) on "
                  f"{scheme}://{_shown_host(config.host)}:{config.port}", file=sys.stderr,
                  flush=True)

    try:
        run_until_stopped(server, loop=config.loop, started=started)
    finally:
        if not app.closing:
            app.stop()


def _shown_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
