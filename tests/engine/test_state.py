"""Durable state: acknowledged changes survive restarts and crashes, bad state is named."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import rune
from rune.store import MemoryChangeLog, StoreError
from rune.store.changes import entity_to_json

EXAMPLE = Path(__file__).parents[2] / "examples" / "coding-agent"

REQUESTS = [
    ('Agent::"a1"', 'Action::"read_file"', 'File::"src/app.py"', {"env": "dev"}),
    ('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "prod"}),
    ('Agent::"a2"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "prod"}),
    ('Agent::"a3"', 'Action::"call_api"', 'Tool::"search"', {"env": "dev"}),
    ('Agent::"n1"', 'Action::"read_file"', 'File::"src/app.py"', {"env": "dev"}),
]


def outcomes(engine: rune.Engine) -> list[tuple[Any, ...]]:
    return [(d.decision, d.reasons, d.errors, dict(d.config), d.obligations)
            for d in (engine.authorize(*r) for r in REQUESTS)]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "coding-agent"
    shutil.copytree(EXAMPLE, root)
    return root


def some_writes(engine: rune.Engine) -> None:
    engine.write(entities=[{"uid": {"type": "Agent", "id": "n1"}, "attrs": {"level": 4},
                            "parents": [{"type": "Team", "id": "coding"}]}])
    engine.write(remove_entities=['Agent::"a2"'])
    engine.record('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"', amount=3)
    engine.approve('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"')


def test_a_restart_replays_every_acknowledged_change(bundle: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    engine = rune.Engine.load(bundle, state=state)
    some_writes(engine)
    before = outcomes(engine)
    facts = {k: set(v) for k, v in engine.snapshot.facts.items()}
    engine.close()
    again = rune.Engine.load(bundle, state=state)
    assert outcomes(again) == before
    assert {k: set(v) for k, v in again.snapshot.facts.items()} == facts
    # Writes after a restart go on from where the state was.
    again.record('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"')
    seqs = sorted(row[-1] for row in again.snapshot.facts["performed"])
    assert seqs == [1, 2]
    again.close()


def test_the_bundle_names_its_state_file(bundle: Path) -> None:
    toml = bundle / "rune.toml"
    toml.write_text(toml.read_text() + '\n[state]\npath = "var/state.db"\n')
    with rune.Engine.load(bundle) as engine:
        some_writes(engine)
        before = outcomes(engine)
    assert (bundle / "var" / "state.db").is_file()
    with rune.Engine.load(bundle) as engine:
        assert outcomes(engine) == before


def test_state_belongs_to_one_bundle(bundle: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    rune.Engine.load(bundle, state=state).close()
    other = tmp_path / "other-agent"
    shutil.copytree(bundle, other)
    with pytest.raises(StoreError) as info:
        rune.Engine.load(other, state=state)
    assert info.value.code == "state-wrong-bundle"
    assert "coding-agent" in str(info.value) and str(state) in str(info.value)


def test_writes_that_no_longer_apply_are_reported_not_dropped(bundle: Path,
                                                              tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    rules = bundle / "rules" / "extra.dl"
    rules.write_text(".decl oncall(a: symbol)\n")
    with rune.Engine.load(bundle, state=state) as engine:
        engine.write(facts={"oncall": [('Agent::\\"a1\\"',)]})
    rules.unlink()
    size = state.stat().st_size
    with pytest.raises(rune.RuneError) as info:
        rune.Engine.load(bundle, state=state)
    assert info.value.code == "state-does-not-apply"
    assert "oncall" in str(info.value) and str(state) in str(info.value)
    assert state.stat().st_size == size
    rules.write_text(".decl oncall(a: symbol)\n")
    with rune.Engine.load(bundle, state=state) as engine:
        assert engine.query("oncall(a)") == [('Agent::\\"a1\\"',)]


def test_a_reload_keeps_the_writes_under_a_new_bundle(bundle: Path, tmp_path: Path) -> None:
    with rune.Engine.load(bundle, state=tmp_path / "state.db") as engine:
        some_writes(engine)
        before = outcomes(engine)
        engine.reload()
        assert outcomes(engine) == before


def test_any_change_log_will_do() -> None:
    log = MemoryChangeLog()
    engine = rune.Engine('permit(principal == A::"a", action, resource);', state=log)
    engine.write(entities=[{"uid": {"type": "A", "id": "a"}, "attrs": {}, "parents": []}])
    engine.record('A::"a"', 'Action::"x"', 'R::"r"', at=5)
    assert len(list(log.replay(0))) == 2
    again = rune.Engine('permit(principal == A::"a", action, resource);', state=log)
    assert len(again.snapshot.entities) == 1 and len(again.snapshot.facts["performed"]) == 1


def test_a_closed_engine_refuses_writes_and_keeps_deciding(tmp_path: Path) -> None:
    engine = rune.Engine('permit(principal, action, resource);', state=tmp_path / "s.db")
    engine.close()
    with pytest.raises(rune.EngineError) as info:
        engine.record('A::"a"', 'Action::"x"', 'R::"r"')
    assert info.value.code == "state-closed"
    assert engine.authorize('A::"a"', 'Action::"x"', 'R::"r"').allowed


def test_a_write_that_cannot_be_stored_is_not_published(tmp_path: Path) -> None:
    class FullDisk(MemoryChangeLog):
        def append(self, changes: Any) -> int:
            raise StoreError("disk full", code="state-write-failed")

    engine = rune.Engine('permit(principal, action, resource);', state=FullDisk())
    with pytest.raises(StoreError):
        engine.write(entities=[{"uid": {"type": "A", "id": "a"}, "attrs": {}, "parents": []}])
    assert engine.version == 1 and len(engine.snapshot.entities) == 0


# -- crashes ----------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys
    import rune

    bundle, state, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    engine = rune.Engine.load(bundle, state=state)
    print("ready", flush=True)
    for i in range(start, start + 100_000):
        if i % 3 == 0:
            version = engine.write(entities=[{
                "uid": {"type": "Agent", "id": f"w{i}"}, "attrs": {"level": i % 5},
                "parents": [{"type": "Team", "id": "coding"}]}])
        elif i % 3 == 1:
            version = engine.record('Agent::"a1"', 'Action::"call_api"', f'Tool::"t{i}"',
                                    at=1_000_000 + i, amount=i % 7)
        else:
            with engine.transaction() as tx:
                tx.record('Agent::"a3"', 'Action::"read_file"', f'File::"f{i}"',
                          at=1_000_000 + i)
                tx.approve('Agent::"a1"', 'Action::"write_file"', f'File::"f{i}"')
            version = tx.version
        print(i, version, flush=True)
""")


