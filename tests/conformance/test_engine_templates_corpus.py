"""The official Cedar corpus through `rune.Engine`, with its policies made templates.

The corpus holds no templates, so each file's policies whose scope names an entity
(`principal == X`, `resource in Y`, ...) become templates with a slot there, and
`engine.link` links each back to that entity under the policy's own id. A linked template
is the policy it came from, so every request must get the corpus's decision, reasons and
errors: templates, links and the engine's hot path are checked together.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import rune
from rune.cedar import Entities, PolicySet, Schema, ast
from rune.cedar.request import to_entity_uid
from rune.cedar.values import EntityUID
from tests.conformance.cedar_corpus import all_tests, resolve, sample_tests

_SCOPE_OPERATOR = re.compile(r"(?:==|is\s+[^\s\"]+\s+in\b|in\b)\s*")


def templated(policies: PolicySet) -> tuple[str, list[tuple[str, str, dict[str, EntityUID]]]]:
    """Policy text where each policy with an entity in its scope is a template
    (`@id("t-<id>")`), and the links that make each one its original policy again."""
    texts: list[str] = []
    links: list[tuple[str, str, dict[str, EntityUID]]] = []
    for policy in policies:
        text = policy.text
        base = policy.span.offset if policy.span else 0
        tree = policy.ast
        edits: list[tuple[int, int, str]] = []
        slots: dict[str, EntityUID] = {}
        for variable in ("principal", "resource"):
            scope: ast.ScopeConstraint = getattr(tree, variable)
            if not isinstance(scope.entity, EntityUID) or scope.span is None:
                continue
            start, end = scope.span.offset - base, scope.span.end_offset - base
            operator = _SCOPE_OPERATOR.search(text, start + len(variable))
            if operator is None or operator.end() > end:
                continue
            edits.append((operator.end(), end, f"?{variable}"))
            slots[variable] = scope.entity
        if not slots or "id" in policy.annotations:
            texts.append(f'@id("{policy.id}")\n{text}')
            continue
        out, last = [], 0
        for begin, end, new in sorted(edits):
            out += [text[last:begin], new]
            last = end
        texts.append(f'@id("t-{policy.id}")\n' + "".join([*out, text[last:]]))
        links.append((f"t-{policy.id}", policy.id, slots))
    return "\n".join(texts), links


def run(path: Path) -> list[str]:
    spec: dict[str, Any] = json.loads(path.read_text())
    policies = PolicySet.from_str(resolve(spec["policies"]).read_text())
    schema = Schema.from_str(resolve(spec["schema"]).read_text())
    entities = Entities.from_json(resolve(spec["entities"]).read_text(), schema=schema)
    text, links = templated(policies)
    engine = rune.Engine(text, entities=entities.to_json())
    for template_id, link_id, slots in links:
        engine.link(template_id, link_id, **slots)
    failures = []
    for i, req in enumerate(spec["requests"]):
        if req.get("validateRequest", True) is False:
            continue  # the engine without a schema does not validate requests either way
        action = to_entity_uid(req["action"])
        context = schema.parse_context(action, req.get("context", {}))
        try:
            schema.validate_request(to_entity_uid(req["principal"]), action,
                                    to_entity_uid(req["resource"]), context)
        except rune.RuneError:
            continue  # Cedar refuses the request before deciding it
        d = engine.authorize(req["principal"], action, req["resource"], context)
        got = (str(d.decision), sorted(d.reasons),
               sorted({e.split(":", 1)[0] for e in d.errors}))
        want = (req["decision"].lower(), sorted(req["reason"]), sorted(set(req["errors"])))
        if got != want:
            failures.append(f"request {i}: expected {want}, got {got}")
    return failures


@pytest.mark.parametrize("path", sample_tests(step=25), ids=lambda p: p.name)
def test_corpus_sample_as_linked_templates(path: Path) -> None:
    assert run(path) == []


@pytest.mark.slow
@pytest.mark.parametrize("path", all_tests(), ids=lambda p: p.name)
def test_corpus_as_linked_templates(path: Path) -> None:
    assert run(path) == []
