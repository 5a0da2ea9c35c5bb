"""The data layer: embedded tasks, local-copy readers, and minibatching (DESIGN §11)."""

from __future__ import annotations

import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from esper_shell.data import (
    ClassificationData,
    DataError,
    GratingStyle,
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
from esper_shell.data.normalise import normalise_per_channel_
from esper_shell.data.splits import stratified_split

PIXELS = 3072
SMALL_SYNTHETIC = {"n_train": 200, "n_val": 100}


def _classification(**overrides: object) -> ClassificationData:
    fields: dict[str, object] = {
        "train_x": torch.zeros(4, 1, 2, 2),
        "train_y": torch.tensor([0, 1, 0, 1]),
        "val_x": torch.zeros(2, 1, 2, 2),
        "val_y": torch.tensor([0, 1]),
        "num_classes": 2,
        "in_channels": 1,
        "image_size": 2,
    }
    fields.update(overrides)
    return ClassificationData(**fields)


def _channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return images.mean(dim=(0, 2, 3)), images.std(dim=(0, 2, 3))


class TestRecords:
    def test_a_consistent_classification_data_set_is_accepted(self) -> None:
        assert _classification().num_classes == 2

    def test_images_whose_channels_disagree_with_in_channels_are_rejected(self) -> None:
        with pytest.raises(DataError, match="in_channels"):
            _classification(in_channels=3)

    def test_labels_outside_num_classes_are_rejected(self) -> None:
        with pytest.raises(DataError, match="num_classes"):
            _classification(val_y=torch.tensor([0, 2]))

    def test_one_label_per_image_is_required(self) -> None:
        with pytest.raises(DataError, match="one per image"):
            _classification(train_y=torch.tensor([0, 1]))

    def test_token_ids_must_fit_the_vocabulary(self) -> None:
        with pytest.raises(DataError, match="vocab_size"):
            TextData(train_tokens=torch.tensor([0, 9]), val_tokens=torch.tensor([1]), vocab_size=5)

    def test_tokens_must_be_a_one_dimensional_stream(self) -> None:
        with pytest.raises(DataError, match="1-D"):
            TextData(train_tokens=torch.zeros(2, 2, dtype=torch.uint8), val_tokens=torch.tensor([1]), vocab_size=5)


class TestNormalisation:
    def test_both_splits_are_standardised_with_the_train_statistics(self) -> None:
        generator = torch.Generator().manual_seed(0)
        train = torch.randn(50, 2, 4, 4, generator=generator) * 3.0 + 5.0
        val = torch.randn(20, 2, 4, 4, generator=generator) - 7.0
        mean, std = train.mean(dim=(0, 2, 3)).view(1, -1, 1, 1), train.std(dim=(0, 2, 3)).view(1, -1, 1, 1)
        expected_val = (val - mean) / std
        normalise_per_channel_(train, val)
        torch.testing.assert_close(val, expected_val)

    def test_a_constant_channel_becomes_zeros_not_nans(self) -> None:
        train, val = torch.full((3, 1, 2, 2), 4.0), torch.full((1, 1, 2, 2), 4.0)
        normalise_per_channel_(train, val)
        assert torch.equal(train, torch.zeros_like(train))


class TestStratifiedSplit:
    LABELS = np.repeat(np.arange(4), [10, 20, 5, 2])

    def test_splits_are_disjoint_and_cover_every_example(self) -> None:
        train, val = stratified_split(self.LABELS, val_fraction=0.3, seed=0)
        assert np.intersect1d(train, val).size == 0
        assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(self.LABELS.size))

    def test_every_class_appears_in_both_splits(self) -> None:
        train, val = stratified_split(self.LABELS, val_fraction=0.1, seed=0)
        assert set(self.LABELS[train]) == set(self.LABELS[val]) == {0, 1, 2, 3}

    def test_each_class_is_split_in_the_requested_proportion(self) -> None:
        _, val = stratified_split(self.LABELS, val_fraction=0.2, seed=0)
        assert np.bincount(self.LABELS[val]).tolist() == [2, 4, 1, 1]

    def test_the_seed_decides_the_split(self) -> None:
        first = stratified_split(self.LABELS, val_fraction=0.3, seed=1)[1]
        assert np.array_equal(first, stratified_split(self.LABELS, val_fraction=0.3, seed=1)[1])
        assert not np.array_equal(first, stratified_split(self.LABELS, val_fraction=0.3, seed=2)[1])

    def test_a_class_with_a_single_example_cannot_be_stratified(self) -> None:
        with pytest.raises(DataError, match="class 7"):
            stratified_split(np.array([0, 0, 7]), val_fraction=0.5, seed=0)

    @pytest.mark.parametrize("val_fraction", [0.0, 1.0, -0.1])
    def test_val_fraction_must_leave_both_splits_non_empty(self, val_fraction: float) -> None:
        with pytest.raises(DataError, match="val_fraction"):
            stratified_split(self.LABELS, val_fraction=val_fraction, seed=0)


