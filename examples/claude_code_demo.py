"""RUNE in front of Claude Code: the real `rune hook claude-code` on Claude Code's payloads.

Run with `.venv/bin/python examples/claude_code_demo.py`. Each step starts the hook as
Claude Code does (one process per tool call, the payload on stdin) with the
`examples/claude-code/` bundle and a scratch state file shared by every process, and
prints what Claude Code would read: allow, deny or ask, the reason, the configuration
sent as context. A human then approves the push (as `engine.approve` on the same state
file), and a `PostToolUse` records a command the rules count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import rune

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "claude-code"
PAYLOADS = BUNDLE / "payloads"


def hook(name: str, state: Path) -> dict[str, object]:
    """Run `rune hook claude-code` on one payload file, as Claude Code would."""
    script = Path(sys.executable).with_name("rune")
    command = [str(script)] if script.exists() else [
        sys.executable, "-c", "import sys; from rune.cli.main import main; sys.exit(main())"]
    done = subprocess.run([*command, "hook", "claude-code", "--bundle", str(BUNDLE),
                           "--state", str(state)],
                          input=(PAYLOADS / f"{name}.json").read_bytes(),
                          capture_output=True, check=False)
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def show(name: str, state: Path) -> None:
    payload = json.loads((PAYLOADS / f"{name}.json").read_text())
    answer = hook(name, state)
    call = f"{payload['hook_event_name']} {payload['tool_name']} " \
           f"{json.dumps(payload['tool_input'])[:60]}"
    out = answer.get("hookSpecificOutput")
    if isinstance(out, dict) and "permissionDecision" in out:
        print(f"{str(out['permissionDecision']).upper():5}  {call}")
        print(f"       {out['permissionDecisionReason']}")
        if "additionalContext" in out:
            print(f"       context: {out['additionalContext']}")
    elif isinstance(out, dict):
        decision = out["decision"]
        assert isinstance(decision, dict)
        print(f"{str(decision['behavior']).upper():5}  {call}")
    elif "systemMessage" in answer:
        print(f"ASK    {call}  (Claude Code shows its permission dialog)")
        print(f"       {answer['systemMessage']}")
    else:
        print(f"OK     {call}  (recorded)")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        state = Path(scratch) / "rune-state.db"
        for name in ("pre-bash-tests", "pre-edit", "pre-read-env", "pre-write-outside",
                     "pre-mcp-search", "pre-git-push", "permission-git-push"):
            show(name, state)
        print("\na human approves the push for ten minutes\n")
        with rune.Engine.load(BUNDLE, state=state) as engine:
            engine.approve('Agent::"claude-code"', 'Action::"Bash"',
                           'Command::"git push origin main"', ttl_seconds=600)
        show("pre-git-push", state)
        show("post-bash-tests", state)
        with rune.Engine.load(BUNDLE, state=state) as engine:
            ran = engine.query('performed(p, "Action::\\"Bash\\"", r, at, seq)')
        # (Rules see a uid as text with its quotes escaped: `Command::\"pytest -q\"`.)
        print(f"\ncommands recorded in {state.name}: {', '.join(r[2] for r in ran)}")


if __name__ == "__main__":
    main()
