"""`RuneMiddleware` in a real LangChain 1.x agent: `create_agent`, real `@tool` functions,
an `InMemorySaver` checkpointer and a scripted chat model that issues tool calls, against
an in-process `rune.Engine` and a real `rune serve` (through `rune.RemoteEngine`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.tools import ToolRuntime
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import StructuredTool, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

import rune
from rune.integrations.langchain import (
    RuneMiddleware,
    ToolMappingError,
    rune_decision,
    tool_context,
)
from tests.conftest import REPO
from tests.server.conftest import ADMIN_TOKEN, API_TOKEN, Server, copy_bundle, free_port

BUNDLE = REPO / "examples" / "langchain-agent"
AGENT = 'Agent::"assistant"'


class ScriptedChatModel(GenericFakeChatModel):
    """A chat model that answers with the next scripted message; tools are bound by
    returning itself (the stock fakes do not implement `bind_tools`)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self


def calls(*turns: list[tuple[str, dict[str, Any]]]) -> ScriptedChatModel:
    """A model that makes each turn's tool calls, then answers "done"."""
    script: list[AIMessage] = []
    for t, turn in enumerate(turns):
        script.append(AIMessage(content="", tool_calls=[
            {"name": name, "args": args, "id": f"call-{t}-{i}", "type": "tool_call"}
            for i, (name, args) in enumerate(turn)]))
    script.append(AIMessage(content="done"))
    return ScriptedChatModel(messages=iter(script))


class Tools:
    """The agent's tools, noting every call that actually ran."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []
        self.seen: list[Any] = []
        ran, seen = self.ran, self.seen

        @tool
        def search_docs(query: str, runtime: ToolRuntime[Any, Any]) -> str:
            """Search the support documentation."""
            ran.append(("search_docs", {"query": query}))
            seen.append((rune_decision(runtime), rune_decision()))
            decision = rune_decision(runtime) or {}
            return f"{decision.get('config', {}).get('max_results')} results for {query}"

        @tool
        def send_email(to: str, subject: str = "", body: str = "") -> str:
            """Send an email."""
            ran.append(("send_email", {"to": to}))
            seen.append(rune_decision())
            return f"sent to {to}"

        @tool
        def delete_record(record_id: str) -> str:
            """Delete a customer record."""
            ran.append(("delete_record", {"record_id": record_id}))
            return "deleted"

        @tool
        def fetch_url(url: str) -> str:
            """Fetch a web page."""
            ran.append(("fetch_url", {"url": url}))
            return "<html/>"

        def pay_back(order_id: str, amount: int) -> str:
            ran.append(("refund", {"order_id": order_id, "amount": amount}))
            seen.append(rune_decision())
            return f"refunded {amount}"

        async def apay_back(order_id: str, amount: int) -> str:
            await asyncio.sleep(0)
            return pay_back(order_id, amount)

        # Both ways of running a tool: `invoke` calls the function, `ainvoke` awaits the
        # coroutine (the decision must be visible in both).
        refund = StructuredTool.from_function(pay_back, coroutine=apay_back, name="refund",
                                              description="Refund an order.")

        @tool
        def flaky(reason: str) -> str:
            """A tool that fails."""
            raise RuntimeError(reason)

        self.all = [search_docs, send_email, delete_record, fetch_url, refund, flaky]


@dataclass
class Caller:
    """The agent's runtime context: who the agent acts as."""

    agent: str


MIDDLEWARE: list[RuneMiddleware] = []


@pytest.fixture(autouse=True)
def _close_middleware() -> Iterator[None]:
    yield
    while MIDDLEWARE:
        MIDDLEWARE.pop().close()


def agent_with(engine: Any, model: ScriptedChatModel, tools: Tools, **options: Any) -> Any:
    options.setdefault("principal", AGENT)
    middleware = RuneMiddleware(engine, **options)
    MIDDLEWARE.append(middleware)
    return create_agent(model, tools=tools.all, middleware=[middleware],
                        checkpointer=InMemorySaver())


def run(agent: Any, thread: str = "t") -> dict[str, Any]:
    result: dict[str, Any] = agent.invoke(
        {"messages": [{"role": "user", "content": "help the customer"}]},
        {"configurable": {"thread_id": thread}})
    return result


