"""Every code block of the README and of docs/ runs as written: Python blocks are
executed, `console` blocks run each `$ rune ...` command (from the repository root) and
compare its output with the lines below it (trailing spaces ignored; a line `...`
stands for any lines). `RUNE_UPDATE_DOCS=1` rewrites the outputs instead."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUNE = Path(sys.executable).with_name("rune")
_BLOCK = re.compile(r"```(python|console)\n(.*?)```", re.S)


def blocks(kind: str) -> list[tuple[Path, int, str]]:
    found = []
    for doc in DOCS:
        for match in _BLOCK.finditer(doc.read_text()):
            if match.group(1) == kind:
                found.append((doc, match.start(), match.group(2)))
    return found


def block_id(item: tuple[Path, int, str]) -> str:
    doc, offset, _ = item
    line = doc.read_text()[:offset].count("\n") + 1
    return f"{doc.relative_to(REPO)}:{line}"


def run(command: str) -> str:
    args = shlex.split(command)
    assert args[0] == "rune", command
    if args[1] == "init" and args[2].startswith("/tmp/rune-docs-"):
        import shutil

        shutil.rmtree(args[2], ignore_errors=True)  # `rune init` wants a new directory
    stdin = None
    if "<" in args:  # `rune fmt - < FILE`
        at = args.index("<")
        stdin = (REPO / args[at + 1]).read_text()
        del args[at : at + 2]
    done = subprocess.run([str(RUNE), *args[1:]], capture_output=True, text=True, cwd=REPO,
                          timeout=300, env={**os.environ, "COLUMNS": "80"}, input=stdin)
    assert "Traceback" not in done.stderr, done.stderr
    out = done.stdout + done.stderr
    if done.returncode:
        out += f"[exit {done.returncode}]\n"
    return "\n".join(line.rstrip() for line in out.splitlines())


def matches(expected: list[str], actual: list[str]) -> bool:
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


def sessions(text: str) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line.rstrip())
    return out


@pytest.mark.parametrize("item", blocks("python"), ids=block_id)
def test_python_block_runs(item: tuple[Path, int, str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    doc, _, code = item
    if doc.name == "README.md":
        return  # tests/test_readme.py runs the README's Python blocks
    monkeypatch.chdir(REPO)
    exec(compile(code, f"{doc.name} block", "exec"), {})


@pytest.mark.parametrize("item", blocks("console"), ids=block_id)
def test_console_block_shows_real_output(item: tuple[Path, int, str]) -> None:
    doc, offset, text = item
    update = bool(os.environ.get("RUNE_UPDATE_DOCS"))
    rebuilt = []
    for command, expected in sessions(text):
        actual = run(command).splitlines()
        if update:
            keep = expected if matches(expected, actual) else actual
            rebuilt.append("\n".join([f"$ {command}", *keep]))
            continue
        assert matches(expected, actual), (f"$ {command}\nexpected:\n" + "\n".join(expected)
                                           + "\nactual:\n" + "\n".join(actual))
    if update:
        full = doc.read_text()
        new = "\n".join(rebuilt) + "\n"
        start = full.index(text)
        doc.write_text(full[:start] + new + full[start + len(text):])
