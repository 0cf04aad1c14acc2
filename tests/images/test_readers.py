"""Image readers: folder trees, arrays, IDX files, channels and sizes, and every kind of bad input."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from PIL import Image

from warmstart.errors import InputError
from warmstart.config import ImageSettings
from warmstart.images.idx import read_idx, write_idx
from warmstart.images.readers import read_source


def save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)
    return path


def gray(value, size=(6, 6)):
    return np.full(size, value, dtype=np.uint8)


def test_class_folders_give_labels_by_folder_name(tmp_path):
    for k in range(3):
        save(tmp_path / "cat" / f"{k}.png", gray(10 * k))
    save(tmp_path / "dog" / "a.jpg", np.full((6, 6, 3), 200, dtype=np.uint8))
    found = read_source(str(tmp_path), ImageSettings())
    assert found.class_names == ["cat", "dog"]
    assert found.labels.tolist() == [0, 0, 0, 1]
    assert found.pixels.shape == (4, 3, 6, 6) and found.pixels.dtype == np.uint8  # one RGB file: all RGB
    assert read_source(str(tmp_path), ImageSettings(channels=1)).pixels.shape == (4, 1, 6, 6)


def test_flat_folder_is_unlabeled_and_grayscale_stays_one_channel(tmp_path):
    for k in range(2):
        save(tmp_path / f"{k}.png", gray(k))
    found = read_source(str(tmp_path), ImageSettings())
    assert found.labels is None and found.pixels.shape == (2, 1, 6, 6)
    with pytest.raises(InputError, match="holds no labels"):
        read_source(str(tmp_path), ImageSettings(), labeled=True)


def test_unreadable_and_truncated_files_are_skipped_and_counted_or_fatal(tmp_path):
    save(tmp_path / "a" / "good.png", gray(1))
    good = save(tmp_path / "b" / "good.png", gray(2))
    (tmp_path / "a" / "junk.png").write_bytes(b"not an image at all")
    data = (tmp_path / "b" / "good.png").read_bytes()
    (tmp_path / "b" / "cut.png").write_bytes(data[: len(data) // 2])
    found = read_source(str(tmp_path), ImageSettings())
    assert len(found) == 2 and len(found.skipped) == 2
    assert any("junk.png" in s for s in found.skipped) and any("cut.png" in s for s in found.skipped)
    with pytest.raises(InputError, match=r"(junk|cut)\.png.*on_bad_file"):
        read_source(str(tmp_path), ImageSettings(on_bad_file="error"))
    assert good.exists()


def test_mixed_sizes_need_a_resize_setting(tmp_path):
    save(tmp_path / "a.png", gray(1, (6, 6)))
    save(tmp_path / "b.png", gray(1, (8, 6)))
    with pytest.raises(InputError, match=r"b\.png.*differ in size.*images\.size"):
        read_source(str(tmp_path), ImageSettings())
    assert read_source(str(tmp_path), ImageSettings(size=5)).pixels.shape == (2, 1, 5, 5)


def test_a_label_folder_without_images_is_named(tmp_path):
    save(tmp_path / "cat" / "a.png", gray(1))
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "notes.txt").write_text("no pictures here")
    with pytest.raises(InputError, match=r"dog: label folder with no images"):
        read_source(str(tmp_path), ImageSettings())


def test_npz_with_images_and_labels_and_channels_last_npy(tmp_path):
    images = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    np.savez(tmp_path / "d.npz", x=images, y=np.array([3, 1, 3, 1, 1]))
    found = read_source(str(tmp_path / "d.npz"), ImageSettings())
    assert found.pixels.shape == (5, 1, 4, 4) and found.class_names == ["1", "3"] and found.labels.tolist() == [1, 0, 1, 0, 0]
    rgb = np.random.default_rng(0).random((3, 4, 4, 3)).astype(np.float32)  # channels last, [0, 1]
    np.save(tmp_path / "rgb.npy", rgb)
    found = read_source(str(tmp_path / "rgb.npy"), ImageSettings())
    assert found.pixels.shape == (3, 3, 4, 4) and found.labels is None
    np.testing.assert_allclose(found.pixels, rgb.transpose(0, 3, 1, 2))
    assert read_source(str(tmp_path / "rgb.npy"), ImageSettings(channels=1, size=8)).pixels.shape == (3, 1, 8, 8)


def test_npz_bad_keys_and_values_are_named(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 4, 4)), b=np.zeros((2, 4, 4)))
    with pytest.raises(InputError, match="images.array_key"):
        read_source(str(tmp_path / "two.npz"), ImageSettings())
    np.save(tmp_path / "big.npy", np.full((2, 4, 4), 999.0))
    with pytest.raises(InputError, match=r"big\.npy.*\[0, 1\] or \[0, 255\]"):
        read_source(str(tmp_path / "big.npy"), ImageSettings())


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
def test_idx_round_trip_with_labels_beside(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, (7, 5, 4)).astype(np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2, 9], dtype=np.uint8)
    write_idx(tmp_path / name, images)
    write_idx(tmp_path / name.replace("images-idx3", "labels-idx1"), labels)
    np.testing.assert_array_equal(read_idx(tmp_path / name), images)
    found = read_source(str(tmp_path / name), ImageSettings(), labeled=True)
    assert found.pixels.shape == (7, 1, 5, 4) and found.class_names == ["0", "1", "2", "9"]
    np.testing.assert_array_equal(found.pixels[:, 0], images)


def test_idx_other_types_round_trip(tmp_path):
    values = np.linspace(0, 1, 24, dtype=np.float32).reshape(2, 3, 4)
    write_idx(tmp_path / "f.idx", values)
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), values)


def test_idx_bad_magic_truncation_and_dimensions_name_the_file(tmp_path):
    bad = tmp_path / "bad-images-idx3-ubyte.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x12\x34\x08\x03" + b"\x00" * 40)
    with pytest.raises(InputError, match=r"bad-images-idx3-ubyte\.gz: not an IDX file \(magic number 0x12340803"):
        read_source(str(bad), ImageSettings())
    cut = tmp_path / "cut-images-idx3-ubyte"
    write_idx(cut, np.zeros((4, 3, 3), dtype=np.uint8))
    cut.write_bytes(cut.read_bytes()[:-5])
    with pytest.raises(InputError, match=r"cut-images-idx3-ubyte: .*truncated"):
        read_source(str(cut), ImageSettings())
    labels_only = tmp_path / "l-labels-idx1-ubyte"
    write_idx(labels_only, np.zeros(4, dtype=np.uint8))
    with pytest.raises(InputError, match="not images"):
        read_source(str(labels_only), ImageSettings())
    notgz = tmp_path / "x-images-idx3-ubyte.gz"
    notgz.write_bytes(b"plain bytes, not gzip")
    with pytest.raises(InputError, match=r"x-images-idx3-ubyte\.gz: cannot be read"):
        read_source(str(notgz), ImageSettings())


def test_missing_and_unknown_sources(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_source(str(tmp_path / "nowhere"), ImageSettings())
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="unsupported image source"):
        read_source(str(tmp_path / "notes.txt"), ImageSettings())
    with pytest.raises(InputError, match="unknown image data set"):
        read_source("dataset:cifar", ImageSettings())
