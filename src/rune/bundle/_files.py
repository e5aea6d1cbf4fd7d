"""Reading a bundle's files: every way a file can fail to be read becomes a diagnostic.

A bundle is hostile input like any other: a policy file may be a directory, a broken
symbolic link, a named pipe (reading it would block forever), unreadable, or not UTF-8.
`Report.read` turns each of these into a diagnostic naming the file (and, for bad UTF-8,
the line and column of the first bad byte), and `Report` gathers them with every other
problem of the bundle so that all are reported at once.

Every file a load reads and every directory it lists goes through `Report`, so a load
run inside `recording` leaves a `Manifest` of all it depended on: what a compiled
bundle's cache (`rune.bundle.cache`) checks before it trusts a copy.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path

from rune.errors import Diagnostic, RuneError, SourceSpan

__all__ = ["FileTooLarge", "Manifest", "Report", "listing", "read_file", "recording"]

_BOM = "\ufeff"
_READ_CHUNK = 1 << 20


class FileTooLarge(Exception):
    """The file is larger than the caller allows; ``size`` is how many bytes were seen."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class Manifest:
    """What a load read: each file's bytes and each directory's listing, by path (as the
    loader named them), None for what could not be read."""

    __slots__ = ("files", "listings")

    def __init__(self) -> None:
        self.files: dict[str, bytes | None] = {}
        self.listings: dict[str, tuple[tuple[str, bool], ...] | None] = {}

    def unchanged(self) -> bool:
        """Whether every file and directory still reads as it did."""
        for directory, seen in self.listings.items():
            if listing(Path(directory)) != seen:
                return False
        for file, content in self.files.items():
            try:
                now: bytes | None = read_file(Path(file), None)
            except (OSError, _NotAFile):
                now = None
            if now != content:
                return False
        return True


_RECORDING: ContextVar[Manifest | None] = ContextVar("rune_bundle_manifest", default=None)


@contextmanager
def recording() -> Iterator[Manifest]:
    """Record what every `Report` in this context reads into the manifest yielded."""
    manifest = Manifest()
    token = _RECORDING.set(manifest)
    try:
        yield manifest
    finally:
        _RECORDING.reset(token)


