"""High-level analysis runner driven by YAML configuration files."""
