"""Losses: predictions, targets -> per-token values; the model averages them."""
from .mse import MSELoss, SmoothL1Loss

__all__ = ["MSELoss", "SmoothL1Loss"]
