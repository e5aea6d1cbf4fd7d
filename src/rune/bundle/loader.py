"""Load a bundle directory, reporting every error of every file at once.

Layout (every part optional except at least one policy file)::

    rune.toml              settings (see `rune.bundle.settings` for every key)
    policies/*.cedar       Cedar policies and templates; ids are the `@id("...")`
                           annotation when present, else `policy0`, `policy1`, ... in order
    policies/links.json    template links: `[{"template_id": ..., "link_id": ...,
                           "args": {"?principal": uid, "?resource": uid}}]`, a uid written
                           `"Type::\"id\""` or `{"type": ..., "id": ...}` (the format of
                           `cedar`'s `--template-linked` files)
    rules/*.dl             Datalog rules (the built-in relations are predeclared)
    schema.cedarschema     a Cedar schema (or schema.json, the JSON form; not both)
    entities/*.json        entities in Cedar's JSON format
    facts/<relation>.facts tab-separated input facts for the rules, as Soufflé reads them

Nothing is half-loaded: a bundle with errors raises `BundleError` carrying every
diagnostic with file:line:column or file and JSON path. A file that cannot be read (a
directory or a named pipe where a file should be, a broken symbolic link, no permission,
not UTF-8) is one of these errors, located at its first bad byte where there is one.

With a schema, the policies are validated against it in Cedar's strict mode (RUNE's
typechecker), unless `rune.toml` says otherwise (`[validation] mode`); entities are read
as the schema directs, and facts as their relations' column types direct.

Files that are not loaded: hidden entries (names starting with `.`, such as editors' lock
and swap files) are skipped. Any other entry of `policies/`, `rules/`, `entities/` or
`facts/` without that directory's extension (matched exactly: `x.Cedar` and `x.cedar.bak`
are not policies), and a top-level file with one of the bundle's extensions (`.cedar`,
`.dl`, `.facts`, `.cedarschema`) or with the name of a bundle part but in another case
(`Rune.toml`), is not loaded and is reported as a warning (`Bundle.warnings`, also logged
to the `rune.bundle` logger): its author most likely expects it to apply. Anything else
(a README, a `.git` directory) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rune.bundle._data import read_entities, read_facts, read_rules
from rune.bundle._files import FileTooLarge, Report
from rune.bundle._reuse import LoadedParts, validation_key
from rune.bundle.errors import BundleError
from rune.bundle.settings import Settings, ValidationMode
from rune.cedar.json_format import EntityData
from rune.cedar.policy_set import Policy, PolicySet, Template
from rune.cedar.values import EntityUID
from rune.errors import Diagnostic, EngineError, RuneError, SourceSpan

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rune.cedar.schema import Schema

__all__ = ["Bundle", "BundleError", "Settings", "load_bundle", "named_policies"]

# Each bundle directory and the extension of the files loaded from it.
_DIRECTORIES = {"policies": ".cedar", "rules": ".dl", "entities": ".json", "facts": ".facts"}
_TOP_FILES = ("rune.toml", "schema.cedarschema", "schema.json")
_BUNDLE_EXTENSIONS = (".cedar", ".dl", ".facts", ".cedarschema")


@dataclass(frozen=True, slots=True)
class Bundle:
    """Everything a bundle holds, parsed and checked.

    ``warnings`` are problems that did not stop the load: files that look like bundle
    files but are not loaded, and (with `[validation] mode = "warn"`) validation errors.
    ``parts`` is what the load parsed and compiled, for loading the bundle again
    (``load_bundle(path, previous=bundle)``).
    """

    path: Path
    policies: PolicySet
    schema: Schema | None
    entities: dict[EntityUID, EntityData]
    rules: Any  # rune.datalog.Program | None
    facts: dict[str, frozenset[tuple[Any, ...]]]
    settings: Settings
    warnings: tuple[Diagnostic, ...] = ()
    parts: LoadedParts | None = field(default=None, repr=False, compare=False)


def named_policies(policies: PolicySet, *,
                   sources: Mapping[str, str] | None = None) -> PolicySet:
    """The same policies and templates, each renamed to its `@id` annotation where it has
    one (links follow their template).

    Args:
        policies: the policies and templates.
        sources: the text of each policy file by name, for the diagnostics' snippets.

    Raises:
        EngineError: (`duplicate-policy-id`) one diagnostic per policy or template whose
            id another already has, at its `@id` (or the policy), naming where the first is.
    """
    first: dict[str, Policy | Template] = {}
    problems: list[Diagnostic] = []
    renamed_templates: list[Template] = []
    template_ids: dict[str, str] = {}
    renamed: list[Policy] = []

    def claim(item: Policy | Template) -> str | None:
        new_id: str = item.annotated_id or item.id
        other = first.get(new_id)
        if other is not None:
            span = _id_span(item)
            source = sources.get(span.file or "") if sources and span else None
            problems.append(Diagnostic(
                "duplicate-policy-id", f"two policies have the id `{new_id}`; the other is "
                f"at `{_id_span(other) or '<unknown>'}`", span, source=source))
            return None
        first[new_id] = item
        return new_id

    for template in policies.templates:
        new_id = claim(template)
        if new_id is not None:
            template_ids[template.id] = new_id
            renamed_templates.append(template.with_id(new_id))
    for p in policies:
        new_id = claim(p)
        if new_id is not None:
            policy = p.with_id(new_id)
            if p.template_id is not None and p.template_id in template_ids:
                policy = policy.with_template_id(template_ids[p.template_id])
            renamed.append(policy)
    if problems:
        message = problems[0].message if len(problems) == 1 else \
            f"{len(problems)} policies have an id another policy has"
        raise EngineError(message, code="duplicate-policy-id", diagnostics=problems)
    return PolicySet.from_policies(renamed, tuple(renamed_templates))


def _id_span(policy: Policy | Template) -> SourceSpan | None:
    """Where the policy's id is written: its `@id` annotation, else the policy itself."""
    if policy.span is None:
        return None
    if policy.annotated_id is not None:
        for annotation in policy.ast.annotations:  # parsed again: only on this error path
            if annotation.key == "id" and annotation.span is not None:
                return annotation.span
    return policy.span


