"""Losses: predictions, targets -> per-token values; the model averages them."""
from .chamfer import ChamferLoss, chamfer_distance
from .mse import MSELoss, SmoothL1Loss

__all__ = ["MSELoss", "SmoothL1Loss", "ChamferLoss", "chamfer_distance"]