class _NotAFile(Exception):
    """The path names a directory or a special file (``kind`` says which)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def read_file(file: Path, max_bytes: int | None) -> bytes:
    """The bytes of the regular file ``file``.

    Raises:
        OSError: it cannot be opened or read.
        _NotAFile: it is a directory or a special file.
        FileTooLarge: it has more than ``max_bytes`` bytes.
    """
    # Open without blocking and check what was opened (not what the name pointed to a
    # moment before): a named pipe would otherwise block the load forever.
    fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise _NotAFile("directory")
        if not stat.S_ISREG(mode):
            raise _NotAFile("special")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, _READ_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise FileTooLarge(size)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def listing(directory: Path) -> tuple[tuple[str, bool], ...] | None:
    """(name, whether a directory) of each entry of ``directory`` by name; None when it
    cannot be listed."""
    try:
        with os.scandir(directory) as entries:
            return tuple(sorted((entry.name, _is_directory(entry)) for entry in entries))
    except OSError:
        return None


def _is_directory(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


class Report:
    """What loading a bundle found: errors, warnings, and the text of every file read
    (so each diagnostic renders a snippet of the file its span points into)."""

    def __init__(self) -> None:
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.sources: dict[str, str] = {}

    # -- diagnostics -------------------------------------------------------------------
    def error(self, code: str, message: str, file: Path | str, *,
              span: SourceSpan | None = None, path: str | None = None,
              source: str | None = None) -> None:
        """Add an error about ``file``: at ``span`` (in ``source``, by default the file's
        text if it was kept), at JSON ``path``, or the whole file."""
        self.errors.append(self._diagnostic(code, message, file, span, path, source))

    def warn(self, code: str, message: str, file: Path | str, *,
             span: SourceSpan | None = None, path: str | None = None) -> None:
        """Add a warning (the bundle still loads) about ``file``."""
        self.warnings.append(self._diagnostic(code, message, file, span, path))

    def _diagnostic(self, code: str, message: str, file: Path | str,
                    span: SourceSpan | None, path: str | None,
                    source: str | None = None) -> Diagnostic:
        if span is not None:
            return Diagnostic(code, message, span,
                              source=source or self.sources.get(str(file)))
        return Diagnostic(code, message, None, f"{file}: {path}" if path else str(file))

    def add(self, error: RuneError, file: Path | str, *, warning: bool = False) -> None:
        """Add every diagnostic of ``error``, raised reading ``file``.

        A diagnostic with a span keeps it (and gets its file's text for the snippet); one
        with a JSON path is prefixed with the file (`entities/a.json: $[3].uid`).
        """
        sources: dict[str | None, str] = getattr(error, "sources", None) or {}
        out = self.warnings if warning else self.errors
        for d in error.diagnostics:
            span = d.span
            if span is None:
                out.append(Diagnostic(d.code, d.message, None, f"{file}: {d.path or '$'}"))
                continue
            if span.file is None:
                span = replace(span, file=str(file))
            source = (d.source or self.sources.get(str(span.file)) or sources.get(span.file)
                      or error.source)
            out.append(Diagnostic(d.code, d.message, span, d.path, source))

    # -- files ---------------------------------------------------------------------------
    def read(self, file: Path, *, max_bytes: int | None = None, keep: bool = True
             ) -> str | None:
        """The text of ``file`` (UTF-8, a leading byte-order mark dropped), or None after
        adding an error that says why it cannot be read.

        The text is kept for the snippets of later diagnostics unless ``keep`` is false
        (for data files, which can be large and whose errors have no spans).

        Raises:
            FileTooLarge: the file has more than ``max_bytes`` bytes (nothing is added).
        """
        data = self._read_bytes(file, max_bytes)
        if data is None:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as bad:
            self._invalid_utf8(file, data, bad)
            return None
        if text.startswith(_BOM):
            text = text[1:]
        if keep:
            self.sources[str(file)] = text
        return text

    def _read_bytes(self, file: Path, max_bytes: int | None) -> bytes | None:
        data: bytes | None = None
        try:
            data = read_file(file, max_bytes)
        except OSError as error:
            self.error("unreadable-file", self._why(file, error), file)
        except _NotAFile as not_a_file:
            if not_a_file.kind == "directory":
                self.error("not-a-file", f"`{file}` is a directory, not a file", file)
            else:
                self.error("not-a-file", f"`{file}` is not a regular file", file)
        manifest = _RECORDING.get()
        if manifest is not None:
            manifest.files[str(file)] = data
        return data

    @staticmethod
    def _why(file: Path, error: OSError) -> str:
        if error.errno == errno.ENOENT and file.is_symlink():
            return f"cannot read `{file}`: it is a broken symbolic link"
        if error.errno == errno.EISDIR:
            return f"`{file}` is a directory, not a file"
        reason = (error.strerror or str(error)).lower()
        return f"cannot read `{file}`: {reason}"

    def _invalid_utf8(self, file: Path, data: bytes, bad: UnicodeDecodeError) -> None:
        """Report the first byte that is not UTF-8, at its line and column."""
        text = data.decode("utf-8", errors="replace")
        before = data[: bad.start].decode("utf-8")  # valid: the first bad byte is at start
        if before.startswith(_BOM):
            before, text = before[1:], text[1:]
        start = len(before)
        byte = data[bad.start : bad.start + 1].hex()
        span = SourceSpan.from_offsets(text, start, start + 1, str(file))
        self.errors.append(Diagnostic(
            "invalid-utf8", f"the file is not UTF-8: byte `0x{byte}` at byte offset "
            f"{bad.start} ({bad.reason})", span, source=text))

    def entries(self, directory: Path) -> list[os.DirEntry[str]] | None:
        """The entries of ``directory``, sorted by name, or None after reporting why it
        cannot be listed (or is not a directory)."""
        found: list[os.DirEntry[str]] | None = None
        try:
            with os.scandir(directory) as listed:
                found = sorted(listed, key=lambda entry: entry.name)
        except NotADirectoryError:
            self.error("not-a-directory", f"`{directory}` is not a directory", directory)
        except OSError as error:
            self.error("unreadable-directory",
                       f"cannot list `{directory}`: {(error.strerror or str(error)).lower()}",
                       directory)
        manifest = _RECORDING.get()
        if manifest is not None:
            manifest.listings[str(directory)] = None if found is None else tuple(
                (entry.name, _is_directory(entry)) for entry in found)
        return found
