"""Compile Cedar policies to Python functions, once, at load time.

Each policy becomes one generated Python function `f(P, A, R, C, E) -> bool` over the
request's principal, action, resource (`EntityUID`s), context (`CedarRecord`) and the
entity table (`dict[EntityUID, Entity]`). It returns whether the policy is satisfied
and raises `EvaluationError` where Cedar's evaluator would.

The generator tracks each subexpression's static type where the syntax fixes it
(`principal` is an entity, `context` a record, `a < b` a Bool, ...) and emits plain
Python operators when types are known, falling back to the checked primitives of
`rune.cedar._runtime` otherwise. Constant subexpressions (set, record and extension
literals) are folded. Deep expressions are split into helper functions so CPython's
compiler never meets an over-deep expression, and chains of any length (`a || b || ...`,
`x.a.b.c...`, `1 + 2 + ...`) compile flat: neither this module nor the code it generates
recurses once per link, whatever the policy.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rune._internal.code_cache import compile_generated
from rune.cedar import _runtime as rt
from rune.cedar import ast
from rune.cedar._like import like_matcher
from rune.cedar.errors import EvaluationError
from rune.cedar.values import LONG_MAX, LONG_MIN, CedarRecord, CedarSet, EntityUID, set_key

__all__ = [
    "CompiledPolicy",
    "FusablePart",
    "compile_policy",
    "fusable_condition",
    "like_matcher",
    "scope_test",
]

PolicyFunction = Callable[[EntityUID, EntityUID, EntityUID, CedarRecord, Mapping[Any, Any]], bool]

# Static types tracked by the generator. None = unknown until run time.
_BOOL, _LONG, _STRING, _ENTITY, _SET, _RECORD = "bool", "long", "string", "entity", "set", "record"
_MAX_DEPTH = 24  # nesting depth at which a subexpression is hoisted into its own function
_MAX_INLINE_TEXT = 16_384  # and its length (so no generated function is huge)
_CACHED_SOURCE_MAX = 1 << 16  # longer generated sources are neither cached nor compiled whole

_NO_CONST = object()
_name = sys.intern  # constant names recur in every policy's namespace
_CODE_CACHE: dict[str, tuple[str, Any, Any]] = {}
_CODE_CACHE_MAX = 4096
_BUILTIN_ARITY = {"contains": 1, "containsAll": 1, "containsAny": 1, "isEmpty": 0,
                  "getTag": 1, "hasTag": 1}


@dataclass(frozen=True, slots=True)
class _Code:
    """A generated Python expression, its static type, nesting depth and constant value."""

    text: str
    type: str | None
    depth: int = 1
    const: Any = _NO_CONST


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy ready to run: `condition` assumes the scope already matched the request;
    `full` also checks the scope (used when the policy set is small enough not to index)."""

    id: str
    forbid: bool
    condition: PolicyFunction
    full_code: Any  # code defining `full` in `condition`'s namespace, run on first use
    source: str  # the generated Python, for debugging and `explain`

    @property
    def full(self) -> PolicyFunction:
        """`condition` with the scope checks (made on first use: an indexed set of
        policies never needs it, and 1,000 unused functions cost memory)."""
        namespace = self.condition.__globals__
        function = namespace.get("full")
        if function is None:
            exec(self.full_code, namespace)
            function = namespace["full"]
        return function  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class FusablePart:
    """A policy's `condition` as parts to splice into one function with others
    (`rune.cedar.index` fuses each candidate plan): the expression, the helper functions
    it calls and the constants both name (`_k<n>`, `_h<n>`; the fuser renames them apart).

    The expression is *optimistic*: it reads attributes with plain subscripts, so a
    missing attribute or entity raises some exception instead of Cedar's error. The fuser
    then re-runs the policy's precise `condition`, which decides or raises the right
    error; when no exception is raised, both agree.
    """

    text: str
    helpers: str
    constants: Mapping[str, Any]


