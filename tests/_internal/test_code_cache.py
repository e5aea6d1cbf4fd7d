"""`rune._internal.code_cache`: the code found for a text is the code compiling it gives;
while a cache is active `dataclasses` compiles through it, and afterwards the module is
as it was; a damaged or foreign cache file is no cache."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rune._internal import code_cache
from rune._internal.cache_files import open_cache_directory
from rune._internal.code_cache import CodeCache, compile_generated


@pytest.fixture()
def cache(tmp_path: Path) -> CodeCache:
    directory = open_cache_directory(tmp_path / "cache")
    assert directory is not None
    return CodeCache(directory)


def test_the_code_for_a_text_is_the_code_compiling_it_gives(cache: CodeCache,
                                                           tmp_path: Path) -> None:
    source = "def f(x):\n    return [y * 2 for y in range(x)]\n"
    expected = compile(source, "<cedar policy>", "exec")
    code_cache.activate(cache)
    try:
        assert compile_generated(source, "<cedar policy>") == expected
    finally:
        code_cache.deactivate()
    assert cache.save()
    directory = open_cache_directory(tmp_path / "cache")
    assert directory is not None
    again = CodeCache(directory)
    code_cache.activate(again)
    try:
        found = compile_generated(source, "<cedar policy>")
    finally:
        code_cache.deactivate()
    assert found == expected and again._added == 0  # (from the file, not compiled)
    namespace: dict[str, object] = {}
    exec(found, namespace)
    assert namespace["f"](3) == [0, 2, 4]  # type: ignore[operator]


def test_dataclasses_compile_through_the_cache_and_are_given_back(cache: CodeCache) -> None:
    code_cache.activate(cache)
    try:
        @dataclasses.dataclass(frozen=True, slots=True)
        class Point:
            x: int
            y: int = 0
            tags: tuple[str, ...] = dataclasses.field(default=(), compare=False)
    finally:
        code_cache.deactivate()
    assert "exec" not in vars(dataclasses)
    assert cache._added > 0
    assert Point(1) == Point(1, 0, ("a",)) and Point(1) != Point(2)
    assert repr(Point(1, 2)).endswith(".<locals>.Point(x=1, y=2, tags=())")
    assert hash(Point(1)) == hash(Point(1, 0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        Point(1).x = 3  # type: ignore[misc]


def test_a_process_importing_rune_through_the_cache_behaves_the_same(tmp_path: Path) -> None:
    # In a fresh process, twice (compiled, then from the file): RUNE's data classes.
    script = textwrap.dedent(f"""
        from rune._internal.cache_files import open_cache_directory
        from rune._internal import code_cache
        cache = code_cache.CodeCache(open_cache_directory({str(tmp_path / 'c')!r}))
        code_cache.activate(cache)
        from rune.errors import Diagnostic, SourceSpan
        from rune.engine import Engine
        span = SourceSpan(1, 2, 1, 5, 1, 4, "f.cedar")
        assert Diagnostic("c", "m", span) == Diagnostic("c", "m", None)
        engine = Engine(policies='permit(principal, action, resource) when {{ context.n > 1 }};')
        print(engine.authorize('A::"a"', 'Action::"x"', 'R::"r"', {{"n": 2}}).decision,
              repr(span), cache._added > 0)
        cache.save()
    """)
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    first, second = (r.stdout.split() for r in runs)
    assert first[:-1] == second[:-1] and first[0] == "allow"
    assert (first[-1], second[-1]) == ("True", "False")  # the second compiled nothing


@pytest.mark.parametrize("damage", ["garbage", "wrong-shape", "not-code", "open-to-all"])
def test_a_damaged_or_open_cache_file_is_no_cache(cache: CodeCache, tmp_path: Path,
                                                  damage: str) -> None:
    source = "def g():\n    return 7\n"
    cache.code(code_cache._RUNE, source, "<x>")
    assert cache.save()
    file = next((tmp_path / "cache").iterdir())
    import marshal

    if damage == "garbage":
        file.write_bytes(os.urandom(1000))
    elif damage == "wrong-shape":
        file.write_bytes(marshal.dumps([1, 2, 3]))
    elif damage == "not-code":
        file.write_bytes(marshal.dumps((code_cache._FORMAT, {
            (code_cache._RUNE, "<x>", source): marshal.dumps("not code")})))
    else:
        file.chmod(0o666)
    directory = open_cache_directory(tmp_path / "cache")
    assert directory is not None
    again = CodeCache(directory)
    namespace: dict[str, object] = {}
    exec(again.code(code_cache._RUNE, source, "<x>"), namespace)
    assert namespace["g"]() == 7  # type: ignore[operator]