def acknowledged(engine: rune.Engine, i: int) -> bool:
    snap = engine.snapshot
    if i % 3 == 0:
        uid = rune.cedar.EntityUID("Agent", f"w{i}")
        return uid in snap.entities and snap.entities[uid].attrs["level"] == i % 5
    performed = {row[2] for row in snap.facts.get("performed", ())}
    if i % 3 == 1:
        return f'Tool::\\"t{i}\\"' in performed
    key = (rune.cedar.EntityUID("Agent", "a1"), rune.cedar.EntityUID("Action", "write_file"),
           rune.cedar.EntityUID("File", f"f{i}"))
    return f'File::\\"f{i}\\"' in performed and key in snap.approvals


def test_acknowledged_changes_survive_sigkill(bundle: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    rng = random.Random(8)
    seen: list[int] = []
    start = 0
    src = str(Path(rune.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for _ in range(20):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(bundle), str(state),
                                  str(start)], stdout=subprocess.PIPE, text=True, env=env)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        for _ in range(rng.randrange(1, 40)):
            line = child.stdout.readline()
            if not line:
                break
            seen.append(int(line.split()[0]))
        child.send_signal(signal.SIGKILL)  # mid-write, most of the time
        child.wait()
        child.stdout.close()
        start = seen[-1] + 1 if seen else start
        now = time.time()
        with rune.Engine.load(bundle, state=state, clock=lambda: now) as engine:  # noqa: B023
            missing = [i for i in seen if not acknowledged(engine, i)]
            assert not missing, f"acknowledged but lost: {missing[:10]}"
            assert outcomes(engine) == outcomes(rebuild(engine, bundle, now))
    assert len(seen) >= 20


def rebuild(engine: rune.Engine, bundle: Path, now: float) -> rune.Engine:
    """A fresh engine with the same state, built from scratch without any state file."""
    policies = "\n".join(p.read_text() for p in sorted((bundle / "policies").glob("*.cedar")))
    rules = "\n".join(p.read_text() for p in sorted((bundle / "rules").glob("*.dl")))
    snap = engine.snapshot
    fresh = rune.Engine(policies, entities=[entity_to_json(d) for d in snap.entity_data.values()],
                        rules=rules, facts={k: list(v) for k, v in snap.facts.items()},
                        clock=lambda: now)
    for (p, a, r), expires in snap.approvals.items():
        fresh.approve(p, a, r, ttl_seconds=expires - now)
    return fresh