class _Generator:
    """Generates the Python module text for one policy."""

    def __init__(self, slots: Mapping[str, EntityUID], prefix: str = "",
                 optimistic: bool = False) -> None:
        self.slots = slots
        self.optimistic = optimistic  # see `FusablePart`
        self.prefix = prefix  # keeps names apart when several policies share one module
        self.consts: dict[str, Any] = {}
        self._const_ids: dict[tuple[type, Any], str] = {}
        self.helpers: list[str] = []
        self._temp = 0

    # -- names ----------------------------------------------------------------------------
    def temp(self) -> str:
        self._temp += 1
        return f"_t{self._temp}"

    def const(self, value: Any) -> str:
        key: tuple[type, Any] | None = None
        # Sets and records are not shared: comparing a nested literal with every equal
        # one met before costs its size each time (and `[[...]] == [[...]]` meets one at
        # every level).
        if value.__class__ is not CedarSet and value.__class__ is not CedarRecord:
            try:
                key = (value.__class__, value)
                hash(key)
            except TypeError:
                key = None
        if key is not None and key in self._const_ids:
            return self._const_ids[key]
        name = _name(f"{self.prefix}_k{len(self.consts)}")
        self.consts[name] = value
        if key is not None:
            self._const_ids[key] = name
        return name

    def literal(self, value: Any) -> _Code:
        cls = value.__class__
        if cls is bool:
            return _Code("True" if value else "False", _BOOL, const=value)
        if cls is int:
            return _Code(f"({value})", _LONG, const=value)
        if cls is str:
            return _Code(self.const(value), _STRING, const=value)
        if cls is EntityUID:
            return _Code(self.const(value), _ENTITY, const=value)
        if cls is CedarSet:
            return _Code(self.const(value), _SET, const=value)
        if cls is CedarRecord:
            return _Code(self.const(value), _RECORD, const=value)
        return _Code(self.const(value), None, const=value)

    def hoist(self, code: _Code) -> _Code:
        if code.depth < _MAX_DEPTH and len(code.text) <= _MAX_INLINE_TEXT:
            return code
        return _Code(self.helper(f"    return {code.text}\n"), code.type, 1, code.const)

    def failing(self, exc: EvaluationError, type_: str | None = None) -> _Code:
        return _Code(f"_rt.fail({self.const(exc.message)}, {self.const(exc.code)})", type_)

    def as_bool(self, code: _Code) -> str:
        if code.type == _BOOL:
            return code.text
        # Inline `check_bool`: Booleans are the common case, anything else is a type error.
        t = self.temp()
        return (f"(True if ({t} := {code.text}) is True else "
                f"(False if {t} is False else _rt.check_bool({t})))")

    # -- expressions ------------------------------------------------------------------------
    #
    # A syntax tree can be as deep as its text is long (`a || b || ...`, `x.a.b.c...`,
    # `1 + 1 + ...` nest to the left), so the tree is walked with an explicit stack, never
    # by recursion. Each node is compiled from its children's code by a `_Build`; chains
    # are compiled flat (see `_plan`), so the generated Python nests only as deeply as the
    # text's own parentheses, and not at all at run time.

    def expr(self, root: ast.Expr) -> _Code:
        """The code of ``root``: a post-order walk over an explicit stack of tasks."""
        codes: list[_Code] = []
        tasks: list[Any] = [root]
        leaves = _LEAVES
        while tasks:
            task = tasks.pop()
            if task.__class__ is _Build:
                count = task.count
                if count:
                    children = codes[-count:]
                    del codes[-count:]
                else:
                    children = []
                codes.append(self.hoist(task.build(task.node, children)))
                continue
            leaf = leaves.get(task.__class__)
            if leaf is not None:
                codes.append(self.hoist(leaf(self, task)))
                continue
            children_nodes, build = self._plan(task)
            tasks.append(_Build(task, len(children_nodes), build))
            tasks.extend(reversed(children_nodes))
        # INVARIANT: every task pushes exactly one code, consuming its children's.
        assert len(codes) == 1
        return codes[0]

    def _plan(self, node: Any) -> tuple[list[Any], Callable[[Any, list[_Code]], _Code]]:
        """The child nodes to compile first (in Cedar's evaluation order) and how to
        build ``node``'s code from theirs."""
        cls = node.__class__
        if cls is ast.And or cls is ast.Or:
            return self._plan_chain(node)
        if cls in _SPINE and _spine_length(node, _SPINE_INLINE) >= _SPINE_INLINE:
            return self._plan_spine(node)
        if cls is ast.BinaryOp:
            return [node.left, node.right], lambda n, c: self._binary_op(n, c[0], c[1])
        if cls is ast.GetAttr:
            return [node.expr], lambda n, c: self._get_attr(n, c[0])
        if cls is ast.MethodCall:
            return [node.receiver, *node.args], lambda n, c: self._method_call(n, c[0], c[1:])
        if cls is ast.If:
            return [node.cond, node.then, node.else_], lambda n, c: self._if(*c)
        if cls is ast.Not:
            return [node.arg], lambda n, c: self._not(c[0])
        if cls is ast.Neg:
            return [node.arg], lambda n, c: self._neg(c[0])
        if cls is ast.Like:
            return [node.expr], lambda n, c: self._like(n, c[0])
        if cls is ast.Is:
            if node.in_expr is None:
                return [node.expr], lambda n, c: self._is(n, c[0], None)
            return [node.expr, node.in_expr], lambda n, c: self._is(n, c[0], c[1])
        if cls is ast.Has:
            return [node.expr], lambda n, c: self._has(n, c[0])
        if cls is ast.ExtensionCall:
            return list(node.args), lambda n, c: self._extension_call(n, c)
        if cls is ast.SetLiteral:
            return list(node.elements), lambda n, c: self._set_literal(c)
        if cls is ast.RecordLiteral:
            return [v for _, v in node.items], lambda n, c: self._record_literal(n, c)
        raise AssertionError(f"unknown expression node {cls.__name__}")

    def _literal(self, node: ast.Literal) -> _Code:
        return self.literal(node.value)

    def _var(self, node: ast.Var) -> _Code:
        return {
            "principal": _Code("P", _ENTITY),
            "action": _Code("A", _ENTITY),
            "resource": _Code("R", _ENTITY),
            "context": _Code("C", _RECORD),
        }[node.name]

    def _slot(self, node: ast.Slot) -> _Code:
        value = self.slots.get(node.name)
        if value is None:
            return self.failing(EvaluationError(f"template slot `?{node.name}` is not linked"))
        return self.literal(value)

    def _if(self, c: _Code, t: _Code, e: _Code) -> _Code:
        if c.const is True:
            return t
        if c.const is False:
            return e
        typ = t.type if t.type == e.type else None
        depth = max(c.depth, t.depth, e.depth) + 1
        return _Code(f"({t.text} if {self.as_bool(c)} else {e.text})", typ, depth)

    # -- `&&` and `||` chains -----------------------------------------------------------------

    def _plan_chain(self, node: ast.And | ast.Or
                    ) -> tuple[list[Any], Callable[[Any, list[_Code]], _Code]]:
        """`a && b && c` (or `||`) as one flat chain of operands, left to right.

        A run of `e has a.b.c...` conjuncts (the parser shares `e`, `e.a`, `e.a.b`
        between them) becomes one `_rt.has_path` call when long, which keeps its code
        linear in the path rather than quadratic.
        """
        cls = node.__class__
        operands: list[Any] = []
        current: Any = node
        while current.__class__ is cls:
            operands.append(current.right)
            current = current.left
        operands.append(current)
        operands.reverse()
        items: list[tuple[str, ...] | None] = []  # per child: None, or a has-path's names
        children: list[Any] = []
        i = 0
        while i < len(operands):
            names = _has_run(operands, i) if cls is ast.And else None
            if names is not None:
                children.append(operands[i].expr)
                items.append(names)
                i += len(names)
            else:
                children.append(operands[i])
                items.append(None)
                i += 1
        keyword = "and" if cls is ast.And else "or"
        return children, lambda n, c: self._chain(keyword, items, c)

    def _chain(self, keyword: str, items: list[tuple[str, ...] | None],
               codes: list[_Code]) -> _Code:
        first = codes[0]
        if items[0] is None and first.const is (keyword == "or"):
            # `true || ...` is true and `false && ...` false, as `_rt` would find.
            return first
        texts = []
        for names, code in zip(items, codes, strict=True):
            if names is None:
                texts.append(self.as_bool(code))
            else:
                texts.append(f"_rt.has_path(E, {code.text}, {self.const(names)})")
        depth = max(code.depth for code in codes) + 1
        runs = _chunks(texts)
        if len(runs) == 1:
            return _Code(f"({f' {keyword} '.join(texts)})", _BOOL, depth)
        # A very long chain: one helper per run, so no generated function is huge.
        calls = [self.helper(f"    return ({f' {keyword} '.join(run)})\n") for run in runs]
        return _Code(f"({f' {keyword} '.join(calls)})", _BOOL, 1)

    # -- left-nested chains of `+ - *`, `.attr` and `.method(...)` ----------------------------

    def _plan_spine(self, node: Any) -> tuple[list[Any], Callable[[Any, list[_Code]], _Code]]:
        """A long left-nested chain (`x.a.b.c...`, `1 + 2 - 3 ...`, `d.offset(x).offset(y)`)
        compiled as statements, one per link, each reading the value so far from `v`:
        evaluated left to right like the nested expression, with no nesting."""
        links: list[Any] = []
        current = node
        while current.__class__ in _SPINE and (
            current.__class__ is not ast.BinaryOp or current.op in _ARITHMETIC
        ):
            links.append(current)
            current = _spine_child(current)
        links.reverse()
        children: list[Any] = [current]
        counts = []
        for link in links:
            cls = link.__class__
            if cls is ast.BinaryOp:
                children.append(link.right)
                counts.append(1)
            elif cls is ast.MethodCall:
                children.extend(link.args)
                counts.append(len(link.args))
            else:
                counts.append(0)
        return children, lambda n, c: self._spine(links, counts, c)

    def _spine(self, links: list[Any], counts: list[int], codes: list[_Code]) -> _Code:
        statements: list[str] = []
        value = codes[0]
        at = 1
        for link, count in zip(links, counts, strict=True):
            args = codes[at:at + count]
            at += count
            if value.const is _NO_CONST and value.text != "v":
                statements.append(f"    v = {value.text}\n")
                value = _Code("v", value.type)
            cls = link.__class__
            if cls is ast.BinaryOp:
                value = self._binary_op(link, value, args[0])
            elif cls is ast.MethodCall:
                value = self._method_call(link, value, args)
            else:
                value = self._get_attr(link, value)
        if not statements:
            return value  # every link was folded into a constant
        statements.append(f"    return {value.text}\n")
        return _Code(self._statements(statements), value.type, 1, value.const)

    def _statements(self, statements: list[str]) -> str:
        """A call of a helper running ``statements`` (which set `v`, then return)."""
        runs = _chunks(statements[:-1])
        if len(runs) == 1:
            return self.helper("".join(statements))
        body = ["    v = None\n"]
        for run in runs:
            call = self.helper("".join(run) + "    return v\n", "v")
            body.append(f"    v = {call}\n")
        body.append(statements[-1])
        return self.helper("".join(body))

    def helper(self, body: str, *extra: str) -> str:
        """Define a helper function with ``body`` (parameters P, A, R, C, E and
        ``extra``); the text calling it."""
        name = f"{self.prefix}_h{len(self.helpers)}"
        params = ", ".join(("P", "A", "R", "C", "E", *extra))
        self.helpers.append(f"def {name}({params}):\n{body}")
        return f"{name}({params})"

    # -- operators --------------------------------------------------------------------------

    def _not(self, arg: _Code) -> _Code:
        if arg.type == _BOOL:
            return _Code(f"(not {arg.text})", _BOOL, arg.depth + 1)
        return _Code(f"_rt.not_({arg.text})", _BOOL, arg.depth + 1)

    def _neg(self, arg: _Code) -> _Code:
        if arg.const is not _NO_CONST:
            try:
                return self.literal(rt.neg(arg.const))
            except EvaluationError as exc:
                return self.failing(exc, _LONG)
        return _Code(f"_rt.neg({arg.text})", _LONG, arg.depth + 1)

    def _binary_op(self, node: ast.BinaryOp, left: _Code, right: _Code) -> _Code:
        depth = max(left.depth, right.depth) + 1
        op = node.op
        if op in ("==", "!="):
            text = self._equal(left, right)
            if op == "!=":
                text = f"(not {text})"
            return _Code(text, _BOOL, depth)
        if op in ("<", "<=", ">", ">="):
            return _Code(self._compare(op, left, right), _BOOL, depth)
        if op in _ARITHMETIC:
            fn = _ARITHMETIC[op]
            if left.const is not _NO_CONST and right.const is not _NO_CONST:
                try:
                    return self.literal(getattr(rt, fn)(left.const, right.const))
                except EvaluationError as exc:
                    return self.failing(exc, _LONG)
            if left.type == _LONG and right.type == _LONG:
                # The slow path (an overflow) needs the operands again: name them unless
                # they are plain names or numbers, or nested sums would double their text
                # at every level.
                a, b = self.reusable(left.text), self.reusable(right.text)
                t = self.temp()
                return _Code(
                    f"({t} if {LONG_MIN} <= ({t} := {a[0]} {op} {b[0]}) <= {LONG_MAX}"
                    f" else _rt.{fn}({a[1]}, {b[1]}))",
                    _LONG, depth,
                )
            return _Code(f"_rt.{fn}({left.text}, {right.text})", _LONG, depth)
        if op == "in":
            return _Code(self._in(left, right), _BOOL, depth)
        raise AssertionError(f"unknown binary operator {op}")

    def reusable(self, text: str) -> tuple[str, str]:
        """(text evaluating ``text``, text reading its value again afterwards)."""
        if _PLAIN.fullmatch(text):
            return text, text
        t = self.temp()
        return f"({t} := {text})", t

    def _equal(self, left: _Code, right: _Code) -> str:
        # Python's `==` is Cedar's `==` unless a Bool can meet a Long (True == 1 in Python).
        safe = {_STRING, _ENTITY, _SET, _RECORD}
        if left.type in safe or right.type in safe or (
            left.type is not None and left.type == right.type
        ):
            return f"({left.text} == {right.text})"
        # Inline `cedar_equal`: Python's `==`, except that a Bool equals only itself.
        a, b = self.temp(), self.temp()
        return (f"(({a} := {left.text}) == ({b} := {right.text}) and ({a} is {b} or"
                f" ({a}.__class__ is not bool and {b}.__class__ is not bool)))")

    def _compare(self, op: str, left: _Code, right: _Code) -> str:
        if left.type == _LONG and right.type == _LONG:
            return f"({left.text} {op} {right.text})"
        flipped = {"<": "<", "<=": "<=", ">": "<", ">=": "<="}[op]
        a, b = (left, right) if op in ("<", "<=") else (right, left)
        fn = "lt" if flipped == "<" else "le"
        if b.type == _LONG and b.const is not _NO_CONST and a.type is None:
            t = self.temp()
            return (f"({t} {flipped} {b.text} if ({t} := {a.text}).__class__ is int"
                    f" else _rt.{fn}({t}, {b.text}))")
        if a.type == _LONG and a.const is not _NO_CONST and b.type is None:
            t = self.temp()
            return (f"({a.text} {flipped} {t} if ({t} := {b.text}).__class__ is int"
                    f" else _rt.{fn}({a.text}, {t}))")
        # Both operands are always evaluated (a chained `is` evaluates its middle once).
        ta, tb = self.temp(), self.temp()
        return (f"({ta} {flipped} {tb} if ({ta} := {a.text}).__class__ is ({tb} := {b.text})"
                f".__class__ is int else _rt.{fn}({ta}, {tb}))")

    def _in(self, left: _Code, right: _Code) -> str:
        if left.type == _ENTITY and right.const is not _NO_CONST:
            target = right.const
            lhs = left.text
            prefix = ""
            if lhs not in ("P", "A", "R"):
                t = self.temp()
                prefix, lhs = f"({t} := {lhs}) is not None and ", t
            e = self.temp()
            if target.__class__ is EntityUID:
                k = self.const(target)
                return (f"({prefix}({lhs} == {k} or (({e} := E.get({lhs})) is not None"
                        f" and {k} in {e}.ancestors)))")
            if target.__class__ is CedarSet and all(
                k.__class__ is EntityUID for k in target.keys
            ):
                k = self.const(target.keys)
                return (f"({prefix}({lhs} in {k} or (({e} := E.get({lhs})) is not None"
                        f" and not {k}.isdisjoint({e}.ancestors))))")
        if right.const is _NO_CONST:
            return self._in_value(left, right)
        return f"_rt.entity_in(E, {left.text}, {right.text})"

    def _in_value(self, left: _Code, right: _Code) -> str:
        """`a in b` where ``b`` is known only at run time (`principal in
        resource.owner_team`): when both are entities, the test is inline, one lookup of
        ``a``'s entity (in a fused plan, the principal's or resource's entity already at
        hand); anything else is `_rt.entity_in`'s. Both sides are always evaluated, left
        first."""
        t = self.temp()
        if left.type == _ENTITY and left.text in ("P", "A", "R"):
            lhs = left.text
            entities = f"({t} := {right.text}).__class__ is _UID"
        else:
            lhs = self.temp()
            # (`x is y is z` evaluates both sides before comparing their classes)
            entities = (f"({lhs} := {left.text}).__class__ is ({t} := {right.text}).__class__"
                        " is _UID")
        if self.optimistic:
            # A missing entity raises here, and the precise condition decides.
            test = f"({lhs} == {t} or {t} in E.get({lhs}).ancestors)"
        else:
            e = self.temp()
            test = (f"({lhs} == {t} or (({e} := E.get({lhs})) is not None"
                    f" and {t} in {e}.ancestors))")
        return f"({test} if {entities} else _rt.entity_in(E, {lhs}, {t}))"

    def _like(self, node: ast.Like, arg: _Code) -> _Code:
        m = self.const(like_matcher(node.pattern))
        if arg.type == _STRING:
            return _Code(f"{m}({arg.text})", _BOOL, arg.depth + 1)
        t = self.temp()
        return _Code(f"({m}({t}) if ({t} := {arg.text}).__class__ is str else _rt.like({t}, {m}))",
                     _BOOL, arg.depth + 1)

    def _is(self, node: ast.Is, arg: _Code, target: _Code | None) -> _Code:
        t = self.const(node.entity_type)
        if target is None:
            if arg.type == _ENTITY:
                return _Code(f"({arg.text}[0] == {t})", _BOOL, arg.depth + 1)
            return _Code(f"_rt.is_type({arg.text}, {t})", _BOOL, arg.depth + 1)
        # `x is T in y` is `x is T && x in y`.
        tmp = self.temp()
        bound = _Code(tmp, arg.type)
        test = self._in(bound, target)
        depth = max(arg.depth, target.depth) + 2
        return _Code(f"(_rt.is_type(({tmp} := {arg.text}), {t}) and {test})", _BOOL, depth)

    def _has(self, node: ast.Has, arg: _Code) -> _Code:
        a = self.const(node.attr)
        if arg.type == _RECORD:
            return _Code(f"({a} in {arg.text})", _BOOL, arg.depth + 1)
        if arg.type == _ENTITY:
            e = self.temp()
            return _Code(f"(({e} := E.get({arg.text})) is not None and {a} in {e}.attrs)",
                         _BOOL, arg.depth + 1)
        t = self.temp()
        return _Code(f"({a} in {t} if ({t} := {arg.text}).__class__ is _REC"
                     f" else _rt.has_attr(E, {t}, {a}))", _BOOL, arg.depth + 1)

    def _get_attr(self, node: ast.GetAttr, arg: _Code) -> _Code:
        a = self.const(node.attr)
        depth = arg.depth + 1
        if arg.const is not _NO_CONST and arg.type == _RECORD:
            try:
                return self.literal(rt.attr({}, arg.const, node.attr))
            except EvaluationError as exc:
                return self.failing(exc)
        if self.optimistic and arg.type in (_RECORD, _ENTITY):
            # Missing attribute or entity: an exception, and the caller re-runs `condition`.
            if arg.type == _RECORD:
                return _Code(f"{arg.text}[{a}]", None, depth)
            return _Code(f"E.get({arg.text}).attrs[{a}]", None, depth)
        if arg.type == _RECORD:
            t = self.temp()
            if arg.text == "C":
                return _Code(f"({t} if ({t} := C.get({a}, _MISSING)) is not _MISSING"
                             f" else _rt.attr(E, C, {a}))", None, depth)
            r = self.temp()
            return _Code(f"({t} if ({t} := ({r} := {arg.text}).get({a}, _MISSING))"
                         f" is not _MISSING else _rt.attr(E, {r}, {a}))", None, depth)
        if arg.type == _ENTITY:
            # Inline the entity-table lookup; the slow path raises the precise error.
            t, e = self.temp(), self.temp()
            x, key = arg.text, arg.text
            if x not in ("P", "A", "R"):
                x = self.temp()
                key = f"({x} := {arg.text})"
            return _Code(
                f"({t} if ({t} := ({e}.attrs.get({a}, _MISSING) if ({e} := E.get({key}))"
                f" is not None else _MISSING)) is not _MISSING else _rt.attr(E, {x}, {a}))",
                None, depth)
        # A value known only at run time (`context.session.depth`, `resource.repo.owner`):
        # records and entities read inline, anything else through `_rt.attr`.
        t = self.temp()
        if self.optimistic:
            return _Code(
                f"({t}[{a}] if ({t} := {arg.text}).__class__ is _REC else"
                f" E.get({t}).attrs[{a}] if {t}.__class__ is _UID else _rt.attr(E, {t}, {a}))",
                None, depth)
        v, e = self.temp(), self.temp()
        return _Code(
            f"({v} if ({v} := ({t}.get({a}, _MISSING) if ({t} := {arg.text}).__class__ is _REC"
            f" else ({e}.attrs.get({a}, _MISSING) if {t}.__class__ is _UID and"
            f" ({e} := E.get({t})) is not None else _MISSING))) is not _MISSING"
            f" else _rt.attr(E, {t}, {a}))", None, depth)

    def _method_call(self, node: ast.MethodCall, recv: _Code, args: list[_Code]) -> _Code:
        depth = max([recv.depth, *(a.depth for a in args)]) + 1
        name = node.name
        builtin = {
            "contains": "contains", "containsAll": "contains_all", "containsAny": "contains_any",
            "isEmpty": "is_empty", "getTag": "get_tag", "hasTag": "has_tag",
        }
        if name in builtin:
            if len(args) != _BUILTIN_ARITY[name]:
                return self.failing(EvaluationError(
                    f"`{name}` takes {_BUILTIN_ARITY[name]} argument(s), got {len(args)}",
                    code="wrong-arity"))
            if name == "contains" and recv.type == _SET and args[0].const is not _NO_CONST:
                k = self.const(set_key(args[0].const))
                return _Code(f"({k} in {recv.text}.keys)", _BOOL, depth)
            inline = self._set_method(name, recv, args)
            if inline is not None:
                return _Code(inline, _BOOL, depth)
            fn = builtin[name]
            e = "E, " if name in ("getTag", "hasTag") else ""
            typ = None if name == "getTag" else _BOOL
            arg_text = ", ".join(a.text for a in args)
            return _Code(f"_rt.{fn}({e}{recv.text}, {arg_text})".replace(", )", ")"), typ, depth)
        from rune.cedar.extensions import METHODS

        method = METHODS.get(name)
        if method is None:
            return self.failing(EvaluationError(f"unknown method `{name}`",
                                                code="unknown-method"))
        values = [recv, *args]
        if len(values) != method.arity:
            return self.failing(EvaluationError(
                f"`{name}` takes {method.arity - 1} argument(s), got {len(args)}",
                code="wrong-arity"))
        if all(v.const is not _NO_CONST for v in values):
            try:
                return self.literal(method.impl(*(v.const for v in values)))
            except EvaluationError as exc:
                return self.failing(exc)
        f = self.const(method.impl)
        return _Code(f"{f}({', '.join(v.text for v in values)})", _static(method), depth)

    def _set_method(self, name: str, recv: _Code, args: list[_Code]) -> str | None:
        """`contains`, `containsAny`, `containsAll` on sets known only at run time
        (`principal.scopes.contains("x")`, `a.tags.containsAny(b.tags)`): the set
        operation inline when the classes are right, else `_rt`'s checked function (which
        raises the type error). Receiver and argument are always evaluated, in order.
        None for the other builtins."""
        if name == "contains":
            if args[0].const is _NO_CONST:
                return None
            k = self.const(set_key(args[0].const))
            t = self.temp()
            return (f"({k} in {t}.keys if ({t} := {recv.text}).__class__ is _SET"
                    f" else _rt.contains({t}, {args[0].text}))")
        if name not in ("containsAny", "containsAll"):
            return None
        fn = "contains_any" if name == "containsAny" else "contains_all"
        a, b = self.temp(), self.temp()
        other = args[0]
        if other.const is not _NO_CONST and other.const.__class__ is CedarSet:
            keys = self.const(other.const.keys)
            test = (f"not {a}.keys.isdisjoint({keys})" if name == "containsAny"
                    else f"{keys} <= {a}.keys")
            return (f"({test} if ({a} := {recv.text}).__class__ is _SET"
                    f" else _rt.{fn}({a}, {other.text}))")
        test = (f"not {a}.keys.isdisjoint({b}.keys)" if name == "containsAny"
                else f"{b}.keys <= {a}.keys")
        # (`x is y is z` evaluates both sides before comparing their classes)
        return (f"({test} if ({a} := {recv.text}).__class__ is ({b} := {other.text}).__class__"
                f" is _SET else _rt.{fn}({a}, {b}))")

    def _extension_call(self, node: ast.ExtensionCall, args: list[_Code]) -> _Code:
        from rune.cedar.extensions import FUNCTIONS

        function = FUNCTIONS.get(node.name)
        if function is None:
            # e.g. `unknown("x")`, the partial-evaluation marker Cedar's parser accepts:
            # evaluating it is an error, so the policy is skipped.
            return self.failing(EvaluationError(f"unknown extension function `{node.name}`",
                                                code="unknown-function"))
        if len(args) != function.arity:
            return self.failing(EvaluationError(
                f"`{node.name}` takes {function.arity} argument(s), got {len(args)}",
                code="wrong-arity"))
        if all(a.const is not _NO_CONST for a in args):
            try:
                return self.literal(function.impl(*(a.const for a in args)))
            except EvaluationError as exc:
                return self.failing(exc)
        f = self.const(function.impl)
        depth = max((a.depth for a in args), default=0) + 1
        return _Code(f"{f}({', '.join(a.text for a in args)})", _static(function), depth)

    def _set_literal(self, items: list[_Code]) -> _Code:
        if all(i.const is not _NO_CONST for i in items):
            return self.literal(CedarSet(i.const for i in items))
        depth = max((i.depth for i in items), default=0) + 1
        return _Code(f"_rt.make_set({', '.join(i.text for i in items)})", _SET, depth)

    def _record_literal(self, node: ast.RecordLiteral, values: list[_Code]) -> _Code:
        items = [(k, v) for (k, _), v in zip(node.items, values, strict=True)]
        if all(v.const is not _NO_CONST for _, v in items):
            return self.literal(CedarRecord((k, v.const) for k, v in items))
        depth = max((v.depth for _, v in items), default=0) + 1
        pairs = ", ".join(f"{self.const(k)}, {v.text}" for k, v in items)
        return _Code(f"_rt.make_record({pairs})", _RECORD, depth)


