"""Classical face features as scikit-learn transformers: an (N, H, W) grayscale image stack in,
an (N, D) float32 feature matrix out. Combine them with sklearn.pipeline.FeatureUnion."""

from ._base import resize_stack
from .gabor import GaborBank
from .hog import HOGFeatures
from .lbp import LBPHistogram, local_binary_pattern_stack
from .pixels import PixelFeatures

__all__ = ["GaborBank", "HOGFeatures", "LBPHistogram", "PixelFeatures", "local_binary_pattern_stack", "resize_stack"]
