"""FeatureTap on compiled modules, module inputs, threads and DataParallel (issue 14, point 7)."""

from __future__ import annotations

import threading
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from featmatch import FeatureTap, list_layers


def _deep_discriminator(blocks: int = 10) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(blocks):
        layers += [nn.Linear(4, 4), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers, nn.Linear(4, 1))


# ---------------------------------------------------------------- torch.compile


def test_compiled_module_names_drop_orig_mod_prefix():
    D = _deep_discriminator(2)
    compiled = torch.compile(D, backend="eager")
    assert list_layers(compiled) == list_layers(D)
    tap = FeatureTap(compiled, layers=["_orig_mod.1", "3"])
    assert tap.layers == ("1", "3")
    assert FeatureTap(compiled).layers == ("1", "3")


def test_compiled_module_taps_every_layer_without_recompiling(monkeypatch):
    torch._dynamo.reset()
    D = _deep_discriminator(10)  # 10 tapped layers: more than dynamo's recompile limit of 8
    compiled = torch.compile(D, backend="eager")
    x = torch.randn(3, 4)
    want = FeatureTap(D)(x).features
    monkeypatch.setattr(torch._dynamo.config, "error_on_recompile", True)
    with FeatureTap(compiled) as tap:
        for _ in range(3):
            out = tap(x)
    assert list(out.features) == list(want)
    for name in want:
        torch.testing.assert_close(out.features[name], want[name])


# ---------------------------------------------------------------- a module's input


class FunctionalActivationD(nn.Module):
    """HiFi-GAN style: the activation is a function call, so no module outputs the activated feature."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv1d(1, 4, 3, padding=1), nn.Conv1d(4, 4, 3, padding=1)])
        self.conv_post = nn.Conv1d(4, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        fmap = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return x, fmap


def test_tap_reads_module_input_after_functional_activation():
    D = FunctionalActivationD()
    x = torch.randn(2, 1, 8)
    _, fmap = D(x)
    out = FeatureTap(D, layers=["convs.1:input", "conv_post:input", "conv_post"])(x)
    assert list(out.features) == ["convs.1:input", "conv_post:input", "conv_post"]
    torch.testing.assert_close(out.features["convs.1:input"], fmap[0])  # after leaky_relu
    torch.testing.assert_close(out.features["conv_post:input"], fmap[1])
    torch.testing.assert_close(out.features["conv_post"], fmap[2])


def test_input_spec_with_glob_and_errors():
    D = FunctionalActivationD()
    assert FeatureTap(D, layers="convs.*:input").layers == ("convs.0:input", "convs.1:input")
    assert FeatureTap(D, layers=["conv_post:output", "conv_post"]).layers == ("conv_post",)
    with pytest.raises(ValueError, match=r"no layer named 'conv:input'. Did you mean 'convs'"):
        FeatureTap(D, layers="conv:input")


def test_input_capture_keeps_gradient():
    D = FunctionalActivationD()
    x = torch.randn(2, 1, 8, requires_grad=True)
    feature = FeatureTap(D, layers="conv_post:input")(x).features["conv_post:input"]
    (grad,) = torch.autograd.grad(feature.sum(), x)
    assert grad.abs().sum() > 0


# ---------------------------------------------------------------- threads and DataParallel


class _Slow(nn.Module):
    """Sleeps so that calls from several threads interleave inside one forward pass."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.02)
        return x


@pytest.mark.parametrize("opened", [True, False])
def test_one_tap_called_from_four_threads(opened):
    D = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), _Slow(), nn.Linear(3, 3), nn.ReLU(), _Slow(), nn.Linear(3, 1))
    tap = FeatureTap(D)
    inputs = [torch.full((2, 3), float(i)) for i in range(4)]
    results: dict[int, object] = {}

    def work(i: int) -> None:
        try:
            results[i] = tap(inputs[i])
        except Exception as error:  # reported below, per thread
            results[i] = error

    if opened:
        tap.open()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if opened:
        tap.close()
    assert not tap.is_open
    for i in range(4):
        assert not isinstance(results[i], Exception), results[i]
        want = FeatureTap(D)(inputs[i]).features
        torch.testing.assert_close(results[i].features["1"], want["1"])
        torch.testing.assert_close(results[i].features["4"], want["4"])


def test_data_parallel_over_several_devices_is_refused():
    dp = nn.DataParallel(_deep_discriminator(1))  # no GPU here: device_ids is empty
    assert FeatureTap(dp).layers == ("1",)  # runs in the calling thread: fine
    dp.device_ids = [0, 1]  # what DataParallel holds on a machine with two GPUs
    with pytest.raises(ValueError, match=r"DataParallel.*2 devices.*DistributedDataParallel"):
        FeatureTap(dp)
