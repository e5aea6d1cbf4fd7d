"""Hypothesis strategies for Cedar: policy text, entities, requests and values.

Expressions are generated as a small syntax tree (the dataclasses below) and printed as
Cedar text by `expr_to_cedar` / `policy_to_cedar`, so every engine under test parses the
same source. The generators are type-directed (a boolean condition is built from
comparisons of longs, `has` tests on entities and so on) but now and then put an operand
of the wrong kind in, so that evaluation errors happen too. A small vocabulary of entity
types, ids, attribute names and tag keys makes expressions hit existing data often: each
attribute name is tied to a kind (`n` is usually a Long, `s` a String, ...) and the entity
generator mostly respects that tie. With ``malformed=True`` a few rare choices produce
text that Cedar rejects at parse time, so parse acceptance can be compared as well.

Nothing here imports RUNE: the printer is independent of the implementation under test.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "ACTION_IDS",
    "ATTRIBUTE_NAMES",
    "ENTITY_IDS",
    "ENTITY_TYPES",
    "KINDS",
    "LONG_MAX",
    "LONG_MIN",
    "NORMALIZED_UID_TEXTS",
    "TAG_KEYS",
    "Binary",
    "Call",
    "Case",
    "Expr",
    "GetAttr",
    "Has",
    "IfThenElse",
    "Is",
    "Leaf",
    "Like",
    "Link",
    "MethodCall",
    "Paren",
    "Policy",
    "RecordLiteral",
    "Scope",
    "SetLiteral",
    "Unary",
    "cedar_string",
    "entity_lists",
    "expr_to_cedar",
    "expression_cases",
    "expressions",
    "json_values",
    "mutated_cases",
    "mutated_texts",
    "policies",
    "policy_set_cases",
    "policy_sets",
    "policy_set_to_cedar",
    "policy_to_cedar",
    "request_cases",
    "requests",
    "scenarios",
    "scope_cases",
    "template_cases",
    "template_sets",
    "uid_to_cedar",
]

LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)

# -- vocabulary -------------------------------------------------------------------------------
ENTITY_TYPES = ("User", "Group", "Doc", "NS::Folder")
ENTITY_IDS = ("alice", "bob", "g1", "", 'q"t', "é", "it's")
ACTION_IDS = ("read", "write", "g", "all")
KINDS = (
    "bool", "long", "string", "entity", "set", "record",
    "ipaddr", "decimal", "datetime", "duration",
)
# Each attribute name is tied to the kind of value it usually holds.
KIND_ATTRIBUTE = {
    "bool": "flag", "long": "n", "string": "s", "entity": "owner", "set": "items",
    "record": "rec", "ipaddr": "addr", "decimal": "amount", "datetime": "when",
    "duration": "ttl",
}
QUOTED_ATTRIBUTE = "x y"  # only reachable as `["x y"]` / `has "x y"`
ATTRIBUTE_NAMES = (*KIND_ATTRIBUTE.values(), QUOTED_ATTRIBUTE)
TAG_KEYS = ("t", "u", "x y")
STRING_WORDS = ("a", "ab", "a*b", "", "ba", "x y", "alice", "t", "n")
RESERVED_WORDS = ("if", "in", "is", "has", "like", "true", "then")

VALID_EXTENSION_ARGS = {
    "ip": ("127.0.0.1", "10.0.0.1", "10.0.0.0/8", "192.168.1.7/24", "224.0.0.1",
           "0.0.0.0/0", "::1", "::", "ff02::1", "fe80::/10", "2001:db8::1/64",
           "127.0.0.1/32", "::ffff:7f00:1", "1:2:3:4:5:6:7:8", "10.0.0.1/32", "10.1.2.3/8",
           "0:0:0:0:0:0:0:1", "::1/128", "ff00::/8", "127.0.0.0/8"),
    "decimal": ("0.0", "1.0", "-1.5", "0.0001", "12.34", "922337203685477.5807",
                "-922337203685477.5808", "-0.0", "01.10", "1.0000", "1.1", "-1.50",
                "0000000000000001.0"),
    "datetime": ("2024-01-01", "2024-01-01T12:34:56Z", "2024-01-01T12:34:56.789Z",
                 "2024-01-01T12:34:56+0130", "2024-01-01T12:34:56.001-0800", "1970-01-01",
                 "0000-01-01", "9999-12-31T23:59:59.999-2359", "2024-02-29",
                 "2024-01-01T00:00:00.000Z", "2023-12-31T23:00:00-0100",
                 "1969-12-31T23:59:59.999Z", "0001-06-15T12:00:00Z", "2024-01-02"),
    "duration": ("1d", "2h", "30m", "45s", "500ms", "1d2h3m4s5ms", "-1h", "0ms", "-2d12h",
                 "9223372036854775807ms", "-9223372036854775808ms", "106751991167d", "-0s",
                 "24h", "1440m", "86400000ms", "60s", "1m", "-1d"),
}
INVALID_EXTENSION_ARGS = {
    "ip": ("::ffff:10.0.0.1", "1.2.3", "256.0.0.1", "01.2.3.4", "::1/129", "1.2.3.4/33", "",
           "1.2.3.4/08", " 1.2.3.4", "1::2::3"),
    "decimal": ("1.23456", "922337203685477.5808", "1", "1.", ".5", "+1.0", "a"),
    "datetime": ("2024-02-30", "2024-13-01", "2024-1-01", "2024-01-01T24:00:00Z",
                 "2024-01-01T12:34:56", "2024-01-01T12:34:56.78Z", "2024-01-01T12:34:56+01:30",
                 "2023-02-29", "2024-01-01T23:59:60Z", "2024-01-01T12:34:56+2400",
                 "2024-01-01T12:34:56-0060"),
    "duration": ("1h1d", "", "1", "1x", "9223372036854775808ms", "106751991168d", "1h-1m",
                 "1.5h", "1D", "1d1d"),
}
KIND_CONSTRUCTOR = {"ipaddr": "ip", "decimal": "decimal", "datetime": "datetime",
                    "duration": "duration"}
INTERESTING_LONGS = (LONG_MAX, LONG_MAX - 1, 2**62, 2**32, 3037000499, 3037000500, 1000)

_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*\Z")

# Text that Cedar mostly rejects at parse time, and a few near misses that it accepts
# (each stands where a primary expression goes).
MALFORMED_PRIMARIES = (
    "9223372036854775808",           # literal too large without a unary minus
    '"\\q"',                         # invalid escape
    '"\\*"',                         # `\*` is only valid in a `like` pattern
    '"\\u{110000}"',                 # not a code point
    'isIpv4(ip("::1"))',             # a method called as a function
    "foo(1)",                        # unknown function
    "principal.if",                  # reserved identifier as attribute
    "?principal",                    # slot outside the scope
    "[1].contains()",                # wrong arity
    'context.isEmpty(1)',            # wrong arity
    "(1 == 2 == 3)",                 # chained relations
    "{a: 1, a: 2}",                  # duplicate record key
    'principal.frobnicate("x")',     # unknown method
    "if::\"a\"",                     # reserved word as entity type
    "User::alice",                   # entity id must be a string
    "(1 < 2 < 3)",                   # chained relations
    'context has a."x y"',           # quoted element in a `has` path
    "!!!!!true",                     # more than four unary operators
    "Action::\"a\" is",              # dangling `is`
    "context has if",                # reserved identifier after `has`
    "{if: 1}",                       # reserved identifier as record key
    "ip(\"1.2.3.4\").isIpv4",         # a method without its parentheses is an attribute
    "principal.isEmpty",             # (that one is fine: an attribute named `isEmpty`)
    "007",                           # leading zeros
    "1.5",                           # no floating point
    "'a'",                           # single-quoted strings
    "context.\"s\"",                 # quoted name after a dot
)


# -- the syntax tree --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Leaf:
    """Literal text printed as is: literals, variables, entity uids, slots."""

    text: str


@dataclass(frozen=True, slots=True)
class Paren:
    """Redundant parentheses."""

    inner: Expr


@dataclass(frozen=True, slots=True)
class Unary:
    """`!e` or `-e`."""

    op: str
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    """`l op r` for `|| && == != < <= > >= in + - *`."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class IfThenElse:
    """`if c then t else e`."""

    condition: Expr
    then: Expr
    otherwise: Expr


@dataclass(frozen=True, slots=True)
class Has:
    """`e has a`, `e has "a b"` or `e has a.b.c`."""

    target: Expr
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Like:
    """`e like "pattern"` (``pattern`` is the literal's body, already escaped)."""

    target: Expr
    pattern: str


