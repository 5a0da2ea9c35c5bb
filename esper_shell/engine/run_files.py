"""Run directories: one run per directory, its config, checkpoint and summary.

    RUN_DIR/config.json            the resolved configuration (primitives)
    RUN_DIR/checkpoints/latest.pt  the training state, written atomically and durably
    RUN_DIR/summary.json           per-epoch (or per-update) figures, rewritten as they come
    RUN_DIR/events.jsonl           every telemetry event, one per line (docs/telemetry.md)
    RUN_DIR/telemetry.json         the run id and the telemetry options chosen at launch
    RUN_DIR/.lock                  held (flock) by the process that runs here

One process at a time: starting or resuming takes an exclusive lock on ``.lock`` and holds it
until ``close`` (or the process's end: the kernel releases it even after ``kill -9``), so a
second ``--resume`` of a running directory is refused instead of writing every event twice.
Checkpoints go through a background ``CheckpointWriter``: the fsyncs that make them durable
run off the training thread; ``close`` waits for the last one and raises its failure.

A run stopped before its first checkpoint (``config.json`` and no checkpoint) lost nothing
that a resume could use: starting it again with the same ``--run-dir`` replaces it, and
``--resume`` says so instead of "no run here".
"""

from __future__ import annotations

import fcntl
import json
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import attrs

from esper_shell.checkpoint import is_format, same_primitives
from esper_shell.checkpoint_files import CheckpointWriter, safe_torch_load, temp_files
from esper_shell.errors import CheckpointError

RUN_FORMAT = "esper.run"
RUN_VERSION = 1

EXISTS_MESSAGE = (
    "Run directory {path} already holds a run; continue it with --resume {path}, or choose a new --run-dir."
)
NO_RUN_MESSAGE = "No run to resume in {path}: expected {checkpoint} (a run directory made by esper-train)."
UNFINISHED_MESSAGE = (
    "The run in {path} stopped before its first checkpoint, so there is nothing to resume: start it again "
    "with the same command and --run-dir {path} (that replaces the unfinished run)."
)
# A PPO run's checkpoint format (esper_shell.rl.train): recognised here only to name the right command.
# A PPO run's checkpoint, of whatever version (esper_shell.rl.train owns the version): the engine only
# needs to say which command continues it.
PPO_FORMAT = "esper.ppo"
PPO_RUN_MESSAGE = "{path} holds a PPO run; continue it with: esper-train ppo --resume {path}"
TRAINING_RUN_MESSAGE = "{path} holds a {kind} training run; continue it with: esper-train {command} --resume {path}"
NOT_A_RUN_MESSAGE = "{path} is not an Esper training checkpoint (expected format {fmt!r} version {version})."
LOCKED_MESSAGE = (
    "Run directory {path} is in use by another esper-train process (it holds {lock}); wait for it to "
    "finish or stop it before resuming, or choose another --run-dir."
)
UNUSABLE_MESSAGE = "Cannot use run directory {path} ({details}); choose a writable --run-dir."
NOT_A_DIRECTORY_MESSAGE = "Run directory {path} is not a directory; choose another --run-dir."


