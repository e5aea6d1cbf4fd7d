"""What `RuneMiddleware` costs per tool call of a LangChain agent.

The same agent (`create_agent`, a scripted chat model, one `@tool`) runs a fixed script
of tool calls without the middleware, with it on an in-process `rune.Engine`, and with it
on a `rune serve` started here on a loopback port (through `rune.RemoteEngine`). Every
call is allowed by examples/langchain-agent (`search_docs`: a decision that derives
configuration), so each one is decided, run and recorded. Runs of the three agents are
interleaved; the figure per agent is the median over runs of (run time / tool calls).
The overhead is the difference from the agent without the middleware; the ratio is the
agent's time per tool call with the middleware over without. An agent with a no-op
`wrap_tool_call` middleware shows what LangChain itself charges for wrapping tool calls.
Agent-level figures include LangGraph's thread per tool step, so on a busy machine they
are noisy; "wrap_tool_call alone" calls `RuneMiddleware.wrap_tool_call` directly around
a tool that returns at once (its own time per call, decision and record included), and
the bare `authorize` + `record` pair is timed on each engine for scale.

Run: `.venv/bin/python benchmarks/langchain_middleware.py [--calls N] [--runs N]`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ToolCallRequest
from langchain.tools import ToolRuntime
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

import rune
from rune.integrations.langchain import RuneMiddleware

BUNDLE = Path(__file__).resolve().parent.parent / "examples" / "langchain-agent"
AGENT = 'Agent::"assistant"'
API_TOKEN, ADMIN_TOKEN = "bench-api-token-0123456789", "bench-admin-token-0123456789"


class ScriptedChatModel(GenericFakeChatModel):
    """Answers with the next scripted message; binding tools returns the model itself."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self


@tool
def search_docs(query: str) -> str:
    """Search the support documentation."""
    return f"results for {query}"


def scripted_model(calls: int) -> ScriptedChatModel:
    """`calls` turns of one tool call each, then an answer; over and over."""
    script = [AIMessage(content="", tool_calls=[{"name": "search_docs",
                                                  "args": {"query": f"q{i}"},
                                                  "id": f"call-{i}", "type": "tool_call"}])
              for i in range(calls)]
    return ScriptedChatModel(messages=itertools.cycle([*script, AIMessage(content="ok")]))


class Noop(AgentMiddleware):  # type: ignore[type-arg]
    """Passes every tool call through: the cost of any `wrap_tool_call` middleware."""

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return handler(request)


def agent_runner(calls: int, middleware: AgentMiddleware | None) -> Callable[[], float]:  # type: ignore[type-arg]
    agent = create_agent(scripted_model(calls), tools=[search_docs],
                         middleware=[middleware] if middleware else [])

    def run() -> float:
        start = time.perf_counter()
        result = agent.invoke({"messages": [{"role": "user", "content": "go"}]})
        elapsed = time.perf_counter() - start
        messages = [m for m in result["messages"] if isinstance(m, ToolMessage)]
        if len(messages) != calls or any(m.status != "success" for m in messages):
            raise SystemExit(f"unexpected run: {[m.content for m in messages][:3]}")
        return elapsed / calls

    return run


def inside_runner(calls: int, middleware: RuneMiddleware) -> Callable[[], float]:
    """`middleware.wrap_tool_call` alone, on the request LangGraph would give it, around a
    tool that returns at once: the middleware's own time per call."""
    runtime = ToolRuntime(state={"messages": []}, context=None, config={},
                          stream_writer=lambda _: None, tool_call_id=None, store=None)
    requests = [ToolCallRequest(tool_call={"name": "search_docs", "args": {"query": f"q{i}"},
                                           "id": f"call-{i}", "type": "tool_call"},
                                tool=search_docs, state={"messages": []},
                                runtime=replace(runtime, tool_call_id=f"call-{i}"))
                for i in range(calls)]

    def handler(request: ToolCallRequest) -> ToolMessage:
        return ToolMessage(content="ok", tool_call_id=request.tool_call["id"] or "")

    def run() -> float:
        start = time.perf_counter()
        for request in requests:
            message = middleware.wrap_tool_call(request, handler)
            if not isinstance(message, ToolMessage) or message.status != "success":
                raise SystemExit(f"unexpected result: {message}")
        return (time.perf_counter() - start) / calls

    return run


