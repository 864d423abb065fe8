"""Errors a user can act on: what was wrong, where, and what to do."""

from __future__ import annotations


class CogpinError(Exception):
    """An error shown to the user as ``error: <message>`` plus an optional hint; exit status 1."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"
