"""What a discriminator returns, and how to read intermediate features out of any module."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Union

from torch import Tensor, nn

__all__ = [
    "DEFAULT_ACTIVATIONS",
    "OUTPUT_CONVENTIONS",
    "DiscriminatorOutput",
    "FeatureTap",
    "as_discriminator_output",
    "list_layers",
]


class DiscriminatorOutput(NamedTuple):
    """The output of a featmatch discriminator, or of a :class:`FeatureTap`.

    Attributes:
        logits: the discriminator's score before any sigmoid, usually ``(N,)`` or ``(N, 1, ...)``.
        features: an ordered mapping ``name -> Tensor`` of intermediate outputs, first layer first.
            The logits are never among the features.

    Example:
        >>> import torch
        >>> out = DiscriminatorOutput(torch.zeros(4), {"block1": torch.ones(4, 8)})
        >>> logits, features = out
        >>> list(features)
        ['block1']
    """

    logits: Tensor
    features: dict[str, Tensor]


#: Module types whose outputs :class:`FeatureTap` captures when ``layers=None``: the hidden-layer
#: activations, which in DCGAN / pix2pixHD / the reference article mark the end of each block.
#: ``nn.Sigmoid`` and ``nn.Softmax`` are left out on purpose: in a discriminator they turn the
#: final score into a probability, which is not a feature.
DEFAULT_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardtanh,
    nn.Softplus,
    nn.Tanh,
    nn.GLU,
)

#: The output conventions :func:`as_discriminator_output` understands.
OUTPUT_CONVENTIONS: tuple[str, ...] = ("pix2pixhd", "hifigan", "reference")

#: What ``FeatureTap(layers=...)`` accepts.
LayerSpec = Union[str, type[nn.Module], Sequence[Union[str, type[nn.Module]]], None]

# Wrappers whose own submodule names all start with "module."; their inner module holds the layers.
_WRAPPERS: tuple[type[nn.Module], ...] = (nn.DataParallel, nn.parallel.DistributedDataParallel)
_GLOB_CHARS = "*?["


def _unwrap(module: nn.Module) -> tuple[nn.Module, str]:
    """Return the module inside DataParallel / DistributedDataParallel wrappers, and the name prefix they add."""
    prefix = ""
    while isinstance(module, _WRAPPERS):
        module = module.module
        prefix += "module."
    return module, prefix


def list_layers(module: nn.Module) -> list[str]:
    """The layer names :class:`FeatureTap` accepts for ``module``, in definition order.

    These are the names of ``module.named_modules()`` without the root (``""``). A module wrapped in
    ``DistributedDataParallel`` or ``DataParallel`` is unwrapped first, so the names carry no
    ``"module."`` prefix (``FeatureTap`` accepts them with or without it).

    Args:
        module: any ``nn.Module``.

    Returns:
        The dotted submodule names, parents before their children.

    Example:
        >>> from torch import nn
        >>> list_layers(nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1))))
        ['0', '1', '1.0', '1.1']
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}.")
    inner, _ = _unwrap(module)
    return [name for name, _ in inner.named_modules() if name]


def _layer_hint(names: list[str], wanted: str) -> str:
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.5)
    if close:
        return f"Did you mean {', '.join(repr(c) for c in close)}? featmatch.list_layers(module) lists all {len(names)} names."
    shown = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
    return f"Its layers are: {shown or '(none)'} (featmatch.list_layers(module) lists them all)."


def _default_layers(inner: nn.Module, names: list[str]) -> list[str]:
    activations = [n for n in names if isinstance(inner.get_submodule(n), DEFAULT_ACTIVATIONS)]
    if activations:
        return activations
    # Activations called functionally (F.leaky_relu in forward): fall back to the blocks of a Sequential.
    if isinstance(inner, nn.Sequential) and len(inner) > 1:
        return [name for name, _ in inner.named_children()][:-1]
    raise ValueError(
        f"layers=None: {type(inner).__name__} has no activation modules ({', '.join(t.__name__ for t in DEFAULT_ACTIVATIONS[:4])}, ...) "
        "and is not an nn.Sequential, so there is no default set of layers to tap. "
        f"Hint: pass layers explicitly, e.g. layers={names[:2]!r}; featmatch.list_layers(module) lists the names."
    )


