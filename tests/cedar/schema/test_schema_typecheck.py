"""RUNE's strict-mode typechecker, checked policy by policy against cedar-policy (cedarpy).

Three sources of policies: hand-picked conditions that probe each typing rule
(`data/typecheck_cases.txt`), and policies from a seeded random generator that is biased
towards well-typed expressions (a fixed sample here; many more under `slow`). The
corpus runs in `test_schema_corpus.py`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import cedarpy
import pytest

from rune.cedar import ParseError, PolicySet
from rune.cedar.schema import Schema, validate
from rune.cedar.schema.typecheck import policy_expression, prepare, typecheck_policy

DATA = Path(__file__).parent / "data"
SCHEMA_TEXT = (DATA / "typecheck.cedarschema").read_text()
SCHEMA = Schema.from_str(SCHEMA_TEXT)
PREPARED = prepare(SCHEMA.entity_types, SCHEMA.actions)
JUDGE = cedarpy.Schema.from_str(SCHEMA_TEXT)
WRAP = 'permit(principal is User, action == Action::"edit", resource) when {{ {} }};'

CASES = [line.strip() for line in (DATA / "typecheck_cases.txt").read_text().splitlines()
         if line.strip() and not line.startswith("#")]


def agree(text: str) -> tuple[bool, bool]:
    """(RUNE passes, cedar passes) for a one-policy text."""
    (policy,) = list(PolicySet.from_str(text))
    mine = not typecheck_policy(policy.ast, PREPARED)
    return mine, cedarpy.validate_policies(text, JUDGE).validation_passed


@pytest.mark.parametrize("case", CASES)
def test_probe_agrees_with_cedar(case: str) -> None:
    text = case if case.startswith(("permit", "forbid")) else WRAP.format(case)
    mine, cedar = agree(text)
    assert mine == cedar


def test_probes_cover_both_verdicts() -> None:
    verdicts = [agree(c if c.startswith("permit") else WRAP.format(c))[1] for c in CASES]
    assert verdicts.count(True) > 40 and verdicts.count(False) > 40


# -- a seeded generator of mostly well-typed policies ------------------------------------


class PolicyGenerator:
    """Random policies over `data/typecheck.cedarschema`, biased towards valid ones."""

    ENTITIES = ['principal', 'User::"u"', 'principal.boss', 'resource.owner', 'context.who',
                'resource', 'Doc::"d"', 'Group::"g"', 'Admin::"a"', 'Kind::"a"', 'context.k']
    OPTIONAL = [
        ("principal", ["age", "boss", "ip", "when", "name", "nope"]),
        ("resource", ["d", "level", "owner", "size"]), ("context", ["n", "k", "who", "flag"]),
        ("principal.rec", ["b", "a", "c"]), ("principal.rec.c", ["d"]),
        ("principal.boss", ["age", "name"]),
    ]

    def __init__(self, seed: int, noise: float = 0.03) -> None:
        self.rng = random.Random(seed)
        self.noise = noise

    def pick(self, options: list[str]) -> str:
        return self.rng.choice(options)

    def any(self, depth: int) -> str:
        makers: list[Callable[[int], str]] = [self.long, self.string, self.entity, self.boolean,
                                              self.strings, self.entities]
        return self.rng.choice(makers)(depth + 1) if depth < 5 else self.pick(
            ["1", '"s"', "true", "principal", "context"])

    def boolean(self, depth: int) -> str:
        if self.rng.random() < self.noise:
            return self.any(depth)
        b, n = self.boolean, depth + 1
        if depth > 3:
            return self.pick(["true", "false", "context.flag", "principal has age"])
        choice = self.rng.randrange(20)
        if choice == 0:
            return f"({b(n)} && {b(n)})"
        if choice == 1:
            return f"({b(n)} || {b(n)})"
        if choice == 2:
            return f"(!{b(n)})"
        if choice == 3:
            return f"(if {b(n)} then {b(n)} else {b(n)})"
        if choice == 4:
            return f"({self.long(n)} {self.pick(['<', '<=', '>', '>='])} {self.long(n)})"
        if choice == 5:
            kind = self.pick(["long", "string", "entity", "boolean", "strings", "record"])
            other = kind if self.rng.random() < 0.8 else self.pick(["long", "string", "entity"])
            return f"({self.of(kind, n)} {self.pick(['==', '!='])} {self.of(other, n)})"
        if choice == 6:
            right = self.entity(n) if self.rng.random() < 0.5 else self.entities(n)
            return f"({self.entity(n)} in {right})"
        if choice == 7:
            base, attrs = self.rng.choice(self.OPTIONAL)
            attr = self.pick(attrs)
            return f"({base} has {attr} && {self.use(base + '.' + attr, n)})"
        if choice == 8:
            return f"({self.string(n)} like \"a*\")"
        if choice == 9:
            kind = self.pick(["User", "Doc", "Group", "Admin", "Kind"])
            suffix = self.pick(["", f" in {self.entity(n)}"])
            return f"({self.entity(n)} is {kind}{suffix})"
        if choice == 10:
            return f"({self.strings(n)}.contains({self.string(n)}))"
        if choice == 11:
            method = self.pick(["containsAll", "containsAny"])
            return f"({self.strings(n)}.{method}({self.strings(n)}))"
        if choice == 12:
            return f"({self.entities(n)}.contains({self.entity(n)}))"
        if choice == 13:
            key = self.string(n)
            return f"(principal.hasTag({key}) && principal.getTag({key}) > {self.long(n)})"
        if choice == 14:
            receiver = self.pick(['ip("10.0.0.1")', "principal.ip", "context.ip"])
            method = self.pick(["isIpv4()", "isLoopback()", 'isInRange(ip("10.0.0.0/8"))'])
            return f"({receiver}.{method})"
        if choice == 15:
            receiver = self.pick(['decimal("1.5")', "resource.d"])
            return f'({receiver}.lessThan(decimal("2.0")))'
        if choice == 16:
            receiver = self.pick(['datetime("2024-01-01")', "principal.when",
                                  'datetime("2024-01-01").offset(duration("1h"))'])
            return f'({receiver} < datetime("2025-01-01"))'
        if choice == 17:
            return self.pick(["principal.rec.b", "context.flag", "principal has rec",
                              "principal.rec.c has d", "context has n",
                              'action in Action::"view"', 'action == Action::"edit"'])
        if choice == 18:
            return f"({self.strings(n)}.isEmpty())"
        return self.use(self.pick(["principal.age", "context.n", "resource.level",
                                   "principal.rec.b", "principal.boss.age"]), n)

    def use(self, path: str, depth: int) -> str:
        """A use of an attribute that suits its type (the attribute may be optional)."""
        last = path.rsplit(".", 1)[-1]
        if last in ("age", "n", "level", "size", "a"):
            return f"{path} > {self.long(depth)}"
        if last in ("b", "flag"):
            return path
        if last in ("boss", "owner", "who"):
            return f"{path} == {self.entity(depth)}"
        if last == "ip":
            return f"{path}.isIpv4()"
        if last == "when":
            return f'{path} < datetime("2024-01-01")'
        if last == "name" or (last == "d" and "rec" in path):
            return f'{path} == "x"'
        if last == "d":
            return f'{path}.lessThan(decimal("1.0"))'
        if last == "k":
            return f'{path} == Kind::"a"'
        if last == "c":
            return f"{path} has d"
        return f"{path} == {self.any(depth)}"

    def long(self, depth: int) -> str:
        if self.rng.random() < self.noise:
            return self.any(depth)
        choice = self.rng.randrange(7)
        if choice < 2 or depth > 3:
            return self.pick(["1", "-2", "principal.rec.a", "resource.size"])
        if choice == 2:
            op = self.pick(["+", "-", "*"])
            return f"({self.long(depth + 1)} {op} {self.long(depth + 1)})"
        if choice == 3:
            return f"(-{self.long(depth + 1)})"
        if choice == 4:
            return (f"(if {self.boolean(depth + 1)} then {self.long(depth + 1)} "
                    f"else {self.long(depth + 1)})")
        return self.pick(['principal.getTag("t")', 'duration("1h").toHours()', "context.n",
                          "principal.age", "context.x"])

    def string(self, depth: int) -> str:
        if self.rng.random() < self.noise:
            return self.any(depth)
        return self.pick(['"a"', '"t"', "principal.name", "resource.owner.name",
                          f'(if {self.boolean(depth + 1)} then "a" else principal.name)'])

    def entity(self, depth: int) -> str:
        return self.any(depth) if self.rng.random() < self.noise else self.pick(self.ENTITIES)

    def entities(self, depth: int) -> str:
        return self.pick(['[User::"u"]', '[Group::"g", Group::"h"]', "resource.readers",
                          "[principal]", '[Doc::"d", Group::"g"]',
                          '[Action::"view", Action::"all"]', "[]"])

    def strings(self, depth: int) -> str:
        return self.pick(["principal.tags", '["a", "b"]', "[principal.name]", "[1]", "[]"])

    def record(self, depth: int) -> str:
        return self.pick(["{a: 1}", "{a: 1, b: true}", "principal.rec", "context",
                          "{a: principal.rec.a, b: false, c: {}}", '{a: 2, c: {d: "x"}}'])

    def of(self, kind: str, depth: int) -> str:
        maker: Callable[[int], str] = getattr(self, kind)
        return maker(depth)

    def policy(self) -> str:
        principal = self.pick(["principal", "principal", 'principal == User::"u"',
                               'principal in Group::"g"', "principal is User",
                               "principal is Admin", 'principal is User in Group::"g"',
                               'principal == Admin::"a"'])
        action = self.pick(["action", "action", 'action == Action::"view"',
                            'action == Action::"edit"', 'action in Action::"view"',
                            'action in [Action::"edit", Action::"sub"]',
                            'action in Action::"all"'])
        resource = self.pick(["resource", "resource", 'resource == Doc::"d"',
                              'resource in Group::"g"', "resource is Doc", "resource is Kind",
                              'resource == Kind::"a"'])
        conditions = " ".join(
            f"{self.pick(['when', 'when', 'unless'])} {{ {self.boolean(0)} }}"
            for _ in range(self.rng.randrange(1, 3))
        )
        return f"permit({principal}, {action}, {resource}) {conditions};"


def differences(seed: int, count: int) -> tuple[list[str], int]:
    """Generated policies where RUNE and cedar disagree, and how many cedar accepted."""
    generator = PolicyGenerator(seed)
    wrong: list[str] = []
    accepted = 0
    for _ in range(count):
        text = generator.policy()
        try:
            mine, cedar = agree(text)
        except ParseError:  # e.g. a chained `has ... !=`; cedar rejects it too
            continue
        accepted += cedar
        if mine != cedar:
            wrong.append(text)
    return wrong, accepted


def test_generated_policies_agree_with_cedar() -> None:
    wrong, accepted = differences(seed=2024, count=400)
    assert wrong == []
    assert accepted >= 60  # the generator does produce valid policies


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_many_generated_policies_agree_with_cedar(seed: int) -> None:
    wrong, _ = differences(seed=seed, count=3000)
    assert wrong == []


# -- the validator's interface -------------------------------------------------------------


def test_policy_expression_puts_the_scope_first() -> None:
    (policy,) = list(PolicySet.from_str(
        'permit(principal is User, action, resource in Group::"g") when { true } '
        "unless { false };"))
    expr = policy_expression(policy.ast)
    assert type(expr).__name__ == "And"


def test_errors_point_at_the_failing_expression() -> None:
    text = ('permit(principal is User, action == Action::"edit", resource)\n'
            "when {\n  principal.rec.a > 1 &&\n  principal.age > 1\n};")
    (error,) = validate(PolicySet.from_str(text), SCHEMA).errors
    assert error.code == "unsafe-optional-attribute-access"
    assert error.span is not None and (error.span.line, error.span.column) == (4, 3)


def test_engines_agree_on_a_mixed_set() -> None:
    text = "\n".join([
        'permit(principal is User, action == Action::"edit", resource) when { principal.age > 1 };',
        "permit(principal, action, resource);",
        'forbid(principal, action, resource == Kind::"z");',
    ])
    policies = PolicySet.from_str(text)
    rune = validate(policies, SCHEMA)
    judge = validate(policies, SCHEMA, engine="cedarpy")
    assert {e.policy_id for e in rune.errors} == {e.policy_id for e in judge.errors} == {
        "policy0", "policy2"}


def test_templates_are_typechecked_by_rune() -> None:
    policies = PolicySet.from_str("permit(principal == ?principal, action, resource) "
                                  "when { resource.nope };")
    assert not validate(policies, SCHEMA).passed
    (template,) = policies.templates
    assert typecheck_policy(template.ast, PREPARED)


# -- long chains and deep nesting (issue 9): typed without recursion -------------------------


@pytest.mark.parametrize("operator", ["||", "&&"])
def test_long_boolean_chains_typecheck(operator: str) -> None:
    # A 1,000-way allow-list `||` raised RecursionError in the typechecker.
    names = f" {operator} ".join(f'principal.name == "user{i}"' for i in range(1_000))
    policies = PolicySet.from_str(WRAP.format(names))
    assert validate(policies, SCHEMA).passed
    broken = PolicySet.from_str(WRAP.format(names + f" {operator} principal.nope"))
    (error,) = validate(broken, SCHEMA).errors
    assert error.code == "unsafe-attribute-access"
    assert error.span is not None and error.span.column > 1_000


def test_deeply_nested_expressions_typecheck() -> None:
    depth = 1_500
    condition = ("(" * depth + "principal.age > 1" + ")" * depth
                 + " && " + "!(" * depth + "context.flag" + ")" * depth)
    policies = PolicySet.from_str(WRAP.format(condition))
    (error,) = validate(policies, SCHEMA).errors
    assert error.code == "unsafe-optional-attribute-access"
    nested_if = "if true then " * 600 + "1" + " else 2" * 600
    assert validate(PolicySet.from_str(WRAP.format(f"({nested_if}) == 1")), SCHEMA).passed


def test_deeply_nested_types_are_refused_not_crashed() -> None:
    # A set literal 1,000 levels deep has a type as deep; cedar-policy overflows its stack.
    deep = "[" * 1_000 + "1" + "]" * 1_000
    (error,) = validate(PolicySet.from_str(WRAP.format(f"{deep} == {deep}")), SCHEMA).errors
    assert error.code == "nesting-too-deep"
