"""`rune test`: run a bundle's YAML test suites (see `rune.cli._suites` for the format).

Output is a test runner's: one line per failed expectation with the expected and actual
values, then `N passed, M failed`. `--format json` prints one document, `--junit FILE`
writes JUnit XML for CI. Exit 0 when every case passes, 1 otherwise (a failure, a
malformed suite, or no suite at all).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from rune.cli._common import CliError, bundle_argument, echo_json, parse_time, render_diagnostic
from rune.cli._suites import Case, Suite, SuiteError, find_suites, read_suite
from rune.cli.main import ExitCode

__all__ = ["command", "suite_problems"]


@dataclass(slots=True)
class CaseResult:
    """What running one case gave."""

    suite: Suite
    case: Case
    failures: list[tuple[str, Any, Any]] = field(default_factory=list)  # field, want, got
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


@click.command("test")
@bundle_argument
@click.option("--suite", "suites", type=click.Path(path_type=Path), multiple=True,
              help="run this suite file (repeatable); default: BUNDLE/tests/*.yaml")
@click.option("--format", "output_format", type=click.Choice(["human", "json"]),
              default="human", show_default=True)
@click.option("--junit", type=click.Path(path_type=Path), help="write JUnit XML to FILE")
@click.option("--verbose", "-v", is_flag=True, help="list passing cases too")
def command(bundle: Path, suites: tuple[Path, ...], output_format: str, junit: Path | None,
            verbose: bool) -> int:
    """Run the test suites of BUNDLE: each case a request, optional setup (entities,
    facts, recorded actions, approvals, a fixed time) and expectations (decision,
    reasons, config, obligations)."""
    if not bundle.exists():
        raise CliError(f"bundle `{bundle}` does not exist")
    files = list(suites) or find_suites(bundle)
    if not files:
        raise CliError(f"no test suites: `{bundle}` has no `tests/*.yaml`")
    results: list[CaseResult] = []
    broken: list[tuple[Path, Any]] = []
    import rune
    from rune.store import MemoryChangeLog

    # A bundle that does not load fails once, here, as an error.
    rune.Engine.load(bundle, state=MemoryChangeLog()).close()
    for file in files:
        try:
            suite = read_suite(file)
        except SuiteError as error:
            broken.append((file, error.diagnostic))
            continue
        results.extend(_run_case(bundle, suite, case) for case in suite.cases)
    passed = sum(r.passed for r in results)
    failed = len(results) - passed + len(broken)
    if junit is not None:
        _write_junit(junit, results, broken)
    if output_format == "json":
        echo_json({"passed": passed, "failed": failed,
                   "suites": [{"file": str(f), "error": render_diagnostic(d)}
                              for f, d in broken],
                   "cases": [_case_json(r) for r in results]})
    else:
        for file, diagnostic in broken:
            click.echo(f"ERROR {file}: {render_diagnostic(diagnostic)}")
        for result in results:
            for line in _result_lines(result, verbose):
                click.echo(line)
        click.echo(f"{passed} passed, {failed} failed")
    return int(ExitCode.OK if failed == 0 else ExitCode.TEST_FAILED)


def suite_problems(bundle: Path) -> list[Any]:
    """The problems of the bundle's suites as diagnostics (for `rune check`)."""
    problems = []
    for file in find_suites(bundle):
        try:
            suite = read_suite(file)
        except SuiteError as error:
            problems.append(error.diagnostic)
            continue
        problems.extend(c.problem for c in suite.cases if c.problem is not None)
    return problems


# -- running -----------------------------------------------------------------------------------

class _Clock:
    def __init__(self, now: float | None) -> None:
        import time

        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


def _run_case(bundle: Path, suite: Suite, case: Case) -> CaseResult:
    import time

    import rune
    from rune.errors import RuneError
    from rune.store import MemoryChangeLog

    result = CaseResult(suite, case)
    if case.problem is not None:
        result.error = render_diagnostic(case.problem)
        return result
    start = time.perf_counter()
    try:
        clock = _Clock(None if case.now is None else parse_time(case.now, "`now`"))
        # Each case on a fresh engine, in memory: the bundle's own state file is not touched.
        with rune.Engine.load(bundle, clock=clock, state=MemoryChangeLog()) as engine:
            for setup in case.setup:
                _apply(engine, setup, clock)
            request = case.request
            decision = None
            for _ in range(case.repeat):
                decision = engine.authorize(request["principal"], request["action"],
                                            request["resource"], request.get("context"))
        assert decision is not None
        # As JSON would give it: tuples (a config key with several values) are lists.
        actual = json.loads(json.dumps(decision.to_json(), default=str))
        result.failures = _compare(case.expect, actual)
    except (RuneError, CliError) as error:
        result.error = error.message if isinstance(error, CliError) else \
            f"{error.diagnostics[0].message}" + (
                f" (at `{error.diagnostics[0].path}`)" if error.diagnostics[0].path else "")
    result.seconds = time.perf_counter() - start
    return result


