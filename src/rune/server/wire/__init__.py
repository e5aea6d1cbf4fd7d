"""Wire formats of the HTTP API, versioned and kept apart from the engine's types.

* `authzen_v1`: the OpenID AuthZEN Authorization API 1.0 (evaluation, evaluations,
  search, metadata) with the obligations and access-request-approval profiles.
* `rune_v1`: RUNE's own API under `/v1` (whole decisions, queries, admin).

Each module parses request bodies (decoded JSON) into frozen wire types, refusing
anything malformed with a `ServerError` that names the JSON path, and builds response
bodies from plain values. The server translates between these types and the engine; a
wire type never reaches the engine, and an engine type never reaches the wire.
"""

from __future__ import annotations

__all__: list[str] = []
