"""View invariance for small data (SDMAE, "Masked autoencoders are effective solution to transformer
data-hungry"; DESIGN.md "Learning at a laptop budget"): a second augmented, masked view of each image
is encoded, and the two views' pooled latents are matched with a contrastive (InfoNCE) loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import ExtraTerm
from .registry import TERMS


def rand(shape, generator: torch.Generator | None, device) -> Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def second_view(x: Tensor, generator: torch.Generator | None, scale=(0.3, 1.0), colour: bool = True) -> Tensor:
    """x [B,C,H,W] (normalised) -> another view: random resized crop + flip (one affine resample per
    image), and for colour images a channel shuffle, brightness/contrast jitter and grey-out."""
    b, c = x.shape[:2]
    u = rand((b, 8), generator, x.device)
    side = (scale[0] + (scale[1] - scale[0]) * u[:, 0]).sqrt()           # crop side as a fraction
    flip = torch.where(u[:, 1] < 0.5, -1.0, 1.0)
    shift = (1 - side).unsqueeze(1) * (2 * u[:, 2:4] - 1)                   # keep the crop inside
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 1, 1] = side * flip, side
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    view = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if colour:
        mean = view.mean(dim=(1, 2, 3), keepdim=True)
        contrast = (0.6 + 0.8 * u[:, 4]).view(b, 1, 1, 1)
        brightness = (u[:, 5] - 0.5).view(b, 1, 1, 1)
        view = (view - mean) * contrast + mean + brightness
        if c == 3:
            perms = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]], device=x.device)
            order = perms[(u[:, 6] * 6).long().clamp(max=5)]                # [B,3]
            view = view.gather(1, order.view(b, 3, 1, 1).expand_as(view))
            grey = (u[:, 7] < 0.2).view(b, 1, 1, 1)
            view = torch.where(grey, view.mean(1, keepdim=True).expand_as(view), view)
    return view


def info_nce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """a, b [B,D] -> symmetric InfoNCE: row i of a matches row i of b, the other rows are negatives."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.t() / temperature
    labels = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


@TERMS.register("invariance")
class ViewInvariance(ExtraTerm):
    """Aux term: InfoNCE between mean-pooled visible latents of the step's view and of a second view."""

    def __init__(self, weight: float = 1.0, temperature: float = 0.2, proj_dim: int = 128, hidden: int = 512,
                 scale=(0.3, 1.0), colour: bool = True):
        super().__init__()
        self.weight, self.temperature, self.scale, self.colour = weight, temperature, scale, colour
        self.proj_dim, self.hidden = proj_dim, hidden
        self.proj: nn.Module | None = None

    def bind(self, model) -> None:
        d = model.encoder.dim
        self.proj = nn.Sequential(nn.Linear(d, self.hidden), nn.GELU(), nn.Linear(self.hidden, self.proj_dim))

    def pooled(self, latents: Tensor, num_prefix: int) -> Tensor:
        return latents[:, num_prefix:].mean(1)

    def forward(self, ctx) -> dict[str, Tensor]:
        model = ctx.model
        view = second_view(ctx.x, ctx.generator, self.scale, self.colour)
        tokens = model.tokenize(view)
        latents = model.encode_visible(tokens, model.draw_mask(tokens, ctx.generator).keep)
        prefix = model.encoder.num_prefix
        loss = info_nce(self.proj(self.pooled(ctx.latents, prefix)), self.proj(self.pooled(latents, prefix)),
                        self.temperature)
        return {"invariance": self.weight * loss}