def load_bundle(path: str | Path, *, previous: Bundle | None = None) -> Bundle:
    """Load and check a bundle directory, or a single-file `.rune` bundle
    (`rune.bundle.single_file`).

    Args:
        path: the bundle.
        previous: a bundle loaded before (an earlier version of this one): every part
            whose files did not change is taken from it rather than parsed and compiled
            again (`rune.bundle._reuse`); the result is the same as without it.

    Raises:
        BundleError: every problem in every file (the caller keeps what it had).
    """
    root = Path(path)
    if is_single_file(root):
        from rune.bundle.single_file import load_single_file

        return load_single_file(root)
    if not root.is_dir():
        raise BundleError(f"bundle `{root}` is not a directory", code="bundle-not-found")
    old = previous.parts if previous is not None else None
    parts = LoadedParts.after(old)
    report = Report()
    files = _list_files(root, report)
    settings = _read_settings(root, files, report)
    policies, numbered = _read_policies(root, files["policies"], settings, report, parts)
    schema = _read_schema(root, files, report, old, parts)
    if schema is not None and settings.validation_mode is not ValidationMode.OFF:
        _validate(policies if len(policies) or policies.templates else numbered, schema,
                  settings.validation_mode, report, root, old=old, parts=parts)
    entities = read_entities(files["entities"], schema, settings, report, old, parts)
    rules, rules_loaded = read_rules(root, files["rules"], report, old, parts)
    facts = read_facts(files["facts"], rules, rules_loaded, report, old, parts)
    if report.errors:
        message = f"bundle `{root}` has {len(report.errors)} error(s)"
        raise BundleError(message, diagnostics=report.errors, source=None)
    warnings = tuple(sorted(report.warnings, key=_position))
    log_warnings(warnings)  # (a single-file bundle's are not logged)
    parts.policies.settle()  # (the previous load's statements are no longer needed)
    return Bundle(root, policies, schema, entities, rules, facts, settings, warnings, parts)


def is_single_file(root: Path) -> bool:
    """Whether ``root`` names a single-file bundle (`rune.bundle.single_file`)."""
    return root.suffix == ".rune" and not root.is_dir()


def log_warnings(warnings: tuple[Diagnostic, ...]) -> None:
    """Log a bundle's warnings to the `rune.bundle` logger, as loading it does."""
    if warnings:
        import logging

        log = logging.getLogger("rune.bundle")
        for warning in warnings:
            rendered = warning.render()
            log.warning("%s", rendered.replace(f"error[{warning.code}]",
                                               f"warning[{warning.code}]", 1))


