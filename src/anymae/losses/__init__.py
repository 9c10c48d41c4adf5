"""Losses: predictions, targets -> per-token values; the model averages them."""
from .chamfer import ChamferLoss, chamfer_distance
from .classify import CrossEntropyLoss
from .invariance import ViewInvariance, info_nce, second_view
from .mse import MSELoss, SmoothL1Loss
from .multimodal import MultiModalLoss, PixelCrossEntropy

__all__ = ["CrossEntropyLoss", "MSELoss", "SmoothL1Loss", "ViewInvariance", "info_nce", "second_view",
           "MultiModalLoss", "PixelCrossEntropy", "ChamferLoss", "chamfer_distance"]