def tool_messages(result: dict[str, Any]) -> list[ToolMessage]:
    return [m for m in result["messages"] if isinstance(m, ToolMessage)]


def performed(engine: Any) -> list[tuple[str, str, str]]:
    return [tuple(row[:3]) for row in engine.query("performed(p, a, r, t, n)")]


@pytest.fixture()
def engine() -> rune.Engine:
    return rune.Engine.load(BUNDLE)


# -- allow -------------------------------------------------------------------------------------


def test_allow_runs_the_tool_with_its_configuration_then_records_it(engine: rune.Engine) \
        -> None:
    tools = Tools()
    result = run(agent_with(engine, calls([("search_docs", {"query": "refunds"})]), tools))
    assert tools.ran == [("search_docs", {"query": "refunds"})]
    (message,) = tool_messages(result)
    assert message.status == "success" and message.content == "5 results for refunds"
    from_runtime, from_context = tools.seen[0]
    assert from_runtime == from_context
    assert from_runtime["decision"] == "allow" and from_runtime["reasons"] == ["search-docs"]
    assert from_runtime["config"] == {"max_results": 5}
    assert rune_decision() is None  # only while the tool runs
    assert performed(engine) == [(AGENT.replace('"', '\\"'), 'Action::\\"search_docs\\"',
                                  'Tool::\\"search_docs\\"')]
    assert result["messages"][-1].content == "done"


def test_the_principal_may_come_from_the_runtime(engine: rune.Engine) -> None:
    tools = Tools()
    middleware = RuneMiddleware(
        engine, principal=lambda request: f'Agent::"{request.runtime.context.agent}"')
    agent = create_agent(calls([("search_docs", {"query": "x"})]), tools=tools.all,
                         middleware=[middleware], context_schema=Caller)
    result = agent.invoke({"messages": [{"role": "user", "content": "hi"}]},
                          context=Caller(agent="intern"))
    assert tool_messages(result)[0].content == "3 results for x"  # the trainee's config


def test_obligations_and_config_reach_the_tool(engine: rune.Engine) -> None:
    tools = Tools()
    run(agent_with(engine, calls([("send_email", {"to": "bob@example.com"})]), tools))
    assert tools.seen[0]["config"] == {"signature": "The Support Team",
                                       "bcc": "archive@example.com"}


# -- deny --------------------------------------------------------------------------------------


def test_deny_returns_an_error_message_and_never_runs_the_tool(engine: rune.Engine) -> None:
    tools = Tools()
    result = run(agent_with(engine, calls([("delete_record", {"record_id": "r1"}),
                                           ("fetch_url", {"url": "http://example.com"})]),
                            tools))
    assert tools.ran == []
    deleted, fetched = tool_messages(result)
    assert deleted.status == "error" and deleted.tool_call_id == "call-0-0"
    assert deleted.content == ("RUNE denied the tool call `delete_record`: no-deletes. The "
                               "tool was not executed.")
    assert deleted.artifact == {"rune": {"decision": "deny", "reasons": ["no-deletes"],
                                         "errors": []}}
    assert fetched.status == "error" and "no policy permits it" in fetched.content
    assert performed(engine) == []
    assert result["messages"][-1].content == "done"  # the agent goes on


def test_a_rate_limit_stops_repeated_calls(engine: rune.Engine) -> None:
    tools = Tools()
    fetch = [("fetch_url", {"url": "https://example.com"})]
    result = run(agent_with(engine, calls(fetch, fetch, fetch, fetch), tools))
    assert len(tools.ran) == 3
    statuses = [m.status for m in tool_messages(result)]
    assert statuses == ["success", "success", "success", "error"]
    assert 'rate-limit:fetch:Agent::"assistant"' in tool_messages(result)[3].content
    assert len(performed(engine)) == 3


def test_a_tool_that_raises_is_not_recorded(engine: rune.Engine) -> None:
    engine = rune.Engine(policies='@id("all") permit(principal, action, resource);',
                         rules=".decl unused(x: number)")
    tools = Tools()
    with pytest.raises(RuntimeError, match="boom"):
        run(agent_with(engine, calls([("flaky", {"reason": "boom"})]), tools))
    assert performed(engine) == []


# -- ask ---------------------------------------------------------------------------------------


OUTSIDE = [("send_email", {"to": "eve@elsewhere.org", "subject": "offer"})]


