"""The subset of the Common Expression Language (CEL) that COAZ mappings are written in.

COAZ-MCP requires a CEL evaluator (every default mapping holds expressions such as
`token.sub`, `token.?client_id` and `params.ref.type == 'ref/prompt' ? ... : ...`). This
module is a small, dependency-free one over JSON values: text is compiled once into an
`Expression` (when a tool list is read), then evaluated per request.

Supported: null, bool, int (64-bit, decimal or hex, `u` suffix accepted), double and
string literals (single, double or raw quotes, the usual escapes), lists and maps;
field selection `a.b`, optional selection `a.?b`, indexing `a[i]` and `a[?i]`; unary `!`
and `-`; `* / %`, `+ -` (numbers, string and list concatenation), `< <= > >= == != in`,
`&&` and `||` (commutative over errors, as CEL's), the conditional `c ? x : y`; the macros
`has(a.b)`, `e.all(x, p)`, `e.exists(x, p)`, `e.exists_one(x, p)`, `e.map(x, t)`,
`e.filter(x, p)`; the functions `size`, `int`, `double`, `string`, `bool`, and the
methods `size`, `startsWith`, `endsWith`, `contains`, `lowerAscii`, `upperAscii`,
`hasValue`, `value`, `orValue`, `or`, and `optional.of(x)`, `optional.none()`. Anything
else (timestamps, `matches`, protobuf messages, type names) is a syntax or evaluation
error, never a guess.

Optional values (CEL's optional types): `a.?b` is `optional.none()` when `a` has no
member `b` and `optional.of(a.b)` otherwise; selecting through an empty optional stays
empty. A mapping field whose expression ends in an empty optional is left out of the
request; a present optional is its value.

Hostile input: expressions are at most 4,096 characters and 48 levels deep, and have no
loops beyond the macros, which visit each element once; integers stay in 64 bits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from rune.integrations.mcp.errors import MappingError

__all__ = ["Expression", "OptionalValue", "compile_expression"]

MAX_LENGTH: Final = 4096
MAX_DEPTH: Final = 48
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1


class OptionalValue:
    """A CEL optional: `optional.of(value)` or, with ``present`` false, `optional.none()`."""

    __slots__ = ("present", "value")

    def __init__(self, present: bool, value: Any = None) -> None:
        self.present = present
        self.value = value

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, OptionalValue) and self.present == other.present
                and (not self.present or _equal(self.value, other.value)))

    def __hash__(self) -> int:
        return hash(self.present)

    def __repr__(self) -> str:
        return f"optional.of({self.value!r})" if self.present else "optional.none()"


_NONE = OptionalValue(False)


class _Failure(Exception):
    """An evaluation error inside the evaluator (becomes a `MappingError`)."""


# -- lexer ----------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?)
  | (?P<string>[rR]?(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\.\?|\[\?|==|!=|<=|>=|&&|\|\||[-+*/%!<>?:.,()\[\]{}])
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "`": "`",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v", "?": "?"}
_RESERVED = frozenset({"as", "break", "const", "continue", "else", "for", "function", "if",
                       "import", "let", "loop", "package", "namespace", "return", "var",
                       "void", "while"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, string, ident, op, end
    text: str
    offset: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _syntax(text, position, f"unexpected character `{text[position]}`")
        kind = match.lastgroup or ""
        if kind != "space":
            out.append(_Token(kind, match.group(), position))
        position = match.end()
    out.append(_Token("end", "", len(text)))
    return out


def _unescape(token: _Token, source: str) -> str:
    text = token.text
    if text[0] in "rR":
        return text[2:-1]
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape = body[i + 1]
        if escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            i += 2
        elif escape in "uU":
            width = 4 if escape == "u" else 8
            digits = body[i + 2:i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise _syntax(source, token.offset, "bad unicode escape in a string")
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise _syntax(source, token.offset, "bad unicode escape in a string")
            out.append(chr(code))
            i += 2 + width
        else:
            raise _syntax(source, token.offset, f"unknown escape `\\{escape}` in a string")
    return "".join(out)


def _syntax(source: str, offset: int, message: str) -> MappingError:
    return MappingError(f"expression `{_shown(source)}`: {message} (at column {offset + 1})",
                        code="cel-syntax")


def _shown(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."


# -- syntax tree: each node is a closure over the variables ----------------------------------

_Node = Callable[[Mapping[str, Any]], Any]

_BINARY_PRECEDENCE: Final = {
    "||": 1, "&&": 2,
    "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3, "in": 3,
    "+": 4, "-": 4, "*": 5, "/": 5, "%": 5,
}


class _Parser:
    """Recursive descent with precedence climbing; builds closures directly."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokens(source)
        self.index = 0
        self.depth = 0
        # `a.b` nodes by id: (the node of `a`, "b"), so that `has(a.b)` tests presence.
        self.selections: dict[int, tuple[_Node, str]] = {}

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def expect(self, text: str) -> None:
        if self.token.text != text or self.token.kind not in ("op", "ident"):
            raise self.error(f"expected `{text}`")
        self.advance()

    def error(self, message: str) -> MappingError:
        token = self.token
        found = "the end" if token.kind == "end" else f"`{token.text}`"
        return _syntax(self.source, token.offset, f"{message}, found {found}")

    def parse(self) -> _Node:
        node = self.expression()
        if self.token.kind != "end":
            raise self.error("expected the end of the expression")
        return node

    def expression(self) -> _Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _syntax(self.source, self.token.offset, "expression nests too deeply")
        try:
            condition = self.binary(1)
            if self.token.text == "?" and self.token.kind == "op":
                self.advance()
                then = self.expression()
                self.expect(":")
                otherwise = self.expression()
                return _conditional(condition, then, otherwise)
            return condition
        finally:
            self.depth -= 1

    def binary(self, minimum: int) -> _Node:
        left = self.unary()
        while True:
            token = self.token
            precedence = _BINARY_PRECEDENCE.get(token.text) if token.kind in ("op", "ident") \
                else None
            if precedence is None or precedence < minimum or (
                    token.kind == "ident" and token.text != "in"):
                return left
            self.advance()
            right = self.binary(precedence + 1)
            left = _binary(token.text, left, right)

    def unary(self) -> _Node:
        token = self.token
        if token.kind == "op" and token.text in ("!", "-"):
            self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _syntax(self.source, token.offset, "expression nests too deeply")
            try:
                operand = self.unary()
            finally:
                self.depth -= 1
            return _not(operand) if token.text == "!" else _negate(operand)
        return self.member()

    def member(self) -> _Node:
        node, name = self.primary()
        while True:
            token = self.token
            if token.kind != "op":
                return node
            if token.text in (".", ".?"):
                self.advance()
                field = self.advance()
                if field.kind != "ident":
                    raise _syntax(self.source, field.offset, "expected a field name")
                if self.token.text == "(" and token.text == ".":
                    self.advance()
                    node = self.method(node, field.text, name)
                    name = None
                else:
                    selected = _select(node, field.text, token.text == ".?")
                    if token.text == ".":
                        self.selections[id(selected)] = (node, field.text)
                    node = selected
                    name = f"{name}.{field.text}" if name is not None else None
            elif token.text in ("[", "[?"):
                self.advance()
                index = self.expression()
                self.expect("]")
                node = _index(node, index, token.text == "[?")
                name = None
            else:
                return node

    def arguments(self) -> list[_Node]:
        out: list[_Node] = []
        if self.token.text == ")":
            self.advance()
            return out
        while True:
            out.append(self.expression())
            if self.token.text == ",":
                self.advance()
                continue
            self.expect(")")
            return out

    def method(self, target: _Node, name: str, qualified: str | None) -> _Node:
        if qualified == "optional" and name in ("of", "none"):
            arguments = self.arguments()
            if name == "of" and len(arguments) == 1:
                return _optional_of(arguments[0])
            if name == "none" and not arguments:
                return lambda variables: _NONE
            raise self.error(f"wrong number of arguments to `optional.{name}`")
        if name in _MACROS:
            variable = self.advance()
            if variable.kind != "ident":
                raise _syntax(self.source, variable.offset, f"`{name}` needs a variable name")
            self.expect(",")
            body = self.expression()
            self.expect(")")
            return _MACROS[name](target, variable.text, body)
        arguments = self.arguments()
        function = _METHODS.get(name)
        if function is None:
            raise _syntax(self.source, self.token.offset, f"unknown function `{name}`")
        return _call(function, name, [target, *arguments])

    def primary(self) -> tuple[_Node, str | None]:
        token = self.advance()
        if token.kind == "number":
            value = _number(token, self.source)
            return (lambda variables: value), None
        if token.kind == "string":
            text = _unescape(token, self.source)
            return (lambda variables: text), None
        if token.kind == "ident":
            name = token.text
            if name in ("true", "false"):
                constant = name == "true"
                return (lambda variables: constant), None
            if name == "null":
                return (lambda variables: None), None
            if name in _RESERVED or name == "in":
                raise _syntax(self.source, token.offset, f"`{name}` is a reserved word")
            if self.token.text == "(":
                self.advance()
                return self.function(name, token), None
            return _variable(name), name
        if token.kind == "op":
            if token.text == "(":
                node = self.expression()
                self.expect(")")
                return node, None
            if token.text == "[":
                items = self.sequence("]")
                return _list(items), None
            if token.text == "{":
                return self.map_literal(), None
        self.index -= 1 if token.kind != "end" else 0
        raise self.error("expected a value")

    def sequence(self, close: str) -> list[_Node]:
        items: list[_Node] = []
        while self.token.text != close:
            items.append(self.expression())
            if self.token.text != ",":
                break
            self.advance()
        self.expect(close)
        return items

    def map_literal(self) -> _Node:
        entries: list[tuple[_Node, _Node]] = []
        while self.token.text != "}":
            key = self.expression()
            self.expect(":")
            entries.append((key, self.expression()))
            if self.token.text != ",":
                break
            self.advance()
        self.expect("}")
        return _map(entries)

    def function(self, name: str, token: _Token) -> _Node:
        if name == "has":
            argument = self.expression()
            self.expect(")")
            selection = self.selections.get(id(argument))
            if selection is None:
                raise _syntax(self.source, token.offset, "`has` needs a field selection")
            return _has(*selection)
        arguments = self.arguments()
        function = _FUNCTIONS.get(name)
        if function is None:
            raise _syntax(self.source, token.offset, f"unknown function `{name}`")
        return _call(function, name, arguments)