@dataclass(frozen=True, slots=True)
class Is:
    """`e is T` or `e is T in e2`."""

    target: Expr
    entity_type: str
    within: Expr | None = None


@dataclass(frozen=True, slots=True)
class GetAttr:
    """`e.a` or `e["a"]`."""

    target: Expr
    name: str
    bracket: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    """An extension function call `f(args)`."""

    function: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class MethodCall:
    """`e.m(args)`."""

    target: Expr
    method: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class SetLiteral:
    """`[a, b, ...]`."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class RecordLiteral:
    """`{k: v, "k 2": v2}`."""

    fields: tuple[tuple[str, Expr], ...]


Expr = (Leaf | Paren | Unary | Binary | IfThenElse | Has | Like | Is | GetAttr | Call
        | MethodCall | SetLiteral | RecordLiteral)


@dataclass(frozen=True, slots=True)
class Scope:
    """One scope element: `principal`, `principal == E`, `principal is T in E`, ...

    ``target`` is printed text: an entity uid, a slot, or an action list `[A, B]`.
    """

    variable: str
    op: str | None = None  # None, "==", "in", "is"
    entity_type: str | None = None  # for "is"
    target: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """A policy or template as printed: annotations, effect, scope and conditions."""

    effect: str
    principal: Scope
    action: Scope
    resource: Scope
    conditions: tuple[tuple[str, Expr], ...] = ()
    annotations: tuple[tuple[str, str | None], ...] = ()
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A template link: template id, new policy id and slot values (JSON uids)."""

    template_id: str
    new_id: str
    values: dict[str, dict[str, str]]


# -- printing ---------------------------------------------------------------------------------
_IF, _OR, _AND, _REL, _ADD, _MUL, _UNARY, _MEMBER, _PRIMARY = range(9)
_RELATIONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})
_BINARY_PRECEDENCE = {"||": _OR, "&&": _AND, "+": _ADD, "-": _ADD, "*": _MUL}


_UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cs", "Cn"})


def cedar_string(value: str) -> str:
    """Quote ``value`` as a Cedar string literal, in Cedar's normalized spelling.

    The escapes are those of Rust's `escape_debug`, which Cedar uses to print uids; Cedar
    accepts a uid given as text only in that spelling.
    """
    out = []
    for position, ch in enumerate(value):
        category = unicodedata.category(ch)
        if ch in "\"\\'":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\0":
            out.append("\\0")
        elif (category in _UNPRINTABLE and ch != " ") or (
                position == 0 and category in ("Mn", "Me")):
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def uid_to_cedar(entity_type: str, entity_id: str) -> str:
    """`Type::"id"` with the id quoted."""
    return f"{entity_type}::{cedar_string(entity_id)}"


def _precedence(e: Expr) -> int:
    if isinstance(e, Binary):
        return _REL if e.op in _RELATIONS else _BINARY_PRECEDENCE[e.op]
    if isinstance(e, (Has, Like, Is)):
        return _REL
    if isinstance(e, Unary):
        return _UNARY
    if isinstance(e, (GetAttr, MethodCall)):
        return _MEMBER
    if isinstance(e, IfThenElse):
        return _IF
    return _PRIMARY


def _wrap(e: Expr, minimum: int) -> str:
    text = expr_to_cedar(e)
    return f"({text})" if _precedence(e) < minimum else text


def _key(name: str) -> str:
    return name if _IDENT.match(name) else cedar_string(name)


def expr_to_cedar(e: Expr) -> str:
    """Print an expression tree as Cedar text, with only the parentheses it needs."""
    if isinstance(e, Leaf):
        return e.text
    if isinstance(e, Paren):
        return f"({expr_to_cedar(e.inner)})"
    if isinstance(e, Unary):
        return f"{e.op}{_wrap(e.operand, _UNARY)}"
    if isinstance(e, Binary):
        if e.op in _RELATIONS:
            left, right = _ADD, _ADD
        else:  # left associative
            left = _BINARY_PRECEDENCE[e.op]
            right = left + 1
        return f"{_wrap(e.left, left)} {e.op} {_wrap(e.right, right)}"
    if isinstance(e, IfThenElse):
        return (f"if {expr_to_cedar(e.condition)} then {expr_to_cedar(e.then)} "
                f"else {expr_to_cedar(e.otherwise)}")
    if isinstance(e, Has):
        if len(e.path) == 1:
            path = _key(e.path[0])
        else:
            path = ".".join(p if _IDENT.match(p) else cedar_string(p) for p in e.path)
        return f"{_wrap(e.target, _ADD)} has {path}"
    if isinstance(e, Like):
        return f'{_wrap(e.target, _ADD)} like "{e.pattern}"'
    if isinstance(e, Is):
        text = f"{_wrap(e.target, _ADD)} is {e.entity_type}"
        if e.within is not None:
            text += f" in {_wrap(e.within, _ADD)}"
        return text
    if isinstance(e, GetAttr):
        if e.bracket or not _IDENT.match(e.name):
            return f"{_wrap(e.target, _MEMBER)}[{cedar_string(e.name)}]"
        return f"{_wrap(e.target, _MEMBER)}.{e.name}"
    if isinstance(e, Call):
        return f"{e.function}({', '.join(expr_to_cedar(a) for a in e.args)})"
    if isinstance(e, MethodCall):
        args = ", ".join(expr_to_cedar(a) for a in e.args)
        return f"{_wrap(e.target, _MEMBER)}.{e.method}({args})"
    if isinstance(e, SetLiteral):
        return f"[{', '.join(expr_to_cedar(i) for i in e.items)}]"
    if isinstance(e, RecordLiteral):
        fields = ", ".join(f"{_key(k)}: {expr_to_cedar(v)}" for k, v in e.fields)
        return "{" + fields + "}"
    raise TypeError(f"not an expression node: {e!r}")


def _scope_to_cedar(scope: Scope) -> str:
    if scope.op is None:
        return scope.variable
    if scope.op == "is":
        text = f"{scope.variable} is {scope.entity_type}"
        return text if scope.target is None else f"{text} in {scope.target}"
    return f"{scope.variable} {scope.op} {scope.target}"


def policy_to_cedar(policy: Policy) -> str:
    """Print a policy (or template) as Cedar text."""
    lines = []
    if policy.comment is not None:
        lines.append(f"// {policy.comment}")
    for key, value in policy.annotations:
        lines.append(f"@{key}" if value is None else f"@{key}({cedar_string(value)})")
    lines.append(f"{policy.effect} (")
    lines.append(f"  {_scope_to_cedar(policy.principal)},")
    lines.append(f"  {_scope_to_cedar(policy.action)},")
    lines.append(f"  {_scope_to_cedar(policy.resource)}")
    lines.append(")")
    for keyword, condition in policy.conditions:
        lines.append(f"{keyword} {{ {expr_to_cedar(condition)} }}")
    lines[-1] += ";"
    return "\n".join(lines)


def policy_set_to_cedar(policy_list: list[Policy] | tuple[Policy, ...]) -> str:
    """Print policies one after another (ids `policy0`, `policy1`, ... in this order)."""
    return "\n\n".join(policy_to_cedar(p) for p in policy_list) + "\n"


# -- literals ---------------------------------------------------------------------------------
_STRING_PIECES = (
    "a", "b", "x", " ", "*", "é", "\U0001f642", "\\n", "\\t", "\\r", "\\\\", '\\"', "\\'",
    "\\0", "\\x41", "\\x7f", "\\u{e9}", "\\u{1F642}", "\\u{0}", "//", "/*", "}", ";", "\t",
)
_PATTERN_PIECES = ("a", "b", "*", "\\*", " ", "y", "\\\\", "\\u{61}", "é")


@st.composite
def _string_literals(draw: st.DrawFn) -> str:
    """A Cedar string literal (with quotes): mostly vocabulary, sometimes escapes."""
    if draw(st.integers(0, 3)) < 3:
        words = (*STRING_WORDS, *ENTITY_IDS, *TAG_KEYS, *ATTRIBUTE_NAMES)
        return cedar_string(draw(st.sampled_from(words)))
    pieces = draw(st.lists(st.sampled_from(_STRING_PIECES), max_size=5))
    return '"' + "".join(pieces) + '"'


@st.composite
def _long_literals(draw: st.DrawFn) -> Expr:
    choice = draw(st.integers(0, 5))
    if choice < 3:
        return Leaf(str(draw(st.integers(0, 10))))
    if choice == 3:
        return Unary("-", Leaf(str(draw(st.integers(1, 10)))))
    if choice == 4:
        value = draw(st.sampled_from(INTERESTING_LONGS))
        return Unary("-", Leaf(str(value))) if draw(st.booleans()) else Leaf(str(value))
    return Unary("-", Leaf(str(-LONG_MIN)))


