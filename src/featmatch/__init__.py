"""featmatch: feature-matching generator losses for GANs, and a trainer that shows they work."""

from featmatch.features import DiscriminatorOutput

__version__ = "0.1.0"

__all__ = [
    "DiscriminatorOutput",
    "__version__",
]
