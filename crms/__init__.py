"""CRMS: Criminal Record Management System with a built-in AFIS."""

__version__ = "0.1.0"
