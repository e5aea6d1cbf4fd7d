"""`rune datalog`: evaluate a Datalog program like Soufflé (`souffle -F facts -D out`).

A rule file of a bundle uses RUNE's built-in relations (`entity`, `attr`, `request`...)
without declaring them, and may leave out its own declarations. With `--builtins` (on
by default for a file in a bundle's `rules/` directory) the built-in relations are
declared, undeclared ones are inferred, every relation with a `<relation>.facts` file in
the facts directory is read, and when the file has no `.output` every relation it
derives is written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from rune.cli.main import ExitCode

__all__ = ["command"]


@click.command("datalog")
@click.argument("program", type=click.Path(path_type=Path))
@click.option("-F", "--fact-dir", type=click.Path(path_type=Path), default=Path("."),
              show_default=True, help="input facts directory")
@click.option("-D", "--output-dir", default=".", show_default=True,
              help="output directory, or `-` to print the output relations to stdout")
@click.option("-I", "--include-dir", "include_dirs", type=click.Path(path_type=Path),
              multiple=True, help="directory searched by #include (repeatable)")
@click.option("--number-bits", type=click.Choice(["32", "64"]), default="32",
              show_default=True,
              help="width of `number`/`unsigned`; 32 like Soufflé's default build")
@click.option("--max-iterations", type=int, default=2_000_000, show_default=True,
              help="stop a recursive stratum after this many passes; 0 for no limit")
@click.option("--max-tuples", type=int, default=20_000_000, show_default=True,
              help="stop when the relations hold this many tuples; 0 for no limit")
@click.option("--timeout", type=float, default=None, help="stop after this many seconds")
@click.option("-w", "--no-warnings", is_flag=True,
              help="do not print warnings (unused variables, relations never defined)")
@click.option("--builtins/--no-builtins", default=None,
              help="declare RUNE's built-in relations and infer missing declarations "
                   "(default: on for a file in a bundle's `rules/` directory)")
@click.option("--format", "output_format", type=click.Choice(["human", "json"]),
              default="human", show_default=True,
              help="human: Soufflé's files; json: print the output relations as one object")
def command(program: Path, fact_dir: Path, output_dir: str, include_dirs: tuple[Path, ...],
            number_bits: str, max_iterations: int, max_tuples: int, timeout: float | None,
            no_warnings: bool, builtins: bool | None, output_format: str) -> int:
    """Evaluate a Soufflé-dialect Datalog PROGRAM: read each .input relation from
    FACT_DIR/<rel>.facts (tab-separated) and write each .output relation to
    OUT_DIR/<rel>.csv. Errors go to stderr as file:line:column with a caret snippet.
    """
    from rune.datalog import Limits, Program

    if builtins is None:
        builtins = _in_bundle_rules(program)
    bits = int(number_bits)
    if builtins:
        loaded = _with_builtins(program, fact_dir, bits, include_dirs)
    else:
        loaded = Program.load(program, number_bits=bits, include_dirs=include_dirs)
    warnings = list(loaded.warnings)
    if builtins:  # not the built-in declarations' (appended after the file's own lines)
        last = _line_count(program)
        warnings = [w for w in warnings if w.span is None or w.span.line <= last]
    if warnings and not no_warnings:
        from rune.datalog.errors import render_warning

        click.echo("\n".join(render_warning(w, loaded.sources) for w in warnings), err=True)
    limits = Limits(max_iterations=max_iterations or None, max_tuples=max_tuples or None,
                    max_seconds=timeout)
    result = loaded.evaluate(fact_dir=fact_dir, limits=limits)
    if output_format == "json":
        document = {name: [list(row) for row in view.sorted()]
                    for name, view in result.outputs.items()}
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return int(ExitCode.OK)
    result.write_outputs(output_dir)
    return int(ExitCode.OK)


def _in_bundle_rules(program: Path) -> bool:
    """Whether ``program`` is a rule file of a bundle (`<bundle>/rules/x.dl`)."""
    parent = program.resolve().parent
    return parent.name == "rules" and any(
        (parent.parent / marker).exists() for marker in ("policies", "rune.toml"))


def _with_builtins(path: Path, fact_dir: Path, bits: int, include_dirs: tuple[Path, ...]
                   ) -> Any:
    """The program with the built-in relations declared, declarations inferred, facts
    read for every relation with a file in ``fact_dir``, and (without any `.output`)
    every derived relation output."""
    from rune.datalog import Program
    from rune.store.prelude import prelude

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        from rune.datalog import DatalogError

        raise DatalogError(f"cannot read program `{path}`: {error.strerror or error}",
                           code="io-error") from None
    facts = sorted(f.name[: -len(".facts")] for f in fact_dir.glob("*.facts")) \
        if fact_dir.is_dir() else []
    samples: dict[str, list[tuple[Any, ...]]] = {name: [] for name in facts}
    # A file of a bundle runs with the bundle's other rule files (which may declare and
    # derive what it reads), included so that their errors name them.
    siblings = ""
    if _in_bundle_rules(path):
        siblings = "".join(f'#include "{other.name}"\n' for other in
                           sorted(path.parent.glob("*.dl")) if other.name != path.name
                           and '"' not in other.name)
    full = f"{text}\n{siblings}{prelude()}"
    first = Program.parse(full, str(path), number_bits=bits, include_dirs=include_dirs,
                          infer_declarations=True, fact_samples=samples)
    names = set(first.relation_names)
    directives = [f".input {name}" for name in facts
                  if name in names and name not in first.inputs]
    if not first.outputs:
        derived = dict.fromkeys(c.head.relation for c in first.ast.clauses
                                if c.span is None or c.span.file == str(path))
        directives += [f".output {name}" for name in derived]
    if not directives:
        return first
    return Program.parse(full + "\n".join(directives) + "\n", str(path), number_bits=bits,
                         include_dirs=include_dirs, infer_declarations=True,
                         fact_samples=samples)


def _line_count(path: Path) -> int:
    try:
        return path.read_text(encoding="utf-8").count("\n") + 1
    except (OSError, UnicodeDecodeError):
        return 0
