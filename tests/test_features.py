"""FeatureTap, list_layers and as_discriminator_output, checked against hand-run forwards."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from featmatch.features import (
    DEFAULT_ACTIVATIONS,
    OUTPUT_CONVENTIONS,
    DiscriminatorOutput,
    FeatureTap,
    as_discriminator_output,
    list_layers,
)


class DCGANLike(nn.Module):
    """A tiny DCGAN-style discriminator: one `main` Sequential, in-place LeakyReLUs, 8x8 -> 1x1 logits."""

    def __init__(self, inplace: bool = True) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, 4, 4, 2, 1),  # (N, 4, 4, 4)
            nn.LeakyReLU(0.2, inplace=inplace),
            nn.Conv2d(4, 8, 4, 2, 1),  # (N, 8, 2, 2)
            nn.BatchNorm2d(8),
            nn.LeakyReLU(0.2, inplace=inplace),
            nn.Conv2d(8, 1, 2, 1, 0),  # (N, 1, 1, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


class ReferenceLike(nn.Module):
    """The reference article's discriminator shape, tiny: four blocks, a sigmoid head, (score, [blocks])."""

    def __init__(self) -> None:
        super().__init__()
        self.rof_1 = nn.Sequential(nn.Conv1d(3, 4, 3, 2, 1), nn.LeakyReLU(0.2))
        self.rof_2 = nn.Sequential(nn.Conv1d(4, 4, 3, 2, 1), nn.BatchNorm1d(4), nn.LeakyReLU(0.2))
        self.rof_3 = nn.Sequential(nn.Conv1d(4, 4, 3, 2, 1), nn.BatchNorm1d(4), nn.LeakyReLU(0.2))
        self.rof_4 = nn.Sequential(nn.Conv1d(4, 4, 3, 2, 1), nn.BatchNorm1d(4), nn.LeakyReLU(0.2))
        self.rof_end = nn.Sequential(nn.Conv1d(4, 1, 2, 1, 0), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        r1 = self.rof_1(x)
        r2 = self.rof_2(r1)
        r3 = self.rof_3(r2)
        r4 = self.rof_4(r3)
        return self.rof_end(r4).view(-1), [r1, r2, r3, r4]


def _no_hooks(module: nn.Module) -> bool:
    return all(len(m._forward_hooks) == 0 for m in module.modules())


def _x(n: int = 3) -> torch.Tensor:
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def test_list_layers() -> None:
    assert list_layers(DCGANLike()) == ["main", "main.0", "main.1", "main.2", "main.3", "main.4", "main.5"]
    nested = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    assert list_layers(nested) == ["0", "1", "1.0", "1.1"]
    with pytest.raises(TypeError, match="module must be an nn.Module, got int"):
        list_layers(3)  # type: ignore[arg-type]


def test_tap_equals_manual_forward() -> None:
    torch.manual_seed(0)
    D, x = DCGANLike(), _x()
    with FeatureTap(D, layers=["main.1", "main.4"]) as tap:
        out = tap(x)
    assert isinstance(out, DiscriminatorOutput)
    # By hand: run each submodule in turn on a copy of the input (in-place ops act on our own tensors).
    h = x.clone()
    manual = []
    for layer in D.main:
        h = layer(h)
        manual.append(h.clone())
    assert list(out.features) == ["main.1", "main.4"]
    torch.testing.assert_close(out.features["main.1"], manual[1])
    torch.testing.assert_close(out.features["main.4"], manual[4])
    torch.testing.assert_close(out.logits, manual[5].view(-1))
    assert out.features["main.1"].shape == (3, 4, 4, 4) and out.features["main.4"].shape == (3, 8, 2, 2)


def test_order_as_asked() -> None:
    D = DCGANLike()
    out = FeatureTap(D, layers=["main.4", "main", "main.1"])(_x())
    assert list(out.features) == ["main.4", "main", "main.1"]
    assert FeatureTap(D, layers=["main.4", "main.1"]).layers == ("main.4", "main.1")


def test_no_hooks_left_behind() -> None:
    D = DCGANLike()
    tap = FeatureTap(D, layers=["main.1", "main.4"])
    with tap:
        assert tap.is_open
        assert len(D.main[1]._forward_hooks) == 1 and len(D.main[4]._forward_hooks) == 1
        tap(_x())
    assert not tap.is_open and _no_hooks(D)
    # After an exception inside the block.
    with pytest.raises(RuntimeError, match="boom"):
        with FeatureTap(D, layers=nn.LeakyReLU) as tap2:
            tap2(_x())
            raise RuntimeError("boom")
    assert _no_hooks(D)
    # After an exception inside the forward (wrong input shape).
    with pytest.raises(RuntimeError):
        with FeatureTap(D, layers="main.*") as tap3:
            tap3(torch.randn(2, 3, 8, 8))
    assert _no_hooks(D)
    # Without `with`: a call on a closed tap opens and closes the hooks itself.
    tap4 = FeatureTap(D, layers=["main.1"])
    assert list(tap4(_x()).features) == ["main.1"]
    assert not tap4.is_open and _no_hooks(D)
    with pytest.raises(RuntimeError):
        tap4(torch.randn(2, 3, 8, 8))
    assert _no_hooks(D)
    # open() / close() / remove() by hand.
    tap4.open()
    assert not _no_hooks(D)
    with pytest.raises(RuntimeError, match="already open"):
        tap4.open()
    tap4.remove()
    tap4.close()  # twice is fine
    assert _no_hooks(D)
    assert repr(tap4) == "FeatureTap(DCGANLike, layers=['main.1'], closed)"


def test_direct_calls_while_open_capture_nothing() -> None:
    D = DCGANLike()
    with FeatureTap(D, layers=["main.1"]) as tap:
        D(_x())  # not through the tap: not recorded, nothing held
        assert tap._calls == {}
        out = tap(_x())
        assert tap._calls == {}  # the tap does not keep the captured tensors after returning
    assert list(out.features) == ["main.1"]


def test_glob_and_type_selection() -> None:
    D = DCGANLike()
    assert FeatureTap(D, layers="main.*").layers == tuple(f"main.{i}" for i in range(6))
    assert FeatureTap(D, layers=["main.[14]"]).layers == ("main.1", "main.4")
    assert FeatureTap(D, layers=nn.LeakyReLU).layers == ("main.1", "main.4")
    assert FeatureTap(D, layers=[nn.Conv2d]).layers == ("main.0", "main.2", "main.5")
    # Mixed entries keep the order asked; a layer selected twice appears once, at its first position.
    assert FeatureTap(D, layers=["main.4", nn.LeakyReLU, "main.?"]).layers == (
        "main.4",
        "main.1",
        "main.0",
        "main.2",
        "main.3",
        "main.5",
    )

    class Named(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv_in = nn.Conv1d(1, 2, 3)
            self.act = nn.ReLU()
            self.conv_out = nn.Conv1d(2, 1, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv_out(self.act(self.conv_in(x)))

    model = Named()
    x = torch.randn(2, 1, 9)
    out = FeatureTap(model, layers="*conv*")(x)
    assert list(out.features) == ["conv_in", "conv_out"]
    torch.testing.assert_close(out.features["conv_in"], model.conv_in(x))
    torch.testing.assert_close(out.features["conv_out"], out.logits)


def test_default_layers() -> None:
    # DCGAN style: the LeakyReLU outputs, i.e. each conv block's output.
    assert FeatureTap(DCGANLike()).layers == ("main.1", "main.4")
    # A sigmoid head is not a feature.
    mlp = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid())
    assert FeatureTap(mlp).layers == ("1", "3")
    assert nn.Sigmoid not in DEFAULT_ACTIVATIONS and nn.LeakyReLU in DEFAULT_ACTIVATIONS
    # The reference article's discriminator: the default taps are exactly the four blocks it returns.
    torch.manual_seed(0)
    ref = ReferenceLike()
    tap = FeatureTap(ref)
    assert tap.layers == ("rof_1.1", "rof_2.2", "rof_3.2", "rof_4.2")
    out = tap(torch.randn(2, 3, 32))
    _, blocks = out.logits
    for got, want in zip(out.features.values(), blocks, strict=True):
        assert got is want

    # No activation modules: a Sequential falls back to every direct child but the last.
    class FunctionalBlock(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.leaky_relu(self.lin(x), 0.2)

    seq = nn.Sequential(FunctionalBlock(), FunctionalBlock(), nn.Linear(4, 1))
    assert FeatureTap(seq).layers == ("0", "1")
    # Otherwise there is no sensible default.
    with pytest.raises(ValueError, match=r"layers=None: FunctionalBlock has no activation modules .* pass layers explicitly, e.g. layers=\['lin'\]"):
        FeatureTap(FunctionalBlock())


def test_errors_name_the_layer_and_suggest() -> None:
    D = DCGANLike()
    with pytest.raises(ValueError, match=r"DCGANLike has no layer named 'main4'\. Did you mean 'main\.4', "):
        FeatureTap(D, layers=["main.1", "main4"])
    with pytest.raises(ValueError, match=r"no layer named 'discriminator'\. Its layers are: 'main', 'main\.0'"):
        FeatureTap(D, layers="discriminator")
    with pytest.raises(ValueError, match=r"layers pattern 'conv\*' matches no layer of DCGANLike"):
        FeatureTap(D, layers="conv*")
    with pytest.raises(ValueError, match=r"layers entry GRU matches no submodule of DCGANLike\. Its submodule types are: BatchNorm2d, Conv2d, LeakyReLU, Sequential"):
        FeatureTap(D, layers=[nn.GRU])
    with pytest.raises(TypeError, match=r"each entry of layers must be a str .* got int \(3\)"):
        FeatureTap(D, layers=["main.1", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="non-empty list"):
        FeatureTap(D, layers=[])
    with pytest.raises(TypeError, match="module must be an nn.Module"):
        FeatureTap(lambda x: x)  # type: ignore[arg-type]


def test_layer_that_does_not_run() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(2, 2)
            self.unused = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    model = Branchy()
    with pytest.raises(ValueError, match="layer 'unused' did not run during the forward pass of Branchy"):
        FeatureTap(model, layers=["used", "unused"])(torch.randn(1, 2))
    assert _no_hooks(model)


def test_overwritten_in_place_output_is_refused() -> None:
    # main.0's output is overwritten by the in-place LeakyReLU that follows: refusing beats returning wrong values.
    with pytest.raises(ValueError, match=r"output of layer 'main\.0' was modified in place"):
        FeatureTap(DCGANLike(inplace=True), layers=["main.0"])(_x())
    torch.manual_seed(0)
    D = DCGANLike(inplace=False)
    out = FeatureTap(D, layers=["main.0"])(_x())
    torch.testing.assert_close(out.features["main.0"], D.main[0](_x()))


def test_tuple_returning_module_gives_first_tensor() -> None:
    class LSTMDisc(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(3, 5, batch_first=True)
            self.head = nn.Linear(5, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seq, _ = self.lstm(x)  # (N, T, 5)
            return self.head(seq[:, -1])

    class Pair(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x * 2, x * 3

    class PairUser(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pair = Pair()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a, b = self.pair(x)
            return a + b

    torch.manual_seed(0)
    model, x = LSTMDisc(), torch.randn(2, 4, 3)
    out = FeatureTap(model, layers=["lstm"])(x)
    torch.testing.assert_close(out.features["lstm"], model.lstm(x)[0])
    assert out.features["lstm"].shape == (2, 4, 5)
    x2 = torch.randn(2, 3)
    out2 = FeatureTap(PairUser(), layers="pair")(x2)
    torch.testing.assert_close(out2.features["pair"], x2 * 2)

    class NoTensor(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[int, str]:
            return 1, "a"

    class UsesNoTensor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.odd = NoTensor()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.odd(x)
            return x

    holder = UsesNoTensor()
    with pytest.raises(TypeError, match=r"layer 'odd' \(NoTensor\) returned tuple with no Tensor in it"):
        FeatureTap(holder, layers="odd")(x2)
    assert _no_hooks(holder)


def test_module_called_twice_keeps_every_call() -> None:
    class SharedAct(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(2, 4)
            self.fc2 = nn.Linear(4, 4)
            self.act = nn.LeakyReLU(0.2)  # one module applied after both layers
            self.head = nn.Linear(4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.act(self.fc2(self.act(self.fc1(x)))))

    torch.manual_seed(0)
    model, x = SharedAct(), torch.randn(3, 2)
    out = FeatureTap(model)(x)  # default layers: the activation, called twice
    assert list(out.features) == ["act", "act#1"]
    h1 = F.leaky_relu(model.fc1(x), 0.2)
    h2 = F.leaky_relu(model.fc2(h1), 0.2)
    torch.testing.assert_close(out.features["act"], h1)
    torch.testing.assert_close(out.features["act#1"], h2)
    # Repeated calls of the tap start afresh each time.
    assert list(FeatureTap(model, layers=["fc2", "act"])(x).features) == ["fc2", "act", "act#1"]


def test_no_grad() -> None:
    torch.manual_seed(0)
    D, x = DCGANLike(), _x()
    with FeatureTap(D, layers=["main.1", "main.4"]) as tap:
        with_grad = tap(x)
        with torch.no_grad():
            without = tap(x)
    assert not without.features["main.4"].requires_grad and with_grad.features["main.4"].requires_grad
    for name in ("main.1", "main.4"):
        torch.testing.assert_close(without.features[name], with_grad.features[name].detach())
    with torch.inference_mode():
        out = FeatureTap(D, layers=["main.4"])(x)
    torch.testing.assert_close(out.features["main.4"], with_grad.features["main.4"].detach())


def test_gradient_flows_from_features_to_input_and_generator() -> None:
    torch.manual_seed(0)
    D = DCGANLike()
    G = nn.Linear(4, 64)
    z = torch.randn(3, 4)
    fake = G(z).view(3, 1, 8, 8)
    out = FeatureTap(D, layers=["main.1"])(fake)
    loss = out.features["main.1"].square().mean()
    grad_tap = torch.autograd.grad(loss, G.weight)[0]
    # Reference: the same loss on a hand-run forward of the first two layers.
    fake2 = G(z).view(3, 1, 8, 8)
    manual = D.main[1](D.main[0](fake2)).square().mean()
    grad_manual = torch.autograd.grad(manual, G.weight)[0]
    assert grad_tap.abs().sum() > 0
    torch.testing.assert_close(grad_tap, grad_manual)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_distributed_data_parallel() -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        D = DCGANLike(inplace=False)
        ddp = nn.parallel.DistributedDataParallel(D)
        assert list_layers(ddp) == list_layers(D)
        # Names with and without the "module." prefix; feature names never carry it.
        tap = FeatureTap(ddp, layers=["module.main.1", "main.4", "module.main.[0]"])
        assert tap.layers == ("main.1", "main.4", "main.0")
        x = _x()
        out = tap(x)
        assert list(out.features) == ["main.1", "main.4", "main.0"]
        torch.testing.assert_close(out.features["main.1"], D.main[1](D.main[0](x)))
        out.features["main.4"].mean().backward()  # DDP's backward (all-reduce) runs through the feature
        assert D.main[0].weight.grad is not None
        assert FeatureTap(ddp).layers == ("main.1", "main.4")
        assert _no_hooks(ddp)
        with pytest.raises(ValueError, match=r"no layer named 'module\.main\.9'\. Did you mean"):
            FeatureTap(ddp, layers="module.main.9")
    finally:
        dist.destroy_process_group()


def test_data_parallel_names() -> None:
    D = DCGANLike()
    assert FeatureTap(nn.DataParallel(D), layers=["module.main.1"]).layers == ("main.1",)


# ---- adapters -----------------------------------------------------------------------------------


def _t(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


def test_adapter_pix2pixhd() -> None:
    layers = [_t(2, 4, 8, 8), _t(2, 8, 4, 4), _t(2, 1, 3, 3)]
    out = as_discriminator_output(layers, "pix2pixhd")
    assert isinstance(out, DiscriminatorOutput)
    assert out.logits is layers[-1]
    assert list(out.features) == ["0", "1"]
    assert out.features["0"] is layers[0] and out.features["1"] is layers[1]
    # Multi-scale: a list of such lists -> one output per scale.
    scales = [layers, [_t(2, 4, 4, 4), _t(2, 1, 2, 2)]]
    outs = as_discriminator_output(scales, "pix2pixhd")
    assert isinstance(outs, list) and len(outs) == 2
    assert outs[1].logits is scales[1][1] and list(outs[1].features) == ["0"]
    # Without getIntermFeat pix2pixHD returns [[logits], [logits]]: no features.
    plain = as_discriminator_output([[_t(2, 1, 3, 3)], [_t(2, 1, 2, 2)]], "pix2pixhd")
    assert [o.features for o in plain] == [{}, {}]


def test_adapter_pix2pixhd_errors() -> None:
    with pytest.raises(ValueError, match=r"expects a non-empty list of Tensors .* got list\[Tensor\(2, 3\), list\[Tensor\(2,\)\]\], which mixes"):
        as_discriminator_output([_t(2, 3), [_t(2)]], "pix2pixhd")
    with pytest.raises(ValueError, match=r"got list\[\]"):
        as_discriminator_output([], "pix2pixhd")
    with pytest.raises(ValueError, match=r"scale 1 is list\[\]"):
        as_discriminator_output([[_t(2)], []], "pix2pixhd")
    with pytest.raises(ValueError, match=r"got Tensor\(2, 3\)"):
        as_discriminator_output(_t(2, 3), "pix2pixhd")


def test_adapter_hifigan() -> None:
    logits, fmaps = _t(2, 10), [_t(2, 4, 10), _t(2, 8, 5)]
    out = as_discriminator_output((logits, fmaps), "hifigan")
    assert isinstance(out, DiscriminatorOutput)
    assert out.logits is logits and list(out.features) == ["0", "1"] and out.features["1"] is fmaps[1]
    # Several discriminators (MultiPeriodDiscriminator style): (list of logits, list of fmap lists).
    all_logits = [_t(2, 10), _t(2, 12), _t(2, 9)]
    all_fmaps = [[_t(2, 4, 10)], [_t(2, 4, 12), _t(2, 8, 6)], [_t(2, 3)]]
    outs = as_discriminator_output((all_logits, all_fmaps), "hifigan")
    assert isinstance(outs, list) and len(outs) == 3
    assert [list(o.features) for o in outs] == [["0"], ["0", "1"], ["0"]]
    assert outs[1].logits is all_logits[1] and outs[1].features["1"] is all_fmaps[1][1]


def test_adapter_hifigan_errors() -> None:
    with pytest.raises(ValueError, match=r"expects \(logits: Tensor, feature_maps: \[Tensor, \.\.\.\]\).* Hint: HiFi-GAN's forward\(y, y_hat\) returns \(y_d_rs, y_d_gs, fmap_rs, fmap_gs\)"):
        as_discriminator_output(([_t(2)], [_t(2)], [[_t(2)]], [[_t(2)]]), "hifigan")
    with pytest.raises(ValueError, match=r"got 2 logits but feature maps list\[list\[Tensor\(2,\)\]\]"):
        as_discriminator_output(([_t(2), _t(2)], [[_t(2)]]), "hifigan")
    with pytest.raises(ValueError, match=r"the feature maps are Tensor\(2, 4\), not a list of Tensors"):
        as_discriminator_output((_t(2), _t(2, 4)), "hifigan")
    with pytest.raises(ValueError, match=r"the feature maps of discriminator 1 are list\[list"):
        as_discriminator_output(([_t(2), _t(2)], [[_t(2)], [[_t(2)]]]), "hifigan")


def test_adapter_reference() -> None:
    torch.manual_seed(0)
    ref = ReferenceLike()
    raw = ref(torch.randn(2, 3, 32))
    out = as_discriminator_output(raw, "reference")
    assert isinstance(out, DiscriminatorOutput)
    assert list(out.features) == ["block1", "block2", "block3", "block4"]
    assert out.logits is raw[0] and out.features["block3"] is raw[1][2]
    assert out.features["block4"].requires_grad  # graphs are kept
    with pytest.raises(ValueError, match=r"convention='reference' expects \(score: Tensor, \[block outputs"):
        as_discriminator_output(([_t(2)], [[_t(2)]]), "reference")
    with pytest.raises(ValueError, match=r"got tuple\[Tensor\(2,\)\]"):
        as_discriminator_output((_t(2),), "reference")


def test_adapter_convention_errors_and_passthrough() -> None:
    assert OUTPUT_CONVENTIONS == ("pix2pixhd", "hifigan", "reference")
    with pytest.raises(ValueError, match=r"convention must be one of 'pix2pixhd', 'hifigan', 'reference', got 'hifi-gan'\. Did you mean 'hifigan'\?"):
        as_discriminator_output((_t(2), [_t(2)]), "hifi-gan")
    ready = DiscriminatorOutput(_t(2), {"a": _t(2)})
    assert as_discriminator_output(ready, "hifigan") is ready
    both = [ready, ready]
    assert as_discriminator_output(both, "pix2pixhd") is both
