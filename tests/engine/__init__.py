"""Tests of the unified engine (`rune.engine`)."""
