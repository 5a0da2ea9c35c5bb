"""The in-memory data sets the training engine consumes.

Every task fits in memory, so a data set is just tensors plus the few numbers a model
builder needs (classes, channels, image size, vocabulary). Shapes are checked once here,
so the engine and the models never meet a half-consistent data set.
"""

from __future__ import annotations

import attrs
import torch
from torch import Tensor

from esper_shell.data.errors import DataError

IMAGES_SHAPE_ERROR = (
    "{name} has shape {shape}; expected float32 images of shape "
    "(N, {in_channels}, {image_size}, {image_size}) to match in_channels and image_size."
)
LABELS_SHAPE_ERROR = (
    "{name} has shape {shape} and dtype {dtype}; expected int64 labels of shape ({count},), one per image."
)
LABEL_RANGE_ERROR = (
    "{name} holds labels in [{low}, {high}], outside [0, {num_classes}); num_classes must cover every label."
)
SIGNALS_SHAPE_ERROR = (
    "{name} has shape {shape}; expected float32 signals of shape (N, {in_channels}, {length}) "
    "to match in_channels and length."
)
EMPTY_SPLIT_ERROR = "{name} is empty; both splits need at least one example."
TOKENS_SHAPE_ERROR = (
    "{name} has shape {shape} and dtype {dtype}; expected a non-empty 1-D uint8 or int64 tensor of token ids."
)
TOKEN_RANGE_ERROR = "{name} holds token id {high}, outside [0, {vocab_size}); vocab_size must cover every token."
TOKEN_DTYPES = (torch.uint8, torch.int64)


def _check_images(name: str, images: Tensor, in_channels: int, image_size: int) -> None:
    expected = (in_channels, image_size, image_size)
    if images.dtype != torch.float32 or images.dim() != 4 or tuple(images.shape[1:]) != expected:
        raise DataError(
            IMAGES_SHAPE_ERROR.format(
                name=name, shape=tuple(images.shape), in_channels=in_channels, image_size=image_size
            )
        )
    if images.shape[0] == 0:
        raise DataError(EMPTY_SPLIT_ERROR.format(name=name))


def _check_signals(name: str, signals: Tensor, in_channels: int, length: int) -> None:
    if signals.dtype != torch.float32 or signals.dim() != 3 or tuple(signals.shape[1:]) != (in_channels, length):
        raise DataError(
            SIGNALS_SHAPE_ERROR.format(name=name, shape=tuple(signals.shape), in_channels=in_channels, length=length)
        )
    if signals.shape[0] == 0:
        raise DataError(EMPTY_SPLIT_ERROR.format(name=name))


def _check_labels(name: str, labels: Tensor, count: int, num_classes: int) -> None:
    if labels.dtype != torch.int64 or tuple(labels.shape) != (count,):
        raise DataError(
            LABELS_SHAPE_ERROR.format(name=name, shape=tuple(labels.shape), dtype=labels.dtype, count=count)
        )
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise DataError(LABEL_RANGE_ERROR.format(name=name, low=low, high=high, num_classes=num_classes))


def _check_tokens(name: str, tokens: Tensor, vocab_size: int) -> None:
    if tokens.dtype not in TOKEN_DTYPES or tokens.dim() != 1 or tokens.numel() == 0:
        raise DataError(TOKENS_SHAPE_ERROR.format(name=name, shape=tuple(tokens.shape), dtype=tokens.dtype))
    high = int(tokens.max())
    if int(tokens.min()) < 0 or high >= vocab_size:
        raise DataError(TOKEN_RANGE_ERROR.format(name=name, high=high, vocab_size=vocab_size))


@attrs.frozen(kw_only=True, eq=False)
class ClassificationData:
    """Normalised images and integer labels for an image-classification task.

    Images are float32 ``(N, C, H, W)`` on the CPU, normalised per channel with the *train*
    split's statistics so validation measures generalisation, not a leak of its own stats.
    Equality is identity: comparing tensors element-wise is not what ``==`` should mean.
    """

    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    num_classes: int = attrs.field(validator=attrs.validators.ge(1))
    in_channels: int = attrs.field(validator=attrs.validators.ge(1))
    image_size: int = attrs.field(validator=attrs.validators.ge(1))

    def __attrs_post_init__(self) -> None:
        for split, images, labels in (("train", self.train_x, self.train_y), ("val", self.val_x, self.val_y)):
            _check_images(f"{split}_x", images, self.in_channels, self.image_size)
            _check_labels(f"{split}_y", labels, images.shape[0], self.num_classes)


@attrs.frozen(kw_only=True, eq=False)
class SignalData:
    """Normalised 1-D signals ``(N, C, L)`` and integer labels, for ``conv1d`` hosts.

    The counterpart of ``ClassificationData`` one dimension down: float32 on the CPU,
    normalised with the train split's statistics; equality is identity.
    """

    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    num_classes: int = attrs.field(validator=attrs.validators.ge(1))
    in_channels: int = attrs.field(validator=attrs.validators.ge(1))
    length: int = attrs.field(validator=attrs.validators.ge(1))

    def __attrs_post_init__(self) -> None:
        for split, signals, labels in (("train", self.train_x, self.train_y), ("val", self.val_x, self.val_y)):
            _check_signals(f"{split}_x", signals, self.in_channels, self.length)
            _check_labels(f"{split}_y", labels, signals.shape[0], self.num_classes)


@attrs.frozen(kw_only=True, eq=False)
class TextData:
    """Token streams for next-token prediction.

    Tokens are kept as uint8 when the vocabulary allows it (byte-level corpora): a corpus of
    hundreds of megabytes then costs its size, not eight times it; batching widens windows
    to int64 only as they are cut.
    """

    train_tokens: Tensor
    val_tokens: Tensor
    vocab_size: int = attrs.field(validator=attrs.validators.ge(1))

    def __attrs_post_init__(self) -> None:
        _check_tokens("train_tokens", self.train_tokens, self.vocab_size)
        _check_tokens("val_tokens", self.val_tokens, self.vocab_size)
