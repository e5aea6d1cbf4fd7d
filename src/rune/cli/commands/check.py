"""`rune check`: load a bundle the way the engine would and report every problem at once.

Policies are parsed and validated against the schema (strict, unless `[validation]
mode` says otherwise), rules analysed, entities and facts read against their types,
template links checked, `rune.toml` checked, and the test suites under `tests/` parsed.
Exit 0 when clean (warnings do not fail), 3 on a validation failure, 1 on another error
(a missing path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from rune.cli._common import (
    bundle_argument,
    diagnostic_json,
    echo_json,
    format_option,
    render_diagnostic,
)
from rune.cli.main import ExitCode

__all__ = ["command", "rule_warnings"]

_PRELUDE = "<rune prelude>"


@click.command("check")
@bundle_argument
@format_option
@click.option("--verbose", "-v", is_flag=True,
              help="also list the declarations inferred for the rules")
def command(bundle: Path, output_format: str, verbose: bool) -> int:
    """Parse and validate everything in BUNDLE: policies against the schema, rules,
    entities and facts, template links, rune.toml and test suites. Every error at once,
    with file:line:column and a caret snippet."""
    from rune.bundle import BundleError, load_bundle
    from rune.cli.commands.test import suite_problems

    if not bundle.exists():
        return _report(bundle, output_format, ExitCode.ERROR, [], [], None, error=(
            "bundle-not-found", f"bundle `{bundle}` does not exist"))
    try:
        loaded = load_bundle(bundle)
    except BundleError as failure:
        if failure.code == "bundle-not-found":
            return _report(bundle, output_format, ExitCode.ERROR, [], [], None,
                           error=(failure.code, failure.message))
        errors = list(failure.diagnostics)
        errors += suite_problems(bundle)
        return _report(bundle, output_format, ExitCode.VALIDATION_FAILED, errors, [], None)
    warnings = [*loaded.warnings, *rule_warnings(loaded)]
    errors = suite_problems(bundle)
    code = ExitCode.VALIDATION_FAILED if errors else ExitCode.OK
    return _report(bundle, output_format, code, errors, warnings, loaded, verbose=verbose)


def rule_warnings(bundle: Any) -> list[Any]:
    """Likely mistakes in the bundle's rules: variables used once, and relations nothing
    fills (no rule, fact or facts file) other than the built-in ones."""
    program = bundle.rules
    if program is None:
        return []
    out = []
    for warning in program.warnings:
        span = warning.span
        if span is not None and span.file == _PRELUDE:
            continue
        if warning.code == "no-rules":
            name = warning.message.rsplit("`", 2)[-2] if "`" in warning.message else ""
            if name in bundle.facts:
                continue
        out.append(_with_source(warning, program.sources))
    return out


def _with_source(warning: Any, sources: Any) -> Any:
    from dataclasses import replace

    if warning.span is None or warning.source is not None:
        return warning
    return replace(warning, source=sources.get(warning.span.file))


def _summary(bundle: Any) -> dict[str, Any]:
    program = bundle.rules
    policies = list(bundle.policies)
    rules = 0
    inferred: list[str] = []
    if program is not None:
        rules = sum(1 for c in program.ast.clauses
                    if c.span is None or c.span.file != _PRELUDE)
        inferred = [f".decl {d.name}("
                    + ", ".join(f"{a.name}: {a.type_name}" for a in d.attributes) + ")"
                    for d in getattr(program, "inferred", ())]
    return {"policies": len(policies),
            "templates": len(list(getattr(bundle.policies, "templates", ()))),
            "rules": rules, "entities": len(bundle.entities),
            "facts": sum(len(rows) for rows in bundle.facts.values()),
            "schema": bundle.schema is not None, "inferred_declarations": inferred}


def _report(bundle: Path, output_format: str, code: ExitCode, errors: list[Any],
            warnings: list[Any], loaded: Any, *, verbose: bool = False,
            error: tuple[str, str] | None = None) -> int:
    summary = _summary(loaded) if loaded is not None else None
    if output_format == "json":
        document: dict[str, Any] = {
            "bundle": str(bundle), "ok": code is ExitCode.OK,
            "errors": [diagnostic_json(d) for d in errors],
            "warnings": [diagnostic_json(d) for d in warnings]}
        if error is not None:
            document["errors"] = [{"code": error[0], "message": error[1]}]
        if summary is not None:
            document["summary"] = summary
        echo_json(document)
        return int(code)
    if error is not None:
        click.echo(f"error: {error[1]}", err=True)
        return int(code)
    for diagnostic in errors:
        click.echo(render_diagnostic(diagnostic), err=True)
    for diagnostic in warnings:
        click.echo(render_diagnostic(diagnostic, warning=True), err=True)
    if errors:
        click.echo(f"{bundle}: {len(errors)} error(s), {len(warnings)} warning(s)", err=True)
        return int(code)
    assert summary is not None
    parts = [f"{summary['policies']} policies"]
    if summary["templates"]:
        parts.append(f"{summary['templates']} templates")
    parts += [f"{summary['rules']} rules", f"{summary['entities']} entities"]
    if summary["facts"]:
        parts.append(f"{summary['facts']} facts")
    parts.append("a schema" if summary["schema"] else "no schema")
    warned = f", {len(warnings)} warning(s)" if warnings else ""
    click.echo(f"ok: {bundle}: {', '.join(parts)}{warned}")
    if verbose and summary["inferred_declarations"]:
        click.echo("inferred declarations:")
        for line in summary["inferred_declarations"]:
            click.echo(f"  {line}")
    return int(code)
