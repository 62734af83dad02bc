"""Fixtures of the records tests (defined in _support.py, which some test modules also import directly)."""

from ._support import principal, rdb  # noqa: F401
