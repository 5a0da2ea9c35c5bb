"""The errors Esper reports to its users, and the policy that decides how they travel.

Policy (docs/architecture.md): a core function returns a ``returns`` ``Result`` only where
its caller branches on the outcome (legality, gates, lifecycle moves, deserialization);
everywhere else bad input raises one of these at once. Each carries the offending value as
``error.value``. They all subclass ``EsperError`` (a ``ValueError``), which the CLI turns
into one line and exit code 2. A programming bug is never an ``EsperError``: it keeps its
traceback.
"""

from __future__ import annotations


class EsperError(ValueError):
    """Base of every expected failure Esper reports; ``value`` is what was refused (if any)."""

    def __init__(self, message: str, *, value: object = None) -> None:
        super().__init__(message)
        self.value = value


class SlotIdError(EsperError):
    """A slot id is not a canonical ``r{row}c{col}`` coordinate."""


class LifecycleError(EsperError):
    """A lifecycle move was refused: illegal transition or failed gate."""


class ConfigError(EsperError):
    """A configuration value is out of range or inconsistent."""


class ActionError(EsperError):
    """A controller action does not fit the slot configuration or the registry."""


class SchemaError(EsperError):
    """Serialized data (a checkpoint) does not match the schema this version reads."""


class IllegalTransitionError(LifecycleError):
    """The stage table has no edge from the seed's stage to the requested one."""


class GateFailedError(LifecycleError):
    """The gate guarding the requested stage did not pass; ``result`` says which checks failed."""

    def __init__(self, message: str, result: object) -> None:
        super().__init__(message, value=result)
        self.result = result
