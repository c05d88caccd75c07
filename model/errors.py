"""Exceptions the engine raises on purpose, so front ends can show a message instead of a traceback."""


class InpaintError(ValueError):
    """Bad input a person can fix (wrong mask size, all-hole mask, unreadable file...)."""


class Cancelled(Exception):
    """Raised between steps when the caller's cancel callback returns True."""
