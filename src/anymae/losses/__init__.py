"""Losses: predictions, targets -> per-token values; the model averages them."""
from .mse import MSELoss, SmoothL1Loss
from .multimodal import MultiModalLoss, PixelCrossEntropy

__all__ = ["MSELoss", "SmoothL1Loss", "MultiModalLoss", "PixelCrossEntropy"]