def _number(token: _Token, source: str) -> int | float:
    text = token.text.rstrip("uU")
    unsigned = text != token.text
    try:
        if text[:2] in ("0x", "0X"):
            value: int | float = int(text, 16)
        elif any(c in text for c in ".eE"):
            if unsigned:
                raise ValueError
            value = float(text)
        else:
            value = int(text)
    except ValueError:
        raise _syntax(source, token.offset, f"bad number `{token.text}`") from None
    if isinstance(value, int) and value > (_INT_MAX if not unsigned else (1 << 64) - 1):
        raise _syntax(source, token.offset, f"number `{token.text}` is out of range")
    return value


# -- node builders --------------------------------------------------------------------------

def _variable(name: str) -> _Node:
    def run(variables: Mapping[str, Any]) -> Any:
        if name not in variables:
            raise _Failure(f"undeclared reference to `{name}`")
        return variables[name]
    return run


def _select(target: _Node, field: str, optional: bool) -> _Node:
    def run(variables: Mapping[str, Any]) -> Any:
        value = target(variables)
        wrapped = isinstance(value, OptionalValue)
        if wrapped:
            if not value.present:
                return _NONE
            value = value.value
        if not isinstance(value, dict):
            raise _Failure(f"no field `{field}` on a {_kind(value)}")
        if field not in value:
            if optional or wrapped:
                return _NONE
            raise _Failure(f"no such key `{field}`")
        return OptionalValue(True, value[field]) if optional or wrapped else value[field]
    return run


