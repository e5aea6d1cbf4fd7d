"""The agent workload shared by the Cedar and engine benchmarks.

10,000 `Agent` entities, each in 1-3 teams of a 3-level group hierarchy (4 orgs,
16 departments, 80 teams); 100 `Tool` resources in 10 folders; 4 actions; a context
with hour, risk and mode; 10 realistic policies, or those plus generated ones up to
1,000. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

NAME = "agents"
AGENTS = 10_000
ACTIONS = ("read", "write", "invoke", "delete")
MODES = ("interactive", "autonomous", "readonly")
CATEGORIES = ("search", "code", "deploy", "data", "chat")

BASE_POLICIES = """
@id("org0-invoke-low-risk")
permit(principal in Org::"org-0", action == Action::"invoke", resource in Folder::"folder-0")
when { context.risk < 5 };

@id("read-by-clearance")
permit(principal, action == Action::"read", resource)
when { principal.clearance >= resource.sensitivity };

@id("delete-needs-admin")
forbid(principal, action == Action::"delete", resource)
unless { principal.role == "admin" };

@id("dept3-edit-folder3")
permit(principal in Department::"dept-3", action in [Action::"read", Action::"write"],
       resource in Folder::"folder-3");

@id("readonly-mode")
forbid(principal, action, resource)
when { context.mode == "readonly" && action != Action::"read" };

@id("search-in-office-hours")
permit(principal is Agent, action == Action::"invoke", resource)
when { resource.category == "search" && context.hour >= 8 && context.hour < 18 };

@id("quarantine-folder9-high-risk")
forbid(principal, action, resource in Folder::"folder-9")
when { context.risk > 7 };

@id("team-owners")
permit(principal in Team::"team-5", action, resource)
when { resource.owner_team == "team-5" };

@id("leads-write-low-sensitivity")
permit(principal, action == Action::"write", resource)
when { principal has lead && principal.lead && resource.sensitivity < 3 };

@id("quarantined-tools")
forbid(principal, action, resource)
when { resource has quarantined && resource.quarantined };
"""


def generated_policies(count: int, seed: int = 7) -> str:
    """`count` scoped policies over teams, departments and folders."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        team = f"team-{rng.randrange(80)}"
        folder = f"folder-{rng.randrange(10)}"
        action = ACTIONS[rng.randrange(4)]
        if i % 10 == 9:
            dept = f"dept-{rng.randrange(16)}"
            out.append(
                f'@id("gen-{i}")\nforbid(principal in Department::"{dept}", '
                f'action == Action::"{action}", resource in Folder::"{folder}")\n'
                f"when {{ context.hour < {rng.randrange(6)} || "
                f"context.risk > {rng.randrange(6, 10)} }};"
            )
        else:
            out.append(
                f'@id("gen-{i}")\npermit(principal in Team::"{team}", '
                f'action == Action::"{action}", resource in Folder::"{folder}")\n'
                f"when {{ context.risk < {rng.randrange(3, 10)} && "
                f"principal.clearance >= resource.sensitivity }};"
            )
    return "\n\n".join(out)


def unreachable_policies(count: int) -> str:
    """`count` policies no workload request can match: their principals do not exist."""
    out = []
    for i in range(count):
        effect = "forbid" if i % 10 == 9 else "permit"
        out.append(
            f'@id("ghost-{i}")\n{effect}(principal == Agent::"ghost-{i}", '
            f'action == Action::"{ACTIONS[i % 4]}", resource in Folder::"folder-{i % 10}")\n'
            f"when {{ context.risk < {i % 10} }};"
        )
    return "\n\n".join(out)


def policies(total: int) -> str:
    """The base policies, padded with generated ones to `total`."""
    extra = max(0, total - 10)
    return BASE_POLICIES + ("\n" + generated_policies(extra) if extra else "")


def entities(seed: int = 1, agents: int = 10_000) -> list[dict[str, Any]]:
    """The entity graph in Cedar's JSON format."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []

    def uid(t: str, i: str) -> dict[str, str]:
        return {"type": t, "id": i}

    for o in range(4):
        out.append({"uid": uid("Org", f"org-{o}"), "attrs": {}, "parents": []})
    for d in range(16):
        out.append({"uid": uid("Department", f"dept-{d}"), "attrs": {},
                    "parents": [uid("Org", f"org-{d % 4}")]})
    for t in range(80):
        out.append({"uid": uid("Team", f"team-{t}"), "attrs": {},
                    "parents": [uid("Department", f"dept-{t % 16}")]})
    for a in range(agents):
        teams = rng.sample(range(80), rng.randint(1, 3))
        attrs: dict[str, Any] = {
            "clearance": rng.randrange(5),
            "role": "admin" if rng.random() < 0.05 else "agent",
        }
        if rng.random() < 0.2:
            attrs["lead"] = True
        out.append({"uid": uid("Agent", f"agent-{a}"), "attrs": attrs,
                    "parents": [uid("Team", f"team-{t}") for t in teams]})
    for f in range(10):
        out.append({"uid": uid("Folder", f"folder-{f}"), "attrs": {}, "parents": []})
    for t in range(100):
        attrs = {
            "sensitivity": rng.randrange(5),
            "category": CATEGORIES[rng.randrange(len(CATEGORIES))],
            "owner_team": f"team-{rng.randrange(80)}",
        }
        if rng.random() < 0.05:
            attrs["quarantined"] = True
        out.append({"uid": uid("Tool", f"tool-{t}"), "attrs": attrs,
                    "parents": [uid("Folder", f"folder-{t % 10}")]})
    for a in ACTIONS:
        out.append({"uid": uid("Action", a), "attrs": {}, "parents": []})
    return out


@dataclass(frozen=True)
class Req:
    """One benchmark request with string uids."""

    principal: str
    action: str
    resource: str
    context: dict[str, Any]


def requests(n: int, seed: int = 3, agents: int = AGENTS, distinct: bool = False
             ) -> list[Req]:
    """`n` fresh random requests. With ``distinct``, principals run through a shuffled
    list of every agent (each seen once per ``agents`` requests) and the rest is drawn
    from its own generator; without it, the requests are those of earlier sessions."""
    rng = random.Random(seed)
    if distinct:
        order = list(range(agents))
        rng.shuffle(order)
        return [
            Req(
                f'Agent::"agent-{order[i % agents]}"',
                f'Action::"{ACTIONS[rng.randrange(4)]}"',
                f'Tool::"tool-{rng.randrange(100)}"',
                {"hour": rng.randrange(24), "risk": rng.randrange(10),
                 "mode": MODES[rng.randrange(3)]},
            )
            for i in range(n)
        ]
    return [
        Req(
            f'Agent::"agent-{rng.randrange(agents)}"',
            f'Action::"{ACTIONS[rng.randrange(4)]}"',
            f'Tool::"tool-{rng.randrange(100)}"',
            {"hour": rng.randrange(24), "risk": rng.randrange(10),
             "mode": MODES[rng.randrange(3)]},
        )
        for _ in range(n)
    ]