def _position(d: Diagnostic) -> tuple[str, int]:
    """Warnings in the order `RuneError` gives errors: by file, then position in it."""
    if d.span is None:
        return (d.path or "", -1)
    return (d.span.file or "", d.span.offset)


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _list_files(root: Path, report: Report) -> dict[str, list[Path]]:
    """The files to load, by bundle directory (`policies`...) or top-level name; warns
    about entries that look like bundle files but are not loaded (see the docstring)."""
    files: dict[str, list[Path]] = {name: [] for name in (*_DIRECTORIES, *_TOP_FILES)}
    top = report.entries(root) or []
    known = {*_DIRECTORIES, *_TOP_FILES}
    by_lower = {name.lower(): name for name in known}
    for entry in top:
        name = entry.name
        if name in known:
            if name in _TOP_FILES:
                files[name].append(root / name)
            continue
        if _hidden(name):
            continue
        meant = by_lower.get(name.lower())
        if meant is not None:
            report.warn("ignored-file", f"`{name}` is not loaded: names are case-sensitive; "
                        f"did you mean `{meant}`?", root / name)
        elif Path(name).suffix.lower() in _BUNDLE_EXTENSIONS:
            report.warn("ignored-file", f"`{name}` is not loaded: {_where_files_go(name)}",
                        root / name)
    for directory, extension in _DIRECTORIES.items():
        if not any(entry.name == directory for entry in top):
            continue
        for entry in report.entries(root / directory) or []:
            name = entry.name
            if _hidden(name):
                continue
            file = root / directory / name
            if directory == "policies" and name == LINKS_FILE:
                continue  # read with the policies
            if name.endswith(extension) and len(name) > len(extension):
                files[directory].append(file)
                continue
            hint = ""
            if name.lower().endswith(extension):
                hint = " (the extension is case-sensitive)"
            elif entry.is_dir():
                hint = " (subdirectories are not read)"
            report.warn("ignored-file", f"`{directory}/{name}` is not loaded: only "
                        f"`*{extension}` files of `{directory}/` are{hint}", file)
    return files


