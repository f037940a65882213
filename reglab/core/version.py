"""reglab's version, in a module of its own so that any layer can record it
without importing the whole package."""

__all__ = ["__version__"]

__version__ = "0.1.0"
