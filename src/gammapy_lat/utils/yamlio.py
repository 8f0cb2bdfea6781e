"""Reading YAML configuration files safely: text only, ``yaml.safe_load`` only, bounded.

A binary file, a file that is not UTF-8, an unreasonably large file or a document nested so deeply
that the YAML parser would exceed Python's recursion limit is a one-line
`~gammapy_lat.errors.ConfigError` naming the file, never a traceback.
"""
from pathlib import Path

import yaml

from ..errors import ConfigError

__all__ = ["read_yaml_text", "load_yaml", "MAX_CONFIG_BYTES"]

#: Largest configuration file read (bytes).
MAX_CONFIG_BYTES = 16 * 1024**2


def read_yaml_text(path, what="config"):
    """Text of a YAML file, refusing missing, binary, non-UTF-8 and oversized files."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{what} {path} is {size} bytes, too large for a configuration file")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read {what} {path}: {exc.strerror}") from None
    if b"\x00" in data:
        raise ConfigError(f"{what} {path} is a binary file, not YAML text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {exc.start}): not a YAML file") from None


def load_yaml(text, source="config"):
    """``yaml.safe_load`` of ``text``; syntax errors and excessive nesting are `ConfigError`."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source} is not valid YAML: the document is nested too deeply") from None
