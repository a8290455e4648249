"""Paired data: PairedDataSet, the built-in pairs, users' .npz / folder / side-by-side pairs, batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from featmatch.data import (
    PAIRED_DATASETS,
    DataSet,
    PairedDataSet,
    batches,
    is_paired_source,
    load_dataset,
    load_digits,
    load_mnist1d,
    load_paired_dataset,
    make_condition,
    shard,
    subset,
)
from featmatch.data.files import split_index
from featmatch.errors import UnknownOptionError


def _pairs(n: int = 10, labelled: bool = True) -> PairedDataSet:
    # Target row i holds i everywhere; its condition holds -i: a pair identifies itself.
    target = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous()
    y = torch.arange(n) % 3 if labelled else None
    return PairedDataSet("p", -target[:, :, :2, :2].contiguous(), target, "image", "image", y)


# ------------------------------------------------------------------ the container


def test_paired_dataset_properties_and_views():
    pairs = _pairs(5)
    assert len(pairs) == 5 and pairs.condition_shape == (1, 2, 2) and pairs.target_shape == (1, 4, 4)
    assert pairs.num_classes == 3
    targets = pairs.target_set()
    assert isinstance(targets, DataSet) and targets.kind == "image"
    assert torch.equal(targets.x, pairs.target) and torch.equal(targets.y, pairs.y)
    assert torch.equal(pairs.condition_set().x, pairs.condition)
    assert pairs.to("cpu").target.device.type == "cpu"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"condition": torch.zeros(3, 1, 4, 4)}, r"3 conditions but 2 targets"),
        ({"condition_kind": "video"}, "condition_kind must be one of"),
        ({"target": torch.zeros(2, 8, 8)}, r"target of kind 'image' must have shape \(N, C, H, W\)"),
        ({"condition": torch.zeros(2, 1, 4, 4, dtype=torch.float64)}, "condition must be float32"),
        ({"y": torch.zeros(3, dtype=torch.long)}, r"y must have shape \(2,\)"),
    ],
)
def test_paired_dataset_rejects_bad_fields(kwargs, match):
    fields = {"name": "bad", "condition": torch.zeros(2, 1, 4, 4), "target": torch.zeros(2, 1, 8, 8),
              "condition_kind": "image", "target_kind": "image"}
    with pytest.raises(ValueError, match=match):
        PairedDataSet(**{**fields, **kwargs})


def test_subset_and_shard_keep_pairs_and_choose_the_dataset_rows():
    pairs = _pairs(20)
    targets = pairs.target_set()
    small = subset(pairs, 7, seed=3)
    assert torch.equal(small.target, subset(targets, 7, seed=3).x)
    assert torch.equal(small.condition[:, 0, 0, 0], -small.target[:, 0, 0, 0])
    assert torch.equal(small.y, small.target[:, 0, 0, 0].long() % 3)
    part = shard(pairs, 1, 3)
    assert torch.equal(part.target, shard(targets, 1, 3).x)
    assert torch.equal(part.condition[:, 0, 0, 0], -part.target[:, 0, 0, 0])


@pytest.mark.parametrize(("rank", "world_size"), [(0, 1), (1, 2)])
def test_batches_of_pairs_draw_the_rows_a_dataset_would(rank, world_size):
    pairs = _pairs(23)
    paired_it = batches(pairs, 4, torch.Generator().manual_seed(5), rank=rank, world_size=world_size)
    plain_it = batches(pairs.target_set(), 4, torch.Generator().manual_seed(5), rank=rank, world_size=world_size)
    for _ in range(7):  # past an epoch: reshuffles alike
        condition, target = next(paired_it)
        assert torch.equal(target, next(plain_it))
        assert condition.shape == (4, 1, 2, 2)
        assert torch.equal(condition[:, 0, 0, 0], -target[:, 0, 0, 0])
        assert set(target[:, 0, 0, 0].long().tolist()) <= set(range(rank, 23, world_size))
    condition, target, y = next(batches(pairs, 4, torch.Generator().manual_seed(0), labels=True))
    assert torch.equal(y, target[:, 0, 0, 0].long() % 3)
    with pytest.raises(ValueError, match="has no labels"):
        batches(_pairs(4, labelled=False), 2, torch.Generator(), labels=True)
    with pytest.raises(ValueError, match="batch_size=6 is larger than the 5 samples"):
        batches(_pairs(10), 6, torch.Generator(), rank=0, world_size=2)


# ------------------------------------------------------------------ built-in pairs


@pytest.mark.parametrize("split", ["train", "test"])
def test_digits_superres_is_the_2x2_average_of_the_digits(split):
    pairs = load_paired_dataset("digits-superres", split)
    digits = load_digits(split)
    assert pairs.name == "digits-superres" and (pairs.condition_kind, pairs.target_kind) == ("image", "image")
    assert torch.equal(pairs.target, digits.x) and torch.equal(pairs.y, digits.y)
    assert pairs.condition_shape == (1, 4, 4) and pairs.target_shape == (1, 8, 8)
    # Reference: the mean of each 2 x 2 block, written out.
    blocks = digits.x.double().view(-1, 1, 4, 2, 4, 2).mean(dim=(3, 5))
    assert torch.allclose(pairs.condition.double(), blocks, atol=1e-6)
    assert pairs.condition.min() >= -1 and pairs.condition.max() <= 1


def test_digits_inpaint_masks_the_lower_half():
    pairs = load_paired_dataset("digits-inpaint", "test")
    assert pairs.condition_shape == (2, 8, 8) and pairs.target_shape == (1, 8, 8)
    observed, mask = pairs.condition[:, 0], pairs.condition[:, 1]
    assert torch.equal(observed[:, :4], pairs.target[:, 0, :4])
    assert torch.all(observed[:, 4:] == -1)
    assert torch.all(mask[:, :4] == 0) and torch.all(mask[:, 4:] == 1)
    assert torch.equal(pairs.y, load_digits("test").y)


def test_mnist1d_complete_keeps_the_first_half_aligned():
    pairs = load_paired_dataset("mnist1d-complete", "test")
    source = load_mnist1d("test")
    assert pairs.condition_shape == (2, 40) and pairs.target_shape == (1, 40)
    assert (pairs.condition_kind, pairs.target_kind) == ("sequence", "sequence")
    assert torch.equal(pairs.target, source.x) and torch.equal(pairs.y, source.y)
    assert torch.equal(pairs.condition[:, 0, :20], source.x[:, 0, :20])
    assert torch.all(pairs.condition[:, 0, 20:] == 0)
    assert torch.all(pairs.condition[:, 1, :20] == 0) and torch.all(pairs.condition[:, 1, 20:] == 1)


def test_builtin_subset_matches_the_unpaired_subset():
    pairs = load_paired_dataset("digits-inpaint", size=50, seed=4)
    assert torch.equal(pairs.target, load_digits(size=50, seed=4).x)
    assert torch.equal(pairs.condition, make_condition("digits-inpaint", pairs.target))


def test_builtin_errors_and_dispatch():
    with pytest.raises(ValueError, match="takes no options"):
        load_paired_dataset("digits-superres", image_size=4)
    assert load_paired_dataset("digits-superres", image_size=None).target_shape == (1, 8, 8)  # None: default
    with pytest.raises(ValueError, match="unpaired data set: load it with featmatch.data.load_dataset"):
        load_paired_dataset("digits")
    with pytest.raises(ValueError, match=r"unknown paired data set 'digits-superess'.*digits-superres"):
        load_paired_dataset("digits-superess")
    with pytest.raises(ValueError, match="paired data set .*load_paired_dataset"):
        load_dataset("digits-inpaint")
    with pytest.raises(ValueError, match="split must be one of"):
        load_paired_dataset("digits-inpaint", "val")
    with pytest.raises(ValueError, match="name must be one of"):
        make_condition("digits", torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\(N, 1, T\)"):
        make_condition("mnist1d-complete", torch.zeros(1, 1, 8, 8))


def test_is_paired_source(tmp_path):
    for name in PAIRED_DATASETS:
        assert is_paired_source(name)
    assert not is_paired_source("digits") and not is_paired_source("nothing-here.npz")
    np.savez(tmp_path / "pairs.npz", condition=np.zeros((3, 4)), target=np.zeros((3, 4)))
    np.savez(tmp_path / "plain.npz", x=np.zeros((3, 4)))
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    assert is_paired_source(str(tmp_path / "pairs.npz")) and is_paired_source(tmp_path / "pairs.npz")
    assert not is_paired_source(tmp_path / "plain.npz")
    assert not is_paired_source(tmp_path / "broken.npz")
    assert not is_paired_source(tmp_path)  # folders are never guessed
    # The unpaired loader is unchanged for a paired .npz: it still asks which array.
    with pytest.raises(ValueError, match="no array 'x'"):
        load_dataset(str(tmp_path / "pairs.npz"))


# ------------------------------------------------------------------ .npz pairs


def test_npz_pairs_with_labels_split_90_10(tmp_path):
    n = 20
    target = np.random.default_rng(0).integers(0, 256, (n, 6, 6), dtype=np.uint8)
    target[:, 0, 0] = np.arange(n)  # identifies the pair
    condition = target[:, ::2, ::2].copy()
    labels = np.arange(n, dtype=np.int64) % 4
    path = tmp_path / "pairs.npz"
    np.savez(path, condition=condition, target=target, labels=labels)
    train = load_paired_dataset(str(path))
    test = load_paired_dataset(path, "test")
    assert (len(train), len(test)) == (18, 2)
    assert train.condition_shape == (1, 3, 3) and train.target_shape == (1, 6, 6)
    index = split_index(n, "test", str(path))  # the unpaired loader's 90/10 split
    expected = torch.from_numpy(target[index.numpy()].astype(np.float64) / 127.5 - 1).float()
    assert torch.equal(test.target[:, 0], expected)
    assert torch.equal(test.condition[:, 0, 0, 0], test.target[:, 0, 0, 0])  # pairs kept
    assert torch.equal(test.y, torch.from_numpy(labels[index.numpy()]))
    assert len(load_paired_dataset(path, size=5, seed=1)) == 5


def test_npz_sequences_minmax_and_separate_test(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "seq.npz"
    np.savez(
        path,
        condition=rng.normal(size=(6, 2, 10)) * 5, target=rng.normal(size=(6, 1, 10)),
        condition_test=rng.normal(size=(3, 2, 10)), target_test=rng.normal(size=(3, 1, 10)),
        y=np.arange(6), y_test=np.arange(3),
    )
    train = load_paired_dataset(path, kind="sequence", scale="minmax")
    test = load_paired_dataset(path, "test", kind="sequence", scale="minmax")
    assert (train.condition_kind, train.target_kind) == ("sequence", "sequence")
    assert (len(train), len(test)) == (6, 3) and test.y.tolist() == [0, 1, 2]
    for side in (train.condition, train.target):  # each side mapped by its own range
        assert side.min() == -1 and side.max() == 1
    raw = np.load(path)
    lo, hi = raw["target"].min(), raw["target"].max()  # test uses the train range
    assert torch.allclose(test.target, torch.from_numpy((raw["target_test"] - lo) * 2 / (hi - lo) - 1).float(), atol=1e-6)


@pytest.mark.parametrize(
    ("arrays", "options", "match"),
    [
        ({"condition": np.zeros((3, 4)), "target": np.zeros((4, 4))},
         {}, r"condition holds 3 samples but target holds 4"),
        ({"condition": np.zeros((3, 4)), "x": np.zeros((3, 4))},
         {}, r"no array\(s\) \['target'\]; it holds \['condition', 'x'\].*np.savez"),
        ({"condition": np.zeros((3, 4)), "target": np.zeros((3, 4)), "y": np.zeros(3, int), "labels": np.zeros(3, int)},
         {}, "holds both 'y' and 'labels'.*label_key"),
        ({"condition": np.zeros((3, 4)), "target": np.zeros((3, 4))},
         {"label_key": "cls"}, "no labels array 'cls'"),
        ({"condition": np.zeros((3, 4)), "target": np.zeros((3, 4)), "y": np.zeros(2, int)},
         {}, r"hold 2 labels but data .* has 3 samples"),
        ({"condition": np.zeros((3, 4)), "target": np.zeros((3, 4)), "condition_test": np.zeros((1, 4))},
         {}, "'condition_test' without its partner"),
        ({"condition": np.zeros((3, 4)), "target": np.zeros((3, 4))},
         {"direction": "BtoA"}, r"does not apply to paired npz data"),
    ],
)
def test_npz_errors_name_the_problem(tmp_path, arrays, options, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=match):
        load_paired_dataset(path, **options)


def test_unknown_option_suggests_the_name(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, condition=np.zeros((3, 4)), target=np.zeros((3, 4)))
    with pytest.raises(UnknownOptionError, match="did you mean 'direction'"):
        load_paired_dataset(path, directoin="AtoB")
    with pytest.raises(ValueError, match="cannot read paired data"):
        load_paired_dataset(__file__)


# ------------------------------------------------------------------ image folders


def _save(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode="L").save(path)


def _unit(pixels):
    return torch.from_numpy(pixels.astype(np.float64) / 127.5 - 1).float()


def test_a_b_folders_pair_by_name_and_direction(tmp_path):
    rng = np.random.default_rng(2)
    a = {f"im{i}": rng.integers(0, 256, (4, 4), dtype=np.uint8) for i in range(3)}
    b = {f"im{i}": rng.integers(0, 256, (8, 8), dtype=np.uint8) for i in range(3)}
    for stem, pixels in a.items():
        _save(tmp_path / "A" / f"{stem}.png", pixels)
        _save(tmp_path / "B" / f"{stem}.bmp", b[stem])  # the suffix may differ
    pairs = load_paired_dataset(tmp_path, "train")  # 3 pairs: round(0.3) = 0 in test
    assert pairs.condition_shape == (1, 4, 4) and pairs.target_shape == (1, 8, 8) and pairs.y is None
    assert torch.equal(pairs.condition[:, 0], torch.stack([_unit(a[s]) for s in sorted(a)]))
    assert torch.equal(pairs.target[:, 0], torch.stack([_unit(b[s]) for s in sorted(b)]))
    swapped = load_paired_dataset(tmp_path, direction="BtoA")
    assert torch.equal(swapped.condition, pairs.target) and torch.equal(swapped.target, pairs.condition)
    two_paths = load_paired_dataset(tmp_path / "A", target_path=str(tmp_path / "B"))
    assert torch.equal(two_paths.target, pairs.target)
    resized = load_paired_dataset(tmp_path, image_size=2)
    assert resized.condition_shape == (1, 2, 2) and resized.target_shape == (1, 2, 2)


def test_unmatched_names_are_listed(tmp_path):
    for stem in ["a", "b", "c"]:
        _save(tmp_path / "A" / f"{stem}.png", np.zeros((4, 4), np.uint8))
    for stem in ["a", "d"]:
        _save(tmp_path / "B" / f"{stem}.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"2 image\(s\) in .*A' have no image of the same name in .*B': \['b', 'c'\]; "
                                         r"1 image\(s\) in .*B' have none in .*A': \['d'\]\. Hint"):
        load_paired_dataset(tmp_path)
    _save(tmp_path / "A" / "a.jpg", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="two images named 'a'"):
        load_paired_dataset(tmp_path)


def test_size_mismatch_within_a_side_is_named(tmp_path):
    _save(tmp_path / "A" / "a.png", np.zeros((4, 4), np.uint8))
    _save(tmp_path / "A" / "b.png", np.zeros((5, 4), np.uint8))
    for stem in "ab":
        _save(tmp_path / "B" / f"{stem}.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"different sizes: 'a.png' is 4x4 .*b.png' is 5x4.*image_size"):
        load_paired_dataset(tmp_path)


def test_side_by_side_halves_and_splits(tmp_path):
    rng = np.random.default_rng(3)
    images = {}
    for split, n in [("train", 3), ("test", 2)]:
        for i in range(n):
            pixels = rng.integers(0, 256, (4, 10), dtype=np.uint8)
            images[(split, i)] = pixels
            _save(tmp_path / split / f"{i}.png", pixels)
    train = load_paired_dataset(tmp_path)
    test = load_paired_dataset(tmp_path, "test")
    assert (len(train), len(test)) == (3, 2) and train.condition_shape == (1, 4, 5)
    left = torch.stack([_unit(images[("test", i)][:, :5]) for i in range(2)])
    right = torch.stack([_unit(images[("test", i)][:, 5:]) for i in range(2)])
    assert torch.equal(test.condition[:, 0], left) and torch.equal(test.target[:, 0], right)
    swapped = load_paired_dataset(tmp_path, "test", direction="BtoA")
    assert torch.equal(swapped.condition[:, 0], right)
    # Each half resized on its own: a constant half stays constant (nothing leaks across).
    flat = np.concatenate([np.full((6, 6), 10, np.uint8), np.full((6, 6), 250, np.uint8)], axis=1)
    _save(tmp_path / "flat" / "x.png", flat)
    one = load_paired_dataset(tmp_path / "flat", "train", image_size=3)
    assert torch.equal(one.condition, torch.full((1, 1, 3, 3), 10 / 127.5 - 1))
    assert torch.equal(one.target, torch.full((1, 1, 3, 3), 250 / 127.5 - 1))


def test_side_by_side_errors(tmp_path):
    _save(tmp_path / "odd" / "x.png", np.zeros((4, 7), np.uint8))
    with pytest.raises(ValueError, match=r"x.png' is 4x7 \(HxW\): an odd width.*side by side"):
        load_paired_dataset(tmp_path / "odd")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images at its top level.*A/ and B/"):
        load_paired_dataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="direction must be one of"):
        load_paired_dataset(tmp_path / "odd", direction="left")
    with pytest.raises(ValueError, match="test_path does not apply with target_path"):
        load_paired_dataset(tmp_path / "odd", target_path=tmp_path / "odd", test_path=tmp_path / "odd")
    with pytest.raises(FileNotFoundError, match="target_path"):
        load_paired_dataset(tmp_path / "odd", target_path=tmp_path / "nowhere")
