"""Shared utilities: atomic file output, output checks, resource guards, reference-data location."""
from .io import atomic_output, check_output_dir, check_output_path, folder_lock, write_fits_atomic

__all__ = ["atomic_output", "write_fits_atomic", "check_output_path", "check_output_dir", "folder_lock"]
