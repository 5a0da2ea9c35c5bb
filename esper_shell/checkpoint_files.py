"""Checkpoint files on disk: durable atomic writes, a background writer, and safe verified reads.

Reading: the zip's CRCs are verified before ``torch.load`` reads the file (torch itself does
not check them, so a flipped byte would load as a changed weight), and ``torch.load`` gets
``weights_only=True`` explicitly, so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot turn the
refusal of pickled objects off. Every failure becomes a ``CheckpointError``.

Writing: the payload is written into a temp file next to its target on the caller's thread
(the tensors keep changing once training goes on; this costs what a plain ``torch.save``
costs), then fsynced, renamed over the target, and the directory fsynced. ``CheckpointWriter``
does that last, slow part on one background thread: the previous file stays intact until the
new one is complete and durable, and the caller only waits when it saves again before the
last write finished, or when it closes.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import attrs
import torch

from esper_shell.errors import CheckpointError

MISSING_MESSAGE = "No checkpoint at {path}: check the path (a run directory keeps its checkpoints in checkpoints/)."
UNSAFE_MESSAGE = (
    "Refusing {path}: it holds pickled Python objects beyond tensors and primitives, which Esper never "
    "executes (it loads with weights_only=True, whatever the environment says). Esper checkpoints never "
    "contain them; only load files you trust. Refused: {details}"
)
CORRUPT_MESSAGE = "Cannot read {path} as a torch checkpoint (truncated, damaged or not a checkpoint): {details}"
CRC_MESSAGE = (
    "Refusing {path}: record {record!r} fails its CRC check, so the file was damaged after it was written "
    "(disk or copy error). Its weights would load changed; restore the file from a good copy."
)
NO_CRC_MESSAGE = (
    "Refusing {path}: it was saved without CRCs (torch.serialization.set_crc32_options(False)), so damage "
    "cannot be detected. Load it once in the program that wrote it and save it again with CRCs."
)
UNREADABLE_MESSAGE = "Cannot read {path}: {details}"
WRITE_FAILED_MESSAGE = "Writing checkpoint {path} failed: {details}. The previous checkpoint is intact."

# Lines of torch's load errors that advise turning weights-only loading off or allow-listing globals.
_TORCH_ADVICE = ("weights_only", "weights only", "still be loaded", "trust the source", "safe_globals", "issue")
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"


@contextlib.contextmanager
def _with_crcs() -> Iterator[None]:
    """``torch.save`` with CRCs whatever other code set: the reader checks them."""
    before = torch.serialization.get_crc32_options()
    torch.serialization.set_crc32_options(True)
    try:
        yield
    finally:
        torch.serialization.set_crc32_options(before)


@attrs.frozen
class _TempFile:
    """A complete file written next to its target, not yet durable or in place."""

    name: str
    target: Path

    def discard(self) -> None:
        Path(self.name).unlink(missing_ok=True)


def _write_temp(payload: Mapping[str, Any], path: Path) -> _TempFile:
    """``torch.save`` into a temp file next to the target: into the page cache, as a plain save.

    By name, not through a Python file object: torch then writes from C++, which is what a
    plain ``torch.save(obj, path)`` costs (a file object makes it call back into Python per record).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temp = _TempFile(name=name, target=path)
    try:
        with _with_crcs():
            torch.save(dict(payload), name)
    except BaseException:
        temp.discard()
        raise
    return temp


