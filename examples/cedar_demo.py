"""Authorize a handful of agent requests with the Cedar layer alone and print the decisions.

Run with `python examples/cedar_demo.py` (`make demo` runs `coding_agent_demo.py`, the
engine's tour). The example bundle lives in `examples/agents/`: Cedar policies, the
entity graph (agents, teams, files, tables) and the requests to decide, one per line.
"""

from __future__ import annotations

import json
from pathlib import Path

from rune.cedar import Entities, PolicySet, Request, authorize
from rune.cedar.values import format_value

HERE = Path(__file__).resolve().parent / "agents"


def main() -> None:
    """Load the example bundle and print one line per decision, with reasons and errors."""
    policy_file = HERE / "policies" / "fleet.cedar"
    policies = PolicySet.from_str(policy_file.read_text(), file=str(policy_file))
    entities = Entities.from_json((HERE / "entities" / "fleet.json").read_text())
    names = {p.id: p.annotated_id or p.id for p in policies}
    print(f"loaded {len(policies)} policies and {len(entities)} entities from {HERE}\n")
    for line in (HERE / "requests.jsonl").read_text().splitlines():
        item = json.loads(line)
        request = Request(item["principal"], item["action"], item["resource"], item["context"])
        response = authorize(request, policies, entities)
        context = ", ".join(f"{k}={format_value(v)}" for k, v in request.context.items())
        print(f"{response.decision.upper():5}  {request.principal} {request.action.id} "
              f"{request.resource}  [{context}]")
        for pid in response.reason:
            print(f"       because {names[pid]} ({pid})")
        for error in response.errors:
            print(f"       error in {names[error.policy_id]}: {error.message}")
        if not response.reason and not response.errors:
            print("       no policy permits it (default deny)")


if __name__ == "__main__":
    main()
