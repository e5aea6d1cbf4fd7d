"""Helpers for the bundle tests: write a bundle from a dict of files, and read a load's
diagnostics as (code, where, message) with paths relative to the bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from rune.bundle import Bundle, BundleError, load_bundle
from rune.errors import Diagnostic, RuneError

POLICY = '@id("allow-all")\npermit(principal, action, resource);\n'
SCHEMA = """entity User { suspended: Bool, level: Long };
entity Doc;
action read appliesTo { principal: User, resource: Doc };
"""


def write_bundle(root: Path, files: dict[str, str | bytes]) -> Path:
    """Create ``root`` with ``files`` (path relative to ``root`` -> text or bytes)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        file = root / name
        file.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            file.write_bytes(content)
        else:
            file.write_text(content)
    return root


def where(d: Diagnostic, root: Path) -> str:
    """`file:line:column` or `file: json path` (or just `file`), relative to ``root``."""
    text = f"{d.span.file}:{d.span.line}:{d.span.column}" if d.span is not None else d.path
    assert text is not None
    return text.replace(f"{root}/", "").replace(str(root), ".")


def found(error: RuneError, root: Path) -> list[tuple[str, str, str]]:
    """Every diagnostic of ``error`` as (code, where, message), in report order."""
    return [(d.code, where(d, root), d.message.replace(f"{root}/", ""))
            for d in error.diagnostics]


def load_errors(root: Path) -> list[tuple[str, str, str]]:
    """The diagnostics loading ``root`` raises (the load must fail with `BundleError`)."""
    with pytest.raises(BundleError) as info:
        load_bundle(root)
    return found(info.value, root)


def load_warnings(root: Path) -> list[tuple[str, str, str]]:
    """The warnings of a bundle that loads."""
    bundle: Bundle = load_bundle(root)
    return [(d.code, where(d, root), d.message.replace(f"{root}/", ""))
            for d in bundle.warnings]
