"""What a user's array holds (images, sequences or vectors): chosen from its shape where only one
reading makes sense, asked for (``kind``, flag ``--data-kind``) where two do; paired arrays together."""

from __future__ import annotations

import numpy as np
import pytest

from featmatch.data import DATASETS, PAIRED_DATASETS, load_dataset, load_paired_dataset
from featmatch.data.kinds import BUILTIN_KINDS, DATA_KINDS, AmbiguousKindError, dataset_kind, infer_kind, user_kind
from featmatch.errors import InputError


@pytest.mark.parametrize(
    ("shape", "kind"),
    [
        ((10, 2), "points"),  # vectors
        ((10, 3, 8, 8), "image"),
        ((10, 1, 32), "sequence"),  # an image one pixel high is no picture
        ((10, 28, 28), "image"),  # square: grayscale images
    ],
)
def test_an_unambiguous_shape_gives_its_kind(shape, kind):
    assert infer_kind([shape], "x.npy") == kind


@pytest.mark.parametrize("shape", [(10, 3, 32), (10, 28, 32), (10, 2, 40)])
def test_a_shape_that_holds_images_or_sequences_asks_for_the_flag(shape):
    with pytest.raises(AmbiguousKindError, match=r"--data-kind image or --data-kind sequence") as info:
        infer_kind([shape], "x.npy")
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)
    assert f"{shape[1]} x {shape[2]} images" in str(info.value) and f"{shape[1]} channels" in str(info.value)


def test_paired_shapes_are_read_together():
    assert infer_kind([(10, 2, 40), (10, 1, 40)], "p.npz") == "sequence"  # (10, 2, 40) alone is ambiguous
    assert infer_kind([(10, 3, 32), (10, 1, 8, 8)], "p.npz") == "image"
    assert infer_kind([(10, 1, 32), (10, 1, 8, 8)], "p.npz") is None  # different kinds: each side alone
    with pytest.raises(AmbiguousKindError, match=r"\(10, 3, 32\) and \(10, 3, 32\)"):
        infer_kind([(10, 3, 32), (10, 3, 32)], "p.npz")


def test_kind_names():
    assert DATA_KINDS == ("image", "sequence", "vector")
    assert [dataset_kind(k) for k in DATA_KINDS] == ["image", "sequence", "points"]
    assert [user_kind(dataset_kind(k)) for k in DATA_KINDS] == list(DATA_KINDS)
    with pytest.raises(ValueError, match="kind must be one of 'image', 'sequence', 'vector'; got 'audio'"):
        dataset_kind("audio")


def test_every_built_in_data_set_has_its_kind():
    assert set(DATASETS) | set(PAIRED_DATASETS) <= set(BUILTIN_KINDS)
    assert set(BUILTIN_KINDS.values()) <= set(DATA_KINDS)
    for name in ("ring8", "digits", "mnist1d"):  # the offline ones
        assert user_kind(load_dataset(name, size=10).kind) == BUILTIN_KINDS[name]
    for name in PAIRED_DATASETS:
        assert user_kind(load_paired_dataset(name, size=4).target_kind) == BUILTIN_KINDS[name]


def test_files_are_read_by_shape_or_by_the_kind_option(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "s.npy", rng.normal(size=(20, 1, 32)).astype(np.float32))
    assert load_dataset(str(tmp_path / "s.npy")).kind == "sequence"
    np.save(tmp_path / "a.npy", rng.normal(size=(20, 3, 32)).astype(np.float32))
    with pytest.raises(AmbiguousKindError, match="has shape \\(20, 3, 32\\)"):
        load_dataset(str(tmp_path / "a.npy"))
    assert load_dataset(str(tmp_path / "a.npy"), kind="sequence").x.shape == (18, 3, 32)
    assert load_dataset(str(tmp_path / "a.npy"), kind="image").x.shape == (18, 1, 3, 32)
    np.save(tmp_path / "v.npy", rng.normal(size=(20, 5)).astype(np.float32))
    assert load_dataset(str(tmp_path / "v.npy"), kind="vector").kind == "points"
    with pytest.raises(ValueError, match="kind must be 'image', 'sequence' or 'vector'"):
        load_dataset(str(tmp_path / "v.npy"), kind="audio")


def test_paired_files_share_one_kind(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "p.npz"
    np.savez(path, condition=rng.normal(size=(20, 2, 40)).astype(np.float32),
             target=rng.normal(size=(20, 1, 40)).astype(np.float32))
    pairs = load_paired_dataset(path)
    assert (pairs.condition_kind, pairs.target_kind) == ("sequence", "sequence")
    both = tmp_path / "both.npz"
    np.savez(both, condition=rng.normal(size=(20, 3, 32)).astype(np.float32),
             target=rng.normal(size=(20, 3, 32)).astype(np.float32))
    with pytest.raises(AmbiguousKindError, match="--data-kind"):
        load_paired_dataset(both)
    assert load_paired_dataset(both, kind="image").target_shape == (1, 3, 32)


def test_paired_arrays_of_other_names(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "p.npz"
    np.savez(path, low=rng.normal(size=(20, 1, 4, 4)).astype(np.float32),
             high=rng.normal(size=(20, 1, 8, 8)).astype(np.float32))
    pairs = load_paired_dataset(path, condition_key="low", target_key="high")
    assert pairs.condition_shape == (1, 4, 4) and pairs.target_shape == (1, 8, 8)
    with pytest.raises(ValueError, match=r"no array\(s\) \['hi'\].*\(as named by condition_key / target_key\)"):
        load_paired_dataset(path, condition_key="low", target_key="hi")
