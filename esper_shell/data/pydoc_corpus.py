"""The prose bundled with CPython's ``pydoc_data``: a small text corpus on every install.

``pydoc_data.topics.topics`` maps help topics ("assert", "bltin-code-objects", ...) to the
reference-manual text ``help()`` prints. Its size differs between Python versions
(about 465 KB on 3.11, 510 KB on 3.13), so results are comparable only on one version.
"""

from __future__ import annotations

import importlib

from esper_shell.data.errors import DataError
from esper_shell.data.records import TextData
from esper_shell.data.text import BYTE_VOCAB, bytes_to_tokens, split_tail

TOPICS_MODULE = "pydoc_data.topics"
TOPIC_SEPARATOR = "\n\n"
PYDOC_MISSING_ERROR = (
    "the pydoc task needs the help texts of Python's standard-library module {module}, "
    "which this interpreter lacks ({reason}). Minimal or embedded Python builds sometimes strip "
    "it: use an interpreter with the full standard library, or pick another task "
    "(digits, synthetic, or tinystories with --data-dir)."
)
PYDOC_EMPTY_ERROR = "{module}.topics holds no text; this Python's pydoc_data is incomplete."


def _topics() -> dict[str, str]:
    try:
        module = importlib.import_module(TOPICS_MODULE)
    except ImportError as error:
        raise DataError(PYDOC_MISSING_ERROR.format(module=TOPICS_MODULE, reason=error)) from error
    topics = getattr(module, "topics", None)
    if not isinstance(topics, dict):
        raise DataError(PYDOC_MISSING_ERROR.format(module=TOPICS_MODULE, reason="it has no 'topics' dict"))
    return topics


def load_pydoc(*, val_fraction: float = 0.1) -> TextData:
    """The topics' texts joined in sorted key order, as UTF-8 bytes, with the tail as validation.

    Sorting the keys makes the corpus independent of dict order across Python builds.
    """
    topics = _topics()
    corpus = TOPIC_SEPARATOR.join(topics[key] for key in sorted(topics)).encode("utf-8")
    if not corpus:
        raise DataError(PYDOC_EMPTY_ERROR.format(module=TOPICS_MODULE))
    train, val = split_tail(bytes_to_tokens(corpus), val_fraction=val_fraction)
    return TextData(train_tokens=train, val_tokens=val, vocab_size=BYTE_VOCAB)