def test_ask_interrupts_like_human_in_the_loop_and_approve_runs_the_tool(
        engine: rune.Engine) -> None:
    tools = Tools()
    agent = agent_with(engine, calls(OUTSIDE), tools)
    paused = run(agent)
    assert tools.ran == []
    (pending,) = paused["__interrupt__"]
    assert pending.value == {
        "action_requests": [{
            "name": "send_email", "args": {"to": "eve@elsewhere.org", "subject": "offer"},
            "description": "Tool execution requires approval (RUNE: email-outside, "
                           "approval:mail to an outside address)\n\nTool: send_email\n"
                           "Args: {'to': 'eve@elsewhere.org', 'subject': 'offer'}"}],
        "review_configs": [{"action_name": "send_email",
                            "allowed_decisions": ["approve", "reject"]}]}
    assert engine.authorize(AGENT, 'Action::"send_email"', 'Tool::"send_email"',
                            {"to": "eve@elsewhere.org"}).decision == "ask"
    done = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}),
                        {"configurable": {"thread_id": "t"}})
    assert tools.ran == [("send_email", {"to": "eve@elsewhere.org"})]
    assert tools.seen[0]["reasons"] == ["email-outside", "approved"]
    assert tool_messages(done)[0].content == "sent to eve@elsewhere.org"
    # The approval is in the engine: the same request is now allowed.
    again = engine.authorize(AGENT, 'Action::"send_email"', 'Tool::"send_email"',
                             {"to": "eve@elsewhere.org"})
    assert again.decision == "allow" and again.reasons == ("email-outside", "approved")
    assert len(performed(engine)) == 1


def test_reject_returns_an_error_message(engine: rune.Engine) -> None:
    tools = Tools()
    agent = agent_with(engine, calls(OUTSIDE), tools)
    run(agent)
    done = agent.invoke(Command(resume={"decisions": [{"type": "reject",
                                                       "message": "not to them"}]}),
                        {"configurable": {"thread_id": "t"}})
    assert tools.ran == []
    (message,) = tool_messages(done)
    assert message.status == "error"
    assert message.content == ("User rejected the tool call for `send_email` with reason: "
                               "not to them")
    assert engine.authorize(AGENT, 'Action::"send_email"', 'Tool::"send_email"',
                            {"to": "eve@elsewhere.org"}).decision == "ask"


@pytest.mark.parametrize("answer", [
    {"decisions": [{"type": "edit", "edited_action": {"name": "send_email", "args": {}}}]},
    {"decisions": [{"type": "approve"}, {"type": "approve"}]},
    {"decisions": "approve"}, "yes", {"type": "approve"},
])
def test_any_other_answer_is_a_reject(engine: rune.Engine, answer: Any) -> None:
    tools = Tools()
    agent = agent_with(engine, calls(OUTSIDE), tools)
    run(agent)
    done = agent.invoke(Command(resume=answer), {"configurable": {"thread_id": "t"}})
    assert tools.ran == []
    assert tool_messages(done)[0].status == "error"
    assert "not one of the allowed decisions" in tool_messages(done)[0].content


def test_an_edit_is_decided_again(engine: rune.Engine) -> None:
    tools = Tools()
    agent = agent_with(engine, calls(OUTSIDE), tools,
                       allowed_decisions=["approve", "edit", "reject"])
    run(agent)
    edit = {"type": "edit", "edited_action": {"name": "send_email",
                                              "args": {"to": "bob@example.com"}}}
    done = agent.invoke(Command(resume={"decisions": [edit]}),
                        {"configurable": {"thread_id": "t"}})
    assert tools.ran == [("send_email", {"to": "bob@example.com"})]
    assert tool_messages(done)[0].content == "sent to bob@example.com"


def test_per_call_mode_interrupts_with_a_tool_approval_request(engine: rune.Engine) -> None:
    tools = Tools()
    agent = agent_with(engine, calls(OUTSIDE), tools, interrupt_mode="per_call",
                       allowed_decisions=["approve", "reject", "respond"])
    paused = run(agent)
    (pending,) = paused["__interrupt__"]
    assert pending.value["type"] == "tool_approval"
    assert pending.value["tool_call_id"] == "call-0-0" and pending.value["name"] == "send_email"
    done = agent.invoke(Command(resume={pending.id: {"type": "respond",
                                                     "message": "I mailed them myself"}}),
                        {"configurable": {"thread_id": "t"}})
    assert tools.ran == []
    message = tool_messages(done)[0]
    assert message.status == "success" and message.content == "I mailed them myself"


