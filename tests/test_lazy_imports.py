"""An engine imports only what it uses: no Datalog (nor the engine's rule plumbing) without
rules, no schema code without a schema, no extension types until a value needs one (each
is a large import)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_UNUSED = ("rune.datalog", "rune.cedar.schema", "rune.cedar.extensions", "tomllib", "cedarpy",
           "rune.engine.request_rules", "rune.store.prelude", "rune.engine.explain",
           "rune.engine.proof", "rune.store")


def _modules_after(code: str) -> set[str]:
    script = textwrap.dedent(code) + "\nimport sys\nprint('\\n'.join(sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True).stdout
    return set(out.split())


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
