"""Reference generator / discriminator pairs whose discriminators return their features.

Every discriminator's forward returns :class:`featmatch.DiscriminatorOutput` (logits of shape
``(N,)`` and an ordered mapping of intermediate features); a :class:`MultiScaleDiscriminator`
returns a list of them, one per scale; :class:`SemiMLPDiscriminator` (semi-supervised) returns
class logits ``(N, K)``. Every generator maps ``z (N, latent_dim)`` to
``(N, *sample_shape)``.

Example:
    >>> import torch
    >>> from featmatch.models import build_models
    >>> g, d = build_models("mlp2d_benchmark", (2,))
    >>> out = d(g(torch.randn(8, g.latent_dim)))
    >>> out.logits.shape, list(out.features)
    (torch.Size([8]), ['hidden1', 'hidden2'])
"""

from __future__ import annotations

from featmatch.models.conditional import (
    CONDITIONAL_FAMILIES,
    ConditionalConvGenerator,
    ConditionalDiscriminator,
    ConditionalSequenceGenerator,
    build_conditional_models,
    default_conditional_family,
    resize_condition,
)
from featmatch.models.conv import IMAGE_SIZES, ConvDiscriminator, ConvGenerator
from featmatch.models.early import (
    ENCODER_FAMILIES,
    OBSERVE_MODES,
    EncoderOutput,
    ResNetEncoder,
    SequenceEncoder,
    build_encoder,
    freeze,
    observe,
    observed_steps,
)
from featmatch.models.mlp import ACTIVATIONS, MLPDiscriminator, MLPGenerator
from featmatch.models.multiscale import MultiScaleDiscriminator
from featmatch.models.registry import MODEL_FAMILIES, build_models, default_family
from featmatch.models.semi_mlp import GENERATOR_OUTPUTS, GaussianNoise, SemiMLPDiscriminator, SemiMLPGenerator
from featmatch.models.sequence import SequenceDiscriminator, SequenceGenerator
from featmatch.models.small_conv import SmallConvDiscriminator, SmallConvGenerator

__all__ = [
    "ACTIVATIONS",
    "CONDITIONAL_FAMILIES",
    "ENCODER_FAMILIES",
    "GENERATOR_OUTPUTS",
    "IMAGE_SIZES",
    "MODEL_FAMILIES",
    "OBSERVE_MODES",
    "ConditionalConvGenerator",
    "ConditionalDiscriminator",
    "ConditionalSequenceGenerator",
    "ConvDiscriminator",
    "ConvGenerator",
    "EncoderOutput",
    "GaussianNoise",
    "MLPDiscriminator",
    "MLPGenerator",
    "MultiScaleDiscriminator",
    "ResNetEncoder",
    "SemiMLPDiscriminator",
    "SemiMLPGenerator",
    "SequenceDiscriminator",
    "SequenceEncoder",
    "SequenceGenerator",
    "SmallConvDiscriminator",
    "SmallConvGenerator",
    "build_conditional_models",
    "build_encoder",
    "build_models",
    "default_conditional_family",
    "default_family",
    "freeze",
    "observe",
    "observed_steps",
    "resize_condition",
]
