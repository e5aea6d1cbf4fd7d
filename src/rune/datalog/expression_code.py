"""Python source for the expressions of a rule: kinds, wrap-around arithmetic, temporaries.

`ExpressionWriter.render` turns a Datalog expression into one Python expression over the
rule's locals, in the kind its context expects: `number` arithmetic wraps at the
program's width (inlined as a range test, the helper `_ws` only on overflow), `/` and
`%` truncate like C, and so on (see `rune.datalog.runtime`).

Expressions can be thousands of levels deep (`1 + 1 + ... + 1`), and so would the Python
source be; CPython refuses more than 200 nested brackets and compiles recursively. So
rendering walks the tree with an explicit stack, and every `HOIST_DEPTH` levels it moves
the sub-expression so far into a temporary assigned by a statement of its own (queued in
``prelude``, which the caller emits before the line using the expression). Hoisting keeps
the order of evaluation (operands left of a hoisted one are hoisted before it), and the
right operand of `land`/`lor`, evaluated only when needed, stays so: its statements go
under an `if`. Ordinary rules are never that deep, and their code has no temporaries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rune.datalog.analysis import AnalysedProgram
from rune.datalog.ast import (
    BinaryOp,
    Comparison,
    Counter,
    Expr,
    FunctorCall,
    NumberConstant,
    StringConstant,
    TypeCast,
    UnaryOp,
    Variable,
)
from rune.datalog.errors import DatalogError, ErrorCode
from rune.datalog.types import Kind

__all__ = ["HOIST_DEPTH", "ExpressionWriter", "constant_value"]

# Operators nested in one generated expression before the rest goes to a temporary: each
# adds up to three brackets, well below CPython's 200 and its compiler's recursion limit.
HOIST_DEPTH = 12
# `cat` with more arguments than this is rendered as `"".join((...))`, not a `+` chain
# (which CPython compiles recursively, one level per operand).
_JOIN_ARGUMENTS = 16
_PLAIN_NUMBER = re.compile(r"-?[0-9][0-9.e+-]*")
_COMPARISON_OPERATORS = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def constant_value(expr: Expr, kind: Kind | None, bits: int) -> Any:
    """The value of a literal in a column or expression of ``kind``.

    Raises:
        DatalogError: (`number-out-of-range`) an integer literal outside the range of
            ``kind`` at ``bits`` bits (Soufflé refuses those too; they never wrap).
    """
    if isinstance(expr, StringConstant):
        return expr.value
    assert isinstance(expr, NumberConstant)
    value = expr.value
    if kind is Kind.FLOAT:
        return float(value)
    if isinstance(value, float):
        return value
    if kind is Kind.UNSIGNED:
        low, high = 0, (1 << bits) - 1
    else:
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if not low <= value <= high:
        what = "unsigned" if kind is Kind.UNSIGNED else "number"
        raise DatalogError(
            f"{what} constant `{value}` is out of range for a {bits}-bit `{what}` "
            f"[{low}, {high}]",
            code=ErrorCode.NUMBER_OUT_OF_RANGE,
            span=expr.span,
        )
    return value


@dataclass(slots=True)
class _Node:
    """An expression being rendered: what its children are rendered as, and so far."""

    expr: Expr
    kind: Kind
    children: list[tuple[Expr, Kind | None]]
    texts: list[str]
    depths: list[int]
    # The length of the prelude when each child started (to move a lazy operand's).
    marks: list[int]
    argument_kind: Kind | None = None


class ExpressionWriter:
    """Renders the expressions of one generated function.

    Args:
        program: the analysed program (types, relations).
        bits: the width of `number` and `unsigned`.
        kinds: the kinds of the rule's variables (shared with the caller, who adds the
            kinds of variables as it binds them).
        local: the Python name of a variable.
        temporary: a fresh Python name for a temporary.
    """

    def __init__(
        self,
        program: AnalysedProgram,
        bits: int,
        kinds: dict[str, Kind],
        local: Callable[[str], str],
        temporary: Callable[[], str],
    ) -> None:
        self.program = program
        self.bits = bits
        self.mask = (1 << bits) - 1
        self.half = 1 << (bits - 1)
        from rune.datalog.analysis.typing import KindInference  # (only to generate code)

        self.inference = KindInference(program.types, kinds, memoize=True)
        self.local = local
        self.temporary = temporary
        # Statements to emit before the next line: (indent relative to it, text).
        self.prelude: list[tuple[int, str]] = []

    def comparison(self, comparison: Comparison) -> str:
        """A test for a comparison (`=`, `<`, `match`, `contains` ...)."""
        op = comparison.op
        if op in ("match", "not_match", "contains", "not_contains"):
            left = self.render(comparison.left, Kind.SYMBOL)
            right = self.render(comparison.right, Kind.SYMBOL)
            test = f"_match({left}, {right})" if op.endswith("match") else f"({left} in {right})"
            return f"not {test}" if op.startswith("not_") else test
        self.inference.forget()
        left_kind = self.inference.natural(comparison.left)
        right_kind = self.inference.natural(comparison.right)
        kind = left_kind if isinstance(left_kind, Kind) else right_kind
        common = kind if isinstance(kind, Kind) else None
        left = self.render(comparison.left, common)
        right = self.render(comparison.right, common)
        return f"{left} {_COMPARISON_OPERATORS[op]} {right}"

    def resolve(self, expr: Expr, expected: Kind | None = None) -> Kind:
        """The kind ``expr`` evaluates in (see `KindInference.resolve`)."""
        self.inference.forget()
        return self.inference.resolve(expr, expected)

    def render(self, expr: Expr, expected: Kind | None) -> str:
        """``expr`` as a Python expression, in the kind ``expected`` of it when its own is
        open (a literal); statements it needs first are added to ``prelude``."""
        leaf = self.leaf(expr, expected)
        if leaf is not None:
            return leaf
        # The variables' kinds may have grown since the last expression was rendered.
        self.inference.forget()
        stack = [self.node(expr, expected)]
        while True:
            top = stack[-1]
            done = len(top.texts)
            if done < len(top.children):
                child, child_expected = top.children[done]
                top.marks.append(len(self.prelude))
                text = self.leaf(child, child_expected)
                if text is None:
                    stack.append(self.node(child, child_expected))
                else:
                    top.texts.append(text)
                    top.depths.append(0)
                continue
            stack.pop()
            text, depth = self.combine(top)
            if depth >= HOIST_DEPTH:
                name = self.temporary()
                self.prelude.append((0, f"{name} = {text}"))
                text, depth = name, 0
            if not stack:
                return text
            parent = stack[-1]
            position = len(parent.texts)
            parent.texts.append(text)
            parent.depths.append(depth)
            if position and len(self.prelude) > parent.marks[position] and not (
                isinstance(parent.expr, BinaryOp) and parent.expr.op in ("land", "lor")
            ):
                self.hoist_before(parent, position)

    def hoist_before(self, node: _Node, position: int) -> None:
        """Child ``position`` of ``node`` needed statements: evaluate the children before
        it into temporaries ahead of them, so that the order of evaluation (of `$`, and of
        which failure is reported) stays left to right."""
        for earlier in range(position - 1, -1, -1):
            text = node.texts[earlier]
            if text.isidentifier() or _PLAIN_NUMBER.fullmatch(text):
                continue  # a local or a constant: when it is read makes no difference
            name = self.temporary()
            self.prelude.insert(node.marks[earlier + 1], (0, f"{name} = {text}"))
            node.texts[earlier] = name
            node.depths[earlier] = 0
            for later in range(earlier + 1, len(node.marks)):
                node.marks[later] += 1

    def leaf(self, expr: Expr, expected: Kind | None) -> str | None:
        """The source of an expression without operators, or ``None``."""
        if isinstance(expr, Variable):
            return self.local(expr.name)
        if isinstance(expr, NumberConstant | StringConstant):
            kind = self.inference.resolve(expr, expected)
            return repr(constant_value(expr, kind, self.bits))
        if isinstance(expr, Counter):
            return "env.next_counter()"
        return None

    def node(self, expr: Expr, expected: Kind | None) -> _Node:
        """An operator node to render: the kind it computes in, and its children's."""
        if isinstance(expr, TypeCast):
            kind = self.program.types.kind_of(expr.type_name)
            return _Node(expr, kind or Kind.NUMBER, [(expr.value, kind)], [], [], [])
        kind = self.inference.resolve(expr, expected)
        if isinstance(expr, UnaryOp):
            return _Node(expr, kind, [(expr.operand, kind)], [], [], [])
        if isinstance(expr, BinaryOp):
            right_kind = kind
            if expr.op in ("bshl", "bshr", "bshru"):
                right_kind = self.inference.resolve(expr.right)
            return _Node(expr, kind, [(expr.left, kind), (expr.right, right_kind)], [], [], [])
        assert isinstance(expr, FunctorCall), f"cannot render {type(expr).__name__}"
        name = expr.name
        children: list[tuple[Expr, Kind | None]]
        argument_kind = None
        if name in ("min", "max"):
            children = [(arg, kind) for arg in expr.args]
        elif name == "cat":
            children = [(arg, Kind.SYMBOL) for arg in expr.args]
        elif name == "substr":
            children = [
                (expr.args[0], Kind.SYMBOL),
                (expr.args[1], Kind.NUMBER),
                (expr.args[2], Kind.NUMBER),
            ]
        else:
            argument_kind = self.inference.resolve(expr.args[0])
            children = [(expr.args[0], argument_kind)]
        return _Node(expr, kind, children, [], [], [], argument_kind)

    def combine(self, node: _Node) -> tuple[str, int]:
        """The source of a node from its children's, and its nesting depth."""
        expr = node.expr
        texts = node.texts
        depth = 1 + max(node.depths, default=0)
        if isinstance(expr, TypeCast):
            return texts[0], depth - 1
        if isinstance(expr, UnaryOp):
            return self.unary(expr.op, node.kind, texts[0]), depth
        if isinstance(expr, BinaryOp):
            if expr.op in ("land", "lor") and len(self.prelude) > node.marks[1]:
                return self.lazy(expr.op, texts[0], texts[1], node.marks[1]), 0
            return self.binary(expr.op, node.kind, texts[0], texts[1]), depth
        assert isinstance(expr, FunctorCall)
        return self.functor(expr.name, node.kind, node.argument_kind, texts), depth

    def lazy(self, op: str, left: str, right: str, mark: int) -> str:
        """`land`/`lor` whose right operand needs statements: they run only when the left
        operand does not decide the result, as the inline form would."""
        statements = self.prelude[mark:]
        del self.prelude[mark:]
        result = self.temporary()
        self.prelude.append((0, f"{result} = {0 if op == 'land' else 1}"))
        self.prelude.append((0, f"if {left}:" if op == "land" else f"if not {left}:"))
        self.prelude.extend((indent + 1, text) for indent, text in statements)
        self.prelude.append((1, f"{result} = 1 if {right} else 0"))
        return result

    def wrap(self, text: str, kind: Kind) -> str:
        """``text`` wrapped around to the range of ``kind`` (integers only)."""
        if kind is Kind.NUMBER:
            temporary = self.temporary()
            return (
                f"({temporary} if {-self.half} <= ({temporary} := {text}) <= {self.half - 1} "
                f"else _ws({temporary}))"
            )
        if kind is Kind.UNSIGNED:
            return f"(({text}) & {self.mask})"
        return text

    def unary(self, op: str, kind: Kind, operand: str) -> str:
        if op == "-":
            if kind is Kind.FLOAT:
                return f"(-{operand})"
            return self.wrap(f"-{operand}", kind)
        if op == "bnot":
            return f"(~{operand} & {self.mask})" if kind is Kind.UNSIGNED else f"(~{operand})"
        return f"(0 if {operand} else 1)"  # lnot

    def binary(self, op: str, kind: Kind, left: str, right: str) -> str:
        if op in ("bshl", "bshr", "bshru"):
            suffix = "u" if kind is Kind.UNSIGNED else "s"
            helper = {"bshl": "_shl", "bshr": "_shr", "bshru": "_shru"}[op]
            if kind is Kind.UNSIGNED and op == "bshru":
                helper = "_shr"
            return f"{helper}_{suffix}({left}, {right})"
        if op in ("+", "-", "*"):
            return self.wrap(f"{left} {op} {right}", kind)
        if op in ("/", "%") and kind is not Kind.FLOAT:
            # Python's // and % agree with C's for a non-negative dividend and a positive
            # divisor: inline that case, call the helper for the others (signs, zero).
            helper = ("_div" if op == "/" else "_mod") + ("_s" if kind is Kind.NUMBER else "_u")
            python = "//" if op == "/" else "%"
            a, b = self.temporary(), self.temporary()
            # `&` (not `and`) so that both operands are always evaluated, once.
            guard = f"(({a} := {left}) >= 0) & (({b} := {right}) > 0)"
            return f"({a} {python} {b} if {guard} else {helper}({a}, {b}))"
        if op in ("/", "%", "^"):
            helper = {"/": "_div", "%": "_mod", "^": "_pow"}[op]
            suffix = {Kind.NUMBER: "s", Kind.UNSIGNED: "u", Kind.FLOAT: "f"}[kind]
            return f"{helper}_{suffix}({left}, {right})"
        if op in ("band", "bor", "bxor"):
            symbol = {"band": "&", "bor": "|", "bxor": "^"}[op]
            return f"({left} {symbol} {right})"
        if op == "land":
            return f"(1 if {left} and {right} else 0)"
        if op == "lor":
            return f"(1 if {left} or {right} else 0)"
        return f"(1 if bool({left}) != bool({right}) else 0)"  # lxor

    def functor(
        self, name: str, kind: Kind, argument_kind: Kind | None, args: Sequence[str]
    ) -> str:
        if name in ("min", "max"):
            return f"{name}({', '.join(args)})"
        if name == "cat":
            if len(args) == 1:
                return args[0]
            if len(args) > _JOIN_ARGUMENTS:
                return f"''.join(({', '.join(args)},))"
            return "(" + " + ".join(args) + ")"
        if name == "substr":
            return f"_substr({args[0]}, {args[1]}, {args[2]})"
        value = args[0]
        assert argument_kind is not None
        if name == "strlen":
            return f"len({value})"
        if name == "ord":
            return f"env.ordinal({value})"
        if name == "to_string":
            return value if argument_kind is Kind.SYMBOL else f"_to_string({value})"
        if name in ("to_number", "ftoi", "utoi"):
            return {
                Kind.SYMBOL: f"_to_number({value})",
                Kind.FLOAT: f"_ftoi({value})",
                Kind.UNSIGNED: f"_ws({value})",
                Kind.NUMBER: value,
            }[argument_kind]
        if name in ("to_unsigned", "ftou", "itou"):
            return {
                Kind.SYMBOL: f"_to_unsigned({value})",
                Kind.FLOAT: f"_ftou({value})",
                Kind.NUMBER: f"({value} & {self.mask})",
                Kind.UNSIGNED: value,
            }[argument_kind]
        if name in ("to_float", "itof", "utof"):
            return f"_to_float({value})" if argument_kind is Kind.SYMBOL else f"float({value})"
        raise AssertionError(f"unexpected functor {name}")
