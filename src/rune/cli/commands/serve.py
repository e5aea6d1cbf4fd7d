"""`rune serve`: serve a bundle over HTTP (AuthZEN 1.0 and RUNE's `/v1` API)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from rune.cli.main import ExitCode

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register the subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve a bundle as an AuthZEN policy decision point",
        description="Serve BUNDLE over HTTP: the AuthZEN Authorization API 1.0 under "
        "/access/v1, RUNE's API under /v1, /health, /ready, /metrics and /openapi.json. "
        "Settings come from the bundle's rune.toml ([server]); tokens from RUNE_API_TOKEN "
        "and RUNE_ADMIN_TOKEN; the options below override both. Binds 127.0.0.1 unless "
        "told otherwise. Needs the server extra: pip install 'rune[server]'.",
    )
    parser.add_argument("bundle", type=Path, help="the bundle directory")
    parser.add_argument("--host", help="address to bind [127.0.0.1]")
    parser.add_argument("--port", type=int, help="TCP port [8180]")
    parser.add_argument("--state", type=Path,
                        help="state file keeping writes and approvals across restarts")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain (with --tls-key)")
    parser.add_argument("--tls-key", type=Path, help="PEM private key (with --tls-cert)")
    parser.add_argument("--decision-log", type=Path, help="file of one JSON line per decision")
    parser.add_argument("--decision-log-sync", choices=("batched", "always"),
                        help="when log lines reach the disk [batched]")
    parser.add_argument("--max-body-bytes", type=int, help="largest request body [1048576]")
    parser.add_argument("--public-url", help="base URL the AuthZEN metadata advertises")
    parser.add_argument("--no-watch", dest="watch", action="store_false", default=None,
                        help="do not reload the bundle when its files change")
    parser.add_argument("--interface", choices=("rsgi", "asgi"), default=None,
                        help="how granian calls the app [rsgi, the fastest]")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted (SIGINT or SIGTERM)."""
    try:
        from rune.server import create_app, serve
    except ImportError as error:
        print(f"error: `rune serve` needs the server extra (pip install 'rune[server]'): "
              f"{error}", file=sys.stderr)
        return int(ExitCode.ERROR)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from rune.bundle import DecisionLogSync

    sync = None if args.decision_log_sync is None else DecisionLogSync(args.decision_log_sync)
    app = create_app(
        args.bundle, host=args.host, port=args.port, state=args.state,
        tls_cert=args.tls_cert, tls_key=args.tls_key, decision_log=args.decision_log,
        decision_log_sync=sync, max_body_bytes=args.max_body_bytes,
        public_url=args.public_url, watch=args.watch, interface=args.interface)
    serve(app)
    return int(ExitCode.OK)
