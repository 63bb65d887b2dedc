"""Whole jobs behind the CLI commands: flag-free, testable functions."""