def pair_runner(engine: Any, calls: int) -> Callable[[], float]:
    triple = (AGENT, 'Action::"search_docs"', 'Tool::"search_docs"')

    def run() -> float:
        start = time.perf_counter()
        for i in range(calls):
            if str(engine.authorize(*triple, {"query": f"q{i}"}).decision) != "allow":
                raise SystemExit("the benchmark's request is not allowed")
            engine.record(*triple)
        return (time.perf_counter() - start) / calls

    return run


class Server:
    """`rune serve` on a free loopback port, for the remote figures."""

    def __init__(self, bundle: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        script = Path(sys.executable).with_name("rune")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "rune.cli.main"]
        env = {**os.environ, "RUNE_API_TOKEN": API_TOKEN, "RUNE_ADMIN_TOKEN": ADMIN_TOKEN}
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen([*command, "serve", str(bundle), "--port",
                                         str(self.port), "--no-watch"],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"rune serve exited:\n{self.log.read().decode()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("rune serve did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)
        self.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="tool calls per run [20]")
    parser.add_argument("--runs", type=int, default=15, help="runs of each agent [15]")
    parser.add_argument("--skip-remote", action="store_true", help="no `rune serve` figures")
    args = parser.parse_args()

    engine = rune.Engine.load(BUNDLE)
    local = RuneMiddleware(engine, principal=AGENT)
    runners: dict[str, Callable[[], float]] = {
        "agent without RUNE": agent_runner(args.calls, None),
        "agent + a no-op middleware": agent_runner(args.calls, Noop()),
        "agent + RuneMiddleware (in-process)": agent_runner(args.calls, local),
        "wrap_tool_call alone (in-process)": inside_runner(args.calls, local),
        "authorize + record (in-process)": pair_runner(engine, args.calls),
    }
    server = remote = None
    if not args.skip_remote:
        server = Server(BUNDLE)
        remote_engine = rune.RemoteEngine(server.url, token=API_TOKEN, admin_token=ADMIN_TOKEN)
        remote = RuneMiddleware(remote_engine, principal=AGENT)
        runners["agent + RuneMiddleware (rune serve)"] = agent_runner(args.calls, remote)
        runners["wrap_tool_call alone (rune serve)"] = inside_runner(args.calls, remote)
        runners["authorize + record (rune serve)"] = pair_runner(remote_engine, args.calls)
    try:
        for run in runners.values():
            run()  # warm up: imports, compiled graphs, connections, caches
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.runs):
            for name, run in runners.items():  # interleaved, so drift hits all alike
                times[name].append(run())
    finally:
        local.close()
        if remote is not None:
            remote.close()
        if server is not None:
            server.stop()

    median = {name: statistics.median(values) * 1000 for name, values in times.items()}
    base = median["agent without RUNE"]
    print(f"{args.calls} tool calls per run, median of {args.runs} runs, per tool call "
          f"(langchain {version('langchain')}, langgraph {version('langgraph')})")
    print(f"{'':40} {'ms/call':>9} {'overhead ms':>12} {'ratio':>7}")
    print(f"{'agent without RUNE':40} {base:9.3f}")
    for name, value in median.items():
        if name == "agent without RUNE":
            continue
        if name.startswith("agent + "):
            print(f"{name:40} {value:9.3f} {value - base:12.3f} {value / base:7.2f}")
        else:
            print(f"{name:40} {value:9.3f}")


def version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


if __name__ == "__main__":
    main()
