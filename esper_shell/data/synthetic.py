"""Procedurally generated RGB classes: a CIFAR-sized task that needs no download.

Each class is an orientation. An image is a windowed sinusoidal grating whose angle is the
class's angle plus jitter, with random spatial frequency, phase, window position and size,
a random background colour, a random signed amplitude per channel, and pixel noise. Colour and brightness carry no
class information, so a model must learn oriented filters; the jitter makes neighbouring
classes overlap a little and the noise hides faint gratings, so accuracy rises well above
chance within a few epochs but does not reach 100 %.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import torch
from attrs.validators import ge, gt, le

from esper_shell.data.errors import DataError
from esper_shell.data.normalise import normalise_per_channel_
from esper_shell.data.records import ClassificationData

CHANNELS = 3
TRAIN_STREAM = 0
VAL_STREAM = 1
SIZE_ERROR = (
    "make_synthetic(n_train={n_train}, n_val={n_val}, image_size={image_size}, num_classes={num_classes}): "
    "every count must be at least 1 and num_classes at least 2."
)
RANGE_ERROR = "GratingStyle({low}={low_value}, {high}={high_value}): {low} must not exceed {high}."


@attrs.frozen(kw_only=True)
class GratingStyle:
    """How hard the synthetic task is; the defaults were tuned against a tiny CNN.

    Angles of neighbouring classes are ``pi / num_classes`` apart; ``angle_jitter`` is the
    fraction of that gap a sample may stray either side, so at 0.5 or above neighbours
    overlap. Frequencies are in cycles across the image; lengths in units of the image's
    half-width; ``min_contrast`` is the smallest per-channel amplitude of the grating (each
    channel's sign is random, so colour says nothing about the class).
    """

    angle_jitter: float = attrs.field(default=0.45, validator=ge(0.0))
    min_cycles: float = attrs.field(default=2.0, validator=gt(0.0))
    max_cycles: float = attrs.field(default=5.0, validator=gt(0.0))
    max_offset: float = attrs.field(default=0.5, validator=ge(0.0))
    min_window: float = attrs.field(default=0.35, validator=gt(0.0))
    max_window: float = attrs.field(default=0.8, validator=gt(0.0))
    min_contrast: float = attrs.field(default=0.15, validator=[ge(0.0), le(1.0)])
    noise_std: float = attrs.field(default=0.2, validator=ge(0.0))

    def __attrs_post_init__(self) -> None:
        for low, high in (("min_cycles", "max_cycles"), ("min_window", "max_window")):
            if getattr(self, low) > getattr(self, high):
                raise DataError(
                    RANGE_ERROR.format(low=low, high=high, low_value=getattr(self, low), high_value=getattr(self, high))
                )


DEFAULT_STYLE = GratingStyle()


def _per_image(values: np.ndarray) -> np.ndarray:
    """Lift one value per image to broadcast over that image's pixel grid."""
    return values[:, None, None].astype(np.float32)


def _render(
    rng: np.random.Generator, count: int, image_size: int, num_classes: int, style: GratingStyle
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` balanced, shuffled images as float32 ``(N, 3, S, S)`` and their int64 labels."""
    labels = rng.permutation(np.arange(count) % num_classes)
    gap = math.pi / num_classes
    angle = labels * gap + rng.uniform(-style.angle_jitter, style.angle_jitter, count) * gap
    cycles = rng.uniform(style.min_cycles, style.max_cycles, count)
    phase = rng.uniform(0.0, 2.0 * math.pi, count)
    centre_x, centre_y = rng.uniform(-style.max_offset, style.max_offset, (2, count))
    window = rng.uniform(style.min_window, style.max_window, count)
    background = rng.uniform(0.0, 1.0, (count, CHANNELS))
    sign = rng.choice((-1.0, 1.0), (count, CHANNELS))
    tint = sign * rng.uniform(style.min_contrast, 1.0, (count, CHANNELS))

    axis = np.linspace(-1.0, 1.0, image_size, dtype=np.float32)
    ys, xs = np.meshgrid(axis, axis, indexing="ij")
    along = xs * _per_image(np.cos(angle)) + ys * _per_image(np.sin(angle))
    wave = 0.5 * np.sin(math.pi * _per_image(cycles) * along + _per_image(phase))
    distance2 = (xs - _per_image(centre_x)) ** 2 + (ys - _per_image(centre_y)) ** 2
    grating = (wave * np.exp(-distance2 / (2.0 * _per_image(window) ** 2)))[:, None]
    images = background[:, :, None, None].astype(np.float32) + tint[:, :, None, None].astype(np.float32) * grating
    images += style.noise_std * rng.standard_normal(images.shape, dtype=np.float32)
    return images, labels.astype(np.int64)


def make_synthetic(
    *,
    n_train: int = 5000,
    n_val: int = 1000,
    image_size: int = 32,
    num_classes: int = 10,
    seed: int = 0,
    style: GratingStyle = DEFAULT_STYLE,
) -> ClassificationData:
    """A deterministic oriented-grating task; the same ``seed`` always gives the same tensors.

    Train and val are drawn from two independent streams of one seed, so changing
    ``n_train`` never changes the validation set. Only a local ``numpy`` generator is
    used: the global RNGs are left alone.
    """
    if min(n_train, n_val, image_size) < 1 or num_classes < 2:
        raise DataError(SIZE_ERROR.format(n_train=n_train, n_val=n_val, image_size=image_size, num_classes=num_classes))
    train_x, train_y = _render(np.random.default_rng([seed, TRAIN_STREAM]), n_train, image_size, num_classes, style)
    val_x, val_y = _render(np.random.default_rng([seed, VAL_STREAM]), n_val, image_size, num_classes, style)
    train_images, val_images = torch.from_numpy(train_x), torch.from_numpy(val_x)
    normalise_per_channel_(train_images, val_images)
    return ClassificationData(
        train_x=train_images,
        train_y=torch.from_numpy(train_y),
        val_x=val_images,
        val_y=torch.from_numpy(val_y),
        num_classes=num_classes,
        image_size=image_size,
        in_channels=CHANNELS,
    )
