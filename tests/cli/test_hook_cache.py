"""`rune hook claude-code --bundle` with RUNE's cache: the first process compiles and
stores, the next ones load the compiled bundle; whatever is wrong with the cache, the
hook answers as without it, and a bundle that no longer loads is a deny, never a stale
allow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import rune_command

REPO = Path(__file__).resolve().parents[2]
PAYLOADS = REPO / "examples" / "claude-code" / "payloads"


def hook(bundle: Path, payload: str, cache: Path | str | None, *args: str
         ) -> tuple[int, Any]:
    env = dict(os.environ)
    if cache is not None:
        env["RUNE_CACHE_DIR"] = str(cache)
    done = subprocess.run([*rune_command(), "hook", "claude-code", "--bundle", str(bundle),
                           *args], input=(PAYLOADS / payload).read_bytes(),
                          capture_output=True, timeout=120, env=env)
    return done.returncode, json.loads(done.stdout)


def verdict(answer: Any) -> str:
    return answer["hookSpecificOutput"]["permissionDecision"]  # type: ignore[no-any-return]


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    return Path(shutil.copytree(REPO / "examples" / "claude-code", tmp_path / "bundle"))


def test_the_first_call_stores_and_the_next_ones_load_the_compiled_bundle(
        bundle: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    answers = [hook(bundle, "pre-bash-tests.json", cache)]
    entries = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(entries) == 2  # the compiled bundle, and the compiled code
    assert cache.stat().st_mode & 0o777 == 0o700
    for _ in range(2):
        answers.append(hook(bundle, "pre-bash-tests.json", cache))
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == entries  # read only
    assert answers == [answers[0]] * 3 and verdict(answers[0][1]) == "allow"
    assert answers[0] == hook(bundle, "pre-bash-tests.json", cache, "--no-cache")


def test_a_bundle_broken_after_it_was_cached_is_a_deny(bundle: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert verdict(hook(bundle, "pre-bash-tests.json", cache)[1]) == "allow"
    (bundle / "policies" / "commands.cedar").write_text("permit(principal, action")
    code, answer = hook(bundle, "pre-bash-tests.json", cache)
    assert code == 0 and verdict(answer) == "deny"
    assert "does not load" in answer["hookSpecificOutput"]["permissionDecisionReason"]


def test_a_changed_policy_takes_effect_at_once(bundle: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert verdict(hook(bundle, "pre-bash-tests.json", cache)[1]) == "allow"
    with (bundle / "policies" / "commands.cedar").open("a") as file:
        file.write('\n@id("no-bash")\nforbid(principal, action == Action::"Bash", resource);\n')
    code, answer = hook(bundle, "pre-bash-tests.json", cache)
    assert code == 0 and verdict(answer) == "deny"
    assert "no-bash" in answer["hookSpecificOutput"]["permissionDecisionReason"]


@pytest.mark.parametrize("problem", ["a-file", "world-writable", "garbage-entries",
                                     "unwritable"])
def test_a_cache_that_cannot_be_used_changes_no_answer(bundle: Path, tmp_path: Path,
                                                      problem: str) -> None:
    cache = tmp_path / "cache"
    if problem == "a-file":
        cache.write_text("not a directory")
    else:
        hook(bundle, "pre-bash-tests.json", cache)
        if problem == "world-writable":
            cache.chmod(0o777)
        elif problem == "garbage-entries":
            for entry in cache.iterdir():
                entry.write_bytes(os.urandom(4096))
        else:
            for entry in cache.iterdir():
                entry.unlink()
            cache.chmod(0o500)
    try:
        for payload, expected in [("pre-bash-tests.json", "allow"),
                                  ("pre-read-env.json", "deny"),
                                  ("pre-git-push.json", "ask")]:
            code, answer = hook(bundle, payload, cache)
            assert code == 0 and verdict(answer) == expected, (payload, answer)
    finally:
        if cache.is_dir():
            cache.chmod(0o700)


def test_no_cache_writes_nothing(bundle: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    code, answer = hook(bundle, "pre-bash-tests.json", cache, "--no-cache")
    assert code == 0 and verdict(answer) == "allow"
    assert not cache.exists()


def test_records_and_decisions_through_the_cache_share_a_state_file(bundle: Path,
                                                                    tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    state = ("--state", str(tmp_path / "state.db"))
    for _ in range(20):  # the example allows 20 commands a minute
        assert hook(bundle, "post-bash-tests.json", cache, *state) == (0, {})
    code, answer = hook(bundle, "pre-bash-tests.json", cache, *state)
    assert code == 0 and verdict(answer) == "deny"
    assert "command-rate" in answer["hookSpecificOutput"]["permissionDecisionReason"]


def test_no_cache_takes_no_value() -> None:
    code, answer = hook(REPO / "examples" / "claude-code", "pre-bash-tests.json", None,
                        "--no-cache=yes")
    assert code == 2 and verdict(answer) == "deny"


def test_a_call_from_the_compiled_bundle_parses_nothing(bundle: Path, tmp_path: Path) -> None:
    script = ("import sys\nfrom rune.cli.main import main\n"
              f"code = main(['hook', 'claude-code', '--bundle', {str(bundle)!r}])\n"
              "print('\\n'.join(sys.modules), file=sys.stderr)\nsys.exit(code)\n")
    env = {**os.environ, "RUNE_CACHE_DIR": str(tmp_path / "cache")}
    payload = (PAYLOADS / "pre-edit.json").read_bytes()
    runs = [subprocess.run([sys.executable, "-c", script], input=payload,
                           capture_output=True, env=env, timeout=120) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0]
    assert runs[0].stdout == runs[1].stdout
    first, second = (set(r.stderr.decode().split()) for r in runs)
    parsing = {"rune.cedar.parser", "rune.cedar.lexer", "rune.datalog.parser",
               "rune.datalog.lexer", "tomllib"}
    assert parsing <= first  # the first call compiles the bundle
    assert not parsing & second, parsing & second
    assert not {"click", "rich", "yaml"} & second
