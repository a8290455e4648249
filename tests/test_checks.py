"""featmatch._checks: the shared int check, and one SPLITS for every loader."""

from __future__ import annotations

import pytest
import torch

from featmatch._checks import NotAnIntError, check_int, check_positive_int
from featmatch.errors import InputError


@pytest.mark.parametrize(
    ("kwargs", "value", "message"),
    [
        ({"minimum": 1}, 0, r"^k must be an int >= 1, got 0\.$"),
        ({"maximum": 3}, 4, r"^k must be an int <= 3, got 4\.$"),
        ({"minimum": 0, "maximum": 3}, -1, r"^k must be an int in \[0, 3\], got -1\.$"),
        ({"minimum": 1, "hint": " Hint: use 3."}, 0, r"^k must be an int >= 1, got 0\. Hint: use 3\.$"),
    ],
)
def test_check_int_out_of_range_is_a_value_error_naming_argument_expected_and_actual(kwargs, value, message):
    with pytest.raises(ValueError, match=message):
        check_int("k", value, **kwargs)


@pytest.mark.parametrize(("value", "shown"), [(True, "bool True"), (2.0, "float 2.0"), ("3", "str '3'"), (None, "NoneType None")])
def test_check_int_wrong_type_is_a_type_error_and_an_input_error(value, shown):
    with pytest.raises(NotAnIntError, match=rf"^k must be an int >= 1, got {shown}\.$") as info:
        check_int("k", value, minimum=1)
    assert isinstance(info.value, TypeError) and isinstance(info.value, InputError)


def test_check_int_returns_the_value():
    assert check_int("k", 0, minimum=0) == 0
    assert check_int("k", 3, minimum=1, maximum=3) == 3
    assert check_int("k", -7) == -7
    assert check_positive_int("width", 8) == 8
    with pytest.raises(NotAnIntError, match=r"width must be an int, got bool \(True\)"):
        check_positive_int("width", True)


def test_former_hand_written_checks_now_share_it():
    from featmatch.data import DataSet, batches, load_dataset, sample_mixture, shard, subset
    from featmatch.metrics import knn_radii
    from featmatch.models import build_models

    data = DataSet("t", "points", torch.zeros(10, 2))
    calls = [
        lambda: subset(data, True, seed=0),
        lambda: shard(data, rank=False, world_size=2),
        lambda: next(batches(data, 2.0, torch.Generator())),
        lambda: load_dataset("ring8", seed=True),
        lambda: sample_mixture(torch.zeros(2, 2), 0.1, 3.0, torch.Generator()),
        lambda: knn_radii(torch.zeros(5, 2), k=True),
        lambda: build_models("mlp", (2,), depth=True),
        lambda: build_models("mlp", (True,)),
    ]
    for call in calls:
        with pytest.raises(NotAnIntError, match=r"must be an int .*got (bool|float)"):
            call()


def test_splits_is_defined_once():
    import featmatch.data as data
    from featmatch.data import dataset, digits, files, load, mnist1d

    assert data.SPLITS == ("train", "test")
    assert all(module.SPLITS is dataset.SPLITS for module in (data, digits, files, load, mnist1d))
