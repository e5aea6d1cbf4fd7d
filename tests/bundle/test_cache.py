"""`rune.bundle.cache`: a compiled bundle from the cache decides exactly as a fresh load
(every example's suites, across processes); any change to the bundle, to RUNE or to
Python is a miss; a cache that is corrupt, foreign or open to others is never read; a
bundle that does not load is never served from it."""

from __future__ import annotations

import json
import logging
import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rune.bundle import BundleError, load_bundle
from rune.bundle import cache as bundle_cache
from rune.bundle.cache import BundleCache
from rune.engine import Engine
from tests.bundle.conftest import POLICY, write_bundle

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
BUNDLES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "policies").is_dir())


def worker(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "tests.bundle.cache_worker", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def example_requests(name: str) -> list[list[Any]]:
    """Requests beyond the suites: the claude-code payloads, the agents' requests file."""
    root = EXAMPLES / name
    rows: list[list[Any]] = []
    if (root / "payloads").is_dir():
        from rune.hooks.claude_code import HookInputError, parse_payload, request_of

        for file in sorted((root / "payloads").iterdir()):
            try:
                request = request_of(parse_payload(file.read_bytes()))
            except HookInputError:
                continue
            rows.append([request.principal, request.action, request.resource,
                         request.context])
    if (root / "requests.jsonl").is_file():
        for line in (root / "requests.jsonl").read_text().splitlines():
            if line.strip():
                item = json.loads(line)
                rows.append([item["principal"], item["action"], item["resource"],
                             item.get("context")])
    return rows


@pytest.mark.parametrize("name", BUNDLES)
def test_a_cache_hit_decides_as_a_fresh_load(name: str, tmp_path: Path) -> None:
    requests = tmp_path / "requests.json"
    requests.write_text(json.dumps(example_requests(name)))
    bundle = str(EXAMPLES / name)
    cache = str(tmp_path / "cache")
    fresh = worker("fresh", bundle, str(requests))
    first = worker("cached", cache, bundle, str(requests))   # a miss: loads, then stores
    second = worker("cached", cache, bundle, str(requests))  # a hit, in a new process
    assert (first["hits"], first["misses"]) == (0, 1)
    assert (second["hits"], second["misses"]) == (1, 0)
    assert fresh["results"], name
    assert canonical(first["results"]) == canonical(fresh["results"])
    assert canonical(second["results"]) == canonical(fresh["results"])


def canonical(results: list[Any]) -> list[Any]:
    """Each decision exactly; its explanation with every list in a fixed order and without
    Datalog proofs (a proof of an aggregate shows some of its facts, picked in set order,
    which differs between any two processes, fresh or not)."""

    def ordered(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ordered(v) for k, v in value.items()
                    if k not in ("proofs", "premises")}
        if isinstance(value, list):
            return sorted((ordered(v) for v in value), key=lambda v: json.dumps(v))
        return value

    return [r if not isinstance(r, dict) else {"decision": r["decision"],
                                               "explain": ordered(r["explain"])}
            for r in results]


# -- misses ------------------------------------------------------------------------------

def copy_example(tmp_path: Path, name: str = "coding-agent") -> Path:
    return Path(shutil.copytree(EXAMPLES / name, tmp_path / name))


def load_twice(cache: BundleCache, root: Path) -> Any:
    """Load (a miss), serve and store, then load again: the second load's bundle."""
    first = cache.load(root)
    Engine.from_bundle(first).close()
    assert cache.store(first)
    return cache.load(root)


def test_a_changed_file_is_a_miss(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    cache = BundleCache.open(tmp_path / "cache")
    assert cache is not None
    load_twice(cache, root)
    assert (cache.hits, cache.misses) == (1, 1)
    request = ('Agent::"a2"', 'Action::"read_file"', 'File::"tests/test_app.py"',
               {"env": "prod"})
    assert Engine.from_bundle(cache.load(root)).authorize(*request).decision == "allow"
    with (root / "policies" / "policies.cedar").open("a") as file:
        file.write('\n@id("no-reads")\nforbid(principal, action == Action::"read_file", '
                   'resource);\n')
    changed = cache.load(root)
    assert cache.misses == 2
    decision = Engine.from_bundle(changed).authorize(*request)
    assert (decision.decision, decision.reasons) == ("deny", ("no-reads",))


@pytest.mark.parametrize("change", ["add", "remove", "rename", "settings"])
def test_a_change_to_what_the_load_listed_is_a_miss(tmp_path: Path, change: str) -> None:
    root = copy_example(tmp_path)
    cache = BundleCache.open(tmp_path / "cache")
    assert cache is not None
    load_twice(cache, root)
    entities = sorted((root / "entities").iterdir())
    if change == "add":
        (root / "entities" / "more.json").write_text("[]")
    elif change == "remove":
        entities[0].unlink()
    elif change == "rename":
        entities[0].rename(entities[0].with_suffix(".json.off"))
    else:
        (root / "rune.toml").write_text((root / "rune.toml").read_text() + "\n# edited\n")
    cache.load(root)
    assert (cache.hits, cache.misses) == (1, 2)


def test_a_bundle_that_no_longer_loads_is_never_served_from_the_cache(tmp_path: Path
                                                                       ) -> None:
    root = copy_example(tmp_path)
    cache = BundleCache.open(tmp_path / "cache")
    assert cache is not None
    load_twice(cache, root)
    (root / "policies" / "policies.cedar").write_text("permit(principal, action")
    with pytest.raises(BundleError):
        cache.load(root)
    with pytest.raises(BundleError):  # and nothing was stored meanwhile
        cache.load(root)


def test_another_python_or_rune_is_a_miss(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_example(tmp_path)
    cache = BundleCache.open(tmp_path / "cache")
    assert cache is not None
    load_twice(cache, root)
    monkeypatch.setattr(sys, "version", sys.version + " (another build)")
    cache.load(root)
    assert cache.misses == 2
    monkeypatch.undo()
    # A RUNE module that changed since the entry was written: its fingerprint differs.
    name = bundle_cache._entry_name(bundle_cache._identity(root))
    entry = list(marshal.loads((tmp_path / "cache" / name).read_bytes()))
    file, size, mtime = entry[2][0]
    entry[2] = ((file, size, mtime + 1), *entry[2][1:])
    (tmp_path / "cache" / name).write_bytes(marshal.dumps(tuple(entry)))
    cache.load(root)
    assert (cache.hits, cache.misses) == (1, 3)


def test_the_same_relative_path_from_another_directory_is_another_entry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for where in ("a", "b"):
        copy_example(tmp_path / where)
    cache = BundleCache.open(tmp_path / "cache")
    assert cache is not None
    monkeypatch.chdir(tmp_path / "a")
    load_twice(cache, Path("coding-agent"))
    monkeypatch.chdir(tmp_path / "b")
    bundle = cache.load(Path("coding-agent"))
    assert (cache.hits, cache.misses) == (1, 2)
    assert bundle.path == Path("coding-agent")


def test_warnings_are_logged_on_a_hit_as_on_a_load(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    root = write_bundle(tmp_path / "b", {"policies/p.cedar": POLICY, "stray.cedar": POLICY})
    cache = BundleCache.open(tmp_path / "cache")
    assert cache is not None
    with caplog.at_level(logging.WARNING, logger="rune.bundle"):
        bundle = load_twice(cache, root)
    assert cache.hits == 1 and bundle.warnings
    logged = [r.getMessage() for r in caplog.records if r.name == "rune.bundle"]
    assert len(logged) == 2 and logged[0] == logged[1] and "stray.cedar" in logged[0]


def test_a_single_file_bundle(tmp_path: Path) -> None:
    root = Path(shutil.copy(REPO / "tests" / "bundle" / "seed.rune", tmp_path / "seed.rune"))
    cache = BundleCache.open(tmp_path / "cache")
    assert cache is not None
    bundle = load_twice(cache, root)
    assert cache.hits == 1
    assert bundle.policies.source_text == load_bundle(root).policies.source_text
    root.write_text(root.read_text() + "\n")
    cache.load(root)
    assert cache.misses == 2


# -- a cache that must not be read ---------------------------------------------------------

def stored(tmp_path: Path) -> tuple[Path, Path, str]:
    """A bundle with a stored entry: (bundle, cache directory, entry name)."""
    root = copy_example(tmp_path)
    cache = BundleCache.open(tmp_path / "cache")
    assert cache is not None
    bundle = cache.load(root)
    assert cache.store(bundle)
    cache.close()
    return root, tmp_path / "cache", bundle_cache._entry_name(bundle_cache._identity(root))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "not-a-tuple",
                                    "bad-payload", "other-object", "directory"])
def test_a_damaged_entry_is_a_miss(tmp_path: Path, damage: str) -> None:
    root, directory, name = stored(tmp_path)
    entry = directory / name
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        entry.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "not-a-tuple":
        entry.write_bytes(marshal.dumps({"x": 1}))
    elif damage in ("bad-payload", "other-object"):
        fields = list(marshal.loads(data))
        fields[5] = b"\x80\x05garbage" if damage == "bad-payload" else \
            __import__("pickle").dumps({"policies": "no"})
        entry.write_bytes(marshal.dumps(tuple(fields)))
    else:
        entry.unlink()
        entry.mkdir()
    cache = BundleCache.open(directory)
    assert cache is not None
    bundle = cache.load(root)
    assert (cache.hits, cache.misses) == (0, 1)
    assert len(bundle.policies) == len(load_bundle(root).policies)


def test_an_entry_others_may_write_is_not_read(tmp_path: Path) -> None:
    root, directory, name = stored(tmp_path)
    (directory / name).chmod(0o666)
    cache = BundleCache.open(directory)
    assert cache is not None
    cache.load(root)
    assert cache.misses == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
def test_an_entry_another_user_owns_is_not_read(tmp_path: Path) -> None:
    root, directory, name = stored(tmp_path)
    os.chown(directory / name, 12345, 12345)
    cache = BundleCache.open(directory)
    assert cache is not None
    cache.load(root)
    assert cache.misses == 1


def test_an_entry_that_is_a_symbolic_link_is_not_followed(tmp_path: Path) -> None:
    root, directory, name = stored(tmp_path)
    (directory / name).rename(tmp_path / "elsewhere")
    (directory / name).symlink_to(tmp_path / "elsewhere")
    cache = BundleCache.open(directory)
    assert cache is not None
    cache.load(root)
    assert cache.misses == 1


@pytest.mark.parametrize("problem", ["group-readable", "world-writable", "symlink",
                                     "a-file", "foreign"])
def test_a_cache_directory_others_control_is_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str) -> None:
    _, directory, _ = stored(tmp_path)
    if problem == "group-readable":
        directory.chmod(0o750)
    elif problem == "world-writable":
        directory.chmod(0o777)
    elif problem == "symlink":
        directory.rename(tmp_path / "real")
        directory.symlink_to(tmp_path / "real")
    elif problem == "a-file":
        shutil.rmtree(directory)
        directory.write_bytes(b"")
    else:
        monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)
    assert BundleCache.open(directory) is None


