"""Test suites for `rune test`: YAML files of cases, parsed and checked with the line of
every problem.

A suite (`BUNDLE/tests/*.yaml`)::

    name: file access                 # optional; default: the file name
    now: 2025-03-04T03:00:00Z         # optional: the clock of every case (ISO 8601 or
                                      #   seconds since the epoch); default: the real time
    setup:                            # optional: applied before every case
      entities: [{uid: {type: Agent, id: a9}, attrs: {level: 4}, parents: []}]
      remove_entities: ['Agent::"a2"']
      facts: {maintenance_window: [["production", 2, 5]]}
      retract: {relation: [[...]]}
      record:                         # actions performed (rate limits, quotas)
        - {principal: 'Agent::"a1"', action: 'Action::"deploy"', resource: ..., at: ...,
           amount: 3}                 # `at` a time, or `ago: 600` seconds before now
      approve:
        - {principal: ..., action: ..., resource: ..., ttl_seconds: 600}
    cases:
      - name: a senior agent writes in production after approval
        request: {principal: 'Agent::"a1"', action: 'Action::"write_file"',
                  resource: 'File::"src/app.py"', context: {env: prod}}
        setup: {...}                  # optional: after the suite's setup
        now: ...                      # optional: this case's clock
        repeat: 3                     # optional: decide it 3 times; expect the last
        expect:
          decision: ask               # allow | deny | ask
          reasons: [write-in-prod, "approval:production change"]   # the exact list
          config: {review: required}  # these keys with these values (null: absent)
          obligations: [{kind: rate_limit, limit: 2}]   # each matches one obligation
                                      #   on the fields given; [] means none
          errors: []                  # the exact list

Each case runs on a fresh engine loaded from the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rune.errors import Diagnostic, SourceSpan

__all__ = ["Case", "Suite", "SuiteError", "find_suites", "read_suite"]

_SUITE_KEYS = {"name", "now", "setup", "cases"}
_CASE_KEYS = {"name", "request", "setup", "now", "repeat", "expect"}
_SETUP_KEYS = {"entities", "remove_entities", "facts", "retract", "record", "approve"}
_REQUEST_KEYS = {"principal", "action", "resource", "context"}
_EXPECT_KEYS = {"decision", "reasons", "config", "obligations", "errors"}
_VERDICTS = ("allow", "deny", "ask")


class SuiteError(Exception):
    """A suite (or a case) that cannot run; ``diagnostic`` says where and why."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass(frozen=True, slots=True)
class Case:
    """One case: a request, its setup and what is expected (``problem`` when malformed)."""

    name: str
    line: int
    request: dict[str, Any] = field(default_factory=dict)
    setup: tuple[dict[str, Any], ...] = ()
    now: Any = None
    repeat: int = 1
    expect: dict[str, Any] = field(default_factory=dict)
    problem: Diagnostic | None = None


@dataclass(frozen=True, slots=True)
class Suite:
    """A parsed suite file."""

    path: Path
    name: str
    cases: tuple[Case, ...]


def find_suites(bundle: Path) -> list[Path]:
    """The suites of a bundle: `tests/*.yaml` (and `*.yml`) of a directory bundle, and
    `<name>.tests.yaml` beside a single-file `<name>.rune` bundle."""
    if bundle.is_file():
        return sorted(p for p in (bundle.with_suffix(".tests.yaml"),
                                  bundle.with_suffix(".tests.yml")) if p.is_file())
    tests = bundle / "tests"
    if not tests.is_dir():
        return []
    return sorted(p for p in tests.iterdir()
                  if p.suffix in (".yaml", ".yml") and p.is_file() and not p.name.startswith("."))


def read_suite(path: Path) -> Suite:
    """Parse and check one suite file.

    Raises:
        SuiteError: the file cannot be read, is not YAML, or is not a suite; a malformed
            case does not raise (its `Case.problem` says what is wrong).
    """
    import yaml

    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise SuiteError(Diagnostic("unreadable-file", f"cannot read `{path}`: {reason}",
                                    path=file)) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = str(error.problem or error.context or "invalid YAML")
        raise SuiteError(Diagnostic("invalid-yaml", f"invalid YAML: {message}",
                                    _span(text, mark, file), source=text)) from None
    except yaml.YAMLError as error:
        raise SuiteError(Diagnostic("invalid-yaml", f"invalid YAML: {error}", path=file)
                         ) from None
    except RecursionError:
        raise SuiteError(Diagnostic("invalid-yaml", "the YAML is nested too deeply",
                                    path=file)) from None
    where = _Where(text, file, node)
    if not isinstance(data, dict):
        raise SuiteError(where.problem("invalid-suite", "a suite is a mapping with `cases`",
                                       ()))
    unknown = sorted(str(k) for k in data if k not in _SUITE_KEYS)
    if unknown:
        raise SuiteError(where.problem("invalid-suite", f"unknown key `{unknown[0]}` (a suite "
                                       "has `name`, `now`, `setup` and `cases`)",
                                       (unknown[0],)))
    cases = data.get("cases")
    if not isinstance(cases, list) or not cases:
        raise SuiteError(where.problem("invalid-suite", "`cases` must be a non-empty list",
                                       ("cases",) if "cases" in data else ()))
    setup = data.get("setup")
    suite_setup: tuple[dict[str, Any], ...] = ()
    if setup is not None:
        problem = _check_setup(setup)
        if problem is not None:
            raise SuiteError(where.problem("invalid-suite", problem, ("setup",)))
        suite_setup = (setup,)
    name = data.get("name")
    suite_name = name if isinstance(name, str) and name else path.stem
    parsed = [_case(index, item, data.get("now"), suite_setup, where)
              for index, item in enumerate(cases)]
    return Suite(path, suite_name, tuple(parsed))


