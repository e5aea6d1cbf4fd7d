"""A cluster on one real nats-server, nodes in this process: bundles, approvals, history
and global limits reach every node; snapshots; `rune publish`; `rune serve --nats`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rune.cluster import ClusterError, Node, publish
from rune.cluster.bundles import pack, unpack
from tests.cluster.servers import NatsServer

BUNDLE = Path(__file__).parent / "bundle"
ROOT = Path(__file__).parents[2]
SHIP = ('Agent::"a"', 'Action::"ship"', 'R::"r"')
ACT = ('Agent::"a"', 'Action::"act"', 'R::"r"')


@pytest.fixture
def nodes(nats_server: NatsServer, tmp_path: Path) -> Iterator[list[Node]]:
    started: list[Node] = []
    try:
        for i in range(3):
            started.append(Node(BUNDLE, nats=nats_server.url, node_id=f"n{i}",
                                state=tmp_path / f"n{i}.db"))
        yield started
    finally:
        for node in started:
            node.close()


def everywhere(nodes: list[Node], position: int) -> None:
    for node in nodes:
        assert node.wait_for(position, timeout=10), node.node_id


def test_an_approval_on_one_node_allows_on_every_node(nodes: list[Node]) -> None:
    assert {node.engine.authorize(*SHIP).decision for node in nodes} == {"ask"}
    nodes[0].engine.approve(*SHIP, ttl_seconds=600)
    everywhere(nodes, nodes[0].position)
    assert {node.engine.authorize(*SHIP).decision for node in nodes} == {"allow"}


def test_actions_recorded_on_any_node_count_on_every_node(nodes: list[Node]) -> None:
    for node in nodes:
        assert node.engine.authorize(*ACT).decision == "allow"
        node.engine.record(*ACT)  # one on each node: three in all, the rule's limit
    everywhere(nodes, max(node.position for node in nodes))
    assert {node.engine.authorize(*ACT).decision for node in nodes} == {"deny"}
    rows = [node.engine.query("performed(p, a, r, at, seq)") for node in nodes]
    assert len(rows[0]) == 3 and rows[0] == rows[1] == rows[2]


def test_a_published_bundle_reaches_every_node_and_a_bad_one_none(
        nodes: list[Node], nats_server: NatsServer, tmp_path: Path) -> None:
    edited = tmp_path / "edited"
    shutil.copytree(BUNDLE, edited)
    policy = edited / "policies" / "cluster.cedar"
    policy.write_text(policy.read_text().replace('@ask("shipping")\n', ""))
    published = publish(edited, nats=nats_server.url)
    everywhere(nodes, published.position)
    assert {node.bundle_digest for node in nodes} == {published.digest}
    assert {node.engine.authorize(*SHIP).decision for node in nodes} == {"allow"}
    versions = [node.engine.version for node in nodes]

    broken = tmp_path / "broken"
    shutil.copytree(edited, broken)
    (broken / "policies" / "cluster.cedar").write_text("permit(principal, action")
    with pytest.raises(Exception, match="error"):
        publish(broken, nats=nats_server.url)  # checked before it is stored
    bad = publish(broken, nats=nats_server.url, check=False)  # stored anyway: refused
    everywhere(nodes, bad.position)
    assert [node.engine.version for node in nodes] == versions
    assert {node.bundle_digest for node in nodes} == {published.digest}
    assert all(node.bundle_failures == 1 for node in nodes)
    assert {node.engine.authorize(*SHIP).decision for node in nodes} == {"allow"}


def test_a_node_restarts_on_the_published_bundle_and_its_state(
        nats_server: NatsServer, tmp_path: Path) -> None:
    edited = tmp_path / "edited"
    shutil.copytree(BUNDLE, edited)
    policy = edited / "policies" / "cluster.cedar"
    policy.write_text(policy.read_text().replace('@ask("shipping")\n', ""))
    with Node(BUNDLE, nats=nats_server.url, node_id="a", state=tmp_path / "a.db") as node:
        node.engine.record(*ACT)
        published = publish(edited, nats=nats_server.url)
        assert node.wait_for(published.position)
    with Node(BUNDLE, nats=nats_server.url, node_id="a", state=tmp_path / "a.db") as node:
        assert node.bundle_digest == published.digest
        assert node.engine.authorize(*SHIP).decision == "allow"
        assert len(node.engine.query("performed(p, a, r, at, seq)")) == 1


def test_a_node_without_state_starts_from_the_snapshot(nats_server: NatsServer) -> None:
    with Node(BUNDLE, nats=nats_server.url, node_id="a", snapshot_every=5) as first:
        for i in range(12):
            first.engine.record('Agent::"w"', 'Action::"write"', f'R::"{i}"')
        expected = first.engine.query("performed(p, a, r, at, seq)")
        snapshot = first.log.snapshot()
        assert snapshot is not None and snapshot.position == 10
        with Node(BUNDLE, nats=nats_server.url, node_id="b", snapshot_every=1) as second:
            assert second.position == first.position
            assert second.engine.query("performed(p, a, r, at, seq)") == expected


def test_eight_nodes_deciding_at_once_admit_exactly_the_limit(
        nats_server: NatsServer) -> None:
    nodes = [Node(BUNDLE, nats=nats_server.url, node_id=f"l{i}") for i in range(8)]
    try:
        barrier = threading.Barrier(8)
        admitted = [0] * 8

        def decide(i: int) -> None:
            barrier.wait()
            for _ in range(30):  # 240 attempts against a limit of 40
                if nodes[i].engine.authorize('Agent::"c"', 'Action::"call"',
                                             'R::"api"').decision == "allow":
                    admitted[i] += 1

        threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(admitted) == 40
        # Without a round trip per decision: leases serve several decisions each.
        round_trips = sum(node.limits.round_trips for node in nodes if node.limits)
        assert round_trips < 240
    finally:
        for node in nodes:
            node.close()


def test_limits_fail_closed_without_nats(nats_server: NatsServer) -> None:
    with Node(BUNDLE, nats=nats_server.url, node_id="a", lease_seconds=0.05) as node:
        call = ('Agent::"c"', 'Action::"call"', 'R::"api"')
        assert node.engine.authorize(*call).decision == "allow"
        nats_server.stop()
        import time

        time.sleep(0.1)  # the lease expires
        assert node.engine.authorize(*call).decision == "deny"
        assert node.engine.authorize(*SHIP).decision == "ask"  # still deciding
        with pytest.raises(ClusterError) as caught:
            node.engine.record(*ACT)
        assert caught.value.code in ("nats-unavailable", "write-unacknowledged")
        nats_server.start()


def test_archives_refuse_what_pack_does_not_make(tmp_path: Path) -> None:
    import io
    import tarfile

    archive = pack(BUNDLE)
    assert pack(BUNDLE).digest == archive.digest  # the same bundle, the same bytes
    root = unpack(archive.data, tmp_path / "out")
    assert (root / "policies" / "cluster.cedar").is_file()
    for name in ("../evil", "/abs/x", "a/b/c/d"):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        with pytest.raises(ClusterError):
            unpack(raw.getvalue(), tmp_path / "bad")
    with pytest.raises(ClusterError):
        unpack(b"not an archive", tmp_path / "bad")


def test_rune_publish_command(nats_server: NatsServer, tmp_path: Path) -> None:
    rune = [sys.executable, "-m", "rune.cli.main"]
    done = subprocess.run([*rune, "publish", str(BUNDLE), "--nats", nats_server.url,
                           "--format", "json"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert '"position": 1' in done.stdout
    broken = tmp_path / "broken"
    shutil.copytree(BUNDLE, broken)
    (broken / "policies" / "cluster.cedar").write_text("permit(")
    done = subprocess.run([*rune, "publish", str(broken), "--nats", nats_server.url],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 3
    assert "was not published" in done.stderr


def test_serve_joins_the_cluster(nats_server: NatsServer, tmp_path: Path) -> None:
    from rune.server import create_app
    from rune.server.errors import ServerError

    with pytest.raises(ServerError):
        create_app(BUNDLE, nats=(nats_server.url,))  # a node needs an id
    app = create_app(BUNDLE, nats=(nats_server.url,), node_id="s1",
                     state=tmp_path / "s1.db")
    try:
        assert app.node is not None and app.engine is app.node.engine
        assert not app.config.watch  # bundles come from `rune publish`
        with Node(BUNDLE, nats=nats_server.url, node_id="other") as other:
            other.engine.approve(*SHIP)
            assert app.node.wait_for(other.position)
            assert app.engine.authorize(*SHIP).decision == "allow"
    finally:
        app.stop()


def test_import_rune_does_not_import_nats() -> None:
    done = subprocess.run([sys.executable, "-c", "import rune, sys; rune.Engine.load("
                           f"{str(BUNDLE)!r}); print('nats' in sys.modules)"],
                          capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_a_state_ahead_of_the_stream_is_refused(tmp_path: Path) -> None:
    first = NatsServer(tmp_path / "first").start()
    try:
        with Node(BUNDLE, nats=first.url, node_id="a", state=tmp_path / "a.db") as node:
            node.engine.record(*ACT)
    finally:
        first.stop()
    second = NatsServer(tmp_path / "second").start()  # a new, empty stream
    try:
        with pytest.raises(ClusterError) as caught:
            Node(BUNDLE, nats=second.url, node_id="a", state=tmp_path / "a.db")
        assert caught.value.code == "state-ahead-of-stream"
    finally:
        second.stop()


def test_a_published_version_takes_what_did_not_change_from_the_running_one(
        nats_server: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rune.engine import Engine

    prepared: list[int] = []
    real = Engine.prepare_writes

    def noting(engine: Engine) -> None:
        prepared.append(engine.version)
        real(engine)

    monkeypatch.setattr(Engine, "prepare_writes", noting)
    edited = tmp_path / "edited"
    shutil.copytree(BUNDLE, edited)
    policy = edited / "policies" / "cluster.cedar"
    with Node(BUNDLE, nats=nats_server.url, node_id="a") as node:
        assert prepared == [node.engine.version]  # once started
        first = publish(edited, nats=nats_server.url)
        assert node.wait_for(first.position)
        running = node.engine.snapshot
        # Another version: one policy changed. The files land where the running
        # version's were, so its rule program and (same data) its rules' result stay.
        policy.write_text(policy.read_text().replace('@ask("shipping")\n', ""))
        second = publish(edited, nats=nats_server.url)
        assert node.wait_for(second.position)
        swapped = node.engine.snapshot
        assert swapped.rules is running.rules and swapped.result is running.result
        assert node.engine.authorize(*SHIP).decision == "allow"
        deadline = time.monotonic() + 5
        while prepared[-1] != swapped.version and time.monotonic() < deadline:
            time.sleep(0.01)  # prepared when the node is idle
        assert prepared[-1] == swapped.version
        # A refused version leaves the running version's files in place.
        (edited / "rules" / "limits.dl").write_text("config(x) :- nowhere(x).\n")
        bad = publish(edited, nats=nats_server.url, check=False)
        assert node.wait_for(bad.position)
        assert node.bundle_failures == 1 and node.bundle_digest == second.digest
        assert node.engine.reload() == swapped.version + 1  # its own files, reloaded
        assert node.engine.snapshot.rules is running.rules
        assert node.engine.authorize(*SHIP).decision == "allow"