def _unicode_escaped(value: str) -> str:
    return '"' + "".join(f"\\u{{{ord(c):x}}}" for c in value) + '"'


@st.composite
def _entity_literals(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 19))
    if choice >= 16:
        return uid_to_cedar("Action", draw(st.sampled_from(ACTION_IDS)))
    entity_type = draw(st.sampled_from(ENTITY_TYPES))
    entity_id = draw(st.sampled_from(ENTITY_IDS))
    if choice == 15:  # the same uid, spelled with `\u{..}` escapes
        return f"{entity_type}::{_unicode_escaped(entity_id)}"
    if choice == 14:  # words that are keywords elsewhere are fine as type names
        entity_type = draw(st.sampled_from(("permit", "principal", "when", "ip", "Action::G")))
    return uid_to_cedar(entity_type, entity_id)


@st.composite
def _extension_args(draw: st.DrawFn, function: str, invalid: bool = True) -> str:
    if invalid and draw(st.integers(0, 5)) == 5:
        return draw(st.sampled_from(INVALID_EXTENSION_ARGS[function]))
    return draw(st.sampled_from(VALID_EXTENSION_ARGS[function]))


# -- expressions ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Options:
    malformed: bool
    ill_typed: bool


def _attribute_name(draw: st.DrawFn, kind: str) -> str:
    choice = draw(st.integers(0, 9))
    if choice < 7:
        return KIND_ATTRIBUTE[kind]
    if choice < 9:
        return draw(st.sampled_from(ATTRIBUTE_NAMES))
    return draw(st.sampled_from(("missing", "type", "id", "when", "permit", "principal")))


def _attribute_base(draw: st.DrawFn) -> Expr:
    choice = draw(st.integers(0, 6))
    if choice == 0:
        return Leaf("principal")
    if choice == 1:
        return Leaf("resource")
    if choice == 2:
        return Leaf("context")
    if choice == 3:
        return GetAttr(Leaf(draw(st.sampled_from(("principal", "resource", "context")))),
                       KIND_ATTRIBUTE["record"])
    if choice == 4:
        return GetAttr(Leaf(draw(st.sampled_from(("principal", "resource", "context")))),
                       KIND_ATTRIBUTE["entity"])
    if choice == 5:
        return Leaf(draw(_entity_literals()))
    return Leaf("action")


def _attribute_leaf(draw: st.DrawFn, kind: str) -> Expr:
    """`base.attr`, `base["attr"]` or `base.getTag("k")` expected to hold a ``kind``."""
    base = _attribute_base(draw)
    if draw(st.integers(0, 5)) == 5:
        key = Leaf(cedar_string(draw(st.sampled_from(TAG_KEYS))))
        return MethodCall(base, "getTag", (key,))
    return GetAttr(base, _attribute_name(draw, kind), bracket=draw(st.integers(0, 4)) == 4)


def _leaf(draw: st.DrawFn, kind: str, options: _Options) -> Expr:
    if options.malformed and draw(st.integers(0, 149)) == 149:
        return Leaf(draw(st.sampled_from(MALFORMED_PRIMARIES)))
    if draw(st.integers(0, 3)) == 3:
        return _attribute_leaf(draw, kind)
    if kind == "bool":
        return Leaf(draw(st.sampled_from(("true", "false"))))
    if kind == "long":
        return draw(_long_literals())
    if kind == "string":
        return Leaf(draw(_string_literals()))
    if kind == "entity":
        choice = draw(st.integers(0, 3))
        if choice == 3:
            return Leaf(draw(_entity_literals()))
        return Leaf(("principal", "resource", "action")[choice])
    if kind == "set":
        return SetLiteral(())
    if kind == "record":
        return Leaf("context") if draw(st.booleans()) else RecordLiteral(())
    function = KIND_CONSTRUCTOR[kind]
    arg = draw(_extension_args(function))
    return Call(function, (Leaf(cedar_string(arg)),))


def _operand_kind(draw: st.DrawFn, kind: str, options: _Options) -> str:
    if options.ill_typed and draw(st.integers(0, 11)) == 11:
        return draw(st.sampled_from(KINDS))
    return kind


def _sub(draw: st.DrawFn, kind: str, depth: int, options: _Options) -> Expr:
    return _expression(draw, _operand_kind(draw, kind, options), depth - 1, options)


def _has_path(draw: st.DrawFn) -> tuple[str, ...]:
    choice = draw(st.integers(0, 9))
    if choice < 6:
        return (draw(st.sampled_from(ATTRIBUTE_NAMES)),)
    if choice < 9:
        first = draw(st.sampled_from((KIND_ATTRIBUTE["record"], KIND_ATTRIBUTE["entity"],
                                      "n", "missing")))
        rest = draw(st.lists(st.sampled_from(ATTRIBUTE_NAMES[:-1]), min_size=1, max_size=2))
        return (first, *rest)
    return (draw(st.sampled_from(("missing", *TAG_KEYS))),)


def _like_pattern(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.sampled_from(("*", "a*", "*b", "a\\*b", "a*b", "", "x y", "*l*")))
    return "".join(draw(st.lists(st.sampled_from(_PATTERN_PIECES), max_size=4)))


def _entity_type_name(draw: st.DrawFn) -> str:
    return draw(st.sampled_from((*ENTITY_TYPES, "Action", "Other")))


def _bool_compound(draw: st.DrawFn, depth: int, options: _Options) -> Expr:
    sub = lambda kind: _sub(draw, kind, depth, options)  # noqa: E731
    choice = draw(st.integers(0, 16))
    if choice == 0:
        return Unary("!", sub("bool"))
    if choice in (1, 2):
        return Binary(draw(st.sampled_from(("&&", "||"))), sub("bool"), sub("bool"))
    if choice == 3:
        kind = draw(st.sampled_from(KINDS))
        return Binary(draw(st.sampled_from(("==", "!="))), sub(kind), sub(kind))
    if choice == 4:
        kind = draw(st.sampled_from(("long", "long", "datetime", "duration", "decimal")))
        return Binary(draw(st.sampled_from(("<", "<=", ">", ">="))), sub(kind), sub(kind))
    if choice == 5:
        if draw(st.booleans()):
            return Binary("in", sub("entity"), sub("entity"))
        items = tuple(sub("entity") for _ in range(draw(st.integers(0, 3))))
        return Binary("in", sub("entity"), SetLiteral(items) if draw(st.booleans())
                      else sub("set"))
    if choice == 6:
        return Has(sub(draw(st.sampled_from(("entity", "record")))), _has_path(draw))
    if choice == 7:
        return Like(sub("string"), _like_pattern(draw))
    if choice == 8:
        within = sub("entity") if draw(st.booleans()) else None
        return Is(sub("entity"), _entity_type_name(draw), within)
    if choice == 9:
        method = draw(st.sampled_from(("contains", "containsAll", "containsAny", "isEmpty")))
        if method == "isEmpty":
            args: tuple[Expr, ...] = ()
        elif method == "contains":
            args = (sub(draw(st.sampled_from(KINDS))),)
        else:
            args = (sub("set"),)
        return MethodCall(sub("set"), method, args)
    if choice == 10:
        key = Leaf(cedar_string(draw(st.sampled_from(TAG_KEYS)))) if draw(st.booleans()) \
            else sub("string")
        return MethodCall(sub("entity"), "hasTag", (key,))
    if choice == 11:
        method = draw(st.sampled_from(("isIpv4", "isIpv6", "isLoopback", "isMulticast",
                                       "isInRange")))
        args = (sub("ipaddr"),) if method == "isInRange" else ()
        return MethodCall(sub("ipaddr"), method, args)
    if choice == 12:
        method = draw(st.sampled_from(("lessThan", "lessThanOrEqual", "greaterThan",
                                       "greaterThanOrEqual")))
        return MethodCall(sub("decimal"), method, (sub("decimal"),))
    if choice == 13:
        return IfThenElse(sub("bool"), sub("bool"), sub("bool"))
    if choice == 14:
        return Paren(sub("bool"))
    if choice == 15:
        # `principal in resource.owner`-style hierarchy checks against the request.
        var = Leaf(draw(st.sampled_from(("principal", "resource", "action"))))
        return Binary("in", var, sub("entity"))
    return Binary("==", sub("entity"), sub("entity"))