_LEAVES: dict[type, Callable[[_Generator, Any], _Code]] = {
    ast.Literal: _Generator._literal,
    ast.Var: _Generator._var,
    ast.Slot: _Generator._slot,
}
_ARITHMETIC = {"+": "add", "-": "sub", "*": "mul"}
_SPINE = frozenset({ast.GetAttr, ast.MethodCall, ast.BinaryOp})
# A left-nested chain this long or longer is compiled as statements (`_plan_spine`);
# shorter ones inline, as the common `context.a.b` must stay one expression.
_SPINE_INLINE = 16
# The most operands of a chain, or statements, in one generated function.
_CHAIN_CHUNK = 256
# A `has` path this long or longer is one `_rt.has_path` call (see `_plan_chain`).
_HAS_PATH_MIN = 4
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\(-?[0-9]+\)")


def _chunks(texts: list[str]) -> list[list[str]]:
    """``texts`` in order, cut into runs of at most `_CHAIN_CHUNK` texts and about
    `_MAX_INLINE_TEXT` characters (one text, however long, makes a run)."""
    runs: list[list[str]] = [[]]
    size = 0
    for text in texts:
        run = runs[-1]
        if run and (len(run) >= _CHAIN_CHUNK or size + len(text) > _MAX_INLINE_TEXT):
            run = []
            runs.append(run)
            size = 0
        run.append(text)
        size += len(text)
    return runs


