"""Reading a bundle's files: every way a file can fail to be read becomes a diagnostic.

A bundle is hostile input like any other: a policy file may be a directory, a broken
symbolic link, a named pipe (reading it would block forever), unreadable, or not UTF-8.
`Report.read` turns each of these into a diagnostic naming the file (and, for bad UTF-8,
the line and column of the first bad byte), and `Report` gathers them with every other
problem of the bundle so that all are reported at once.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import replace
from pathlib import Path

from rune.errors import Diagnostic, RuneError, SourceSpan

__all__ = ["FileTooLarge", "Report"]

_BOM = "\ufeff"
_READ_CHUNK = 1 << 20


class FileTooLarge(Exception):
    """The file is larger than the caller allows; ``size`` is how many bytes were seen."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


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
        # Open without blocking and check what was opened (not what the name pointed to a
        # moment before): a named pipe would otherwise block the load forever.
        try:
            fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_CLOEXEC", 0))
        except OSError as error:
            self.error("unreadable-file", self._why(file, error), file)
            return None
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                self.error("not-a-file", f"`{file}` is a directory, not a file", file)
                return None
            if not stat.S_ISREG(mode):
                self.error("not-a-file", f"`{file}` is not a regular file", file)
                return None
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
        except OSError as error:
            self.error("unreadable-file", self._why(file, error), file)
            return None
        finally:
            os.close(fd)

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
        try:
            with os.scandir(directory) as listing:
                return sorted(listing, key=lambda entry: entry.name)
        except NotADirectoryError:
            self.error("not-a-directory", f"`{directory}` is not a directory", directory)
        except OSError as error:
            self.error("unreadable-directory",
                       f"cannot list `{directory}`: {(error.strerror or str(error)).lower()}",
                       directory)
        return None
