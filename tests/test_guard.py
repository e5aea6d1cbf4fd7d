"""`rune.guard` and `engine.guarded`: real functions and coroutines, decided in-process
and by a real `rune serve`; denied calls never run, completed calls are recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import rune
from tests.server.conftest import ADMIN_TOKEN, API_TOKEN, Server, free_port

POLICIES = '''
@id("read") permit(principal == Agent::"a1", action == Action::"read_file", resource);
@id("deploy") @ask("production deploy")
permit(principal == Agent::"a1", action == Action::"deploy", resource);
@id("call") permit(principal == Agent::"a1", action == Action::"call_api", resource);
'''
RULES = '''
// At most two API calls a minute, counted from the recorded ones.
.decl calls(n: number)
calls(n) :- request(p, "Action::\\"call_api\\"", _), now(t),
    n = count : { performed(p, "Action::\\"call_api\\"", _, at, _), at > t - 60 }.
deny("api quota") :- calls(n), n >= 2.
'''


@pytest.fixture
def engine() -> Iterator[rune.Engine]:
    with rune.Engine(policies=POLICIES, rules=RULES) as engine:
        yield engine


def performed(engine: Any, action: str) -> int:
    return len(engine.query(f'performed(p, "Action::\\"{action}\\"", r, at, seq)'))


def test_a_guarded_function(engine: rune.Engine) -> None:
    ran: list[str] = []

    @rune.guard(engine, principal='Agent::"a1"', action='Action::"read_file"',
                resource=lambda path: {"type": "File", "id": path},
                context=lambda path: {"path": path})
    def read_file(path: str) -> str:
        ran.append(path)
        return f"contents of {path}"

    assert read_file("a.py") == "contents of a.py"
    assert read_file.__name__ == "read_file" and ran == ["a.py"]
    assert performed(engine, "read_file") == 1


def test_deny_and_ask_raise_and_never_run(engine: rune.Engine) -> None:
    ran: list[str] = []

    @rune.guard(engine, principal=lambda who: who, resource='Service::"api"')
    def deploy(who: str) -> None:
        ran.append(who)

    with pytest.raises(rune.ApprovalRequired) as asked:
        deploy('Agent::"a1"')
    assert asked.value.decision.decision == "ask"
    assert "approval:production deploy" in asked.value.decision.reasons
    assert asked.value.code == "approval-required"
    with pytest.raises(rune.Denied) as denied:
        deploy('Agent::"a2"')
    assert denied.value.decision.decision == "deny"
    assert not isinstance(denied.value, rune.ApprovalRequired)
    assert ran == [] and performed(engine, "deploy") == 0
    engine.approve('Agent::"a1"', 'Action::"deploy"', 'Service::"api"')
    deploy('Agent::"a1"')  # approved: it runs
    assert ran == ['Agent::"a1"']


def test_a_call_that_raises_is_not_recorded(engine: rune.Engine) -> None:
    @rune.guard(engine, principal='Agent::"a1"', action='Action::"call_api"',
                resource='Api::"llm"')
    def call() -> None:
        raise TimeoutError("the API did not answer")

    with pytest.raises(TimeoutError):
        call()
    assert performed(engine, "call_api") == 0


def test_history_limits_apply(engine: rune.Engine) -> None:
    @rune.guard(engine, principal='Agent::"a1"', action='Action::"call_api"',
                resource='Api::"llm"')
    def call() -> int:
        return 1

    assert call() + call() == 2
    with pytest.raises(rune.Denied, match="api quota"):
        call()


def test_guarded_block(engine: rune.Engine) -> None:
    with engine.guarded('Agent::"a1"', 'Action::"read_file"', 'File::"b.py"') as decision:
        assert decision.reasons == ("read",)
    assert performed(engine, "read_file") == 1
    with pytest.raises(ValueError), \
            engine.guarded('Agent::"a1"', 'Action::"read_file"', 'File::"c.py"'):
        raise ValueError("failed half way")
    assert performed(engine, "read_file") == 1
    with pytest.raises(rune.Denied), \
            engine.guarded('Agent::"a1"', 'Action::"delete"', 'File::"b.py"'):
        pytest.fail("a denied block must not run")


def test_coroutines(engine: rune.Engine) -> None:
    @rune.guard(engine, principal='Agent::"a1"', action='Action::"read_file"',
                resource=lambda path: f'File::"{path}"')
    async def read_file(path: str) -> str:
        await asyncio.sleep(0)
        return path.upper()

    @rune.guard(engine, principal='Agent::"a1"', resource='Service::"x"')
    async def deploy() -> None:
        pytest.fail("an asked coroutine must not run")

    async def main() -> list[str]:
        results = await asyncio.gather(read_file("a"), read_file("b"))
        with pytest.raises(rune.ApprovalRequired):
            await deploy()
        async with engine.guarded('Agent::"a1"', 'Action::"read_file"', 'File::"c"'):
            pass
        return list(results)

    assert asyncio.run(main()) == ["A", "B"]
    assert performed(engine, "read_file") == 3


# -- against a real server ----------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("guard")
    (root / "policies").mkdir()
    (root / "policies" / "p.cedar").write_text(POLICIES)
    (root / "rules").mkdir()
    (root / "rules" / "r.dl").write_text(RULES)
    server = Server(root, "--no-watch", env={"RUNE_API_TOKEN": API_TOKEN,
                                             "RUNE_ADMIN_TOKEN": ADMIN_TOKEN})
    yield server
    server.stop()


def test_remote_guard(server: Server) -> None:
    with rune.RemoteEngine(server.url, token=API_TOKEN, admin_token=ADMIN_TOKEN) as remote:
        @rune.guard(remote, principal='Agent::"a1"', action='Action::"call_api"',
                    resource='Api::"llm"')
        def call() -> str:
            return "ok"

        @rune.guard(remote, principal='Agent::"a1"', action='Action::"call_api"',
                    resource='Api::"llm"')
        async def acall() -> str:
            return "ok"

        assert call() == "ok"
        assert asyncio.run(acall()) == "ok"
        with pytest.raises(rune.Denied, match="api quota"):  # recorded on the server
            call()
        with pytest.raises(rune.ApprovalRequired), \
                remote.guarded('Agent::"a1"', 'Action::"deploy"', 'Service::"x"'):
            pytest.fail("an asked block must not run")
        with remote.guarded('Agent::"a1"', 'Action::"read_file"', 'File::"a"',
                            record=False) as decision:
            assert decision.reasons == ("read",)


def test_an_unreachable_server_is_a_deny() -> None:
    with rune.RemoteEngine(f"http://127.0.0.1:{free_port()}", timeout=2) as remote:
        @rune.guard(remote, principal='Agent::"a1"', resource='Api::"llm"')
        def call_api() -> None:
            pytest.fail("must not run")

        with pytest.raises(rune.Denied, match="cannot be reached"):
            call_api()


def test_rune_guard_is_the_decorator_whatever_is_imported_first() -> None:
    # The names import on first use; a module named like one of them (the old
    # `rune/guard.py`) replaced `rune.guard` with itself once anything imported it.
    import subprocess
    import sys

    for first in ("rune.ApprovalRequired", "rune.Denied", "rune.Engine().guarded",
                  "rune.guard"):
        code = f"import rune, inspect; {first}; assert inspect.isfunction(rune.guard), rune.guard"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, (first, done.stderr)
