"""Targets: the sample / Tokens (/ a teacher) -> per-token targets [B,N,T], each with its loss; and the
auxiliary loss parts of the teacher-based recipes (MaskAlign, MR-MAE, DMAE, Hybrid, CAE, LUT, DMJD)."""
from .cae import LatentAlignment
from .dmae import IntermediateDistill
from .dmjd import JointDistillation
from .frequency import FrequencyTarget, SpectrumLoss
from .hog import HOGTarget, patch_hog
from .hybrid import TokenRelation
from .lut import VisibleTokenTerm
from .maskalign import DynamicAlignment
from .mrmae import VisibleMimic
from .multimodal import ClassTarget, MultiModalTarget
from .pixel import PixelTarget
from .position import PositionPrediction, PositionTarget, position_accuracy
from .registry import TARGETS, register_target
from .swap import make_target, swap_target
from .teacher import EMALatentTarget, EMATeacher, Teacher, TeacherLatentTarget, attach_teachers, teacher_parts

__all__ = ["PixelTarget", "HOGTarget", "patch_hog", "FrequencyTarget", "SpectrumLoss", "PositionTarget", "PositionPrediction",
           "position_accuracy", "TeacherLatentTarget", "EMALatentTarget", "Teacher", "EMATeacher",
           "attach_teachers", "teacher_parts", "VisibleMimic", "DynamicAlignment", "IntermediateDistill",
           "TokenRelation", "LatentAlignment", "VisibleTokenTerm", "JointDistillation", "TARGETS",
           "register_target", "make_target", "swap_target", "ClassTarget", "MultiModalTarget"]
