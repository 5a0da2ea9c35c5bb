"""Checkpoint files: weights-only loads whatever the environment says, CRC checks, background writes."""

from __future__ import annotations

import os
import random
import struct
import zipfile
from pathlib import Path

import pytest
import torch

from esper_shell import checkpoint_files
from esper_shell.checkpoint_files import (
    CheckpointWriter,
    atomic_torch_save,
    safe_torch_load,
    temp_files,
    verify_crcs,
)
from esper_shell.errors import CheckpointError


class Exploit:
    """Unpickling this calls ``os.mkdir(marker)``: the directory existing proves the payload ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.marker,))


def write_exploit(path: Path, marker: Path, **fields: object) -> Path:
    """A torch file whose ``payload`` field runs code when unpickled without weights_only."""
    torch.save({**fields, "payload": Exploit(marker)}, path)
    return path


def flip_byte_in_storage(path: Path, offset: int = 5) -> None:
    """Flip one bit inside the first tensor storage record (``.../data/0``): the zip stays well-formed."""
    data = bytearray(path.read_bytes())
    record = next(info for info in zipfile.ZipFile(path).infolist() if info.filename.endswith("/data/0"))
    name_length, extra_length = struct.unpack_from("<HH", data, record.header_offset + 26)
    start = record.header_offset + 30 + name_length + extra_length
    data[start + offset] ^= 0x01
    path.write_bytes(bytes(data))


class TestWeightsOnlyWhateverTheEnvironment:
    def test_premise_plain_torch_load_runs_the_payload_when_the_variable_is_set(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
        marker = tmp_path / "ran"
        path = write_exploit(tmp_path / "evil.pt", marker)
        with pytest.warns(UserWarning, match="TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"):
            torch.load(path)
        assert marker.exists()

    def test_safe_torch_load_refuses_and_runs_nothing(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
        marker = tmp_path / "ran"
        path = write_exploit(tmp_path / "evil.pt", marker)
        with pytest.raises(CheckpointError, match="Refusing .*pickled Python objects"):
            safe_torch_load(path)
        assert not marker.exists()


class TestCorruptedFiles:
    def test_one_flipped_byte_in_a_tensor_is_refused_naming_the_record(self, tmp_path: Path) -> None:
        path = tmp_path / "weights.pt"
        atomic_torch_save({"w": torch.arange(100, dtype=torch.float32)}, path)
        flip_byte_in_storage(path)
        with pytest.raises(CheckpointError, match=r"record '.*data/0' fails its CRC check"):
            safe_torch_load(path)

    def test_premise_torch_load_itself_accepts_the_flipped_byte(self, tmp_path: Path) -> None:
        path = tmp_path / "weights.pt"
        original = torch.arange(100, dtype=torch.float32)
        atomic_torch_save({"w": original}, path)
        flip_byte_in_storage(path)
        assert not torch.equal(torch.load(path)["w"], original)

    def test_files_saved_with_crc_turned_off_elsewhere_still_get_crcs(self, tmp_path: Path) -> None:
        path = tmp_path / "w.pt"
        torch.serialization.set_crc32_options(False)
        try:
            atomic_torch_save({"w": torch.ones(3)}, path)
        finally:
            torch.serialization.set_crc32_options(True)
        assert all(record.CRC != 0 for record in zipfile.ZipFile(path).infolist())
        assert torch.equal(safe_torch_load(path)["w"], torch.ones(3))

    def test_file_saved_without_crcs_is_refused_saying_so(self, tmp_path: Path) -> None:
        path = tmp_path / "w.pt"
        torch.serialization.set_crc32_options(False)
        try:
            torch.save({"w": torch.ones(3)}, path)
        finally:
            torch.serialization.set_crc32_options(True)
        with pytest.raises(CheckpointError, match="saved without CRCs"):
            safe_torch_load(path)

    def test_garbage_is_unreadable_without_torchs_weights_only_false_advice(self, tmp_path: Path) -> None:
        path = tmp_path / "garbage.pt"
        path.write_bytes(b"not a checkpoint at all")
        with pytest.raises(CheckpointError, match="Cannot read") as caught:
            safe_torch_load(path)
        assert "weights_only" not in str(caught.value)

    def test_a_damaged_pickle_record_does_not_pass_on_torchs_advice(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.pt"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", b"\x80\x02garbage")
            archive.writestr("archive/version", b"3\n")
        with pytest.raises(CheckpointError, match="Cannot read") as caught:
            safe_torch_load(path)
        assert "weights_only" not in str(caught.value)

    @pytest.mark.parametrize("seed", range(60))
    def test_randomly_corrupted_files_raise_only_checkpoint_errors(self, tmp_path: Path, seed: int) -> None:
        """Truncations, flips anywhere (headers, central directory, pickle) and random splices."""
        path = tmp_path / "state.pt"
        weights = torch.randn(8, 4)
        atomic_torch_save({"w": weights, "meta": {"epoch": 3, "names": ["a", "b"]}}, path)
        rng = random.Random(seed)
        data = bytearray(path.read_bytes())
        kind = seed % 3
        if kind == 0:
            data = data[: rng.randrange(len(data))]
        elif kind == 1:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        else:
            start = rng.randrange(len(data))
            data[start : start + 16] = rng.randbytes(16)
        path.write_bytes(bytes(data))
        try:
            loaded = safe_torch_load(path)
        except CheckpointError:
            return
        # Some bytes (zip comments, padding) carry nothing: then the content must be intact.
        assert loaded["meta"] == {"epoch": 3, "names": ["a", "b"]}
        assert torch.equal(loaded["w"], weights)

    def test_missing_file_says_so(self, tmp_path: Path) -> None:
        with pytest.raises(CheckpointError, match="No checkpoint at"):
            verify_crcs(tmp_path / "none.pt")


class TestBackgroundWriter:
    def test_file_is_complete_and_loadable_after_wait(self, tmp_path: Path) -> None:
        writer = CheckpointWriter()
        path = tmp_path / "latest.pt"
        writer.save([(path, {"epoch": 1, "w": torch.ones(2)})])
        writer.wait()
        assert safe_torch_load(path)["epoch"] == 1

    def test_payload_is_captured_at_save_not_when_written(self, tmp_path: Path) -> None:
        writer = CheckpointWriter()
        path = tmp_path / "latest.pt"
        weights = torch.zeros(3)
        writer.save([(path, {"w": weights})])
        weights.add_(1.0)
        writer.wait()
        assert torch.equal(safe_torch_load(path)["w"], torch.zeros(3))

    def test_background_failure_surfaces_at_the_next_save_and_keeps_the_old_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "latest.pt"
        writer = CheckpointWriter()
        writer.save([(path, {"epoch": 1})])
        writer.wait()

        def disk_full(fd: int) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(checkpoint_files.os, "fsync", disk_full)
        writer.save([(path, {"epoch": 2})])
        with pytest.raises(CheckpointError, match="disk full"):
            writer.save([(path, {"epoch": 3})])
        monkeypatch.undo()
        writer.wait()
        assert safe_torch_load(path)["epoch"] == 1
        assert temp_files(path) == []

    def test_background_failure_surfaces_once_at_wait(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        def disk_full(fd: int) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(checkpoint_files.os, "fsync", disk_full)
        writer = CheckpointWriter()
        writer.save([(tmp_path / "latest.pt", {"epoch": 1})])
        with pytest.raises(CheckpointError, match="latest.pt failed: disk full. The previous checkpoint is intact"):
            writer.wait()
        writer.wait()

    def test_a_file_that_cannot_be_written_is_refused_at_save_and_nothing_is_renamed(self, tmp_path: Path) -> None:
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("")
        first, second = tmp_path / "first.pt", blocker / "second.pt"
        writer = CheckpointWriter()
        with pytest.raises(CheckpointError, match="second.pt failed"):
            writer.save([(first, {"n": 1}), (second, {"n": 2})])
        writer.wait()
        assert list(tmp_path.iterdir()) == [blocker]

    def test_files_of_one_save_stop_at_the_first_background_failure(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        first, second = tmp_path / "first.pt", tmp_path / "second.pt"
        real_replace = os.replace

        def refuse_first(source: str, target: Path) -> None:
            if Path(target) == first:
                raise OSError("read-only")
            real_replace(source, target)

        monkeypatch.setattr(checkpoint_files.os, "replace", refuse_first)
        writer = CheckpointWriter()
        writer.save([(first, {"n": 1}), (second, {"n": 2})])
        with pytest.raises(CheckpointError, match="first.pt failed: read-only"):
            writer.wait()
        assert list(tmp_path.iterdir()) == []