def _long_compound(draw: st.DrawFn, depth: int, options: _Options) -> Expr:
    sub = lambda kind: _sub(draw, kind, depth, options)  # noqa: E731
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return Unary("-", sub("long"))
    if choice in (1, 2):
        return Binary(draw(st.sampled_from(("+", "-", "*"))), sub("long"), sub("long"))
    if choice == 3:
        method = draw(st.sampled_from(("toMilliseconds", "toSeconds", "toMinutes", "toHours",
                                       "toDays")))
        return MethodCall(sub("duration"), method, ())
    if choice == 4:
        return IfThenElse(sub("bool"), sub("long"), sub("long"))
    return Paren(sub("long"))


def _generic_compound(draw: st.DrawFn, kind: str, depth: int, options: _Options) -> Expr:
    sub = lambda k: _sub(draw, k, depth, options)  # noqa: E731
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return IfThenElse(sub("bool"), sub(kind), sub(kind))
    if kind == "set":
        count = draw(st.integers(0, 3))
        if choice == 1:
            item_kind = draw(st.sampled_from(KINDS))
            return SetLiteral(tuple(sub(item_kind) for _ in range(count)))
        return SetLiteral(tuple(sub(draw(st.sampled_from(KINDS))) for _ in range(count)))
    if kind == "record":
        names = draw(st.lists(st.sampled_from(ATTRIBUTE_NAMES), max_size=3, unique=True))
        return RecordLiteral(tuple((n, sub(_kind_of_attribute(n))) for n in names))
    if kind == "datetime":
        if choice == 1:
            return MethodCall(sub("datetime"), "offset", (sub("duration"),))
        if choice == 2:
            return MethodCall(sub("datetime"), "toDate", ())
    if kind == "duration":
        if choice == 1:
            return MethodCall(sub("datetime"), "toTime", ())
        if choice == 2:
            return MethodCall(sub("datetime"), "durationSince", (sub("datetime"),))
    if kind in KIND_CONSTRUCTOR and choice == 3:
        # A constructor applied to a computed string rather than a literal.
        return Call(KIND_CONSTRUCTOR[kind], (sub("string"),))
    return _leaf(draw, kind, options)


def _kind_of_attribute(name: str) -> str:
    for kind, attr in KIND_ATTRIBUTE.items():
        if attr == name:
            return kind
    return "string"


def _expression(draw: st.DrawFn, kind: str, depth: int, options: _Options) -> Expr:
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return _leaf(draw, kind, options)
    if kind == "bool":
        return _bool_compound(draw, depth, options)
    if kind == "long":
        return _long_compound(draw, depth, options)
    return _generic_compound(draw, kind, depth, options)


@st.composite
def expressions(
    draw: st.DrawFn,
    kind: str = "bool",
    depth: int = 3,
    malformed: bool = False,
    ill_typed: bool = True,
) -> Expr:
    """An expression tree expected to produce a value of ``kind`` (one of `KINDS`).

    Args:
        kind: the kind of value the expression should mostly produce.
        depth: the maximum nesting of compound nodes.
        malformed: sometimes put in text that Cedar rejects at parse time.
        ill_typed: sometimes put in an operand of the wrong kind (evaluation errors).
    """
    return _expression(draw, kind, depth, _Options(malformed, ill_typed))


# -- policies ---------------------------------------------------------------------------------
@st.composite
def _entity_scope(
    draw: st.DrawFn, variable: str, slot: bool, malformed: bool, constrained: bool = False
) -> Scope:
    slot_text = f"?{variable}"
    odds = 3 if constrained else 1  # out of 4, that the scope is constrained
    constrain = slot or draw(st.integers(0, 3)) < odds
    choice = draw(st.integers(1, 4)) if constrain else 0
    target = slot_text if slot else draw(_entity_literals())
    if choice == 0:
        scope = Scope(variable)
    elif choice == 1:
        scope = Scope(variable, "==", target=target)
    elif choice == 2:
        scope = Scope(variable, "in", target=target)
    elif choice == 3:
        scope = Scope(variable, "is", _entity_type_name(draw),
                      target if slot or draw(st.booleans()) else None)
    else:
        scope = Scope(variable, "is", _entity_type_name(draw), target)
    if malformed and draw(st.integers(0, 39)) == 39:
        bad = draw(st.sampled_from((
            Scope(variable, "in", target=f"[{draw(_entity_literals())}]"),
            Scope(variable, "==", target="?action"),
            Scope(variable, "like", target='"a"'),
            Scope(variable, "==", target="1"),
            Scope(variable, "in", target="?resource" if variable == "principal"
                  else "?principal"),
        )))
        return bad
    return scope


@st.composite
def _action_scope(draw: st.DrawFn, malformed: bool, constrained: bool = False) -> Scope:
    action = lambda: uid_to_cedar("Action", draw(st.sampled_from(ACTION_IDS)))  # noqa: E731
    odds = 3 if constrained else 2  # out of 4, that the scope is constrained
    choice = draw(st.integers(1, 3)) if draw(st.integers(0, 3)) < odds else 0
    if malformed and draw(st.integers(0, 39)) == 39:
        return draw(st.sampled_from((
            Scope("action", "==", target=draw(_entity_literals())),
            Scope("action", "in", target="?principal"),
            Scope("action", "is", "Action"),
            Scope("action", "==", target=f"[{action()}]"),
        )))
    if choice == 0:
        return Scope("action")
    if choice == 1:
        return Scope("action", "==", target=action())
    if choice == 2:
        return Scope("action", "in", target=action())
    items = [action() for _ in range(draw(st.integers(0, 3)))]
    return Scope("action", "in", target=f"[{', '.join(items)}]")


@st.composite
def _annotations(draw: st.DrawFn, malformed: bool) -> tuple[tuple[str, str | None], ...]:
    keys = draw(st.lists(st.sampled_from(("id", "advice", "if", "note_2")), max_size=2,
                         unique=True))
    if malformed and keys and draw(st.integers(0, 29)) == 29:
        keys.append(keys[0])  # duplicate annotation
    out = []
    for key in keys:
        value = None if draw(st.integers(0, 3)) == 3 else draw(
            st.sampled_from(("p", "", 'q"t', "deny all", "é")))
        out.append((key, value))
    return tuple(out)


@st.composite
def policies(
    draw: st.DrawFn,
    depth: int = 3,
    malformed: bool = False,
    template: bool = False,
    max_conditions: int = 3,
    constrained: bool = False,
) -> Policy:
    """A policy (or, with ``template``, a template with one or two slots).

    With ``constrained`` the scope is more often constrained (`==`, `in`, `is`).
    """
    principal_slot = resource_slot = False
    if template:
        which = draw(st.integers(0, 2))
        principal_slot = which in (0, 2)
        resource_slot = which in (1, 2)
    conditions = tuple(
        (draw(st.sampled_from(("when", "unless"))),
         draw(expressions("bool", depth, malformed)))
        for _ in range(draw(st.integers(0, max_conditions)))
    )
    return Policy(
        effect=draw(st.sampled_from(("permit", "forbid"))),
        principal=draw(_entity_scope("principal", principal_slot, malformed, constrained)),
        action=draw(_action_scope(malformed, constrained)),
        resource=draw(_entity_scope("resource", resource_slot, malformed, constrained)),
        conditions=conditions,
        annotations=draw(_annotations(malformed)),
        comment=draw(st.one_of(st.none(), st.sampled_from(("note", "a; b { c }")))),
    )


def policy_sets(
    min_size: int = 1,
    max_size: int = 5,
    depth: int = 3,
    malformed: bool = False,
    max_conditions: int = 3,
    constrained: bool = False,
) -> st.SearchStrategy[list[Policy]]:
    """Lists of static policies (print them with `policy_set_to_cedar`)."""
    policy = policies(depth=depth, malformed=malformed, max_conditions=max_conditions,
                      constrained=constrained)
    return st.lists(policy, min_size=min_size, max_size=max_size)


