"""How Cedar entities appear to Datalog rules, and how derived facts flow back to Cedar.

Every entity in the store is visible to rules as facts. A uid is written as Cedar
syntax *as it appears inside a Datalog string literal*: Soufflé keeps escapes in
symbols, so `Team::"infra"` is the symbol you write as `"Team::\\"infra\\""` in a rule,
and that exact text is what the facts hold (`uid_text`):

| relation                          | one fact per                                        |
|-----------------------------------|-----------------------------------------------------|
| `entity(uid, type)`               | entity                                              |
| `parent(child, parent)`           | direct parent edge                                  |
| `attr(uid, name, value)`          | String, Bool (`"true"`/`"false"`), entity or        |
|                                   | extension attribute (value as text)                 |
| `attr_num(uid, name, value)`      | Long attribute                                      |
| `member(uid, name, element)`      | element of a Set attribute (`member_num` for Longs) |
| `tag(uid, key, value)`            | tag (`tag_num` for Long tags)                       |

Nested records are flattened with dots: `{"address": {"city": "Paris"}}` gives
`attr(uid, "address.city", "Paris")`.

Rules feed Cedar back only through standard Cedar constructs, by deriving:
`derived_parent(child, parent)`, `derived_attr(uid, name, value)` (a String, or an
entity when the value parses as a uid), `derived_attr_num(uid, name, value)` and
`derived_tag(uid, key, value)`. They are materialized into the entity store whenever
the store changes, so the policies stay plain Cedar.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rune.cedar.json_format import EntityData
from rune.cedar.values import CedarRecord, CedarSet, EntityUID

__all__ = [
    "DERIVED_RELATIONS",
    "ENTITY_RELATIONS",
    "entity_facts",
    "parse_uid_text",
    "uid_text",
    "value_text",
]

ENTITY_RELATIONS: dict[str, str] = {
    "entity": "uid: symbol, type: symbol",
    "parent": "child: symbol, parent: symbol",
    "attr": "uid: symbol, name: symbol, value: symbol",
    "attr_num": "uid: symbol, name: symbol, value: number",
    "member": "uid: symbol, name: symbol, element: symbol",
    "member_num": "uid: symbol, name: symbol, element: number",
    "tag": "uid: symbol, key: symbol, value: symbol",
    "tag_num": "uid: symbol, key: symbol, value: number",
}

DERIVED_RELATIONS: dict[str, str] = {
    "derived_parent": "child: symbol, parent: symbol",
    "derived_attr": "uid: symbol, name: symbol, value: symbol",
    "derived_attr_num": "uid: symbol, name: symbol, value: number",
    "derived_tag": "uid: symbol, key: symbol, value: symbol",
}

_UID_TEXT = re.compile(
    r'([_a-zA-Z][_a-zA-Z0-9]*(?:::[_a-zA-Z][_a-zA-Z0-9]*)*)::\\"((?:[^"\\]|\\.)*)\\"\Z', re.S
)


def uid_text(uid: EntityUID) -> str:
    """A uid as rules see it: `Type::\\"id\\"` (quotes escaped, as in a rule's literal)."""
    escaped = uid.id.replace("\\", "\\\\").replace('"', '\\"')
    return f'{uid.type}::\\"{escaped}\\"'


def parse_uid_text(text: str) -> EntityUID | None:
    """The uid written as `uid_text` writes it, or None if ``text`` is not one."""
    m = _UID_TEXT.match(text)
    if m is None:
        return None
    raw = m.group(2)
    out = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            out.append(raw[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return EntityUID(m.group(1), "".join(out))


def value_text(value: Any) -> str:
    """The text form of a non-Long scalar attribute value (entities as `uid_text`)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value.__class__ is str:
        return value  # type: ignore[no-any-return]
    if value.__class__ is EntityUID:
        return uid_text(value)
    return str(value)


def _attr_facts(uid: str, name: str, value: Any, out: dict[str, list[tuple[Any, ...]]],
                scalar: str, number: str, member: str | None) -> None:
    cls = value.__class__
    if cls is int:
        out[number].append((uid, name, value))
    elif cls is CedarRecord:
        for key, inner in value.items():
            _attr_facts(uid, f"{name}.{key}", inner, out, scalar, number, member)
    elif cls is CedarSet:
        if member is None:
            return
        for element in value:
            if element.__class__ is int:
                out[f"{member}_num"].append((uid, name, element))
            elif element.__class__ not in (CedarSet, CedarRecord):
                out[member].append((uid, name, value_text(element)))
    else:
        out[scalar].append((uid, name, value_text(value)))


def entity_facts(entities: Iterable[EntityData]) -> dict[str, list[tuple[Any, ...]]]:
    """The facts (by relation) that describe these entities."""
    out: dict[str, list[tuple[Any, ...]]] = {name: [] for name in ENTITY_RELATIONS}
    for e in entities:
        uid = uid_text(e.uid)
        out["entity"].append((uid, e.uid.type))
        for p in e.parents:
            out["parent"].append((uid, uid_text(p)))
        for name, value in e.attrs.items():
            _attr_facts(uid, name, value, out, "attr", "attr_num", "member")
        for key, value in e.tags.items():
            _attr_facts(uid, key, value, out, "tag", "tag_num", None)
    return out
