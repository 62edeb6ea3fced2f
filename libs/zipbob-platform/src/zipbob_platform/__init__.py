"""Shared platform code for ZipBob services: one small module per concern.

See docs/architecture.md for the map.
"""

__version__ = "0.1.0"
