"""Writers and readers in threads: no torn reads, no lost writes, versions that never go
backwards, a cache that is never stale after a write, and reloads that fail atomically."""

from __future__ import annotations

import gc
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import rune
from rune.cedar import EntityUID
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "coding-agent"

AGENT, DOC = EntityUID("Agent", "w"), EntityUID("Doc", "d")
CHECK = 'Action::"check"'

# Each write moves a generation number in three places at once: the agent's `gen`, the
# document's `gen`, and the `generation` fact, which a rule turns into the document's
# `fact_gen`. The policy allows only when all three agree, so a torn read denies.
POLICIES = """
@id("same-generation")
permit(principal, action == Action::"check", resource)
when { principal.gen == resource.gen && resource.gen == resource.fact_gen };
"""

RULES = r"""
.decl generation(g: number)
.input generation
derived_attr_num("Doc::\"d\"", "fact_gen", g) :- generation(g).
"""


def generation_entities(gen: int) -> list[dict[str, Any]]:
    return [{"uid": AGENT.to_json(), "attrs": {"gen": gen}, "parents": []},
            {"uid": DOC.to_json(), "attrs": {"gen": gen}, "parents": []}]


@pytest.fixture(autouse=True)
def _frequent_thread_switches() -> Iterator[None]:
    """Switch threads often so that interleavings actually happen."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def run_threads(targets: list[Callable[[], None]]) -> None:
    """Run every target in its own thread; re-raise the first failure."""
    failures: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # reported below, in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if failures:
        raise failures[0]


def snapshot_counts(snap: rune.Snapshot) -> tuple[int, int, int]:
    """(generation, recorded actions, approvals) as one snapshot holds them."""
    (gen_fact,) = snap.facts["generation"]
    agent_gen = snap.entity_data[AGENT].attrs["gen"]
    doc_gen = snap.entity_data[DOC].attrs["gen"]
    assert agent_gen == doc_gen == gen_fact[0], (snap.version, agent_gen, doc_gen, gen_fact)
    return agent_gen, len(snap.facts.get("performed", ())), len(snap.approvals)


def test_concurrent_writers_and_readers_see_whole_versions() -> None:
    engine = rune.Engine(policies=POLICIES, entities=generation_entities(0), rules=RULES,
                         facts={"generation": [(0,)]})
    writes = 100
    done = threading.Event()
    returned_versions: list[int] = []
    reads = [0]
    seen_versions: set[int] = set()

    def move_generation() -> None:
        for gen in range(1, writes + 1):
            returned_versions.append(engine.write(
                entities=generation_entities(gen), facts={"generation": [(gen,)]},
                retract={"generation": [(gen - 1,)]}))
            time.sleep(0)  # let readers run between writes

    def record_actions() -> None:
        for i in range(writes):
            returned_versions.append(engine.record(AGENT, 'Action::"deploy"', DOC, at=i))
            time.sleep(0)

    def approve_requests() -> None:
        for i in range(writes):
            returned_versions.append(engine.approve(AGENT, 'Action::"edit"',
                                                    f'Doc::"{i}"'))
            time.sleep(0)

    def writers() -> None:
        try:
            run_threads([move_generation, record_actions, approve_requests])
        finally:
            done.set()

    def reader(seed: int) -> Callable[[], None]:
        def read() -> None:
            last_version = 0
            last_counts = (0, 0, 0)
            i = 0
            while not done.is_set() or i < 50:
                # Half of the requests repeat (cache hits), half are fresh.
                context = {"i": seed * 1_000_000 + i} if i % 2 else {}
                d = engine.authorize('Agent::"w"', CHECK, 'Doc::"d"', context)
                assert d.decision == "allow", (d.version, d.reasons, d.errors)
                assert d.version == d.snapshot.version
                assert d.version >= last_version, "a reader went back in time"
                counts = snapshot_counts(d.snapshot)
                # INVARIANT: every write changes exactly one count by one.
                assert sum(counts) == d.version - 1, (d.version, counts)
                assert all(now >= before for now, before in zip(counts, last_counts,
                                                                strict=True))
                last_version, last_counts = d.version, counts
                seen_versions.add(d.version)
                i += 1
            reads[0] += i

        return read

    run_threads([writers] + [reader(n) for n in range(4)])

    # No write was lost, and each got its own version.
    assert sorted(returned_versions) == list(range(2, 3 * writes + 2))
    final = engine.snapshot
    assert final.version == 3 * writes + 1
    assert snapshot_counts(final) == (writes, writes, writes)
    assert reads[0] >= 200
    assert len(seen_versions) >= 10, "readers and writers did not interleave"


def test_concurrent_batches_each_use_one_version_per_decision() -> None:
    engine = rune.Engine(policies=POLICIES, entities=generation_entities(0), rules=RULES,
                         facts={"generation": [(0,)]})
    done = threading.Event()

    def writer() -> None:
        try:
            for gen in range(1, 40):
                engine.write(entities=generation_entities(gen),
                             facts={"generation": [(gen,)]},
                             retract={"generation": [(gen - 1,)]})
        finally:
            done.set()

    def batch_reader() -> None:
        while not done.is_set():
            batch = engine.authorize_batch([('Agent::"w"', CHECK, 'Doc::"d"')] * 20)
            assert all(d.allowed for d in batch)
            versions = [d.version for d in batch]
            assert versions == sorted(versions)

    run_threads([writer, batch_reader, batch_reader])


def test_rate_limits_and_budgets_admit_exactly_their_limit_under_contention() -> None:
    rules = r"""
    rate_limit("calls", 50, 3600) :- request(_, "Action::\"call\"", _).
    budget("spend", 1000, 3600, x) :- request(_, "Action::\"buy\"", _),
        context_num("amount", x).
    """
    engine = rune.Engine(policies="permit(principal, action, resource);", rules=rules)
    allowed = {"call": 0, "buy": 0}
    lock = threading.Lock()

    def client(n: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(40):
                # Distinct requests (cache misses) and repeated ones (cache hits) alike.
                principal = f'Agent::"c{n}-{i % 4}"'
                call = engine.authorize(principal, 'Action::"call"', 'Api::"x"')
                buy = engine.authorize(principal, 'Action::"buy"', 'Shop::"s"',
                                       {"amount": 7})
                with lock:
                    allowed["call"] += call.allowed
                    allowed["buy"] += buy.allowed
                if not call.allowed:
                    assert call.reasons == ("rate-limit:calls",)
        return run

    run_threads([client(n) for n in range(8)])
    assert allowed == {"call": 50, "buy": 1000 // 7}


# -- old versions are reclaimed --------------------------------------------------------------------

def live_versions(engine: rune.Engine) -> list[int]:
    return sorted(o.version for o in gc.get_objects()
                  if type(o) is rune.Snapshot and o.policies is engine.snapshot.policies)


def test_a_version_lives_while_a_reader_holds_it_and_no_longer() -> None:
    engine = rune.Engine(policies=FLIP_POLICIES, entities=[])
    held = engine.authorize('Agent::"r"', 'Action::"open"', 'Doc::"d"')
    for _ in range(5):
        engine.authorize('Agent::"r"', 'Action::"open"', 'Doc::"d"')
        engine.write(facts={})
    gc.collect()
    assert live_versions(engine) == [1, 6]
    assert held.snapshot.version == 1 and held.snapshot.entities is not None  # still usable
    assert held.explain().version == 1
    del held
    gc.collect()
    assert live_versions(engine) == [6]


def test_a_version_with_cached_decisions_is_freed_by_reference_counting() -> None:
    engine = rune.Engine(policies=FLIP_POLICIES, entities=[])
    gc.collect()
    gc.disable()
    try:
        for _ in range(5):
            engine.authorize('Agent::"r"', 'Action::"open"', 'Doc::"d"')
            engine.write(facts={})
        assert live_versions(engine) == [6]
    finally:
        gc.enable()


# -- the cache is never stale after a write --------------------------------------------------------

FLIP_POLICIES = """
@id("open-doc")
permit(principal, action == Action::"open", resource) when { resource.state == "open" };
"""

FLIP_RULES = r"""
.decl state(s: symbol)
.input state
derived_attr("Doc::\"d\"", "state", s) :- state(s).
"""


def _write_entity_state(engine: rune.Engine, state: str, previous: str) -> int:
    return engine.write(entities=[{"uid": DOC.to_json(), "attrs": {"state": state},
                                   "parents": []}])


def _write_fact_state(engine: rune.Engine, state: str, previous: str) -> int:
    return engine.write(facts={"state": [(state,)]}, retract={"state": [(previous,)]})


@pytest.mark.parametrize("how", ["entity", "derived"])
def test_cache_is_never_stale_after_a_write(how: str) -> None:
    if how == "entity":
        engine = rune.Engine(policies=FLIP_POLICIES,
                             entities=[{"uid": DOC.to_json(), "attrs": {"state": "closed"},
                                        "parents": []}])
        write = _write_entity_state
    else:
        engine = rune.Engine(policies=FLIP_POLICIES, entities=[], rules=FLIP_RULES,
                             facts={"state": [("closed",)]})
        write = _write_fact_state
    assert engine.snapshot.cacheable
    request = ('Agent::"r"', 'Action::"open"', 'Doc::"d"')
    done = threading.Event()

    def flipper() -> None:
        try:
            state = "closed"
            for i in range(150):
                new = "open" if i % 2 == 0 else "closed"
                version = write(engine, new, state)
                state = new
                # After the write returns, this thread must see it, cached or not.
                for _ in range(3):
                    d = engine.authorize(*request)
                    assert d.version >= version
                    assert d.allowed is (new == "open"), (i, d.version, d.decision)
        finally:
            done.set()

    def hammer() -> None:
        # Keep filling the cache with decisions on whatever version is current.
        while not done.is_set():
            d = engine.authorize(*request)
            assert d.allowed is (d.snapshot.entities.to_json()[0]["attrs"]["state"] == "open")

    run_threads([flipper, hammer, hammer, hammer])


def test_cache_entries_belong_to_their_version() -> None:
    engine = rune.Engine(policies=FLIP_POLICIES,
                         entities=[{"uid": DOC.to_json(), "attrs": {"state": "open"},
                                    "parents": []}])
    request = ('Agent::"r"', 'Action::"open"', 'Doc::"d"')
    first = engine.authorize(*request)
    assert engine.authorize(*request) is first
    _write_entity_state(engine, "closed", "open")
    d = engine.authorize(*request)
    assert (d.decision, d.version) == ("deny", 2)
    assert engine.authorize(*request) is d  # cached again, for the new version only
    assert first.version == 1 and first.allowed  # the old decision itself is untouched


# -- reload ----------------------------------------------------------------------------------------

REQUESTS = [
    ('Agent::"a1"', 'Action::"read_file"', 'File::"src/app.py"', {"env": "dev"}),
    ('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "prod"}),
    ('Agent::"a2"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "prod"}),
    ('Agent::"a1"', 'Action::"read_file"', 'File::"config/.env"', {"env": "dev"}),
]


def outcomes(engine: rune.Engine) -> list[tuple[str, tuple[str, ...], dict[str, Any]]]:
    return [(d.decision, d.reasons, dict(d.config)) for d in engine.authorize_batch(REQUESTS)]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "coding-agent"
    shutil.copytree(EXAMPLE, root)
    return root


def break_policy(root: Path) -> list[str]:
    file = root / "policies" / "files.cedar"
    file.write_text(file.read_text().replace(
        'permit(principal in Team::"coding", action == Action::"read_file"',
        'permit(principal in Team::"coding" action == Action::"read_file"'))
    return [f"{file}:4:36"]


def break_rule(root: Path) -> list[str]:
    file = root / "rules" / "broken.dl"
    file.write_text('config("x", v) :- nowhere(v).\nconfig("y", w) :- request(_, _, _).\n')
    return [f"{file}:1:19", f"{file}:2:13"]


def break_entities(root: Path) -> list[str]:
    file = root / "entities" / "files.json"
    file.write_text('[{"uid": {"type": "File", "id": "x"}, "attrs": {}, "parents": [7]}]')
    return [f"{file}: $[0].parents[0]"]


def break_json(root: Path) -> list[str]:
    file = root / "entities" / "agents.json"
    file.write_text('[{"uid": {"type": "Agent", "id": "a1"},\n  "attrs": {}, "parents": []\n')
    return [f"{file}: line 3 column 1"]


BREAKS = {"policy": break_policy, "rule": break_rule, "entities": break_entities,
          "json": break_json}
LOCATION = re.compile(r"^(\S+:\d+:\d+|\S+\.json: (\$\S*|line \d+ column \d+))$")


def diagnostic_locations(error: rune.RuneError) -> list[str]:
    out = []
    for d in error.diagnostics:
        where = str(d.span) if d.span is not None else d.path
        assert where is not None and LOCATION.match(where), where
        out.append(where)
    return out


@pytest.mark.parametrize("broken", [*BREAKS, "all"])
def test_reload_with_errors_lists_them_and_keeps_the_old_version(bundle: Path,
                                                                 broken: str) -> None:
    engine = rune.Engine.load(bundle)
    before = outcomes(engine)
    breaks = list(BREAKS.values()) if broken == "all" else [BREAKS[broken]]
    expected = [where for b in breaks for where in b(bundle)]
    with pytest.raises(rune.RuneError) as info:
        engine.reload()
    assert sorted(diagnostic_locations(info.value)) == sorted(expected)
    for where in expected:
        assert where in str(info.value)
    assert engine.version == 1
    assert outcomes(engine) == before


def test_reload_with_a_derivation_error_keeps_the_old_version(bundle: Path) -> None:
    engine = rune.Engine.load(bundle)
    before = outcomes(engine)
    (bundle / "rules" / "levels.dl").write_text(
        'derived_attr_num(a, "level", 9) :- entity(a, "Agent").\n')
    with pytest.raises(rune.RuneError):
        engine.reload()
    assert engine.version == 1 and outcomes(engine) == before


def test_reload_publishes_a_fixed_bundle_and_keeps_history_and_approvals(
        bundle: Path) -> None:
    engine = rune.Engine.load(bundle)
    approve = REQUESTS[1]
    assert engine.authorize(*approve).decision == "ask"
    engine.approve(*approve[:3])
    engine.record(*approve[:3], at=100)
    originals = {path: path.read_text() for path in bundle.rglob("*") if path.is_file()}
    break_policy(bundle)
    with pytest.raises(rune.RuneError):
        engine.reload()
    assert engine.version == 3
    for path, text in originals.items():
        path.write_text(text)
    (bundle / "policies" / "extra.cedar").write_text(
        '@id("a2-reads-env")\npermit(principal == Agent::"a2", action, resource);\n')
    assert engine.reload() == 4
    assert engine.authorize(*approve).decision == "allow"
    assert len(engine.snapshot.facts["performed"]) == 1
    d = engine.authorize('Agent::"a2"', 'Action::"read_file"', 'File::"deploy/prod.yaml"')
    assert (d.decision, d.reasons, d.version) == ("allow", ("a2-reads-env",), 4)


def test_reload_needs_a_bundle() -> None:
    engine = rune.Engine(policies=POLICIES)
    with pytest.raises(rune.EngineError) as info:
        engine.reload()
    assert info.value.code == "no-bundle"


def test_reload_reports_every_bad_entity_of_a_file(bundle: Path) -> None:
    engine = rune.Engine.load(bundle)
    file = bundle / "entities" / "files.json"
    file.write_text('[{"uid": {"type": "File", "id": "x"}, "attrs": {}, "parents": [7]},\n'
                    ' {"uid": 5, "attrs": {}, "parents": []}]')
    with pytest.raises(rune.RuneError) as info:
        engine.reload()
    assert len(info.value.diagnostics) == 2


def test_readers_keep_being_served_during_failed_and_good_reloads(bundle: Path) -> None:
    engine = rune.Engine.load(bundle)
    expected = outcomes(engine)
    policy = bundle / "policies" / "files.cedar"
    good = policy.read_text()
    done = threading.Event()
    failures = [0]

    def reloader() -> None:
        try:
            for i in range(20):
                if i % 2:
                    policy.write_text(good)
                    engine.reload()
                else:
                    policy.write_text(good + "\npermit(principal, action resource);\n")
                    with pytest.raises(rune.RuneError):
                        engine.reload()
                    failures[0] += 1
        finally:
            policy.write_text(good)
            done.set()

    def reader() -> None:
        last = 0
        while not done.is_set():
            d = engine.authorize(*REQUESTS[0])
            assert d.version >= last
            last = d.version
            assert outcomes(engine) == expected

    run_threads([reloader, reader, reader])
    assert failures[0] == 10
    assert engine.version == 11


# -- readers beside a recording writer ------------------------------------------------------------

HISTORY_POLICIES = """
@id("team")
permit(principal in Team::"t", action, resource);
@id("quiet")
forbid(principal, action == Action::"deploy", resource) when { context.busy };
"""
HISTORY_RULES = r"""
.decl recent(p: symbol, n: number)
recent(p, n) :- request(p, _, _), now(t), n = count : { performed(p, _, _, at, _), at > t - 60 }.
config_num("recent", n) :- request(p, _, _), recent(p, n).
deny("too-many") :- request(p, "Action::\"deploy\"", _), recent(p, n), n > 50.
"""


def test_readers_never_wait_for_a_recording_writer() -> None:
    """Four threads decide while a writer records as fast as it can: no exception, and
    every decision equals the one its reported version gives. (The writer's rate and the
    readers' latency beside it are `benchmarks/engine_writes.py`'s.)"""
    now = [5_000.0]
    agents = [{"uid": {"type": "Agent", "id": f"a{i}"}, "attrs": {},
               "parents": [{"type": "Team", "id": "t"}] if i % 2 else []} for i in range(50)]
    engine = rune.Engine(HISTORY_POLICIES, entities=agents, rules=HISTORY_RULES,
                         clock=lambda: now[0])
    done = threading.Event()
    checked = [0]

    def writer() -> None:
        start = time.perf_counter()
        i = 0
        while time.perf_counter() - start < 1.5:
            engine.record(f'Agent::"a{i % 50}"', 'Action::"deploy"', 'Tool::"x"')
            i += 1
        done.set()

    def reader(k: int) -> Callable[[], None]:
        def run() -> None:
            i = k
            while not done.is_set():
                d = engine.authorize(f'Agent::"a{i % 50}"', 'Action::"deploy"', 'Tool::"x"',
                                     {"busy": i % 7 == 0})
                again = engine._decide(d.snapshot, d.request)
                assert again[:5] == d[:5], (d, again)
                assert d.version == d.snapshot.version
                checked[0] += 1
                i += 4
        return run

    with_switch = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # the interpreter's default: a realistic schedule
    try:
        run_threads([writer, *(reader(k) for k in range(4))])
    finally:
        sys.setswitchinterval(with_switch)
    assert engine.version > 20 and checked[0] > 100