def _index(target: _Node, index: _Node, optional: bool) -> _Node:
    def run(variables: Mapping[str, Any]) -> Any:
        value = target(variables)
        key = index(variables)
        wrapped = isinstance(value, OptionalValue)
        if wrapped:
            if not value.present:
                return _NONE
            value = value.value
        found = _lookup(value, key)
        if found is _MISSING:
            if optional or wrapped:
                return _NONE
            raise _Failure(f"no such key `{_shown(repr(key), 60)}`")
        return OptionalValue(True, found) if optional or wrapped else found
    return run


_MISSING: Final = object()


def _lookup(container: Any, key: Any) -> Any:
    if isinstance(container, dict):
        if isinstance(key, OptionalValue) or not _hashable(key):
            raise _Failure("unsupported map key")
        if isinstance(key, float) and key.is_integer():
            key = int(key)
        return container.get(key, _MISSING) if isinstance(key, str) else _MISSING
    if isinstance(container, list):
        if isinstance(key, bool) or not isinstance(key, int | float):
            raise _Failure(f"a list index must be a number, not a {_kind(key)}")
        if isinstance(key, float):
            if not key.is_integer():
                raise _Failure("a list index must be a whole number")
            key = int(key)
        if 0 <= key < len(container):
            return container[key]
        raise _Failure(f"index {key} is out of range")
    raise _Failure(f"cannot index a {_kind(container)}")