def _resolve_layers(inner: nn.Module, prefix: str, layers: LayerSpec) -> list[str]:
    """Turn a layer specification into unique submodule names, in the order asked."""
    names = [name for name, _ in inner.named_modules() if name]
    if layers is None:
        return _default_layers(inner, names)
    if isinstance(layers, (str, type)):
        layers = [layers]
    if not isinstance(layers, Sequence) or len(layers) == 0:
        raise ValueError(
            f"layers must be None, a name, a glob pattern, an nn.Module type, or a non-empty list of them, got {layers!r}. "
            "Hint: featmatch.list_layers(module) lists the names."
        )
    known = set(names)
    resolved: list[str] = []
    for entry in layers:
        if isinstance(entry, type) and issubclass(entry, nn.Module):
            matched = [n for n in names if isinstance(inner.get_submodule(n), entry)]
            if not matched:
                types = sorted({type(inner.get_submodule(n)).__name__ for n in names})
                raise ValueError(
                    f"layers entry {entry.__name__} matches no submodule of {type(inner).__name__}. "
                    f"Its submodule types are: {', '.join(types) or '(none)'}."
                )
        elif isinstance(entry, str):
            name = entry[len(prefix) :] if prefix and entry.startswith(prefix) else entry
            if any(c in name for c in _GLOB_CHARS):
                matched = [n for n in names if fnmatch.fnmatchcase(n, name)]
                if not matched:
                    raise ValueError(f"layers pattern {entry!r} matches no layer of {type(inner).__name__}. {_layer_hint(names, name)}")
            elif name in known:
                matched = [name]
            else:
                raise ValueError(f"layers: {type(inner).__name__} has no layer named {entry!r}. {_layer_hint(names, name)}")
        else:
            raise TypeError(
                f"each entry of layers must be a str (name or glob pattern) or an nn.Module subclass, "
                f"got {type(entry).__name__} ({entry!r})."
            )
        # Overlapping entries ("main.*" and "main.1") tap a layer once, at its first position.
        resolved.extend(n for n in matched if n not in resolved)
    return resolved


