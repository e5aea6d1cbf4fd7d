"""Soufflé's type declarations resolved to the four primitive kinds values can have."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from rune.datalog.ast import TypeDecl
from rune.datalog.errors import ErrorCode
from rune.errors import Diagnostic

__all__ = ["Kind", "TypeEnvironment", "build_type_environment"]


class Kind(StrEnum):
    """The representation of a column or expression: how values compare, print and overflow."""

    NUMBER = "number"
    UNSIGNED = "unsigned"
    FLOAT = "float"
    SYMBOL = "symbol"

    @property
    def is_numeric(self) -> bool:
        """Whether arithmetic applies."""
        return self is not Kind.SYMBOL

    @property
    def is_integral(self) -> bool:
        """Whether bitwise operators apply."""
        return self in (Kind.NUMBER, Kind.UNSIGNED)


_PRIMITIVES = {kind.value: kind for kind in Kind}


@dataclass(frozen=True, slots=True)
class TypeEnvironment:
    """Every type name a program may use, mapped to its kind.

    ``broken`` names types that are declared but erroneous (already reported), so their
    uses are not reported again as undefined.
    """

    kinds: dict[str, Kind]
    broken: frozenset[str] = frozenset()

    def kind_of(self, type_name: str) -> Kind | None:
        """The kind of a type name, or ``None`` if it is not defined."""
        return self.kinds.get(type_name)


def build_type_environment(
    declarations: Iterable[TypeDecl],
) -> tuple[TypeEnvironment, list[Diagnostic]]:
    """Resolve `.type` declarations (subtypes, aliases, unions) to kinds.

    Undefined base types, duplicate names, cycles and unions mixing kinds are reported;
    a type with an error gets no kind, so its uses are not reported again.
    """
    diagnostics: list[Diagnostic] = []
    by_name: dict[str, TypeDecl] = {}
    for declaration in declarations:
        if declaration.name in by_name or declaration.name in _PRIMITIVES:
            diagnostics.append(
                Diagnostic(
                    ErrorCode.DUPLICATE_DECLARATION,
                    f"type `{declaration.name}` is declared more than once",
                    declaration.span,
                )
            )
            continue
        by_name[declaration.name] = declaration

    kinds: dict[str, Kind] = dict(_PRIMITIVES)
    failed: set[str] = set()

    def resolve(root: str) -> None:
        """Give ``root`` (and every type it is declared from) a kind, or mark it failed;
        depth first with an explicit stack (a chain of subtypes may be very long)."""
        # The types being resolved, each with the index of its next base and its bases'
        # kinds so far; `path` holds their names, for cycles.
        stack: list[tuple[str, int, list[Kind]]] = [(root, 0, [])]
        path: dict[str, None] = {root: None}
        while stack:
            name, next_base, member_kinds = stack[-1]
            declaration = by_name[name]
            if next_base < len(declaration.bases):
                base = declaration.bases[next_base]
                stack[-1] = (name, next_base + 1, member_kinds)
                if base in kinds:
                    member_kinds.append(kinds[base])
                    continue
                if base not in failed:
                    if base not in by_name:
                        diagnostics.append(
                            Diagnostic(
                                ErrorCode.UNDEFINED_TYPE,
                                f"undefined type `{base}` in the declaration of `{name}`",
                                declaration.span,
                            )
                        )
                    elif base in path:
                        names = list(path)
                        cycle = " -> ".join(f"`{n}`" for n in (*names[names.index(base) :], base))
                        diagnostics.append(
                            Diagnostic(
                                ErrorCode.CYCLIC_TYPE,
                                f"type cycle {cycle}",
                                by_name[base].span,
                            )
                        )
                        failed.add(base)
                    else:
                        stack.append((base, 0, []))
                        path[base] = None
                        continue
                # A base failed: so do the types declared from it, up to the root.
                failed.update(path)
                return
            stack.pop()
            del path[name]
            if len(set(member_kinds)) > 1:
                listed = ", ".join(sorted({k.value for k in member_kinds}))
                diagnostics.append(
                    Diagnostic(
                        ErrorCode.TYPE_MISMATCH,
                        f"union type `{name}` mixes kinds {listed}",
                        declaration.span,
                    )
                )
                failed.add(name)
                failed.update(path)
                return
            kinds[name] = member_kinds[0]
            if stack:
                stack[-1][2].append(member_kinds[0])

    for name in by_name:
        if name not in kinds and name not in failed:
            resolve(name)
    return TypeEnvironment(kinds, frozenset(failed) | frozenset(by_name) - set(kinds)), diagnostics
