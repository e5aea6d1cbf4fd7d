"""`rune datalog`: evaluate a Datalog program like Soufflé (`souffle -F facts -D out`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rune.cli.main import ExitCode

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register the subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "datalog",
        help="evaluate a Datalog program (Soufflé syntax)",
        description="Evaluate a Soufflé-dialect Datalog program: read each .input relation "
        "from FACT_DIR/<rel>.facts (tab-separated) and write each .output relation to "
        "OUT_DIR/<rel>.csv. Errors go to stderr as file:line:column with a caret snippet.",
    )
    parser.add_argument("program", type=Path, help="the program (.dl)")
    parser.add_argument(
        "-F", "--fact-dir", type=Path, default=Path("."), help="input facts directory [.]"
    )
    parser.add_argument(
        "-D",
        "--output-dir",
        default=".",
        help="output directory, or `-` to print the output relations to stdout [.]",
    )
    parser.add_argument(
        "-I",
        "--include-dir",
        type=Path,
        action="append",
        default=[],
        help="directory searched by #include (repeatable)",
    )
    parser.add_argument(
        "--number-bits",
        type=int,
        choices=(32, 64),
        default=32,
        help="width of `number`/`unsigned`; 32 like Soufflé's default build [32]",
    )
    parser.add_argument(
        "--max-iterations",
        type=int,
        default=2_000_000,
        help="stop a recursive stratum after this many passes; 0 for no limit [2000000]",
    )
    parser.add_argument(
        "--max-tuples",
        type=int,
        default=20_000_000,
        help="stop when the relations hold this many tuples; 0 for no limit [20000000]",
    )
    parser.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    parser.add_argument(
        "-w",
        "--no-warnings",
        action="store_true",
        help="do not print warnings (unused variables, relations never defined)",
    )
    parser.add_argument(
        "--format",
        choices=("human", "json"),
        default="human",
        help="human: Soufflé's files; json: print the output relations as one JSON object",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate the program and write its outputs; exit 0, or 1 on any error."""
    from rune.datalog import Limits, Program

    program = Program.load(
        args.program, number_bits=args.number_bits, include_dirs=args.include_dir
    )
    if program.warnings and not args.no_warnings:
        print(program.render_warnings(), file=sys.stderr)
    limits = Limits(
        max_iterations=args.max_iterations or None,
        max_tuples=args.max_tuples or None,
        max_seconds=args.timeout,
    )
    result = program.evaluate(fact_dir=args.fact_dir, limits=limits)
    if args.format == "json":
        document = {
            name: [list(row) for row in view.sorted()] for name, view in result.outputs.items()
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return int(ExitCode.OK)
    result.write_outputs(args.output_dir)
    return int(ExitCode.OK)
