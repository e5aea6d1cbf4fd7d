"""A real `rune serve` of the claude-code example, shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import ADMIN_TOKEN, API_TOKEN, EXAMPLES, Server, copy_bundle

CLAUDE_CODE = EXAMPLES / "claude-code"


@pytest.fixture(scope="package")
def hook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root: Path = copy_bundle(CLAUDE_CODE, tmp_path_factory.mktemp("serve") / "bundle")
    server = Server(root, "--no-watch", env={"RUNE_API_TOKEN": API_TOKEN,
                                             "RUNE_ADMIN_TOKEN": ADMIN_TOKEN})
    yield server
    server.stop()