class TestLoadDigits:
    def test_images_are_upsampled_to_image_size_with_one_channel(self) -> None:
        data = load_digits(image_size=16)
        assert data.train_x.shape[1:] == (1, 16, 16)
        assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
        assert (data.num_classes, data.in_channels, data.image_size) == (10, 1, 16)

    def test_all_1797_digits_are_split_by_val_fraction(self) -> None:
        data = load_digits(val_fraction=0.2)
        assert data.train_x.shape[0] + data.val_x.shape[0] == 1797
        assert data.val_x.shape[0] == pytest.approx(0.2 * 1797, abs=10)

    def test_image_size_8_keeps_the_native_integer_grey_levels(self) -> None:
        data = load_digits(image_size=8)
        assert data.train_x.shape[1:] == (1, 8, 8)
        assert torch.unique(data.train_x).numel() == 17

    def test_every_class_is_in_both_splits(self) -> None:
        data = load_digits()
        assert set(data.train_y.tolist()) == set(data.val_y.tolist()) == set(range(10))

    def test_train_split_is_standardised(self) -> None:
        mean, std = _channel_stats(load_digits().train_x)
        torch.testing.assert_close(mean, torch.zeros(1), atol=1e-5, rtol=0)
        torch.testing.assert_close(std, torch.ones(1), atol=1e-4, rtol=0)

    def test_the_same_seed_gives_identical_tensors(self) -> None:
        first, second = load_digits(seed=3), load_digits(seed=3)
        assert torch.equal(first.val_x, second.val_x) and torch.equal(first.val_y, second.val_y)

    def test_a_different_seed_gives_a_different_split(self) -> None:
        assert not torch.equal(load_digits(seed=0).val_y, load_digits(seed=1).val_y)

    def test_a_non_positive_image_size_is_refused(self) -> None:
        with pytest.raises(DataError, match="image_size=0"):
            load_digits(image_size=0)


