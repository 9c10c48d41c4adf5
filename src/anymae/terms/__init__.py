"""Extra terms: what one forward made (`StepContext`) -> named, weighted scalars added to the loss.

The seventh stage beside tokenizers, masking, encoders, decoders, targets and losses (contract in
docs/design.md). Every module here registers its terms in `TERMS`."""
from .base import ExtraTerm, StepContext
from .cae import LatentAlignment
from .dmae import IntermediateDistill
from .dmjd import JointDistillation
from .hybrid import TokenRelation
from .invariance import ViewInvariance, info_nce, second_view
from .loss_prediction import LossPredictor, relative_loss
from .lut import VisibleTokenTerm
from .maskalign import DynamicAlignment
from .mrmae import VisibleMimic
from .position import PositionPrediction
from .registry import TERMS

__all__ = ["ExtraTerm", "StepContext", "TERMS", "LatentAlignment", "IntermediateDistill", "JointDistillation",
           "TokenRelation", "ViewInvariance", "info_nce", "second_view", "LossPredictor", "relative_loss",
           "VisibleTokenTerm", "DynamicAlignment", "VisibleMimic", "PositionPrediction"]
from .bow import BagOfWordsTerm  # noqa: E402,F401  (DupMAE, text)
from .matryoshka import MatryoshkaMLMTerm  # noqa: E402,F401  (Starbucks, text)
