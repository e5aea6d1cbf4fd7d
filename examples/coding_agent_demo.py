"""RUNE's main job on the coding-agent bundle: decide, configure and explain.

Run with `make demo`. Loads `examples/coding-agent/` (Cedar policies, Datalog rules,
entities), decides a handful of agent actions and prints each decision with the
configuration and obligations derived for it, then one full explanation.
"""

from __future__ import annotations

from pathlib import Path

import rune

BUNDLE = Path(__file__).resolve().parent / "coding-agent"

REQUESTS = [
    ('Agent::"a2"', 'Action::"read_file"', 'File::"src/app.py"', {"env": "prod"}),
    ('Agent::"a2"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "dev"}),
    ('Agent::"a2"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "prod"}),
    ('Agent::"a1"', 'Action::"write_file"', 'File::"src/ui.ts"', {"env": "prod"}),
    ('Agent::"a1"', 'Action::"read_file"', 'File::"config/.env"', {"env": "dev"}),
    ('Agent::"a2"', 'Action::"call_api"', 'Api::"llm"', {"env": "prod"}),
    ('Agent::"a2"', 'Action::"call_api"', 'Api::"llm"', {"env": "prod"}),
    ('Agent::"a2"', 'Action::"call_api"', 'Api::"llm"', {"env": "prod"}),
]


def main() -> None:
    """Print one block per decision, then approve the production change and retry it."""
    engine = rune.Engine.load(BUNDLE, clock=lambda: 1_700_000_000.0)
    print(f"loaded {BUNDLE.name} (version {engine.version})\n")
    decisions = []
    for principal, action, resource, context in REQUESTS:
        d = engine.authorize(principal, action, resource, context)
        decisions.append(d)
        env = context.get("env", "")
        print(f"{d.decision.upper():5}  {principal} {action} {resource}  [env={env}]")
        print(f"       reasons: {', '.join(d.reasons) or '(none: default deny)'}")
        if d.config:
            print("       config:  " + ", ".join(f"{k}={v}" for k, v in d.config.items()))
        for ob in d.obligations:
            print(f"       obligation: {ob.kind} {ob.key} limit={ob.limit} "
                  f"per {ob.window_seconds}s")
    print("\nA human approves the production change; the same request is now allowed:")
    engine.approve('Agent::"a1"', 'Action::"write_file"', 'File::"src/ui.ts"')
    d = engine.authorize('Agent::"a1"', 'Action::"write_file"', 'File::"src/ui.ts"',
                         {"env": "prod"})
    print(f"{d.decision.upper():5}  reasons: {', '.join(d.reasons)} (version {d.version})")
    print("\nWhy was the production write by a2 denied?\n")
    print(decisions[2].explain().to_text())


if __name__ == "__main__":
    main()