# -- async -------------------------------------------------------------------------------------


def test_the_async_path_decides_the_same(engine: rune.Engine) -> None:
    tools = Tools()
    agent = agent_with(engine, calls([("refund", {"order_id": "A-1", "amount": 40}),
                                      ("delete_record", {"record_id": "r1"})],
                                     [("refund", {"order_id": "A-2", "amount": 400})]), tools)
    config = {"configurable": {"thread_id": "a"}}

    async def scenario() -> tuple[Any, Any]:
        paused = await agent.ainvoke({"messages": [{"role": "user", "content": "go"}]},
                                     config)
        done = await agent.ainvoke(Command(resume={"decisions": [{"type": "approve"}]}),
                                   config)
        return paused, done

    paused, done = asyncio.run(scenario())
    assert paused["__interrupt__"][0].value["action_requests"][0]["name"] == "refund"
    assert tools.ran == [("refund", {"order_id": "A-1", "amount": 40}),
                         ("refund", {"order_id": "A-2", "amount": 400})]
    assert [s["config"] for s in tools.seen] == [{"currency": "EUR"}] * 2
    assert [m.status for m in tool_messages(done)] == ["success", "error", "success"]
    assert len(performed(engine)) == 2


# -- failing closed ----------------------------------------------------------------------------


def test_an_unreachable_pdp_denies(caplog: pytest.LogCaptureFixture) -> None:
    tools = Tools()
    url = f"http://127.0.0.1:{free_port()}"
    result = run(agent_with(url, calls([("search_docs", {"query": "x"})]), tools,
                            timeout=2.0))
    assert tools.ran == []
    (message,) = tool_messages(result)
    assert message.status == "error" and "pdp-unreachable" in message.content

    async def async_run() -> Any:
        agent = agent_with(url, calls([("search_docs", {"query": "x"})]), tools)
        return await agent.ainvoke({"messages": [{"role": "user", "content": "go"}]},
                                   {"configurable": {"thread_id": "b"}})

    assert tool_messages(asyncio.run(async_run()))[0].status == "error"
    assert tools.ran == []


@pytest.mark.parametrize("args", [
    {"url": {"__entity": {"type": "Admin", "id": "root"}}},
    {"url": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}},
])
def test_forged_cedar_values_are_denied(engine: rune.Engine, args: dict[str, Any]) -> None:
    tools = Tools()
    result = run(agent_with(rune.Engine(policies='@id("all") permit(principal, action, '
                                        'resource);'), calls([("fetch_url", args)]), tools))
    assert tools.ran == []
    assert "invalid-tool-call" in tool_messages(result)[0].content


def test_a_failing_principal_denies(engine: rune.Engine, caplog: pytest.LogCaptureFixture) \
        -> None:
    tools = Tools()

    def principal(request: Any) -> str:
        raise KeyError("user")

    with caplog.at_level(logging.ERROR, "rune.integrations.langchain"):
        result = run(agent_with(engine, calls([("search_docs", {"query": "x"})]), tools,
                                principal=principal))
    assert tools.ran == []
    assert "internal error (KeyError)" in tool_messages(result)[0].content
    assert "could not decide" in caplog.text


def test_an_ill_formed_principal_denies(engine: rune.Engine) -> None:
    tools = Tools()
    result = run(agent_with(engine, calls([("search_docs", {"query": "x"})]), tools,
                            principal="not a uid"))
    assert tools.ran == [] and tool_messages(result)[0].status == "error"


def test_bad_settings_are_refused() -> None:
    engine = rune.Engine(policies="")
    with pytest.raises(ValueError, match="interrupt_mode"):
        RuneMiddleware(engine, principal=AGENT, interrupt_mode="later")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="allowed_decisions"):
        RuneMiddleware(engine, principal=AGENT, allowed_decisions=["maybe"])  # type: ignore[list-item]
    with pytest.raises(rune.RemoteError):
        RuneMiddleware("ftp://example.com", principal=AGENT)


# -- the context mapping -----------------------------------------------------------------------