def _case(index: int, item: Any, now: Any, setup: tuple[dict[str, Any], ...],
          where: _Where) -> Case:
    line = where.line(("cases", index))
    name = f"case {index + 1}"
    if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
        name = item["name"]

    def bad(message: str, *keys: Any) -> Case:
        return Case(name, line, problem=where.problem("invalid-case", message,
                                                      ("cases", index, *keys)))

    if not isinstance(item, dict):
        return bad("a case is a mapping with `request` and `expect`")
    unknown = sorted(str(k) for k in item if k not in _CASE_KEYS)
    if unknown:
        return bad(f"unknown key `{unknown[0]}` (a case has "
                   f"{', '.join(f'`{k}`' for k in sorted(_CASE_KEYS))})", unknown[0])
    request = item.get("request")
    if not isinstance(request, dict):
        return bad("`request` must be a mapping with `principal`, `action`, `resource`",
                   *(("request",) if "request" in item else ()))
    missing = [k for k in ("principal", "action", "resource") if k not in request]
    if missing:
        return bad(f"`request` has no `{missing[0]}`", "request")
    unknown = sorted(str(k) for k in request if k not in _REQUEST_KEYS)
    if unknown:
        return bad(f"unknown request key `{unknown[0]}`", "request", unknown[0])
    if request.get("context") is not None and not isinstance(request["context"], dict):
        return bad("`context` must be a mapping", "request", "context")
    expect = item.get("expect")
    if not isinstance(expect, dict) or not expect:
        return bad("`expect` must be a mapping with at least one of "
                   + ", ".join(f"`{k}`" for k in sorted(_EXPECT_KEYS)),
                   *(("expect",) if "expect" in item else ()))
    problem = _check_expect(expect)
    if problem is not None:
        return bad(problem[0], "expect", *problem[1])
    own = item.get("setup")
    if own is not None:
        message = _check_setup(own)
        if message is not None:
            return bad(message, "setup")
        setup = (*setup, own)
    repeat = item.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 10_000:
        return bad("`repeat` must be a whole number from 1 to 10000", "repeat")
    return Case(name, line, dict(request), setup, item.get("now", now), repeat, dict(expect))


def _check_expect(expect: dict[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
    unknown = sorted(str(k) for k in expect if k not in _EXPECT_KEYS)
    if unknown:
        return (f"unknown expectation `{unknown[0]}` (expect "
                + ", ".join(f"`{k}`" for k in sorted(_EXPECT_KEYS)) + ")", (unknown[0],))
    if "decision" in expect and expect["decision"] not in _VERDICTS:
        return "`decision` must be `allow`, `deny` or `ask`", ("decision",)
    for key in ("reasons", "errors"):
        value = expect.get(key)
        if key in expect and (not isinstance(value, list)
                              or not all(isinstance(v, str) for v in value)):
            return f"`{key}` must be a list of strings", (key,)
    if "config" in expect and not isinstance(expect["config"], dict):
        return "`config` must be a mapping of keys to values", ("config",)
    if "obligations" in expect and (not isinstance(expect["obligations"], list) or not all(
            isinstance(o, dict) for o in expect["obligations"])):
        return "`obligations` must be a list of mappings (`kind`, `key`, `limit`...)", (
            "obligations",)
    return None


def _check_setup(setup: Any) -> str | None:
    if not isinstance(setup, dict):
        return "`setup` must be a mapping"
    unknown = sorted(str(k) for k in setup if k not in _SETUP_KEYS)
    if unknown:
        return (f"unknown setup step `{unknown[0]}` (steps: "
                + ", ".join(f"`{k}`" for k in sorted(_SETUP_KEYS)) + ")")
    for key in ("record", "approve"):
        steps = setup.get(key, [])
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            return f"`setup.{key}` must be a list of mappings"
        for step in steps:
            missing = [k for k in ("principal", "action", "resource") if k not in step]
            if missing:
                return f"a `setup.{key}` step has no `{missing[0]}`"
    for key in ("facts", "retract"):
        if key in setup and not isinstance(setup[key], dict):
            return f"`setup.{key}` must map relation names to lists of rows"
    return None


class _Where:
    """Lines and spans of the nodes of a suite's YAML, by key path."""

    def __init__(self, text: str, file: str, node: Any) -> None:
        self.text, self.file, self.node = text, file, node

    def find(self, keys: tuple[Any, ...]) -> Any:
        import yaml

        node = self.node
        for key in keys:
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if k.value == str(key)), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) \
                    and key < len(node.value):
                node = node.value[key]
            else:
                return None
            if node is None:
                return None
        return node

    def line(self, keys: tuple[Any, ...]) -> int:
        node = self.find(keys)
        return node.start_mark.line + 1 if node is not None else 1

    def problem(self, code: str, message: str, keys: tuple[Any, ...]) -> Diagnostic:
        node = self.find(keys) if keys else self.node
        if node is None:
            node = self.node
        if node is None:
            return Diagnostic(code, message, path=self.file)
        return Diagnostic(code, message, _span(self.text, node.start_mark, self.file,
                                               node.end_mark), source=self.text)


def _span(text: str, mark: Any, file: str, end: Any = None) -> SourceSpan | None:
    if mark is None:
        return None
    start = min(mark.index, len(text))
    stop = min(end.index, len(text)) if end is not None else start + 1
    if end is not None and end.line != mark.line:
        newline = text.find("\n", start)
        stop = newline if newline >= 0 else len(text)
    stop = max(stop, start + 1) if start < len(text) else start
    return SourceSpan.from_offsets(text, start, stop, file)