def _apply(engine: Any, setup: dict[str, Any], clock: _Clock) -> None:
    if any(k in setup for k in ("entities", "remove_entities", "facts", "retract")):
        facts = {k: [tuple(r) for r in v] for k, v in (setup.get("facts") or {}).items()}
        retract = {k: [tuple(r) for r in v] for k, v in (setup.get("retract") or {}).items()}
        engine.write(entities=setup.get("entities"),
                     remove_entities=setup.get("remove_entities") or (),
                     facts=facts or None, retract=retract or None)
    for step in setup.get("record") or []:
        at = step.get("at")
        if "ago" in step:
            at = clock.now - parse_time(step["ago"], "`ago`")
        engine.record(step["principal"], step["action"], step["resource"],
                      at=None if at is None else parse_time(at, "`at`"),
                      amount=step.get("amount"))
    for step in setup.get("approve") or []:
        engine.approve(step["principal"], step["action"], step["resource"],
                       ttl_seconds=step.get("ttl_seconds"))


def _compare(expect: dict[str, Any], actual: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    failures: list[tuple[str, Any, Any]] = []
    if "decision" in expect and expect["decision"] != str(actual["decision"]):
        failures.append(("decision", expect["decision"], str(actual["decision"])))
    for key in ("reasons", "errors"):
        if key in expect and list(expect[key]) != list(actual[key]):
            failures.append((key, expect[key], actual[key]))
    for key, want in (expect.get("config") or {}).items():
        got = actual["config"].get(key)
        if got != want or (want is not None and key not in actual["config"]):
            failures.append((f"config.{key}", want, got))
    if "obligations" in expect:
        wanted = expect["obligations"]
        got_all = actual["obligations"]
        if not wanted and got_all:
            failures.append(("obligations", [], got_all))
        for want in wanted:
            if not any(all(o.get(k) == v for k, v in want.items()) for o in got_all):
                failures.append(("obligations", want, got_all))
    return failures


# -- output --------------------------------------------------------------------------------------

def _result_lines(result: CaseResult, verbose: bool) -> list[str]:
    where = f"{result.suite.path}:{result.case.line}"
    title = f"{where}: {result.case.name}"
    if result.passed:
        return [f"PASS {title}"] if verbose else []
    if result.error is not None:
        first, *rest = result.error.splitlines() or [""]
        return [f"ERROR {title}: {first}", *(f"    {line}" for line in rest)]
    return [f"FAIL {title}: {name}: expected {_show(want)}, got {_show(got)}"
            for name, want, got in result.failures]


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _case_json(result: CaseResult) -> dict[str, Any]:
    out: dict[str, Any] = {"suite": str(result.suite.path), "name": result.case.name,
                           "line": result.case.line, "passed": result.passed}
    if result.error is not None:
        out["error"] = result.error
    if result.failures:
        out["failures"] = [{"field": f, "expected": w, "actual": g}
                           for f, w, g in result.failures]
    return out


def _write_junit(path: Path, results: list[CaseResult], broken: list[tuple[Path, Any]]
                 ) -> None:
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites")
    by_suite: dict[Path, list[CaseResult]] = {}
    for result in results:
        by_suite.setdefault(result.suite.path, []).append(result)
    for file, diagnostic in broken:
        element = ET.SubElement(root, "testsuite", name=str(file), tests="1",
                                failures="0", errors="1")
        case = ET.SubElement(element, "testcase", classname=str(file), name="(suite)")
        ET.SubElement(case, "error", message=diagnostic.message).text = \
            render_diagnostic(diagnostic)
    for file, items in by_suite.items():
        failures = sum(1 for r in items if r.failures and r.error is None)
        errors = sum(1 for r in items if r.error is not None)
        element = ET.SubElement(root, "testsuite", name=items[0].suite.name,
                                tests=str(len(items)), failures=str(failures),
                                errors=str(errors), file=str(file))
        for result in items:
            case = ET.SubElement(element, "testcase", classname=items[0].suite.name,
                                 name=result.case.name, file=str(file),
                                 line=str(result.case.line), time=f"{result.seconds:.4f}")
            if result.error is not None:
                ET.SubElement(case, "error", message=result.error.splitlines()[0]
                              if result.error else "error").text = result.error
            elif result.failures:
                lines = [f"{n}: expected {_show(w)}, got {_show(g)}"
                         for n, w, g in result.failures]
                ET.SubElement(case, "failure", message=lines[0]).text = "\n".join(lines)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
