"""The CLI's edge: a task preset, a TOML config file and flags become one validated ``RunConfig``.

Precedence: the preset's tuned run, then the file, then the flags. Tables in the file
(``[training]``, ``[heuristic]``, ``[lifecycle]``, ``[lifecycle.gates]``, ``[signals]``,
``[governor]``) are merged field by field over the preset's, so a file changes only what it
names. A ``[fixed]`` table (``schedule = [[epoch, slot, blueprint], ...]``, optional
``blend``) replaces the heuristic by a fixed schedule; it is not merged, the preset has none. Unknown keys are errors, never ignored. Machine options (device, threads, data
directory) are flags: they say where a run executes, not what it is.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import attrs

from esper_core import ConfigError, RunConfig, SlotConfig, SlotIdError, from_primitives, to_primitives
from esper_shell.errors import unwrap
from esper_shell.tasks import get_task

DEFAULT_TASK = "mnist1d"
RUN_KEYS = frozenset(
    {
        "task",
        "seed",
        "slots",
        "max_seeds",
        "checkpoint_every",
        "policy",
        "training",
        "heuristic",
        "fixed",
        "lifecycle",
        "signals",
        "governor",
    }
)
MACHINE_KEYS = frozenset({"device", "threads", "data_dir"})

READ_MESSAGE = "Cannot read config file {path}: {reason}."
SHAPE_MESSAGE = "Config file {path} must hold run settings at the top level (see docs/cli.md)."
UNKNOWN_KEYS_MESSAGE = "Config file {path}: unknown key(s) {keys}; the known ones are {known}."
MACHINE_KEYS_MESSAGE = "Config file {path}: machine options ({keys}) say where a run executes, not what it is; pass them as flags ({flags})."
STATIC_GROWS_MESSAGE = (
    "esper-train static never grows, so {what} would be ignored; drop it (or use esper-train heuristic)."
)
POLICY_AND_HEURISTIC_MESSAGE = (
    "A policy decides this run, so the [heuristic] table would be ignored; drop one of the two."
)
FIXED_CONFLICT_MESSAGE = "The [fixed] schedule decides this run, so {what} would be ignored; drop one of the two."
FIXED_SHAPE_MESSAGE = (
    '[fixed] must be a table such as: schedule = [[2, "r2c0", "conv_light"]] (epoch, slot, blueprint); got {value!r}.'
)
INVALID_SLOT_MESSAGE = "{error} Valid slots for task {task}: {valid}."
BAD_CONFIG_MESSAGE = "Bad configuration{where}: {details}"


EMPTY_PATH_MESSAGE = "{option} is empty; name a directory, e.g. {option} runs/a."


def directory_option(option: str, value: str | None) -> Path | None:
    """A directory flag as typed: an empty one is refused (it would silently mean the current directory)."""
    if value is None:
        return None
    if not value.strip():
        raise ConfigError(EMPTY_PATH_MESSAGE.format(option=option), value=value)
    return Path(value)


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(READ_MESSAGE.format(path=path, reason=exc.strerror or exc), value=path) from exc
    except UnicodeDecodeError as exc:
        reason = f"it is not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise ConfigError(READ_MESSAGE.format(path=path, reason=reason), value=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(READ_MESSAGE.format(path=path, reason=exc), value=path) from exc
    return data


@attrs.frozen(kw_only=True)
class RunFlags:
    """The run-defining flags a command was given; None means not given (the file or preset decides)."""

    task: str | None = None
    seed: int | None = None
    slots: tuple[str, ...] | None = None
    max_seeds: int | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    policy: str | None = None

    def given(self) -> list[str]:
        return [
            f"--{field.name.replace('_', '-')}"
            for field in attrs.fields(RunFlags)
            if getattr(self, field.name) is not None
        ]


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def _check_keys(data: dict[str, Any], path: Path | None) -> None:
    machine = sorted(MACHINE_KEYS & data.keys())
    if machine:
        flags = ", ".join(f"--{key.replace('_', '-')}" for key in machine)
        raise ConfigError(MACHINE_KEYS_MESSAGE.format(path=path, keys=", ".join(machine), flags=flags), value=machine)
    unknown = sorted(data.keys() - RUN_KEYS)
    if unknown:
        known = ", ".join(sorted(RUN_KEYS))
        raise ConfigError(UNKNOWN_KEYS_MESSAGE.format(path=path, keys=", ".join(unknown), known=known), value=unknown)


def _check_slots(slots: object, task: str) -> None:
    """The core's own message (it explains legacy names), with the task's valid slots added."""
    try:
        SlotConfig(slots)  # type: ignore[arg-type]
    except SlotIdError as error:
        valid = ", ".join(get_task(task).build_host().slot_order)
        raise SlotIdError(INVALID_SLOT_MESSAGE.format(error=error, task=task, valid=valid), value=error.value) from None


def _controller(
    command: str, data: dict[str, Any], policy: str | None, preset_heuristic: dict[str, Any]
) -> dict[str, Any]:
    heuristic = data.pop("heuristic", None)
    fixed = data.pop("fixed", None)
    if command == "static":
        given = (("a policy", policy), ("[heuristic]", heuristic), ("[fixed]", fixed))
        grows = [what for what, value in given if value is not None]
        if grows:
            raise ConfigError(STATIC_GROWS_MESSAGE.format(what=grows[0]))
        return {"kind": "static"}
    if fixed is not None:
        if policy is not None or heuristic is not None:
            raise ConfigError(FIXED_CONFLICT_MESSAGE.format(what="--policy" if policy is not None else "[heuristic]"))
        return _fixed_controller(fixed)
    if policy is not None:
        if heuristic is not None:
            raise ConfigError(POLICY_AND_HEURISTIC_MESSAGE)
        return {"kind": "policy", "path": policy}
    return {
        "kind": "heuristic",
        "heuristic": _merge(preset_heuristic, heuristic)
        if isinstance(heuristic, dict)
        else heuristic or preset_heuristic,
    }


def _fixed_controller(table: object) -> dict[str, Any]:
    """A ``[fixed]`` table as the controller's primitives; entries may be written as [epoch, slot, blueprint]."""
    if not isinstance(table, dict) or not isinstance(table.get("schedule"), list):
        raise ConfigError(FIXED_SHAPE_MESSAGE.format(value=table), value=table)
    names = ("epoch", "slot", "blueprint")
    schedule = [
        dict(zip(names, entry)) if isinstance(entry, list) and len(entry) == len(names) else entry
        for entry in table["schedule"]
    ]
    return {**table, "kind": "fixed", "schedule": schedule}


