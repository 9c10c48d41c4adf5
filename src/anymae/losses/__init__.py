"""Losses: predictions and targets of the predicted tokens -> per-token loss [B,Np]."""
from .base import Loss
from .chamfer import ChamferLoss, chamfer_distance
from .classify import CrossEntropyLoss
from .mse import MSELoss, SmoothL1Loss
from .multimodal import MultiModalLoss, PixelCrossEntropy

__all__ = ["Loss", "CrossEntropyLoss", "MSELoss", "SmoothL1Loss", "ChamferLoss", "chamfer_distance",
           "MultiModalLoss", "PixelCrossEntropy"]
