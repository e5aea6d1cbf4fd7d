"""The Cedar integration-test corpus: decision, reasons, errors and validation verdicts.

`make test` runs a fixed sample (every hand-written test and every 7th generated one,
over 1,100 files); `make conformance` runs all 7,831 files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.cedar_corpus import all_tests, run_test_file, sample_tests

_SAMPLE = sample_tests()
_SAMPLE_NAMES = {p.name for p in _SAMPLE}


def _id(path: Path) -> str:
    return path.stem if "corpus-tests" in str(path) else f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("path", _SAMPLE, ids=_id)
def test_corpus_sample(path: Path) -> None:
    failures = run_test_file(path)
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in all_tests() if p.name not in _SAMPLE_NAMES], ids=_id)
def test_corpus_rest(path: Path) -> None:
    failures = run_test_file(path)
    assert not failures, "\n".join(failures)


def test_sample_is_large_enough() -> None:
    assert len(_SAMPLE) >= 1000


@pytest.mark.parametrize("path", _SAMPLE, ids=_id)
def test_corpus_sample_fused(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same cases through the scope index and fused candidate plans, which small
    # policy sets and one-off plans otherwise skip (see `rune.cedar.index`).
    from rune.cedar import index

    monkeypatch.setattr(index, "INDEX_THRESHOLD", 0)
    monkeypatch.setattr(index, "FUSE_AT_FIRST_USE", True)
    failures = run_test_file(path)
    assert not failures, "\n".join(failures)
