"""The simulator's version (one place: the package, provenance and `sim --version` read it)."""

__version__ = "0.1.0"
