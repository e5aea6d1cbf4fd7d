"""Parser for the human-readable Cedar schema syntax (`.cedarschema` files).

Text -> tokens -> `SchemaFragment`. The parser recovers at declaration boundaries, so
one run reports every syntax error; each error has a span and a caret snippet.
Follows Cedar's grammar (`human-readable-schema-grammar.md`): keywords double as
identifiers, `in`/`if`/`true`... are reserved, trailing commas are allowed only in
record types and `appliesTo`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rune.cedar.errors import SchemaError
from rune.cedar.schema.fragment import (
    RESERVED_COMMON_TYPE_NAMES,
    RESERVED_IDENTIFIERS,
    ActionDecl,
    ActionRef,
    Annotations,
    AppliesTo,
    AttributeDecl,
    CommonTypeDecl,
    EntityTypeDecl,
    NamespaceDecl,
    RecordDecl,
    RefKind,
    SchemaFragment,
    SetDecl,
    TypeDecl,
    TypeRef,
)
from rune.errors import Diagnostic, SourceSpan

__all__ = ["parse_schema_text", "unescape_string"]

_PUNCTUATION = frozenset("{}[]<>(),;=?@")
# Unicode White_Space, as Rust's `\s` (Python's `str.isspace` also accepts U+001C..U+001F).
_WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_DECL_KEYWORDS = frozenset({"entity", "action", "type"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "ident", "string", "punct", "eof"
    text: str  # the identifier, the decoded string, or the punctuation
    start: int
    end: int

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of input"
        if self.kind == "string":
            return f"string `{_quote(self.text)}`"
        return f"`{self.text}`"


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def unescape_string(body: str) -> tuple[str, str | None]:
    """Decode the escapes of a Cedar string literal body (without the quotes).

    Returns the decoded text and an error message (None when every escape is valid).
    """
    if "\\" not in body:
        return body, None
    out: list[str] = []
    i = 0
    n = len(body)
    simple = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "0": "\0", "'": "'", '"': '"'}
    while i < n:
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            return "".join(out), "a string cannot end with a lone `\\`"
        esc = body[i + 1]
        if esc in simple:
            out.append(simple[esc])
            i += 2
        elif esc == "x":
            digits = body[i + 2:i + 4]
            if len(digits) != 2 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                return "".join(out), "invalid escape `\\x`: expected two hex digits"
            value = int(digits, 16)
            if value > 0x7F:
                return "".join(out), f"invalid escape `\\x{digits}`: must be at most `\\x7F`"
            out.append(chr(value))
            i += 4
        elif esc == "u":
            close = body.find("}", i + 2)
            if i + 2 >= n or body[i + 2] != "{" or close == -1:
                return "".join(out), "invalid escape `\\u`: expected `\\u{...}`"
            digits = body[i + 3:close]
            if not 1 <= len(digits) <= 6 or not all(
                c in "0123456789abcdefABCDEF" for c in digits
            ):
                return "".join(out), f"invalid unicode escape `\\u{{{digits}}}`"
            value = int(digits, 16)
            if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                return "".join(out), f"invalid unicode escape `\\u{{{digits}}}`"
            out.append(chr(value))
            i = close + 1
        else:
            return "".join(out), f"invalid escape `\\{esc}`"
    return "".join(out), None


class _Lexer:
    """Splits schema text into tokens, recording (and skipping) bad characters."""

    def __init__(self, text: str, errors: list[tuple[str, str, int, int]]) -> None:
        self.text = text
        self.errors = errors

    def tokens(self) -> list[_Token]:
        text = self.text
        n = len(text)
        out: list[_Token] = []
        i = 0
        while i < n:
            ch = text[i]
            if ch in _WHITESPACE:
                i += 1
            elif ch == "/" and text.startswith("//", i):
                while i < n and text[i] not in "\n\r":
                    i += 1
            elif ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z"):
                j = i + 1
                while j < n and (text[j] == "_" or (text[j].isascii() and text[j].isalnum())):
                    j += 1
                out.append(_Token("ident", text[i:j], i, j))
                i = j
            elif ch == '"':
                i = self._string(i, out)
            elif ch == ":":
                if text.startswith("::", i):
                    out.append(_Token("punct", "::", i, i + 2))
                    i += 2
                else:
                    out.append(_Token("punct", ":", i, i + 1))
                    i += 1
            elif ch in _PUNCTUATION:
                out.append(_Token("punct", ch, i, i + 1))
                i += 1
            else:
                self.errors.append(
                    ("invalid-character", f"unexpected character `{ch}`", i, i + 1)
                )
                i += 1
        out.append(_Token("eof", "", n, n))
        return out

    def _string(self, start: int, out: list[_Token]) -> int:
        text = self.text
        n = len(text)
        j = start + 1
        while j < n and text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        if j >= n:
            self.errors.append(("unterminated-string", "unterminated string", start, n))
            return n
        value, problem = unescape_string(text[start + 1:j])
        if problem is not None:
            self.errors.append(("invalid-string-escape", problem, start, j + 1))
        out.append(_Token("string", value, start, j + 1))
        return j + 1


# What one declaration produces: `entity A, B` and `action a, b` declare several at once.
_Declarations = list[EntityTypeDecl] | list[ActionDecl] | CommonTypeDecl


class _Syntax(Exception):
    """Internal: abandons the current declaration after a syntax error was recorded."""


class _Parser:
    """Recursive descent over the token list; one method per grammar rule."""

    def __init__(self, text: str, file: str | None) -> None:
        self.text = text
        self.file = file
        self.raw_errors: list[tuple[str, str, int, int]] = []
        self.toks = _Lexer(text, self.raw_errors).tokens()
        self.pos = 0
        self.depth = 0

    # -- helpers ------------------------------------------------------------------------
    def span(self, start: int, end: int) -> SourceSpan:
        return SourceSpan.from_offsets(self.text, start, end, self.file)

    def error(self, code: str, message: str, start: int, end: int) -> None:
        self.raw_errors.append((code, message, start, end))

    @property
    def tok(self) -> _Token:
        return self.toks[self.pos]

    def peek(self, ahead: int = 1) -> _Token:
        return self.toks[min(self.pos + ahead, len(self.toks) - 1)]

    def at(self, text: str) -> bool:
        tok = self.tok
        return tok.kind in ("punct", "ident") and tok.text == text

    def advance(self) -> _Token:
        tok = self.tok
        if tok.kind != "eof":
            self.pos += 1
        if tok.kind == "punct":
            if tok.text == "{":
                self.depth += 1
            elif tok.text == "}":
                self.depth -= 1
        return tok

    def fail(self, expected: str) -> _Syntax:
        tok = self.tok
        self.error("schema-syntax-error", f"unexpected {tok.describe()}; expected {expected}",
                   tok.start, max(tok.end, tok.start + 1))
        return _Syntax()

    def expect(self, text: str) -> _Token:
        if not (self.tok.kind == "punct" and self.tok.text == text):
            raise self.fail(f"`{text}`")
        return self.advance()

    def ident(self, what: str = "an identifier") -> _Token:
        if self.tok.kind != "ident":
            raise self.fail(what)
        return self.advance()

    def check_reserved(self, tok: _Token, *, allow_cedar: bool = False) -> None:
        if tok.text in RESERVED_IDENTIFIERS:
            self.error("reserved-identifier", f"`{tok.text}` is a reserved identifier",
                       tok.start, tok.end)
        elif tok.text == "__cedar" and not allow_cedar:
            self.error("reserved-namespace", "use of the reserved `__cedar` namespace",
                       tok.start, tok.end)

    def synchronize(self, base: int) -> None:
        """Skip past the `;` ending the current declaration, or up to the enclosing `}`.

        ``base`` is the brace depth the declaration started at.
        """
        while True:
            tok = self.tok
            if tok.kind == "eof":
                return
            if tok.kind == "punct" and self.depth <= base:
                if tok.text == "}":
                    return
                if tok.text == ";":
                    self.advance()
                    return
            self.advance()

    # -- grammar ------------------------------------------------------------------------
    def schema(self) -> SchemaFragment:
        namespaces: dict[str, NamespaceDecl] = {}
        top: list[_Declarations] = []
        order: list[str] = []
        while self.tok.kind != "eof":
            self.depth = 0
            try:
                annotations = self.annotations()
                if self.at("namespace"):
                    ns = self.namespace(annotations)
                    if ns.name in namespaces:
                        where = ns.where
                        assert isinstance(where, SourceSpan)
                        self.error("duplicate-namespace",
                                   f"namespace `{ns.name}` is declared twice",
                                   where.offset, where.end_offset)
                        continue
                    namespaces[ns.name] = ns
                    order.append(ns.name)
                else:
                    top.append(self.declaration(annotations))
            except _Syntax:
                self.synchronize(0)
                if self.at("}"):
                    self.advance()
        result: list[NamespaceDecl] = []
        if top:
            result.append(self.collect("", top, (), None))
        result.extend(namespaces[name] for name in order)
        return SchemaFragment(tuple(result))

    def collect(self, name: str, decls: list[_Declarations], annotations: Annotations,
                where: SourceSpan | None) -> NamespaceDecl:
        """Group declarations into a namespace, reporting duplicate names."""
        entities: list[EntityTypeDecl] = []
        actions: list[ActionDecl] = []
        commons: list[CommonTypeDecl] = []
        seen: set[tuple[str, str]] = set()
        items: list[EntityTypeDecl | ActionDecl | CommonTypeDecl] = []
        for group in decls:
            items.extend(group if isinstance(group, list) else [group])
        for decl in items:
            kind = type(decl).__name__
            if (kind, decl.name) in seen:
                span = decl.where
                assert isinstance(span, SourceSpan)
                shown = _quote(decl.name) if isinstance(decl, ActionDecl) else decl.name
                self.error("duplicate-declaration", f"`{shown}` is declared twice",
                           span.offset, span.end_offset)
                continue
            seen.add((kind, decl.name))
            if isinstance(decl, EntityTypeDecl):
                entities.append(decl)
            elif isinstance(decl, ActionDecl):
                actions.append(decl)
            else:
                commons.append(decl)
        return NamespaceDecl(name, tuple(entities), tuple(actions), tuple(commons),
                             annotations, where)

    def annotations(self) -> Annotations:
        found: list[tuple[str, str]] = []
        keys: set[str] = set()
        while self.at("@"):
            at = self.advance()
            key = self.ident("an annotation name")
            value = ""
            if self.at("("):
                self.advance()
                if self.tok.kind != "string":
                    raise self.fail("a string")
                value = self.advance().text
                self.expect(")")
            if key.text in keys:
                self.error("duplicate-annotation", f"duplicate annotation `@{key.text}`",
                           at.start, key.end)
            keys.add(key.text)
            found.append((key.text, value))
        return tuple(found)

    def namespace(self, annotations: Annotations) -> NamespaceDecl:
        self.advance()  # `namespace`
        path_start = self.tok.start
        name = self.path(check=True, allow_cedar=False)
        where = self.span(path_start, self.toks[self.pos - 1].end)
        self.expect("{")
        decls: list[_Declarations] = []
        while not self.at("}"):
            if self.tok.kind == "eof":
                raise self.fail("`}`")
            outer = self.depth
            try:
                decl_annotations = self.annotations()
                decls.append(self.declaration(decl_annotations))
            except _Syntax:
                self.synchronize(outer)
                self.depth = outer
                if self.tok.kind == "eof":
                    break
        if self.at("}"):
            self.advance()
        return self.collect(name, decls, annotations, where)

    def declaration(self, annotations: Annotations) -> _Declarations:
        tok = self.tok
        if tok.kind == "ident" and tok.text in _DECL_KEYWORDS:
            if tok.text == "entity":
                return self.entity(annotations)
            if tok.text == "action":
                return self.action(annotations)
            return self.common_type(annotations)
        if tok.kind == "ident" and tok.text == "namespace":
            raise self.fail("a declaration (namespaces cannot be nested)")
        raise self.fail("`namespace`, `entity`, `action` or `type`")

    def path(self, *, check: bool, allow_cedar: bool = True) -> str:
        first = self.ident()
        if check:
            self.check_reserved(first, allow_cedar=allow_cedar)
        parts = [first.text]
        while self.at("::") and self.peek().kind == "ident":
            self.advance()
            part = self.advance()
            if check:
                self.check_reserved(part, allow_cedar=allow_cedar)
            parts.append(part.text)
        return "::".join(parts)

    def type_ref(self) -> TypeRef:
        start = self.tok.start
        name = self.path(check=True)
        end = self.toks[self.pos - 1].end
        return TypeRef(name, RefKind.ENTITY_OR_COMMON, self.span(start, end))

    def entity_ref(self) -> TypeRef:
        start = self.tok.start
        name = self.path(check=True)
        return TypeRef(name, RefKind.ENTITY, self.span(start, self.toks[self.pos - 1].end))

    def entity_refs(self, *, allow_empty: bool) -> tuple[TypeRef, ...]:
        if not self.at("["):
            return (self.entity_ref(),)
        self.advance()
        refs: list[TypeRef] = []
        if self.at("]") and allow_empty:
            self.advance()
            return ()
        refs.append(self.entity_ref())
        while self.at(","):
            self.advance()
            refs.append(self.entity_ref())
        self.expect("]")
        return tuple(refs)

    def entity(self, annotations: Annotations) -> list[EntityTypeDecl]:
        self.advance()  # `entity`
        names = [self.ident()]
        while self.at(","):
            self.advance()
            names.append(self.ident())
        for name in names:
            self.check_reserved(name)
        member_of: tuple[TypeRef, ...] = ()
        shape: TypeDecl | None = None
        tags: TypeDecl | None = None
        enum: tuple[str, ...] | None = None
        if self.at("enum") and self.tok.kind == "ident":
            self.advance()
            self.expect("[")
            ids: list[str] = []
            if self.tok.kind != "string":
                raise self.fail("a string")
            ids.append(self.advance().text)
            while self.at(","):
                self.advance()
                if self.tok.kind != "string":
                    raise self.fail("a string")
                ids.append(self.advance().text)
            self.expect("]")
            enum = tuple(ids)
        else:
            if self.at("in"):
                self.advance()
                member_of = self.entity_refs(allow_empty=True)
            if self.at("="):
                self.advance()
                if not self.at("{"):
                    raise self.fail("`{`")
            if self.at("{"):
                shape = self.record()
            if self.at("tags"):
                self.advance()
                tags = self.type_decl()
        self.expect(";")
        return [
            EntityTypeDecl(n.text, member_of, shape, tags, enum, annotations,
                           self.span(n.start, n.end))
            for n in names
        ]

    def name(self) -> _Token:
        tok = self.tok
        if tok.kind == "string":
            return self.advance()
        if tok.kind == "ident":
            self.check_reserved(tok, allow_cedar=True)
            return self.advance()
        raise self.fail("a name")

    def action_ref(self) -> ActionRef:
        tok = self.tok
        if tok.kind == "string":
            self.advance()
            return ActionRef(tok.text, None, self.span(tok.start, tok.end))
        if tok.kind != "ident":
            raise self.fail("an action name")
        parts = [self.advance()]
        self.check_reserved(parts[0], allow_cedar=True)
        while self.at("::"):
            self.advance()
            if self.tok.kind == "string":
                id_tok = self.advance()
                type_name = "::".join(p.text for p in parts)
                return ActionRef(id_tok.text, type_name, self.span(tok.start, id_tok.end))
            part = self.ident("an identifier or a string")
            self.check_reserved(part, allow_cedar=True)
            parts.append(part)
        if len(parts) > 1:
            raise self.fail("`::` and a string")
        return ActionRef(tok.text, None, self.span(tok.start, tok.end))

    def action(self, annotations: Annotations) -> list[ActionDecl]:
        self.advance()  # `action`
        names = [self.name()]
        while self.at(","):
            self.advance()
            names.append(self.name())
        member_of: list[ActionRef] = []
        if self.at("in"):
            self.advance()
            if self.at("["):
                self.advance()
                member_of.append(self.action_ref())
                while self.at(","):
                    self.advance()
                    member_of.append(self.action_ref())
                self.expect("]")
            else:
                member_of.append(self.action_ref())
        applies_to: AppliesTo | None = None
        if self.at("appliesTo") and self.tok.kind == "ident":
            applies_to = self.applies_to(names[0].text)
        self.expect(";")
        return [
            ActionDecl(n.text, tuple(member_of), applies_to, annotations,
                       self.span(n.start, n.end))
            for n in names
        ]

    def applies_to(self, action: str) -> AppliesTo:
        keyword = self.advance()
        self.expect("{")
        found: dict[str, object] = {}
        while True:
            tok = self.tok
            if tok.kind != "ident" or tok.text not in ("principal", "resource", "context"):
                raise self.fail("`principal`, `resource` or `context`")
            self.advance()
            self.expect(":")
            value: object
            if tok.text == "context":
                if self.at("{"):
                    value = self.record()
                else:
                    # A named context type must be a common type, never an entity type.
                    ref = self.type_ref()
                    value = TypeRef(ref.name, RefKind.COMMON, ref.where)
            else:
                list_start = self.tok.start
                value = self.entity_refs(allow_empty=True)
                if not value:
                    self.error("empty-applies-to",
                               f"for action `{action}`, `{tok.text}` is `[]`, which is invalid",
                               list_start, self.toks[self.pos - 1].end)
            if tok.text in found:
                self.error("duplicate-applies-to",
                           f"duplicate `{tok.text}` declaration in action `{action}`",
                           tok.start, tok.end)
            found[tok.text] = value
            if self.at(","):
                self.advance()
                if self.at("}"):
                    break
                continue
            break
        close = self.expect("}")
        for part in ("principal", "resource"):
            if part not in found:
                self.error("missing-applies-to",
                           f"missing `{part}` declaration for action `{action}`",
                           keyword.start, close.end)
        principals = found.get("principal", ())
        resources = found.get("resource", ())
        context = found.get("context")
        assert isinstance(principals, tuple) and isinstance(resources, tuple)
        assert context is None or isinstance(context, TypeRef | RecordDecl)
        return AppliesTo(principals, resources, context, self.span(keyword.start, close.end))

    def common_type(self, annotations: Annotations) -> CommonTypeDecl:
        self.advance()  # `type`
        name = self.ident()
        self.check_reserved(name)
        if name.text in RESERVED_COMMON_TYPE_NAMES:
            self.error("reserved-type-name",
                       f"`{name.text}` is a reserved schema keyword and cannot name a common type",
                       name.start, name.end)
        self.expect("=")
        body = self.type_decl()
        self.expect(";")
        return CommonTypeDecl(name.text, body, annotations, self.span(name.start, name.end))

    def type_decl(self) -> TypeDecl:
        tok = self.tok
        if tok.kind == "ident" and tok.text == "Set" and self.peek().text == "<" \
                and self.peek().kind == "punct":
            self.advance()
            self.advance()
            element = self.type_decl()
            close = self.expect(">")
            return SetDecl(element, self.span(tok.start, close.end))
        if self.at("{"):
            return self.record()
        if tok.kind != "ident":
            raise self.fail("a type")
        return self.type_ref()

    def record(self) -> RecordDecl:
        open_tok = self.expect("{")
        attrs: list[AttributeDecl] = []
        while not self.at("}"):
            annotations = self.annotations()
            name = self.name()
            required = True
            if self.at("?"):
                self.advance()
                required = False
            self.expect(":")
            attr_type = self.type_decl()
            attrs.append(AttributeDecl(name.text, attr_type, required, annotations,
                                       self.span(name.start, name.end)))
            if self.at(","):
                self.advance()
                continue
            if not self.at("}"):
                raise self.fail("`,` or `}`")
        close = self.advance()
        return RecordDecl(tuple(attrs), self.span(open_tok.start, close.end))


def parse_schema_text(text: str, file: str | None = None) -> SchemaFragment:
    """Parse human-readable schema text into a `SchemaFragment`.

    Raises:
        SchemaError: every syntax error found (and names that break Cedar's rules),
            sorted by position, each with a span.
    """
    parser = _Parser(text, file)
    fragment = parser.schema()
    if parser.raw_errors:
        seen: set[tuple[str, int]] = set()
        diagnostics: list[Diagnostic] = []
        for code, message, start, end in parser.raw_errors:
            if (message, start) in seen:
                continue
            seen.add((message, start))
            diagnostics.append(Diagnostic(code, message, parser.span(start, end)))
        diagnostics.sort(key=lambda d: d.span.offset if d.span else 0)
        raise SchemaError(diagnostics[0].message, code=diagnostics[0].code,
                          diagnostics=diagnostics, source=text)
    return fragment
