"""RUNE's cache directory, and files in it that only their owner could have written.

What RUNE caches (compiled bundles, compiled code) is loaded with `pickle` and `marshal`,
and loading such a file runs whatever its writer chose: a cache another user can write
is a way to run code as this user. So a cache directory is used only when it is a real
directory (not a symbolic link) owned by this user with no access for anyone else (RUNE
creates it with mode 0700); a file in it is read only when it is a regular file owned by
this user that no one else may write, opened without following links, relative to the
checked directory (so nothing can be swapped between the check and the read). Files are
written whole under a temporary name and renamed over the old one, so a reader sees the
old file or the new one, never half of one. Every failure (a foreign directory, a file
that vanished, a full disk) is "no cache": callers then do the work themselves.

Platforms without POSIX ownership (`os.geteuid`) get no cache.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["CacheDirectory", "default_cache_path", "open_cache_directory"]

# `os.open` flags: no following of a symbolic link, no blocking on a named pipe, no
# inheritance by child processes (each absent where the platform lacks it).
_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0))
_WRITE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                | getattr(os, "O_CLOEXEC", 0))
_DIRECTORY_FLAGS = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
                    | getattr(os, "O_CLOEXEC", 0))


def default_cache_path() -> Path:
    """`$RUNE_CACHE_DIR`, else `$XDG_CACHE_HOME/rune`, else `~/.cache/rune`."""
    explicit = os.environ.get("RUNE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "rune"


def open_cache_directory(path: str | os.PathLike[str] | None = None, *,
                         create: bool = True) -> CacheDirectory | None:
    """The cache directory at ``path`` (default: `default_cache_path`), created with mode
    0700 when missing; None when it cannot be used safely or at all."""
    if not hasattr(os, "geteuid") or not (os.supports_dir_fd >= {os.open, os.rename, os.unlink}):
        return None
    try:
        where = Path(path) if path is not None else default_cache_path()
        if create:
            where.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.mkdir(where, 0o700)
        descriptor = os.open(where, _DIRECTORY_FLAGS)
    except (OSError, RuntimeError, ValueError):  # (Path.home fails without a home)
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() \
                or info.st_mode & 0o077:
            os.close(descriptor)
            return None
    except OSError:
        os.close(descriptor)
        return None
    return CacheDirectory(where, descriptor)


class CacheDirectory:
    """A checked cache directory, held open (files are opened relative to it)."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor = descriptor
        self._written = 0

    def read(self, name: str, max_bytes: int) -> bytes | None:
        """The content of the file ``name``, or None when it is missing, is not a regular
        file, is not this user's, may be written by others, or is larger than
        ``max_bytes``."""
        try:
            descriptor = os.open(name, _READ_FLAGS, dir_fd=self._descriptor)
        except (OSError, ValueError):
            return None
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() \
                    or info.st_mode & 0o022 or info.st_size > max_bytes:
                return None
            chunks: list[bytes] = []
            size = 0
            while size <= max_bytes:
                chunk = os.read(descriptor, 1 << 20)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
                size += len(chunk)
            return None  # it grew past the limit while being read
        except OSError:
            return None
        finally:
            os.close(descriptor)

    def write(self, name: str, data: bytes) -> bool:
        """Replace the file ``name`` with ``data`` (readable by this user only), whole or
        not at all; False when it could not be written."""
        self._written += 1
        temporary = f".{name}.{os.getpid()}.{self._written}.tmp"
        try:
            descriptor = os.open(temporary, _WRITE_FLAGS, 0o600, dir_fd=self._descriptor)
        except OSError:
            return False
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(descriptor, view):]
            finally:
                os.close(descriptor)
            os.replace(temporary, name, src_dir_fd=self._descriptor,
                       dst_dir_fd=self._descriptor)
            return True
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=self._descriptor)
            return False

    def prune(self, prefix: str, keep: int) -> None:
        """Remove all but the ``keep`` most recently written files whose names start with
        ``prefix`` (a cache of one entry per bundle path would otherwise only grow)."""
        try:
            with os.scandir(self._descriptor) as listed:
                found = [(entry.stat(follow_symlinks=False).st_mtime_ns, entry.name)
                         for entry in listed if entry.name.startswith(prefix)]
        except OSError:
            return
        for _, name in sorted(found, reverse=True)[keep:]:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=self._descriptor)

    def close(self) -> None:
        """Release the directory."""
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1

    def __enter__(self) -> CacheDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
