"""CIFAR-10 from a local copy the user downloaded; Esper never downloads it.

Both official releases are read: the python one (``cifar-10-batches-py``, pickled dicts) and
the binary one (``cifar-10-batches-bin``, fixed-size records). The five training batches
form the train split and ``test_batch`` the validation split, as in the literature.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np
import torch

from esper_shell.data.errors import DataError
from esper_shell.data.normalise import normalise_per_channel_
from esper_shell.data.numpy_pickle import load_numpy_pickle
from esper_shell.data.records import ClassificationData

NUM_CLASSES = 10
CHANNELS = 3
IMAGE_SIZE = 32
PIXELS = CHANNELS * IMAGE_SIZE * IMAGE_SIZE
RECORD_BYTES = 1 + PIXELS
TRAIN_BATCHES = 5
MAX_PIXEL = 255.0

CIFAR_MISSING_ERROR = """\
no CIFAR-10 copy found in {data_dir}.
Esper never downloads data sets. Download one of the official releases from
https://www.cs.toronto.edu/~kriz/cifar.html, extract it, and pass the folder it created
(or its parent) as --data-dir:
  python release  cifar-10-python.tar.gz -> cifar-10-batches-py/{py_files}
  binary release  cifar-10-binary.tar.gz -> cifar-10-batches-bin/{bin_files}"""
CIFAR_INCOMPLETE_ERROR = (
    "the CIFAR-10 {release} release in {folder} is incomplete: missing {missing}. "
    "Extract the whole archive again; all of {expected} are needed."
)
CIFAR_MALFORMED_ERROR = (
    "{path} is not a CIFAR-10 {release} batch: {problem}. "
    "Replace it with the file from the official archive (https://www.cs.toronto.edu/~kriz/cifar.html)."
)
PICKLE_NOT_DICT = "it unpickles to {kind}, expected a dict with b'data' and b'labels'"
PICKLE_MISSING_KEY = "its dict lacks the key {key!r}"
PICKLE_BAD_DATA = "b'data' is {kind} with shape {shape} and dtype {dtype}, expected uint8 of shape (N, {pixels})"
PICKLE_BAD_LABELS = "b'labels' holds {count} labels for {images} images"
BINARY_BAD_SIZE = (
    "its size, {size} bytes, is not a positive multiple of the {record}-byte record (1 label + {pixels} pixels)"
)
LABEL_OUT_OF_RANGE = "it holds label {label}, outside 0..{top}"
# Unpickling a damaged or foreign file can fail in any of these ways; each means "malformed".
UNPICKLE_FAILURES = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError)

Batch = tuple[np.ndarray, np.ndarray]


def _malformed(path: Path, release: str, problem: str) -> DataError:
    return DataError(CIFAR_MALFORMED_ERROR.format(path=path, release=release, problem=problem))


def _checked_labels(path: Path, release: str, labels: np.ndarray) -> np.ndarray:
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        bad = labels[(labels < 0) | (labels >= NUM_CLASSES)][0]
        raise _malformed(path, release, LABEL_OUT_OF_RANGE.format(label=bad, top=NUM_CLASSES - 1))
    return labels.astype(np.int64)


def _read_python_batch(path: Path) -> Batch:
    release = "python"
    try:
        with path.open("rb") as file:
            batch = load_numpy_pickle(file)
    except UNPICKLE_FAILURES as error:
        raise _malformed(path, release, str(error) or type(error).__name__) from error
    if not isinstance(batch, dict):
        raise _malformed(path, release, PICKLE_NOT_DICT.format(kind=type(batch).__name__))
    for key in (b"data", b"labels"):
        if key not in batch:
            raise _malformed(path, release, PICKLE_MISSING_KEY.format(key=key))
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        problem = PICKLE_BAD_DATA.format(
            kind=type(data).__name__,
            shape=getattr(data, "shape", None),
            dtype=getattr(data, "dtype", None),
            pixels=PIXELS,
        )
        raise _malformed(path, release, problem)
    labels = np.asarray(batch[b"labels"])
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise _malformed(path, release, PICKLE_BAD_LABELS.format(count=labels.size, images=data.shape[0]))
    return data, _checked_labels(path, release, labels)


def _read_binary_batch(path: Path) -> Batch:
    release = "binary"
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD_BYTES:
        raise _malformed(path, release, BINARY_BAD_SIZE.format(size=raw.size, record=RECORD_BYTES, pixels=PIXELS))
    records = raw.reshape(-1, RECORD_BYTES)
    return records[:, 1:], _checked_labels(path, release, records[:, 0])


@attrs.frozen(kw_only=True)
class CifarRelease:
    """One official on-disk layout: its folder name, file names and the reader for a file."""

    name: str
    folder: str
    suffix: str
    read: Callable[[Path], Batch]

    @property
    def train_files(self) -> tuple[str, ...]:
        return tuple(f"data_batch_{index}{self.suffix}" for index in range(1, TRAIN_BATCHES + 1))

    @property
    def test_file(self) -> str:
        return f"test_batch{self.suffix}"

    @property
    def files(self) -> tuple[str, ...]:
        return (*self.train_files, self.test_file)


PYTHON_RELEASE = CifarRelease(name="python", folder="cifar-10-batches-py", suffix="", read=_read_python_batch)
BINARY_RELEASE = CifarRelease(name="binary", folder="cifar-10-batches-bin", suffix=".bin", read=_read_binary_batch)
RELEASES = (PYTHON_RELEASE, BINARY_RELEASE)


def find_cifar10(data_dir: Path) -> tuple[Path, CifarRelease]:
    """The folder holding a CIFAR-10 release, looking in ``data_dir`` and its release subfolders.

    A folder with *some* of a release's files counts as found, so a half-extracted archive
    is reported as incomplete (naming the missing files) rather than as absent.
    """
    for release in RELEASES:
        for folder in (data_dir, data_dir / release.folder):
            present = [name for name in release.files if (folder / name).is_file()]
            if not present:
                continue
            missing = [name for name in release.files if name not in present]
            if missing:
                raise DataError(
                    CIFAR_INCOMPLETE_ERROR.format(
                        release=release.name,
                        folder=folder,
                        missing=", ".join(missing),
                        expected=", ".join(release.files),
                    )
                )
            return folder, release
    raise DataError(
        CIFAR_MISSING_ERROR.format(
            data_dir=data_dir,
            py_files="{" + ",".join(PYTHON_RELEASE.files) + "}",
            bin_files="{" + ",".join(BINARY_RELEASE.files) + "}",
        )
    )


def _images(batches: list[Batch]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack batches into float32 ``(N, 3, 32, 32)`` in [0, 1] and int64 labels.

    Each CIFAR row is 1024 red, then 1024 green, then 1024 blue bytes in row-major order,
    which is exactly ``(3, 32, 32)`` in C order.
    """
    pixels = np.concatenate([data for data, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    images = torch.from_numpy(pixels).view(-1, CHANNELS, IMAGE_SIZE, IMAGE_SIZE).to(torch.float32).div_(MAX_PIXEL)
    return images, torch.from_numpy(labels)


def load_cifar10(data_dir: Path | str) -> ClassificationData:
    """The 50 000 training and 10 000 test images of a local CIFAR-10 copy, normalised.

    ``data_dir`` may be the release folder itself or its parent. Every file is checked
    before any is used, so a damaged copy fails with the name of the file to replace.
    """
    folder, release = find_cifar10(Path(data_dir))
    train = [release.read(folder / name) for name in release.train_files]
    val = [release.read(folder / release.test_file)]
    train_x, train_y = _images(train)
    val_x, val_y = _images(val)
    normalise_per_channel_(train_x, val_x)
    return ClassificationData(
        train_x=train_x,
        train_y=train_y,
        val_x=val_x,
        val_y=val_y,
        num_classes=NUM_CLASSES,
        in_channels=CHANNELS,
        image_size=IMAGE_SIZE,
    )
