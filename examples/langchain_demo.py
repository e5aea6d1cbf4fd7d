"""RUNE in front of a LangChain agent, offline: a scripted chat model calls the tools of a
support agent, and `RuneMiddleware` decides each call with the policies and rules of
examples/langchain-agent — allowed (with configuration for the tool), denied, rate
limited, or paused for a human's approval and resumed.

    python examples/langchain_demo.py                        # in-process engine
    python examples/langchain_demo.py --url http://127.0.0.1:8180   # a running `rune serve`
                                                             # (RUNE_API_TOKEN, RUNE_ADMIN_TOKEN)

Needs `pip install 'rune[langchain]'`.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain.tools import ToolRuntime
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

import rune
from rune.integrations.langchain import RuneMiddleware, rune_decision

BUNDLE = Path(__file__).resolve().parent / "langchain-agent"


class ScriptedChatModel(GenericFakeChatModel):
    """Answers with the next scripted message; binding tools returns the model itself
    (the stock fakes do not implement `bind_tools`)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self


_TURNS = itertools.count(1)


def turn(*calls: tuple[str, dict[str, Any]]) -> AIMessage:
    """One model turn that makes these tool calls."""
    number = next(_TURNS)
    return AIMessage(content="", tool_calls=[
        {"name": name, "args": args, "id": f"call-{number}-{i}", "type": "tool_call"}
        for i, (name, args) in enumerate(calls)])


@tool
def search_docs(query: str, runtime: ToolRuntime[Any, Any]) -> str:
    """Search the support documentation."""
    config = (rune_decision(runtime) or {}).get("config", {})
    return f"top {config.get('max_results')} articles for {query!r}"


@tool
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email."""
    config = (rune_decision() or {}).get("config", {})
    return (f"sent {subject!r} to {to}, signed {config.get('signature')!r}, "
            f"bcc {config.get('bcc')}")


@tool
def refund(order_id: str, amount: int) -> str:
    """Refund an order."""
    currency = (rune_decision() or {}).get("config", {}).get("currency")
    return f"refunded {amount} {currency} on {order_id}"


@tool
def delete_record(record_id: str) -> str:
    """Delete a customer record."""
    return f"deleted {record_id}"


@tool
def fetch_url(url: str) -> str:
    """Fetch a web page."""
    return f"fetched {url}"


def show(messages: list[Any], seen: set[str]) -> None:
    for message in messages:
        if isinstance(message, ToolMessage) and message.id not in seen:
            seen.add(str(message.id))
            verdict = "ALLOW" if message.status == "success" else "DENY"
            print(f"  {verdict:5} {message.name}: {message.content}")


def main(argv: list[str]) -> None:
    if argv[:1] == ["--url"] and len(argv) == 2:
        engine: Any = rune.RemoteEngine(argv[1], token=os.environ.get("RUNE_API_TOKEN"),
                                        admin_token=os.environ.get("RUNE_ADMIN_TOKEN"))
    else:
        engine = rune.Engine.load(BUNDLE)
    model = ScriptedChatModel(messages=iter([
        turn(("search_docs", {"query": "refund policy"}),
             ("send_email", {"to": "bob@example.com", "subject": "ticket 42",
                             "body": "see the policy"})),
        turn(("refund", {"order_id": "A-17", "amount": 40}),
             ("delete_record", {"record_id": "customer-9"})),
        *(turn(("fetch_url", {"url": "https://status.example.com"})) for _ in range(4)),
        turn(("send_email", {"to": "eve@elsewhere.org", "subject": "your refund",
                             "body": "done"})),
        AIMessage(content="All done."),
    ]))
    middleware = RuneMiddleware(engine, principal='Agent::"assistant"')
    agent = create_agent(model, tools=[search_docs, send_email, refund, delete_record,
                                       fetch_url],
                         middleware=[middleware], checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "demo"}}
    seen: set[str] = set()

    print("The agent works through its tool calls:")
    result = agent.invoke({"messages": [{"role": "user", "content": "Handle ticket 42."}]},
                          config)
    show(result["messages"], seen)
    for pending in result.get("__interrupt__", []):
        request = pending.value["action_requests"][0]
        print(f"  ASK   {request['name']}: {request['description'].splitlines()[0]}")
        print(f"        (allowed: {pending.value['review_configs'][0]['allowed_decisions']})")
    print("A human approves; the run resumes:")
    result = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config)
    show(result["messages"], seen)
    print(f"Agent: {result['messages'][-1].content}")
    middleware.close()


if __name__ == "__main__":
    main(sys.argv[1:])
