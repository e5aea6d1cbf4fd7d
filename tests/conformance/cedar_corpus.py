"""Loading and running the official Cedar integration-test corpus (../shared/corpora/cedar).

Paths inside a test file are relative to the integration-tests repo root: `tests/...`
and `sample-data/...` resolve against the corpus directory, `corpus-tests/...` against
the directory the generated tarball is extracted into.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from tests.conftest import SHARED

CEDAR_CORPUS = SHARED / "corpora" / "cedar"


@cache
def extracted_root() -> Path:
    """Extract corpus-tests.tar.gz once per process (into a temp dir) and return its root."""
    target = Path(tempfile.mkdtemp(prefix="rune-cedar-corpus-"))
    with tarfile.open(CEDAR_CORPUS / "corpus-tests.tar.gz") as tar:
        tar.extractall(target, filter="data")
    return target


def resolve(relative: str) -> Path:
    """Resolve a path named inside a corpus test file."""
    if relative.startswith("corpus-tests/"):
        return extracted_root() / relative
    return CEDAR_CORPUS / relative


def handwritten_tests() -> list[Path]:
    """The hand-written test files, sorted."""
    return sorted(p for p in (CEDAR_CORPUS / "tests").rglob("*.json"))


def generated_tests() -> list[Path]:
    """The generated test files (not the entity files), sorted."""
    root = extracted_root() / "corpus-tests"
    return sorted(p for p in root.glob("*.json") if not p.name.endswith(".entities.json"))


def all_tests() -> list[Path]:
    """Every corpus test file: hand-written first."""
    return handwritten_tests() + generated_tests()


def sample_tests(step: int = 7) -> list[Path]:
    """A fixed sample: every hand-written test and every `step`-th generated one."""
    return handwritten_tests() + generated_tests()[::step]


def run_test_file(path: Path) -> list[str]:
    """Run one corpus test file with RUNE; return a list of mismatch descriptions."""
    from rune.cedar import Entities, PolicySet, Request, Schema, authorize, validate
    from rune.cedar.request import to_entity_uid

    spec: dict[str, Any] = json.loads(path.read_text())
    failures: list[str] = []
    policies = PolicySet.from_str(resolve(spec["policies"]).read_text(), file=spec["policies"])
    schema = Schema.from_str(resolve(spec["schema"]).read_text(), file=spec["schema"])
    entities = Entities.from_json(resolve(spec["entities"]).read_text(), schema=schema)
    passed = validate(policies, schema).passed
    if passed != spec["shouldValidate"]:
        failures.append(f"validation: expected {spec['shouldValidate']}, got {passed}")
    for i, req in enumerate(spec["requests"]):
        # As Cedar's harness does: the context is always parsed with the schema; the
        # request is validated against it only when `validateRequest` says so.
        action = to_entity_uid(req["action"])
        context = schema.parse_context(action, req.get("context", {}))
        validate_request = req.get("validateRequest", True)
        request = Request(req["principal"], action, req["resource"], context,
                          schema=schema if validate_request else None)
        response = authorize(request, policies, entities)
        got = (str(response.decision), sorted(response.reason),
               sorted({e.policy_id for e in response.errors}))
        want = (req["decision"].lower(), sorted(req["reason"]), sorted(set(req["errors"])))
        internal = [e for e in response.errors if e.message.startswith("internal error")]
        if internal:
            failures.append(f"request {i}: RUNE fault: {internal[0]}")
        if got != want:
            what = req.get("description", "")
            failures.append(f"request {i} ({what}): expected {want}, got {got}")
    return failures
