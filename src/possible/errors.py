"""The exceptions raised by `possible`.

All of them derive from :class:`PossibleError`, so a caller can catch one type::

    PossibleError
    ├── InputError              bad data in a pool or a file
    │   ├── FormatError         a file that is no known format, or malformed for its format
    │   └── ValidationError     a record that breaks a rule (unknown id, duplicate, negative score)
    │       └── ValidationErrors    several such records, reported together
    ├── PolicyError             an impossible policy (negative caps, unknown objective)
    └── SolverError             the solver backend failed or is not installed

The command line turns each of them into a one-line message and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "FormatError",
    "InputError",
    "PolicyError",
    "PossibleError",
    "SolverError",
    "ValidationError",
    "ValidationErrors",
]


class PossibleError(Exception):
    """Base class of every error raised on purpose by `possible`."""

    def lines(self) -> list[str]:
        """One line per problem (a single one, unless the error gathers several)."""
        return [str(self)]


class InputError(PossibleError):
    """Bad input data.

    Parameters
    ----------
    message
        What is wrong, in one line.
    source
        The file (or other origin) of the data, if known.
    record
        The id of the offending record, if known.
    field
        The offending field of that record, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        record: str | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.record = record
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.record is not None:
            where.append(f"record {self.record!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

    def with_source(self, source: str) -> InputError:
        """Return a copy of this error that names `source` as the origin of the data."""
        return type(self)(self.message, source=source, record=self.record, field=self.field)


class FormatError(InputError):
    """A file that is no known format, or is malformed for its format."""


class ValidationError(InputError):
    """A record that breaks a rule of the domain."""


class ValidationErrors(ValidationError):  # noqa: N818 - the plural of ValidationError
    """Several records that break rules, found in one pass and reported together.

    Raised when a whole file or pool is checked, so that every problem can be fixed at once
    (and nothing is imported until all are).

    Parameters
    ----------
    errors
        The individual problems, in the order found (at least one).
    source
        The file, if known.
    """

    def __init__(self, errors: list[InputError], *, source: str | None = None) -> None:
        self.errors = tuple(e.with_source(source) if source else e for e in errors)
        first = self.errors[0]
        more = len(self.errors) - 1
        message = first.message + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")
        super().__init__(message, source=first.source, record=first.record, field=first.field)

    def lines(self) -> list[str]:
        """One line per problem."""
        return [str(e) for e in self.errors]

    def with_source(self, source: str) -> ValidationErrors:
        """Return a copy of these errors that names `source` as the origin of the data."""
        return ValidationErrors(list(self.errors), source=source)


class PolicyError(PossibleError):
    """A policy that cannot be applied (negative caps, unknown objective, ...).

    Parameters
    ----------
    message
        What is wrong, in one line.
    more
        Further problems found in the same pass (a points table with several bad lines), so
        that all can be fixed at once.
    """

    def __init__(self, message: str, *more: str) -> None:
        self.problems = (message, *more)
        n = len(more)
        super().__init__(message + (f" (and {n} more problem{'s' * (n > 1)})" if n else ""))

    def lines(self) -> list[str]:
        """One line per problem."""
        return list(self.problems)


class SolverError(PossibleError):
    """The solver backend failed, or is not installed."""