@st.composite
def template_sets(
    draw: st.DrawFn, max_static: int = 5, max_templates: int = 2, depth: int = 2,
    invalid: bool = True,
) -> tuple[list[Policy], list[Link]]:
    """Static policies and templates in one list, and links of the templates.

    Ids are positional (`policyN`), so a link names its template by position; new ids
    are `link0`, `link1`, ... With ``invalid``, a link is sometimes wrong (unknown or
    static template id, used new id, missing or extra slot value).
    """
    statics = draw(st.lists(policies(depth=depth), max_size=max_static))
    templates = draw(st.lists(policies(depth=depth, template=True), min_size=1,
                              max_size=max_templates))
    order = draw(st.permutations([*statics, *templates]))
    positions = [i for i, p in enumerate(order) if _is_template(p)]
    links = []
    for n in range(draw(st.integers(0, 5))):
        position = draw(st.sampled_from(positions))
        values = {f"?{slot}": _uid_json(draw(st.sampled_from(ENTITY_UIDS)))
                  for slot in _slots(order[position])}
        link = Link(f"policy{position}", f"link{n}", values)
        if invalid and draw(st.integers(0, 19)) == 19:
            link = draw(st.sampled_from((
                Link("nope", link.new_id, values),
                Link(link.template_id, "policy0", values),
                Link(link.template_id, "link0" if n else link.new_id, values),
                Link(link.template_id, link.new_id, {}),
                Link(link.template_id, link.new_id,
                     {"?principal": _uid_json(ENTITY_UIDS[0]),
                      "?resource": _uid_json(ENTITY_UIDS[1])}),
                *(Link(f"policy{i}", link.new_id, values)
                  for i, p in enumerate(order) if not _is_template(p)),
            )))
        links.append(link)
    return order, links


def _slots(policy: Policy) -> list[str]:
    return [s.variable for s in (policy.principal, policy.resource)
            if s.target is not None and s.target.startswith("?")]


def _is_template(policy: Policy) -> bool:
    return bool(_slots(policy))


_TOKENS = (
    "(", ")", "[", "]", "{", "}", ",", ";", ".", "::", "==", "!=", "<=", ">=", "<", ">",
    "&&", "||", "!", "-", "+", "*", "in", "has", "like", "is", "if", "then", "else", "true",
    "false", "principal", "action", "resource", "context", '"', '"a"', "@", "?principal",
    "?resource", "1", "/*", "//", "\\", " ", "\n", "when", "unless", "permit", "forbid",
    "ip", "x", "User", "::\"a\"", "%", "0x1", "1.5", "'a'", "=", "&", "|", "$", "é", "\t",
    "\r", "007", "-0", "__cedar", "__cedar::", "?", "#", "`", "\\u{41}", "*/", "@id(\"x\")",
    "is User", "in [", "has a.b", ".contains(", "\"\\*\"",
)


