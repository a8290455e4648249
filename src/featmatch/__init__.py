"""featmatch: feature-matching generator losses for GANs, and a trainer that shows they work."""

from featmatch.features import DiscriminatorOutput, FeatureTap, as_discriminator_output, list_layers
from featmatch.losses.adversarial import (
    ADVERSARIAL_KINDS,
    DiscriminatorLoss,
    GeneratorLoss,
    discriminator_loss,
    generator_loss,
)
from featmatch.losses.feature_matching import (
    PRESETS,
    FeatureMatchingLoss,
    FeatureMatchingOptions,
    Preset,
    feature_matching_loss,
)
from featmatch.losses.semi_supervised import (
    SemiSupervisedDiscriminatorLoss,
    SemiSupervisedTerms,
    classification_error,
    real_probability,
    semi_supervised_discriminator_loss,
)

__version__ = "0.1.0"

__all__ = [
    "ADVERSARIAL_KINDS",
    "PRESETS",
    "DiscriminatorLoss",
    "DiscriminatorOutput",
    "FeatureMatchingLoss",
    "FeatureMatchingOptions",
    "FeatureTap",
    "GeneratorLoss",
    "Preset",
    "SemiSupervisedDiscriminatorLoss",
    "SemiSupervisedTerms",
    "__version__",
    "as_discriminator_output",
    "classification_error",
    "discriminator_loss",
    "feature_matching_loss",
    "generator_loss",
    "list_layers",
    "real_probability",
    "semi_supervised_discriminator_loss",
]