def _first_tensor(output: Any) -> Tensor | None:
    """The first Tensor in a module's output, searched depth-first (an LSTM's ``(out, (h, c))`` gives ``out``)."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        for item in output:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _version(tensor: Tensor) -> int | None:
    # Inference-mode tensors have no version counter; nothing can be checked for them.
    return None if tensor.is_inference() else tensor._version


class FeatureTap:
    """Capture named intermediate outputs of any ``nn.Module`` with forward hooks, without changing it.

    ``tap(x)`` runs ``module(x)`` and returns a :class:`DiscriminatorOutput` whose ``logits`` is
    whatever ``module(x)`` returned and whose ``features`` maps each tapped layer name to its output,
    in the order the layers were asked for. The captured tensors keep their autograd graph, so a
    feature-matching loss on them sends gradients back to the generator.

    Hooks are attached by ``open()`` / entering a ``with`` block and removed by ``close()`` (alias
    ``remove()``) / leaving it, also when an exception is raised. Calling ``tap(x)`` while the tap is
    closed attaches the hooks for that one call and removes them again afterwards, so
    ``FeatureTap(D, layers)(x)`` leaves no hooks behind. The hooks record only during ``tap(...)``:
    calling ``module(x)`` directly while the tap is open captures nothing and holds no tensors.

    Choosing layers (``layers``; ``featmatch.list_layers(module)`` lists the names):

    - an exact name from ``module.named_modules()``, e.g. ``"main.4"``;
    - a glob pattern (``fnmatch``, case-sensitive, and ``*`` also matches dots), e.g. ``"main.*"``
      or ``"*conv*"``: every matching name, in definition order;
    - a module type, e.g. ``nn.LeakyReLU``: every submodule that is an instance of it, in definition order;
    - a list mixing these. A layer selected twice is tapped once, at its first position.
    - ``None`` (default): the output of every activation module (types in :data:`DEFAULT_ACTIVATIONS`;
      never ``Sigmoid``/``Softmax``), in definition order. For DCGAN, pix2pixHD and the reference
      article's discriminators that is exactly the output of each conv block. If the module has
      no activation modules and is an ``nn.Sequential``, the output of every direct child except
      the last (the head); otherwise a ``ValueError`` asks for ``layers``.

    Unknown names, and patterns or types that match nothing, raise ``ValueError`` with close matches.

    Special cases:

    - ``DistributedDataParallel`` / ``DataParallel``: names are those of the wrapped module; a
      ``"module."`` prefix is accepted and dropped. Feature names never carry it.
    - A tapped module that returns a tuple, list or dict (an ``nn.LSTM`` returns
      ``(output, (h, c))``) contributes the first Tensor found depth-first (``output``).
      A module whose output holds no Tensor raises ``TypeError``.
    - A tapped module that runs several times in one forward (a shared activation, a block reused
      across scales) contributes every call, in call order: ``name``, ``name#1``, ``name#2``, ...
    - A tapped layer that did not run raises ``ValueError``. So does a captured output that a later
      in-place operation (``nn.LeakyReLU(inplace=True)``, ``out += x``) overwrote before the
      forward returned, since it would no longer hold that layer's output: tap the in-place
      module instead, or build the model with ``inplace=False``.

    Args:
        module: the module to tap, e.g. a discriminator; it is not modified apart from the hooks.
        layers: which submodule outputs to capture (see above).

    Attributes:
        layers: the resolved layer names, in the order the features come out.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> D = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
        >>> with FeatureTap(D) as tap:  # default: the two LeakyReLU outputs
        ...     out = tap(torch.randn(4, 2))
        >>> out.logits.shape, list(out.features)
        (torch.Size([4, 1]), ['1', '3'])
        >>> list(FeatureTap(D, layers="*")(torch.randn(4, 2)).features)
        ['0', '1', '2', '3', '4']
    """

    def __init__(self, module: nn.Module, layers: LayerSpec = None) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}.")
        self.module = module
        self._inner, prefix = _unwrap(module)
        self.layers: tuple[str, ...] = tuple(_resolve_layers(self._inner, prefix, layers))
        self._handles: list[Any] = []
        self._recording = False
        # name -> [(captured tensor, its version counter at capture time), ...], one entry per call.
        self._calls: dict[str, list[tuple[Tensor, int | None]]] = {}

    @property
    def is_open(self) -> bool:
        """Whether the hooks are attached."""
        return bool(self._handles)

    def open(self) -> FeatureTap:
        """Attach the forward hooks; returns the tap. Raises ``RuntimeError`` if it is already open."""
        if self._handles:
            raise RuntimeError("FeatureTap is already open. Hint: use one `with tap:` block, or call close() first.")
        try:
            for name in self.layers:
                self._handles.append(self._inner.get_submodule(name).register_forward_hook(self._make_hook(name)))
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Remove the hooks. Safe to call more than once."""
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.remove()
        self._calls = {}
        self._recording = False

    remove = close

    def __enter__(self) -> FeatureTap:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _make_hook(self, name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if not self._recording:
                return
            tensor = _first_tensor(output)
            if tensor is None:
                raise TypeError(
                    f"FeatureTap: layer {name!r} ({type(module).__name__}) returned {type(output).__name__} "
                    "with no Tensor in it, so it has no feature to capture. Hint: tap one of its submodules instead."
                )
            self._calls.setdefault(name, []).append((tensor, _version(tensor)))

        return hook

    def __call__(self, *args: Any, **kwargs: Any) -> DiscriminatorOutput:
        """Run ``module(*args, **kwargs)`` and return its output with the tapped features."""
        auto = not self._handles
        if auto:
            self.open()
        self._calls = {}
        self._recording = True
        try:
            logits = self.module(*args, **kwargs)
            features = self._collect()
        finally:
            # Drop references to the captured tensors (and their graphs) whatever happened.
            self._recording = False
            self._calls = {}
            if auto:
                self.close()
        return DiscriminatorOutput(logits, features)

    def _collect(self) -> dict[str, Tensor]:
        features: dict[str, Tensor] = {}
        for name in self.layers:
            calls = self._calls.get(name)
            if not calls:
                raise ValueError(
                    f"FeatureTap: layer {name!r} did not run during the forward pass of {type(self._inner).__name__}, "
                    "so it has no output to capture. Hint: tap a layer that forward() calls."
                )
            for i, (tensor, version) in enumerate(calls):
                if version is not None and tensor._version != version:
                    raise ValueError(
                        f"FeatureTap: the output of layer {name!r} was modified in place later in the forward pass "
                        "(e.g. by nn.LeakyReLU(inplace=True) or `out += x`), so it no longer holds that layer's output. "
                        "Hint: tap the module that modifies it (usually the next activation), or use inplace=False."
                    )
                features[name if i == 0 else f"{name}#{i}"] = tensor
        return features

    def __repr__(self) -> str:
        state = "open" if self._handles else "closed"
        return f"FeatureTap({type(self._inner).__name__}, layers={list(self.layers)!r}, {state})"


def _describe(obj: Any, depth: int = 0) -> str:
    """A short structural description of a nested output, for error messages."""
    if isinstance(obj, Tensor):
        return f"Tensor{tuple(obj.shape)}"
    if isinstance(obj, (list, tuple)):
        if depth >= 2:
            return f"{type(obj).__name__}[{len(obj)} items]"
        inner = ", ".join(_describe(item, depth + 1) for item in obj[:4])
        more = f", ... ({len(obj)} items)" if len(obj) > 4 else ""
        return f"{type(obj).__name__}[{inner}{more}]"
    return type(obj).__name__


def _is_tensor_list(obj: Any) -> bool:
    return isinstance(obj, (list, tuple)) and all(isinstance(item, Tensor) for item in obj)


def _numbered(tensors: Sequence[Tensor], names: str) -> dict[str, Tensor]:
    if names == "block":
        return {f"block{i + 1}": t for i, t in enumerate(tensors)}
    return {str(i): t for i, t in enumerate(tensors)}


def _from_pix2pixhd(raw: Any) -> DiscriminatorOutput | list[DiscriminatorOutput]:
    expected = (
        "convention='pix2pixhd' expects a non-empty list of Tensors (the layer outputs, logits last), "
        "or a list of such lists (one per scale, as MultiscaleDiscriminator returns)"
    )
    if not isinstance(raw, (list, tuple)) or len(raw) == 0:
        raise ValueError(f"{expected}; got {_describe(raw)}.")
    if _is_tensor_list(raw):
        return DiscriminatorOutput(raw[-1], _numbered(raw[:-1], "index"))
    if all(isinstance(item, (list, tuple)) for item in raw):
        outputs = []
        for i, scale in enumerate(raw):
            if len(scale) == 0 or not _is_tensor_list(scale):
                raise ValueError(f"{expected}; scale {i} is {_describe(scale)}.")
            outputs.append(DiscriminatorOutput(scale[-1], _numbered(scale[:-1], "index")))
        return outputs
    raise ValueError(f"{expected}; got {_describe(raw)}, which mixes Tensors and lists.")


def _from_pair(raw: Any, convention: str) -> DiscriminatorOutput | list[DiscriminatorOutput]:
    if convention == "reference":
        expected = "convention='reference' expects (score: Tensor, [block outputs: Tensor, ...])"
    else:
        expected = (
            "convention='hifigan' expects (logits: Tensor, feature_maps: [Tensor, ...]) for one discriminator, "
            "or (list of logits, list of feature-map lists) for several (MultiPeriodDiscriminator, MultiScaleDiscriminator)"
        )
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        hint = ""
        if convention == "hifigan" and isinstance(raw, (list, tuple)) and len(raw) == 4:
            hint = (
                " Hint: HiFi-GAN's forward(y, y_hat) returns (y_d_rs, y_d_gs, fmap_rs, fmap_gs); convert the real "
                "and generated halves separately: as_discriminator_output((y_d_rs, fmap_rs), 'hifigan') and "
                "as_discriminator_output((y_d_gs, fmap_gs), 'hifigan')."
            )
        raise ValueError(f"{expected}; got {_describe(raw)}.{hint}")
    logits, fmaps = raw
    names = "block" if convention == "reference" else "index"
    if isinstance(logits, Tensor):
        if not _is_tensor_list(fmaps):
            raise ValueError(f"{expected}; the feature maps are {_describe(fmaps)}, not a list of Tensors.")
        return DiscriminatorOutput(logits, _numbered(fmaps, names))
    if convention == "hifigan" and _is_tensor_list(logits) and len(logits) > 0:
        if not isinstance(fmaps, (list, tuple)) or len(fmaps) != len(logits):
            raise ValueError(
                f"{expected}; got {len(logits)} logits but feature maps {_describe(fmaps)}: "
                "expected one list of feature maps per discriminator."
            )
        outputs = []
        for i, (score, maps) in enumerate(zip(logits, fmaps, strict=True)):
            if not _is_tensor_list(maps):
                raise ValueError(f"{expected}; the feature maps of discriminator {i} are {_describe(maps)}, not a list of Tensors.")
            outputs.append(DiscriminatorOutput(score, _numbered(maps, names)))
        return outputs
    raise ValueError(f"{expected}; got {_describe(raw)}.")


def as_discriminator_output(raw: Any, convention: str) -> DiscriminatorOutput | list[DiscriminatorOutput]:
    """Convert what an existing discriminator returns into :class:`DiscriminatorOutput` (one per discriminator).

    Conventions:

    - ``"pix2pixhd"``: pix2pixHD / SPADE ``NLayerDiscriminator(getIntermFeat=True)`` returns a list of
      layer outputs whose last entry is the logits map -> one output with features ``"0"``, ``"1"``, ...
      (all entries but the last). ``MultiscaleDiscriminator`` returns a list of such lists -> a list of
      outputs, one per scale. A one-entry list (no intermediate features) gives empty ``features``.
    - ``"hifigan"``: a HiFi-GAN / BigVGAN / VITS sub-discriminator returns ``(logits, feature_maps)``
      -> one output with features ``"0"``, ``"1"``, ... (all feature maps). The multi-discriminator
      form ``(list_of_logits, list_of_feature_map_lists)`` -> a list of outputs.
    - ``"reference"``: the reference article's ``rof_discriminator`` returns
      ``(score, [rof_1, rof_2, rof_3, rof_4])`` -> one output with features ``"block1"`` ... ``"block4"``.
      Note that its score passed through ``nn.Sigmoid``, so it is a probability, not a logit:
      remove that final sigmoid before using featmatch's logit-based losses.

    A :class:`DiscriminatorOutput`, or a list of them, is returned unchanged whatever the convention.
    Tensors are not copied; autograd graphs are kept.

    Args:
        raw: the discriminator's return value.
        convention: one of :data:`OUTPUT_CONVENTIONS`.

    Returns:
        A :class:`DiscriminatorOutput`, or a list of them for the multi-discriminator forms.

    Raises:
        ValueError: unknown ``convention``, or ``raw`` does not have the structure the convention
            describes (the message shows what was expected and what was found).

    Example:
        >>> import torch
        >>> feats = [torch.ones(2, 4), torch.ones(2, 8)]
        >>> out = as_discriminator_output((torch.zeros(2), feats), "reference")
        >>> list(out.features), out.logits.shape
        (['block1', 'block2'], torch.Size([2]))
    """
    if convention not in OUTPUT_CONVENTIONS:
        close = difflib.get_close_matches(str(convention), OUTPUT_CONVENTIONS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"convention must be one of {', '.join(repr(c) for c in OUTPUT_CONVENTIONS)}, got {convention!r}.{hint}"
        )
    if isinstance(raw, DiscriminatorOutput) or (
        isinstance(raw, list) and raw and all(isinstance(item, DiscriminatorOutput) for item in raw)
    ):
        return raw
    if convention == "pix2pixhd":
        return _from_pix2pixhd(raw)
    return _from_pair(raw, convention)
