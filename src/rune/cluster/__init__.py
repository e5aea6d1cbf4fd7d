"""Many RUNE nodes sharing policies and state through NATS JetStream.

Needs the `nats` extra (``pip install 'rune[nats]'``); the core never imports this
package. The pieces, one module each:

* `log`: the replicated change log, a JetStream stream (`JetStreamLog`), with snapshots;
* `bundles`: bundle versions as archives in the stream (`publish`, what `rune publish`
  runs);
* `leases`: global rate limits and budgets leased from a JetStream KV (`LeasedLimits`);
* `node`: a node (`Node`): an engine that follows the stream, applies writes and bundle
  versions in stream order, and writes through it.

See docs/deployment.md for what each guarantees.
"""

from __future__ import annotations

from rune.cluster.bundles import Published, publish
from rune.cluster.errors import ClusterError
from rune.cluster.leases import LeasedLimits
from rune.cluster.log import JetStreamLog
from rune.cluster.node import Node

__all__ = ["ClusterError", "JetStreamLog", "LeasedLimits", "Node", "Published", "publish"]
