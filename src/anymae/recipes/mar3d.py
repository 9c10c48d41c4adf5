"""MAR-3D (PAPERS.md row 51) at laptop size: MAR with a per-token diffusion head over point-patch tokens
(`generate/mar3d.py`, `tokenizers/point_patches.py`). `modality="generation"`: `anymae pretrain --recipe
mar3d_tiny --data point-shapes` trains it with anymae/train/generative.py; `anymae generate RUN` draws clouds.

No `mar3d_base`: the paper's model is a cascade of MARs over a trained pyramid VAE's latent, none of which is
built here (docs/generation.md, "MAR-3D")."""
from __future__ import annotations

from ..generate.mar3d import PointCloudMAR
from ..tokenizers.point_patches import PointPatchTokenizer
from .registry import register

# laptop budget: 1,500 steps took 20 min on the shared, busy CPU core (one thread; docs/generation.md, "MAR-3D")
MAR3D_TRAIN = {"lr": 1e-3, "weight_decay": 0.05, "steps": 1500, "batch_size": 64, "warmup": 0.05}


@register("mar3d_tiny", paper=51, modality="generation", train=MAR3D_TRAIN)
def mar3d_tiny(num_points: int = 256, num_groups: int = 32, group_size: int = 8, dim: int = 64, enc_depth: int = 2,
               depth: int = 2, heads: int = 4, num_classes: int = 10, class_dropout: float = 0.1,
               head_width: int = 128, head_depth: int = 3, diffusion_batch: int = 4, pose: str = "pca",
               slice_size: int = 4):
    """MAR-3D, laptop size: MAR (2+2 blocks x 64, MLP diffusion head 3 x 128) over 32 point patches of 8 on 256 points
    (in each cloud's principal-axes frame unless pose="keep"; samples get a uniformly random rotation)"""
    return PointCloudMAR(PointPatchTokenizer(num_points, num_groups, group_size, pose, slice_size), dim=dim, enc_depth=enc_depth,
                         depth=depth, heads=heads, num_classes=num_classes, class_dropout=class_dropout,
                         head_width=head_width, head_depth=head_depth, diffusion_batch=diffusion_batch)