def test_tool_context_maps_json_to_cedar() -> None:
    assert tool_context({"a": None, "b": [1, None, "x"], "c": {"d": None, "e": True}}) == \
        {"b": [1, "x"], "c": {"e": True}}
    assert tool_context({"x": 0.5, "y": -12.25, "z": 3.0}) == {
        "x": {"__extn": {"fn": "decimal", "arg": "0.5"}},
        "y": {"__extn": {"fn": "decimal", "arg": "-12.25"}},
        "z": {"__extn": {"fn": "decimal", "arg": "3.0"}}}
    assert tool_context({"p": 0.12345, "q": 1e300, "r": float("nan"), "s": float("-inf")}) == \
        {"p": "0.12345", "q": "1e+300", "r": "nan", "s": "-inf"}
    assert tool_context({"big": 1 << 70, "set": (1, 2), "n": -(1 << 63)}) == \
        {"big": str(1 << 70), "set": [1, 2], "n": -(1 << 63)}


@pytest.mark.parametrize(("args", "message"), [
    ([1, 2], "must be an object"),
    ({1: "x"}, "not a text key"),
    ({"x": object()}, "cannot be a Cedar value"),
    ({"x": {"__entity": {"type": "A", "id": "b"}}}, "Cedar JSON escape"),
    ({"x": b"bytes"}, "cannot be a Cedar value"),
])
def test_tool_context_refuses_what_cedar_cannot_hold(args: Any, message: str) -> None:
    with pytest.raises(ToolMappingError, match=message) as caught:
        tool_context(args)
    assert caught.value.code == "invalid-tool-call"


def test_tool_context_bounds_nesting() -> None:
    deep: Any = "x"
    for _ in range(40):
        deep = {"k": [deep]}
    with pytest.raises(ToolMappingError, match="nested too deeply"):
        tool_context({"deep": deep})
    shallow: Any = "x"
    for _ in range(10):
        shallow = {"k": [shallow]}
    assert tool_context({"ok": shallow})


def test_decimals_reach_cedar(engine: rune.Engine) -> None:
    engine = rune.Engine(policies='@id("cheap") permit(principal, action, resource) when '
                                  '{ context.price.lessThan(decimal("10.0")) };')
    tools = Tools()
    agent = create_agent(calls([("fetch_url", {"url": "x", "price": 9.99}),
                                ("fetch_url", {"url": "y", "price": 10.5})]),
                         tools=tools.all, middleware=[RuneMiddleware(engine, principal=AGENT)])
    result = agent.invoke({"messages": [{"role": "user", "content": "go"}]})
    assert [m.status for m in tool_messages(result)] == ["success", "error"]


# -- against a real `rune serve` ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    bundle = copy_bundle(BUNDLE, tmp_path_factory.mktemp("langchain") / "bundle")
    running = Server(bundle, "--no-watch", env={"RUNE_API_TOKEN": API_TOKEN,
                                                 "RUNE_ADMIN_TOKEN": ADMIN_TOKEN})
    yield running
    running.stop()


def test_against_a_server(server: Server) -> None:
    remote = rune.RemoteEngine(server.url, token=API_TOKEN, admin_token=ADMIN_TOKEN)
    tools = Tools()
    fetch = [("fetch_url", {"url": "https://example.com"})]
    result = run(agent_with(server.url, calls(
        [("search_docs", {"query": "q"}), ("delete_record", {"record_id": "r"})],
        fetch, fetch, fetch, fetch, OUTSIDE), tools, token=API_TOKEN,
        admin_token=ADMIN_TOKEN), "remote")
    assert tools.ran[0] == ("search_docs", {"query": "q"})
    assert tools.seen[0][0]["config"] == {"max_results": 5}
    assert [m.status for m in tool_messages(result)] == \
        ["success", "error", "success", "success", "success", "error"]
    assert "rate-limit:fetch" in tool_messages(result)[-1].content
    assert result["__interrupt__"][0].value["action_requests"][0]["name"] == "send_email"
    assert len(remote.query("performed(p, a, r, t, n)")) == 4
    remote.close()


