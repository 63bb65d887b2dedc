"""The version of tfcompress: one place, below every layer that records it."""

__version__ = "0.1.0"
