"""What the slot machinery costs on top of the network it wraps (issue: seed mechanics).

Every ratio compares two things measured in the same run, interleaved: the model with
its slots against the plain computation it must match.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import torch
from torch import nn

from esper_core import SeedStage
from esper_shell.bench.progress import Steps, bench_steps
from esper_shell.bench.staging import walk_to_stage
from esper_shell.bench.timing import median_seconds
from esper_shell.blueprints import build_seed
from esper_shell.checkpoint import load_checkpoint, model_payload
from esper_shell.checkpoint_files import CheckpointWriter
from esper_shell.hosts import CNNHost
from esper_shell.model import MorphogeneticModel

SLOT = "r1c0"
# Checkpoint costs have a fixed part (validation, extra state) and a durable part (fsync,
# which grows with the file, and runs on the checkpoint writer's thread); a wider host shows
# how each scales.
WIDE_FACTOR = 4


@attrs.frozen(kw_only=True)
class OverheadConfig:
    batch: int = 128
    image_size: int = 32
    threads: int = 2
    repeats: int = 25
    warmup: int = 5
    blocks_per_stage: tuple[int, ...] = (1, 1, 1)
    base_channels: int = 16
    blueprint: str = "conv_light"
    channels_last: bool = False


class HostWithModule(nn.Module):
    """The hand-written reference: the host with a residual module spliced in, no slots."""

    def __init__(self, host: CNNHost, slot_id: str, module: nn.Module) -> None:
        super().__init__()
        self.host, self.slot_id, self.module = host, slot_id, module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.host.forward_from(self.slot_id, self.module(self.host.forward_to(self.slot_id, x)))


def _seeded_model(host: CNNHost, config: OverheadConfig, stage: SeedStage) -> MorphogeneticModel:
    """All slots enabled, one seed at ``SLOT`` in ``stage`` (one blending step in, if blending)."""
    model = MorphogeneticModel(host, list(host.slot_order))
    walk_to_stage(model, SLOT, stage, blueprint=config.blueprint, blend_steps_done=1)
    return model


def _train_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()

    return run


def _eval_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            model(x)

    return run


def _prepare(module: nn.Module, config: OverheadConfig, *, train: bool) -> nn.Module:
    module.train(train)
    if config.channels_last:
        module.to(memory_format=torch.channels_last)
    return module


# Timed comparisons in ``run``: 2 empty-slot, 2 seeded, 1 no-grad eval, 2 x 2 checkpoint.
STEPS = 7  # ticks of run(): two empty-slot passes, two seeded stages, no-grad eval, two checkpoint sizes


def run(config: OverheadConfig, steps: Steps | None = None) -> dict[str, float]:
    torch.set_num_threads(config.threads)
    torch.manual_seed(0)
    x = torch.randn(config.batch, 3, config.image_size, config.image_size)
    if config.channels_last:
        x = x.to(memory_format=torch.channels_last)

    def host() -> CNNHost:
        torch.manual_seed(0)
        return CNNHost(config.blocks_per_stage, base_channels=config.base_channels)

    ratios: dict[str, float] = {}
    for train in (True, False):
        bare = _prepare(host(), config, train=train)
        empty = _prepare(MorphogeneticModel(host(), list(bare.slot_order)), config, train=train)
        step = _train_step if train else _eval_step
        t = median_seconds(
            {"model": step(empty, x), "bare": step(bare, x)}, repeats=config.repeats, warmup=config.warmup
        )
        ratios[f"empty slots / bare host ({'train' if train else 'eval'})"] = t["model"] / t["bare"]
        _tick(steps, "empty slots")

    for stage in (SeedStage.TRAINING, SeedStage.BLENDING):
        model = _prepare(_seeded_model(host(), config, stage), config, train=True)
        reference = _prepare(HostWithModule(host(), SLOT, copy.deepcopy(model.slot(SLOT).seed)), config, train=True)
        t = median_seconds(
            {"model": _train_step(model, x), "ref": _train_step(reference, x)},
            repeats=config.repeats,
            warmup=config.warmup,
        )
        ratios[f"{config.blueprint} seed in {stage.name} / host + module (train)"] = t["model"] / t["ref"]
        _tick(steps, f"seed in {stage.name}")

    model = _prepare(_seeded_model(host(), config, SeedStage.TRAINING), config, train=False)
    bare = _prepare(host(), config, train=False)
    t = median_seconds(
        {"model": _eval_step(model, x), "bare": _eval_step(bare, x)}, repeats=config.repeats, warmup=config.warmup
    )
    ratios["no-grad eval, seed in TRAINING / bare host"] = t["model"] / t["bare"]
    _tick(steps, "no-grad eval")

    for factor in (1, WIDE_FACTOR):

        def sized_host(width: int = config.base_channels * factor) -> CNNHost:
            torch.manual_seed(0)
            return CNNHost(config.blocks_per_stage, base_channels=width)

        params = sum(p.numel() for p in sized_host().parameters())
        sized_channels = sized_host().injection_points[SLOT]
        checkpoint = _checkpoint_ratios(sized_host, config, sized_channels)
        ratios[f"checkpoint save (what the epoch waits) / torch.save, {params} params"] = checkpoint["save"]
        # Fastest sample of each: on a machine whose disk others share, what the save costs without stalls.
        ratios[f"  same, fastest of the samples ({params} params)"] = checkpoint["save_fastest"]
        ratios[f"checkpoint save+load / torch.save+load, host of {params} params"] = checkpoint["background"]
        ratios[f"  same, waiting for the fsyncs on the training thread ({params} params)"] = checkpoint["inline"]
        _tick(steps, f"checkpoint, {params} params")
    return ratios


def _tick(steps: Steps | None, done: str) -> None:
    if steps is not None:
        steps.show(f"done: {done}")
        steps.advance()


def _checkpoint_ratios(host: Callable[[], CNNHost], config: OverheadConfig, channels: int) -> dict[str, float]:
    """What an epoch waits for a durable checkpoint (and a resume for its load) against plain save + load.

    ``background`` is the run directories' path: the training thread serialises and hands the
    bytes to the ``CheckpointWriter``; the write, fsyncs and rename finish while the next epoch
    trains (here: untimed, before the load that a resume would do). ``inline`` waits for them.
    Both keep the guarantee: the previous file stays intact until the new one is durable.
    """
    model = _seeded_model(host(), config, SeedStage.BLENDING)
    fresh = MorphogeneticModel(host(), list(model.slot_ids))
    bare = HostWithModule(host(), SLOT, build_seed("cnn", config.blueprint, channels))
    writer = CheckpointWriter()
    with tempfile.TemporaryDirectory() as tmp:
        ours, plain = Path(tmp) / "esper.pt", Path(tmp) / "plain.pt"

        saves: dict[str, list[float]] = {"esper": [], "plain": []}

        def background() -> float:
            started = time.perf_counter()
            writer.save([(ours, model_payload(model))])
            saved = time.perf_counter()
            writer.wait()  # the next epoch's training time: off the critical path
            loading = time.perf_counter()
            load_checkpoint(ours, fresh)
            saves["esper"].append(saved - started)
            return (saved - started) + (time.perf_counter() - loading)

        def inline() -> float:
            started = time.perf_counter()
            writer.save([(ours, model_payload(model))])
            writer.wait()
            load_checkpoint(ours, fresh)
            return time.perf_counter() - started

        def plain_round_trip() -> float:
            started = time.perf_counter()
            torch.save(bare.state_dict(), plain)
            saves["plain"].append(time.perf_counter() - started)
            bare.load_state_dict(torch.load(plain, weights_only=True))
            return time.perf_counter() - started

        t = _median_self_timed(
            {"background": background, "inline": inline, "plain": plain_round_trip},
            repeats=config.repeats,
            warmup=config.warmup,
        )
    esper_saves, plain_saves = saves["esper"][config.warmup :], saves["plain"][config.warmup :]
    return {
        "save": statistics.median(esper_saves) / statistics.median(plain_saves),
        "save_fastest": min(esper_saves) / min(plain_saves),
        "background": t["background"] / t["plain"],
        "inline": t["inline"] / t["plain"],
    }


def _median_self_timed(candidates: dict[str, Callable[[], float]], *, repeats: int, warmup: int) -> dict[str, float]:
    """Like ``median_seconds``, round-robin, but each candidate reports the seconds on its critical path."""
    for _ in range(warmup):
        for run_once in candidates.values():
            run_once()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run_once in candidates.items():
            samples[name].append(run_once())
    return {name: statistics.median(times) for name, times in samples.items()}


TARGETS = {
    "empty slots / bare host (train)": 1.01,
    "empty slots / bare host (eval)": 1.01,
    "no-grad eval, seed in TRAINING / bare host": 1.02,
}
CHECKPOINT_TARGET = 1.1
# Not a target: the cost the background writer removes from the epoch, shown for comparison.
INLINE_CHECKPOINT_REFERENCE = float("inf")
SEED_TARGET = 1.03


def target_for(name: str) -> float:
    if "fsyncs on the training thread" in name or "fastest of the samples" in name:
        return INLINE_CHECKPOINT_REFERENCE
    if "checkpoint" in name:
        return CHECKPOINT_TARGET
    return TARGETS.get(name, SEED_TARGET)


def report(config: OverheadConfig) -> str:
    lines = [
        f"overhead benchmark: batch {config.batch}, 3x{config.image_size}x{config.image_size}, "
        f"{config.threads} threads, median of {config.repeats} (after {config.warmup} warm-up), "
        f"torch {torch.__version__}, channels_last={config.channels_last}",
    ]
    with bench_steps("bench overhead", STEPS) as steps:
        ratios = run(config, steps)
    for name, ratio in ratios.items():
        target = target_for(name)
        verdict = (
            "reference, no target"
            if target == INLINE_CHECKPOINT_REFERENCE
            else (f"target <= {target:.2f}{'' if ratio <= target else '  MISSED'}")
        )
        lines.append(f"  {name:<66} {ratio:6.3f}  ({verdict})")
    return "\n".join(lines)
