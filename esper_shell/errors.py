"""Errors the shell raises for bad input, and the one place a core ``Result`` becomes a raise.

Policy (docs/architecture.md): a core ``Failure`` that the shell does not branch on is
raised through ``unwrap``; every user error is an ``EsperError`` carrying the offending
value; bugs are never ``EsperError``s, so they keep their traceback.
"""

from __future__ import annotations

from typing import TypeVar

from returns.result import Failure, Result

from esper_core import EsperError

T = TypeVar("T")


class UnknownSlotError(EsperError):
    """A slot id is canonical but the host (or the model) has no such slot."""


class CheckpointError(EsperError):
    """A checkpoint file is unreadable, unsafe, or does not match the model it is loaded into."""


class HostError(EsperError):
    """An object given as a host does not implement the host protocol (docs/hosts.md)."""


class DivergenceError(EsperError):
    """Training diverged again after every rollback the governor allows; the run stopped."""


def unwrap(result: Result[T, EsperError], as_type: type[EsperError] | None = None, *, prefix: str = "") -> T:
    """The value of a ``Success``; else the ``Failure``'s error, raised as it is or as ``as_type``.

    ``as_type`` (with ``prefix`` before the message) tells the user where the failure
    happened, e.g. which checkpoint held the bad record.
    """
    if isinstance(result, Failure):
        error = result.failure()
        if as_type is None:
            raise error
        raise as_type(f"{prefix}{error}", value=error.value) from error
    return result.unwrap()
