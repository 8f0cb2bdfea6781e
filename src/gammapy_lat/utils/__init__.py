"""Shared utilities: atomic file output, reference-data location for tests and benchmarks."""
from .io import atomic_output, write_fits_atomic

__all__ = ["atomic_output", "write_fits_atomic"]
