"""What a discriminator returns, and how to read intermediate features out of any module.

Why one module of a little over 600 lines: `DiscriminatorOutput`, `FeatureTap` and the adapters of
other discriminators' outputs (pix2pixHD, HiFi-GAN) share the resolution of layer names through
wrappers (DDP, ``torch.compile``, ``DataParallel``).
"""

from __future__ import annotations

import difflib
import fnmatch
import threading
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
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
LayerSpec = str | type[nn.Module] | Sequence[str | type[nn.Module]] | None

# Wrappers whose own submodule names all start with "module."; their inner module holds the layers.
_WRAPPERS: tuple[type[nn.DataParallel], type[nn.parallel.DistributedDataParallel]] = (
    nn.DataParallel,
    nn.parallel.DistributedDataParallel,
)
_GLOB_CHARS = "*?["
#: Suffixes of a layer name that say which side of the layer to capture (``"convs.1:input"``).
_CAPTURE_SUFFIXES = (":input", ":output")


def _wrapped(module: nn.Module) -> tuple[nn.Module, str] | None:
    """The module one wrapper holds and the name prefix the wrapper adds, or None if not a wrapper."""
    if isinstance(module, _WRAPPERS):
        return module.module, "module."
    # torch.compile returns an OptimizedModule that holds the original as `_orig_mod`; it is
    # checked by attribute so that importing torch._dynamo is not needed here.
    inner = getattr(module, "_orig_mod", None)
    if isinstance(inner, nn.Module) and type(module).__name__ == "OptimizedModule":
        return inner, "_orig_mod."
    return None


def _unwrap(module: nn.Module) -> tuple[nn.Module, list[str]]:
    """Return the module inside DDP / DataParallel / ``torch.compile`` wrappers, and the name prefixes they add."""
    prefixes: list[str] = []
    while (found := _wrapped(module)) is not None:
        module, prefix = found
        prefixes.append(prefix)
    return module, prefixes


def _strip_prefixes(name: str, prefixes: list[str]) -> str:
    """``"module._orig_mod.main.1"`` -> ``"main.1"``: drop the wrappers' prefixes, outermost first."""
    for prefix in prefixes:
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name


def _split_capture(name: str) -> tuple[str, bool]:
    """``"convs.1:input"`` -> ``("convs.1", True)``; ``"convs.1"`` or ``"convs.1:output"`` -> ``("convs.1", False)``."""
    for suffix in _CAPTURE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)], suffix == ":input"
    return name, False


def _check_data_parallel(module: nn.Module) -> None:
    # DataParallel runs one replica per device in its own thread, and the replicas' hooks would
    # all record into this tap with no way to gather them in the order of the gathered logits.
    if isinstance(module, nn.DataParallel) and len(module.device_ids) > 1:
        raise ValueError(
            f"FeatureTap cannot tap nn.DataParallel over {len(module.device_ids)} devices "
            f"(device_ids={module.device_ids}): each replica runs in its own thread, so the "
            "features cannot be gathered like the outputs. Hint: use DistributedDataParallel "
            "(one process per device), or tap the module and wrap the tap's caller instead."
        )


