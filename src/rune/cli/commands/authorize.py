"""`rune authorize`: decide Cedar requests against policies and entities."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rune.cli.main import ExitCode

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register the subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "authorize", help="decide Cedar requests",
        description="Decide one request (--principal/--action/--resource/--context) or a JSON "
                    "list of requests (--requests) against Cedar policies and entities.",
    )
    p.add_argument("--policies", required=True, type=Path, help="Cedar policy file")
    p.add_argument("--entities", type=Path, help="entities in Cedar's JSON format")
    p.add_argument("--schema", type=Path, help="Cedar schema (.cedarschema or JSON)")
    p.add_argument("--principal")
    p.add_argument("--action")
    p.add_argument("--resource")
    p.add_argument("--context", default="{}", help="context as JSON text")
    p.add_argument("--requests", type=Path, help="JSON list of request objects")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Decide the requests; exit 0 when all are allowed, 2 when any is denied."""
    from rune.cedar import Entities, PolicySet, Request, Schema, authorize

    policies = PolicySet.from_str(args.policies.read_text(), file=str(args.policies))
    schema = None
    if args.schema is not None:
        text = args.schema.read_text()
        schema = (Schema.from_json(text) if args.schema.suffix == ".json"
                  else Schema.from_str(text, file=str(args.schema)))
    entities = Entities.from_json(args.entities.read_text() if args.entities else "[]",
                                  schema=schema)
    if args.requests is not None:
        items = json.loads(args.requests.read_text())
    else:
        if not (args.principal and args.action and args.resource):
            print("error: give --principal, --action and --resource, or --requests",
                  file=sys.stderr)
            return int(ExitCode.ERROR)
        items = [{"principal": args.principal, "action": args.action,
                  "resource": args.resource, "context": json.loads(args.context)}]
    results: list[dict[str, Any]] = []
    all_allowed = True
    for item in items:
        request = Request(item["principal"], item["action"], item["resource"],
                          item.get("context"), schema=schema)
        response = authorize(request, policies, entities)
        all_allowed &= response.allowed
        results.append({
            "request": {"principal": str(request.principal), "action": str(request.action),
                        "resource": str(request.resource)},
            "decision": str(response.decision),
            "reason": list(response.reason),
            "errors": [{"policy_id": e.policy_id, "message": e.message} for e in response.errors],
        })
    if args.format == "json":
        print(json.dumps(results if args.requests is not None else results[0], indent=2))
    else:
        for r in results:
            req = r["request"]
            print(f"{r['decision'].upper():5} {req['principal']} {req['action']} {req['resource']}")
            for pid in r["reason"]:
                print(f"      reason: {pid}")
            for e in r["errors"]:
                print(f"      error: {e['policy_id']}: {e['message']}")
    return int(ExitCode.OK if all_allowed else ExitCode.DENY)
