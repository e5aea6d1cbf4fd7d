"""Explanations: proof trees of derived rows, as data and as text."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rune.datalog import Absent, AggregateValue, DatalogError, Program, Proof, Result
from tests.strategies import DatalogCase, datalog_cases, datalog_updates

APPROVALS = """
.decl manages(boss: symbol, report: symbol)
.decl on_leave(person: symbol)
.decl above(boss: symbol, person: symbol)
.decl approves(boss: symbol, person: symbol, team: number)
above(b, p) :- manages(b, p).
above(b, p) :- manages(b, m), above(m, p).
approves(b, p, n) :- above(b, p), !on_leave(b), n = count : { manages(b, _) }.
"""

FACTS = {
    "manages": [("ann", "bob"), ("bob", "cy"), ("ann", "dan")],
    "on_leave": [("bob",)],
}


def test_proof_as_text() -> None:
    result = Program.parse(APPROVALS).evaluate(FACTS)
    text = result.explain("approves", ("ann", "cy", 2)).to_text()
    assert text.splitlines() == [
        'approves("ann", "cy", 2)  by approves(b, p, n) :- above(b, p), !on_leave(b), '
        "n = count : { manages(b, _) }.  [<input>:8:1]",
        '  above("ann", "cy")  by above(b, p) :- manages(b, m), above(m, p).  [<input>:7:1]',
        '    manages("ann", "bob")  [input]',
        '    above("bob", "cy")  by above(b, p) :- manages(b, p).  [<input>:6:1]',
        '      manages("bob", "cy")  [input]',
        '  !on_leave("ann")  [absent]',
        '  count : { manages(b, _) } = 2  [aggregate]',
    ]


def test_proof_as_data() -> None:
    result = Program.parse(APPROVALS).evaluate(FACTS)
    proof = result.explain("approves", ("ann", "cy", 2))
    assert proof.rule is not None and proof.rule.span is not None
    above, absent, aggregate = proof.premises
    assert isinstance(above, Proof) and above.row == ("ann", "cy")
    assert absent == Absent("on_leave", ("ann",))
    assert isinstance(aggregate, AggregateValue) and aggregate.value == 2
    assert proof.input_facts() == {("manages", ("ann", "bob")), ("manages", ("bob", "cy"))}
    data = proof.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["kind"] == "rule" and data["rule"]["location"] == "<input>:8:1"
    assert [p["kind"] for p in data["premises"]] == ["rule", "absent", "aggregate"]
    assert data["premises"][0]["premises"][0] == {
        "kind": "input",
        "relation": "manages",
        "row": ["ann", "bob"],
    }
    leaf = result.explain("manages", ("ann", "bob"))
    assert leaf.is_input and leaf.to_text() == 'manages("ann", "bob")  [input]'


def test_recursion_is_well_founded() -> None:
    # Both rules derive path(1, 1) from itself too; the proof must bottom out.
    program = Program.parse(
        """
        .decl edge(a: number, b: number)
        .decl path(a: number, b: number)
        path(x, y) :- edge(x, y).
        path(x, z) :- path(x, y), path(y, z).
        """
    )
    result = program.evaluate({"edge": [(1, 2), (2, 1), (2, 3)]})
    for row in result["path"]:
        proof = result.explain("path", row)
        assert proof.input_facts() <= {("edge", e) for e in [(1, 2), (2, 1), (2, 3)]}
        for node in proof.walk():
            for premise in node.premises:
                assert not (
                    isinstance(premise, Proof)
                    and (premise.relation, premise.row) == (node.relation, node.row)
                )


def test_deep_proofs_need_no_recursion() -> None:
    program = Program.parse(
        """
        .decl edge(a: number, b: number)
        .decl reach(a: number)
        reach(0).
        reach(y) :- reach(x), edge(x, y).
        """
    )
    depth = 3000
    result = program.evaluate({"edge": [(i, i + 1) for i in range(depth)]})
    proof = result.explain("reach", (depth,))
    assert len(proof.to_text().splitlines()) == 2 * depth + 1
    data = proof.to_dict()
    for _ in range(depth):
        data = data["premises"][0]
    assert data == {"kind": "input", "relation": "reach", "row": [0]}


def test_explaining_an_updated_result() -> None:
    result = Program.parse(APPROVALS).evaluate(FACTS)
    updated = result.update(insert={"manages": [("cy", "eve")]}, retract={"on_leave": [("bob",)]})
    proof = updated.explain("approves", ("bob", "eve", 1))
    assert ("manages", ("cy", "eve")) in proof.input_facts()
    with pytest.raises(DatalogError) as error:
        result.explain("approves", ("bob", "eve", 1))
    assert error.value.code == "missing-fact"


def test_bad_requests() -> None:
    result = Program.parse(APPROVALS).evaluate(FACTS)
    with pytest.raises(DatalogError) as unknown:
        result.explain("nope", (1,))
    assert unknown.value.code == "invalid-input"
    with pytest.raises(DatalogError) as arity:
        result.explain("above", ("ann",))
    assert arity.value.code == "invalid-input"


# -- every derived row of random programs ----------------------------------------------------


def check_proofs(result: Result, case: DatalogCase, facts: dict[str, set]) -> None:
    for name in case.relations:
        for row in result[name]:
            proof = result.explain(name, row)
            for node in proof.walk():
                assert node.row in result[node.relation]
                if node.is_input:
                    assert node.row in facts.get(node.relation, set())
                    continue
                assert node.rule is not None and node.relation in node.rule.text
                for premise in node.premises:
                    if isinstance(premise, Absent):
                        pattern = premise.pattern
                        assert not any(
                            all(p is None or p == v for p, v in zip(pattern, other, strict=True))
                            for other in result[premise.relation]
                        )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_row_of_random_programs_has_a_valid_proof(data: st.DataObject) -> None:
    case = data.draw(datalog_cases())
    program = Program.parse(case.souffle)
    facts = {name: set(rows) for name, rows in case.facts.items()}
    result = program.evaluate(facts)
    check_proofs(result, case, facts)
    for insert, retract in data.draw(datalog_updates(case, max_steps=2)):
        result = result.update(insert=insert, retract=retract)
        for name, rows in retract.items():
            facts[name] -= rows
        for name, rows in insert.items():
            facts[name] |= rows
        check_proofs(result, case, facts)
