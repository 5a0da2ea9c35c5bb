"""Deterministic stratified train/validation split for data sets that ship as one pool."""

from __future__ import annotations

import numpy as np

from esper_shell.data.errors import DataError

VAL_FRACTION_ERROR = "val_fraction={val_fraction} must lie strictly between 0 and 1."
CLASS_TOO_SMALL_ERROR = (
    "class {label} has only {members} example(s); a stratified split needs at least 2 per class "
    "so that both splits hold it."
)


def check_val_fraction(val_fraction: float) -> None:
    """Reject fractions that would leave one split empty."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(VAL_FRACTION_ERROR.format(val_fraction=val_fraction))


def stratified_split(labels: np.ndarray, *, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and val indices holding every class in (close to) its overall proportion.

    Stratifying keeps small-data accuracy comparable across seeds: a random split of 1797
    digits can otherwise starve validation of a class. Each class sends
    ``round(val_fraction * members)`` examples to validation, clamped so both splits keep
    at least one. Only a local generator seeded by ``seed`` is used.
    """
    check_val_fraction(val_fraction)
    rng = np.random.default_rng(seed)
    val_parts = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if members.size < 2:
            raise DataError(CLASS_TOO_SMALL_ERROR.format(label=label, members=members.size))
        n_val = min(max(round(val_fraction * members.size), 1), members.size - 1)
        val_parts.append(rng.permutation(members)[:n_val])
    val_idx = np.sort(np.concatenate(val_parts))
    train_idx = np.setdiff1d(np.arange(labels.size), val_idx)
    return train_idx, val_idx
