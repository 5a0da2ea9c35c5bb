"""The one failure the data layer raises."""

from __future__ import annotations

from esper_core.errors import EsperError


class DataError(EsperError):
    """A data set is missing, malformed, or was asked for with impossible arguments.

    It subclasses ``EsperError`` (a ``ValueError``) so the CLI reports it like every other
    expected failure, with its message telling the user what to fetch or change.
    """
