"""The built-in tasks. Host sizes leave the static host clearly short of what growth reaches.

``digits`` follows a prototype study (see docs/benchmarks.md): 8×8 digits upsampled to
16×16, a CNN whose first stage is one channel wide, cosine decay. At native size or with
wider hosts the static host is already at 93-99 % and growth has nothing to add; the
one-channel stage is also why its results vary by 3 points from seed to seed. ``mnist1d``
is the task that can tell: a host wide enough to be repeatable and still 9 points short.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
from torch import nn

from esper_core import BlendAlgorithm, GateConfig, HeuristicConfig, LifecycleConfig, SignalConfig, TrainingConfig
from esper_shell.data import (
    ClassificationData,
    DataError,
    Reiterable,
    SignalData,
    TextData,
    iterate_batches,
    load_cifar10,
    load_digits,
    load_mnist1d,
    load_pydoc,
    load_tinystories,
    make_synthetic,
    text_batches,
)
from esper_shell.hosts import CNNHost, Conv1DHost, TransformerHost
from esper_shell.tasks.spec import Task, TaskPreset

UNKNOWN_TASK_MESSAGE = "Unknown task {task!r}; choose one of: {known}."
DATA_DIR_MESSAGE = "Task {task!r} reads a local copy of its data: pass --data-dir DIR (see docs/tasks.md)."

TEXT_GROWTH_BLUEPRINTS = ("mlp", "attention", "lora")
BYTE_VOCAB = 256
TEXT_BLOCK = 64

# Growth settings for the small CNN tasks, from a tuning study (docs/benchmarks.md): grow
# early (validation loss on a few hundred images is too noisy for a strict "stabilised"
# latch), in every slot at once, and blend over 3 epochs — during BLENDING the layers
# upstream of a slot get only (1 - alpha) of their gradient, so long blends starve them.
CNN_GROWTH_HEURISTIC = HeuristicConfig(
    blueprints=("conv_light", "depthwise", "conv_heavy"),
    min_epoch=5,
    plateau_epochs=1,
    max_concurrent=3,
    blend=BlendAlgorithm.LINEAR,
)
CNN_GROWTH_SIGNALS = SignalConfig(stabilization_rel_improvement=0.15, stabilization_epochs=1)
CNN_GROWTH_LIFECYCLE = LifecycleConfig(blend_steps=3)

# Growth settings for mnist1d and synthetic, from the paired outcome study
# (docs/benchmarks.md): the seeds that pay are the ones with the most epochs left, so grow
# from epoch 1 (no plateau; a "stabilised" latch loose enough never to block), one
# conv_heavy per slot, 1 training epoch, 2-epoch linear blends, and keep a seed as soon as
# removing it costs one validation signal (G5 at 0.1 point): a zero-initialised residual
# seed integrated this early has not yet grown the default 1-point contribution, and the
# probation auto-cull would drop it.
EARLY_GROWTH_HEURISTIC = HeuristicConfig(
    blueprints=("conv_heavy",),
    min_epoch=1,
    plateau_epochs=0,
    max_concurrent=3,
    blend=BlendAlgorithm.LINEAR,
)
EARLY_GROWTH_SIGNALS = SignalConfig(stabilization_rel_improvement=1.0, stabilization_epochs=1)
EARLY_GROWTH_LIFECYCLE = LifecycleConfig(blend_steps=2, gates=GateConfig(min_training_epochs=1, min_contribution=0.1))
TEXT_TRAIN_BATCHES = 40
TEXT_VAL_BATCHES = 8


def _tensor_task(
    name: str, build_host: Callable[[], nn.Module], data: ClassificationData | SignalData, batch_size: int
) -> Task:
    """Images or signals held as tensors: shuffled training batches, fixed validation batches of 4x the size."""
    return Task(
        name=name,
        build_host=build_host,
        train=lambda generator, size: iterate_batches(data.train_x, data.train_y, size, generator=generator),
        val=Reiterable(lambda: iterate_batches(data.val_x, data.val_y, batch_size * 4, generator=None)),
        num_classes=data.num_classes,
    )


def _text_task(name: str, build_host: Callable[[], nn.Module], data: TextData, batch_size: int) -> Task:
    return Task(
        name=name,
        build_host=build_host,
        train=lambda generator, size: text_batches(
            data.train_tokens, TEXT_BLOCK, size, TEXT_TRAIN_BATCHES, generator=generator
        ),
        val=Reiterable(lambda: text_batches(data.val_tokens, TEXT_BLOCK, batch_size, TEXT_VAL_BATCHES, generator=None)),
        num_classes=data.vocab_size,
    )


def _require(data_dir: Path | None, task: str) -> Path:
    if data_dir is None:
        raise DataError(DATA_DIR_MESSAGE.format(task=task))
    return data_dir


def _digits_host() -> nn.Module:
    return CNNHost((1, 1, 1), base_channels=1, in_channels=1, num_classes=10)


def _synthetic_host() -> nn.Module:
    return CNNHost((1, 1, 1), base_channels=2, in_channels=3, num_classes=10)


def _cifar10_host() -> nn.Module:
    return CNNHost((1, 1, 1), base_channels=16, in_channels=3, num_classes=10)


def _pydoc_host() -> nn.Module:
    return TransformerHost(vocab_size=BYTE_VOCAB, n_embd=32, n_head=2, n_layer=4, n_tiers=2, block_size=TEXT_BLOCK)


def _tinystories_host() -> nn.Module:
    return TransformerHost(vocab_size=BYTE_VOCAB, n_embd=64, n_head=4, n_layer=4, n_tiers=2, block_size=TEXT_BLOCK)


DIGITS = TaskPreset(
    name="digits",
    description="scikit-learn's bundled 8x8 handwritten digits, upsampled to 16x16 (embedded)",
    topology="cnn",
    build_host=_digits_host,
    load=lambda seed, batch_size, data_dir: _tensor_task(
        "digits", _digits_host, load_digits(image_size=16, seed=seed), batch_size
    ),
    slots=("r0c0", "r1c0", "r2c0"),
    training=TrainingConfig(epochs=40, batch_size=64, lr=0.05),
    threads=1,
    max_seeds=3,
    heuristic=CNN_GROWTH_HEURISTIC,
    signals=CNN_GROWTH_SIGNALS,
    lifecycle=CNN_GROWTH_LIFECYCLE,
)

SYNTHETIC = TaskPreset(
    name="synthetic",
    description="procedurally generated 32x32 RGB oriented gratings, 10 classes (embedded)",
    topology="cnn",
    build_host=_synthetic_host,
    load=lambda seed, batch_size, data_dir: _tensor_task(
        "synthetic", _synthetic_host, make_synthetic(n_train=3000, n_val=1000, seed=seed), batch_size
    ),
    slots=("r0c0", "r1c0", "r2c0"),
    training=TrainingConfig(epochs=30, batch_size=128, lr=0.05),
    threads=1,
    max_seeds=3,
    heuristic=EARLY_GROWTH_HEURISTIC,
    signals=EARLY_GROWTH_SIGNALS,
    lifecycle=EARLY_GROWTH_LIFECYCLE,
)


def _mnist1d_host() -> nn.Module:
    return Conv1DHost((1, 1), base_channels=8, in_channels=1, num_classes=10)


MNIST1D = TaskPreset(
    name="mnist1d",
    description="MNIST-1D (Greydanus 2020): 4,000 + 1,000 length-40 signals, generated offline (embedded, the default)",
    topology="conv1d",
    build_host=_mnist1d_host,
    load=lambda seed, batch_size, data_dir: _tensor_task("mnist1d", _mnist1d_host, load_mnist1d(seed=seed), batch_size),
    slots=("r0c0", "r1c0"),
    training=TrainingConfig(epochs=20, batch_size=128, lr=0.05),
    threads=1,
    max_seeds=3,
    heuristic=EARLY_GROWTH_HEURISTIC,
    signals=EARLY_GROWTH_SIGNALS,
    lifecycle=EARLY_GROWTH_LIFECYCLE,
)

PYDOC = TaskPreset(
    name="pydoc",
    description="byte-level language modelling on the prose bundled in Python's pydoc_data (embedded)",
    topology="transformer",
    build_host=_pydoc_host,
    load=lambda seed, batch_size, data_dir: _text_task("pydoc", _pydoc_host, load_pydoc(), batch_size),
    slots=("r0c0", "r0c1", "r1c0", "r1c1"),
    training=TrainingConfig(epochs=20, batch_size=32, lr=0.05, weight_decay=0.0),
    threads=2,
    max_seeds=2,
    heuristic=HeuristicConfig(blueprints=TEXT_GROWTH_BLUEPRINTS, plateau_epochs=2),
)

CIFAR10 = TaskPreset(
    name="cifar10",
    description="CIFAR-10 from a local copy (--data-dir), official python or binary format",
    topology="cnn",
    build_host=_cifar10_host,
    load=lambda seed, batch_size, data_dir: _tensor_task(
        "cifar10", _cifar10_host, load_cifar10(_require(data_dir, "cifar10")), batch_size
    ),
    slots=("r0c0", "r1c0", "r2c0"),
    training=TrainingConfig(epochs=30, batch_size=128, lr=0.05),
    threads=2,
    max_seeds=3,
    heuristic=CNN_GROWTH_HEURISTIC,
    needs_data_dir=True,
)

TINYSTORIES = TaskPreset(
    name="tinystories",
    description="TinyStories from a local copy (--data-dir), byte-level language modelling",
    topology="transformer",
    build_host=_tinystories_host,
    load=lambda seed, batch_size, data_dir: _text_task(
        "tinystories", _tinystories_host, load_tinystories(_require(data_dir, "tinystories")), batch_size
    ),
    slots=("r0c0", "r0c1", "r1c0", "r1c1"),
    training=TrainingConfig(epochs=20, batch_size=32, lr=0.05, weight_decay=0.0),
    threads=2,
    max_seeds=2,
    heuristic=HeuristicConfig(blueprints=TEXT_GROWTH_BLUEPRINTS),
    needs_data_dir=True,
)

TASKS: dict[str, TaskPreset] = {task.name: task for task in (MNIST1D, DIGITS, SYNTHETIC, PYDOC, CIFAR10, TINYSTORIES)}


def get_task(name: str) -> TaskPreset:
    if name not in TASKS:
        raise DataError(UNKNOWN_TASK_MESSAGE.format(task=name, known=", ".join(TASKS)))
    return TASKS[name]


@attrs.frozen(kw_only=True)
class PresetTasks:
    """seed -> the built-in task ``name``'s data for a run of that seed: a task factory that pickles.

    It holds the preset's name, not the preset (whose loaders are closures), so it crosses into
    a spawned process (``ProcessVecEnv``'s env workers), which looks the preset up in its own
    ``TASKS``: a preset added to ``TASKS`` at run time exists in this process only.
    """

    name: str
    batch_size: int
    data_dir: str | None = None

    def __call__(self, seed: int) -> Task:
        return get_task(self.name).task(seed, self.batch_size, self.data_dir)