def build_run_config(command: str, config_file: Path | None, flags: RunFlags) -> RunConfig:
    """The run a command describes: preset, then file, then flags, validated as a whole."""
    data = read_config_file(config_file) if config_file is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(SHAPE_MESSAGE.format(path=config_file))
    _check_keys(data, config_file)
    task = flags.task or data.get("task") or DEFAULT_TASK
    if not isinstance(task, str):
        raise ConfigError(
            BAD_CONFIG_MESSAGE.format(where=f" in {config_file}", details=f"task must be a name, got {task!r}")
        )
    base = to_primitives(get_task(task).run_config())
    policy = flags.policy if flags.policy is not None else data.pop("policy", None)
    controller = _controller(command, data, policy, base["controller"]["heuristic"])
    merged = _merge(base, data)
    merged["task"], merged["controller"] = task, controller
    for key, value in (("seed", flags.seed), ("slots", flags.slots), ("max_seeds", flags.max_seeds)):
        if value is not None:
            merged[key] = list(value) if key == "slots" else value
    for key, value in (("epochs", flags.epochs), ("lr", flags.lr), ("batch_size", flags.batch_size)):
        if value is not None and isinstance(merged.get("training"), dict):
            merged["training"] = {**merged["training"], key: value}
    if isinstance(merged.get("slots"), list):
        _check_slots(merged["slots"], task)
    where = f" in {config_file}" if config_file is not None else ""
    return unwrap(
        from_primitives(merged, RunConfig), ConfigError, prefix=BAD_CONFIG_MESSAGE.format(where=where, details="")
    )
