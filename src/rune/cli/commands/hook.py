"""`rune hook`: answer an agent's hooks with RUNE's decisions (`rune hook claude-code`).

`rune hook claude-code (--bundle DIR | --url URL) [--state FILE] [--principal UID]
[--no-cache]` reads one Claude Code hook payload (`PreToolUse`, `PostToolUse`,
`PermissionRequest`) on stdin and prints Claude Code's JSON answer on stdout. It always
answers: bad input, a bundle that does not load or a server that cannot be reached is a
deny that says why (exit 0 with the event's JSON; exit 2, blocking, when the event
itself is unknown). With `--bundle` the compiled bundle is kept in RUNE's cache
directory between calls (`rune.bundle.cache`; `--no-cache` does without).
The mapping is in docs/integrations.md; the work is in `rune.cli._hook`, which
`rune.cli.main` also runs directly (without click) to keep a hook's start-up short.
"""

from __future__ import annotations

import click

__all__ = ["command"]


@click.group("hook")
def command() -> None:
    """Answer an agent's hooks (one payload on stdin, its answer on stdout)."""


@command.command("claude-code")
@click.option("--bundle", metavar="DIR", help="decide in-process with this bundle")
@click.option("--url", metavar="URL",
              help="decide with a running `rune serve` (tokens: RUNE_API_TOKEN, and "
                   "RUNE_ADMIN_TOKEN to record PostToolUse)")
@click.option("--state", metavar="FILE",
              help="with --bundle: a state file shared by every hook process (history, "
                   "approvals)")
@click.option("--principal", metavar="UID", help='default: Agent::"claude-code"')
@click.option("--timeout", type=float, default=5.0, show_default=True,
              help="seconds to wait for the server (--url), or for a state file another "
                   "hook process holds (--state)")
@click.option("--no-cache", is_flag=True,
              help="with --bundle: compile the bundle from its files, without reading or "
                   "writing RUNE's cache ($RUNE_CACHE_DIR, else ~/.cache/rune)")
def claude_code(bundle: str | None, url: str | None, state: str | None,
                principal: str | None, timeout: float, no_cache: bool) -> int:
    """Answer a Claude Code hook: PreToolUse (allow/deny/ask), PermissionRequest
    (allow/deny) and PostToolUse (records the action). Register it in settings.json with
    `"onFailure": "block"`."""
    from rune.cli._hook import fast_path

    # (Only `--help` stops here; `rune.cli.main` runs the hook before click is imported.)
    args = [f"--{k}={v}" for k, v in (("bundle", bundle), ("url", url), ("state", state),
                                       ("principal", principal), ("timeout", timeout))
            if v is not None]
    code = fast_path([*args, *(["--no-cache"] if no_cache else [])])
    return 2 if code is None else code