class TestMakeSynthetic:
    def test_images_are_rgb_at_image_size(self) -> None:
        data = make_synthetic(**SMALL_SYNTHETIC, image_size=32)
        assert data.train_x.shape == (200, 3, 32, 32) and data.val_x.shape == (100, 3, 32, 32)
        assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
        assert (data.num_classes, data.in_channels, data.image_size) == (10, 3, 32)

    def test_classes_are_balanced(self) -> None:
        data = make_synthetic(**SMALL_SYNTHETIC, num_classes=5)
        assert torch.bincount(data.train_y).tolist() == [40] * 5

    def test_train_split_is_standardised_per_channel(self) -> None:
        mean, std = _channel_stats(make_synthetic(**SMALL_SYNTHETIC).train_x)
        torch.testing.assert_close(mean, torch.zeros(3), atol=1e-5, rtol=0)
        torch.testing.assert_close(std, torch.ones(3), atol=1e-4, rtol=0)

    def test_the_same_seed_gives_identical_tensors(self) -> None:
        first, second = make_synthetic(**SMALL_SYNTHETIC, seed=4), make_synthetic(**SMALL_SYNTHETIC, seed=4)
        assert torch.equal(first.train_x, second.train_x) and torch.equal(first.train_y, second.train_y)

    def test_a_different_seed_gives_different_images(self) -> None:
        assert not torch.equal(
            make_synthetic(**SMALL_SYNTHETIC, seed=0).train_x, make_synthetic(**SMALL_SYNTHETIC, seed=1).train_x
        )

    def test_the_validation_set_does_not_depend_on_n_train(self) -> None:
        small, large = make_synthetic(n_train=50, n_val=30), make_synthetic(n_train=80, n_val=30)
        assert torch.equal(small.val_y, large.val_y)
        for channel in range(3):
            pixels = torch.stack([small.val_x[:, channel].flatten(), large.val_x[:, channel].flatten()])
            assert torch.corrcoef(pixels)[0, 1] > 0.9999  # equal up to the train split's normalisation

    def test_the_global_rng_is_left_untouched(self) -> None:
        torch.manual_seed(11)
        expected = torch.rand(3)
        torch.manual_seed(11)
        make_synthetic(**SMALL_SYNTHETIC)
        assert torch.equal(torch.rand(3), expected)

    def test_mean_colour_does_not_reveal_the_class(self) -> None:
        from sklearn.linear_model import LogisticRegression

        data = make_synthetic(n_train=2000, n_val=1000)
        features = [split.mean(dim=(2, 3)).numpy() for split in (data.train_x, data.val_x)]
        model = LogisticRegression(max_iter=500).fit(features[0], data.train_y.numpy())
        assert model.score(features[1], data.val_y.numpy()) < 0.2

    @pytest.mark.parametrize("bad", [{"n_train": 0}, {"n_val": 0}, {"image_size": 0}, {"num_classes": 1}])
    def test_impossible_sizes_are_refused(self, bad: dict[str, int]) -> None:
        with pytest.raises(DataError, match="make_synthetic"):
            make_synthetic(**bad)

    def test_a_style_whose_minimum_exceeds_its_maximum_is_refused(self) -> None:
        with pytest.raises(DataError, match="min_cycles must not exceed max_cycles"):
            GratingStyle(min_cycles=6.0, max_cycles=3.0)

    @pytest.mark.slow
    def test_a_tiny_cnn_learns_it_well_above_chance_but_not_perfectly(self) -> None:
        torch.manual_seed(0)
        data = make_synthetic(n_train=3000, n_val=1000)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(), torch.nn.Linear(64, 10),
        )  # fmt: skip
        optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
        generator = torch.Generator().manual_seed(0)
        for _ in range(6):
            for inputs, targets in iterate_batches(data.train_x, data.train_y, 64, generator=generator):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(net(inputs), targets).backward()
                optimizer.step()
        with torch.no_grad():
            accuracy = (net(data.val_x).argmax(dim=1) == data.val_y).float().mean().item()
        assert 0.3 < accuracy < 0.98


SMALL_MNIST1D = 200


@pytest.fixture(scope="module")
def mnist1d() -> SignalData:
    return load_mnist1d(seed=0)


class TestLoadMnist1D:
    def test_it_has_the_papers_4000_train_and_1000_test_signals_of_length_40(self, mnist1d: SignalData) -> None:
        assert (tuple(mnist1d.train_x.shape), tuple(mnist1d.val_x.shape)) == ((4000, 1, 40), (1000, 1, 40))

    def test_every_class_is_in_both_splits(self, mnist1d: SignalData) -> None:
        assert set(mnist1d.train_y.tolist()) == set(mnist1d.val_y.tolist()) == set(range(10))

    def test_train_split_is_standardised(self, mnist1d: SignalData) -> None:
        assert abs(mnist1d.train_x.mean().item()) < 1e-5 and abs(mnist1d.train_x.std().item() - 1.0) < 1e-3

    def test_the_same_seed_gives_identical_tensors(self) -> None:
        first, second = load_mnist1d(num_samples=SMALL_MNIST1D, seed=3), load_mnist1d(num_samples=SMALL_MNIST1D, seed=3)
        assert torch.equal(first.train_x, second.train_x) and torch.equal(first.val_y, second.val_y)

    def test_a_different_seed_gives_different_signals(self) -> None:
        first, second = load_mnist1d(num_samples=SMALL_MNIST1D, seed=0), load_mnist1d(num_samples=SMALL_MNIST1D, seed=1)
        assert not torch.equal(first.train_x, second.train_x)

    def test_the_global_rngs_the_generator_seeds_are_restored(self) -> None:
        import random

        random.seed(5)
        np.random.seed(5)
        expected = (random.random(), np.random.rand())
        random.seed(5)
        np.random.seed(5)
        load_mnist1d(num_samples=SMALL_MNIST1D, seed=9)
        assert (random.random(), np.random.rand()) == expected

    @pytest.mark.parametrize("num_samples", [0, 15, 20])
    def test_counts_the_generator_cannot_split_are_refused(self, num_samples: int) -> None:
        with pytest.raises(DataError, match="multiple of 10"):
            load_mnist1d(num_samples=num_samples)

    def test_a_missing_package_fails_with_the_install_command(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "mnist1d.data", None)
        with pytest.raises(DataError, match="pip install mnist1d"):
            load_mnist1d(num_samples=SMALL_MNIST1D, seed=404)  # a seed no other test generates (no cache hit)

    def test_changing_a_loaded_tensor_does_not_change_the_next_load(self) -> None:
        first = load_mnist1d(num_samples=SMALL_MNIST1D, seed=3)
        expected = first.train_x.clone()
        first.train_x.zero_()
        assert torch.equal(load_mnist1d(num_samples=SMALL_MNIST1D, seed=3).train_x, expected)

    def test_signals_whose_length_disagrees_with_the_record_are_rejected(self) -> None:
        with pytest.raises(DataError, match=r"\(N, 1, 40\)"):
            SignalData(
                train_x=torch.zeros(2, 1, 39),
                train_y=torch.tensor([0, 1]),
                val_x=torch.zeros(2, 1, 40),
                val_y=torch.tensor([0, 1]),
                num_classes=2,
                in_channels=1,
                length=40,
            )