def _make_durable(temp: _TempFile) -> None:
    """fsync the temp file, rename it over its target, fsync the directory: the slow, durable part."""
    try:
        fd = os.open(temp.name, os.O_RDONLY)
        try:
            os.fsync(fd)  # flushes the file's data whichever descriptor asks
        finally:
            os.close(fd)
        os.replace(temp.name, temp.target)
    except BaseException:
        temp.discard()
        raise
    dir_fd = os.open(temp.target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_torch_save(payload: Mapping[str, Any], path: Path) -> None:
    """Save and return once the file is durable; a crash mid-save leaves the previous file intact."""
    _make_durable(_write_temp(payload, path))


def temp_files(path: Path) -> list[Path]:
    """Leftovers of writes to ``path`` that a crash interrupted."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


class CheckpointWriter:
    """Durable writes finished on one background thread; its errors surface at the next ``save`` or at ``wait``.

    ``save`` writes each payload into a temp file on the caller's thread (the tensors keep
    changing once training goes on; writing into the page cache costs what a plain
    ``torch.save`` costs) and hands the fsyncs and renames to the thread. The thread lives as
    long as the writer (one started per save made the caller wait for the GIL), and the
    interpreter lets it finish a pending write before it exits.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esper-checkpoint-writer")
        self._pending: Future[None] | None = None

    def save(self, files: Sequence[tuple[Path, Mapping[str, Any]]]) -> None:
        """Write temp files now; make them durable and rename them in the background, in order."""
        temps: list[_TempFile] = []
        try:
            for path, payload in files:
                try:
                    temps.append(_write_temp(payload, path))
                except OSError as exc:
                    raise CheckpointError(WRITE_FAILED_MESSAGE.format(path=path, details=exc)) from exc
            self.wait()
        except BaseException:
            for temp in temps:
                temp.discard()
            raise
        self._pending = self._executor.submit(_finish_all, temps)

    def wait(self) -> None:
        """Block until the last write is durable; raise its failure, once, as a ``CheckpointError``."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            pending.result()
        except _WriteFailed as failed:
            message = WRITE_FAILED_MESSAGE.format(path=failed.path, details=failed.__cause__)
            raise CheckpointError(message) from failed.__cause__


class _WriteFailed(Exception):
    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


def _finish_all(temps: list[_TempFile]) -> None:
    """In order; after a failure the later files are dropped, so none is newer than the one that failed."""
    for index, temp in enumerate(temps):
        try:
            _make_durable(temp)
        except Exception as exc:  # noqa: BLE001 - handed to the training thread by wait()
            for later in temps[index + 1 :]:
                later.discard()
            raise _WriteFailed(temp.target) from exc


def verify_crcs(path: Path) -> None:
    """Check every zip record's CRC (``torch.load`` never does), reading the file through a map, not a copy.

    The CRC guards against damage (disk, copy), not against an attacker, who could write valid
    CRCs: so checking the file and then handing its path to ``torch.load`` leaves no gap that matters.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(MISSING_MESSAGE.format(path=path))
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                raise CheckpointError(CORRUPT_MESSAGE.format(path=path, details="the file is empty"))
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                _check_records(mapped, _records(handle, path), path)
    except OSError as exc:
        raise CheckpointError(UNREADABLE_MESSAGE.format(path=path, details=exc)) from exc


def _records(handle: IO[bytes], path: Path) -> list[zipfile.ZipInfo]:
    try:
        return zipfile.ZipFile(handle).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error, NotImplementedError) as exc:
        raise CheckpointError(CORRUPT_MESSAGE.format(path=path, details=f"not a zip archive ({exc})")) from exc


def _check_records(data: mmap.mmap, records: list[zipfile.ZipInfo], path: Path) -> None:
    if records and all(record.CRC == 0 for record in records):
        raise CheckpointError(NO_CRC_MESSAGE.format(path=path))
    view = memoryview(data)
    try:
        for record in records:
            start = _data_offset(data, record, path)
            end = start + record.compress_size
            if record.compress_type != zipfile.ZIP_STORED or end > len(data):
                details = f"record {record.filename!r} is damaged"
                raise CheckpointError(CORRUPT_MESSAGE.format(path=path, details=details))
            if zlib.crc32(view[start:end]) != record.CRC:
                raise CheckpointError(CRC_MESSAGE.format(path=path, record=record.filename))
    finally:
        view.release()


def _data_offset(data: mmap.mmap, record: zipfile.ZipInfo, path: Path) -> int:
    offset = record.header_offset
    if offset < 0 or offset + _LOCAL_HEADER.size > len(data):
        raise CheckpointError(CORRUPT_MESSAGE.format(path=path, details=f"record {record.filename!r} is truncated"))
    fields = _LOCAL_HEADER.unpack_from(data, offset)
    if fields[0] != _LOCAL_SIGNATURE:
        raise CheckpointError(CORRUPT_MESSAGE.format(path=path, details=f"record {record.filename!r} is damaged"))
    name_length, extra_length = fields[-2], fields[-1]
    return offset + _LOCAL_HEADER.size + name_length + extra_length


def safe_torch_load(path: Path, *, map_location: str | torch.device = "cpu") -> Any:
    """Verified bytes through ``torch.load(weights_only=True)``; every failure a ``CheckpointError``."""
    path = Path(path)
    verify_crcs(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch refuses both pickled objects (an unsupported GLOBAL) and damaged pickles this way.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        refused = next((line for line in lines if "GLOBAL" in line.upper()), None)
        if refused is None:
            raise CheckpointError(CORRUPT_MESSAGE.format(path=path, details=_first_line(exc))) from exc
        # Keep what was refused, not torch's advice on how to allow-list it.
        refused = refused.removeprefix("WeightsUnpickler error: ").split(" Please use")[0]
        raise CheckpointError(UNSAFE_MESSAGE.format(path=path, details=refused)) from exc
    except Exception as exc:  # noqa: BLE001 - a damaged file reaches torch's internals in many ways
        raise CheckpointError(CORRUPT_MESSAGE.format(path=path, details=_first_line(exc))) from exc


def _first_line(exc: BaseException) -> str:
    """torch's reason without its advice: its messages suggest turning weights-only loading off, never right here."""
    lines = [line.strip().removeprefix("WeightsUnpickler error: ") for line in str(exc).splitlines()]
    kept = [line for line in lines if line and not any(advice in line.lower() for advice in _TORCH_ADVICE)]
    return f"{type(exc).__name__}: {kept[0] if kept else 'unreadable'}"