def training_run_kind(payload: Any) -> str | None:
    """The controller kind of a training checkpoint (``heuristic``, ``static``, ...), None if it is not one."""
    if not is_format(payload, RUN_FORMAT, RUN_VERSION):
        return None
    controller = payload.get("config", {}).get("controller") if isinstance(payload.get("config"), dict) else None
    kind = controller.get("kind") if isinstance(controller, dict) else None
    return kind if isinstance(kind, str) else "unknown"


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` whole (temp file + rename): a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


class _Session:
    """What a run directory holds while a process runs in it: the lock and the checkpoint writer."""

    def __init__(self) -> None:
        self.lock: IO[bytes] | None = None
        self.writer = CheckpointWriter()
        self._finalizer: weakref.finalize | None = None

    def acquire(self, lock_path: Path, run_path: Path) -> None:
        if self.lock is not None:
            return
        handle = lock_path.open("a+b")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise CheckpointError(LOCKED_MESSAGE.format(path=run_path, lock=lock_path)) from exc
        self.lock = handle
        # A directory dropped without close() (a test, an exception) must not keep its lock.
        self._finalizer = weakref.finalize(self, handle.close)

    def release(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self.lock = self._finalizer = None


@attrs.frozen
class RunFiles:
    """What every run directory has, whatever trains in it."""

    path: Path = attrs.field(converter=Path)
    _session: _Session = attrs.field(init=False, factory=_Session, eq=False, repr=False)

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / "latest.pt"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def lock_file(self) -> Path:
        return self.path / ".lock"

    def run_outputs(self) -> tuple[Path, ...]:
        """Files a run writes besides its config and checkpoint (replaced when an unfinished run restarts)."""
        return (self.summary,)

    def create(self, config: dict[str, Any]) -> None:
        """Start a new run here; refuse to mix two runs in one directory (an unfinished one is replaced)."""
        if self.path.exists() and not self.path.is_dir():
            raise CheckpointError(NOT_A_DIRECTORY_MESSAGE.format(path=self.path))
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(UNUSABLE_MESSAGE.format(path=self.path, details=exc)) from exc
        self._open()
        if self.checkpoint.exists():
            self.close()
            raise CheckpointError(EXISTS_MESSAGE.format(path=self.path))
        for leftover in self.run_outputs():
            leftover.unlink(missing_ok=True)
        write_json(self.config, config)

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.summary, summary)

    def read_checkpoint(self, missing_message: str) -> Any:
        """Take the directory (lock, clean up interrupted writes), then read its checkpoint."""
        if not self.path.is_dir():
            raise CheckpointError(missing_message.format(path=self.path, checkpoint=self.checkpoint))
        self._open()
        if not self.checkpoint.is_file():
            message = UNFINISHED_MESSAGE if self.config.is_file() else missing_message
            raise CheckpointError(message.format(path=self.path, checkpoint=self.checkpoint))
        return safe_torch_load(self.checkpoint)

    def write_checkpoints(self, files: Sequence[tuple[Path, Mapping[str, Any]]]) -> None:
        """Serialise now, make durable in the background, in order; the last write's failure raises here."""
        self._open()
        self._session.writer.save(files)

    def close(self) -> None:
        """Wait for the last checkpoint to be durable (raising its failure), then give the directory up."""
        try:
            self._session.writer.wait()
        finally:
            self._session.release()

    def _open(self) -> None:
        """Lock the directory for this process, then delete temp files that interrupted writes left."""
        if self._session.lock is not None:
            return
        try:
            self._session.acquire(self.lock_file, self.path)
        except OSError as exc:
            raise CheckpointError(UNUSABLE_MESSAGE.format(path=self.path, details=exc)) from exc
        for written in (self.checkpoint, *self.durable_files()):
            for leftover in temp_files(written):
                leftover.unlink(missing_ok=True)
        for leftover in self.path.glob("*.json.tmp"):
            leftover.unlink(missing_ok=True)

    def durable_files(self) -> tuple[Path, ...]:
        """Files besides the checkpoint written through the checkpoint writer."""
        return ()


@attrs.frozen
class RunDirectory(RunFiles):
    """A training run (``esper-train heuristic|static``)."""

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    def run_outputs(self) -> tuple[Path, ...]:
        return (self.summary, self.events)

    def save(self, state: dict[str, Any]) -> None:
        self.write_checkpoints([(self.checkpoint, {"format": RUN_FORMAT, "version": RUN_VERSION, **state})])

    def load(self) -> dict[str, Any]:
        payload = self.read_checkpoint(NO_RUN_MESSAGE)
        if isinstance(payload, dict) and same_primitives(payload.get("format"), PPO_FORMAT):
            raise CheckpointError(PPO_RUN_MESSAGE.format(path=self.path), value=self.path)
        if not is_format(payload, RUN_FORMAT, RUN_VERSION):
            raise CheckpointError(NOT_A_RUN_MESSAGE.format(path=self.checkpoint, fmt=RUN_FORMAT, version=RUN_VERSION))
        return payload