@st.composite
def mutated_texts(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few token insertions, deletions and duplications."""
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(text)))
        choice = draw(st.integers(0, 2))
        if choice == 0:
            text = text[:position] + draw(st.sampled_from(_TOKENS)) + text[position:]
        elif choice == 1:
            end = min(len(text), position + draw(st.integers(1, 6)))
            text = text[:position] + text[end:]
        else:
            end = min(len(text), position + draw(st.integers(1, 8)))
            text = text[:end] + text[position:end] + text[end:]
    return text


# -- entities, values and requests ------------------------------------------------------------
ENTITY_UIDS = tuple((t, i) for t in ENTITY_TYPES for i in ENTITY_IDS)
ACTION_UIDS = tuple(("Action", a) for a in ACTION_IDS)
# Every uid of the vocabulary as Cedar text in the normalized spelling.
NORMALIZED_UID_TEXTS = frozenset(uid_to_cedar(*u) for u in ENTITY_UIDS + ACTION_UIDS)


def _uid_json(uid: tuple[str, str]) -> dict[str, str]:
    return {"type": uid[0], "id": uid[1]}


# Values at the edges of Cedar's JSON value format: rejected, or read leniently (an escape
# object that does not fit its shape is an ordinary record, unknown fields are ignored).
_EDGE_JSON_VALUES = (
    LONG_MAX + 1,
    LONG_MIN - 1,
    1.5,
    None,
    {"__extn": {"fn": "ip", "arg": "1.2.3"}},
    {"__extn": {"fn": "decimal", "arg": "1.23456"}},
    {"__extn": {"fn": "nope", "arg": "1"}},
    {"__extn": {"fn": "ip"}},
    {"__extn": {"fn": "ip", "arg": "10.0.0.1", "extra": 1}},
    {"__extn": "ip"},
    {"__entity": {"type": "User"}},
    {"__entity": {"type": "User", "id": "alice", "extra": 1}},
    {"__entity": {"type": "User", "id": "alice"}, "extra": 1},
    {"__entity": {"type": "if", "id": "alice"}},
    {"__entity": {"type": "User", "id": 1}},
    {"__entity": 'User::"alice"'},
    {"type": "User", "id": "alice"},
    {"type": "User", "id": "alice", "extra": 1},
    {"__expr": "1"},
    {"__extn": {"fn": "ip", "args": ["10.0.0.1"]}},
    {"__extn": {"fn": "ip", "args": ["10.0.0.1", "::1"]}},
    {"__extn": {"fn": "decimal", "arg": 1}},
    {"__extn": {"fn": "offset", "args": [{"__extn": {"fn": "datetime", "arg": "2024-01-01"}},
                                         {"__extn": {"fn": "duration", "arg": "1h"}}]}},
    {"__extn": {"fn": "ip", "arg": "10.0.0.1"}, "__entity": {"type": "User", "id": "alice"}},
)


@st.composite
def json_values(draw: st.DrawFn, kind: str | None = None, depth: int = 2,
                invalid: bool = False) -> Any:
    """A value in Cedar's JSON format (`__entity` / `__extn` escapes included).

    Args:
        kind: the kind to produce (one of `KINDS`); any kind when None.
        depth: the maximum nesting of sets and records.
        invalid: sometimes produce a value Cedar rejects (bad extension argument,
            integer out of range).
    """
    if kind is None or (kind in ("set", "record") and depth <= 0):
        scalar_kinds = tuple(k for k in KINDS if k not in ("set", "record"))
        kind = draw(st.sampled_from(scalar_kinds if depth <= 0 else KINDS))
    if invalid and draw(st.integers(0, 299)) == 299:
        return draw(st.sampled_from(_EDGE_JSON_VALUES))
    if kind == "bool":
        return draw(st.booleans())
    if kind == "long":
        if draw(st.integers(0, 5)) == 5:
            return draw(st.sampled_from((LONG_MAX, LONG_MIN, LONG_MAX - 1, -1, 2**62)))
        return draw(st.integers(-3, 10))
    if kind == "string":
        return draw(st.sampled_from((*STRING_WORDS, *ENTITY_IDS, "x\ny", "a\\*b")))
    if kind == "entity":
        uid = draw(st.sampled_from(ENTITY_UIDS + ACTION_UIDS))
        return {"__entity": _uid_json(uid)}
    if kind == "set":
        item_kind = draw(st.one_of(st.none(), st.sampled_from(KINDS)))
        return draw(st.lists(json_values(item_kind, depth - 1, invalid), max_size=3))
    if kind == "record":
        return draw(_records(depth - 1, invalid))
    function = KIND_CONSTRUCTOR[kind]
    return {"__extn": {"fn": function, "arg": draw(_extension_args(function, invalid=False))}}


@st.composite
def _records(draw: st.DrawFn, depth: int, invalid: bool) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(ATTRIBUTE_NAMES), max_size=4, unique=True))
    out = {}
    for name in names:
        kind = _kind_of_attribute(name) if draw(st.integers(0, 5)) < 5 else None
        out[name] = draw(json_values(kind, depth, invalid))
    return out


@st.composite
def entity_lists(draw: st.DrawFn, invalid: bool = False, max_entities: int = 8) -> list[Any]:
    """Entities in Cedar's JSON format over the vocabulary.

    Parents come from later in a fixed order of uids, so the hierarchy is a DAG (with
    ``invalid`` sometimes a cycle or a duplicate); actions form groups `read`/`write` in
    `g` in `all`.
    """
    chosen = draw(st.lists(st.sampled_from(ENTITY_UIDS), max_size=max_entities, unique=True))
    order = {uid: i for i, uid in enumerate(ENTITY_UIDS)}
    out: list[Any] = []
    for uid in chosen:
        later = [u for u in ENTITY_UIDS if order[u] > order[uid]]
        parents = draw(st.lists(st.sampled_from(later), max_size=3, unique=True)) if later else []
        if invalid and draw(st.integers(0, 59)) == 59:
            parents.append(draw(st.sampled_from(ENTITY_UIDS)))  # may close a cycle
        entity: dict[str, Any] = {
            "uid": _uid_json(uid),
            "attrs": draw(_records(2, invalid)),
            "parents": [_uid_json(p) for p in parents],
        }
        if draw(st.booleans()):
            keys = draw(st.lists(st.sampled_from(TAG_KEYS), max_size=2, unique=True))
            entity["tags"] = {k: draw(json_values(None, 1, invalid)) for k in keys}
        out.append(entity)
    action_parents = {"read": ("g", "all"), "write": ("g", "all"), "g": ("all",), "all": ()}
    for action_id in draw(st.lists(st.sampled_from(ACTION_IDS), max_size=4, unique=True)):
        candidates = list(action_parents[action_id])
        parents = draw(st.lists(st.sampled_from(candidates), max_size=2, unique=True)) \
            if candidates else []
        entity = {
            "uid": _uid_json(("Action", action_id)),
            "attrs": draw(_records(1, invalid)) if draw(st.integers(0, 3)) == 3 else {},
            "parents": [_uid_json(("Action", p)) for p in parents],
        }
        out.append(entity)
    if invalid and out and draw(st.integers(0, 59)) == 59:
        duplicate = dict(out[0])  # the same uid again, identical or not
        if draw(st.booleans()):
            duplicate["attrs"] = {"n": 1}
        out.append(duplicate)
    if invalid and out and draw(st.integers(0, 19)) == 19:
        out[-1] = draw(_respelled_entities(out[-1]))
    return out


@st.composite
def _respelled_entities(draw: st.DrawFn, entity: dict[str, Any]) -> dict[str, Any]:
    """``entity`` with its uids written in another (valid or not) JSON form."""
    entity = dict(entity)
    choice = draw(st.integers(0, 4))
    if choice == 0:
        entity["uid"] = {"__entity": entity["uid"]}
    elif choice == 1:
        entity["parents"] = [{"__entity": p} for p in entity["parents"]]
    elif choice == 2:
        entity["uid"] = {**entity["uid"], "extra": 1}
    elif choice == 3:
        entity["parents"] = [{**p, "extra": 1} for p in entity["parents"]]
    else:
        entity["extra"] = 1
    return entity


@st.composite
def _unnormalized_uid_texts(draw: st.DrawFn, uid: tuple[str, str]) -> str:
    """`uid` as Cedar text in a spelling other than the normalized one."""
    entity_type, entity_id = uid
    text = uid_to_cedar(entity_type, entity_id)
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return text.replace("::", " :: ", 1)
    if choice == 1:
        return draw(st.sampled_from((f" {text}", f"{text}\n", f"{text} // c")))
    if choice == 2:
        return f"{entity_type}::{_unicode_escaped(entity_id or 'a')}"
    if choice == 3:
        return f'{entity_type}::"it\'s"'
    if choice == 4:  # characters that the normalized spelling escapes, left raw
        raw = draw(st.sampled_from(("a\u00a0b", "a\u200bb", "\u0301e")))
        return f'{entity_type}::"{raw}"'
    return f'{entity_type}::"\\x41"'


@st.composite
def _request_uids(draw: st.DrawFn, pool: tuple[tuple[str, str], ...],
                  preferred: tuple[tuple[str, str], ...], unnormalized: bool) -> Any:
    if preferred and draw(st.integers(0, 3)) < 3:
        uid = draw(st.sampled_from(preferred))
    else:
        uid = draw(st.sampled_from(pool))
    if unnormalized and draw(st.integers(0, 9)) == 9:
        return draw(_unnormalized_uid_texts(uid))
    if draw(st.booleans()):
        return uid_to_cedar(*uid)
    return _uid_json(uid)


@st.composite
def requests(
    draw: st.DrawFn,
    entities: list[Any] | None = None,
    invalid: bool = False,
    unnormalized: bool = False,
) -> dict[str, Any]:
    """A request dict (`principal`, `action`, `resource`, `context`) over the vocabulary.

    Uids are either `'Type::"id"'` text or `{"type": ..., "id": ...}`, mostly of the
    given ``entities`` (Cedar JSON) when there are some; the context is a record in
    Cedar's JSON format. With ``unnormalized``, uid text is sometimes spelled other than
    Cedar's normalized way (which Cedar rejects).
    """
    uids = [e["uid"].get("__entity", e["uid"]) for e in entities or ()]
    existing = tuple((u["type"], u["id"]) for u in uids)
    actions = tuple(u for u in existing if u[0] == "Action")
    others = tuple(u for u in existing if u[0] != "Action")
    action_pool = ACTION_UIDS if draw(st.integers(0, 9)) < 9 else ENTITY_UIDS[:3]
    return {
        "principal": draw(_request_uids(ENTITY_UIDS, others, unnormalized)),
        "action": draw(_request_uids(action_pool, actions, unnormalized)),
        "resource": draw(_request_uids(ENTITY_UIDS, others, unnormalized)),
        "context": draw(_records(2, invalid)),
    }


# -- whole cases for differential tests -------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """Policy text, entities (Cedar JSON), request dicts and template links to decide."""

    text: str
    entities: list[Any]
    requests: list[dict[str, Any]]
    links: tuple[Link, ...] = ()


@st.composite
def scenarios(
    draw: st.DrawFn, invalid: bool = False, max_requests: int = 4, unnormalized: bool = False
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Entities and requests mostly about those entities."""
    entities = draw(entity_lists(invalid=invalid))
    request_list = draw(st.lists(requests(entities, invalid, unnormalized), min_size=1,
                                 max_size=max_requests))
    return entities, request_list


@st.composite
def expression_cases(draw: st.DrawFn, depth: int = 4, invalid: bool = False) -> Case:
    """One `permit`/`forbid` policy with one condition over a generated expression."""
    condition = draw(expressions("bool", depth, malformed=True))
    effect = draw(st.sampled_from(("permit", "forbid")))
    keyword = draw(st.sampled_from(("when", "unless")))
    policy = Policy(effect, Scope("principal"), Scope("action"), Scope("resource"),
                    ((keyword, condition),))
    entities, request_list = draw(scenarios(invalid))
    return Case(policy_set_to_cedar([policy]), entities, request_list)


@st.composite
def policy_set_cases(draw: st.DrawFn, max_policies: int = 10, invalid: bool = True) -> Case:
    """Several policies with every scope form, over an entity hierarchy."""
    policy_list = draw(policy_sets(max_size=max_policies, malformed=True))
    entities, request_list = draw(scenarios(invalid))
    return Case(policy_set_to_cedar(policy_list), entities, request_list)


@st.composite
def scope_cases(draw: st.DrawFn, min_policies: int = 6, max_policies: int = 16) -> Case:
    """Many policies with mostly constrained scopes and small conditions.

    Aimed at scope matching and at any index a policy set builds over its scopes.
    """
    policy_list = draw(policy_sets(min_policies, max_policies, depth=1, max_conditions=1,
                                   constrained=True))
    entities, request_list = draw(scenarios(max_requests=6))
    return Case(policy_set_to_cedar(policy_list), entities, request_list)


@st.composite
def request_cases(draw: st.DrawFn, unnormalized: bool = True) -> Case:
    """A few small policies and many requests, some ill-formed (uid text, context values)."""
    policy_list = draw(policy_sets(max_size=3, depth=2))
    entities, request_list = draw(scenarios(invalid=True, max_requests=8,
                                            unnormalized=unnormalized))
    return Case(policy_set_to_cedar(policy_list), entities, request_list)


@st.composite
def template_cases(draw: st.DrawFn) -> Case:
    """Static policies, templates and links of the templates."""
    policy_list, links = draw(template_sets())
    entities, request_list = draw(scenarios())
    return Case(policy_set_to_cedar(policy_list), entities, request_list, tuple(links))


@st.composite
def mutated_cases(draw: st.DrawFn) -> Case:
    """A policy set whose text was mutated (mostly no longer Cedar)."""
    policy_list = draw(policy_sets(max_size=3, depth=2))
    text = draw(mutated_texts(policy_set_to_cedar(policy_list)))
    entities, request_list = draw(scenarios(max_requests=2))
    return Case(text, entities, request_list)


# =============================================================================================
# Datalog: random stratified programs with facts
# =============================================================================================
#
# A program is drawn as a small syntax tree (below) and printed twice: as Soufflé text for
# RUNE and as ASP for clingo. Relations hold small numbers (0 .. DATALOG_DOMAIN - 1), so
# joins hit often. Input relations `e0`, `e1` ... have facts only; derived relations `r0`,
# `r1` ... have a level each: a rule may read relations of its own level positively (so
# recursion, even mutual, happens) but negates or counts only input relations and derived
# relations of lower levels, which makes every program stratified. Rules draw from: up to
# three positive atoms (variables, constants, wildcards), a negated atom, a comparison, a
# `count` aggregate over one atom, a parenthesised disjunction, and a second head. No
# arithmetic makes new values (only counts, which are bounded), so every program
# terminates. Nothing here imports RUNE.

DATALOG_DOMAIN = 5
_DL_VARIABLES = ("A", "B", "C", "D")
_DL_COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True, slots=True)
class DlAtom:
    """`relation(args)`; an argument is a variable name, an int, or `_`."""

    relation: str
    args: tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class DlNegation:
    """`!atom` (Soufflé) / `not atom` (ASP)."""

    atom: DlAtom


