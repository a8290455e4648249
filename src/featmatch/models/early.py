"""Early prediction of a sequence's class: partial observations, an encoder, and freezing.

The reference article's system: a *teacher* encoder sees whole sequences ``(N, C, T)``; a
*student* encoder sees only the first fraction ``r`` of each sequence and is trained to
classify it and to produce the features the teacher gives for the whole sequence, judged by a
discriminator over features (:class:`~featmatch.models.SequenceDiscriminator`) through
paired feature matching (the ``layer_mse`` preset).

How the student sees a prefix (:func:`observe`): by default the steps after the prefix are set
to zero and a *mask channel* (1 on observed steps, 0 after) is appended, so

- every ratio gives an input of the same length T: one student serves every ratio, and one
  batch can mix ratios (a fraction per sample), which also keeps batch-norm statistics the same
  in training and evaluation;
- the student's features have exactly the teacher's shape ``(N, C_feat, T_feat)``, which
  paired feature matching and the discriminator need (sample i, step t against sample i, step t);
- the model can tell a masked step from an observed value that happens to be 0.

Cutting the sequence (``mode="cut"``) gives inputs, and features, of a length that depends on
the ratio; it is there for models that accept any length and one ratio per batch.

Example:
    >>> import torch
    >>> x = torch.randn(8, 1, 40)
    >>> teacher, student = SequenceEncoder(1, 10), SequenceEncoder(2, 10)  # student: C + 1 (mask)
    >>> feats_t, _ = freeze(teacher)(x)
    >>> feats_s, logits = student(observe(x, 0.3))
    >>> feats_s.shape == feats_t.shape, logits.shape
    (True, torch.Size([8, 10]))
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar

import torch
from torch import Tensor, nn

from featmatch._checks import check_positive_int
from featmatch.models.conv import downsampling_blocks

__all__ = [
    "ENCODER_FAMILIES",
    "OBSERVE_MODES",
    "EncoderOutput",
    "ResNetEncoder",
    "SequenceEncoder",
    "build_encoder",
    "freeze",
    "observe",
    "observed_steps",
]

#: How :func:`observe` hides the unobserved steps: ``"mask"`` (zeros + a mask channel),
#: ``"zero"`` (zeros, no extra channel: a full-sequence model such as the teacher given a
#: prefix), ``"cut"`` (the prefix only, shorter sequences).
OBSERVE_MODES: tuple[str, ...] = ("mask", "zero", "cut")

M = TypeVar("M", bound=nn.Module)


def observed_steps(fraction: float | Tensor, length: int, batch: int | None = None) -> Tensor:
    """How many leading steps of a length-``length`` sequence a fraction observes.

    ``round(fraction * length)`` (half to even, as Python's ``round``), at least 1, computed in
    float64 so that 0.3 x 40 gives 12 whatever the fraction's dtype.

    Args:
        fraction: one fraction in (0, 1], or one per sample (a Tensor of shape ``(N,)``).
        length: the sequence length T.
        batch: N, to check a per-sample fraction against; None skips the check.

    Returns:
        int64 Tensor: 0-d for one fraction, ``(N,)`` for per-sample fractions.

    Raises:
        ValueError: a fraction outside (0, 1] or NaN, or a per-sample fraction of the wrong shape.
        TypeError: a fraction that is neither a real number nor a Tensor.

    Example:
        >>> observed_steps(0.3, 40), observed_steps(torch.tensor([0.1, 1.0]), 40)
        (tensor(12), tensor([ 4, 40]))
    """
    if isinstance(fraction, Tensor):
        if fraction.is_complex() or fraction.dtype == torch.bool:
            raise TypeError(f"fraction must hold real numbers, got a Tensor of dtype {fraction.dtype}.")
        if fraction.ndim > 1 or (fraction.ndim == 1 and batch is not None and fraction.shape[0] != batch):
            expected = "a number or a Tensor of shape ()" + (f" or ({batch},)" if batch is not None else " or (N,)")
            raise ValueError(f"fraction must be {expected} (one per sample), got shape {tuple(fraction.shape)}.")
        values = fraction.detach().to(torch.float64)
    elif isinstance(fraction, (int, float)) and not isinstance(fraction, bool):
        values = torch.tensor(float(fraction), dtype=torch.float64)
    else:
        raise TypeError(f"fraction must be a float in (0, 1] or a Tensor of them, got {type(fraction).__name__}.")
    bad = ~((values > 0) & (values <= 1))  # NaN fails both comparisons, so it is bad too
    if bad.any():
        first = float(values.reshape(-1)[bad.reshape(-1)][0])
        raise ValueError(
            f"fraction must lie in (0, 1] (the share of the sequence observed), got {first!r}. "
            "Hint: 1.0 observes the whole sequence; 0 observes nothing, which nothing can classify."
        )
    return torch.round(values * length).clamp_(min=1).to(torch.int64)


def observe(x: Tensor, fraction: float | Tensor, *, mode: str = "mask") -> Tensor:
    """The part of sequences ``x`` a model sees after observing their first ``fraction``.

    The first ``k = round(fraction * T)`` steps (at least 1, see :func:`observed_steps`) are kept.

    - ``"mask"`` (default): ``(N, C + 1, T)``; the steps after ``k`` are zero and channel ``C``
      (the last) is the mask, 1 on observed steps and 0 after. One model serves every ratio and
      its features keep the full length (see the module docstring for why this is the default).
    - ``"zero"``: ``(N, C, T)``, the steps after ``k`` set to zero, no mask channel: for a model
      trained on whole sequences (the frozen teacher) given the same prefixes.
    - ``"cut"``: ``(N, C, k)``, the prefix itself; every sample must then observe the same ``k``.

    Args:
        x: sequences ``(N, C, T)``.
        fraction: the share observed, in (0, 1]: one number, or a Tensor of shape ``(N,)`` with
            one fraction per sample so that one batch mixes ratios (``"mask"`` and ``"zero"``).
        mode: one of :data:`OBSERVE_MODES`.

    Returns:
        A new Tensor on ``x``'s device with ``x``'s dtype; ``x`` is not changed.

    Raises:
        ValueError: ``x`` not ``(N, C, T)``, a fraction outside (0, 1], an unknown mode, or
            ``"cut"`` with per-sample fractions that observe different numbers of steps.

    Example:
        >>> x = torch.ones(2, 1, 4)
        >>> observe(x, torch.tensor([0.5, 1.0]))
        tensor([[[1., 1., 0., 0.],
                 [1., 1., 0., 0.]],
        <BLANKLINE>
                [[1., 1., 1., 1.],
                 [1., 1., 1., 1.]]])
        >>> observe(x, 0.5, mode="cut").shape
        torch.Size([2, 1, 2])
    """
    if not isinstance(x, Tensor) or x.ndim != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"x must be sequences of shape (N, C, T), got {shape}. Hint: add a channel axis with x.unsqueeze(1)."
        )
    if mode not in OBSERVE_MODES:
        raise ValueError(f"mode must be one of {OBSERVE_MODES}, got {mode!r}.")
    batch, _, length = x.shape
    steps = observed_steps(fraction, length, batch)
    if mode == "cut":
        kept = steps.unique()
        if kept.numel() != 1:
            raise ValueError(
                f"mode='cut' needs every sample to observe the same number of steps, got {kept.tolist()}. "
                "Hint: use mode='mask' (the default) to mix ratios in one batch, or one fraction per batch."
            )
        return x[..., : int(kept)].clone()
    # (N, 1, T): 1 where step t < k of that sample; broadcasting handles one fraction or N of them.
    positions = torch.arange(length, device=x.device)
    mask = (positions < steps.to(x.device).reshape(-1, 1, 1)).to(x.dtype).expand(batch, 1, length)
    observed = x * mask
    if mode == "zero":
        return observed
    return torch.cat([observed, mask], dim=1)  # (N, C + 1, T)


class EncoderOutput(NamedTuple):
    """What a :class:`SequenceEncoder` returns.

    Attributes:
        features: ``(N, C_feat, T_feat)`` sequences of features: what the discriminator over
            features reads and what feature matching compares.
        logits: ``(N, K)`` class scores.
    """

    features: Tensor
    logits: Tensor


class SequenceEncoder(nn.Module):
    """1-D convolutional encoder with a classifier head: the teacher, or the student, of early prediction.

    A stem ``Conv1d(kernel 5, padding 2) -> LeakyReLU(0.2)`` to ``width`` channels keeps the
    length; then ``depth`` strided blocks, the same as :class:`SequenceDiscriminator`'s
    (``Conv1d(4, stride 2, padding 1) -> [BatchNorm1d] -> LeakyReLU(0.2)``, batch norm from block
    2 on, block i with ``width * min(2**(i-1), 8)`` channels), give the features
    ``(N, C_feat, T_feat)`` with ``C_feat = width * min(2**(depth-1), 8)`` and
    ``T_feat = floor(T / 2**depth)``. The head averages the features over ``pool`` equal spans
    of time (so it keeps coarse positions, which MNIST-1D needs) and maps them to ``num_classes``
    logits with one linear layer; it accepts any ``T >= 2**depth``.

    The teacher takes the data's C channels; a student fed by :func:`observe` (``"mask"``) takes
    C + 1. Both give features of the same shape, so the discriminator over features is
    ``SequenceDiscriminator(encoder.feature_channels, depth=...)`` with ``2**depth <= T_feat``.

    Args:
        in_channels: channels of the input sequences.
        num_classes: number of classes K, >= 2.
        width: channels of the stem and of the first block.
        depth: number of strided blocks.
        pool: number of time spans the head averages over.

    Measured (seed 0, MNIST-1D, 400 Adam steps at lr 3e-3, batch 128, one CPU thread, 6 s): 87%
    test accuracy with the defaults; 48% with ``depth=1`` (too small a receptive field).

    Example:
        >>> enc = SequenceEncoder(1, num_classes=10)
        >>> out = enc(torch.randn(4, 1, 40))
        >>> tuple(out.features.shape), tuple(out.logits.shape), enc.feature_shape(40)
        ((4, 64, 10), (4, 10), (64, 10))
    """

    def __init__(self, in_channels: int, num_classes: int, *, width: int = 32, depth: int = 2, pool: int = 4) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.num_classes = check_positive_int("num_classes", num_classes)
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
        self.width = check_positive_int("width", width)
        self.depth = check_positive_int("depth", depth)
        self.pool = check_positive_int("pool", pool)
        self.stem = nn.Sequential(nn.Conv1d(in_channels, width, 5, padding=2), nn.LeakyReLU(0.2))
        self.blocks, self.feature_channels = downsampling_blocks(nn.Conv1d, nn.BatchNorm1d, width, width, depth, False)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool1d(pool), nn.Flatten(), nn.Linear(self.feature_channels * pool, num_classes)
        )
        # PyTorch's default initialisation, not DCGAN's N(0, 0.02): this is a classifier, and the
        # accuracy below was measured with it.

    @property
    def min_length(self) -> int:
        """The shortest sequence length T this encoder accepts: ``2**depth``."""
        return 2**self.depth

    def feature_shape(self, length: int) -> tuple[int, int]:
        """``(C_feat, T_feat)`` of the features for inputs of length ``length``.

        Example:
            >>> SequenceEncoder(1, 10, width=8, depth=3).feature_shape(40)
            (32, 5)
        """
        check_positive_int("length", length)
        return self.feature_channels, length // 2**self.depth

    def forward(self, x: Tensor) -> EncoderOutput:
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            hint = ""
            if x.ndim == 3 and x.shape[1] == self.in_channels - 1:
                hint = " Hint: this encoder takes a mask channel; pass observe(x, fraction)."
            elif x.ndim == 3 and x.shape[1] == self.in_channels + 1:
                hint = " Hint: this encoder takes no mask channel; pass observe(x, fraction, mode='zero')."
            raise ValueError(
                f"SequenceEncoder expects x of shape (N, {self.in_channels}, T), got {tuple(x.shape)}.{hint}"
            )
        if x.shape[-1] < self.min_length:
            raise ValueError(
                f"SequenceEncoder(depth={self.depth}) needs T >= {self.min_length} (2**depth), "
                f"got T = {x.shape[-1]}. Hint: use a smaller depth or mode='mask' rather than 'cut'."
            )
        h = self.stem(x)  # (N, width, T)
        for block in self.blocks:
            h = block(h)  # (N, C_i, floor(L / 2))
        return EncoderOutput(h, self.head(h))


class _SameConv1d(nn.Module):
    """``Conv1d`` with Keras-style "same" padding (``k - 1`` zeros, the extra one on the right) and a stride:
    length L -> ``ceil(L / stride)`` for any kernel size, even ones."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.left = (kernel_size - 1) // 2
        self.right = kernel_size - 1 - self.left
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(nn.functional.pad(x, (self.left, self.right)))  # (N, C_out, ceil(L / stride))


class _ResidualBlock(nn.Module):
    """One residual block of the time-series ResNet (Wang et al. 2017, as in Fawaz et al. 2019).

    ``conv(k1, stride) -> BN -> ReLU -> conv(k2) -> BN -> ReLU -> conv(k3) -> BN``, plus a shortcut
    (``1x1 conv(stride) -> BN`` in the first block and where the channels or the length change, else
    ``BN``), then ReLU. The first block always projects, so a teacher (C inputs) and a student
    (C + 1) have the same modules whatever C is.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_sizes: tuple[int, ...], stride: int, project: bool = False
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for index, kernel in enumerate(kernel_sizes):
            layers.append(_SameConv1d(channels, out_channels, kernel, stride if index == 0 else 1))
            layers.append(nn.BatchNorm1d(out_channels))
            if index < len(kernel_sizes) - 1:
                layers.append(nn.ReLU())
            channels = out_channels
        self.body = nn.Sequential(*layers)
        if project or in_channels != out_channels or stride != 1:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm1d(out_channels)
            )
        else:
            self.shortcut = nn.BatchNorm1d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))  # (N, C_out, ceil(L / stride))


class ResNetEncoder(nn.Module):
    """Residual 1-D CNN encoder with a classifier head: the early task's default teacher and student.

    The time-series ResNet of Wang et al. (2017), the strongest deep model in Fawaz et al.'s
    comparison of deep time-series classifiers (2019): ``depth`` residual blocks of three
    convolutions with kernels ``kernel_sizes`` (8, 5, 3), batch norm and ReLU, and a shortcut
    (a 1x1 convolution in block 1 and where the shape changes). Block 1 has ``width`` channels and keeps the
    length; blocks 2 ... ``depth`` have ``2 * width`` channels (Fawaz et al.'s 64, 128, 128 at
    ``width=64``) and their first convolution has stride ``stride`` (default 2: the length halves
    per block, which keeps long sequences affordable; 1 is the original ResNet). The features
    ``(N, C_feat, T_feat)`` are the last block's output, ``C_feat = 2 * width`` (``width`` for
    ``depth=1``) and ``T_feat = ceil(T / stride**(depth - 1))``. The head averages them over
    ``pool`` equal spans of time (1: global average pooling, as the original) and maps them to
    ``num_classes`` logits with one linear layer.

    Every convolution pads "same", so any ``T >= 1`` is accepted; the teacher takes the data's C
    channels, a student fed by :func:`observe` (``"mask"``) C + 1, and both give features of one
    shape, as :class:`SequenceEncoder`'s.

    Args:
        in_channels: channels of the input sequences.
        num_classes: number of classes K, >= 2.
        width: channels of the first block (the others have twice as many).
        depth: number of residual blocks.
        pool: number of time spans the head averages over.
        stride: stride of blocks 2 ... ``depth``.
        kernel_sizes: kernel sizes of each block's convolutions.

    Example:
        >>> enc = ResNetEncoder(1, num_classes=6, width=16)
        >>> out = enc(torch.randn(4, 1, 427))
        >>> tuple(out.features.shape), tuple(out.logits.shape), enc.feature_shape(427)
        ((4, 32, 107), (4, 6), (32, 107))
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        width: int = 32,
        depth: int = 3,
        pool: int = 1,
        stride: int = 2,
        kernel_sizes: tuple[int, ...] = (8, 5, 3),
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.num_classes = check_positive_int("num_classes", num_classes)
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
        self.width = check_positive_int("width", width)
        self.depth = check_positive_int("depth", depth)
        self.pool = check_positive_int("pool", pool)
        self.stride = check_positive_int("stride", stride)
        kernels = tuple(kernel_sizes)
        if not kernels:
            raise ValueError("kernel_sizes must hold at least one kernel size, got ().")
        for kernel in kernels:
            check_positive_int("kernel_sizes", kernel)
        self.kernel_sizes = kernels
        blocks = []
        channels = in_channels
        for index in range(depth):
            out = width if index == 0 else 2 * width
            blocks.append(_ResidualBlock(channels, out, kernels, 1 if index == 0 else stride, project=index == 0))
            channels = out
        self.blocks = nn.ModuleList(blocks)
        self.feature_channels = channels
        self.head = nn.Sequential(nn.AdaptiveAvgPool1d(pool), nn.Flatten(), nn.Linear(channels * pool, num_classes))

    @property
    def min_length(self) -> int:
        """The shortest sequence length T this encoder accepts: 1 (every convolution pads "same")."""
        return 1

    def feature_shape(self, length: int) -> tuple[int, int]:
        """``(C_feat, T_feat)`` of the features for inputs of length ``length``.

        Example:
            >>> ResNetEncoder(1, 10, width=8).feature_shape(40), ResNetEncoder(1, 10, stride=1).feature_shape(40)
            ((16, 10), (64, 40))
        """
        check_positive_int("length", length)
        for _ in range(self.depth - 1):
            length = -(-length // self.stride)  # ceil
        return self.feature_channels, length

    def forward(self, x: Tensor) -> EncoderOutput:
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            hint = ""
            if x.ndim == 3 and x.shape[1] == self.in_channels - 1:
                hint = " Hint: this encoder takes a mask channel; pass observe(x, fraction)."
            elif x.ndim == 3 and x.shape[1] == self.in_channels + 1:
                hint = " Hint: this encoder takes no mask channel; pass observe(x, fraction, mode='zero')."
            raise ValueError(
                f"ResNetEncoder expects x of shape (N, {self.in_channels}, T), got {tuple(x.shape)}.{hint}"
            )
        h = x
        for block in self.blocks:
            h = block(h)  # (N, C_i, ceil(L / stride_i))
        return EncoderOutput(h, self.head(h))


#: Encoder families of the early task (``--model``): ``"early_resnet"`` (:class:`ResNetEncoder`,
#: the default) and ``"early_encoder"`` (:class:`SequenceEncoder`, the encoder of Table 5's
#: first measurement; checkpoints of that time record this name).
ENCODER_FAMILIES: tuple[str, ...] = ("early_resnet", "early_encoder")


def build_encoder(
    family: str,
    in_channels: int,
    num_classes: int,
    *,
    width: int | None = None,
    depth: int | None = None,
    pool: int | None = None,
) -> ResNetEncoder | SequenceEncoder:
    """An encoder of ``family`` (one of :data:`ENCODER_FAMILIES`); None takes the family's default.

    Defaults: ``"early_resnet"`` width 32, depth 3, pool 1; ``"early_encoder"`` width 32, depth 2, pool 4.

    Example:
        >>> type(build_encoder("early_resnet", 2, 5, width=8)).__name__
        'ResNetEncoder'
    """
    if family not in ENCODER_FAMILIES:
        raise ValueError(
            f"family must be one of the early task's encoder families {ENCODER_FAMILIES}, got {family!r}. "
            "Hint: leave --model out for the default, early_resnet."
        )
    if family == "early_resnet":
        return ResNetEncoder(in_channels, num_classes, width=width or 32, depth=depth or 3, pool=pool or 1)
    return SequenceEncoder(in_channels, num_classes, width=width or 32, depth=depth or 2, pool=pool or 4)


def freeze(module: M) -> M:
    """Freeze ``module`` for use as a fixed reference (the teacher): no gradients, eval mode.

    Sets ``requires_grad=False`` on every parameter and switches to eval mode, so batch norm
    uses its running statistics and dropout is off: the same input always gives the same
    output, whatever else is in the batch. Gradients still flow *through* the module to its
    inputs. Returns the module itself (changed in place), for chaining.

    Args:
        module: any module.

    Example:
        >>> net = freeze(nn.Linear(2, 2))
        >>> net.training, any(p.requires_grad for p in net.parameters())
        (False, False)
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
    module.requires_grad_(False)
    return module.eval()