def _hashable(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _has(target: _Node, field: str) -> _Node:
    def run(variables: Mapping[str, Any]) -> Any:
        value = target(variables)
        if isinstance(value, OptionalValue):
            return value.present and isinstance(value.value, dict) and field in value.value
        if not isinstance(value, dict):
            raise _Failure(f"`has` on a {_kind(value)}")
        return field in value
    return run


def _conditional(condition: _Node, then: _Node, otherwise: _Node) -> _Node:
    def run(variables: Mapping[str, Any]) -> Any:
        test = condition(variables)
        if not isinstance(test, bool):
            raise _Failure(f"a condition must be a bool, not a {_kind(test)}")
        return then(variables) if test else otherwise(variables)
    return run


def _not(operand: _Node) -> _Node:
    def run(variables: Mapping[str, Any]) -> Any:
        value = operand(variables)
        if not isinstance(value, bool):
            raise _Failure(f"`!` on a {_kind(value)}")
        return not value
    return run


def _negate(operand: _Node) -> _Node:
    def run(variables: Mapping[str, Any]) -> Any:
        value = operand(variables)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Failure(f"`-` on a {_kind(value)}")
        return _checked(-value)
    return run


def _logical(operator: str, left: _Node, right: _Node) -> _Node:
    # CEL's && and || are commutative over errors: `false && error` is false, whichever
    # side fails, and an error stands only when the other side does not decide.
    decisive = operator == "||"

    def run(variables: Mapping[str, Any]) -> Any:
        failure: _Failure | None = None
        try:
            first = left(variables)
            if not isinstance(first, bool):
                raise _Failure(f"`{operator}` on a {_kind(first)}")
            if first is decisive:
                return decisive
        except _Failure as error:
            failure = error
        second = right(variables)
        if not isinstance(second, bool):
            raise _Failure(f"`{operator}` on a {_kind(second)}")
        if second is decisive:
            return decisive
        if failure is not None:
            raise failure
        return not decisive
    return run


def _binary(operator: str, left: _Node, right: _Node) -> _Node:
    if operator in ("&&", "||"):
        return _logical(operator, left, right)
    apply = _OPERATORS[operator]

    def run(variables: Mapping[str, Any]) -> Any:
        return apply(left(variables), right(variables))
    return run


def _list(items: list[_Node]) -> _Node:
    def run(variables: Mapping[str, Any]) -> Any:
        return [_plain(item(variables)) for item in items]
    return run


def _map(entries: list[tuple[_Node, _Node]]) -> _Node:
    def run(variables: Mapping[str, Any]) -> Any:
        out: dict[str, Any] = {}
        for key_node, value_node in entries:
            key = key_node(variables)
            if not isinstance(key, str):
                raise _Failure(f"a map key must be a string here, not a {_kind(key)}")
            if key in out:
                raise _Failure(f"repeated map key `{_shown(key, 60)}`")
            out[key] = _plain(value_node(variables))
        return out
    return run


def _plain(value: Any) -> Any:
    """An element of a list or map literal: an optional is no JSON value."""
    if isinstance(value, OptionalValue):
        raise _Failure("an optional value inside a list or map")
    return value


def _optional_of(argument: _Node) -> _Node:
    def run(variables: Mapping[str, Any]) -> Any:
        return OptionalValue(True, argument(variables))
    return run


def _call(function: Callable[..., Any], name: str, arguments: list[_Node]) -> _Node:
    def run(variables: Mapping[str, Any]) -> Any:
        values = [argument(variables) for argument in arguments]
        try:
            return function(*values)
        except TypeError:
            raise _Failure(f"no overload of `{name}` for these arguments") from None
    return run


def _comprehension(kind: str) -> Callable[[_Node, str, _Node], _Node]:
    def build(target: _Node, name: str, body: _Node) -> _Node:
        def run(variables: Mapping[str, Any]) -> Any:
            collection = target(variables)
            if isinstance(collection, dict):
                elements: list[Any] = list(collection)
            elif isinstance(collection, list):
                elements = collection
            else:
                raise _Failure(f"`{kind}` on a {_kind(collection)}")
            scope = dict(variables)
            results: list[Any] = []
            for element in elements:
                scope[name] = element
                results.append(body(scope) if kind != "all" and kind != "exists"
                               else _guarded(body, scope))
            return _finish(kind, elements, results)
        return run
    return build


def _guarded(body: _Node, scope: Mapping[str, Any]) -> Any:
    try:
        return body(scope)
    except _Failure as error:
        return error


def _finish(kind: str, elements: list[Any], results: list[Any]) -> Any:
    if kind == "map":
        return [_plain(result) for result in results]
    for result in results:
        if not isinstance(result, bool | _Failure):
            raise _Failure(f"the predicate of `{kind}` must be a bool, not a {_kind(result)}")
    if kind == "filter":
        return [e for e, keep in zip(elements, results, strict=True) if keep is True]
    if kind == "exists_one":
        return sum(1 for result in results if result is True) == 1
    decisive = kind == "exists"  # exists: any true; all: any false decides
    if any(result is decisive for result in results):
        return decisive
    failure = next((r for r in results if isinstance(r, _Failure)), None)
    if failure is not None:
        raise failure
    return not decisive


_MACROS: Final = {kind: _comprehension(kind)
                  for kind in ("all", "exists", "exists_one", "map", "filter")}


# -- operators and functions ----------------------------------------------------------------

def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, OptionalValue):
        return "optional"
    return "value"


