"""Integrations of RUNE with agent frameworks and protocols, one subpackage or module each,
each behind its own extra (`pip install 'rune[mcp]'`, ...); importing this package
imports none of them."""
