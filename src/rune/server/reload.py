"""Hot reload: the server watches its bundle with `watchfiles` and reloads on change.

Only the files a bundle loads count (`rune.toml`, the schema, and `policies/*.cedar`,
`rules/*.dl`, `entities/*.json`, `facts/*.facts`): a state file or a decision log kept
inside the bundle directory, an editor's swap file or a README never trigger a reload.
Changes are debounced (an editor saving several files is one reload). The reload itself
is `Engine.reload` in a worker thread: the new version is published with one assignment
while requests keep being answered by the old one, so no request fails or waits; a
bundle with errors keeps the running version serving, and every error is logged with its
file:line:column and counted in `/metrics` (`rune_reload_failures_total`).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rune.server.app import App

__all__ = ["bundle_file", "watch_bundle"]

_log = logging.getLogger("rune.server")
_DIRECTORIES = {"policies": ".cedar", "rules": ".dl", "entities": ".json", "facts": ".facts"}
_TOP_FILES = frozenset({"rune.toml", "schema.cedarschema", "schema.json"})
DEBOUNCE_MS = 200


def bundle_file(root: Path, path: Path) -> bool:
    """Whether ``path`` is a file the bundle at ``root`` loads (so a change reloads)."""
    try:
        relative = path.resolve().relative_to(root)
    except ValueError:
        return False
    parts = relative.parts
    if not parts or any(part.startswith(".") for part in parts):
        return False
    if len(parts) == 1:
        return parts[0] in _TOP_FILES
    if len(parts) == 2:
        return _DIRECTORIES.get(parts[0]) == Path(parts[1]).suffix
    return False


async def watch_bundle(app: App, stop: asyncio.Event) -> None:
    """Reload ``app``'s bundle whenever one of its files changes, until ``stop``."""
    import watchfiles

    root = Path(app.config.bundle).resolve()

    def relevant(change: watchfiles.Change, path: str) -> bool:
        return bundle_file(root, Path(path))

    try:
        async for changes in watchfiles.awatch(root, watch_filter=relevant, stop_event=stop,
                                               debounce=DEBOUNCE_MS, step=50,
                                               recursive=True):
            names = sorted({Path(p).relative_to(root).as_posix() for _, p in changes})
            await app.reload(f"changed: {', '.join(names[:5])}")
    except asyncio.CancelledError:
        raise
    except Exception:  # the watcher must not take the server down
        _log.exception("the bundle watcher stopped; reload with POST /v1/admin/reload")
