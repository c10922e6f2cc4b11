"""The package version (a leaf, so that any module can read it without importing the face)."""

__version__ = "0.2.0"
