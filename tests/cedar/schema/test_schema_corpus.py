"""Schemas, entities and requests of the Cedar conformance corpus, compared with cedarpy.

For each corpus test file: `validate` (RUNE's typechecker) gives its `shouldValidate`
and fails exactly the policies cedar-policy fails; its schema parses
with `Schema.from_str`, and `to_json` is what Cedar reads from the text; its entities
parse with `parse_entities` into exactly the entities cedarpy builds (attributes, tags,
all ancestors, the schema's actions); and every request's context parses with
`parse_context`, with `validate_request` accepting exactly the requests cedarpy's
schema-checked request builder accepts.

`test_corpus_sample` covers a fixed sample of about 300 files; the `slow` test covers
all 7,831 (`pytest -m slow tests/cedar/schema`).

The corpus has no templates, so each file's policies are also turned into templates (a
scope's entity, or a bare variable, becomes a slot) and linked to the entities they had,
to other declared types, to an undeclared type and to an action: RUNE's validator and
cedar-policy must fail the same templates and links (links with the same error kinds).
"""

from __future__ import annotations

import json
import os
import random
import re
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

import cedarpy
import pytest

from rune.cedar import ParseError, PolicySet, ast
from rune.cedar.entities import Entities
from rune.cedar.json_format import value_to_json
from rune.cedar.policy_set import Policy
from rune.cedar.schema import (
    EntityType,
    ExtensionType,
    PrimitiveType,
    RecordType,
    Schema,
    SchemaType,
    SetType,
    validate,
)
from rune.cedar.schema.typecheck import prepare, typecheck_policy
from rune.cedar.values import EntityUID, format_value
from rune.errors import RuneError

SHARED = Path(os.environ.get("RUNE_SHARED", Path(__file__).resolve().parents[4] / "shared"))
CORPUS = SHARED / "corpora" / "cedar"
ALLOW_ALL = "permit(principal, action, resource);"

pytestmark = pytest.mark.skipif(not (CORPUS / "corpus-tests.tar.gz").exists(),
                                reason="the Cedar corpus is not available")


SAMPLE_STEP = 28  # every 28th generated test, plus all hand-written ones: about 300 files


def _extract(target: Path, sample: bool) -> Path:
    """Extract the generated tests (only the sampled ones when ``sample``) into ``target``."""
    with tarfile.open(CORPUS / "corpus-tests.tar.gz") as tar:
        members = tar.getmembers()
        if sample:
            tests = sorted(m.name for m in members if m.name.endswith(".json")
                           and not m.name.endswith(".entities.json"))
            stems = {name.removesuffix(".json") for name in tests[::SAMPLE_STEP]}
            members = [m for m in members if m.name.split(".", 1)[0] in stems]
        tar.extractall(target, members=members, filter="data")
    return target


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _extract(tmp_path_factory.mktemp("cedar-corpus-sample"), sample=True)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _extract(tmp_path_factory.mktemp("cedar-corpus"), sample=False)


def corpus_files(extracted: Path) -> list[Path]:
    """Every extracted corpus test file: the hand-written ones first, then the generated."""
    generated = sorted(p for p in (extracted / "corpus-tests").glob("*.json")
                       if not p.name.endswith(".entities.json"))
    return sorted((CORPUS / "tests").rglob("*.json")) + generated


def resolve(extracted: Path, relative: str) -> Path:
    """A path named in a test file: `corpus-tests/...` is in the extracted tarball."""
    if relative.startswith("corpus-tests/"):
        return extracted / relative
    return CORPUS / relative


