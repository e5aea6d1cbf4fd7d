"""Every example runs, and prints the decisions it documents."""

from __future__ import annotations

import runpy

import pytest

from tests.conftest import REPO


def test_cedar_demo(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(REPO / "examples" / "cedar_demo.py"), run_name="__main__")
    out = capsys.readouterr().out
    decisions = [line.split()[0] for line in out.splitlines() if line[:5].strip() in
                 ("ALLOW", "DENY")]
    assert decisions == ["ALLOW", "DENY", "ALLOW", "DENY", "ALLOW", "DENY", "ALLOW", "DENY",
                         "DENY"]
    assert "because no-secrets (policy2)" in out
    assert "internal error" not in out


def test_coding_agent_demo(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(REPO / "examples" / "coding_agent_demo.py"), run_name="__main__")
    out = capsys.readouterr().out
    decisions = [line.split()[0] for line in out.splitlines()
                 if line[:5].strip() in ("ALLOW", "DENY", "ASK")]
    assert decisions == ["ALLOW", "ALLOW", "DENY", "ASK", "DENY", "ALLOW", "ALLOW", "DENY",
                         "ALLOW"]
    assert "review=required" in out and "formatter=prettier" in out
    assert 'rate-limit:api:Agent::"a2"' in out


def test_langchain_demo(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(REPO / "examples" / "langchain_demo.py"), run_name="__main__")
    out = capsys.readouterr().out
    decisions = [(line.split()[0], line.split()[1]) for line in out.splitlines()
                 if line[:7].strip() in ("ALLOW", "DENY", "ASK")]
    assert decisions == [("ALLOW", "search_docs:"), ("ALLOW", "send_email:"),
                         ("ALLOW", "refund:"), ("DENY", "delete_record:"),
                         ("ALLOW", "fetch_url:"), ("ALLOW", "fetch_url:"),
                         ("ALLOW", "fetch_url:"), ("DENY", "fetch_url:"),
                         ("ASK", "send_email:"), ("ALLOW", "send_email:")]
    assert "top 5 articles" in out and "refunded 40 EUR" in out
    assert "signed 'The Support Team', bcc archive@example.com" in out
    assert 'rate-limit:fetch:Agent::"assistant"' in out and "no-deletes" in out
    assert out.rstrip().endswith("Agent: All done.")


def test_claude_code_demo(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(REPO / "examples" / "claude_code_demo.py"), run_name="__main__")
    out = capsys.readouterr().out
    verdicts = [line.split()[0] for line in out.splitlines()
                if line[:5].strip() in ("ALLOW", "DENY", "ASK", "OK")]
    assert verdicts == ["ALLOW", "ALLOW", "DENY", "DENY", "ALLOW", "ASK", "ASK", "ALLOW",
                        "OK"]
    assert "push-needs-review, approved" in out and '"formatter": "black"' in out
    assert 'commands recorded in rune-state.db: Command::\\"pytest -q\\"' in out
