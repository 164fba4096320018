"""The simulator's error classes, in one place.

Every failure a user can cause is an :class:`InputError`: its ``lines()`` are what the
command line prints (one line per problem, each naming the file and the field or
flag) before exiting with status 2; the Python API raises the same classes.  Failures
of the environment (a full or read-only disk) stay ``OSError`` and exit with status 1.
This module imports nothing, so every layer may raise these.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input: a scenario, trace, sweep, flag, output path or results folder."""

    def lines(self) -> list[str]:
        return [str(self)]


class ScenarioError(InputError):
    """Bad scenario or sweep input.  ``problems`` holds one printable line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))

    def lines(self) -> list[str]:
        return list(self.problems)


class FieldError(InputError):
    """A problem of one field: ``str()`` is ``FIELD: message``; the caller adds the file."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


class BuildError(FieldError):
    """A scenario that validates but cannot be built (a missing route, a trace that does
    not fit it); ``field`` names the scenario field."""


class LimitError(FieldError):
    """A scenario beyond what this machine (or the simulator's bounds) can run."""


class TraceError(InputError):
    """A trace that cannot be used; ``str()`` is one line naming file and field."""

    def __init__(self, path, field: str, message: str):
        self.path, self.field, self.message = str(path), field, message
        super().__init__(f"{path}: {field}: {message}")


class ResultsError(InputError):
    """Not a results folder, or a figure it cannot make; one line naming the file."""


class DataError(InputError):
    """A data set that cannot be read (``sim profile``); one line naming the path."""
