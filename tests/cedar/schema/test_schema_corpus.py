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
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any

import cedarpy
import pytest

from rune.cedar import PolicySet
from rune.cedar.entities import Entities
from rune.cedar.json_format import value_to_json
from rune.cedar.schema import Schema, validate
from rune.cedar.values import EntityUID
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
