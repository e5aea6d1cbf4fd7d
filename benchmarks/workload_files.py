"""A repository-files workload: coding agents reading and writing files on their owners'
behalf.

Its shape differs from `workload.py` and `workload_gateway.py`. Principals reach groups
through the user who owns them (`Agent` in `User` in `Group` in `Division`); files reach
their repository both as parent and as an entity-valued attribute, and policies follow
chains of them (`principal.owner in resource.repo.readers`, `principal.owner ==
resource.repo.owner`, `resource.repo.archived`); `like` matches paths; agents carry a
record attribute (`principal.limits.write`), a set of labels (`containsAny`) and an
optional clearance (`has`); the context holds a nested `session` record (itself holding
a record), a client address read with `ip(...)` and an optional budget read with
`decimal(...)`. Resources are many too (6,000 files), so most are first sightings.

20,000 `Agent` entities owned by 6,000 users in 60 groups under 5 divisions; 300
repositories; 6,000 files; 4 actions. The 1,000-policy variant adds generated policies
scoped to (group, repository), (division, repository) and (agent, repository) pairs, most
of which cannot apply to a given request. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

NAME = "files"
AGENTS = 20_000
ACTIONS = ("read", "list", "write", "delete")
ACTION_WEIGHTS = (50, 20, 25, 5)
DIVISIONS, GROUPS, USERS, REPOS, FILES = 5, 60, 6_000, 300, 6_000
TOPICS = ("python", "rust", "infra", "ml", "web", "security", "docs", "data")
PURPOSES = ("coding", "review", "ops")
DIRECTORIES = ("src", "src/core", "tests", "docs", "config", "secrets", ".github")
NAMES = ("main.py", "lib.rs", "README.md", "settings.toml", ".env", "server.pem",
         "deploy.yaml", "index.ts")

BASE_POLICIES = """
@id("agent-disabled")
forbid (principal, action, resource)
unless { principal.enabled };

@id("owner-reads")
permit (principal is Agent, action in [Action::"read", Action::"list"], resource is File)
when { principal.owner in resource.repo.readers };

@id("owner-writes")
permit (principal is Agent, action == Action::"write", resource is File)
when { principal.owner in resource.repo.writers && principal.limits.write &&
       resource.path like "/repos/*/src/*" && context.session.purpose == "coding" };

@id("repo-owner")
permit (principal, action, resource)
when { resource has repo && principal.owner == resource.repo.owner };

@id("secret-paths")
forbid (principal, action, resource)
when { resource.path like "*/secrets/*" || resource.path like "*.pem" ||
       resource.path like "*/.env" };

@id("classified")
forbid (principal, action == Action::"read", resource)
when { resource has classification && resource.classification == "secret" &&
       !(principal has clearance && principal.clearance >= 3) };

@id("archived-repos")
forbid (principal, action in [Action::"write", Action::"delete"], resource)
when { resource.repo.archived };

@id("delete-from-office")
forbid (principal, action == Action::"delete", resource)
unless { ip(context.client_ip).isInRange(ip("10.0.0.0/8")) && context.session.approved };

@id("budget")
forbid (principal, action, resource)
when { context has budget && decimal(context.budget).lessThan(decimal("0.10")) };

@id("topic-readers")
permit (principal, action == Action::"read", resource)
when { resource.repo.topics.containsAny(principal.labels) &&
       resource.repo.visibility != "private" && context.session.tool.depth < 4 };
"""


def generated_policies(count: int, seed: int = 13) -> str:
    """``count`` policies scoped to (group, repo), (division, repo) and (agent, repo)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        group = f"group-{rng.randrange(GROUPS)}"
        repo = rng.randrange(REPOS)
        kind = i % 10
        if kind < 5:
            out.append(
                f'@id("gen-{i}")\npermit (principal in Group::"{group}", '
                f'action == Action::"read", resource in Repo::"repo-{repo}")\n'
                f'when {{ context.session.purpose == "review" && '
                f"resource.size < {rng.randrange(1000, 100_000)} }};")
        elif kind < 7:
            out.append(
                f'@id("gen-{i}")\npermit (principal in Group::"{group}", '
                f'action in [Action::"write", Action::"list"], resource in Repo::"repo-{repo}")\n'
                f'when {{ resource.path like "/repos/repo-{repo}/src/*" && '
                f"context.session.approved }};")
        elif kind < 9:
            division = f"division-{rng.randrange(DIVISIONS)}"
            out.append(
                f'@id("gen-{i}")\nforbid (principal in Division::"{division}", '
                f'action == Action::"delete", resource in Repo::"repo-{repo}")\n'
                f"unless {{ context.session.approved && "
                f'ip(context.client_ip).isInRange(ip("10.{rng.randrange(8)}.0.0/16")) }};')
        else:
            agent = f"agent-{rng.randrange(AGENTS)}"
            out.append(
                f'@id("gen-{i}")\npermit (principal == Agent::"{agent}", action, '
                f'resource in Repo::"repo-{repo}")\n'
                f"when {{ principal.labels.containsAny(resource.repo.topics) }};")
    return "\n\n".join(out)


def policies(total: int) -> str:
    """The base policies, padded with generated ones to ``total``."""
    extra = max(0, total - 10)
    return BASE_POLICIES + ("\n" + generated_policies(extra) if extra else "")


def _uid(entity_type: str, entity_id: str) -> dict[str, str]:
    return {"type": entity_type, "id": entity_id}


def _ref(entity_type: str, entity_id: str) -> dict[str, dict[str, str]]:
    return {"__entity": _uid(entity_type, entity_id)}


