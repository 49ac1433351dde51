"""Errors that reach users as one clear line (the CLI prints ``str(err)`` and exits non-zero)."""

from __future__ import annotations


class StreamsimError(Exception):
    """Base class: anything a user can cause and fix."""


class DataError(StreamsimError):
    """Bad input data, located as precisely as we can: file, line, column."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 column: str | None = None) -> None:
        self.message, self.file, self.line, self.column = message, file, line, column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.column is not None:
            where += f": column '{self.column}'"
        return f"{where}: {self.message}" if where else self.message
