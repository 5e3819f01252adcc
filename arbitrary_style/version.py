"""The package version (read by the build, `--version` and the exports' metadata)."""

__version__ = "0.1.0"
