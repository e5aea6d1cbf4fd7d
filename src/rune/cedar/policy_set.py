"""Policy sets: static policies, templates and template links, compiled once.

A policy parsed from text keeps that text, where it starts in its file and the few facts
read often (effect, annotations, slots), not its syntax tree. The tree is parsed again
from the text when it is asked for (to compile the set, explain a decision, validate
against a schema), with every span (file, line, column, offset) as in the file. So a
loaded set never holds all its trees at once: each is built, used and dropped in turn,
and the memory of one is reused for the next.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from rune.cedar import ast as syntax
from rune.cedar.errors import LinkError
from rune.cedar.limits import checked_text
from rune.cedar.values import EntityUID
from rune.errors import SourceSpan

if TYPE_CHECKING:
    from rune.cedar.index import PreparedPolicySet

__all__ = ["Policy", "PolicySet", "Template"]


@dataclass(frozen=True, slots=True, init=False, eq=False, repr=False)
class _Source:
    """What policies and templates share: their text and where it is, their annotations,
    and the syntax tree when they were built from one rather than parsed from text."""

    text: str
    span: SourceSpan | None
    _annotations: tuple[tuple[str, str], ...]
    # INVARIANT: None only when `text`, parsed at `span`, gives the tree (see `_parsed`).
    _ast: syntax.PolicyAST | None

    def _set_source(self, text: str, span: SourceSpan | None,
                    annotations: tuple[tuple[str, str], ...],
                    tree: syntax.PolicyAST | None) -> None:
        set_field = object.__setattr__
        set_field(self, "text", text)
        set_field(self, "span", span)
        set_field(self, "_annotations", annotations)
        set_field(self, "_ast", tree)

    def _set_tree(self, tree: syntax.PolicyAST, text: str, *, keep: bool) -> None:
        """Take text, span and annotations from ``tree``; keep the tree itself only when
        ``keep`` (or when there is no span to parse the text at)."""
        annotations = tuple((a.key, a.value) for a in tree.annotations)
        keep = keep or tree.span is None
        self._set_source(text, tree.span, annotations, tree if keep else None)

    @property
    def ast(self) -> syntax.PolicyAST:
        """The syntax tree; parsed again from `text` for a policy parsed from text."""
        tree = self._ast
        if tree is None:
            assert self.span is not None  # INVARIANT: see `_ast`
            tree = _parse_again(self.text, self.span)
        return tree

    @property
    def annotations(self) -> Mapping[str, str]:
        """The annotations by key (`@id("...")` is `annotations["id"]`)."""
        return MappingProxyType(dict(self._annotations))


@dataclass(frozen=True, slots=True, init=False, eq=False, repr=False)
class Template(_Source):
    """A policy with `?principal` and/or `?resource` slots.

    ``span`` is where the template is in its file (None if it was built without text).
    """

    id: str
    effect: syntax.Effect
    slots: frozenset[str]
    """The slot names (without `?`) that a link must fill."""

    def __init__(self, id: str, ast: syntax.PolicyAST, text: str = "") -> None:  # noqa: A002
        self._init(id, ast, text, keep=True)

    @classmethod
    def _parsed(cls, template_id: str, ast: syntax.PolicyAST, text: str) -> Template:
        """A template whose ``text`` (cut from its file at ``ast.span``) parses to ``ast``;
        it does not keep ``ast``."""
        template = cls.__new__(cls)
        template._init(template_id, ast, text, keep=False)
        return template

    @classmethod
    def _located(cls, template_id: str, effect: syntax.Effect, slots: frozenset[str],
                 annotations: tuple[tuple[str, str], ...], text: str, span: SourceSpan
                 ) -> Template:
        """A template whose ``text`` parses at ``span`` to a tree with this effect, these
        slots and annotations (what `_parsed` would make from that tree, without it)."""
        template = cls.__new__(cls)
        object.__setattr__(template, "id", template_id)
        object.__setattr__(template, "effect", effect)
        object.__setattr__(template, "slots", slots)
        template._set_source(text, span, annotations, None)
        return template

    def _init(self, template_id: str, ast: syntax.PolicyAST, text: str, *, keep: bool
              ) -> None:
        object.__setattr__(self, "id", template_id)
        object.__setattr__(self, "effect", ast.effect)
        object.__setattr__(self, "slots", ast.slots)
        self._set_tree(ast, text, keep=keep)

    def with_id(self, new_id: str) -> Template:
        """The same template under another id."""
        template = Template.__new__(Template)
        object.__setattr__(template, "id", new_id)
        object.__setattr__(template, "effect", self.effect)
        object.__setattr__(template, "slots", self.slots)
        template._set_source(self.text, self.span, self._annotations, self._ast)
        return template

    @property
    def annotated_id(self) -> str | None:
        """The value of an `@id("...")` annotation, if present."""
        return dict(self._annotations).get("id")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Template:
            return NotImplemented
        assert isinstance(other, Template)
        return self is other or (self.id == other.id and self.ast == other.ast)

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Template(id={self.id!r}, ast={self.ast!r})"


@dataclass(frozen=True, slots=True, init=False, eq=False, repr=False)
class Policy(_Source):
    """A static policy, or a template linked with slot values (``template_id`` is set).

    ``span`` is where the policy (or its template) is in its file (None if it was built
    without text).
    """

    id: str
    template_id: str | None
    slot_values: tuple[tuple[str, EntityUID], ...]
    effect: syntax.Effect
    """`permit` or `forbid`."""

    def __init__(
        self,
        id: str,  # noqa: A002 (the field's name)
        ast: syntax.PolicyAST,
        template_id: str | None = None,
        slot_values: tuple[tuple[str, EntityUID], ...] = (),
        text: str = "",
    ) -> None:
        self._init(id, template_id, slot_values, ast.effect)
        self._set_tree(ast, text, keep=True)

    @classmethod
    def _parsed(cls, policy_id: str, ast: syntax.PolicyAST, text: str) -> Policy:
        """A static policy whose ``text`` (cut from its file at ``ast.span``) parses to
        ``ast``; it does not keep ``ast``."""
        policy = cls.__new__(cls)
        policy._init(policy_id, None, (), ast.effect)
        policy._set_tree(ast, text, keep=False)
        return policy

    @classmethod
    def _located(cls, policy_id: str, effect: syntax.Effect,
                 annotations: tuple[tuple[str, str], ...], text: str, span: SourceSpan
                 ) -> Policy:
        """A static policy whose ``text`` parses at ``span`` to a tree with this effect and
        these annotations (what `_parsed` would make from that tree, without it)."""
        policy = cls.__new__(cls)
        policy._init(policy_id, None, (), effect)
        policy._set_source(text, span, annotations, None)
        return policy

    @property
    def reuse_key(self) -> tuple[Any, ...] | None:
        """What this policy's compiled form depends on, for reusing it across versions of
        a set (`PreparedPolicySet`): its id, its template and slot values, and its text;
        None when the policy was built from a tree rather than parsed from text.

        INVARIANT: a policy parsed from text (no tree kept) is its text: the tree parsed
        at another place differs only in its spans, which compiling does not read."""
        if self._ast is not None or self.span is None:
            return None
        return (self.id, self.template_id, self.slot_values, self.text)

    @classmethod
    def _linked(cls, policy_id: str, template: Template,
                slot_values: tuple[tuple[str, EntityUID], ...]) -> Policy:
        """``template`` linked as ``policy_id``; shares the template's text (or tree)."""
        policy = cls.__new__(cls)
        policy._init(policy_id, template.id, slot_values, template.effect)
        policy._set_source(template.text, template.span, template._annotations, template._ast)
        return policy

    def _init(self, policy_id: str, template_id: str | None,
              slot_values: tuple[tuple[str, EntityUID], ...], effect: syntax.Effect) -> None:
        object.__setattr__(self, "id", policy_id)
        object.__setattr__(self, "template_id", template_id)
        object.__setattr__(self, "slot_values", slot_values)
        object.__setattr__(self, "effect", effect)

    def with_id(self, new_id: str) -> Policy:
        """The same policy under another id."""
        policy = Policy.__new__(Policy)
        policy._init(new_id, self.template_id, self.slot_values, self.effect)
        policy._set_source(self.text, self.span, self._annotations, self._ast)
        return policy

    def with_template_id(self, template_id: str) -> Policy:
        """The same link, naming its template by another id (the template was renamed)."""
        policy = Policy.__new__(Policy)
        policy._init(self.id, template_id, self.slot_values, self.effect)
        policy._set_source(self.text, self.span, self._annotations, self._ast)
        return policy

    @property
    def annotated_id(self) -> str | None:
        """The value of an `@id("...")` annotation, if present."""
        for key, value in self._annotations:
            if key == "id":
                return value
        return None

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Policy:
            return NotImplemented
        assert isinstance(other, Policy)
        return self is other or (
            (self.id, self.template_id, self.slot_values)
            == (other.id, other.template_id, other.slot_values)
            and self.ast == other.ast
        )

    def __hash__(self) -> int:
        return hash((self.id, self.template_id, self.slot_values))

    def __repr__(self) -> str:
        return (f"Policy(id={self.id!r}, ast={self.ast!r}, template_id={self.template_id!r}, "
                f"slot_values={self.slot_values!r})")