class _Layout:
    """Who owns which agent, which groups each user is in, what each repo and file is."""

    def __init__(self, seed: int, agents: int) -> None:
        rng = random.Random(seed)
        self.user_groups = [rng.sample(range(GROUPS), rng.randint(1, 3)) for _ in range(USERS)]
        self.agent_owner = [rng.randrange(USERS) for _ in range(agents)]
        self.repo_readers = [rng.randrange(GROUPS) for _ in range(REPOS)]
        self.repo_writers = [rng.randrange(GROUPS) for _ in range(REPOS)]
        self.file_repo = [rng.randrange(REPOS) for _ in range(FILES)]
        self.repo_files: dict[int, list[int]] = {}
        for f, repo in enumerate(self.file_repo):
            self.repo_files.setdefault(repo, []).append(f)
        # group -> repos it reads or writes
        self.group_repos: dict[int, list[int]] = {}
        for repo in range(REPOS):
            for group in {self.repo_readers[repo], self.repo_writers[repo]}:
                self.group_repos.setdefault(group, []).append(repo)


def entities(seed: int = 1, agents: int = AGENTS) -> list[dict[str, Any]]:
    """The entity graph in Cedar's JSON format."""
    layout = _Layout(seed, agents)
    rng = random.Random(seed + 2)
    out: list[dict[str, Any]] = []
    for d in range(DIVISIONS):
        out.append({"uid": _uid("Division", f"division-{d}"), "attrs": {}, "parents": []})
    for g in range(GROUPS):
        out.append({"uid": _uid("Group", f"group-{g}"), "attrs": {},
                    "parents": [_uid("Division", f"division-{g % DIVISIONS}")]})
    for u, groups in enumerate(layout.user_groups):
        out.append({"uid": _uid("User", f"user-{u}"), "attrs": {"active": rng.random() < 0.99},
                    "parents": [_uid("Group", f"group-{g}") for g in groups]})
    for a, owner in enumerate(layout.agent_owner):
        attrs: dict[str, Any] = {
            "enabled": rng.random() < 0.97,
            "owner": _ref("User", f"user-{owner}"),
            "labels": rng.sample(TOPICS, rng.randint(1, 3)),
            "limits": {"write": rng.random() < 0.8, "delete": rng.random() < 0.2},
        }
        if rng.random() < 0.4:
            attrs["clearance"] = rng.randrange(6)
        out.append({"uid": _uid("Agent", f"agent-{a}"), "attrs": attrs,
                    "parents": [_uid("User", f"user-{owner}")]})
    for r in range(REPOS):
        out.append({"uid": _uid("Repo", f"repo-{r}"), "attrs": {
            "visibility": ("public", "internal", "private")[rng.randrange(3)],
            "readers": _ref("Group", f"group-{layout.repo_readers[r]}"),
            "writers": _ref("Group", f"group-{layout.repo_writers[r]}"),
            "owner": _ref("User", f"user-{rng.randrange(USERS)}"),
            "archived": rng.random() < 0.05,
            "topics": rng.sample(TOPICS, rng.randint(1, 3)),
        }, "parents": [_uid("Division", f"division-{r % DIVISIONS}")]})
    for f, repo in enumerate(layout.file_repo):
        directory = DIRECTORIES[rng.randrange(len(DIRECTORIES))]
        name = NAMES[rng.randrange(len(NAMES))]
        attrs = {
            "path": f"/repos/repo-{repo}/{directory}/{f}-{name}",
            "repo": _ref("Repo", f"repo-{repo}"),
            "size": rng.randrange(100, 200_000),
        }
        if rng.random() < 0.1:
            attrs["classification"] = ("secret", "internal")[rng.randrange(2)]
        out.append({"uid": _uid("File", f"file-{f}"), "attrs": attrs,
                    "parents": [_uid("Repo", f"repo-{repo}")]})
    for action in ACTIONS:
        out.append({"uid": _uid("Action", action), "attrs": {}, "parents": []})
    return out


@dataclass(frozen=True)
class Req:
    """One benchmark request with string uids."""

    principal: str
    action: str
    resource: str
    context: dict[str, Any]


_ADDRESSES = tuple(
    [f"10.{i % 8}.{i % 11}.{i}" for i in range(220)]
    + [f"172.16.{i % 3}.{i}" for i in range(36)])


def requests(n: int, seed: int = 3, agents: int = AGENTS, distinct: bool = False
             ) -> list[Req]:
    """``n`` fresh random requests. With ``distinct``, principals run through a shuffled
    list of every agent (each seen once per ``agents`` requests); otherwise they are
    drawn at random. Most files asked for are in repositories the agent's owner's groups
    read or write."""
    rng = random.Random(seed)
    layout = _Layout(1, agents)
    order = list(range(agents))
    rng.shuffle(order)
    out = []
    for i in range(n):
        agent = order[i % agents] if distinct else rng.randrange(agents)
        repos = [r for g in layout.user_groups[layout.agent_owner[agent]]
                 for r in layout.group_repos.get(g, ())]
        files = None
        if repos and rng.random() < 0.6:
            files = layout.repo_files.get(rng.choice(repos))
        file = rng.choice(files) if files else rng.randrange(FILES)
        action = rng.choices(ACTIONS, ACTION_WEIGHTS)[0]
        context: dict[str, Any] = {
            "session": {
                "purpose": rng.choices(PURPOSES, (60, 30, 10))[0],
                "approved": rng.random() < 0.6,
                "tool": {"name": "fs", "depth": rng.randrange(7)},
            },
            "client_ip": _ADDRESSES[rng.randrange(len(_ADDRESSES))],
            "hour": rng.randrange(24),
        }
        if rng.random() < 0.8:
            context["budget"] = f"{rng.randrange(300) / 100:.2f}"
        out.append(Req(f'Agent::"agent-{agent}"', f'Action::"{action}"',
                       f'File::"file-{file}"', context))
    return out