def _where_files_go(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix == ".cedarschema":
        return "the schema must be `schema.cedarschema`"
    directory = next(d for d, ext in _DIRECTORIES.items() if ext == suffix)
    return f"`*{suffix}` files are loaded from `{directory}/`"


def _read_settings(root: Path, files: Mapping[str, list[Path]], report: Report) -> Settings:
    for file in files["rune.toml"]:
        text = report.read(file)
        if text is None:
            break
        try:
            return Settings.from_toml(text, file=str(file), base=root)
        except BundleError as error:
            report.errors.extend(error.diagnostics)  # already located in `file`
    return Settings()


def _read_policies(root: Path, files: list[Path], settings: Settings, report: Report,
                   parts: LoadedParts | None = None) -> tuple[PolicySet, PolicySet]:
    """The policies and templates renamed to their `@id`s, with the links of
    `policies/links.json`; and the same numbered as parsed (`policy0`... across files,
    templates counted, as Cedar numbers one text)."""
    if not files:
        report.error("no-policies", "the bundle has no `policies/*.cedar` file", root)
    items: list[Policy | Template] = []
    used = 0
    limit = settings.max_policy_bytes
    for file in files:
        try:
            text = report.read(file, max_bytes=limit - used)
        except FileTooLarge:
            report.error("policies-too-large", f"the policies are larger than `[limits] "
                         f"max_policy_bytes` ({limit} bytes), counting `{file}`", file)
            break
        if text is None:
            continue
        used += len(text.encode("utf-8"))
        try:
            parsed = (PolicySet.from_str(text, file=str(file)) if parts is None
                      else parts.policies.parse(text, str(file)))
        except RuneError as error:
            report.add(error, file)
            continue
        except RecursionError:
            report.error("nesting-too-deep", "a policy is nested too deeply", file)
            continue
        # Policies and templates in the order of the text (`policyN` is their position).
        items.extend(sorted((*parsed, *parsed.templates), key=lambda x: int(x.id[6:])))
    numbered_policies = [x.with_id(f"policy{i}") for i, x in enumerate(items)]
    numbered = PolicySet.from_policies(
        [x for x in numbered_policies if isinstance(x, Policy)],
        tuple(x for x in numbered_policies if isinstance(x, Template)))
    try:
        named = named_policies(numbered, sources=report.sources)
    except RuneError as error:
        report.add(error, root / "policies")
        return PolicySet(), numbered
    links = root / "policies" / LINKS_FILE
    if links.is_file() or links.is_symlink():
        named = _read_links(links, named, report)
    linked = {p.template_id for p in named if p.template_id is not None}
    for template in named.templates:
        if template.id not in linked:
            # Not an error (links may come later, through `Engine.link`), but it applies
            # to nothing yet: a forbid template would silently never fire.
            report.warn("unlinked-template", f"template `{template.id}` has no link in "
                        f"`policies/{LINKS_FILE}`: it applies to nothing until it is linked",
                        template.span.file if template.span and template.span.file
                        else root / "policies", span=template.span)
    return named, numbered


def _read_links(file: Path, policies: PolicySet, report: Report) -> PolicySet:
    """``policies`` with the links of ``file`` (every bad link reported at its path)."""
    import json

    text = report.read(file)
    if text is None:
        return policies
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        report.error("invalid-json", f"invalid JSON: {exc.msg}", file,
                     path=f"line {exc.lineno} column {exc.colno}")
        return policies
    except (RecursionError, ValueError):
        report.error("invalid-json", "the links are nested too deeply or malformed", file)
        return policies
    if not isinstance(data, list):
        report.error("invalid-links", "the links must be a JSON list", file, path="$")
        return policies
    for i, item in enumerate(data):
        where = f"$[{i}]"
        if not isinstance(item, dict):
            report.error("invalid-link", "a link must be an object with `template_id`, "
                         "`link_id` and `args`", file, path=where)
            continue
        template_id, link_id, args = (item.get("template_id"), item.get("link_id"),
                                      item.get("args", {}))
        bad = next((k for k, v in (("template_id", template_id), ("link_id", link_id))
                    if not isinstance(v, str)), None)
        if bad is not None:
            report.error("invalid-link", f"`{bad}` must be a string", file,
                         path=f"{where}.{bad}")
            continue
        if not isinstance(args, dict):
            report.error("invalid-link", "`args` must map `?principal`/`?resource` to "
                         "uids", file, path=f"{where}.args")
            continue
        assert isinstance(template_id, str) and isinstance(link_id, str)
        try:
            policies = policies.link(template_id, link_id, args)
        except RuneError as error:
            report.error(error.code, error.message, file,
                         path=f"{where}.{_link_field(error.code)}")
    return policies


LINKS_FILE = "links.json"


def _link_field(code: str) -> str:
    return {"unknown-template": "template_id", "duplicate-policy-id": "link_id"}.get(
        code, "args")


def _read_schema(root: Path, files: Mapping[str, list[Path]], report: Report,
                 old: LoadedParts | None = None, parts: LoadedParts | None = None
                 ) -> Schema | None:
    human, json_form = files["schema.cedarschema"], files["schema.json"]
    if human and json_form:
        report.error("two-schemas", "the bundle has both `schema.cedarschema` and "
                     "`schema.json`: keep one", json_form[0])
        return None
    schema: Schema | None = None
    for file in (*human, *json_form):
        from rune.cedar.schema import Schema

        text = report.read(file)
        if text is None:
            continue
        key = (str(file), text)
        if old is not None and old.schema is not None and old.schema[0] == key:
            schema = old.schema[1]
            if parts is not None:
                parts.schema = old.schema
            continue
        try:
            schema = (Schema.from_json(text) if file.name.endswith(".json")
                      else Schema.from_str(text, file=str(file)))
            if parts is not None:
                parts.schema = (key, schema)
        except RuneError as error:
            report.add(error, file)
        except RecursionError:
            report.error("nesting-too-deep", "the schema is nested too deeply", file)
    return schema


def _validate(policies: PolicySet, schema: Schema, mode: ValidationMode,
              report: Report, root: Path, *, old: LoadedParts | None = None,
              parts: LoadedParts | None = None) -> None:
    """Validate ``policies`` (templates and links included) in Cedar's strict mode; each
    error is a bundle error, or a warning in `warn` mode.

    With ``old``, what it found clean against this very schema object is not validated
    again (the rest is, in the same order, so the errors are those of the whole set);
    ``parts`` records what is clean now."""
    from rune.cedar.schema import validate

    known = old.clean if old is not None and old.schema is not None \
        and old.schema[1] is schema else frozenset()
    keys = {id(item): validation_key(item) for item in (*policies, *policies.templates)}
    checked = policies
    if known:
        checked = PolicySet.from_policies(
            [p for p in policies if keys[id(p)] not in known],
            tuple(t for t in policies.templates if keys[id(t)] not in known))
    try:
        result = validate(checked, schema)
    except RecursionError:
        report.error("nesting-too-deep", "a policy is nested too deeply to validate",
                     next((p.span.file for p in policies if p.span and p.span.file), "?"))
        return
    if parts is not None:
        failed = {error.policy_id for error in result.errors}
        parts.clean = frozenset(
            key for item in (*policies, *policies.templates)
            if (key := keys[id(item)]) is not None and item.id not in failed)
    add = report.warn if mode is ValidationMode.WARN else report.error
    templates = {t.id: t for t in policies.templates}
    for error in result.errors:
        item: Any = templates.get(error.policy_id) or policies.policy(error.policy_id)
        if getattr(item, "template_id", None) is not None:
            add(error.code, f"link `{error.policy_id}` (of template `{item.template_id}`) "
                f"does not validate against the schema: {error.message}",
                root / "policies" / LINKS_FILE)
            continue
        name = item.annotated_id or error.policy_id
        span = error.span or item.span
        file = (span.file if span is not None else None) or "policies"
        if span is not None and span.file is None:
            span = replace(span, file=file)
        kind = "template" if error.policy_id in templates else "policy"
        add(error.code, f"{kind} `{name}` does not validate against the schema: "
            f"{error.message}", file, span=span)