def list_layers(module: nn.Module) -> list[str]:
    """The layer names :class:`FeatureTap` accepts for ``module``, in definition order.

    These are the names of ``module.named_modules()`` without the root (``""``). A module wrapped in
    ``DistributedDataParallel``, ``DataParallel`` or ``torch.compile`` is unwrapped first, so the
    names carry no ``"module."`` or ``"_orig_mod."`` prefix (``FeatureTap`` accepts them with or
    without it). ``FeatureTap`` also accepts each name with ``":input"`` appended, to capture what
    goes into that layer rather than what comes out of it.

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
        return (
            f"Did you mean {', '.join(repr(c) for c in close)}? "
            f"featmatch.list_layers(module) lists all {len(names)} names."
        )
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
        f"layers=None: {type(inner).__name__} has no activation modules "
        f"({', '.join(t.__name__ for t in DEFAULT_ACTIVATIONS[:4])}, ...) "
        "and is not an nn.Sequential, so there is no default set of layers to tap. "
        f"Hint: pass layers explicitly, e.g. layers={names[:2]!r}; featmatch.list_layers(module) lists the names."
    )


def _resolve_layers(inner: nn.Module, prefixes: list[str], layers: LayerSpec) -> list[str]:
    """Turn a layer specification into unique submodule names, in the order asked."""
    names = [name for name, _ in inner.named_modules() if name]
    if layers is None:
        return _default_layers(inner, names)
    if isinstance(layers, (str, type)):
        layers = [layers]
    if not isinstance(layers, Sequence) or len(layers) == 0:
        raise ValueError(
            "layers must be None, a name, a glob pattern, an nn.Module type, or a non-empty list of them, "
            f"got {layers!r}. "
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
            name, of_input = _split_capture(_strip_prefixes(entry, prefixes))
            if any(c in name for c in _GLOB_CHARS):
                matched = [n for n in names if fnmatch.fnmatchcase(n, name)]
                if not matched:
                    raise ValueError(
                        f"layers pattern {entry!r} matches no layer of {type(inner).__name__}. "
                        f"{_layer_hint(names, name)}"
                    )
            elif name in known:
                matched = [name]
            else:
                raise ValueError(
                    f"layers: {type(inner).__name__} has no layer named {entry!r}. {_layer_hint(names, name)}"
                )
            if of_input:
                matched = [n + ":input" for n in matched]
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


def _wrapper_chain(module: nn.Module) -> list[nn.Module]:
    """The modules inside ``module``'s wrappers, outermost first (empty if it is not wrapped)."""
    chain = []
    while (found := _wrapped(module)) is not None:
        module = found[0]
        chain.append(module)
    return chain


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
    - any name or pattern with ``":input"`` appended, e.g. ``"convs.1:input"`` or ``"convs.*:input"``:
      what goes into the layer (its first Tensor argument) instead of what comes out. A
      discriminator that applies its activations as functions (HiFi-GAN's
      ``x = F.leaky_relu(conv(x))``) has no module whose output is the activated feature, but the
      next layer's input is exactly that. The feature is named as written (``"convs.1:input"``);
      ``":output"`` is the default and may be written out.
    - a list mixing these. A layer selected twice is tapped once, at its first position.
    - ``None`` (default): the output of every activation module (types in :data:`DEFAULT_ACTIVATIONS`;
      never ``Sigmoid``/``Softmax``), in definition order. For DCGAN, pix2pixHD and the reference
      article's discriminators that is exactly the output of each conv block. If the module has
      no activation modules and is an ``nn.Sequential``, the output of every direct child except
      the last (the head); otherwise a ``ValueError`` asks for ``layers``.

    Unknown names, and patterns or types that match nothing, raise ``ValueError`` with close matches.

    Special cases:

    - ``DistributedDataParallel``, ``DataParallel`` and ``torch.compile``: names are those of the
      wrapped module; a ``"module."`` or ``"_orig_mod."`` prefix is accepted and dropped. Feature
      names never carry them. On a compiled module the hooks run outside the compiled graph (one
      graph break per tapped layer) and nothing is recompiled per layer or per call, whether the
      tap is opened once or attached for each call.
    - Threads: captures are kept per thread, so one tap may be called from several threads at
      once, each getting the features of its own call. ``nn.DataParallel`` over more than one
      device is refused with a ``ValueError``: its replicas run in worker threads and their
      features could not be gathered like its outputs; use ``DistributedDataParallel``.
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
        layers: which submodule outputs (or inputs, with ``":input"``) to capture (see above).

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
        >>> list(FeatureTap(D, layers=["2:input", "4:input"])(torch.randn(4, 2)).features)  # = outputs of 1, 3
        ['2:input', '4:input']
    """

    def __init__(self, module: nn.Module, layers: LayerSpec = None) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}.")
        self.module = module
        self._inner, prefixes = _unwrap(module)
        for wrapper in (module, *(m for m in _wrapper_chain(module))):
            _check_data_parallel(wrapper)
        self.layers: tuple[str, ...] = tuple(_resolve_layers(self._inner, prefixes, layers))
        self._handles: list[Any] = []
        # Captures live per thread: each thread's tap(...) call records into its own dict, so
        # one tap can serve several threads at once (name -> [(tensor, version at capture)]).
        self._local = threading.local()
        # A closed tap attaches its hooks for the duration of a call; with calls from several
        # threads the first attaches them and the last removes them.
        self._lock = threading.Lock()
        self._auto_users = 0

    @property
    def _calls(self) -> dict[str, list[tuple[Tensor, int | None]]]:
        """This thread's captures during a ``tap(...)`` call; empty outside one."""
        calls = getattr(self._local, "calls", None)
        return {} if calls is None else calls

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
                self._handles.append(self._register(name))
        except BaseException:
            self.close()
            raise
        return self

    def _register(self, name: str) -> Any:
        module_name, of_input = _split_capture(name)
        module = self._inner.get_submodule(module_name)
        record = self._make_recorder(name)
        if of_input:
            return module.register_forward_pre_hook(
                lambda m, args, kwargs: record(m, (args, kwargs), "received inputs"), with_kwargs=True
            )
        return module.register_forward_hook(
            lambda m, args, output: record(m, output, f"returned {type(output).__name__}")
        )

    def close(self) -> None:
        """Remove the hooks. Safe to call more than once."""
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.remove()
        self._local.calls = None

    remove = close

    def __enter__(self) -> FeatureTap:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _make_recorder(self, name: str) -> Any:
        # Kept out of torch.compile: traced, this function would be compiled once per tapped layer
        # (dynamo specialises on `name`), hitting the recompile limit past 8 layers, and its
        # thread-local state and version counters are not traceable anyway. Eager, it costs one
        # graph break per tapped layer.
        @torch.compiler.disable
        def record(module: nn.Module, value: Any, what: str) -> None:
            calls = getattr(self._local, "calls", None)
            if calls is None:  # not inside tap(...) in this thread
                return
            tensor = _first_tensor(value)
            if tensor is None:
                raise TypeError(
                    f"FeatureTap: layer {name!r} ({type(module).__name__}) {what} "
                    "with no Tensor in it, so it has no feature to capture. Hint: tap one of its submodules instead."
                )
            calls.setdefault(name, []).append((tensor, _version(tensor)))

        return record

    def __call__(self, *args: Any, **kwargs: Any) -> DiscriminatorOutput:
        """Run ``module(*args, **kwargs)`` and return its output with the tapped features."""
        auto = self._acquire()
        self._local.calls = {}
        try:
            logits = self.module(*args, **kwargs)
            features = self._collect()
        finally:
            # Drop references to the captured tensors (and their graphs) whatever happened.
            self._local.calls = None
            if auto:
                self._release()
        return DiscriminatorOutput(logits, features)

    def _acquire(self) -> bool:
        """Attach the hooks for one call if the tap is closed; True if this call must release them."""
        with self._lock:
            if self._auto_users == 0 and self._handles:
                return False  # opened by the user
            if self._auto_users == 0:
                self.open()
            self._auto_users += 1
            return True

    def _release(self) -> None:
        with self._lock:
            self._auto_users -= 1
            if self._auto_users == 0:
                self.close()

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
                        "(e.g. by nn.LeakyReLU(inplace=True) or `out += x`), so it no longer holds that layer's "
                        "output. "
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
            "or (list of logits, list of feature-map lists) for several "
            "(MultiPeriodDiscriminator, MultiScaleDiscriminator)"
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
                raise ValueError(
                    f"{expected}; the feature maps of discriminator {i} are {_describe(maps)}, not a list of Tensors."
                )
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
