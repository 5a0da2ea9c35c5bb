"""Errors of the RL shell. All are ValueErrors (through ``EsperError``) that say what to do."""

from __future__ import annotations

from esper_core import EsperError


class PolicyInputError(EsperError):
    """The policy was handed inputs that cannot come from one consistent observation (a bug upstream)."""


class EnvStateError(EsperError):
    """The envs were driven out of order (a step without an episode running): a bug in the caller."""
