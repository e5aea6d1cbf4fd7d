"""Compiled bundles kept across processes: a bundle whose files did not change loads from
its compiled copy instead of being parsed, checked and compiled again.

A process that lives for one decision (`rune hook claude-code --bundle`, started once per
tool call) would otherwise parse, analyse and compile every policy and rule each time.
`BundleCache` keeps the loaded `Bundle` (policies with their compiled code and scope
index, rules with their plans and generated functions, entities, facts and settings) in
RUNE's cache directory: `$RUNE_CACHE_DIR`, else `$XDG_CACHE_HOME/rune`, else
`~/.cache/rune`, one file per bundle path (the 64 most recently written are kept).

A copy is used only when, as it is read:

* it was written by this RUNE (every RUNE module loaded when it was written: path, size
  and modification time) under this Python (`sys.version`), for this bundle path (as
  given, made absolute, and the working directory when the path is relative);
* every file the load read still has the same bytes and every directory it listed the
  same entries (`rune.bundle._files.Manifest`: policies, links, rules and their
  `#include`s, entities, facts, schema, `rune.toml`).

It then decides exactly as a fresh load: it is that load's objects, pickled whole
(`rune._internal.pickling`), with what was compiled on first use (`store` is called
after the bundle served). Anything else is a miss, and the bundle is loaded from its
files as always: no usable cache directory (see `rune._internal.cache_files`: it must be
this user's alone), an entry that is missing, truncated, corrupt, stale or foreign, any
error reading it. A bundle that does not load is never stored, so a cache never turns an
error into a decision.
"""

from __future__ import annotations

import marshal
import os
import sys
import zlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rune.bundle._files import Manifest, recording
from rune.bundle.loader import Bundle, is_single_file, load_bundle, log_warnings

if TYPE_CHECKING:
    from rune._internal.cache_files import CacheDirectory

__all__ = ["BundleCache"]

_FORMAT = "rune-bundle-cache-1"
_MAX_ENTRY_BYTES = 256 << 20
_MAX_SOURCE_BYTES = 64 << 20  # a bundle whose files are larger is not stored
_MAX_ENTRIES = 64  # bundle paths kept (the most recently written)


