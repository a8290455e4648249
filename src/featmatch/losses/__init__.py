"""Generator and discriminator losses."""

from featmatch.losses.adversarial import (
    ADVERSARIAL_KINDS,
    DiscriminatorLoss,
    GeneratorLoss,
    discriminator_loss,
    generator_loss,
)
from featmatch.losses.feature_matching import (
    DISTANCES,
    PRESETS,
    REDUCTIONS,
    STATISTICS,
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

__all__ = [
    "ADVERSARIAL_KINDS",
    "DISTANCES",
    "PRESETS",
    "REDUCTIONS",
    "STATISTICS",
    "DiscriminatorLoss",
    "FeatureMatchingLoss",
    "FeatureMatchingOptions",
    "GeneratorLoss",
    "Preset",
    "SemiSupervisedDiscriminatorLoss",
    "SemiSupervisedTerms",
    "classification_error",
    "discriminator_loss",
    "feature_matching_loss",
    "generator_loss",
    "real_probability",
    "semi_supervised_discriminator_loss",
]
