"""Losses: predictions, targets -> per-token values; the model averages them."""
from .classify import CrossEntropyLoss
from .mse import MSELoss, SmoothL1Loss

__all__ = ["CrossEntropyLoss", "MSELoss", "SmoothL1Loss"]
