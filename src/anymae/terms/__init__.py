"""Extra terms: what one forward made (`StepContext`) -> named, weighted scalars added to the loss.

The seventh stage beside tokenizers, masking, encoders, decoders, targets and losses (contract in
docs/design.md). Every module here registers its terms in `TERMS`."""
from .base import ExtraTerm, StepContext
from .cae import LatentAlignment
from .dmae import IntermediateDistill
from .dmjd import DualBranch
from .hybrid import TokenRelation
from .invariance import ViewInvariance, info_nce, second_view
from .loss_prediction import LossPredictor, relative_loss
from .lut import VisibleTokenTerm
from .maskalign import DynamicAlignment
from .mrmae import VisibleMimic
from .position import PositionPrediction
from .registry import TERMS

__all__ = ["ExtraTerm", "StepContext", "TERMS", "LatentAlignment", "IntermediateDistill", "DualBranch",
           "TokenRelation", "ViewInvariance", "info_nce", "second_view", "LossPredictor", "relative_loss",
           "VisibleTokenTerm", "DynamicAlignment", "VisibleMimic", "PositionPrediction"]
from .bow import BagOfWordsTerm  # noqa: E402,F401  (DupMAE, text)
from .mfm import FeatureMasking  # noqa: E402,F401  (MFM, row 28: --arg feature_mask_layer=k)
from .homologous import HomologousRecognition  # noqa: E402,F401  (MixedAE, row 11)
from .crossvideo import CrossVideoContrast  # noqa: E402,F401  (CrossVideoMAE, row 39)
from .i2p import ImageToPointGuidance  # noqa: E402,F401  (I2P-MAE, row 20)
from .matryoshka import MatryoshkaMLMTerm  # noqa: E402,F401  (Starbucks, text)
from .hicmae import HierarchicalContrastive  # noqa: E402,F401  (HiCMAE, row 16)