@dataclass(frozen=True, slots=True)
class DlComparison:
    """`left op right` over bound variables and constants."""

    op: str
    left: str | int
    right: str | int


@dataclass(frozen=True, slots=True)
class DlCount:
    """`result = count : { atom }`; ``local`` names the atom's aggregate-local variables."""

    result: str
    atom: DlAtom
    local: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DlDisjunction:
    """`(a ; b ; ...)` of atoms whose variables the rest of the body binds."""

    options: tuple[DlAtom, ...]


DlLiteral = DlAtom | DlNegation | DlComparison | DlCount | DlDisjunction


@dataclass(frozen=True, slots=True)
class DlRule:
    """One rule: one or more heads and a conjunctive body (with at most one disjunction)."""

    heads: tuple[DlAtom, ...]
    body: tuple[DlLiteral, ...]


@dataclass(frozen=True, slots=True)
class DatalogCase:
    """A random program, its facts, and its texts for RUNE and for clingo.

    Attributes:
        relations: the arity of every relation.
        inputs: the input (fact-only) relations.
        rules: the rules.
        facts: input facts by relation (every input relation has an entry).
    """

    relations: dict[str, int]
    inputs: tuple[str, ...]
    rules: tuple[DlRule, ...]
    facts: dict[str, frozenset[tuple[int, ...]]]

    @property
    def souffle(self) -> str:
        """The program as Soufflé text (declarations and rules, no facts)."""
        lines = [
            f".decl {name}({', '.join(f'c{i}: number' for i in range(arity))})"
            for name, arity in self.relations.items()
        ]
        lines.extend(_dl_souffle_rule(rule) for rule in self.rules)
        return "\n".join(lines) + "\n"

    @property
    def asp(self) -> str:
        """The program as ASP text for clingo (rules, then the facts)."""
        lines = [text for rule in self.rules for text in _dl_asp_rules(rule)]
        for name, rows in self.facts.items():
            lines.extend(f"{name}({','.join(map(str, row))})." for row in sorted(rows))
        return "\n".join(lines) + "\n"


def _dl_term(arg: str | int) -> str:
    return str(arg)


def _dl_atom(atom: DlAtom) -> str:
    return f"{atom.relation}({', '.join(_dl_term(a) for a in atom.args)})"


def _dl_souffle_literal(literal: DlLiteral) -> str:
    if isinstance(literal, DlAtom):
        return _dl_atom(literal)
    if isinstance(literal, DlNegation):
        return "!" + _dl_atom(literal.atom)
    if isinstance(literal, DlComparison):
        return f"{_dl_term(literal.left)} {literal.op} {_dl_term(literal.right)}"
    if isinstance(literal, DlCount):
        return f"{literal.result} = count : {{ {_dl_atom(literal.atom)} }}"
    return "(" + " ; ".join(_dl_atom(option) for option in literal.options) + ")"


def _dl_souffle_rule(rule: DlRule) -> str:
    heads = ", ".join(_dl_atom(head) for head in rule.heads)
    body = ", ".join(_dl_souffle_literal(literal) for literal in rule.body)
    return f"{heads} :- {body}."


def _dl_asp_literal(literal: DlLiteral) -> str:
    if isinstance(literal, DlAtom):
        return _dl_atom(literal)
    if isinstance(literal, DlNegation):
        return "not " + _dl_atom(literal.atom)
    if isinstance(literal, DlComparison):
        op = "=" if literal.op == "=" else literal.op
        return f"{_dl_term(literal.left)} {op} {_dl_term(literal.right)}"
    if isinstance(literal, DlCount):
        terms = ",".join(("0", *literal.local))
        return f"{literal.result} = #count {{ {terms} : {_dl_atom(literal.atom)} }}"
    raise AssertionError("a disjunction is expanded before printing")


def _dl_asp_rules(rule: DlRule) -> list[str]:
    """One ASP rule per head and per disjunct."""
    bodies: list[list[DlLiteral]] = [[]]
    for literal in rule.body:
        if isinstance(literal, DlDisjunction):
            bodies = [[*body, option] for body in bodies for option in literal.options]
        else:
            for body in bodies:
                body.append(literal)
    return [
        f"{_dl_atom(head)} :- {', '.join(_dl_asp_literal(literal) for literal in body)}."
        for head in rule.heads
        for body in bodies
    ]


def _dl_argument(draw: st.DrawFn, variables: list[str], wildcard: bool) -> str | int:
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.integers(0, DATALOG_DOMAIN - 1))
    if choice == 1 and wildcard:
        return "_"
    return draw(st.sampled_from(variables))


def _dl_bound_argument(draw: st.DrawFn, bound: list[str], wildcard: bool) -> str | int:
    choice = draw(st.integers(0, 5))
    if choice == 0 or not bound:
        return draw(st.integers(0, DATALOG_DOMAIN - 1))
    if choice == 1 and wildcard:
        return "_"
    return draw(st.sampled_from(bound))


@st.composite
def _dl_rule(
    draw: st.DrawFn,
    head: str,
    relations: dict[str, int],
    positive: list[str],
    lower: list[str],
    same_level: list[str],
    features: bool,
) -> DlRule:
    """A rule for ``head`` reading ``positive`` relations and negating/counting ``lower``."""
    body: list[DlLiteral] = []
    bound: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        relation = draw(st.sampled_from(positive))
        args = tuple(
            _dl_argument(draw, list(_DL_VARIABLES[:3]), True) for _ in range(relations[relation])
        )
        body.append(DlAtom(relation, args))
        bound.extend(a for a in args if isinstance(a, str) and a != "_" and a not in bound)
    if features and lower and draw(st.integers(0, 2)) == 0:
        relation = draw(st.sampled_from(lower))
        args = tuple(_dl_bound_argument(draw, bound, True) for _ in range(relations[relation]))
        body.append(DlNegation(DlAtom(relation, args)))
    if features and bound and draw(st.integers(0, 3)) == 0:
        left = draw(st.sampled_from(bound))
        right = _dl_bound_argument(draw, bound, False)
        body.append(DlComparison(draw(st.sampled_from(_DL_COMPARISONS)), left, right))
    if features and lower and draw(st.integers(0, 4)) == 0:
        relation = draw(st.sampled_from(lower))
        local: list[str] = []
        args_list: list[str | int] = []
        for _ in range(relations[relation]):
            if bound and draw(st.booleans()):
                args_list.append(draw(st.sampled_from(bound)))
            elif draw(st.integers(0, 3)) == 0:
                args_list.append(draw(st.integers(0, DATALOG_DOMAIN - 1)))
            else:
                name = f"L{len(local)}"
                local.append(name)
                args_list.append(name)
        body.append(DlCount("N", DlAtom(relation, tuple(args_list)), tuple(local)))
        bound.append("N")
    if features and draw(st.integers(0, 5)) == 0:
        options = []
        for _ in range(2):
            relation = draw(st.sampled_from(positive))
            args = tuple(
                _dl_bound_argument(draw, bound, True) for _ in range(relations[relation])
            )
            options.append(DlAtom(relation, args))
        body.append(DlDisjunction(tuple(options)))
    heads = [DlAtom(head, tuple(_dl_bound_argument(draw, bound, False)
                                for _ in range(relations[head])))]
    others = [name for name in same_level if name != head]
    if features and others and draw(st.integers(0, 6)) == 0:
        second = draw(st.sampled_from(others))
        heads.append(DlAtom(second, tuple(_dl_bound_argument(draw, bound, False)
                                          for _ in range(relations[second]))))
    return DlRule(tuple(heads), tuple(body))


@st.composite
def datalog_facts(
    draw: st.DrawFn, relations: dict[str, int], names: tuple[str, ...], max_rows: int = 10
) -> dict[str, frozenset[tuple[int, ...]]]:
    """Random rows for each of ``names`` over the small domain (a few at least, so that
    rules derive something)."""
    value = st.integers(0, DATALOG_DOMAIN - 1)
    return {
        name: frozenset(
            draw(
                st.lists(
                    st.tuples(*[value] * relations[name]),
                    min_size=min(3, max_rows),
                    max_size=max_rows,
                )
            )
        )
        for name in names
    }


