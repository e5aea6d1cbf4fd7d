"""An engine imports only what it uses: no Datalog (nor the engine's rule plumbing) without
rules, no schema code without a schema, no extension types until a value needs one (each
is a large import). Nothing RUNE does imports cedarpy, which is only a test oracle."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO

_UNUSED = ("rune.datalog", "rune.cedar.schema", "rune.cedar.extensions", "tomllib", "cedarpy",
           "rune.engine.request_rules", "rune.store.prelude", "rune.engine.explain",
           "rune.engine.proof", "rune.store")


def _modules_after(code: str) -> set[str]:
    script = textwrap.dedent(code) + "\nimport sys\nprint('\\n'.join(sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_a_plain_engine_imports_no_rules_schema_or_extensions() -> None:
    modules = _modules_after("""
        import rune
        engine = rune.Engine(
            policies='permit(principal, action, resource) when { principal.level > 1 };',
            entities='[{"uid": {"type": "A", "id": "a"}, "attrs": {"level": 2}, "parents": []}]')
        assert engine.authorize('A::"a"', 'Action::"x"', 'R::"r"').allowed
    """)
    assert not [m for m in modules if m.startswith(_UNUSED)]


def test_what_is_used_is_imported() -> None:
    modules = _modules_after(r"""
        import rune
        rune.Engine(policies='', rules='.decl a(x: number)\na(1).', schema='entity A;',
                    entities='[{"uid": {"type": "A", "id": "a"}, "attrs": {}, "parents": []}]')
        from rune.cedar import Schema, validate
    """)
    assert {"rune.datalog", "rune.cedar.schema", "rune.engine.request_rules",
            "rune.store.prelude", "rune.store"} <= modules


def test_import_rune_alone_stays_small() -> None:
    modules = _modules_after("import rune")
    assert not [m for m in modules if m.startswith(_UNUSED)]


def test_nothing_rune_does_imports_cedarpy() -> None:
    # A finder placed first refuses cedarpy and records the attempt, so even an import
    # that a `try` would swallow is caught.
    modules = _modules_after('''
        import sys

        attempts = []

        class RefuseCedarpy:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "cedarpy":
                    attempts.append(name)
                    raise ImportError("cedarpy is not available")
                return None

        sys.meta_path.insert(0, RefuseCedarpy())

        import rune
        from rune.cedar import Entities, PolicySet, Request, Schema, authorize, validate

        schema_text = """
            entity Team; entity User in [Team] { level: Long }; entity Doc;
            action read appliesTo { principal: User, resource: Doc };
        """
        entities = ('[{"uid": {"type": "User", "id": "u"}, "attrs": {"level": 2},'
                    ' "parents": [{"type": "Team", "id": "t"}]}]')
        engine = rune.Engine(
            policies="permit(principal, action, resource) when { principal.level > 1 };",
            schema=schema_text, entities=entities)
        assert engine.authorize('User::"u"', 'Action::"read"', 'Doc::"d"').allowed

        schema = Schema.from_str(schema_text)
        policies = PolicySet.from_str(
            "permit(principal in ?principal, action, resource) when { principal.level > 1 };"
            "forbid(principal, action, resource == ?resource);"
            'permit(principal, action == Action::"read", resource);')
        policies = policies.link("policy0", "team", {"?principal": 'Team::"t"'})
        policies = policies.link("policy1", "bad", {"?resource": 'Nope::"x"'})
        result = validate(policies, schema)
        assert {e.policy_id for e in result.errors} == {"bad"}, result.errors
        store = Entities.from_json(entities, schema)
        request = Request('User::"u"', 'Action::"read"', 'Doc::"d"', {}, schema=schema)
        response = authorize(request, policies, store)
        assert str(response.decision) == "allow", response
        assert attempts == [], attempts
    ''')
    assert not [m for m in modules if m.split(".")[0] == "cedarpy"]


def test_a_hook_asking_a_server_imports_only_the_client() -> None:
    # One process per tool call: `rune hook claude-code --url` must not pay for click, the
    # engines, `http.client` (and the `email` package it parses headers with), `ssl` for
    # an http:// server, `urllib` or `decimal`.
    payload = ('{"session_id": "s", "cwd": "/w", "hook_event_name": "PreToolUse", '
               '"tool_name": "Bash", "tool_input": {"command": "ls"}}')
    script = textwrap.dedent("""
        import socket, sys
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        from rune.cli.main import main
        code = main(["hook", "claude-code", "--url", f"http://127.0.0.1:{port}"])
        assert code == 0, code
        print("\\n".join(sys.modules), file=sys.stderr)
    """)
    done = subprocess.run([sys.executable, "-c", script], input=payload, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert '"permissionDecision":"deny"' in done.stdout  # nothing listens: a deny
    modules = set(done.stderr.split())
    assert "rune.remote" in modules
    unwanted = ("click", "rich", "yaml", "rune.cedar", "rune.datalog", "rune.engine.engine",
                "rune.bundle", "rune.store", "http", "email", "ssl", "urllib", "decimal")
    assert not [m for m in modules if m.split(".")[0] in unwanted or m.startswith(unwanted)]


def test_an_engine_imports_no_state_file_code_explain_or_logging_it_does_not_use() -> None:
    modules = _modules_after(f"""
        import rune
        engine = rune.Engine.load({str(REPO / "examples" / "coding-agent")!r})
        assert engine.authorize('Agent::"a1"', 'Action::"read_file"', 'File::"src/app.py"',
                                {{"env": "dev"}}).allowed
    """)
    assert not [m for m in modules if m.startswith(("sqlite3", "rune.store.sqlite",
                                                    "rune.datalog.explain", "logging",
                                                    "rune.datalog.io"))]
