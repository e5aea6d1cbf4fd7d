from __future__ import annotations

import time
from pathlib import Path

from rune.cluster import Node, publish
from tests.cluster.servers import NatsServer

EXAMPLE = Path(__file__).parents[2] / "examples" / "coding-agent"


def test_smoke(nats_server: NatsServer, tmp_path: Path) -> None:
    a = Node(EXAMPLE, nats=nats_server.url, node_id="a", state=tmp_path / "a.db")
    b = Node(EXAMPLE, nats=nats_server.url, node_id="b", state=tmp_path / "b.db")
    req = ('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "prod"})
    assert b.engine.authorize(*req).decision == "ask"
    t = time.perf_counter()
    a.engine.approve(*req[:3], ttl_seconds=600)
    print("write", time.perf_counter() - t)
    assert b.wait_for(a.position, 5)
    assert b.engine.authorize(*req).decision == "allow"
    p = publish(EXAMPLE, nats=nats_server.url)
    assert a.wait_for(p.position, 5) and b.wait_for(p.position, 5)
    assert a.bundle_digest == p.digest
    a.close(); b.close()