def _checked(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and \
            not _INT_MIN <= value <= _INT_MAX:
        raise _Failure("integer overflow")
    return value


def _numbers(a: Any, b: Any) -> bool:
    return (isinstance(a, int | float) and not isinstance(a, bool)
            and isinstance(b, int | float) and not isinstance(b, bool))


def _equal(a: Any, b: Any) -> bool:
    if _numbers(a, b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _add(a: Any, b: Any) -> Any:
    if _numbers(a, b) or (isinstance(a, str) and isinstance(b, str)) or (
            isinstance(a, list) and isinstance(b, list)):
        if isinstance(a, str | list) and len(a) + len(b) > 1 << 20:
            raise _Failure("value too large")
        return _checked(a + b)
    raise _Failure(f"no `+` for a {_kind(a)} and a {_kind(b)}")


def _arithmetic(operator: str) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if not _numbers(a, b):
            raise _Failure(f"no `{operator}` for a {_kind(a)} and a {_kind(b)}")
        if operator == "-":
            return _checked(a - b)
        if operator == "*":
            return _checked(a * b)
        if b == 0 and isinstance(a, int) and isinstance(b, int):
            raise _Failure("division by zero" if operator == "/" else "modulus by zero")
        if isinstance(a, int) and isinstance(b, int):
            # CEL truncates toward zero (Python floors).
            quotient = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
            return _checked(quotient if operator == "/" else a - b * quotient)
        if operator == "%":
            raise _Failure("no `%` for doubles")
        try:
            return a / b
        except ZeroDivisionError:
            return float("inf") if a > 0 else float("-inf") if a < 0 else float("nan")
    return apply


def _compare(operator: str) -> Callable[[Any, Any], bool]:
    def apply(a: Any, b: Any) -> bool:
        if not (_numbers(a, b) or (isinstance(a, str) and isinstance(b, str))
                or (isinstance(a, bool) and isinstance(b, bool))):
            raise _Failure(f"no `{operator}` for a {_kind(a)} and a {_kind(b)}")
        if operator == "<":
            return bool(a < b)
        if operator == "<=":
            return bool(a <= b)
        if operator == ">":
            return bool(a > b)
        return bool(a >= b)
    return apply


def _member(a: Any, b: Any) -> bool:
    if isinstance(b, list):
        return any(_equal(a, item) for item in b)
    if isinstance(b, dict):
        return isinstance(a, str) and a in b
    raise _Failure(f"no `in` for a {_kind(b)}")


_OPERATORS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "==": _equal, "!=": lambda a, b: not _equal(a, b),
    "<": _compare("<"), "<=": _compare("<="), ">": _compare(">"), ">=": _compare(">="),
    "in": _member, "+": _add, "-": _arithmetic("-"), "*": _arithmetic("*"),
    "/": _arithmetic("/"), "%": _arithmetic("%"),
}


def _size(value: Any) -> int:
    if isinstance(value, str | list | dict):
        return len(value)
    raise _Failure(f"no `size` for a {_kind(value)}")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Failure("no `int` for a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or not -9.223372036854776e18 <= value < 9.223372036854776e18:
            raise _Failure("double out of the int range")
        return int(value)
    if isinstance(value, str):
        try:
            number = int(value, 10)
        except ValueError:
            raise _Failure(f"`{_shown(value, 60)}` is not an int") from None
        if not _INT_MIN <= number <= _INT_MAX:
            raise _Failure("integer overflow")
        return number
    raise _Failure(f"no `int` for a {_kind(value)}")


def _to_double(value: Any) -> float:
    if isinstance(value, bool):
        raise _Failure("no `double` for a bool")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise _Failure(f"`{_shown(value, 60)}` is not a double") from None
    raise _Failure(f"no `double` for a {_kind(value)}")


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    raise _Failure(f"no `string` for a {_kind(value)}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "True", "TRUE", "t", "1"):
        return True
    if value in ("false", "False", "FALSE", "f", "0"):
        return False
    raise _Failure(f"no `bool` for this {_kind(value)}")


def _strings(name: str, apply: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def run(a: Any, b: Any) -> bool:
        if not (isinstance(a, str) and isinstance(b, str)):
            raise _Failure(f"no `{name}` for a {_kind(a)} and a {_kind(b)}")
        return apply(a, b)
    return run


def _ascii(name: str, upper: bool) -> Callable[[Any], str]:
    def run(a: Any) -> str:
        if not isinstance(a, str):
            raise _Failure(f"no `{name}` for a {_kind(a)}")
        table = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        if not upper:
            table = {v: k for k, v in table.items()}
        return a.translate(table)
    return run


def _optional(name: str) -> Callable[..., Any]:
    def run(target: Any, *rest: Any) -> Any:
        if not isinstance(target, OptionalValue):
            raise _Failure(f"no `{name}` for a {_kind(target)}")
        if name == "hasValue" and not rest:
            return target.present
        if name == "value" and not rest:
            if not target.present:
                raise _Failure("`value` of an empty optional")
            return target.value
        if name == "orValue" and len(rest) == 1:
            return target.value if target.present else rest[0]
        if name == "or" and len(rest) == 1 and isinstance(rest[0], OptionalValue):
            return target if target.present else rest[0]
        raise _Failure(f"no overload of `{name}` for these arguments")
    return run


_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "size": _size, "int": _to_int, "double": _to_double, "string": _to_string,
    "bool": _to_bool,
}
_METHODS: Final[dict[str, Callable[..., Any]]] = {
    "size": _size,
    "startsWith": _strings("startsWith", str.startswith),
    "endsWith": _strings("endsWith", str.endswith),
    "contains": _strings("contains", lambda a, b: b in a),
    "lowerAscii": _ascii("lowerAscii", upper=False),
    "upperAscii": _ascii("upperAscii", upper=True),
    **{name: _optional(name) for name in ("hasValue", "value", "orValue", "or")},
}


# -- the compiled expression ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled CEL expression; ``text`` is its source (without the `$`)."""

    text: str
    _run: _Node

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The value of the expression over ``variables`` (JSON values by name); an
        `OptionalValue` when it ends in an optional.

        Raises:
            MappingError: (`cel-evaluation`) the expression fails: a missing key, a
                type mismatch, an overflow.
        """
        try:
            return self._run(variables)
        except _Failure as failure:
            raise MappingError(f"expression `{_shown(self.text)}` failed: {failure}",
                               code="cel-evaluation") from None
        except RecursionError:
            raise MappingError(f"expression `{_shown(self.text)}` failed: value nests "
                               "too deeply", code="cel-evaluation") from None


def compile_expression(text: str) -> Expression:
    """Parse ``text`` (a CEL expression, without the mapping's `$`) once.

    Raises:
        MappingError: (`cel-syntax`) text that is too long, nests too deeply, or is not in
            the supported subset.
    """
    if len(text) > MAX_LENGTH:
        raise MappingError(f"expression `{_shown(text)}` is longer than {MAX_LENGTH} "
                           "characters", code="cel-syntax")
    return Expression(text, _Parser(text).parse())