def test_approvals_go_to_the_server(server: Server) -> None:
    remote = rune.RemoteEngine(server.url, token=API_TOKEN, admin_token=ADMIN_TOKEN)
    tools = Tools()
    agent = agent_with(remote, calls([("refund", {"order_id": "B-1", "amount": 700})]), tools)
    config = {"configurable": {"thread_id": "remote-async"}}

    async def scenario() -> Any:
        paused = await agent.ainvoke({"messages": [{"role": "user", "content": "go"}]},
                                     config)
        assert "__interrupt__" in paused
        return await agent.ainvoke(Command(resume={"decisions": [{"type": "approve"}]}),
                                   config)

    done = asyncio.run(scenario())
    assert tools.ran == [("refund", {"order_id": "B-1", "amount": 700})]
    assert tool_messages(done)[0].content == "refunded 700"
    later = remote.authorize(AGENT, 'Action::"refund"', 'Tool::"refund"', {"amount": 700})
    assert later.decision == "allow" and "approved" in later.reasons
    remote.close()


def test_without_the_admin_token_an_approval_fails_closed(server: Server) -> None:
    tools = Tools()
    # Another principal: the approval of the test above covers the assistant's refunds.
    agent = agent_with(server.url, calls([("refund", {"order_id": "C-1", "amount": 900})]),
                       tools, token=API_TOKEN, principal='Agent::"intern"')
    run(agent, "no-admin")
    done = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}),
                        {"configurable": {"thread_id": "no-admin"}})
    assert tools.ran == []
    assert "no decision could be made" in tool_messages(done)[0].content


def test_an_api_token_is_required(server: Server, tmp_path: Path) -> None:
    tools = Tools()
    result = run(agent_with(server.url, calls([("search_docs", {"query": "q"})]), tools))
    assert tools.ran == [] and tool_messages(result)[0].status == "error"


def test_parallel_asks_are_answered_by_interrupt_id(engine: rune.Engine) -> None:
    # One interrupt per gated call (as HumanInTheLoopMiddleware's per-call mode): with
    # several pending, a client answers each by its id.
    tools = Tools()
    agent = agent_with(engine, calls([("send_email", {"to": "eve@elsewhere.org"}),
                                      ("refund", {"order_id": "D-1", "amount": 300}),
                                      ("search_docs", {"query": "q"})]), tools)
    paused = run(agent)
    assert tools.ran == [("search_docs", {"query": "q"})]  # the allowed call ran
    pending = {i.value["action_requests"][0]["name"]: i.id for i in paused["__interrupt__"]}
    assert set(pending) == {"send_email", "refund"}
    done = agent.invoke(Command(resume={
        pending["send_email"]: {"decisions": [{"type": "reject"}]},
        pending["refund"]: {"decisions": [{"type": "approve"}]}}),
        {"configurable": {"thread_id": "t"}})
    assert tools.ran == [("search_docs", {"query": "q"}),
                         ("refund", {"order_id": "D-1", "amount": 300})]
    by_call = {m.tool_call_id: m for m in tool_messages(done)}
    assert by_call["call-0-0"].status == "error" and "User rejected" in by_call["call-0-0"].content
    assert by_call["call-0-1"].content == "refunded 300"
    assert by_call["call-0-2"].content == "5 results for q"


@pytest.mark.parametrize("call", [
    {"name": 'we"ird\\name', "args": {"x": 1}, "id": "c1", "type": "tool_call"},
    {"name": "search_docs", "args": None, "id": "c2", "type": "tool_call"},
    {"name": "", "args": {}, "id": "c3", "type": "tool_call"},
    # An ask without a call id cannot be reviewed per call.
    {"name": "send_email", "args": {"to": "eve@elsewhere.org"}, "id": None,
     "type": "tool_call"},
])
def test_hostile_calls_are_denied_without_running(engine: rune.Engine, call: Any) -> None:
    # Outside a graph, as LangChain calls the hook: nothing raises, nothing runs.
    from langchain.agents.middleware import ToolCallRequest

    ran: list[Any] = []
    middleware = RuneMiddleware(engine, principal=AGENT, interrupt_mode="per_call")
    request = ToolCallRequest(tool_call=call, tool=None, state={"messages": []},
                              runtime=None)  # type: ignore[arg-type]
    message = middleware.wrap_tool_call(request, ran.append)  # type: ignore[arg-type]
    assert ran == [] and isinstance(message, ToolMessage) and message.status == "error"
    assert message.content.startswith("RUNE denied the tool call")
