"""I2P-MAE (PAPERS.md row 20): 2-D guidance for masked point modelling, from a trained 2-D encoder.

1. Render: each point cloud (the tokens' groups put back around their centres) is projected
   orthographically along the x, y and z axes onto `size` x `size` depth images (the nearest point of a
   pixel sets its value; empty pixels are 0).
2. Score: a frozen 2-D encoder (an anymae image run, `--teacher RUN`) encodes each depth image; a patch's
   saliency is how far its feature is from the feature the encoder gives an empty image at that patch
   (1 - cosine), so the encoder says where there is shape to see.
3. Back-project: every point reads the saliency and the feature of the patch it falls in, in each view;
   a point group's score and 2-D feature are the means over its points and the views.
4. The `guided` masker (`source="term:i2p"`, `keep_top=True`) keeps the most salient groups visible;
   this term adds weight * MSE between a head on the decoder's states of the *visible* groups and their
   (layer-normed) 2-D features: the visible tokens reconstruct the multi-view 2-D features (the abstract).

Choices of ours (I2P-MAE renders with PointCLIP V2's projection and scores with its 2-D model's own
saliency): 3 orthographic views, the empty-image contrast as saliency, MSE on layer-normed features.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..targets.teacher import FrozenTeacherPart
from .base import ExtraTerm
from .registry import TERMS
from .tap import LayerTap

AXES = ((1, 2, 0), (0, 2, 1), (0, 1, 2))   # per view: (image row coordinate, image column coordinate, depth axis)


def project_points(points: Tensor, size: int, views=AXES) -> tuple[Tensor, Tensor]:
    """points [B,M,3] in the unit cube [-1,1]^3 -> (depth images [B,V,size,size] in [0,1], pixel index of
    every point in every view [B,V,M], row-major). Nearer points (larger depth coordinate) win a pixel."""
    b, m, _ = points.shape
    images, pixels = [], []
    for row_axis, col_axis, depth_axis in views:
        cell = lambda c: ((points[..., c].clamp(-1, 1) + 1) / 2 * size).long().clamp(0, size - 1)
        pixel = cell(row_axis) * size + cell(col_axis)                                    # [B,M]
        depth = (points[..., depth_axis].clamp(-1, 1) + 1) / 2 * 0.9 + 0.1                # (0.1..1]: 0 is empty
        image = torch.zeros(b, size * size, dtype=points.dtype, device=points.device)
        image = image.scatter_reduce(1, pixel, depth, reduce="amax", include_self=True)
        images.append(image.reshape(b, size, size))
        pixels.append(pixel)
    return torch.stack(images, 1), torch.stack(pixels, 1)


def back_project(patch_values: Tensor, pixels: Tensor, size: int, patch: int) -> Tensor:
    """patch_values [B,V,Np,F] (per view, per image patch), pixels [B,V,M] -> per point [B,M,F], the
    mean over views of the value of the patch each point falls in."""
    grid = size // patch
    row, col = torch.div(pixels, size, rounding_mode="floor"), pixels % size
    which = torch.div(row, patch, rounding_mode="floor") * grid + torch.div(col, patch, rounding_mode="floor")
    taken = torch.gather(patch_values, 2, which.unsqueeze(-1).expand(-1, -1, -1, patch_values.shape[-1]))
    return taken.mean(1)


@TERMS.register("i2p")
class ImageToPointGuidance(FrozenTeacherPart, ExtraTerm):
    """The 2-D guidance of I2P-MAE: `scores(model, tokens)` for the guided masker, and weight * `image_features`,
    the visible groups' decoder states regressing their back-projected 2-D features."""

    cross_modal = True   # its teacher reads images, the student point clouds (targets/teacher.py check_fits)

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = weight
        self.head: nn.Module | None = None
        self._tap: LayerTap | None = None

    def bind(self, model) -> None:
        if not hasattr(model.tokenizer, "group_size"):
            raise ValueError("2-D guidance (I2P-MAE) needs a point-group tokenizer")
        self._tap = LayerTap([model.decoder.norm])
        self.decoder_dim = model.decoder.dim

    def set_teacher(self, teacher) -> None:
        super().set_teacher(teacher)
        self.head = nn.Linear(self.decoder_dim, teacher.dim)

    @torch.no_grad()
    def guidance(self, tokens) -> tuple[Tensor, Tensor]:
        """tokens of point groups -> (scores [B,G], 2-D features [B,G,F]) back-projected from 3 depth views."""
        teacher = self.need_teacher()
        tok = teacher.tokenizer
        size, patch = tok.image_size[0] if isinstance(tok.image_size, tuple) else tok.image_size, tok.patch_size
        b, g = tokens.coords.shape[:2]
        points = tokens.values.reshape(b, g, -1, 3) + tokens.coords.unsqueeze(2)         # [B,G,k,3]
        k = points.shape[2]
        images, pixels = project_points(points.reshape(b, g * k, 3), size)               # [B,V,S,S], [B,V,M]
        v = images.shape[1]
        pictures = images.reshape(b * v, 1, size, size).expand(-1, tok.channels, -1, -1)
        features = teacher(pictures).reshape(b, v, -1, teacher.dim)                      # [B,V,Np,F]
        empty = teacher(torch.zeros_like(pictures[:1]))                                  # [1,Np,F]
        saliency = 1 - F.cosine_similarity(features, empty.unsqueeze(0), dim=-1)         # [B,V,Np]
        per_point = back_project(torch.cat([saliency.unsqueeze(-1), features], -1), pixels, size, patch)
        per_group = per_point.reshape(b, g, k, -1).mean(2)                               # [B,G,1+F]
        return per_group[..., 0], per_group[..., 1:]

    def scores(self, model, tokens) -> Tensor:
        """[B,G] saliency of each group, for the guided masker; the groups' 2-D features are kept on the tokens."""
        scores, features = self.guidance(tokens)
        tokens.extra["i2p_features"] = features
        return scores

    def forward(self, ctx) -> dict[str, Tensor]:
        model, mask, tokens = ctx.model, ctx.mask, ctx.tokens
        features = tokens.extra.get("i2p_features")
        if features is None:
            features = self.guidance(tokens)[1]
        model.decode(ctx.latents, mask.with_predict(mask.keep), tokens)                  # the visible tokens' states
        states = self._tap[0]                                                            # [B,Nv,Dd]
        target = F.layer_norm(torch.gather(features, 1, mask.keep.unsqueeze(-1).expand(-1, -1, features.shape[-1])),
                              features.shape[-1:])
        return {"image_features": self.weight * F.mse_loss(self.head(states), target)}

    def extra_repr(self) -> str:
        return f"weight={self.weight}"
