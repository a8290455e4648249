"""featmatch: feature-matching generator losses for GANs, and a trainer that shows they work."""

from featmatch.features import DiscriminatorOutput
from featmatch.losses.feature_matching import (
    PRESETS,
    FeatureMatchingLoss,
    Preset,
    feature_matching_loss,
)

__version__ = "0.1.0"

__all__ = [
    "DiscriminatorOutput",
    "FeatureMatchingLoss",
    "PRESETS",
    "Preset",
    "feature_matching_loss",
    "__version__",
]
