"""`Decision.explain()`: determining policies, the false condition of relevant policies
that did not apply, errors, engine-level reasons and the Datalog proofs behind them."""

from __future__ import annotations

import json
from typing import Any

import pytest

import rune
from rune.datalog import Result
from rune.engine.explain import Explanation, explain
from rune.engine.proof import Proof, ProofSearch
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "coding-agent"
FILES = "examples/coding-agent/policies/files.cedar"


class Clock:
    """An injectable clock the tests move by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def entity(type_: str, id_: str, parents: tuple[tuple[str, str], ...] = (),
           **attrs: Any) -> dict[str, Any]:
    return {"uid": {"type": type_, "id": id_}, "attrs": attrs,
            "parents": [{"type": t, "id": i} for t, i in parents]}


def source_line(path: str, line: int) -> str:
    return (REPO / path).read_text().splitlines()[line - 1]


def position(path: str, needle: str) -> tuple[int, int]:
    """1-based line and column of the first occurrence of ``needle`` in a repo file."""
    text = (REPO / path).read_text()
    offset = text.index(needle)
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


DEV_LINE, DEV_COLUMN = position(FILES, 'context.env == "dev"')
PROD_LINE, _ = position(FILES, '@id("write-in-prod")')
MEMBERSHIP_LINE, _ = position("examples/coding-agent/rules/membership.dl", "derived_parent(a,")
FORMATTER_LINE, _ = position("examples/coding-agent/rules/config.dl",
                             'config("formatter", "black")')


def walk(proof: Proof) -> list[Proof]:
    out = [proof]
    for premise in proof.premises:
        out.extend(walk(premise))
    return out


def leaves(proof: Proof) -> list[Proof]:
    return [p for p in walk(proof) if not p.premises]


@pytest.fixture(scope="module")
def coding() -> rune.Engine:
    return rune.Engine.load(EXAMPLE)


@pytest.fixture(scope="module")
def prod_write(coding: rune.Engine) -> Explanation:
    decision = coding.authorize('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"',
                                {"env": "prod"})
    assert decision.decision == "ask"
    return decision.explain()


# -- policies ---------------------------------------------------------------------------

def test_determining_policy_has_id_effect_annotations_span_and_text(
        prod_write: Explanation) -> None:
    [policy] = prod_write.determining
    assert policy.id == "write-in-prod"
    assert policy.effect == "permit"
    assert policy.status == "determining"
    assert dict(policy.annotations) == {"id": "write-in-prod", "ask": "production change"}
    assert policy.span is not None
    assert policy.span.file is not None and policy.span.file.endswith("policies/files.cedar")
    assert source_line(FILES, policy.span.line) == '@id("write-in-prod")'
    assert policy.span.column == 1
    assert policy.text.startswith('@id("write-in-prod")')
    assert policy.text.endswith('resource.path like "src/*" };')


def test_relevant_policy_reports_its_false_conjunct_with_line_column_and_text(
        prod_write: Explanation) -> None:
    by_id = {p.id: p for p in prod_write.not_applied}
    # Scope matches (principal in Team::"coding", write_file, a File), env is not dev.
    dev = by_id["write-in-dev"]
    assert dev.status == "false"
    assert dev.failed is not None
    assert dev.failed.clause == "when"
    assert dev.failed.outcome == "false"
    assert dev.failed.text == 'context.env == "dev"'
    span = dev.failed.span
    assert span is not None
    line = source_line(FILES, span.line)
    assert line[span.column - 1:].startswith('context.env == "dev"')
    assert (span.line, span.column) == (DEV_LINE, DEV_COLUMN)
    # Policies whose scope cannot match the request are not listed at all.
    assert "read-source" not in by_id
    assert "call-api" not in by_id


def test_first_false_conjunct_is_reported_not_the_first_conjunct() -> None:
    engine = rune.Engine(
        '@id("p")\npermit(principal, action, resource)\n'
        'when { context.a == 1 && context.b == 2 &&\n       context.c == 3 };',
    )
    decision = engine.authorize('U::"u"', 'Action::"x"', 'R::"r"', {"a": 1, "b": 2, "c": 4})
    [report] = decision.explain().not_applied
    assert report.failed is not None
    assert report.failed.text == "context.c == 3"
    assert report.failed.span is not None
    assert (report.failed.span.line, report.failed.span.column) == (4, 8)


def test_unless_reports_the_disjunct_that_held() -> None:
    engine = rune.Engine(
        'permit(principal, action, resource);\n'
        '@id("guard")\nforbid(principal, action, resource)\n'
        'unless { context.admin == true || principal.level > 2 };',
        [entity("U", "u", level=1)],
    )
    denied = engine.authorize('U::"u"', 'Action::"x"', 'R::"r"', {"admin": False})
    assert denied.reasons == ("guard",)
    allowed = rune.Engine(
        '@id("guard")\nforbid(principal, action, resource)\n'
        'unless { context.admin == true || principal.level > 2 };',
        [entity("U", "u", level=3)],
    ).authorize('U::"u"', 'Action::"x"', 'R::"r"', {"admin": False})
    [report] = allowed.explain().not_applied
    assert report.failed is not None
    assert (report.failed.clause, report.failed.outcome) == ("unless", "true")
    assert report.failed.text == "principal.level > 2"


def test_evaluation_errors_name_the_failing_conjunct() -> None:
    engine = rune.Engine(
        '@id("needs-level")\npermit(principal, action, resource)\n'
        'when { principal has name && principal.level > 2 };\n'
        '@id("overflow")\npermit(principal, action, resource)\n'
        'when { context.n + 1 > 0 };',
        [entity("U", "u", name="x")],
    )
    decision = engine.authorize('U::"u"', 'Action::"x"', 'R::"r"',
                                {"n": 9223372036854775807})
    assert decision.decision == "deny"
    explanation = decision.explain()
    by_id = {p.id: p for p in explanation.not_applied}
    assert {p.status for p in by_id.values()} == {"error"}
    level = by_id["needs-level"].failed
    assert level is not None and level.outcome == "error"
    assert level.text == "principal.level > 2"
    assert level.error is not None and "level" in level.error
    overflow = by_id["overflow"].failed
    assert overflow is not None and overflow.error is not None
    assert "overflow" in overflow.error
    assert set(explanation.errors) == set(decision.errors)
    text = explanation.to_text()
    assert "Errors (policies skipped):" in text
    assert "needs-level" in text and "principal.level > 2" in text


def test_satisfied_permit_under_a_forbid_is_not_determining() -> None:
    engine = rune.Engine('@id("yes")\npermit(principal, action, resource);\n'
                         '@id("no")\nforbid(principal, action, resource);')
    explanation = engine.authorize('U::"u"', 'Action::"x"', 'R::"r"').explain()
    assert [p.id for p in explanation.determining] == ["no"]
    assert [p.id for p in explanation.satisfied] == ["yes"]
    assert explanation.not_applied == ()


def test_default_deny_says_so() -> None:
    engine = rune.Engine('permit(principal, action == Action::"read", resource);')
    explanation = engine.authorize('U::"u"', 'Action::"write"', 'R::"r"').explain()
    assert explanation.determining == () and explanation.not_applied == ()
    assert "denied by default" in explanation.to_text()


# -- engine-level reasons -----------------------------------------------------------------

def test_ask_from_an_annotation_is_explained(prod_write: Explanation) -> None:
    [reason] = prod_write.engine_reasons
    assert reason.reason == "approval:production change"
    assert reason.policies == ("write-in-prod",)
    assert "human approval" in reason.message and "engine.approve" in reason.message


def test_ask_from_a_rule_has_its_proof_and_approval_is_explained() -> None:
    clock = Clock()
    engine = rune.Engine(
        'permit(principal, action, resource);',
        [entity("U", "u"), entity("R", "r", cost=900)],
        'require_approval("expensive") :- request(_, _, r), attr_num(r, "cost", c), c > 500.',
        clock=clock,
    )
    decision = engine.authorize('U::"u"', 'Action::"buy"', 'R::"r"')
    assert decision.decision == "ask"
    [reason] = decision.explain().engine_reasons
    assert reason.reason == "approval:expensive"
    [proof] = reason.proofs
    assert proof.statement == 'require_approval("expensive")'
    assert [p.statement for p in proof.premises][-1] == "c > 500"
    assert proof.premises[-1].note == "900 > 500"
    engine.approve('U::"u"', 'Action::"buy"', 'R::"r"')
    approved = engine.authorize('U::"u"', 'Action::"buy"', 'R::"r"')
    assert approved.decision == "allow"
    [reason] = approved.explain().engine_reasons
    assert reason.reason == "approved"
    assert "approval:expensive" in reason.message
    assert reason.proofs and reason.proofs[0].relation == "require_approval"


def test_rule_deny_and_history_aggregate_are_proved() -> None:
    clock = Clock(10_000.0)
    rules = (
        'deny("too many deploys") :- request(p, a, _), a = "Action::\\"deploy\\"",\n'
        '    n = count : { performed(p, a, _, t, _), now(x), t > x - 3600 }, n >= 2.\n'
    )
    engine = rune.Engine('permit(principal, action, resource);', [entity("U", "u")], rules,
                         clock=clock)
    for at in (9_000, 9_500):
        engine.record('U::"u"', 'Action::"deploy"', 'R::"r"', at=at)
    decision = engine.authorize('U::"u"', 'Action::"deploy"', 'R::"r"')
    assert decision.reasons == ("rule:too many deploys",)
    explanation = explain(decision, now=clock.now)
    [reason] = explanation.engine_reasons
    [proof] = reason.proofs
    assert proof.source == "rule" and proof.span is not None and proof.span.line == 1
    aggregate = next(p for p in proof.premises if p.source == "aggregate")
    assert aggregate.note == "count = 2 over 3 fact(s)"
    notes = {p.note for p in aggregate.premises}
    assert notes == {"recorded history", "the request"}
    assert [p.id for p in explanation.satisfied] == ["policy0"]


def test_rule_deny_explained_at_another_time_says_the_outputs_differ() -> None:
    clock = Clock(10_000.0)
    engine = rune.Engine(
        'permit(principal, action, resource);', [entity("U", "u")],
        'deny("busy") :- request(p, _, _), n = count : { performed(p, _, _, t, _), now(x), '
        't > x - 60 }, n >= 1.', clock=clock)
    engine.record('U::"u"', 'Action::"x"', 'R::"r"', at=9_990)
    decision = engine.authorize('U::"u"', 'Action::"x"', 'R::"r"')
    assert decision.decision == "deny"
    later = explain(decision, now=20_000.0)
    assert later.engine_reasons[0].proofs == ()
    assert any("differ" in note for note in later.notes)


def test_rate_limit_denial_is_explained_with_its_proof() -> None:
    engine = rune.Engine.load(EXAMPLE, clock=Clock())
    request = ('Agent::"a2"', 'Action::"call_api"', 'Api::"llm"', {"env": "prod"})
    decisions = [engine.authorize(*request) for _ in range(3)]
    assert [d.decision for d in decisions] == ["allow", "allow", "deny"]
    explanation = decisions[-1].explain()
    [reason] = explanation.engine_reasons
    assert reason.reason.startswith("rate-limit:api:")
    assert "at most 2 action(s) per 60 s" in reason.message
    [proof] = reason.proofs
    assert proof.relation == "rate_limit" and proof.row[1:] == (2, 60)
    assert [p.id for p in explanation.satisfied] == ["call-api"]


# -- Datalog proofs ---------------------------------------------------------------------

def test_derived_senior_membership_is_proved_down_to_entity_facts(
        prod_write: Explanation) -> None:
    [proof] = prod_write.derived_entity_data
    assert proof.relation == "derived_parent"
    assert proof.row == ('Agent::\\"a1\\"', 'Group::\\"senior\\"')
    assert proof.source == "rule"
    assert proof.span is not None and proof.span.file is not None
    assert proof.span.file.endswith("rules/membership.dl")
    assert proof.rule.startswith("derived_parent(a, ")
    assert [p.relation for p in proof.premises[:2]] == ["entity", "attr_num"]
    assert proof.premises[1].row == ('Agent::\\"a1\\"', "level", 3)
    assert all(p.source == "input" and p.note == 'entity Agent::"a1"'
               for p in proof.premises[:2])
    assert proof.premises[2].statement == "l >= 3"
    assert proof.premises[2].note == "3 >= 3"


def test_config_values_are_proved(prod_write: Explanation) -> None:
    proofs = {(p.relation, p.row): p for p in prod_write.request_outputs}
    formatter = proofs[("config", ("formatter", "black"))]
    assert formatter.span is not None and formatter.span.line == FORMATTER_LINE
    assert {(p.relation, p.note) for p in leaves(formatter)} == {
        ("request", "the request"), ("attr", 'entity File::"src/app.py"')}
    review = proofs[("config", ("review", "required"))]
    assert ("context", ("env", "prod")) in {(p.relation, p.row) for p in review.premises}
    assert ("config_num", ("max_line_length", 100)) in proofs
    assert dict(prod_write.config) == {"formatter": "black", "max_files_per_change": 5,
                                       "max_line_length": 100, "review": "required"}


def test_recursive_rules_give_well_founded_proofs() -> None:
    entities = [entity("Org", "root"), entity("Org", "mid", (("Org", "root"),)),
                entity("Agent", "a", (("Org", "mid"),))]
    rules = (
        ".decl reach(a: symbol, b: symbol)\n"
        "reach(a, c) :- reach(a, b), parent(b, c).\n"
        "reach(a, b) :- parent(a, b).\n"
        'derived_attr(a, "home", "root") :- entity(a, "Agent"), reach(a, "Org::\\"root\\"").\n'
    )
    engine = rune.Engine('permit(principal, action, resource) when { principal.home == "root" };',
                         entities, rules)
    decision = engine.authorize('Agent::"a"', 'Action::"x"', 'Org::"root"')
    assert decision.allowed
    [proof] = decision.explain().derived_entity_data
    assert proof.relation == "derived_attr"
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def check(node: Proof, path: frozenset[tuple[str, tuple[Any, ...]]]) -> None:
        key = (node.relation, node.row)
        if node.relation:
            assert key not in path
            seen.append(key)
        for premise in node.premises:
            check(premise, path | {key})

    check(proof, frozenset())
    assert all(p.source in ("input", "constraint") for p in leaves(proof))
    assert ("parent", ('Org::\\"mid\\"', 'Org::\\"root\\"')) in seen


def test_negation_and_functor_outputs_are_proved() -> None:
    rules = (
        ".decl banned(p: symbol)\n"
        'rate_limit(cat("api:", p), 5, 60) :- request(p, _, _), !banned(p).\n'
        'config("name_length", to_string(strlen(p))) :- request(p, _, _).\n'
    )
    engine = rune.Engine('permit(principal, action, resource);', [], rules)
    decision = engine.authorize('U::"u"', 'Action::"x"', 'R::"r"')
    proofs = {p.relation: p for p in decision.explain().request_outputs}
    limit = proofs["rate_limit"]
    assert limit.row == ('api:U::\\"u\\"', 5, 60)
    assert limit.premises[-1].source == "negation"
    assert limit.premises[-1].note == 'no fact banned("U::\\"u\\"")'
    assert proofs["config"].source == "rule"


@pytest.mark.parametrize("bundle", ["coding-agent", "data-access-agent"])
def test_own_search_agrees_with_the_datalog_explainer(bundle: str) -> None:
    engine = rune.Engine.load(REPO / "examples" / bundle)
    snap = engine.snapshot
    assert snap.result is not None
    checked = 0
    for relation in ("derived_parent", "derived_attr", "derived_attr_num"):
        for row in sorted(snap.result[relation])[:12]:
            ours = ProofSearch(snap, snap.result, use_datalog_explain=False).proof(relation, row)
            theirs = ProofSearch(snap, snap.result).proof(relation, row)
            for proof in (ours, theirs):
                assert proof.source == "rule", proof.statement
                assert all(p.source in ("input", "fact", "constraint", "negation", "aggregate")
                           for p in leaves(proof))
            assert ours.statement == theirs.statement
            checked += 1
    assert checked


def test_a_failing_datalog_explainer_falls_back_to_the_own_search(
        coding: rune.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Result, relation: str, row: Any) -> None:
        raise RuntimeError("explainer unavailable")

    monkeypatch.setattr(Result, "explain", broken)
    decision = coding.authorize('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"',
                                {"env": "prod"})
    explanation = decision.explain()
    [proof] = explanation.derived_entity_data
    assert proof.source == "rule"
    assert [p.relation for p in proof.premises[:2]] == ["entity", "attr_num"]
    assert any("explainer failed" in note for note in explanation.notes)


# -- rendering ---------------------------------------------------------------------------

def test_text_prints_a_shared_derivation_once() -> None:
    rules = (
        ".decl trusted(p: symbol)\n"
        'trusted(p) :- entity(p, "U"), attr_num(p, "level", l), l > 1.\n'
        'config("review", "light") :- request(p, _, _), trusted(p).\n'
        'config_num("max_files", 50) :- request(p, _, _), trusted(p).\n'
    )
    engine = rune.Engine("permit(principal, action, resource);", [entity("U", "u", level=2)],
                         rules)
    explanation = engine.authorize('U::"u"', 'Action::"x"', 'R::"r"').explain()
    text = explanation.to_text()
    assert text.count('trusted("U::\\"u\\"")  <- rule at <rules>:2:1') == 1
    assert text.count('trusted("U::\\"u\\"")  <- proved above') == 1
    # The JSON keeps every proof whole.
    data = explanation.to_json()
    assert all(p["premises"][1]["source"] == "rule" for p in data["request_outputs"])


def test_json_round_trips(prod_write: Explanation) -> None:
    data = prod_write.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["decision"] == "ask"
    assert data["request"] == {"principal": 'Agent::"a1"', "action": 'Action::"write_file"',
                               "resource": 'File::"src/app.py"', "context": {"env": "prod"}}
    [determining] = data["determining"]
    assert determining["span"]["line"] == PROD_LINE
    assert determining["annotations"]["ask"] == "production change"
    failed = next(p for p in data["not_applied"] if p["id"] == "write-in-dev")["failed"]
    assert (failed["span"]["line"], failed["span"]["column"]) == (DEV_LINE, DEV_COLUMN)
    premises = data["derived_entity_data"][0]["premises"]
    assert premises[1]["row"] == ['Agent::\\"a1\\"', "level", 3]


def test_text_lists_every_part(prod_write: Explanation, monkeypatch: pytest.MonkeyPatch
                               ) -> None:
    monkeypatch.chdir(REPO)  # files are shown relative to the working directory
    text = str(prod_write)
    assert text == prod_write.to_text()
    for expected in (
        "Decision: ask (version 1)",
        'principal Agent::"a1", action Action::"write_file", resource File::"src/app.py"',
        "Determining policies:",
        f"write-in-prod (permit) at {FILES}:{PROD_LINE}:1",
        "Relevant policies that did not apply:",
        f'when condition false at {FILES}:{DEV_LINE}:{DEV_COLUMN}: context.env == "dev"',
        "approval:production change:",
        'Configuration: formatter = "black"',
        "Derived entity data (Datalog proofs):",
        f"examples/coding-agent/rules/membership.dl:{MEMBERSHIP_LINE}:1",
        "constraint: 3 >= 3",
        "Request outputs (Datalog proofs):",
    ):
        assert expected in text, expected


def test_engine_without_rules_explains_policies_only() -> None:
    engine = rune.Engine('@id("p")\npermit(principal, action, resource) when { false };')
    explanation = engine.authorize('U::"u"', 'Action::"x"', 'R::"r"').explain()
    [report] = explanation.not_applied
    assert report.failed is not None and report.failed.text == "false"
    assert explanation.derived_entity_data == () and explanation.request_outputs == ()
    assert json.loads(json.dumps(explanation.to_json()))["not_applied"][0]["id"] == "p"