def _canonical(value: Any) -> Any:
    if isinstance(value, list):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def _normalize(items: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    return {
        (e["uid"]["type"], e["uid"]["id"]): (
            json.dumps(_canonical(e.get("attrs", {})), sort_keys=True),
            frozenset((p["type"], p["id"]) for p in e.get("parents", [])),
            json.dumps(_canonical(e.get("tags", {})), sort_keys=True),
        )
        for e in items
    }


def check_file(path: Path, extracted: Path) -> list[str]:
    """Compare RUNE with cedarpy on one corpus file; return the differences found."""
    spec = json.loads(path.read_text())
    problems: list[str] = []
    text = resolve(extracted, spec["schema"]).read_text()
    try:
        schema = Schema.from_str(text, file=spec["schema"])
    except RuneError as exc:
        return [f"schema does not parse: {exc}"]
    judge = cedarpy.Schema.from_str(text)
    policies = PolicySet.from_str(resolve(extracted, spec["policies"]).read_text())
    result = validate(policies, schema)
    if result.passed != spec["shouldValidate"]:
        problems.append(f"validation should give {spec['shouldValidate']}")
    delegated = validate(policies, schema, engine="cedarpy")
    if {e.policy_id for e in result.errors} != {e.policy_id for e in delegated.errors}:
        problems.append("RUNE's typechecker and cedar-policy disagree on which policies fail")
    if str(cedarpy.Schema.from_json_str(json.dumps(schema.to_json()))) != str(judge):
        problems.append("to_json differs from the schema text")

    entities_text = resolve(extracted, spec["entities"]).read_text()
    try:
        expected = _normalize(json.loads(str(cedarpy.Entities.from_json_str(
            entities_text, schema=judge))))
    except ValueError:
        expected = None
    try:
        store = Entities.from_data(schema.parse_entities(json.loads(entities_text)))
        mine = _normalize([{
            "uid": e.uid.to_json(),
            "attrs": {k: value_to_json(v) for k, v in e.attrs.items()},
            "parents": [p.to_json() for p in e.ancestors],
            "tags": {k: value_to_json(v) for k, v in e.tags.items()},
        } for e in store.values()])
    except RuneError as exc:
        mine = None
        if expected is not None:
            problems.append(f"entities rejected: {exc}")
    if mine is not None and mine != expected:
        problems.append("entities differ from cedarpy's")

    for request in spec["requests"]:
        action = EntityUID(request["action"]["type"], request["action"]["id"])
        try:
            context = schema.parse_context(action, request["context"])
            schema.validate_request(
                EntityUID(request["principal"]["type"], request["principal"]["id"]), action,
                EntityUID(request["resource"]["type"], request["resource"]["id"]), context)
            accepted, reason = True, ""
        except RuneError as exc:
            accepted, reason = False, str(exc)
        response = cedarpy.is_authorized(
            {k: request[k] for k in ("principal", "action", "resource", "context")},
            ALLOW_ALL, [], schema=judge)
        judged = not any("failed to build request" in e for e in response.diagnostics.errors)
        if accepted != judged:
            problems.append(f"{request['description']}: RUNE accepts={accepted} ({reason}), "
                            f"cedar accepts={judged}")
    return problems


def run(paths: list[Path], extracted: Path) -> dict[str, list[str]]:
    failures = {}
    for path in paths:
        problems = check_file(path, extracted)
        if problems:
            failures[path.name] = problems
    return failures


def test_corpus_sample(sampled: Path) -> None:
    paths = corpus_files(sampled)
    assert 290 <= len(paths) <= 320
    assert run(paths, sampled) == {}


@pytest.mark.slow
def test_corpus_all(extracted: Path) -> None:
    paths = corpus_files(extracted)
    assert len(paths) == 7831
    failures = run(paths, extracted)
    assert failures == {}, f"{len(failures)} files differ, e.g. {next(iter(failures.items()))}"


# -- random policies over the corpus schemas ---------------------------------------------


class SchemaPolicies:
    """Random policies that use one schema's entity types, attributes and actions.

    Attribute paths follow the declared types (with `has` guards most of the time), so
    many of the policies validate and the typechecker's rules are exercised in depth.
    """

    def __init__(self, schema: Schema, rng: random.Random) -> None:
        self.schema = schema
        self.rng = rng
        self.types = list(schema.entity_types)
        self.actions = list(schema.actions.values())

    def uid(self) -> str:
        if not self.types or self.rng.random() < 0.15:
            return str(self.rng.choice(self.actions).uid) if self.actions else 'Nope::"x"'
        name = self.rng.choice(self.types)
        enum = self.schema.entity_types[name].enum
        eid = self.rng.choice(enum) if enum and self.rng.random() < 0.8 else "a"
        return str(EntityUID(name, eid))

    def value(self, ty: SchemaType) -> str:
        if isinstance(ty, PrimitiveType):
            return {"Bool": "true", "Long": "1", "String": '"a"'}[ty.name]
        if isinstance(ty, EntityType):
            enum = self.schema.entity_types[ty.name].enum
            return str(EntityUID(ty.name, enum[0] if enum else "x"))
        if isinstance(ty, ExtensionType):
            return {"ipaddr": 'ip("1.2.3.4")', "decimal": 'decimal("1.0")',
                    "datetime": 'datetime("2024-01-01")', "duration": 'duration("1h")'}[ty.name]
        if isinstance(ty, SetType):
            return f"[{self.value(ty.element)}]"
        assert isinstance(ty, RecordType)
        return "{" + ", ".join(f"{format_value(n)}: {self.value(a.type)}"
                               for n, a in ty.attributes.items() if a.required) + "}"

    def path(self) -> tuple[str, SchemaType | None, list[str]]:
        base = self.rng.choice(["principal", "resource", "context"])
        action = self.rng.choice(self.actions) if self.actions else None
        ty: SchemaType | None
        if base == "context":
            ty = action.context if action else RecordType()
        else:
            types = () if action is None else (
                action.principal_types if base == "principal" else action.resource_types)
            ty = EntityType(self.rng.choice(types)) if types else None
        expr, guards = base, []
        for _ in range(self.rng.randrange(1, 4)):
            record = (self.schema.entity_types[ty.name].shape if isinstance(ty, EntityType)
                      else ty if isinstance(ty, RecordType) else None)
            if not record or not record.attributes:
                break
            name = self.rng.choice([*record.attributes, "zz"])
            attr = record.attributes.get(name)
            if attr is None or not attr.required:
                guards.append(f"{expr} has {format_value(name)}")
            expr = f"{expr}[{format_value(name)}]"
            ty = None if attr is None else attr.type
            if ty is None:
                break
        return expr, ty, guards

    def condition(self, depth: int = 0) -> str:
        choice = self.rng.randrange(11)
        if depth > 3 or choice == 0:
            return self.rng.choice(["true", "false"])
        if choice == 1:
            return f"({self.condition(depth + 1)} && {self.condition(depth + 1)})"
        if choice == 2:
            return f"({self.condition(depth + 1)} || {self.condition(depth + 1)})"
        if choice == 3:
            return (f"(if {self.condition(depth + 1)} then {self.condition(depth + 1)} "
                    f"else {self.condition(depth + 1)})")
        if choice in (4, 5, 6):
            expr, ty, guards = self.path()
            use = f"{expr} == 1" if ty is None else self.use(expr, ty)
            kept = [g for g in guards if self.rng.random() < 0.85]
            return "(" + " && ".join([*kept, use]) + ")"
        if choice == 7:
            return f"({self.uid()} == {self.rng.choice(['principal', 'resource', self.uid()])})"
        if choice == 8:
            return (f"({self.rng.choice(['principal', 'resource', self.uid()])} in "
                    f"{self.rng.choice(['principal', self.uid(), '[' + self.uid() + ']'])})")
        if choice == 9 and self.types:
            return f"(principal is {self.rng.choice(self.types)})"
        return f"(!{self.condition(depth + 1)})"

    def use(self, expr: str, ty: SchemaType) -> str:
        if isinstance(ty, SetType):
            return self.rng.choice([f"{expr}.contains({self.value(ty.element)})",
                                    f"{expr}.containsAny({self.value(ty)})",
                                    f"{expr}.isEmpty()"])
        if isinstance(ty, EntityType):
            return self.rng.choice([f"{expr} == {self.value(ty)}", f"{expr} in {self.uid()}",
                                    f'{expr}.hasTag("t")'])
        if ty == PrimitiveType("Long"):
            return f"{expr} > 1"
        if ty == PrimitiveType("Bool"):
            return expr
        if isinstance(ty, ExtensionType) and ty.name in ("datetime", "duration"):
            return f"{expr} < {self.value(ty)}"
        return f"{expr} == {self.value(ty)}"

    def policy(self) -> str:
        action = "action"
        if self.actions and self.rng.random() < 0.4:
            action = f"action == {self.rng.choice(self.actions).uid}"
        principal = "principal"
        if self.rng.random() < 0.3:
            principal = f"principal in {self.uid()}"
        return f"permit({principal}, {action}, resource) when {{ {self.condition()} }};"


def random_policy_differences(paths: list[Path], extracted: Path, per_schema: int,
                              seed: int) -> list[str]:
    rng = random.Random(seed)
    wrong = []
    for path in paths:
        spec = json.loads(path.read_text())
        text = resolve(extracted, spec["schema"]).read_text()
        schema, judge = Schema.from_str(text), cedarpy.Schema.from_str(text)
        generator = SchemaPolicies(schema, rng)
        for _ in range(per_schema):
            policy = generator.policy()
            try:
                policies = PolicySet.from_str(policy)
            except ParseError:
                continue
            expected = cedarpy.validate_policies(policy, judge).validation_passed
            if validate(policies, schema).passed != expected:
                wrong.append(policy)
    return wrong


def test_random_policies_over_sampled_schemas(sampled: Path) -> None:
    assert random_policy_differences(corpus_files(sampled), sampled, 4, seed=7) == []


@pytest.mark.slow
def test_random_policies_over_all_schemas(extracted: Path) -> None:
    assert random_policy_differences(corpus_files(extracted), extracted, 6, seed=11) == []


# -- mutated corpus schemas: RUNE's parser accepts exactly what Cedar's accepts ----------

MUTATION_TOKENS = [
    "{", "}", "[", "]", "<", ">", ",", ";", ":", "::", "=", "?", "@a", '@b("x")', "entity",
    "action", "type", "namespace", "in", "appliesTo", "principal", "resource", "context",
    "tags", "enum", "Set", "Long", "String", "Bool", "ipaddr", "__cedar", "if", '"s"', "A",
    "X::Y", "Action", '"\\q"', "/", "//c\n", "\x1c", "\u00a0",
]


def mutate(text: str, rng: random.Random) -> str:
    """Insert a token, delete a few characters, or copy a slice elsewhere."""
    for _ in range(rng.randrange(1, 3)):
        i = rng.randrange(len(text) + 1)
        op = rng.randrange(3)
        if op == 0:
            text = f"{text[:i]} {rng.choice(MUTATION_TOKENS)} {text[i:]}"
        elif op == 1:
            text = text[:i] + text[i + rng.randrange(1, 8):]
        else:
            j = rng.randrange(len(text) + 1)
            text = text[:i] + text[j:j + rng.randrange(1, 20)] + text[i:]
    return text


def mutation_differences(paths: list[Path], extracted: Path, count: int,
                         seed: int) -> list[str]:
    rng = random.Random(seed)
    schemas = [resolve(extracted, json.loads(p.read_text())["schema"]).read_text()[:4000]
               for p in paths]
    wrong = []
    for _ in range(count):
        text = mutate(rng.choice(schemas), rng)
        try:
            cedarpy.Schema.from_str(text)
            expected = True
        except ValueError:
            expected = False
        try:
            Schema.from_str(text)
            accepted = True
        except RuneError:
            accepted = False
        if accepted != expected:
            wrong.append(text)
    return wrong


def test_mutated_schemas(sampled: Path) -> None:
    assert mutation_differences(corpus_files(sampled), sampled, 1500, seed=3) == []


@pytest.mark.slow
def test_many_mutated_schemas(extracted: Path) -> None:
    assert mutation_differences(corpus_files(extracted), extracted, 20000, seed=5) == []


# -- the corpus as templates and links ---------------------------------------------------

_SCOPE_OPERATOR = re.compile(r"(principal|resource)\s*(?:==|is\s+[^\s\"]+\s+in\b|in\b)\s*")
_UNDECLARED = EntityUID("Undeclared__", "u")


def templatize(policy: Policy, variables: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """``policy``'s text with a slot in the scope of each of ``variables``: the scope's
    entity becomes the slot (`principal == ?principal`), and a bare `principal` or
    `principal is T` gets `in ?principal`; also the entity each slot replaced (or None)."""
    text, base = policy.text, policy.span.offset if policy.span else 0
    tree = policy.ast
    edits: list[tuple[int, int, str]] = []
    replaced: dict[str, Any] = {}
    for variable in variables:
        scope: ast.ScopeConstraint = getattr(tree, variable)
        assert scope.span is not None
        start, end = scope.span.offset - base, scope.span.end_offset - base
        if isinstance(scope.entity, EntityUID):
            operator = _SCOPE_OPERATOR.match(text, start)
            assert operator is not None and operator.end() <= end, text[start:end]
            edits.append((operator.end(), end, f"?{variable}"))
            replaced[variable] = scope.entity
        else:  # `principal` or `principal is T`
            edits.append((end, end, f" in ?{variable}"))
            replaced[variable] = None
    out, last = [], 0
    for begin, end, new in sorted(edits):
        out += [text[last:begin], new]
        last = end
    return "".join([*out, text[last:]]), replaced


def template_differences(paths: list[Path], extracted: Path) -> tuple[list[str], Counter[str]]:
    """Compare RUNE and cedar-policy on every file's policies made templates and linked.

    Returns the disagreements and counts: files, templates and links validated (by both),
    and how many of them fail."""
    wrong: list[str] = []
    counts: Counter[str] = Counter()
    for path in paths:
        spec = json.loads(path.read_text())
        schema = Schema.from_str(resolve(extracted, spec["schema"]).read_text())
        policies = PolicySet.from_str(resolve(extracted, spec["policies"]).read_text())
        texts, replaced = [], {}
        for i, policy in enumerate(policies):
            variables = (("principal",), ("resource",), ("principal", "resource"))[i % 3]
            text, replaced[policy.id] = templatize(policy, variables)
            texts.append(text)
        if not texts:
            continue
        templates = PolicySet.from_str("\n".join(texts))
        declared = sorted(schema.entity_types)[:4]
        action = next(iter(schema.actions), None)
        linked, n = templates, 0
        for template in templates.templates:
            originals = replaced[template.id]
            choices = [{v: EntityUID(t, (schema.entity_types[t].enum or ("z",))[0])
                        for v in originals} for t in declared]
            choices.append(dict.fromkeys(originals, _UNDECLARED))
            if action is not None:
                choices.append(dict.fromkeys(originals, action))
            if all(uid is not None for uid in originals.values()):
                choices.append(originals)
            for values in choices:
                linked = linked.link(template.id, f"link{n}", values)
                n += 1
        mine = validate(linked, schema)
        judge = validate(linked, schema, engine="cedarpy")
        prepared = prepare(schema.entity_types, schema.actions)
        for template in templates.templates:  # one slot type stands for all of them
            if (set(typecheck_policy(template.ast, prepared))
                    != set(typecheck_policy(template.ast, prepared, every_slot_type=True))):
                wrong.append(f"{path.name}: {template.id} checked for every slot type differs")
        failing = {e.policy_id for e in mine.errors}
        counts.update(files=1, templates=len(templates.templates), links=n,
                      failing_templates=len(failing & {t.id for t in templates.templates}),
                      failing_links=len({i for i in failing if i.startswith("link")}))
        if failing != {e.policy_id for e in judge.errors}:
            wrong.append(f"{path.name}: RUNE fails {sorted(failing)}, cedar-policy "
                         f"{sorted({e.policy_id for e in judge.errors})}")
        elif ({(e.policy_id, e.code) for e in mine.errors if e.policy_id.startswith("link")}
              != {(e.policy_id, e.code) for e in judge.errors
                  if e.policy_id.startswith("link")}):
            wrong.append(f"{path.name}: the links fail with different errors")
    return wrong, counts


def test_corpus_sample_as_templates(sampled: Path) -> None:
    wrong, counts = template_differences(corpus_files(sampled), sampled)
    assert wrong == []
    assert counts["files"] == len(corpus_files(sampled))
    assert 0 < counts["failing_templates"] < counts["templates"]
    assert 0 < counts["failing_links"] < counts["links"]


@pytest.mark.slow
def test_corpus_all_as_templates(extracted: Path) -> None:
    wrong, counts = template_differences(corpus_files(extracted), extracted)
    assert counts["files"] == 7831
    assert wrong == [], f"{len(wrong)} files differ, e.g. {wrong[:3]}"
