"""TinyStories from a local copy the user downloaded; Esper never downloads it.

TinyStories (Eldan & Li, 2023) is a corpus of short, simple stories written by language
models, small enough that a tiny transformer learns fluent English from it. It is read
byte-level, so nothing beyond the two text files is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from esper_shell.data.errors import DataError
from esper_shell.data.records import TextData
from esper_shell.data.text import BYTE_VOCAB

TRAIN_FILE = "TinyStories-train.txt"
VALID_FILE = "TinyStories-valid.txt"
TINYSTORIES_MISSING_ERROR = """\
TinyStories is missing from {data_dir}: no {missing}.
Esper never downloads data sets. Download TinyStories-train.txt and TinyStories-valid.txt
from the roneneldan/TinyStories data set on the Hugging Face Hub and put both files directly
in the folder you pass as --data-dir:
  {data_dir}/{train_file}
  {data_dir}/{valid_file}"""
TINYSTORIES_EMPTY_ERROR = "{path} is empty; replace it with the file from the TinyStories release."
MAX_BYTES_ERROR = "max_bytes={max_bytes} must be a positive number of bytes, or None to read whole files."


def _read_bytes(path: Path, max_bytes: int | None) -> torch.Tensor:
    """The first ``max_bytes`` bytes of ``path`` (all when None) as uint8 tokens, read once."""
    tokens = np.fromfile(path, dtype=np.uint8, count=-1 if max_bytes is None else max_bytes)
    if tokens.size == 0:
        raise DataError(TINYSTORIES_EMPTY_ERROR.format(path=path))
    return torch.from_numpy(tokens)


def load_tinystories(data_dir: Path | str, *, max_bytes: int | None = None) -> TextData:
    """Byte-level train and validation streams from the two official text files.

    ``max_bytes`` caps how much of *each* file is read (the train file is about 1.9 GB);
    the prefix is taken, so a capped corpus is the same for every run.
    """
    if max_bytes is not None and max_bytes < 1:
        raise DataError(MAX_BYTES_ERROR.format(max_bytes=max_bytes))
    folder = Path(data_dir)
    missing = [name for name in (TRAIN_FILE, VALID_FILE) if not (folder / name).is_file()]
    if missing:
        raise DataError(
            TINYSTORIES_MISSING_ERROR.format(
                data_dir=folder, missing=" or ".join(missing), train_file=TRAIN_FILE, valid_file=VALID_FILE
            )
        )
    return TextData(
        train_tokens=_read_bytes(folder / TRAIN_FILE, max_bytes),
        val_tokens=_read_bytes(folder / VALID_FILE, max_bytes),
        vocab_size=BYTE_VOCAB,
    )
