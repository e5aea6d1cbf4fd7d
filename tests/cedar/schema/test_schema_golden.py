"""Golden error messages for invalid human-readable schemas (`golden/*.cedarschema`).

Each `X.cedarschema` has the rendered `SchemaError` in `X.expected`: every error, in
source order, with `file:line:col`, its code and a caret snippet. Run with
`RUNE_UPDATE_GOLDEN=1` to rewrite the expected files after an intended change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rune.cedar.errors import SchemaError
from rune.cedar.schema import Schema

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(GOLDEN.glob("*.cedarschema"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_error(path: Path) -> None:
    with pytest.raises(SchemaError) as info:
        Schema.from_str(path.read_text(), file=path.name)
    rendered = str(info.value) + "\n"
    expected = path.with_suffix(".expected")
    if os.environ.get("RUNE_UPDATE_GOLDEN"):
        expected.write_text(rendered)
    assert rendered == expected.read_text()


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 4
