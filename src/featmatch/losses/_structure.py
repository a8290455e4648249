"""Turning the many shapes of "discriminator features" into one: a list of named layers per discriminator.

Kept apart from the loss so the rules about what counts as a layer, a discriminator or the
logits live in one place and can be tested on their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from featmatch.features import DiscriminatorOutput

__all__ = ["FeatureInput", "Layers", "as_discriminators", "select_layers"]

# One discriminator's features: a Tensor, a sequence of Tensors, a mapping name -> Tensor, or a
# DiscriminatorOutput. Several discriminators: a sequence of those.
FeatureInput = Tensor | Sequence[Any] | Mapping[str, Tensor] | DiscriminatorOutput


@dataclass(frozen=True)
class Layers:
    """One discriminator's features in order, with their names.

    ``logits_last`` is True when the last entry may be the logits (a plain list or mapping, as in
    pix2pixHD and HiFi-GAN) and False for a :class:`DiscriminatorOutput`, which keeps its logits apart.
    """

    names: tuple[str, ...]
    tensors: tuple[Tensor, ...]
    logits_last: bool


def _one_discriminator(value: Any, argument: str) -> Layers:
    if isinstance(value, DiscriminatorOutput):
        return Layers(tuple(value.features), tuple(value.features.values()), logits_last=False)
    if isinstance(value, Tensor):
        return Layers(("0",), (value,), logits_last=True)
    if isinstance(value, Mapping):
        for name, tensor in value.items():
            if not isinstance(tensor, Tensor):
                raise TypeError(f"{argument}[{name!r}] must be a Tensor, got {type(tensor).__name__}.")
        return Layers(tuple(str(k) for k in value), tuple(value.values()), logits_last=True)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        for index, tensor in enumerate(value):
            if not isinstance(tensor, Tensor):
                raise TypeError(
                    f"{argument}[{index}] must be a Tensor, got {type(tensor).__name__}. "
                    "Hint: nest at most two levels: a list of layers, or a list of discriminators "
                    "each with a list of layers."
                )
        return Layers(tuple(str(i) for i in range(len(value))), tuple(value), logits_last=True)
    raise TypeError(
        f"{argument} must be a Tensor, a sequence or mapping of Tensors, a DiscriminatorOutput, "
        f"or a sequence of those; got {type(value).__name__}."
    )


def _is_single_discriminator(value: Any) -> bool:
    if isinstance(value, (Tensor, Mapping, DiscriminatorOutput)):
        return True
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return all(isinstance(item, Tensor) for item in value)
    return True  # let _one_discriminator raise the type error


def as_discriminators(value: FeatureInput, argument: str) -> list[Layers]:
    """Normalise ``value`` to one :class:`Layers` per discriminator.

    Example:
        >>> import torch
        >>> [d.names for d in as_discriminators([torch.ones(2), torch.ones(3)], "fake")]
        [('0', '1')]
        >>> len(as_discriminators([[torch.ones(2)], [torch.ones(2)]], "fake"))
        2
    """
    if _is_single_discriminator(value):
        discriminators = [_one_discriminator(value, argument)]
    else:
        discriminators = [_one_discriminator(item, f"{argument}[{i}]") for i, item in enumerate(value)]
    if not discriminators:
        raise ValueError(f"{argument} is empty: expected at least one discriminator's features.")
    for index, layers in enumerate(discriminators):
        if not layers.tensors:
            where = argument if len(discriminators) == 1 else f"{argument}[{index}]"
            raise ValueError(f"{where} is empty: expected at least one feature Tensor.")
    return discriminators


def select_layers(
    layers: Layers,
    *,
    drop_logits: bool,
    skip_first: int,
    chosen: Sequence[int | str] | None,
    where: str,
) -> list[int]:
    """Indices of the layers to match, in order: drop the logits, skip the first k, then pick.

    Example:
        >>> import torch
        >>> lay = Layers(("a", "b", "c"), (torch.ones(1),) * 3, logits_last=True)
        >>> select_layers(lay, drop_logits=True, skip_first=0, chosen=None, where="fake")
        [0, 1]
    """
    candidates = list(range(len(layers.names)))
    if drop_logits and layers.logits_last:
        candidates = candidates[:-1]
    candidates = candidates[skip_first:]
    if chosen is not None:
        picked = []
        by_name = {layers.names[i]: i for i in candidates}
        for item in chosen:
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise TypeError(
                    f"layers entries must be int indices or str names, got {item!r} ({type(item).__name__})."
                )
            if isinstance(item, int):
                if not -len(candidates) <= item < len(candidates):
                    raise ValueError(
                        f"layers index {item} is out of range for {where}, which has "
                        f"{len(candidates)} selectable layers {[layers.names[i] for i in candidates]}."
                    )
                picked.append(candidates[item])
            else:
                if item not in by_name:
                    raise ValueError(f"layers name {item!r} is not among {where}'s selectable layers {list(by_name)}.")
                picked.append(by_name[item])
        candidates = picked
    if not candidates:
        raise ValueError(
            f"no layers left to match in {where} (it has {len(layers.names)} entries; "
            f"drop_logits={drop_logits}, skip_first={skip_first}, layers={chosen}). "
            "Hint: lower skip_first or set drop_logits=False."
        )
    return candidates
