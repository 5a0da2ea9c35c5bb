"""Errors of the RL shell that signal bugs: not ``EsperError``s, so they keep their traceback."""

from __future__ import annotations


class PolicyInputError(ValueError):
    """The policy was handed inputs that cannot come from one consistent observation (a bug upstream)."""