def test_the_cache_directory_is_made_private(tmp_path: Path) -> None:
    cache = BundleCache.open(tmp_path / "deep" / "cache")
    assert cache is not None
    assert (tmp_path / "deep" / "cache").stat().st_mode & 0o777 == 0o700
    root = copy_example(tmp_path)
    assert cache.store(cache.load(root))
    entries = list((tmp_path / "deep" / "cache").iterdir())
    assert [e.stat().st_mode & 0o777 for e in entries] == [0o600]


def test_a_bundle_from_the_cache_is_stored_no_more(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    cache = BundleCache.open(tmp_path / "cache")
    assert cache is not None
    bundle = load_twice(cache, root)
    assert not cache.store(bundle)  # (nothing new was planned for it)


def test_a_hit_that_planned_something_new_is_stored_again(tmp_path: Path) -> None:
    from rune.datalog._cache import derived_from
    from rune.store import MemoryChangeLog

    root = copy_example(tmp_path, "claude-code")
    cache = BundleCache.open(tmp_path / "cache")
    assert cache is not None
    bundle = load_twice(cache, root)  # served a decision only: no maintenance plans
    assert "maintenance" not in derived_from(bundle.rules)
    engine = Engine.from_bundle(bundle, state=MemoryChangeLog())
    engine.record('Agent::"claude-code"', 'Action::"Bash"', 'Command::"ls"')  # plans them
    assert cache.store(bundle)
    again = cache.load(root)
    assert cache.hits == 2 and "maintenance" in derived_from(again.rules)
    Engine.from_bundle(again, state=MemoryChangeLog()).record(
        'Agent::"claude-code"', 'Action::"Bash"', 'Command::"ls"')
    assert not cache.store(again)  # nothing new this time


def test_only_the_most_recently_written_bundles_are_kept(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setattr(bundle_cache, "_MAX_ENTRIES", 2)
    cache = BundleCache.open(tmp_path / "cache")
    assert cache is not None
    roots = [write_bundle(tmp_path / f"b{i}", {"policies/p.cedar": POLICY}) for i in range(3)]
    for root in roots:
        assert cache.store(cache.load(root))
    names = {bundle_cache._entry_name(bundle_cache._identity(r)) for r in roots[1:]}
    assert {p.name for p in (tmp_path / "cache").iterdir()} == names
