"""DataSet checks, subset, shard and the batch iterator."""

from __future__ import annotations

import pytest
import torch

from featmatch.data import DataSet, batches, shard, subset


def _points(n: int = 10, labelled: bool = True) -> DataSet:
    # Row i is (i, -i): each sample identifies itself.
    x = torch.stack([torch.arange(n, dtype=torch.float32), -torch.arange(n, dtype=torch.float32)], 1)
    y = torch.arange(n) % 3 if labelled else None
    return DataSet("pts", "points", x, y)


def test_dataset_properties():
    data = DataSet("img", "image", torch.zeros(5, 3, 4, 6), torch.tensor([0, 4, 1, 1, 2]))
    assert len(data) == 5
    assert data.sample_shape == (3, 4, 6)
    assert data.num_classes == 5
    assert DataSet("p", "points", torch.zeros(2, 2)).num_classes is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "video", "x": torch.zeros(2, 2)}, "kind must be one of"),
        ({"kind": "image", "x": torch.zeros(2, 8, 8)}, r"\(N, C, H, W\).*got shape \(2, 8, 8\)"),
        ({"kind": "sequence", "x": torch.zeros(2, 8)}, r"\(N, C, T\)"),
        ({"kind": "points", "x": torch.zeros(2, 2, dtype=torch.float64)}, "float32"),
        ({"kind": "points", "x": torch.zeros(2, 2), "y": torch.zeros(3, dtype=torch.long)}, r"shape \(2,\)"),
        ({"kind": "points", "x": torch.zeros(2, 2), "y": torch.zeros(2)}, "int64"),
        ({"kind": "points", "x": torch.zeros(2, 2), "y": torch.tensor([0, -1])}, ">= 0"),
        ({"kind": "points", "x": torch.zeros(2, 2), "centres": torch.zeros(3)}, r"\(K, 2\)"),
    ],
)
def test_dataset_rejects_bad_fields(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataSet(name="bad", **kwargs)


def test_subset_is_reproducible_and_ordered():
    data = _points(20)
    a, b = subset(data, 7, seed=3), subset(data, 7, seed=3)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    ids = a.x[:, 0]
    assert len(set(ids.tolist())) == 7 and torch.all(ids[1:] > ids[:-1])
    assert torch.equal(a.y, ids.long() % 3)  # labels stay with their samples
    assert not torch.equal(subset(data, 7, seed=4).x, a.x)
    assert subset(data, None, seed=0) is data
    with pytest.raises(ValueError, match=r"size must be an int in \[1, 20\]"):
        subset(data, 21, seed=0)


def test_shard_partitions_the_data():
    data = _points(10)
    parts = [shard(data, r, 3) for r in range(3)]
    assert [len(p) for p in parts] == [4, 3, 3]
    ids = sorted(i for p in parts for i in p.x[:, 0].tolist())
    assert ids == list(range(10))
    assert parts[1].x[:, 0].tolist() == [1.0, 4.0, 7.0]
    assert torch.equal(parts[1].y, torch.tensor([1, 4, 7]) % 3)
    assert shard(data, 0, 1) is data


@pytest.mark.parametrize(("rank", "world_size", "match"), [(3, 3, "rank must be"), (-1, 2, "rank must be"), (0, 0, "world_size")])
def test_shard_rejects_bad_ranks(rank, world_size, match):
    with pytest.raises(ValueError, match=match):
        shard(_points(), rank, world_size)


def test_shard_rejects_too_many_ranks():
    with pytest.raises(ValueError, match="fewer than world_size=4"):
        shard(_points(3), 0, 4)


def test_batches_cover_each_epoch_and_are_reproducible():
    data = _points(10)
    it = batches(data, 3, torch.Generator().manual_seed(0))
    first = [next(it) for _ in range(3)]  # one epoch: 3 full batches, 1 sample dropped
    assert all(b.shape == (3, 2) for b in first)
    ids = torch.cat(first)[:, 0].tolist()
    assert len(set(ids)) == 9
    again = batches(data, 3, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, next(again)) for a in first)
    other = batches(data, 3, torch.Generator().manual_seed(1))
    assert not all(torch.equal(a, next(other)) for a in first)
    assert len([next(it) for _ in range(50)]) == 50  # endless


def test_batches_draw_from_the_rank_shard_with_labels():
    data = _points(12)
    it = batches(data, 2, torch.Generator().manual_seed(0), rank=1, world_size=3, labels=True)
    for _ in range(6):
        xb, yb = next(it)
        assert set(xb[:, 0].tolist()) <= {1.0, 4.0, 7.0, 10.0}
        assert torch.equal(yb, xb[:, 0].long() % 3)


def test_batches_errors():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"batch_size=11 is larger than the 10 samples"):
        batches(_points(10), 11, g)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        batches(_points(10), 0, g)
    with pytest.raises(ValueError, match="has no labels"):
        batches(_points(10, labelled=False), 2, g, labels=True)
