"""Static baselines, trained once and kept on disk: ``static_baseline(task, config, seed)``.

The static arm of every comparison, and the learned controller's reward, need the same
static runs again and again; a static run is a pure function of what defines it, so it is
cached under a key made of exactly that: the whole ``RunConfig`` except the controller (task,
slots, seed, training hyperparameters, lifecycle, signals, governor...), where it runs (the
resolved device, threads, data directory) and the code that computes it (the esper and
torch versions, a hash of the engine's, hosts', data's and tasks' sources, and
``CACHE_VERSION``). Any change to one of those misses the cache.

Location: ``--cache-dir``, else ``$ESPER_CACHE_DIR/static``, else
``$XDG_CACHE_HOME/esper/static``, else ``~/.cache/esper/static``; one JSON file per run,
named by the key's SHA-256. Delete the directory to forget everything.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path
from typing import Any

import attrs
import torch

from esper_core import ConfigError, RunConfig, StaticControllerConfig, to_primitives
from esper_shell.engine.device import MachineConfig, resolve_device
from esper_shell.engine.run_files import write_json
from esper_shell.runs import start, train
from esper_shell.tasks import TASKS

# Bump when static results change for a reason the hashed sources and versions do not show.
CACHE_VERSION = 1
CACHE_ENV = "ESPER_CACHE_DIR"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
# Code that cannot change a static run's numbers: the controllers' side, the CLI, reporting.
UNHASHED = (
    "esper_shell/rl",
    "esper_shell/bench",
    "esper_shell/outcome",
    "esper_shell/telemetry",
    "esper_shell/cli.py",
    "esper_shell/config_file.py",
    "esper_shell/controllers.py",
)

UNKNOWN_TASK_MESSAGE = (
    "static_baseline caches only built-in tasks, whose name fixes their data; {task!r} is not one ({known})."
)
TASK_MISMATCH_MESSAGE = "static_baseline({task!r}, ...): the config is for task {config!r}; make them agree."


@attrs.frozen(kw_only=True)
class StaticBaseline:
    """One static run: validation accuracy after every epoch, the final one, the parameter count."""

    accuracies: tuple[float, ...] = attrs.field(converter=tuple)
    final_accuracy: float
    params: int
    seconds: float = 0.0


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "static"
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "esper" / "static"


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """SHA-256 over the sources that compute a static run (every module but ``UNHASHED``)."""
    digest = hashlib.sha256()
    for package in ("esper_core", "esper_shell"):
        for path in sorted((PACKAGE_ROOT / package).rglob("*.py")):
            relative = path.relative_to(PACKAGE_ROOT).as_posix()
            if any(relative == skip or relative.startswith(skip + "/") for skip in UNHASHED):
                continue
            digest.update(relative.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def code_version() -> dict[str, Any]:
    return {
        "esper": importlib.metadata.version("esper"),
        "torch": torch.__version__,
        "cache": CACHE_VERSION,
        "sources": source_hash(),
    }


def static_config(config: RunConfig, seed: int) -> RunConfig:
    """The static run of ``config``'s task and settings on ``seed``."""
    return attrs.evolve(config, seed=seed, controller=StaticControllerConfig())


def default_machine(task: str) -> MachineConfig:
    return MachineConfig(threads=TASKS[task].threads) if task in TASKS else MachineConfig()


def key_fields(config: RunConfig, machine: MachineConfig) -> dict[str, Any]:
    """Everything a static run's result depends on, as primitives (the controller is not)."""
    run = to_primitives(config)
    del run["controller"]
    where = {"device": str(resolve_device(machine.device)), "threads": machine.threads, "data_dir": machine.data_dir}
    # Through JSON once, so that the fields compare equal to what a cache file holds.
    return json.loads(json.dumps({"run": run, "machine": where, "code": code_version()}))


def cache_key(config: RunConfig, machine: MachineConfig) -> str:
    canonical = json.dumps(key_fields(config, machine), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def train_static(task: str, config: RunConfig, machine: MachineConfig) -> StaticBaseline:
    """Train the static run (no cache)."""
    run = start(task, config, machine=machine)
    train(run)
    metrics = run.metrics()
    return StaticBaseline(
        accuracies=tuple(summary.val_accuracy for summary in run.history),
        final_accuracy=metrics["final_accuracy"],
        params=metrics["params"],
        seconds=metrics["seconds"],
    )


def _read(path: Path, fields: dict[str, Any]) -> StaticBaseline | None:
    """The cached run, or None when absent, unreadable or (a hash collision) for another key."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["key"] != fields:
            return None
        return StaticBaseline(**data["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def static_baseline(
    task: str,
    config: RunConfig,
    seed: int,
    *,
    machine: MachineConfig | None = None,
    cache_dir: Path | None = None,
) -> StaticBaseline:
    """The static run of ``task`` with ``config``'s settings (its controller ignored) on ``seed``, cached.

    A built-in task's name fixes its data, so only built-in tasks are cached; an unreadable
    cache entry is retrained and replaced.
    """
    if task not in TASKS:
        raise ConfigError(UNKNOWN_TASK_MESSAGE.format(task=task, known=", ".join(TASKS)), value=task)
    if config.task != task:
        raise ConfigError(TASK_MISMATCH_MESSAGE.format(task=task, config=config.task), value=task)
    config = static_config(config, seed)
    machine = machine if machine is not None else default_machine(task)
    fields = key_fields(config, machine)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = directory / f"{cache_key(config, machine)}.json"
    cached = _read(path, fields)
    if cached is not None:
        return cached
    result = train_static(task, config, machine)
    directory.mkdir(parents=True, exist_ok=True)
    write_json(path, {"key": fields, "result": attrs.asdict(result)})
    return result
