"""Fuzz targets for RUNE's entry points (see fuzz/README.md); run with `make fuzz`."""
