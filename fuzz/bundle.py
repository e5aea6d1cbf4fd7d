"""Fuzz target: bundle directories, loaded with `rune.bundle.load_bundle` and `Engine.load`.

Each input starts from one of the example bundles and edits its tree as the bytes say:
files replaced, cut, spliced with bytes, removed, added under odd names (hidden files,
wrong case, both schema syntaxes, unknown relations), turned into directories or broken
symbolic links; `rune.toml` gets keys with odd values. The tree is written to a
temporary directory and loaded. Loading must end in a `Bundle` or a `RuneError`, in
time; a bundle that loads must start an engine, and its decisions must be safe.

Run: ``python -m fuzz.bundle [libFuzzer options] [corpus dirs]``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fuzz._harness import FuzzFailure, calls, main, odd_text
from fuzz.engine_api import BUNDLES, check_decision
from rune import Engine
from rune.bundle import load_bundle

__all__ = ["check", "edit_tree", "load_tree", "read_example"]

logging.getLogger("rune.bundle").setLevel(logging.ERROR)  # ignored-file warnings, by design

_EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
_NEW_PATHS = ("policies/extra.cedar", "policies/.hidden.cedar", "policies/x.Cedar",
              "rules/extra.dl", "entities/extra.json", "facts/extra.facts",
              "facts/cost_center.facts", "facts/member.facts", "schema.json",
              "schema.cedarschema", "Rune.toml", "rune.toml", "top.cedar",
              "policies/sub/nested.cedar", "entities/x.json.bak")
_SETTINGS = ("[engine]\napproval_ttl_seconds = ", "[history]\nretention_seconds = ",
             "[state]\nsync = ", "[limits]\nrule_max_tuples = ",
             "[limits]\nrule_max_seconds = ", "[limits]\nmax_policy_bytes = ",
             "[limits]\nmax_entities = ", "[limits]\nmax_hierarchy_depth = ",
             "[limits]\nmax_context_depth = ", "[validation]\nmode = ",
             "[bundle]\nname = ", "[limits]\nnope = ")
_SETTING_VALUES = ("1", "0", "-1", "nan", "inf", "1e400", "true", '"warn"', '"off"',
                   '"strict"', "9223372036854775808", '"x"', "[1]", "{a = 1}", "0.001")
_DIRECTORY = object()  # marks a path to create as a directory
_BROKEN_LINK = object()  # marks a path to create as a dangling symbolic link


def read_example(name: str) -> dict[str, Any]:
    """An example bundle's files, by path relative to it."""
    root = _EXAMPLES / name
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


_BASES = {name: read_example(name) for name in BUNDLES}


def edit_tree(fdp: Any) -> dict[str, Any]:
    """An example bundle's tree with the edits the bytes ask for."""
    tree = dict(_BASES[BUNDLES[fdp.ConsumeIntInRange(0, len(BUNDLES) - 1)]])
    for _ in range(fdp.ConsumeIntInRange(1, 5)):
        paths = sorted(tree)
        existing = fdp.ConsumeBool() and paths
        path = fdp.PickValueInList(paths) if existing else fdp.PickValueInList(list(_NEW_PATHS))
        content = tree.get(path, b"")
        step = fdp.ConsumeIntInRange(0, 8)
        if step == 0:
            tree.pop(path, None)
        elif step == 1:
            tree[path] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
        elif step == 2 and isinstance(content, bytes):
            tree[path] = content[:fdp.ConsumeIntInRange(0, len(content))]
        elif step in (3, 4) and isinstance(content, bytes):
            at = fdp.ConsumeIntInRange(0, len(content))
            cut = fdp.ConsumeIntInRange(0, 8) if step == 4 else 0
            tree[path] = content[:at] + fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 32)) \
                + content[at + cut:]
        elif step == 5:
            tree["rune.toml"] = (fdp.PickValueInList(list(_SETTINGS))
                                 + fdp.PickValueInList(list(_SETTING_VALUES)) + "\n").encode()
        elif step == 6:
            tree[path] = _DIRECTORY if fdp.ConsumeBool() else _BROKEN_LINK
        elif step == 7:
            tree[path] = odd_text(fdp, 64).encode("utf-8", "surrogatepass")
        else:
            tree[path] = content * fdp.ConsumeIntInRange(2, 40) if isinstance(content, bytes) \
                else b""
    return tree


def write_tree(tree: dict[str, Any], root: Path) -> None:
    """Create ``tree`` under ``root`` (an empty directory)."""
    for path, content in sorted(tree.items()):
        target = root / path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if content is _DIRECTORY:
                target.mkdir(exist_ok=True)
            elif content is _BROKEN_LINK:
                os.symlink(root / "missing" / "nowhere", target)
            else:
                target.write_bytes(content)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            pass  # a path that clashes with another edit: the tree keeps the first


def load_tree(tree: dict[str, Any]) -> None:
    """Load ``tree`` as a bundle and as an engine, and check what comes out."""
    root = Path(tempfile.mkdtemp(prefix="rune-fuzz-bundle-"))
    try:
        write_tree(tree, root)
        _, error = calls(load_bundle, root)
        if error is not None:
            return
        engine, error = calls(Engine.load, root, clock=lambda: 1_700_000_000.0)
        if error is not None:
            raise FuzzFailure(f"a bundle that loads does not start an engine: {error}")
        try:
            for action in ('Action::"write_file"', 'Action::"select"', 'Action::"deploy"'):
                decision, error = calls(engine.authorize, 'Agent::"a1"', action,
                                        'File::"src/app.py"', {"env": "dev"})
                if error is None:
                    check_decision(engine, decision)
        finally:
            engine.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check(data: bytes) -> None:
    """One fuzz input: the edits to an example bundle."""
    import atheris

    load_tree(edit_tree(atheris.FuzzedDataProvider(data)))


if __name__ == "__main__":
    main(__name__, check)
