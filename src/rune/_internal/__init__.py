"""Helpers shared by several of RUNE's packages; nothing here is public API."""