@st.composite
def datalog_cases(
    draw: st.DrawFn, max_derived: int = 4, max_rows: int = 10, features: bool = True
) -> DatalogCase:
    """A random stratified program with facts (see the section comment).

    With ``features=False`` rules are plain positive joins (recursion only).
    """
    relations: dict[str, int] = {}
    inputs = tuple(f"e{i}" for i in range(draw(st.integers(1, 3))))
    for name in inputs:
        relations[name] = draw(st.integers(1, 2))
    levels: dict[str, int] = {}
    level = 0
    for index in range(draw(st.integers(1, max_derived))):
        name = f"r{index}"
        relations[name] = draw(st.integers(1, 2))
        if index and draw(st.booleans()):
            level += 1
        levels[name] = level
    rules: list[DlRule] = []
    for name, own in levels.items():
        positive = [*inputs, *(n for n, lv in levels.items() if lv <= own)]
        lower = [*inputs, *(n for n, lv in levels.items() if lv < own)]
        same_level = [n for n, lv in levels.items() if lv == own]
        for _ in range(draw(st.integers(1, 3))):
            rules.append(
                draw(_dl_rule(name, relations, positive, lower, same_level, features))
            )
    facts = draw(datalog_facts(relations, inputs, max_rows))
    return DatalogCase(relations, inputs, tuple(rules), facts)


@st.composite
def datalog_updates(
    draw: st.DrawFn, case: DatalogCase, max_steps: int = 6
) -> list[tuple[dict[str, frozenset[tuple[int, ...]]], dict[str, frozenset[tuple[int, ...]]]]]:
    """A sequence of (insert, retract) fact changes to ``case``'s input relations.

    Retractions mostly name rows present at that point, so they take effect.
    """
    value = st.integers(0, DATALOG_DOMAIN - 1)
    current = {name: set(rows) for name, rows in case.facts.items()}
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        insert: dict[str, frozenset[tuple[int, ...]]] = {}
        retract: dict[str, frozenset[tuple[int, ...]]] = {}
        for name in case.inputs:
            arity = case.relations[name]
            rows = st.tuples(*[value] * arity)
            added = frozenset(draw(st.lists(rows, max_size=2)))
            present = sorted(current[name])
            removed: set[tuple[int, ...]] = set()
            if present:
                removed.update(draw(st.lists(st.sampled_from(present), max_size=2)))
            removed.update(draw(st.lists(rows, max_size=1)))
            if added:
                insert[name] = added
            if removed:
                retract[name] = frozenset(removed)
            current[name] = (current[name] - removed) | added
        steps.append((insert, retract))
    return steps


__all__ += [
    "DATALOG_DOMAIN",
    "DatalogCase",
    "DlAtom",
    "DlComparison",
    "DlCount",
    "DlDisjunction",
    "DlNegation",
    "DlRule",
    "datalog_cases",
    "datalog_facts",
    "datalog_updates",
]


# -- AuthZEN request bodies ----------------------------------------------------------------

# Names from the server's example bundles (examples/authzen-certification and
# examples/coding-agent), a few the stores do not hold, and a type Cedar cannot name.
_AUTHZEN_TYPES = ("user", "record", "Agent", "File", "Api", "user", "record", "Agent",
                  "File", "not a type")
_AUTHZEN_IDS = ("alice", "bob", "record-1", "record-2", "a1", "a2", "src/app.py",
                "config/.env", "llm", "nobody", 'quo"te')
_AUTHZEN_ACTIONS = ("read", "write", "read_file", "write_file", "call_api", "delete")
_AUTHZEN_PLAIN = ("admin", "active", "archived", "member", "dev", "prod", "", 3, 0, True,
                  False, ["member"], [], {})
_AUTHZEN_ODD = (None, 1.5, 2.25, 1 << 70, [None], {"a": 1},
                {"__entity": {"type": "user", "id": "alice"}})


@st.composite
def _authzen_value(draw: st.DrawFn) -> Any:
    """Mostly values Cedar holds as they are; now and then a null, a fraction, an
    integer past 64 bits, a nested record or a Cedar JSON escape."""
    odd = draw(st.integers(0, 5)) == 0
    return draw(st.sampled_from(_AUTHZEN_ODD if odd else _AUTHZEN_PLAIN))


@st.composite
def _authzen_properties(draw: st.DrawFn) -> Any:
    choice = draw(st.integers(0, 20))
    if choice == 0:
        return draw(st.sampled_from([[], "text", 1]))
    if choice < 10:
        return None
    return draw(st.dictionaries(st.sampled_from(["role", "status", "roles", "level",
                                                 "model", "path", "extra"]),
                                _authzen_value(), max_size=3))


@st.composite
def _authzen_entity(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([None, [], "user", {"type": "user"}, {"id": "alice"},
                                     {"type": 1, "id": "alice"}]))
    entity: dict[str, Any] = {"type": draw(st.sampled_from(_AUTHZEN_TYPES)),
                              "id": draw(st.sampled_from(_AUTHZEN_IDS))}
    properties = draw(_authzen_properties())
    if properties is not None:
        entity["properties"] = properties
    return entity


@st.composite
def authzen_evaluation_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Bodies of AuthZEN Access Evaluation requests: mostly well formed, naming entities
    the example bundles hold and some they do not, with properties that add to the
    store or do not, flat, nested, empty and profile contexts, and now and then a member
    missing, null or of the wrong kind."""
    body: dict[str, Any] = {"subject": draw(_authzen_entity()),
                            "resource": draw(_authzen_entity())}
    action: Any = {"name": draw(st.sampled_from(_AUTHZEN_ACTIONS))}
    properties = draw(_authzen_properties())
    if properties is not None:
        action["properties"] = properties
    if draw(st.integers(0, 30)) == 0:
        action = draw(st.sampled_from([None, {"name": 3}, {}, "read"]))
    body["action"] = action
    choice = draw(st.integers(0, 20))
    context: Any = None
    if choice == 0:
        context = draw(st.sampled_from([[], "text"]))
    elif choice > 8:
        context = draw(st.dictionaries(st.sampled_from(["env", "n", "nested", "approval",
                                                        "supported_obligations", "ok"]),
                                       _authzen_value(), max_size=3))
    if context is not None or draw(st.booleans()):
        body["context"] = context
    if draw(st.integers(0, 10)) == 0:
        body["extra"] = draw(_authzen_value())
    return body


__all__ += ["authzen_evaluation_bodies"]


@st.composite
def _authzen_plain_entity(draw: st.DrawFn) -> dict[str, Any]:
    return {"type": draw(st.sampled_from(_AUTHZEN_TYPES)),
            "id": draw(st.sampled_from(_AUTHZEN_IDS))}


@st.composite
def authzen_batch_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Bodies of AuthZEN Access Evaluations requests: mostly batches of plain items
    (entities the example bundles may hold, the defaults applying where an item leaves
    a member out), now and then items and defaults drawn as `authzen_evaluation_bodies`
    with members left out, and an `evaluations` or `options` of the wrong kind."""
    def some(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if draw(st.integers(0, 3))}

    odd = draw(st.integers(0, 3)) == 0
    if odd:
        body = some(draw(authzen_evaluation_bodies()))
        items: Any = [some(draw(authzen_evaluation_bodies()))
                      for _ in range(draw(st.integers(0, 4)))]
    else:
        body = {"subject": draw(_authzen_plain_entity()),
                "action": {"name": draw(st.sampled_from(_AUTHZEN_ACTIONS))}}
        if draw(st.booleans()):
            body["context"] = draw(st.dictionaries(st.sampled_from(["env", "n", "ok"]),
                                                   _authzen_value(), max_size=2))
        items = []
        for _ in range(draw(st.integers(1, 5))):
            item: dict[str, Any] = {"resource": draw(_authzen_plain_entity())}
            if draw(st.integers(0, 3)) == 0:
                item["subject"] = draw(_authzen_plain_entity())
            if draw(st.integers(0, 3)) == 0:
                item["action"] = {"name": draw(st.sampled_from(_AUTHZEN_ACTIONS))}
            items.append(item)
    if draw(st.integers(0, 20)) == 0:
        items = draw(st.sampled_from([None, {}, "all", [3]]))
    body["evaluations"] = items
    if draw(st.integers(0, 3)) == 0:
        body["options"] = {"evaluations_semantic": draw(st.sampled_from(
            ["execute_all", "deny_on_first_deny", "permit_on_first_permit", "first"]))}
    return body


__all__ += ["authzen_batch_bodies"]
