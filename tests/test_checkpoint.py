"""Checkpoints: weights-only loading, restoring every stage into a fresh model, refusing bad files."""

from __future__ import annotations

import copy
import os
import pickle
from pathlib import Path

import pytest
import torch

from esper_core import SeedStage
from esper_shell import checkpoint as checkpoint_module
from esper_shell.checkpoint import load_checkpoint, save_checkpoint
from esper_shell.errors import CheckpointError
from esper_shell.model import MorphogeneticModel
from tests.shell_helpers import bring_to, images, tiny_cnn
from tests.test_checkpoint_files import flip_byte_in_storage, write_exploit

SLOTS = ["r0c0", "r1c0", "r2c0"]


def _model(host_seed: int = 0) -> MorphogeneticModel:
    return MorphogeneticModel(tiny_cnn(seed=host_seed), SLOTS)


def _trained_step(model: MorphogeneticModel) -> None:
    """One optimizer step so that weights differ from any freshly built model."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(images()).square().mean().backward()
    optimizer.step()


STAGES = [
    (SeedStage.GERMINATED, "linear", 0),
    (SeedStage.TRAINING, "linear", 0),
    (SeedStage.BLENDING, "linear", 2),
    (SeedStage.BLENDING, "sigmoid", 3),
    (SeedStage.BLENDING, "gated", 2),
    (SeedStage.PROBATIONARY, "gated", 0),
    (SeedStage.FOSSILIZED, "sigmoid", 0),
]


class TestRoundTrip:
    @pytest.mark.parametrize(("stage", "blend", "steps"), STAGES)
    def test_fresh_model_restores_stage_schedule_and_outputs(
        self, tmp_path: Path, stage: SeedStage, blend: str, steps: int
    ) -> None:
        model = _model()
        bring_to(model, "r1c0", stage, blend=blend, blend_steps_done=steps)
        _trained_step(model)
        model.eval()
        path = tmp_path / "model.pt"
        save_checkpoint(path, model)

        fresh = _model(host_seed=7)
        load_checkpoint(path, fresh)
        fresh.eval()
        saved, restored = model.slot("r1c0").state, fresh.slot("r1c0").state
        assert restored == saved
        assert fresh.slot("r1c0").alpha == model.slot("r1c0").alpha or blend == "gated"
        with torch.no_grad():
            assert torch.equal(fresh(images()), model(images()))

    def test_plain_torch_load_and_strict_load_state_dict_restore_the_seed(self, tmp_path: Path) -> None:
        model = _model()
        bring_to(model, "r2c0", SeedStage.BLENDING, blend="gated", blend_steps_done=1)
        path = tmp_path / "model.pt"
        save_checkpoint(path, model)
        fresh = _model(host_seed=3)
        fresh.load_state_dict(torch.load(path)["model"], strict=True)
        assert fresh.slot("r2c0").gate is not None
        assert fresh.slot("r2c0").state == model.slot("r2c0").state

    def test_extra_state_holds_only_primitives(self) -> None:
        model = _model()
        bring_to(model, "r0c0", SeedStage.BLENDING, blend="sigmoid", blend_steps_done=1)

        def primitive(value: object) -> bool:
            if isinstance(value, dict):
                return all(isinstance(k, str) and primitive(v) for k, v in value.items())
            if isinstance(value, list):
                return all(primitive(v) for v in value)
            return value is None or isinstance(value, (str, int, float, bool))

        extra = model.slot("r0c0").get_extra_state()
        assert set(extra) == {"schema", "seed_state", "blend", "isolate_gradients"}
        assert primitive(extra)

    def test_integrated_gate_is_absent_from_the_checkpoint(self, tmp_path: Path) -> None:
        model = _model()
        bring_to(model, "r0c0", SeedStage.PROBATIONARY, blend="gated")
        path = tmp_path / "model.pt"
        save_checkpoint(path, model)
        assert not any(".gate." in key for key in torch.load(path)["model"])

    def test_extra_payload_round_trips(self, tmp_path: Path) -> None:
        path = tmp_path / "model.pt"
        save_checkpoint(path, _model(), extra={"epoch": 4, "note": "hello"})
        assert load_checkpoint(path, _model()) == {"epoch": 4, "note": "hello"}


class TestMismatches:
    def test_other_slots_are_refused_naming_both(self, tmp_path: Path) -> None:
        path = tmp_path / "model.pt"
        save_checkpoint(path, _model())
        other = MorphogeneticModel(tiny_cnn(), ["r0c0", "r1c0"])
        with pytest.raises(CheckpointError, match=r"\['r0c0', 'r1c0', 'r2c0'\].*\['r0c0', 'r1c0'\]"):
            load_checkpoint(path, other)

    def test_other_host_is_refused_before_anything_changes(self, tmp_path: Path) -> None:
        path = tmp_path / "model.pt"
        save_checkpoint(path, _model())
        other = MorphogeneticModel(tiny_cnn((2, 1, 1)), SLOTS)
        before = {k: v.clone() for k, v in other.state_dict().items() if isinstance(v, torch.Tensor)}
        with pytest.raises(CheckpointError, match="host"):
            load_checkpoint(path, other)
        after = other.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)

    def test_unknown_blueprint_is_refused(self, tmp_path: Path) -> None:
        model = _model()
        bring_to(model, "r0c0", SeedStage.TRAINING)
        payload = {"format": "esper.model", "version": 1}
        path = tmp_path / "model.pt"
        save_checkpoint(path, model)
        payload = torch.load(path)
        payload["model"]["seed_slots.r0c0._extra_state"]["seed_state"]["blueprint_id"] = "mystery"
        torch.save(payload, path)
        fresh = _model()
        with pytest.raises(CheckpointError, match="mystery"):
            load_checkpoint(path, fresh)
        assert fresh.slot("r0c0").state is None

    def test_seed_state_of_another_slot_is_refused_before_anything_changes(self, tmp_path: Path) -> None:
        model = _model()
        bring_to(model, "r0c0", SeedStage.TRAINING)
        path = tmp_path / "model.pt"
        save_checkpoint(path, model)
        payload = torch.load(path)
        payload["model"]["seed_slots.r0c0._extra_state"]["seed_state"]["slot_id"] = "r1c0"
        torch.save(payload, path)
        fresh = _model()
        with pytest.raises(CheckpointError, match="state of slot r1c0"):
            load_checkpoint(path, fresh)
        assert fresh.slot("r0c0").state is None

    def test_wrong_schema_version_is_refused(self, tmp_path: Path) -> None:
        model = _model()
        path = tmp_path / "model.pt"
        save_checkpoint(path, model)
        payload = torch.load(path)
        payload["model"]["seed_slots.r1c0._extra_state"]["schema"] = 99
        torch.save(payload, path)
        with pytest.raises(CheckpointError, match="schema version 99"):
            load_checkpoint(path, _model())

    def test_missing_weights_are_named(self, tmp_path: Path) -> None:
        model = _model()
        bring_to(model, "r0c0", SeedStage.TRAINING)
        path = tmp_path / "model.pt"
        save_checkpoint(path, model)
        payload = torch.load(path)
        key = next(k for k in payload["model"] if k.startswith("seed_slots.r0c0.seed."))
        del payload["model"][key]
        torch.save(payload, path)
        with pytest.raises(CheckpointError, match=f"missing: {key}"):
            load_checkpoint(path, _model())


class Exploit:
    def __reduce__(self) -> tuple:
        return (os.getcwd, ())


class TestUnsafeOrBrokenFiles:
    def test_arbitrary_pickled_objects_are_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "evil.pt"
        torch.save({"model": Exploit()}, path)
        with pytest.raises(CheckpointError, match="Refusing"):
            load_checkpoint(path, _model())

    def test_plain_pickle_file_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "evil.pkl"
        path.write_bytes(pickle.dumps(Exploit()))
        with pytest.raises(CheckpointError):
            load_checkpoint(path, _model())

    def test_missing_file_says_so(self, tmp_path: Path) -> None:
        with pytest.raises(CheckpointError, match="No checkpoint at"):
            load_checkpoint(tmp_path / "nope.pt", _model())

    def test_truncated_file_is_reported_as_unreadable(self, tmp_path: Path) -> None:
        path = tmp_path / "model.pt"
        save_checkpoint(path, _model())
        path.write_bytes(path.read_bytes()[:100])
        with pytest.raises(CheckpointError, match="Cannot read"):
            load_checkpoint(path, _model())


class TestAtomicSave:
    def test_crash_during_save_leaves_previous_file_intact(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "model.pt"
        save_checkpoint(path, _model(), extra={"version": "old"})
        before = path.read_bytes()

        def crash(obj: object, target: str) -> None:
            Path(target).write_bytes(b"partial")
            raise OSError("disk full")

        monkeypatch.setattr(checkpoint_module.torch, "save", crash)
        with pytest.raises(OSError, match="disk full"):
            save_checkpoint(path, _model(), extra={"version": "new"})
        assert path.read_bytes() == before
        assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_garbage_bytes_are_reported_as_unreadable_not_unsafe(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="Cannot read"):
        load_checkpoint(path, _model())


def _snapshot(model: MorphogeneticModel) -> dict[str, object]:
    """Everything a load could change: tensors (cloned), seed and model extra states, the module tree."""
    return {
        key: value.clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)
        for key, value in model.state_dict().items()
    } | {"modules": [name for name, _ in model.named_modules()]}


def _same(before: dict[str, object], after: dict[str, object]) -> bool:
    if before.keys() != after.keys():
        return False
    return all(
        torch.equal(value, after[key]) if isinstance(value, torch.Tensor) else value == after[key]
        for key, value in before.items()
    )


def _host_key(payload: dict) -> str:
    return next(key for key in payload["model"] if key.startswith("host.") and key.endswith("weight"))


def _drop_extra(payload: dict) -> None:
    del payload["extra"]


def _string_tensor(payload: dict) -> None:
    payload["model"][_host_key(payload)] = "not a tensor"


def _int64_tensor(payload: dict) -> None:
    key = _host_key(payload)
    payload["model"][key] = payload["model"][key].to(torch.int64)


def _float64_tensor(payload: dict) -> None:
    key = _host_key(payload)
    payload["model"][key] = payload["model"][key].to(torch.float64)


def _model_extra(field: str, value: object) -> object:
    def tamper(payload: dict) -> None:
        payload["model"]["_extra_state"][field] = value

    tamper.__name__ = f"_model_{field}_{value}"
    return tamper


def _blend_past_its_end(payload: dict) -> None:
    payload["model"]["seed_slots.r1c0._extra_state"]["blend"].update(current_step=999, total_steps=3)


def _key_not_a_string(payload: dict) -> None:
    payload["model"][7] = torch.zeros(1)


def _extra_not_a_dict(payload: dict) -> None:
    payload["extra"] = [1, 2]


def _model_extra_missing(payload: dict) -> None:
    del payload["model"]["_extra_state"]


def _tensor_format(payload: dict) -> None:
    payload["format"] = torch.zeros(2)


def _tensor_in_slot_ids(payload: dict) -> None:
    payload["slot_ids"][1] = torch.zeros(())


def _bool_version(payload: dict) -> None:
    payload["version"] = True


TAMPERINGS = [
    (_tensor_format, "not an Esper model checkpoint"),
    (_bool_version, "not an Esper model checkpoint"),
    (_tensor_in_slot_ids, "Checkpoint slots .* differ"),
    (_drop_extra, "lacks extra"),
    (_extra_not_a_dict, "'extra' must be a dict"),
    (_string_tensor, r"not a tensor: host\..*\(str\)"),
    (_int64_tensor, r"dtype mismatch: host\..* torch.int64 != torch.float32"),
    (_float64_tensor, r"dtype mismatch: .* torch.float64 != torch.float32"),
    (_model_extra("epoch", -5), "epoch = -5"),
    (_model_extra("seeds_created", -3), "seeds_created = -3"),
    (_model_extra("epoch", 2.5), "epoch = 2.5"),
    (_model_extra("schema", 99), "schema version 99"),
    (_model_extra_missing, r"_extra_state\) must be a dict"),
    (_blend_past_its_end, "step 999 of 3"),
    (_key_not_a_string, "keys that are not strings: 7"),
]


class TestValidateBeforeChange:
    @pytest.mark.parametrize(("tamper", "message"), TAMPERINGS, ids=[t.__name__ for t, _ in TAMPERINGS])
    def test_tampered_checkpoint_is_refused_and_the_model_is_unchanged(
        self, tmp_path: Path, tamper: object, message: str
    ) -> None:
        saved = _model()
        bring_to(saved, "r1c0", SeedStage.BLENDING, blend="linear", blend_steps_done=1)
        path = tmp_path / "model.pt"
        save_checkpoint(path, saved, extra={"epoch": 1})
        payload = torch.load(path)
        tamper(payload)
        torch.save(payload, path)

        target = _model(host_seed=5)
        bring_to(target, "r0c0", SeedStage.TRAINING)
        before = _snapshot(target)
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(path, target)
        assert _same(before, _snapshot(target))


class TestSecurity:
    def test_pickled_payload_is_not_run_even_with_the_force_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
        marker = tmp_path / "ran"
        path = write_exploit(tmp_path / "evil.pt", marker, format="esper.model", version=1)
        with pytest.raises(CheckpointError, match="Refusing"):
            load_checkpoint(path, _model())
        assert not marker.exists()

    def test_flipped_byte_in_a_weight_is_refused_and_the_model_is_unchanged(self, tmp_path: Path) -> None:
        path = tmp_path / "model.pt"
        save_checkpoint(path, _model())
        flip_byte_in_storage(path)
        target = _model(host_seed=5)
        before = _snapshot(target)
        with pytest.raises(CheckpointError, match="CRC"):
            load_checkpoint(path, target)
        assert _same(before, _snapshot(target))
