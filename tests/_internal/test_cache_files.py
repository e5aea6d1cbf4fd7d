"""`rune._internal.cache_files`: where the cache is, how its directory and files are
checked before anything in them is read, and how files are replaced whole."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rune._internal.cache_files import default_cache_path, open_cache_directory


def test_where_the_cache_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RUNE_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_path() == tmp_path / "explicit"
    monkeypatch.delenv("RUNE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "rune"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / ".cache" / "rune"


def test_files_are_replaced_whole_and_private(tmp_path: Path) -> None:
    directory = open_cache_directory(tmp_path / "c")
    assert directory is not None
    assert directory.write("entry", b"one") and directory.write("entry", b"two")
    assert directory.read("entry", 100) == b"two"
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["entry"]  # no temporary left
    assert (tmp_path / "c" / "entry").stat().st_mode & 0o777 == 0o600
    assert directory.read("entry", 2) is None  # larger than allowed
    assert directory.read("missing", 100) is None


def test_only_regular_files_of_this_user_are_read(tmp_path: Path) -> None:
    directory = open_cache_directory(tmp_path / "c")
    assert directory is not None
    os.mkfifo(tmp_path / "c" / "pipe", 0o600)
    assert directory.read("pipe", 100) is None  # (and does not block)
    (tmp_path / "target").write_bytes(b"x")
    (tmp_path / "c" / "link").symlink_to(tmp_path / "target")
    assert directory.read("link", 100) is None
    (tmp_path / "c" / "open").write_bytes(b"x")
    (tmp_path / "c" / "open").chmod(0o620)  # group-writable
    assert directory.read("open", 100) is None
    (tmp_path / "c" / "open").chmod(0o644)  # others may read: still only we may write
    assert directory.read("open", 100) == b"x"


def test_an_existing_directory_is_used_only_when_private(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir(mode=0o755)
    (tmp_path / "shared").chmod(0o755)
    assert open_cache_directory(tmp_path / "shared") is None
    assert open_cache_directory(tmp_path / "missing", create=False) is None
    (tmp_path / "shared").chmod(0o700)
    assert open_cache_directory(tmp_path / "shared") is not None
