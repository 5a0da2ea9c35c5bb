"""scikit-learn's bundled handwritten digits: the smallest real image task, always present."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from esper_shell.data.errors import DataError
from esper_shell.data.normalise import normalise_per_channel_
from esper_shell.data.records import ClassificationData
from esper_shell.data.splits import stratified_split

NATIVE_SIZE = 8
NUM_CLASSES = 10
IMAGE_SIZE_ERROR = "image_size={image_size} must be a positive number of pixels (the digits are natively 8)."


def load_digits(*, image_size: int = 16, val_fraction: float = 0.2, seed: int = 0) -> ClassificationData:
    """The 1797 8×8 grey digits, resized to ``image_size`` and split stratified by ``seed``.

    Upsampling (bilinear) lets the same CNN hosts that expect a few pooling stages run on a
    task that ships with scikit-learn and so needs no download. Images are resized before
    normalising, so the statistics describe what the model actually sees.
    """
    if image_size < 1:
        raise DataError(IMAGE_SIZE_ERROR.format(image_size=image_size))
    # Imported here: scikit-learn takes seconds to import and only this task needs it.
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    train_idx, val_idx = stratified_split(bunch.target, val_fraction=val_fraction, seed=seed)
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1)
    if image_size != NATIVE_SIZE:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    train_idx, val_idx = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
    train_x, val_x = images[train_idx], images[val_idx]
    normalise_per_channel_(train_x, val_x)
    return ClassificationData(
        train_x=train_x,
        train_y=labels[train_idx],
        val_x=val_x,
        val_y=labels[val_idx],
        num_classes=NUM_CLASSES,
        in_channels=1,
        image_size=image_size,
    )
