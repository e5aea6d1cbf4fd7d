"""What loading a bundle again takes from its previous load: every part whose files did
not change.

A bundle is loaded again on a hot reload and on every node of a cluster each time a
version is published, and a new version mostly holds what the last one held. Each load
keeps, beside the `Bundle`, the parts it parsed and compiled with what they were made
from (`LoadedParts`); the next load (``load_bundle(path, previous=bundle)``) takes a part
whenever what it is made from is the same, and makes it otherwise:

* policy files and statements, by their text (`rune.cedar.parse_cache`): only changed
  statements are parsed;
* the schema, by its file name and text;
* which policies, templates and links validate against that schema object, by their
  text (a policy found clean is not typechecked again; one with errors always is, so
  errors are found afresh);
* the rules (one compiled `rune.datalog.Program`, with its cached plans), by the names
  and texts of the rule files and the names of the facts files (declarations are
  inferred from both);
* entities, file by file, by file name, text and schema object; facts, file by file, by
  file name, text and program object. When every file of a part is taken, the part is
  the previous load's object itself, so the engine sees that the data did not change
  (and keeps the rules' result and the entity store, see `rune.engine.Engine.reload`).

INVARIANT: a part is taken only when everything it is made from is equal, so a load with
``previous`` gives what a load without it gives. Each `LoadedParts` holds only what its
own load met, so parts of files long gone are not kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rune.cedar.json_format import EntityData
    from rune.cedar.parse_cache import PolicyParseCache
    from rune.cedar.schema import Schema
    from rune.cedar.values import EntityUID

__all__ = ["LoadedParts", "validation_key"]

FileTexts = tuple[tuple[str, str], ...]  # (file name, text) of each file of a part


@dataclass(slots=True, eq=False)
class LoadedParts:
    """The parts one load made, each with what it was made from (filled while loading,
    then only read by the next load).

    Attributes:
        policies: parsed policy files and statements.
        schema: (file name, text) and the schema read from it.
        clean: the validation keys (`validation_key`) of the policies, templates and
            links that validate against ``schema``'s object.
        rules: (key, program): the rule files' names and texts, the facts files'
            relations; the program compiled from them.
        entities: (file name, text) -> the file's entities, with the schema they were
            read with; ``all_entities``: (files, schema, limit) -> the whole mapping.
        facts: (file name, text) -> the file's rows, with the program that typed them;
            ``all_facts``: (files, program) -> the whole mapping.
    """

    policies: PolicyParseCache
    schema: tuple[tuple[str, str], Schema] | None = None
    clean: frozenset[tuple[Any, ...]] = frozenset()
    rules: tuple[tuple[Any, ...], Any] | None = None
    entities: dict[tuple[str, str], tuple[Any, tuple[EntityData, ...]]] = field(
        default_factory=dict)
    all_entities: tuple[FileTexts, Any, int, dict[EntityUID, EntityData]] | None = None
    facts: dict[tuple[str, str], tuple[Any, frozenset[tuple[Any, ...]]]] = field(
        default_factory=dict)
    all_facts: tuple[FileTexts, Any, dict[str, frozenset[tuple[Any, ...]]]] | None = None

    @classmethod
    def after(cls, previous: LoadedParts | None) -> LoadedParts:
        """The parts of a new load, able to take the parsed statements of ``previous``."""
        # Imported by a load, not with the package: a bundle read back compiled (the
        # hook's cache, `rune.bundle.cache`) must not pull in the Cedar parser.
        from rune.cedar.parse_cache import PolicyParseCache

        return cls(PolicyParseCache(previous.policies if previous is not None else None))


def validation_key(item: Any) -> tuple[Any, ...] | None:
    """What validating a policy, template or link depends on besides the schema: its
    text, and a link's slot values (None when it was not parsed from text: such an item
    is always validated)."""
    if getattr(item, "_ast", None) is not None or item.span is None:
        return None
    template_id = getattr(item, "template_id", None)
    if template_id is not None:
        return ("link", item.text, item.slot_values)
    return ("policy" if hasattr(item, "template_id") else "template", item.text)
