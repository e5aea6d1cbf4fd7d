"""Bundle versions as archives: what `rune publish` stores in the stream and nodes unpack.

An archive is a gzipped tar of the files a bundle loads (`rune.toml`, the schema, and
the files directly under `policies/`, `rules/`, `entities/` and `facts/`; a single-file
bundle is its one `.rune` file), under one top directory named after the bundle, with
fixed owners and times: the same bundle always gives the same bytes, and its SHA-256
digest names the version. Unpacking refuses anything but regular files and directories
inside the target, and more than `MAX_UNPACKED_BYTES` in all.

`publish` checks a bundle, packs it and appends it to the cluster's stream: every node
applies it at that position (see `rune.cluster.node`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rune.cluster.errors import ClusterError

__all__ = ["MAX_UNPACKED_BYTES", "Archive", "Published", "pack", "publish", "unpack"]

MAX_UNPACKED_BYTES = 64 << 20
_TOP_FILES = ("rune.toml", "schema.cedarschema", "schema.json")
_DIRECTORIES = ("policies", "rules", "entities", "facts")


class Archive:
    """A packed bundle: its bytes, digest, name and the path to load once unpacked."""

    __slots__ = ("data", "digest", "entry", "name")

    def __init__(self, data: bytes, name: str, entry: str) -> None:
        self.data = data
        self.digest = hashlib.sha256(data).hexdigest()
        self.name = name
        self.entry = entry  # relative to the unpacked root: the bundle to load


def pack(path: str | Path) -> Archive:
    """Pack the bundle at ``path`` (a directory or a `.rune` file).

    Raises:
        ClusterError: (`bundle-not-found`) ``path`` is neither.
    """
    root = Path(path).resolve()
    if root.is_file() and root.suffix == ".rune":
        files = [(root, f"{root.stem}/{root.name}")]
        name, entry = root.stem, f"{root.stem}/{root.name}"
    elif root.is_dir():
        name = entry = root.name
        files = [(root / top, f"{name}/{top}") for top in _TOP_FILES if (root / top).is_file()]
        for directory in _DIRECTORIES:
            folder = root / directory
            if folder.is_dir():
                files += [(file, f"{name}/{directory}/{file.name}")
                          for file in sorted(folder.iterdir())
                          if file.is_file() and not file.name.startswith(".")]
    else:
        raise ClusterError(f"bundle `{path}` is not a directory or a `.rune` file",
                           code="bundle-not-found")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for source, arcname in sorted(files, key=lambda pair: pair[1]):
            data = source.read_bytes()
            info = tarfile.TarInfo(arcname)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    # mtime=0: the archive of a bundle does not depend on when it was packed.
    return Archive(gzip.compress(raw.getvalue(), mtime=0), name, entry)


def unpack(data: bytes, target: Path) -> Path:
    """Unpack an archive into ``target`` (created); return the bundle path to load.

    Raises:
        ClusterError: (`bundle-archive-invalid`) not an archive `pack` makes: a link, a
            device, a path leaving ``target``, several bundles, or too many bytes.
    """
    try:
        raw = _gunzip(data)
        tar = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")  # noqa: SIM115
    except (OSError, EOFError, tarfile.TarError, ValueError) as exc:
        raise _invalid(f"not a bundle archive ({exc})") from None
    tops: set[str] = set()
    singles: list[str] = []
    with tar:
        members = tar.getmembers()
        for member in members:
            parts = Path(member.name).parts
            if not member.isfile() or not parts or len(parts) > 3 \
                    or any(p in ("", ".", "..") or p.startswith("/") for p in parts) \
                    or Path(member.name).is_absolute():
                raise _invalid(f"unexpected member `{member.name}`")
            tops.add(parts[0])
            if len(parts) == 2 and parts[1].endswith(".rune"):
                singles.append(member.name)
        if len(tops) != 1:
            raise _invalid("it must hold exactly one bundle directory")
        target.mkdir(parents=True, exist_ok=True)
        for member in members:
            destination = target / member.name
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            destination.write_bytes(source.read())
    (top,) = tops
    return target / (singles[0] if len(singles) == 1 else top)


def _gunzip(data: bytes) -> bytes:
    """Decompress at most `MAX_UNPACKED_BYTES` (a small archive may inflate a lot)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as source:
        while chunk := source.read(1 << 16):
            out.write(chunk)
            if out.tell() > MAX_UNPACKED_BYTES:
                raise ValueError(f"more than {MAX_UNPACKED_BYTES} bytes unpacked")
    return out.getvalue()


def _invalid(why: str) -> ClusterError:
    return ClusterError(f"the bundle archive is invalid: {why}", code="bundle-archive-invalid")


@dataclass(frozen=True, slots=True)
class Published:
    """A bundle version stored in a cluster's stream."""

    position: int
    digest: str
    name: str
    size: int


def publish(path: str | Path, *, nats: str | Sequence[str], cluster: str = "rune",
            replicas: int = 1, check: bool = True, timeout: float = 10.0) -> Published:
    """Store the bundle at ``path`` as the next version of ``cluster``'s bundle.

    Args:
        path: a bundle directory or `.rune` file.
        nats: ``nats://host:port`` URL(s).
        cluster: the cluster's name.
        replicas: the stream's replicas if this call creates it.
        check: load the bundle first and refuse to publish one with errors (nodes
            refuse such a bundle anyway; this says so before it is stored).
        timeout: how long to wait for JetStream's acknowledgement, in seconds.

    Raises:
        RuneError: the bundle has errors (`BundleError`, every one), or it could not be
            stored (`ClusterError`).
    """
    if check:
        from rune.bundle import load_bundle

        load_bundle(path)
    archive = pack(path)
    from rune.cluster.connection import Connection
    from rune.cluster.log import JetStreamLog

    connection = Connection(nats, name="rune-publish", timeout=timeout)
    try:
        log = JetStreamLog(connection, cluster=cluster, replicas=replicas,
                           node_id="rune-publish", timeout=timeout)
        log.ensure()
        position = log.publish_bundle(archive.data, archive.digest)
    finally:
        connection.close()
    return Published(position, archive.digest, archive.name, len(archive.data))
