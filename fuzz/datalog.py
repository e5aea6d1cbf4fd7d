"""Fuzz target: Datalog programs, parsed, analysed, compiled and evaluated under limits.

The input bytes are the program text (Soufflé syntax). A program that compiles is
evaluated under a small `Limits` budget with a few input rows per relation, and the
incremental paths must agree with evaluating from scratch: `Result.update` (insert and
retract), `Result.extended` and `Result.scoped` give the rows a full evaluation of the
same facts gives. A derived row must explain itself.

Run: ``python -m fuzz.datalog [libFuzzer options] [corpus dirs]``.
"""

from __future__ import annotations

from typing import Any

from fuzz._harness import FuzzFailure, calls, main
from rune.datalog import DatalogError, Kind, Limits, Program

__all__ = ["LIMITS", "check", "check_program", "sample_facts"]

LIMITS = Limits(max_iterations=200, max_tuples=5_000, max_seconds=0.3)
"""Small enough that one input never runs long, large enough for real programs."""

_VALUES: dict[Kind | None, tuple[Any, ...]] = {
    Kind.NUMBER: (0, 1, 2, -1, 2**63 - 1),
    Kind.UNSIGNED: (0, 1, 2, 7),
    Kind.FLOAT: (0.5, -1.0, 2.0),
    Kind.SYMBOL: ("a", "b", "", 'q"\\'),
    None: (0, "a"),
}


def sample_facts(program: Program, salt: int) -> dict[str, list[tuple[Any, ...]]]:
    """A few rows for each input relation (each other relation without `.input`
    gets none), varied by ``salt``."""
    facts: dict[str, list[tuple[Any, ...]]] = {}
    for offset, name in enumerate(program.inputs[:6]):
        kinds = program.kinds(name)
        rows = []
        for row in range(3):
            rows.append(tuple(_VALUES[kind][(salt + offset + row + col) % len(_VALUES[kind])]
                              for col, kind in enumerate(kinds)))
        facts[name] = rows
    return facts


def _rows(result: Any) -> dict[str, frozenset[tuple[Any, ...]]]:
    return {name: frozenset(result[name]) for name in result}


def _agree(what: str, got: Any, want: Any, names: Any = None) -> None:
    a, b = _rows(got), _rows(want)
    for name in names if names is not None else set(a) | set(b):
        if a.get(name, frozenset()) != b.get(name, frozenset()):
            raise FuzzFailure(f"{what}: relation `{name}` differs from a full evaluation: "
                              f"{sorted(a.get(name, ()), key=repr)[:5]} vs "
                              f"{sorted(b.get(name, ()), key=repr)[:5]}")


def _limited(error: Any) -> bool:
    """Whether an evaluation stopped for a reason that makes comparing pointless."""
    return isinstance(error, DatalogError)


def check_program(program: Program, salt: int) -> None:
    """Evaluate ``program`` and check the incremental paths against full evaluations."""
    calls(lambda: program.generated_source)
    base_facts = sample_facts(program, salt)
    result, error = calls(program.evaluate, base_facts, limits=LIMITS)
    if error is not None:
        return
    for name in list(result)[:3]:
        rows = sorted(result[name], key=repr)[:2]
        for row in rows:
            calls(result.explain, name, row)
    extra = sample_facts(program, salt + 1)
    retract = {name: rows[:1] for name, rows in base_facts.items()}
    updated, error = calls(result.update, insert=extra, retract=retract, limits=LIMITS)
    if error is None:
        merged = {name: [r for r in rows if r not in retract.get(name, [])]
                  for name, rows in base_facts.items()}
        for name, rows in extra.items():
            merged.setdefault(name, []).extend(rows)
        full, error = calls(program.evaluate, merged, limits=LIMITS)
        if error is None:
            _agree("Result.update", updated, full)
    extended, error = calls(result.extended, extra, limits=LIMITS)
    combined = {name: [*base_facts.get(name, []), *extra.get(name, [])]
                for name in set(base_facts) | set(extra)}
    full, full_error = calls(program.evaluate, combined, limits=LIMITS)
    if error is None and full_error is None:
        _agree("Result.extended", extended, full)
    if not program.inputs:
        return
    scoped, error = calls(result.scoped, list(program.inputs[:2]), limits=LIMITS)
    if error is not None:
        return
    scoped_facts = {name: extra[name] for name in program.inputs[:2] if name in extra}
    answer, error = calls(scoped.evaluate, scoped_facts)
    if error is None and full_error is None:
        want = {name: [*base_facts.get(name, []), *scoped_facts.get(name, [])]
                for name in set(base_facts) | set(scoped_facts)}
        full, full_error = calls(program.evaluate, want, limits=LIMITS)
        if full_error is None:
            for name, rows in answer.items():
                if frozenset(rows) != frozenset(full[name]):
                    raise FuzzFailure(f"Result.scoped: relation `{name}` differs from a "
                                      f"full evaluation")


def check(data: bytes) -> None:
    """One fuzz input: the program text in ``data``."""
    text = data.decode("utf-8", "replace")
    bits = 32 if data[:1] == b"#" else 64
    program: Any
    program, error = calls(Program.parse, text, number_bits=bits)
    if error is not None:
        return
    check_program(program, salt=len(data))


if __name__ == "__main__":
    main(__name__, check)
