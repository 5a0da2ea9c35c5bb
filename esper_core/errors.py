"""Expected failures of the core, as values.

Core functions return them inside ``returns.result.Failure``; the shell raises them. They
subclass ``ValueError`` so a caller that does not care about the kind can catch one thing.
"""

from __future__ import annotations


class EsperError(ValueError):
    """Base of every expected failure Esper reports."""


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
        super().__init__(message)
        self.result = result
