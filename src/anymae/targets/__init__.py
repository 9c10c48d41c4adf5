"""Targets: the sample / Tokens (/ a teacher) -> per-token targets [B,N,T], each with its loss; and the
teachers (frozen runs, EMA copies) that latent targets and extra terms read."""
from .base import Target
from .frequency import FrequencyTarget, SpectrumLoss
from .hog import HOGTarget, patch_hog
from .multimodal import ClassTarget, MultiModalTarget
from .motion import MotionTarget
from .pixel import PixelTarget
from .pixel_hog import PixelHOGTarget
from .position import PositionTarget, position_accuracy
from .registry import TARGETS, make_target, register_target
from .skeleton import JointEdgeTarget, JointMotionTarget  # noqa: F401  (registers joints_edges, joint_motion)
from .teacher import EMALatentTarget, EMATeacher, Teacher, TeacherLatentTarget, attach_teachers, teacher_parts

__all__ = ["Target", "PixelTarget", "HOGTarget", "patch_hog", "FrequencyTarget", "SpectrumLoss", "PositionTarget",
           "position_accuracy", "TeacherLatentTarget", "EMALatentTarget", "Teacher", "EMATeacher",
           "attach_teachers", "teacher_parts", "TARGETS", "register_target", "make_target", "ClassTarget",
           "MultiModalTarget", "PixelHOGTarget", "MotionTarget"]
