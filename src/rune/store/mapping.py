"""How Cedar entities and request contexts appear to Datalog rules, and how derived facts
flow back to Cedar: one exact mapping, each value kind in its own relation.

**Symbols.** Every text a rule sees is written as it would be inside a Datalog string
literal (Soufflé keeps escapes in symbols): `\\` as `\\\\`, `"` as `\\"`, and newline,
carriage return and tab as `\\n`, `\\r`, `\\t` (`symbol`). So the literal a rule author
writes, `"Team::\\"infra\\""` or `"say \\"hi\\""`, is exactly the symbol the facts hold. A
uid is its Cedar text as a symbol (`uid_text`). What leaves the rules for a caller
(configuration values, obligation keys, reasons, derived attributes) is read back with
`text_of`, so a rate-limit key reads `api:Agent::"a2"`, as Cedar writes the uid.

**Kinds.** A value's kind picks the relation, so a rule can tell them apart (the string
`"true"` is not the boolean, nor is a string that looks like a uid an entity):

| suffix      | Cedar value                | the value column(s)                              |
|-------------|----------------------------|--------------------------------------------------|
| (none)      | String                     | the string, as a symbol                          |
| `_num`      | Long                       | the number                                       |
| `_bool`     | Bool                       | `"true"` or `"false"`                            |
| `_entity`   | entity reference           | the uid, as a symbol                             |
| `_ext`      | ip/decimal/datetime/...    | two columns: the function name and its argument  |

For entities: `entity(uid, type)`, `parent(child, parent)`, `attr<kind>(uid, name, ...)`,
`member<kind>(uid, name, ...)` for each element of a Set attribute, `tag<kind>(uid, key,
...)`. For the request (see `rune.store.prelude`): `context<kind>(key, ...)` and
`context_member<kind>(key, ...)`. Nested records become *paths*: the keys joined by `.`,
a `.` or `\\` inside a key escaped with `\\` (`{"a": {"b": 1}}` is `a.b`, `{"a.b": 1}`
is `a\\.b`, written `"a\\\\.b"` in a rule). Sets inside sets and records inside sets are
not shown to rules.

**Back to Cedar.** Rules derive `derived_parent(child, parent)` and
`derived_attr<kind>(uid, name, ...)` / `derived_tag<kind>(uid, key, ...)` with the same
kinds; each becomes exactly that Cedar value (`derived_attr(u, "n", "Team::\\"x\\"")` is
a String, `derived_attr_entity(u, "n", "Team::\\"x\\"")` the entity). Names are attribute
names, not paths. They are materialized into the entity store whenever it changes, so
policies stay plain Cedar.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from rune.cedar.json_format import EntityData
from rune.cedar.values import CedarRecord, CedarSet, EntityUID

__all__ = [
    "CONTEXT_RELATIONS",
    "DERIVED_RELATIONS",
    "ENTITY_RELATIONS",
    "KINDS",
    "context_facts",
    "derived_value",
    "entity_facts",
    "name_of",
    "parse_uid_text",
    "path_key",
    "symbol",
    "text_of",
    "uid_text",
    "value_columns",
]

Row = tuple[Any, ...]

# Each kind: relation-name suffix -> the Datalog columns of the value.
KINDS: dict[str, str] = {
    "": "value: symbol",
    "_num": "value: number",
    "_bool": "value: symbol",
    "_entity": "value: symbol",
    "_ext": "function: symbol, argument: symbol",
}


def _family(prefix: str, key_columns: str) -> dict[str, str]:
    return {f"{prefix}{suffix}": f"{key_columns}, {columns}" for suffix, columns in
            KINDS.items()}


ENTITY_RELATIONS: dict[str, str] = {
    "entity": "uid: symbol, type: symbol",
    "parent": "child: symbol, parent: symbol",
    **_family("attr", "uid: symbol, name: symbol"),
    **_family("member", "uid: symbol, name: symbol"),
    **_family("tag", "uid: symbol, key: symbol"),
}

CONTEXT_RELATIONS: dict[str, str] = {
    **_family("context", "key: symbol"),
    **_family("context_member", "key: symbol"),
}

DERIVED_RELATIONS: dict[str, str] = {
    "derived_parent": "child: symbol, parent: symbol",
    **_family("derived_attr", "uid: symbol, name: symbol"),
    **_family("derived_tag", "uid: symbol, key: symbol"),
}

# -- symbols -------------------------------------------------------------------------------

_SPECIAL = re.compile(r'[\\"\n\r\t]')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPED = re.compile(r"\\(.)", re.S)
_UNESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


def symbol(text: str) -> str:
    """``text`` as a Datalog string literal would hold it (see the module docstring)."""
    if _SPECIAL.search(text) is None:
        return text
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group()], text)


def text_of(value: str) -> str:
    """The text a symbol stands for (`symbol` inverted; unknown escapes stay as written)."""
    if "\\" not in value:
        return value
    return _ESCAPED.sub(lambda m: _UNESCAPES.get(m.group(1), m.group()), value)


def uid_text(uid: EntityUID) -> str:
    """A uid as rules see it: its Cedar text as a symbol (`Type::\\"id\\"`)."""
    text = _UID_TEXTS.get(uid)
    if text is None:
        if len(_UID_TEXTS) >= _UID_TEXTS_MAX:
            _UID_TEXTS.clear()
        ident = uid[1]
        if ident.isascii() and ident.isprintable() and '"' not in ident \
                and "\\" not in ident and "'" not in ident:
            # The common id needs no escape: `str(uid)` quotes it as is, and `symbol`
            # escapes just the two quotes (the regex pass costs more than the rest).
            text = f'{uid[0]}::\\"{ident}\\"'
        else:
            text = symbol(str(uid))
        _UID_TEXTS[uid] = text
    return text


# Uid texts of recent requests and records: the same agents and tools come back again and
# again, and writing a uid's Cedar text escapes its id character by character.
_UID_TEXTS: dict[EntityUID, str] = {}
_UID_TEXTS_MAX = 1 << 14


def parse_uid_text(text: str) -> EntityUID | None:
    """The uid whose `uid_text` is ``text``, or None if ``text`` is not one."""
    if '::\\"' not in text:
        return None
    from rune.cedar.request import to_entity_uid
    from rune.errors import RuneError

    try:
        return to_entity_uid(text_of(text), "$")
    except RuneError:
        return None


def path_key(prefix: str, key: str) -> str:
    """The path of ``key`` inside the record at path ``prefix`` ("" at the top)."""
    if "." in key or "\\" in key:
        key = key.replace("\\", "\\\\").replace(".", "\\.")
    return f"{prefix}.{key}" if prefix else key


_PATH_ESCAPE = re.compile(r"\\([.\\])")


def name_of(path: str) -> str:
    """A derived attribute or tag name: one path segment, so `\\.` is a dot and `\\\\` a
    backslash (names read from `attr` facts come back as they were); other text, dots
    included, is the name as written."""
    return _PATH_ESCAPE.sub(r"\1", path) if "\\" in path else path


# -- values ------------------------------------------------------------------------------------

def value_columns(value: Any) -> tuple[str, Row] | None:
    """The kind suffix and the value columns of a scalar Cedar value (None for records and
    sets, which are not scalars)."""
    cls = value.__class__
    if cls is str:
        return "", (symbol(value),)
    if cls is int:
        return "_num", (value,)
    if cls is bool:
        return "_bool", ("true" if value else "false",)
    if cls is EntityUID:
        return "_entity", (uid_text(value),)
    if cls is CedarRecord or cls is CedarSet:
        return None
    from rune.cedar.json_format import value_to_json

    extension = value_to_json(value)["__extn"]
    return "_ext", (symbol(extension["fn"]), symbol(extension["arg"]))


def _facts(out: dict[str, list[Row]], place: str, members: str | None, head: Row,
           path: str, value: Any) -> None:
    """The facts of one (possibly nested) value at ``path``."""
    scalar = value_columns(value)
    if scalar is not None:
        out[place + scalar[0]].append((*head, symbol(path), *scalar[1]))
    elif value.__class__ is CedarRecord:
        for key, inner in value.items():
            _facts(out, place, members, head, path_key(path, key), inner)
    elif members is not None:  # a set: each scalar element
        for element in value:
            found = value_columns(element)
            if found is not None:
                out[members + found[0]].append((*head, symbol(path), *found[1]))


def entity_facts(entities: Iterable[EntityData]) -> dict[str, list[Row]]:
    """The facts (by relation) that describe these entities."""
    out: dict[str, list[Row]] = {name: [] for name in ENTITY_RELATIONS}
    for e in entities:
        uid = uid_text(e.uid)
        head = (uid,)
        out["entity"].append((uid, symbol(e.uid.type)))
        for p in e.parents:
            out["parent"].append((uid, uid_text(p)))
        for name, value in e.attrs.items():
            _facts(out, "attr", "member", head, path_key("", name), value)
        for key, value in e.tags.items():
            _facts(out, "tag", None, head, path_key("", key), value)  # no sets in tags
    return out


def context_facts(context: Mapping[str, Any]) -> dict[str, set[Row]]:
    """The `context<kind>`/`context_member<kind>` facts of a request context."""
    lists: dict[str, list[Row]] = {name: [] for name in CONTEXT_RELATIONS}
    for key, value in context.items():
        _facts(lists, "context", "context_member", (), path_key("", key), value)
    return {name: set(rows) for name, rows in lists.items()}


def derived_value(suffix: str, columns: Row) -> Any:
    """The Cedar value a `derived_attr<suffix>`/`derived_tag<suffix>` row's value columns
    stand for.

    Raises:
        ValueError: the columns are not a value of that kind (with a message saying why).
    """
    if suffix == "_num":
        return columns[0]
    text = text_of(columns[0])
    if suffix == "":
        return text
    if suffix == "_bool":
        if text not in ("true", "false"):
            raise ValueError(f"`{text}` is not `true` or `false`")
        return text == "true"
    if suffix == "_entity":
        uid = parse_uid_text(columns[0])
        if uid is None:
            raise ValueError(f"`{text}` is not an entity uid (write it as Type::\\\"id\\\")")
        return uid
    from rune.cedar.json_format import value_from_json

    return value_from_json({"__extn": {"fn": text, "arg": text_of(columns[1])}}, "$")