@dataclass(frozen=True, slots=True)
class _Build:
    """A task of `_Generator.expr`: build ``node``'s code from its ``count`` children's."""

    node: Any
    count: int
    build: Callable[[Any, list[_Code]], _Code]


def _spine_child(node: Any) -> Any:
    """The left operand, receiver or record of a link of a left-nested chain."""
    cls = node.__class__
    if cls is ast.GetAttr:
        return node.expr
    if cls is ast.MethodCall:
        return node.receiver
    return node.left


def _spine_length(node: Any, most: int) -> int:
    """How many links (up to ``most``) the left-nested chain at ``node`` has."""
    count = 0
    while count < most and node.__class__ in _SPINE and (
        node.__class__ is not ast.BinaryOp or node.op in _ARITHMETIC
    ):
        count += 1
        node = _spine_child(node)
    return count


def _has_run(operands: list[Any], start: int) -> tuple[str, ...] | None:
    """The attribute names of the `e has a.b.c...` run starting at ``operands[start]``
    (each conjunct tests the attribute the one before reached, on the very same node
    objects), when at least `_HAS_PATH_MIN` long; else None."""
    first = operands[start]
    if first.__class__ is not ast.Has:
        return None
    names = [first.attr]
    previous = first
    for operand in operands[start + 1:]:
        target = operand.expr if operand.__class__ is ast.Has else None
        if not (target.__class__ is ast.GetAttr and target.expr is previous.expr
                and target.attr == previous.attr):
            break
        names.append(operand.attr)
        previous = operand
    return tuple(names) if len(names) >= _HAS_PATH_MIN else None