class BundleCache:
    """Compiled bundles in ``directory`` (`open` finds and checks the default one).

    ``hits`` and ``misses`` count `load`'s answers.
    """

    def __init__(self, directory: CacheDirectory) -> None:
        self.directory = directory
        self.hits = 0
        self.misses = 0
        # id(bundle) -> (the bundle, its entry's identity, what its load read, and for a
        # bundle from the cache what had been planned for its rules then): what `store`
        # may write.
        self._loaded: dict[int, tuple[Bundle, tuple[str, ...], Manifest, Any]] = {}

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> BundleCache | None:
        """The cache in directory ``path`` (default: RUNE's cache directory, created when
        missing); None when there is no directory this user alone controls."""
        from rune._internal.cache_files import open_cache_directory

        directory = open_cache_directory(path)
        return None if directory is None else cls(directory)

    def load(self, path: str | os.PathLike[str]) -> Bundle:
        """The bundle at ``path``: its compiled copy when one is valid, else loaded from
        its files (as `load_bundle`, whose errors it raises).

        Raises:
            BundleError: the bundle does not load.
        """
        root = Path(path)
        identity = _identity(root)
        name = _entry_name(identity)
        cached = self._cached(name, identity)
        if cached is not None:
            bundle, manifest = cached
            self.hits += 1
            if not is_single_file(root):  # as `load_bundle` does
                log_warnings(bundle.warnings)
            self._loaded[id(bundle)] = (bundle, identity, manifest, _derived(bundle))
            return bundle
        self.misses += 1
        with recording() as manifest:
            bundle = load_bundle(root)
        self._loaded[id(bundle)] = (bundle, identity, manifest, None)
        return bundle

    def store(self, bundle: Bundle) -> bool:
        """Write the compiled copy of ``bundle``, which `load` returned; call it once the
        bundle has served (an engine built on it, decisions made, actions recorded), so
        what was compiled on first use is kept too. A bundle that came from the cache is
        written again only when serving it planned something its copy lacked (its rules'
        plans for a state file's history, say), so the copy converges on what its users
        need. False when nothing was written."""
        loaded = self._loaded.pop(id(bundle), None)
        if loaded is None or loaded[0] is not bundle:
            return False
        _, identity, manifest, derived = loaded
        if derived is not None and _derived(bundle) == derived:
            return False  # from the cache, and nothing new was planned
        files = tuple(manifest.files.items())
        if sum(len(content or b"") for _, content in files) > _MAX_SOURCE_BYTES:
            return False
        from rune._internal.pickling import dumps

        try:
            # Without what the load kept for reloading it (parsed statements, by text):
            # a process that reads the copy back never reloads, and unpickling those
            # would import the parsers this cache exists to skip.
            payload = dumps(replace(bundle, parts=None))
        except Exception:  # (PicklingError, and anything a hostile __reduce__ raises)
            return False
        entry = (_FORMAT, identity, _code_fingerprint(), tuple(manifest.listings.items()),
                 files, payload)
        try:
            data = marshal.dumps(entry)
        except ValueError:
            return False
        if len(data) > _MAX_ENTRY_BYTES or not self.directory.write(_entry_name(identity),
                                                                    data):
            return False
        self.directory.prune("bundle-", _MAX_ENTRIES)
        return True

    def _cached(self, name: str, identity: tuple[str, ...]
                ) -> tuple[Bundle, Manifest] | None:
        """The bundle in entry ``name``, and what its load had read, when every check
        passes (see the module docstring); None otherwise, whatever went wrong."""
        data = self.directory.read(name, _MAX_ENTRY_BYTES)
        if data is None:
            return None
        try:
            entry = marshal.loads(data)
            if not (isinstance(entry, tuple) and len(entry) == 6 and entry[0] == _FORMAT
                    and entry[1] == identity and _same_code(entry[2])):
                return None
            manifest = Manifest()
            manifest.listings.update(entry[3])
            manifest.files.update(entry[4])
            if not manifest.unchanged():
                return None
            from rune._internal.pickling import loads

            bundle = loads(entry[5])
        except Exception:  # INVARIANT: a cache that cannot be used is a miss, not an error
            return None
        return (bundle, manifest) if isinstance(bundle, Bundle) else None

    def close(self) -> None:
        """Release the cache directory."""
        self.directory.close()


def _derived(bundle: Bundle) -> dict[str, frozenset[Any]]:
    """What has been planned for the bundle's rules, by cache (`rune.datalog._cache`)."""
    if bundle.rules is None:
        return {}
    from rune.datalog._cache import derived_from

    return {name: frozenset(entries) for name, entries in derived_from(bundle.rules).items()}


def _identity(root: Path) -> tuple[str, ...]:
    """What a compiled copy is for: the format, RUNE, Python, and the bundle path (its
    objects hold file names as given; a relative one depends on the working directory)."""
    from rune import __version__

    text = str(root)
    return (_FORMAT, __version__, sys.version, text, os.path.abspath(text),
            "" if os.path.isabs(text) else os.getcwd())


def _entry_name(identity: tuple[str, ...]) -> str:
    """The entry's file name: a checksum of its identity (stored in it and compared, so
    a collision is a miss, never a wrong bundle)."""
    key = "\0".join(identity).encode("utf-8", "surrogatepass")
    return f"bundle-{zlib.crc32(key):08x}{zlib.adler32(key):08x}.cache"


def _code_fingerprint() -> tuple[tuple[str, int, int], ...]:
    """(file, size, modification time) of every loaded RUNE module."""
    found = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if (name == "rune" or name.startswith("rune.")) and isinstance(file, str):
            try:
                info = os.stat(file)
            except OSError:
                continue
            found.append((file, info.st_size, info.st_mtime_ns))
    return tuple(sorted(found))


def _same_code(fingerprint: Any) -> bool:
    """Whether every module of ``fingerprint`` is still the file it was."""
    if not isinstance(fingerprint, tuple) or not fingerprint:
        return False
    for file, size, mtime in fingerprint:
        try:
            info = os.stat(file)
        except OSError:
            return False
        if (info.st_size, info.st_mtime_ns) != (size, mtime):
            return False
    return True
