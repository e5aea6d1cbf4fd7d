"""Policy sets: static policies, templates and template links, compiled once."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from rune.cedar import ast as syntax
from rune.cedar.errors import LinkError
from rune.cedar.values import EntityUID

if TYPE_CHECKING:
    from rune.cedar.index import PreparedPolicySet

__all__ = ["Policy", "PolicySet", "Template"]


@dataclass(frozen=True, slots=True)
class Template:
    """A policy with `?principal` and/or `?resource` slots."""

    id: str
    ast: syntax.PolicyAST
    text: str = field(default="", compare=False, repr=False)

    @property
    def slots(self) -> frozenset[str]:
        """The slot names (without `?`) that a link must fill."""
        return self.ast.slots

    @property
    def annotations(self) -> Mapping[str, str]:
        """The template's annotations by key."""
        return MappingProxyType({a.key: a.value for a in self.ast.annotations})


@dataclass(frozen=True, slots=True)
class Policy:
    """A static policy, or a template linked with slot values (``template_id`` is set)."""

    id: str
    ast: syntax.PolicyAST
    template_id: str | None = None
    slot_values: tuple[tuple[str, EntityUID], ...] = ()
    text: str = field(default="", compare=False, repr=False)

    @property
    def effect(self) -> syntax.Effect:
        """`permit` or `forbid`."""
        return self.ast.effect

    @property
    def annotations(self) -> Mapping[str, str]:
        """The policy's annotations by key (`@id("...")` is `annotations["id"]`)."""
        return MappingProxyType({a.key: a.value for a in self.ast.annotations})

    @property
    def annotated_id(self) -> str | None:
        """The value of an `@id("...")` annotation, if present."""
        for a in self.ast.annotations:
            if a.key == "id":
                return a.value
        return None


class PolicySet:
    """An immutable set of policies, templates and links, compiled on first use.

    Ids follow Cedar's `PolicySet::from_str`: `policy0`, `policy1`, ... in source order,
    counting templates too. `link` returns a new set and leaves this one untouched.
    """

    __slots__ = ("_lock", "_policies", "_prepared", "_templates", "source_text")

    def __init__(
        self,
        policies: Mapping[str, Policy] | None = None,
        templates: Mapping[str, Template] | None = None,
        source_text: str = "",
    ) -> None:
        self._policies: dict[str, Policy] = dict(policies or {})
        self._templates: dict[str, Template] = dict(templates or {})
        self.source_text = source_text
        self._prepared: PreparedPolicySet | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_str(cls, text: str, file: str | None = None) -> PolicySet:
        """Parse Cedar policy text.

        Raises:
            ParseError: with every syntax error of the text, each with its location.
        """
        from rune.cedar.parser import parse_policies

        parsed = parse_policies(text, file=file)
        policies: dict[str, Policy] = {}
        templates: dict[str, Template] = {}
        for i, node in enumerate(parsed):
            pid = f"policy{i}"
            snippet = _slice(text, node)
            if node.is_template:
                templates[pid] = Template(pid, node, snippet)
            else:
                policies[pid] = Policy(pid, node, text=snippet)
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
        texts = [t.text for t in out._templates.values()]
        texts += [p.text for p in out._policies.values()]
        out.source_text = "\n".join(texts)
        return out

    # -- access ----------------------------------------------------------------------------
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
            LinkError: unknown template, id already used, or slots missing or extra.
        """
        from rune.cedar.request import to_entity_uid

        template = self._templates.get(template_id)
        if template is None:
            raise LinkError(f"no template with id `{template_id}`", code="unknown-template")
        if new_id in self._policies or new_id in self._templates:
            raise LinkError(f"policy id `{new_id}` is already used", code="duplicate-policy-id")
        filled: dict[str, EntityUID] = {}
        for key, value in values.items():
            name = key[1:] if key.startswith("?") else key
            if name not in ("principal", "resource"):
                raise LinkError(f"unknown slot `{key}`", code="unknown-slot")
            filled[name] = to_entity_uid(value, f"$.{key}", LinkError)
        if set(filled) != set(template.slots):
            missing = sorted(set(template.slots) - set(filled))
            extra = sorted(set(filled) - set(template.slots))
            what = f"missing `?{missing[0]}`" if missing else f"unexpected `?{extra[0]}`"
            raise LinkError(f"template `{template_id}` link: {what}", code="slot-mismatch")
        out = PolicySet(self._policies, self._templates, self.source_text)
        out._policies[new_id] = Policy(
            new_id, template.ast, template_id, tuple(sorted(filled.items())), template.text
        )
        return out

    # -- compilation -----------------------------------------------------------------------
    def prepared(self) -> PreparedPolicySet:
        """The compiled, indexed form of this set (built once, then shared)."""
        prepared = self._prepared
        if prepared is None:
            with self._lock:
                if self._prepared is None:
                    from rune.cedar.index import PreparedPolicySet

                    self._prepared = PreparedPolicySet(tuple(self._policies.values()))
                prepared = self._prepared
        return prepared

    def __repr__(self) -> str:
        return f"PolicySet({len(self._policies)} policies, {len(self._templates)} templates)"


def _slice(text: str, node: syntax.PolicyAST) -> str:
    if node.span is None:
        return ""
    return text[node.span.offset : node.span.end_offset]