def _static(function: Any) -> str | None:
    known = {"Bool": _BOOL, "Long": _LONG, "String": _STRING}
    return known.get(getattr(function, "return_type", ""))


def scope_test(
    var: str, scope: ast.ScopeConstraint, gen: _Generator
) -> str | None:
    """Python text testing a scope constraint on variable `var`, or None for `any`."""
    op = scope.op
    if op is ast.ScopeOp.ANY:
        return None
    entity = scope.entity
    if isinstance(entity, ast.Slot):
        entity = gen.slots.get(entity.name)
        if entity is None:
            return "_rt.fail('template slot is not linked')"
    if op is ast.ScopeOp.EQ:
        return f"({var} == {gen.const(entity)})"
    if op is ast.ScopeOp.IS:
        return f"({var}[0] == {gen.const(scope.entity_type)})"
    if op is ast.ScopeOp.IN:
        return gen._in(_Code(var, _ENTITY), gen.literal(entity))
    if op is ast.ScopeOp.IS_IN:
        test = gen._in(_Code(var, _ENTITY), gen.literal(entity))
        return f"({var}[0] == {gen.const(scope.entity_type)} and {test})"
    if op is ast.ScopeOp.IN_SET:
        return gen._in(_Code(var, _ENTITY), gen.literal(CedarSet(scope.entities)))
    raise AssertionError(op)


