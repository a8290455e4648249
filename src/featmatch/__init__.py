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
    "DiscriminatorLoss",
    "DiscriminatorOutput",
    "FeatureTap",
    "GeneratorLoss",
    "as_discriminator_output",
    "discriminator_loss",
    "generator_loss",
    "list_layers",
    "FeatureMatchingLoss",
    "FeatureMatchingOptions",
    "PRESETS",
    "Preset",
    "feature_matching_loss",
    "SemiSupervisedDiscriminatorLoss",
    "SemiSupervisedTerms",
    "classification_error",
    "real_probability",
    "semi_supervised_discriminator_loss",
    "__version__",
]
