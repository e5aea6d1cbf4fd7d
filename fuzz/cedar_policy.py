"""Fuzz target: Cedar policy text, parsed, compiled, evaluated and sliced back to text.

The input bytes are the policy text (UTF-8, bad bytes replaced). Each parsed set is
authorized against a few fixed requests over a small fixed store, and every decision is
checked against Cedar's rules: an error never yields allow on its own, the reasons are
satisfied policies of the deciding effect, and a set with its failing policies removed
decides the same (Cedar skips a failing policy; it must have no other effect). Each
policy's own text parses back to the same tree.

Run: ``python -m fuzz.cedar_policy [libFuzzer options] [corpus dirs]``.
"""

from __future__ import annotations

from typing import Any

from fuzz._harness import FuzzFailure, calls, main
from rune.cedar import Entities, PolicySet, Request, Response, authorize
from rune.cedar.ast import Effect

__all__ = ["ENTITIES", "REQUESTS", "check", "check_decisions", "check_text"]

ENTITIES = Entities.from_json([
    {"uid": {"type": "User", "id": "alice"},
     "attrs": {"age": 42, "name": "alice", "admin": True, "tags": ["a", "b"],
               "home": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}},
               "manager": {"__entity": {"type": "User", "id": "bob"}},
               "address": {"city": "Paris", "zip": 75001}},
     "parents": [{"type": "Group", "id": "admins"}],
     "tags": {"level": 3, "team": "infra"}},
    {"uid": {"type": "User", "id": "bob"}, "attrs": {"age": -7}, "parents": []},
    {"uid": {"type": "Group", "id": "admins"}, "attrs": {},
     "parents": [{"type": "Group", "id": "everyone"}]},
    {"uid": {"type": "Group", "id": "everyone"}, "attrs": {}, "parents": []},
    {"uid": {"type": "Action", "id": "read"}, "attrs": {},
     "parents": [{"type": "Action", "id": "any"}]},
    {"uid": {"type": "Action", "id": "any"}, "attrs": {}, "parents": []},
    {"uid": {"type": "Photo", "id": "p1"},
     "attrs": {"owner": {"__entity": {"type": "User", "id": "alice"}}, "size": 9223372036854775807,
               "when": {"__extn": {"fn": "datetime", "arg": "2024-10-15"}},
               "price": {"__extn": {"fn": "decimal", "arg": "1.25"}}},
     "parents": [{"type": "Album", "id": "trip"}]},
])
"""A small store with a hierarchy, every value kind and tags."""

REQUESTS = (
    Request('User::"alice"', 'Action::"read"', 'Photo::"p1"',
            {"ip": {"__extn": {"fn": "ip", "arg": "192.168.0.1"}}, "n": 3, "ok": True,
             "s": "x", "set": [1, 2], "rec": {"a": {"b": -1}}}),
    Request('User::"bob"', 'Action::"write"', 'Photo::"p1"', {}),
    Request('User::"nobody"', 'Action::"any"', 'Album::"trip"', {"n": -9223372036854775808}),
)
"""Requests that reach every kind of entity: known, unknown, with and without context."""


def check_decisions(policies: PolicySet) -> None:
    """Authorize every request in `REQUESTS` and check each decision is safe."""
    for request in REQUESTS:
        response, error = calls(authorize, request, policies, ENTITIES)
        if error is not None:
            raise FuzzFailure(f"authorize raised instead of reporting: {error!r}")
        check_response(policies, request, response)


def check_response(policies: PolicySet, request: Request, response: Response) -> None:
    """Cedar's rules for one decision (see the module docstring)."""
    effects = {p.id: p.ast.effect for p in policies}
    failed = {e.policy_id for e in response.errors}
    unknown = failed - set(effects)
    if unknown:
        raise FuzzFailure(f"errors name policies not in the set: {sorted(unknown)}")
    if failed & set(response.reason):
        raise FuzzFailure(f"a failing policy is a reason: {sorted(failed)}")
    wanted = Effect.PERMIT if response.decision == "allow" else Effect.FORBID
    if any(effects.get(r) is not wanted for r in response.reason):
        raise FuzzFailure(f"reasons {response.reason} are not all {wanted} policies for "
                          f"decision {response.decision}")
    if response.decision == "allow" and not response.reason:
        raise FuzzFailure("allow without a determining permit")
    if failed:
        # Skipping a failing policy must be all it does: without them, the same answer.
        rest = PolicySet.from_policies([p for p in policies if p.id not in failed])
        again, error = calls(authorize, request, rest, ENTITIES)
        if error is not None:
            raise FuzzFailure(f"authorize raised on the set without failing policies: "
                              f"{error!r}")
        if (again.decision, set(again.reason)) != (response.decision, set(response.reason)):
            raise FuzzFailure(
                f"failing policies {sorted(failed)} changed the decision: "
                f"{response.decision} {response.reason} vs {again.decision} {again.reason}")


def check_text(policies: PolicySet) -> None:
    """Each policy's and template's text parses back to the same tree."""
    for item in [*list(policies)[:20], *policies.templates[:5]]:
        again, error = calls(PolicySet.from_str, item.text)
        if error is not None:
            raise FuzzFailure(f"the text of {item.id} does not parse again: {error}")
        parsed = [*again, *again.templates]
        if len(parsed) != 1 or parsed[0].ast != item.ast:
            raise FuzzFailure(f"the text of {item.id} parses to something else")


def check(data: bytes) -> None:
    """One fuzz input: the policy text in ``data``."""
    text = data.decode("utf-8", "replace")
    policies: Any
    policies, error = calls(PolicySet.from_str, text)
    if error is not None:
        return
    check_text(policies)
    check_decisions(policies)


if __name__ == "__main__":
    main(__name__, check)