def _policy_parts(
    gen: _Generator, policy: ast.PolicyAST
) -> tuple[dict[str, str | None], list[str]]:
    """The scope tests (None for an unconstrained scope) and condition texts of a policy."""
    conditions: list[str] = []
    for cond in policy.conditions:
        body = gen.expr(cond.body)
        if cond.is_when:
            if body.const is True:
                continue
            conditions.append(gen.as_bool(body))
        else:
            if body.const is False:
                continue
            conditions.append(f"(not {gen.as_bool(body)})")
    runs = _chunks(conditions)
    if len(runs) > 1:  # (thousands of `when { ... }` clauses, or very long ones)
        conditions = [gen.helper(f"    return ({' and '.join(run)})\n") for run in runs]
    scopes = {
        "principal": scope_test("P", policy.principal, gen),
        "action": scope_test("A", policy.action, gen),
        "resource": scope_test("R", policy.resource, gen),
    }
    return scopes, conditions


# Names every generated function may use besides its constants: the runtime module, the
# "no such attribute" marker and the classes of entity uids, sets and records (tested
# inline by `__class__ is ...`).
NAMESPACE: Mapping[str, Any] = {"_rt": rt, "_MISSING": _NO_CONST, "_UID": EntityUID,
                                "_SET": CedarSet, "_REC": CedarRecord}