# Trees parsed again, oldest first: compiling a policy reads its tree several times in a
# row, and so may a caller walking it.
_REPARSED_MAX = 16
_reparsed: dict[tuple[str, SourceSpan], syntax.PolicyAST] = {}
_reparsed_lock = threading.Lock()


def _parse_again(text: str, span: SourceSpan) -> syntax.PolicyAST:
    key = (text, span)
    tree = _reparsed.get(key)
    if tree is None:
        from rune.cedar.parser import parse_policy_at

        tree = parse_policy_at(text, offset=span.offset, line=span.line, column=span.column,
                               file=span.file)
        with _reparsed_lock:
            if len(_reparsed) >= _REPARSED_MAX:
                del _reparsed[next(iter(_reparsed))]
            _reparsed[key] = tree
    return tree


class PolicySet:
    """An immutable set of policies, templates and links, compiled on first use.

    Ids follow Cedar's `PolicySet::from_str`: `policy0`, `policy1`, ... in source order,
    counting templates too. `link` returns a new set and leaves this one untouched.
    """

    __slots__ = ("_basis", "_lock", "_policies", "_prepared", "_source_text", "_templates")

    def __init__(
        self,
        policies: Mapping[str, Policy] | None = None,
        templates: Mapping[str, Template] | None = None,
        source_text: str | None = None,
    ) -> None:
        self._policies: dict[str, Policy] = dict(policies or {})
        self._templates: dict[str, Template] = dict(templates or {})
        self._source_text = source_text
        self._prepared: PreparedPolicySet | None = None
        # The prepared form of the set this one was linked or unlinked from, if it had
        # one: `prepared` compiles only what differs. INVARIANT: never a chain (set from
        # a parent's `_prepared` or its own `_basis`, and dropped once used), so a long
        # run of links does not keep every earlier version alive.
        self._basis: PreparedPolicySet | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_str(cls, text: str, file: str | None = None, *, max_length: int | None = None
                 ) -> PolicySet:
        """Parse Cedar policy text.

        Args:
            text: the policies, templates and their annotations.
            file: the file name used in spans.
            max_length: the most characters accepted (default
                `rune.cedar.limits.MAX_POLICY_TEXT_LENGTH`, 1 Mi).

        Raises:
            TypeError: ``text`` is not a `str` (decode bytes first).
            ParseError: with every syntax error of the text, each with its location; a
                text longer than ``max_length`` is a `policy-text-too-large` error.
        """
        from rune.cedar.parser import iter_policies

        text = checked_text(text, "PolicySet.from_str", max_length=max_length, file=file)
        parsed = iter_policies(text, file=file, max_length=sys.maxsize)
        policies: dict[str, Policy] = {}
        templates: dict[str, Template] = {}
        for i, node in enumerate(parsed):
            pid = f"policy{i}"
            snippet = _slice(text, node)
            if node.is_template:
                templates[pid] = Template._parsed(pid, node, snippet)
            else:
                policies[pid] = Policy._parsed(pid, node, snippet)
        return cls(policies, templates, text)

    @classmethod
    def from_policies(
        cls, policies: list[Policy], templates: tuple[Template, ...] = ()
    ) -> PolicySet:
        """Build a set from policy objects (ids must be unique)."""
        out = cls()
        for p in policies:
            if p.id in out._policies or p.id in out._templates:
                raise LinkError(f"duplicate policy id `{p.id}`", code="duplicate-policy-id")
            out._policies[p.id] = p
        for t in templates:
            if t.id in out._policies or t.id in out._templates:
                raise LinkError(f"duplicate policy id `{t.id}`", code="duplicate-policy-id")
            out._templates[t.id] = t
        return out

    # -- access ----------------------------------------------------------------------------
    @property
    def source_text(self) -> str:
        """The text the set was parsed from, or else its templates' and policies' texts
        joined by newlines (built when asked for: the policies already hold them)."""
        if self._source_text is not None:
            return self._source_text
        texts = [t.text for t in self._templates.values()]
        texts += [p.text for p in self._policies.values()]
        return "\n".join(texts)

    def __iter__(self) -> Iterator[Policy]:
        """Static and linked policies (not unlinked templates), in id insertion order."""
        return iter(self._policies.values())

    def __len__(self) -> int:
        return len(self._policies)

    def __contains__(self, policy_id: object) -> bool:
        return policy_id in self._policies or policy_id in self._templates

    def policy(self, policy_id: str) -> Policy:
        """The static or linked policy with this id."""
        return self._policies[policy_id]

    def template(self, template_id: str) -> Template:
        """The template with this id."""
        return self._templates[template_id]

    @property
    def policies(self) -> tuple[Policy, ...]:
        """Static and linked policies."""
        return tuple(self._policies.values())

    @property
    def templates(self) -> tuple[Template, ...]:
        """Unlinked templates."""
        return tuple(self._templates.values())

    # -- linking ---------------------------------------------------------------------------
    def link(
        self, template_id: str, new_id: str, values: Mapping[str, Any]
    ) -> PolicySet:
        """Return a new set with template ``template_id`` linked as policy ``new_id``.

        ``values`` maps `?principal`/`?resource` (with or without `?`) to entity uids
        (`EntityUID`, `'T::"id"'` or `{"type": T, "id": I}`).

        Raises:
            TypeError: ``values`` is not a mapping.
            LinkError: unknown template, id already used, slots missing or extra, or a
                slot name that is not a string.
        """
        from rune.cedar.request import to_entity_uid

        template = self._templates.get(template_id)
        if template is None:
            raise LinkError(f"no template with id `{template_id}`", code="unknown-template")
        if new_id in self._policies or new_id in self._templates:
            raise LinkError(f"policy id `{new_id}` is already used", code="duplicate-policy-id")
        filled: dict[str, EntityUID] = {}
        if not isinstance(values, Mapping):
            raise TypeError(f"PolicySet.link: argument `values` must be a mapping, "
                            f"not {type(values).__name__}")
        for key, value in values.items():
            if key.__class__ is not str:
                raise LinkError(f"template `{template_id}` link: slot names must be strings, "
                                f"not {type(key).__name__}", code="unknown-slot")
            name = key[1:] if key.startswith("?") else key
            if name not in ("principal", "resource"):
                raise LinkError(f"unknown slot `{key}`", code="unknown-slot")
            filled[name] = to_entity_uid(value, f"$.{key}", LinkError)
        if set(filled) != set(template.slots):
            missing = sorted(set(template.slots) - set(filled))
            extra = sorted(set(filled) - set(template.slots))
            what = f"missing `?{missing[0]}`" if missing else f"unexpected `?{extra[0]}`"
            raise LinkError(f"template `{template_id}` link: {what}", code="slot-mismatch")
        out = PolicySet(self._policies, self._templates, self._source_text)
        out._policies[new_id] = Policy._linked(new_id, template, tuple(sorted(filled.items())))
        out._basis = self._prepared or self._basis
        return out

    def unlink(self, link_id: str) -> PolicySet:
        """Return a new set without the template-linked policy ``link_id``.

        Raises:
            LinkError: (`unknown-link`) no policy has that id, or it is not linked from a
                template (a static policy cannot be unlinked).
        """
        policy = self._policies.get(link_id)
        if policy is None or policy.template_id is None:
            what = "no policy" if policy is None else "a static policy, not a link,"
            raise LinkError(f"`{link_id}` is {what} (only template links can be unlinked)",
                            code="unknown-link")
        out = PolicySet(self._policies, self._templates, self._source_text)
        del out._policies[link_id]
        out._basis = self._prepared or self._basis
        return out

    # -- compilation -----------------------------------------------------------------------
    def prepared_from(self, previous: PreparedPolicySet) -> PreparedPolicySet:
        """`prepared`, taking from ``previous`` (the prepared form of another version of
        these policies, a bundle loaded before, say) the compiled form of every policy it
        holds with the same id, text, template and slot values: only new or changed
        policies are compiled. The result is what `prepared` would build."""
        with self._lock:
            if self._prepared is None:
                self._prepared = previous.with_policies(tuple(self._policies.values()))
                self._basis = None
            return self._prepared

    def prepared(self) -> PreparedPolicySet:
        """The compiled, indexed form of this set (built once, then shared; a set made by
        `link` or `unlink` compiles only the policies its parent's form lacks)."""
        prepared = self._prepared
        if prepared is None:
            with self._lock:
                if self._prepared is None:
                    from rune.cedar.index import PreparedPolicySet

                    policies = tuple(self._policies.values())
                    basis = self._basis
                    self._prepared = (PreparedPolicySet(policies) if basis is None
                                      else basis.with_policies(policies))
                    self._basis = None
                prepared = self._prepared
        return prepared

    def __repr__(self) -> str:
        return f"PolicySet({len(self._policies)} policies, {len(self._templates)} templates)"


def _slice(text: str, node: syntax.PolicyAST) -> str:
    if node.span is None:
        return ""
    return text[node.span.offset : node.span.end_offset]