class TestLoadPydoc:
    def test_it_is_a_byte_level_corpus(self) -> None:
        data = load_pydoc()
        assert data.vocab_size == 256
        assert data.train_tokens.dtype == torch.uint8 and data.train_tokens.dim() == 1

    def test_the_splits_are_the_sorted_topics_with_the_tail_as_validation(self) -> None:
        import pydoc_data.topics

        topics = pydoc_data.topics.topics
        corpus = "\n\n".join(topics[key] for key in sorted(topics)).encode("utf-8")
        data = load_pydoc(val_fraction=0.25)
        assert bytes(torch.cat([data.train_tokens, data.val_tokens]).tolist()) == corpus
        assert data.val_tokens.numel() == round(0.25 * len(corpus))

    def test_a_python_without_pydoc_data_fails_with_instructions(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "pydoc_data.topics", None)
        with pytest.raises(DataError, match="pydoc_data.topics.*another task"):
            load_pydoc()


def _python2_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch exactly as the official release stores it: cPickle protocol 2 from Python 2.

    Python 3 cannot write this (its ``str`` is not bytes), so the opcodes are spelled out:
    byte-string keys, ``numpy.core`` globals, and the array's pixels as a raw byte string.
    """

    def string(value: bytes) -> bytes:
        return b"U" + bytes([len(value)]) + value

    def small(value: int) -> bytes:
        return b"K" + bytes([value])

    def word(value: int) -> bytes:
        return b"M" + struct.pack("<H", value)

    def signed(value: int) -> bytes:
        return b"J" + struct.pack("<i", value)

    dtype = b"cnumpy\ndtype\n" + string(b"u1") + small(0) + small(1) + b"\x87R"
    dtype += b"(" + small(3) + string(b"|") + b"NNN" + signed(-1) + signed(-1) + small(0) + b"tb"
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + small(0) + b"\x85" + string(b"b") + b"\x87R"
    raw = data.tobytes()
    array += b"(" + small(1) + word(data.shape[0]) + word(data.shape[1]) + b"\x86" + dtype + b"\x89"
    array += b"T" + struct.pack("<i", len(raw)) + raw + b"tb"
    label_list = b"](" + b"".join(small(label) for label in labels) + b"e"
    return b"\x80\x02}(" + string(b"data") + array + string(b"labels") + label_list + b"u."


def _fake_batches(count: int = 4) -> list[tuple[np.ndarray, list[int]]]:
    """Six tiny batches (five train, one test) whose red images are class 0, blue ones class 1."""
    batches = []
    for index in range(6):
        labels = [(index + row) % 2 for row in range(count)]
        data = np.zeros((count, PIXELS), dtype=np.uint8)
        for row, label in enumerate(labels):
            channel = 0 if label == 0 else 2
            data[row, channel * 1024 : (channel + 1) * 1024] = 200 + index
        batches.append((data, labels))
    return batches


PY_NAMES = [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]
BIN_NAMES = [f"{name}.bin" for name in PY_NAMES]


def _write_python_release(folder: Path, *, python2: bool = False) -> Path:
    folder.mkdir(parents=True)
    for name, (data, labels) in zip(PY_NAMES, _fake_batches(), strict=True):
        if python2:
            (folder / name).write_bytes(_python2_pickle(data, labels))
        else:
            batch = {b"batch_label": name.encode(), b"data": data, b"labels": labels, b"filenames": []}
            (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def _write_binary_release(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, (data, labels) in zip(BIN_NAMES, _fake_batches(), strict=True):
        records = np.concatenate([np.array(labels, dtype=np.uint8)[:, None], data], axis=1)
        (folder / name).write_bytes(records.tobytes())
    return folder


class TestLoadCifar10:
    def test_the_python_release_gives_train_batches_and_test_batch_as_validation(self, tmp_path: Path) -> None:
        data = load_cifar10(_write_python_release(tmp_path / "cifar-10-batches-py"))
        assert data.train_x.shape == (20, 3, 32, 32) and data.val_x.shape == (4, 3, 32, 32)
        assert data.train_y.tolist()[:4] == [0, 1, 0, 1] and data.val_y.tolist() == [1, 0, 1, 0]
        assert (data.num_classes, data.in_channels, data.image_size) == (10, 3, 32)

    def test_the_parent_of_the_release_folder_is_accepted(self, tmp_path: Path) -> None:
        _write_python_release(tmp_path / "cifar-10-batches-py")
        assert load_cifar10(tmp_path).train_x.shape[0] == 20

    def test_the_official_python2_pickles_are_read(self, tmp_path: Path) -> None:
        modern = load_cifar10(_write_python_release(tmp_path / "modern"))
        legacy = load_cifar10(_write_python_release(tmp_path / "legacy", python2=True))
        assert torch.equal(modern.train_x, legacy.train_x) and torch.equal(modern.train_y, legacy.train_y)

    def test_the_binary_release_reads_the_same_images_as_the_python_one(self, tmp_path: Path) -> None:
        _write_binary_release(tmp_path / "bin" / "cifar-10-batches-bin")
        binary = load_cifar10(tmp_path / "bin")
        python = load_cifar10(_write_python_release(tmp_path / "py"))
        assert torch.equal(binary.train_x, python.train_x) and torch.equal(binary.val_y, python.val_y)

    def test_each_row_is_read_as_red_then_green_then_blue_planes(self, tmp_path: Path) -> None:
        data = load_cifar10(_write_binary_release(tmp_path / "cifar-10-batches-bin"))
        red, blue = data.train_x[:, 0].mean(dim=(1, 2)), data.train_x[:, 2].mean(dim=(1, 2))
        assert torch.equal(red > blue, data.train_y == 0)

    def test_the_train_split_is_standardised_per_channel(self, tmp_path: Path) -> None:
        mean, _ = _channel_stats(load_cifar10(_write_binary_release(tmp_path / "cifar-10-batches-bin")).train_x)
        torch.testing.assert_close(mean, torch.zeros(3), atol=1e-5, rtol=0)

    def test_a_missing_copy_fails_with_download_instructions(self, tmp_path: Path) -> None:
        with pytest.raises(DataError) as caught:
            load_cifar10(tmp_path)
        message = str(caught.value)
        assert str(tmp_path) in message and "never downloads" in message
        assert "cifar-10-batches-py" in message and "cifar-10-batches-bin" in message

    def test_an_incomplete_copy_names_the_missing_files(self, tmp_path: Path) -> None:
        folder = _write_binary_release(tmp_path / "cifar-10-batches-bin")
        (folder / "test_batch.bin").unlink()
        with pytest.raises(DataError, match=r"missing test_batch\.bin"):
            load_cifar10(tmp_path)

    def test_a_binary_batch_of_the_wrong_size_is_malformed(self, tmp_path: Path) -> None:
        folder = _write_binary_release(tmp_path / "cifar-10-batches-bin")
        (folder / "data_batch_3.bin").write_bytes(b"\x00" * 100)
        with pytest.raises(DataError, match=r"data_batch_3\.bin is not a CIFAR-10 binary batch.*3073"):
            load_cifar10(folder)

    def test_a_label_beyond_nine_is_malformed(self, tmp_path: Path) -> None:
        folder = _write_binary_release(tmp_path / "cifar-10-batches-bin")
        (folder / "test_batch.bin").write_bytes(bytes([12]) + bytes(PIXELS))
        with pytest.raises(DataError, match="label 12"):
            load_cifar10(folder)

    def test_a_pickle_that_is_not_a_batch_dict_is_malformed(self, tmp_path: Path) -> None:
        folder = _write_python_release(tmp_path / "cifar-10-batches-py")
        (folder / "data_batch_2").write_bytes(pickle.dumps({b"pixels": [1, 2]}))
        with pytest.raises(DataError, match=r"data_batch_2 is not a CIFAR-10 python batch.*b'data'"):
            load_cifar10(folder)

    def test_a_truncated_pickle_is_malformed(self, tmp_path: Path) -> None:
        folder = _write_python_release(tmp_path / "cifar-10-batches-py")
        (folder / "test_batch").write_bytes((folder / "test_batch").read_bytes()[:50])
        with pytest.raises(DataError, match="test_batch is not a CIFAR-10 python batch"):
            load_cifar10(folder)

    def test_a_pickle_naming_any_other_callable_is_refused_without_running_it(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        folder = _write_python_release(tmp_path / "cifar-10-batches-py")
        (folder / "data_batch_1").write_bytes(b"cbuiltins\nprint\n(S'ran'\ntR.")
        with pytest.raises(DataError, match=r"builtins\.print"):
            load_cifar10(folder)
        assert "ran" not in capsys.readouterr().out


class TestLoadTinyStories:
    def _write(self, folder: Path, train: bytes = b"Once upon a time.", valid: bytes = b"The end.") -> Path:
        (folder / "TinyStories-train.txt").write_bytes(train)
        (folder / "TinyStories-valid.txt").write_bytes(valid)
        return folder

    def test_both_files_are_read_byte_for_byte(self, tmp_path: Path) -> None:
        data = load_tinystories(self._write(tmp_path, train="Tom saw a 🐶.".encode()))
        assert bytes(data.train_tokens.tolist()) == "Tom saw a 🐶.".encode()
        assert bytes(data.val_tokens.tolist()) == b"The end."
        assert data.vocab_size == 256 and data.train_tokens.dtype == torch.uint8

    def test_max_bytes_keeps_the_prefix_of_each_file(self, tmp_path: Path) -> None:
        data = load_tinystories(self._write(tmp_path), max_bytes=4)
        assert bytes(data.train_tokens.tolist()) == b"Once" and bytes(data.val_tokens.tolist()) == b"The "

    def test_a_missing_file_fails_with_instructions_naming_it(self, tmp_path: Path) -> None:
        (tmp_path / "TinyStories-train.txt").write_bytes(b"x")
        with pytest.raises(DataError) as caught:
            load_tinystories(tmp_path)
        message = str(caught.value)
        assert str(tmp_path) in message and "no TinyStories-valid.txt" in message and "never downloads" in message

    def test_an_empty_file_is_malformed(self, tmp_path: Path) -> None:
        with pytest.raises(DataError, match="TinyStories-valid.txt is empty"):
            load_tinystories(self._write(tmp_path, valid=b""))

    def test_max_bytes_must_be_positive(self, tmp_path: Path) -> None:
        with pytest.raises(DataError, match="max_bytes=0"):
            load_tinystories(self._write(tmp_path), max_bytes=0)


class TestIterateBatches:
    X = torch.arange(10).float().view(10, 1)
    Y = torch.arange(10)

    @settings(max_examples=40, deadline=None)
    @given(count=st.integers(1, 40), batch_size=st.integers(1, 12), seed=st.integers(0, 2**16))
    def test_each_example_appears_exactly_once_per_epoch(self, count: int, batch_size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        examples = torch.arange(count)
        seen = torch.cat([y for _, y in iterate_batches(examples, examples, batch_size, generator=generator)])
        assert sorted(seen.tolist()) == list(range(count))

    def test_inputs_stay_paired_with_their_targets(self) -> None:
        generator = torch.Generator().manual_seed(0)
        for x, y in iterate_batches(self.X, self.Y, 3, generator=generator):
            assert torch.equal(x.view(-1).long(), y)

    def test_without_a_generator_batches_are_in_order(self) -> None:
        batches = [y.tolist() for _, y in iterate_batches(self.X, self.Y, 4, generator=None)]
        assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]

    def test_drop_last_drops_the_short_final_batch(self) -> None:
        sizes = [len(y) for _, y in iterate_batches(self.X, self.Y, 4, generator=None, drop_last=True)]
        assert sizes == [4, 4]

    def test_a_generator_shuffles_the_order(self) -> None:
        generator = torch.Generator().manual_seed(0)
        order = torch.cat([y for _, y in iterate_batches(self.X, self.Y, 10, generator=generator)])
        assert order.tolist() != list(range(10))

    def test_restoring_the_generator_state_replays_the_same_epoch(self) -> None:
        generator = torch.Generator().manual_seed(5)
        iterate_batches(self.X, self.Y, 3, generator=generator)
        saved = generator.get_state()
        first = [y.tolist() for _, y in iterate_batches(self.X, self.Y, 3, generator=generator)]
        generator.set_state(saved)
        assert [y.tolist() for _, y in iterate_batches(self.X, self.Y, 3, generator=generator)] == first

    def test_the_order_is_drawn_when_called_not_when_iterated(self) -> None:
        generator = torch.Generator().manual_seed(5)
        before = generator.get_state()
        iterate_batches(self.X, self.Y, 3, generator=generator)
        assert not torch.equal(generator.get_state(), before)

    def test_inputs_and_targets_must_have_the_same_length(self) -> None:
        with pytest.raises(DataError, match="x has 10 examples but y has 9"):
            iterate_batches(self.X, self.Y[:9], 3, generator=None)

    def test_batch_size_must_be_positive(self) -> None:
        with pytest.raises(DataError, match="batch_size=0"):
            iterate_batches(self.X, self.Y, 0, generator=None)


class TestTextBatches:
    TOKENS = torch.arange(100, dtype=torch.uint8)

    def test_targets_are_the_inputs_shifted_by_one_token(self) -> None:
        generator = torch.Generator().manual_seed(0)
        for inputs, targets in text_batches(self.TOKENS, 8, 4, 3, generator=generator):
            assert inputs.shape == targets.shape == (4, 8)
            assert inputs.dtype == targets.dtype == torch.int64
            assert torch.equal(targets[:, :-1], inputs[:, 1:]) and torch.equal(targets[:, -1], inputs[:, -1] + 1)

    def test_exactly_n_batches_are_yielded(self) -> None:
        assert len(list(text_batches(self.TOKENS, 8, 4, 5, generator=None))) == 5

    def test_without_a_generator_windows_span_the_stream_evenly(self) -> None:
        starts = torch.cat([inputs[:, 0] for inputs, _ in text_batches(self.TOKENS, 9, 3, 2, generator=None)])
        assert starts.tolist() == [0, 18, 36, 54, 72, 90]

    def test_restoring_the_generator_state_replays_the_same_windows(self) -> None:
        generator = torch.Generator().manual_seed(1)
        saved = generator.get_state()
        first = [inputs for inputs, _ in text_batches(self.TOKENS, 8, 4, 3, generator=generator)]
        generator.set_state(saved)
        again = [inputs for inputs, _ in text_batches(self.TOKENS, 8, 4, 3, generator=generator)]
        assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))

    def test_windows_never_run_past_the_stream(self) -> None:
        generator = torch.Generator().manual_seed(2)
        for _, targets in text_batches(self.TOKENS[:10], 9, 16, 4, generator=generator):
            assert targets.max() <= 9

    def test_batches_are_contiguous_so_they_can_be_flattened(self) -> None:
        inputs, targets = next(text_batches(self.TOKENS, 8, 4, 1, generator=None))
        assert inputs.is_contiguous() and targets.is_contiguous()

    def test_a_stream_shorter_than_a_window_is_refused(self) -> None:
        with pytest.raises(
            DataError, match="holds 10 tokens, too few for one window of 10 tokens.*use a longer corpus"
        ):
            text_batches(self.TOKENS[:10], 10, 2, 1, generator=None)
