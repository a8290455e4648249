"""Users' files: image folders, .npy/.npz, IDX; and every error path, on files written here."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from featmatch.data import load_dataset, read_idx


def _to_unit(pixels: np.ndarray) -> torch.Tensor:
    # Independent reference for the documented map 0..255 -> [-1, 1].
    return torch.from_numpy(pixels.astype(np.float64) / 127.5 - 1).float()


def _write_idx(path: Path, array: np.ndarray, code: int, gz: bool = False) -> Path:
    big_endian = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    raw = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.astype(big_endian).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def _gray_images(n: int, h: int = 4, w: int = 5, seed: int = 0) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(n, h, w), dtype=np.uint8)
    pixels[:, 0, 0] = np.arange(n) * 10  # pixel (0, 0) identifies the image
    return pixels


def _both_splits(path, **options):
    return load_dataset(str(path), **options), load_dataset(str(path), "test", **options)


# ------------------------------------------------------------------ image folders


def test_gray_png_folder_unlabelled_split_90_10(tmp_path):
    pixels = _gray_images(10)
    for i, p in enumerate(pixels):
        Image.fromarray(p, mode="L").save(tmp_path / f"img{i:02d}.png")
    (tmp_path / "notes.txt").write_text("not an image, ignored")
    train, test = _both_splits(tmp_path)
    assert train.kind == "image" and train.x.shape == (9, 1, 4, 5) and test.x.shape == (1, 1, 4, 5)
    assert train.y is None and train.x.dtype == torch.float32
    ids = torch.cat([train.x, test.x])[:, 0, 0, 0]
    order = torch.argsort(ids)
    assert torch.equal(torch.cat([train.x, test.x])[order][:, 0], _to_unit(pixels))
    # The split is fixed: another seed gives the same test image.
    assert torch.equal(load_dataset(str(tmp_path), "test", seed=7).x, test.x)


def test_rgb_png_folder_and_grayscale_conversion(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, size=(3, 6, 7, 3), dtype=np.uint8)
    for i, p in enumerate(rgb):
        Image.fromarray(p, mode="RGB").save(tmp_path / f"{i}.png")
    data = load_dataset(str(tmp_path), "train")  # 3 images: all in train (round(0.3) = 0 test)
    assert data.x.shape == (3, 3, 6, 7)
    assert torch.equal(data.x, _to_unit(rgb).permute(0, 3, 1, 2))
    gray = load_dataset(str(tmp_path), channels=1)
    # ITU-R 601-2 luma, as Pillow documents for RGB -> L.
    luma = (rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))[:, None]
    assert gray.x.shape == (3, 1, 6, 7)
    assert torch.allclose(gray.x.double(), torch.from_numpy(luma / 127.5 - 1), atol=1.01 / 127.5)


def test_jpeg_folder_gray_and_rgb(tmp_path):
    flat_gray = np.full((8, 8), 200, dtype=np.uint8)
    flat_rgb = np.zeros((8, 8, 3), dtype=np.uint8) + np.array([250, 10, 120], dtype=np.uint8)
    (tmp_path / "g").mkdir()
    (tmp_path / "c").mkdir()
    Image.fromarray(flat_gray, mode="L").save(tmp_path / "g" / "a.jpg", quality=95)
    Image.fromarray(flat_rgb, mode="RGB").save(tmp_path / "c" / "b.jpeg", quality=95)
    gray = load_dataset(str(tmp_path / "g"))
    assert gray.x.shape == (1, 1, 8, 8)
    assert torch.allclose(gray.x, _to_unit(flat_gray)[None, None].expand(1, 1, 8, 8), atol=3 / 127.5)
    color = load_dataset(str(tmp_path / "c"))
    expected = _to_unit(flat_rgb).permute(2, 0, 1)[None]
    assert color.x.shape == (1, 3, 8, 8) and torch.allclose(color.x, expected, atol=6 / 127.5)


def test_image_size_resizes_mixed_sizes(tmp_path):
    # Constant images stay constant under bilinear resizing: an exact reference.
    Image.fromarray(np.full((5, 9), 51, dtype=np.uint8), mode="L").save(tmp_path / "a.png")
    Image.fromarray(np.full((12, 4), 204, dtype=np.uint8), mode="L").save(tmp_path / "b.png")
    data = load_dataset(str(tmp_path), image_size=(6, 8))
    assert data.x.shape == (2, 1, 6, 8)
    assert torch.allclose(data.x[0], torch.full((1, 6, 8), 51 / 127.5 - 1))
    assert torch.allclose(data.x[1], torch.full((1, 6, 8), 204 / 127.5 - 1))
    assert load_dataset(str(tmp_path), image_size=3).x.shape == (2, 1, 3, 3)


def test_mixed_sizes_without_image_size_is_an_error(tmp_path):
    Image.fromarray(np.zeros((5, 9), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((12, 4), dtype=np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(ValueError, match=r"different sizes: 'a.png' is 5x9 .*b.png' is 12x4.*image_size"):
        load_dataset(str(tmp_path))


def test_class_subfolders_give_labels(tmp_path):
    for label, name in enumerate(["cat", "dog"]):
        (tmp_path / name).mkdir()
        for i in range(3 + label):
            Image.fromarray(np.full((4, 4), 40 * label + i, dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    (tmp_path / "empty").mkdir()  # no images: not a class
    data = load_dataset(str(tmp_path))  # 7 images: round(0.7) = 1 goes to test
    test = load_dataset(str(tmp_path), "test")
    y = torch.cat([data.y, test.y])
    values = torch.cat([data.x, test.x])[:, 0, 0, 0]
    assert sorted(y.tolist()) == [0, 0, 0, 1, 1, 1, 1]
    assert torch.equal(y, (values > 39 / 127.5 - 1).long())  # dogs are the brighter ones
    assert data.num_classes == 2


def test_train_and_test_subfolders_are_separate_splits(tmp_path):
    for split, classes in [("train", ["a", "b", "c"]), ("test", ["b", "c"])]:
        for name in classes:
            (tmp_path / split / name).mkdir(parents=True)
            value = 100 + 10 * ord(name) % 50
            Image.fromarray(np.full((3, 3), value, dtype=np.uint8)).save(tmp_path / split / name / "x.png")
    train, test = _both_splits(tmp_path)
    assert train.y.tolist() == [0, 1, 2]
    assert test.y.tolist() == [1, 2]  # numbered as in train, though test has no 'a'
    assert torch.equal(test.x, train.x[1:])
    (tmp_path / "test" / "zebra").mkdir()
    Image.fromarray(np.zeros((3, 3), dtype=np.uint8)).save(tmp_path / "test" / "zebra" / "z.png")
    with pytest.raises(ValueError, match=r"do not match the train folder's \['a', 'b', 'c'\]"):
        load_dataset(str(tmp_path), "test")


@pytest.mark.parametrize("corrupt", ["garbage", "truncated"])
def test_unreadable_image_is_named(tmp_path, corrupt):
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(tmp_path / "good.png")
    good = (tmp_path / "good.png").read_bytes()
    noise = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "bad.png")
    bad = b"this is not a PNG" if corrupt == "garbage" else (tmp_path / "bad.png").read_bytes()[:60]
    (tmp_path / "bad.png").write_bytes(bad)
    assert good  # the good file stays
    with pytest.raises(ValueError, match=r"cannot read image .*bad\.png"):
        load_dataset(str(tmp_path))


def test_folder_layout_errors(tmp_path):
    with pytest.raises(ValueError, match="holds no images"):
        load_dataset(str(tmp_path))
    Image.fromarray(np.zeros((2, 2), dtype=np.uint8)).save(tmp_path / "top.png")
    (tmp_path / "cls").mkdir()
    Image.fromarray(np.zeros((2, 2), dtype=np.uint8)).save(tmp_path / "cls" / "in.png")
    with pytest.raises(ValueError, match="both at its top level"):
        load_dataset(str(tmp_path))
    with pytest.raises(ValueError, match="channels must be 1"):
        load_dataset(str(tmp_path / "cls"), channels=2)
    with pytest.raises(ValueError, match="image_size must be"):
        load_dataset(str(tmp_path / "cls"), image_size=(0, 3))


# ------------------------------------------------------------------ .npy / .npz


def test_npy_points_images_sequences(tmp_path):
    points = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float64)
    np.save(tmp_path / "p.npy", points)
    train, test = _both_splits(tmp_path / "p.npy")
    assert train.kind == "points" and train.x.shape == (18, 3) and test.x.shape == (2, 3)
    rows = sorted(map(tuple, torch.cat([train.x, test.x]).tolist()))
    assert rows == sorted(map(tuple, torch.from_numpy(points).float().tolist()))  # floats as is

    images = _gray_images(10)  # (10, 4, 5): 4 x 5 images, or 4-channel sequences of 5 steps
    np.save(tmp_path / "i.npy", images)
    with pytest.raises(ValueError, match=r"shape \(10, 4, 5\).*--data-kind image or --data-kind sequence"):
        load_dataset(str(tmp_path / "i.npy"))
    data = load_dataset(str(tmp_path / "i.npy"), kind="image")
    assert data.x.shape == (9, 1, 4, 5) and data.x.min() >= -1 and data.x.max() <= 1
    ids = (data.x[:, 0, 0, 0] + 1) * 127.5
    assert torch.allclose(data.x[:, 0], _to_unit(images[(ids.round() / 10).long().numpy()]))

    np.save(tmp_path / "c.npy", np.zeros((10, 3, 4, 4), dtype=np.uint8))
    assert load_dataset(str(tmp_path / "c.npy")).x.shape == (9, 3, 4, 4)

    np.save(tmp_path / "s.npy", np.ones((10, 40), dtype=np.float32) * 0.5)
    seq = load_dataset(str(tmp_path / "s.npy"), kind="sequence")
    assert seq.kind == "sequence" and seq.x.shape == (9, 1, 40)


def test_npy_scale_options(tmp_path):
    values = np.linspace(2.0, 6.0, 10).reshape(10, 1).repeat(4, axis=1)  # rows 2 .. 6
    np.save(tmp_path / "v.npy", values)
    train, test = _both_splits(tmp_path / "v.npy", scale="minmax")
    both = torch.cat([train.x, test.x])
    assert both.min() == -1.0 and both.max() == 1.0
    assert load_dataset(str(tmp_path / "v.npy"), scale="unit").x.max() == pytest.approx(2 * 6 - 1)
    assert load_dataset(str(tmp_path / "v.npy"), scale="uint8").x.max() == pytest.approx(6 / 127.5 - 1)
    with pytest.raises(ValueError, match=r"scale must be one of"):
        load_dataset(str(tmp_path / "v.npy"), scale="zscore")


def test_npy_labels_option_and_mismatch(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 2), dtype=np.float32))
    np.save(tmp_path / "y.npy", np.arange(10) % 4)
    np.save(tmp_path / "y_short.npy", np.arange(7))
    data = load_dataset(str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"))
    assert data.y.dtype == torch.int64 and data.num_classes == 4 and len(data.y) == 9
    with pytest.raises(ValueError, match=r"y_short\.npy' hold 7 labels but data .*x\.npy' has 10 samples"):
        load_dataset(str(tmp_path / "x.npy"), labels=str(tmp_path / "y_short.npy"))


def test_npy_errors(tmp_path):
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match=r"cannot read \.npy file .*broken\.npy"):
        load_dataset(str(tmp_path / "broken.npy"))
    np.save(tmp_path / "hwc.npy", np.zeros((4, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"channels-last.*np\.transpose"):
        load_dataset(str(tmp_path / "hwc.npy"))
    bad = np.zeros((4, 2))
    bad[1, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match=r"nan\.npy' contains NaN"):
        load_dataset(str(tmp_path / "nan.npy"))
    np.save(tmp_path / "big.npy", np.full((4, 3, 3), 300, dtype=np.int32))
    with pytest.raises(ValueError, match=r"values 0\.\.255.*found 300\.\.300"):
        load_dataset(str(tmp_path / "big.npy"))
    np.save(tmp_path / "one.npy", np.zeros(5))
    with pytest.raises(ValueError, match=r"has shape \(5,\)"):
        load_dataset(str(tmp_path / "one.npy"))
    with pytest.raises(ValueError, match="does not apply to npy"):
        load_dataset(str(tmp_path / "one.npy"), image_size=4)
    with pytest.raises(TypeError, match="unknown data option 'colour'"):
        load_dataset(str(tmp_path / "one.npy"), colour=True)
    with pytest.raises(FileNotFoundError, match=r"nothere\.npy"):
        load_dataset(str(tmp_path / "nothere.npy"))


def test_npz_keys_and_separate_test_arrays(tmp_path):
    x = np.random.default_rng(0).normal(size=(10, 2))
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(10) % 2)
    train = load_dataset(str(tmp_path / "a.npz"))
    assert train.x.shape == (9, 2) and train.y is not None
    assert torch.equal(train.y, torch.tensor([int(np.flatnonzero((x.astype(np.float32) == r).all(1))[0]) % 2 for r in train.x.numpy()]))

    np.savez(tmp_path / "b.npz", x=x[:8], y=np.zeros(8, dtype=np.int64), x_test=x[8:], y_test=np.ones(2, dtype=np.int64))
    train, test = _both_splits(tmp_path / "b.npz")
    assert len(train) == 8 and len(test) == 2 and test.y.tolist() == [1, 1]
    assert torch.equal(test.x, torch.from_numpy(x[8:]).float())

    np.savez(tmp_path / "c.npz", signals=x, cls=np.arange(10))
    data = load_dataset(str(tmp_path / "c.npz"), key="signals", label_key="cls", kind="sequence")
    assert data.x.shape == (9, 1, 2) and data.num_classes is not None
    np.savez(tmp_path / "d.npz", x)  # stored as arr_0
    assert load_dataset(str(tmp_path / "d.npz")).x.shape == (9, 2)
    with pytest.raises(ValueError, match=r"no array 'x'; it holds \['signals', 'cls'\].*key="):
        load_dataset(str(tmp_path / "c.npz"))
    with pytest.raises(ValueError, match=r"no labels array 'labels'"):
        load_dataset(str(tmp_path / "c.npz"), key="signals", label_key="labels")


def test_test_path_option(tmp_path):
    np.save(tmp_path / "tr.npy", np.zeros((5, 2)))
    np.save(tmp_path / "te.npy", np.ones((3, 2)))
    np.save(tmp_path / "te_y.npy", np.arange(3))
    test = load_dataset(str(tmp_path / "tr.npy"), "test", test_path=str(tmp_path / "te.npy"), test_labels=str(tmp_path / "te_y.npy"))
    assert test.x.shape == (3, 2) and test.x.min() == 1.0 and test.y.tolist() == [0, 1, 2]
    assert len(load_dataset(str(tmp_path / "tr.npy"), test_path=str(tmp_path / "te.npy"))) == 5
    with pytest.raises(FileNotFoundError, match=r"test_path .*gone\.npy"):
        load_dataset(str(tmp_path / "tr.npy"), test_path=str(tmp_path / "gone.npy"))


# ------------------------------------------------------------------ IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_mnist_layout_with_labels_and_t10k(tmp_path, gz):
    suffix = ".gz" if gz else ""
    train_images, test_images = _gray_images(12, 6, 6, seed=1), _gray_images(4, 6, 6, seed=2)
    _write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", train_images, 0x08, gz)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", np.arange(12) % 10, 0x08, gz)
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", test_images, 0x08, gz)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", np.array([3, 1, 4, 1]), 0x08, gz)
    train, test = _both_splits(tmp_path / f"train-images-idx3-ubyte{suffix}")
    assert train.x.shape == (12, 1, 6, 6) and test.x.shape == (4, 1, 6, 6)
    assert torch.equal(train.x[:, 0], _to_unit(train_images))
    assert torch.equal(test.x[:, 0], _to_unit(test_images))
    assert train.y.tolist() == [i % 10 for i in range(12)] and test.y.tolist() == [3, 1, 4, 1]
    assert train.num_classes == 10


def test_idx_without_neighbours_splits_90_10(tmp_path):
    images = _gray_images(20, 3, 3)
    _write_idx(tmp_path / "images.idx3", images, 0x08)
    train, test = _both_splits(tmp_path / "images.idx3")
    assert len(train) == 18 and len(test) == 2 and train.y is None


@pytest.mark.parametrize(
    ("code", "values"),
    [
        (0x09, np.array([[-128, 5], [127, 0]])),
        (0x0B, np.array([[-30000, 2], [12345, -1]])),
        (0x0C, np.array([[-(2**31), 7], [2**31 - 1, 3]])),
        (0x0D, np.array([[1.5, -2.25], [3e8, 0.1]], dtype=np.float32)),
        (0x0E, np.array([[1e-300, -2.0], [np.pi, 1e300]])),
    ],
)
def test_read_idx_element_types_big_endian(tmp_path, code, values):
    path = _write_idx(tmp_path / f"v{code}.idx2", values, code)
    array = read_idx(path)
    assert array.shape == (2, 2) and array.dtype.isnative
    assert np.array_equal(array, values)


def test_idx_errors_name_the_file_and_the_problem(tmp_path):
    images = _gray_images(10, 4, 4)
    good = _write_idx(tmp_path / "good-images-idx3-ubyte", images, 0x08).read_bytes()

    (tmp_path / "trunc-images-idx3-ubyte").write_bytes(good[:-7])
    with pytest.raises(ValueError, match=r"trunc-images-idx3-ubyte' is truncated.*\(10, 4, 4\).*expected 160 bytes of data, found 153"):
        load_dataset(str(tmp_path / "trunc-images-idx3-ubyte"))
    (tmp_path / "long-images-idx3-ubyte").write_bytes(good + b"\x00\x00")
    with pytest.raises(ValueError, match=r"has extra bytes.*expected 160 bytes of data, found 162"):
        load_dataset(str(tmp_path / "long-images-idx3-ubyte"))
    (tmp_path / "magic-images-idx3-ubyte").write_bytes(b"\x12\x34" + good[2:])
    with pytest.raises(ValueError, match=r"magic-images-idx3-ubyte' is not an IDX file.*1234"):
        load_dataset(str(tmp_path / "magic-images-idx3-ubyte"))
    (tmp_path / "code-images-idx3-ubyte").write_bytes(b"\x00\x00\x07" + good[3:])
    with pytest.raises(ValueError, match=r"unknown data type code 0x07"):
        load_dataset(str(tmp_path / "code-images-idx3-ubyte"))
    (tmp_path / "head-images-idx3-ubyte").write_bytes(good[:9])
    with pytest.raises(ValueError, match=r"header needs 16 bytes for 3 dimensions, found 9"):
        load_dataset(str(tmp_path / "head-images-idx3-ubyte"))
    (tmp_path / "gz-images-idx3-ubyte.gz").write_bytes(gzip.compress(good)[:30])
    with pytest.raises(ValueError, match=r"gz-images-idx3-ubyte\.gz' is a damaged gzip file"):
        load_dataset(str(tmp_path / "gz-images-idx3-ubyte.gz"))


def test_idx_label_errors(tmp_path):
    _write_idx(tmp_path / "train-images-idx3-ubyte", _gray_images(10, 4, 4), 0x08)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(9), 0x08)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte' hold 9 labels but data .* has 10 samples"):
        load_dataset(str(tmp_path / "train-images-idx3-ubyte"))
    assert load_dataset(str(tmp_path / "train-images-idx3-ubyte"), labels=False).y is None
    with pytest.raises(ValueError, match=r"is 1-D \(9 values\): it looks like a labels file"):
        load_dataset(str(tmp_path / "train-labels-idx1-ubyte"))


def test_unknown_file_format(tmp_path):
    (tmp_path / "data.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"cannot tell the format of data file .*data\.csv"):
        load_dataset(str(tmp_path / "data.csv"))


def test_none_options_mean_defaults_and_labels_false_drops_labels(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((10, 2)), y=np.arange(10), x_test=np.ones((2, 2)), y_test=np.arange(2))
    # A caller may pass every option it knows; None means the default, even where it does not apply.
    data = load_dataset(str(tmp_path / "a.npz"), image_size=None, channels=None, key=None)
    assert data.x.shape == (10, 2) and data.y.tolist() == list(range(10))
    assert load_dataset("digits", "test", image_size=None).x.shape == (360, 1, 8, 8)
    train = load_dataset(str(tmp_path / "a.npz"), labels=False)
    test = load_dataset(str(tmp_path / "a.npz"), "test", labels=False)
    assert train.y is None and test.y is None
    np.save(tmp_path / "y2.npy", np.array([5, 6]))
    with pytest.raises(ValueError, match="test_labels was given without test_path"):
        load_dataset(str(tmp_path / "a.npz"), "test", test_labels=str(tmp_path / "y2.npy"))


def test_minmax_maps_a_separate_test_set_with_the_train_range(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.array([[0.0], [10.0]]), x_test=np.array([[5.0], [20.0]]))
    train, test = _both_splits(tmp_path / "a.npz", scale="minmax")
    assert train.x.flatten().tolist() == [-1.0, 1.0]
    assert test.x.flatten().tolist() == [0.0, 3.0]  # train's 0..10 -> -1..1, not test's own range