def _namespace(gen: _Generator) -> dict[str, Any]:
    return {**NAMESPACE, **gen.consts}


def compile_policy(
    policy_id: str,
    policy: ast.PolicyAST,
    slots: Mapping[str, EntityUID] | None = None,
    *,
    residual_scope: tuple[str, ...] = (),
) -> CompiledPolicy:
    """Compile one policy (or a linked template, given its slot values).

    ``residual_scope`` names the scope variables (`principal`/`action`/`resource`) whose
    constraints the caller's index does not guarantee; `condition` re-checks those.
    """
    gen = _Generator(slots or {})
    scopes, conditions = _policy_parts(gen, policy)
    full = [s for s in scopes.values() if s is not None] + conditions
    residual = [s for k, s in scopes.items() if s is not None and k in residual_scope]
    residual += conditions
    condition = f"def condition(P, A, R, C, E):\n    return {' and '.join(residual) or 'True'}\n"
    full_source = f"def full(P, A, R, C, E):\n    return {' and '.join(full) or 'True'}\n"
    namespace = _namespace(gen)
    source = "".join(gen.helpers) + condition
    key = source + full_source
    if len(key) > _CACHED_SOURCE_MAX:
        # A huge policy: each function compiled on its own (CPython's compiler holds a
        # whole module's syntax tree at once, about a hundred bytes per character), and
        # not kept in the shared cache.
        _run_each([*gen.helpers, condition], namespace)
        return CompiledPolicy(policy_id, policy.effect is ast.Effect.FORBID,
                              namespace["condition"],
                              compile_generated(full_source, "<cedar policy>"), key)
    # Policies of the same shape generate the same source (constants are named by
    # position), so they share code objects and source strings; only their constants
    # differ.
    cached = _CODE_CACHE.get(key)
    if cached is None:
        if len(_CODE_CACHE) >= _CODE_CACHE_MAX:
            _CODE_CACHE.clear()
        cached = _CODE_CACHE[key] = (key, compile_generated(source, "<cedar policy>"),
                                     compile_generated(full_source, "<cedar policy>"))
    text, code, full_code = cached
    exec(code, namespace)
    return CompiledPolicy(
        policy_id,
        policy.effect is ast.Effect.FORBID,
        namespace["condition"],
        full_code,
        text,
    )


def _run_each(functions: list[str], namespace: dict[str, Any]) -> None:
    """Define each function of ``functions`` (source texts) in ``namespace``, compiling
    them one at a time."""
    for function in functions:
        exec(compile_generated(function, "<cedar policy>"), namespace)


def fusable_condition(
    policy: ast.PolicyAST,
    slots: Mapping[str, EntityUID] | None = None,
    *,
    residual_scope: tuple[str, ...] = (),
) -> FusablePart:
    """The optimistic form of `compile_policy(...).condition`, as parts to fuse."""
    gen = _Generator(slots or {}, optimistic=True)
    scopes, conditions = _policy_parts(gen, policy)
    residual = [s for k, s in scopes.items() if s is not None and k in residual_scope]
    residual += conditions
    return FusablePart(" and ".join(residual) or "True", "".join(gen.helpers),
                       dict(gen.consts))
