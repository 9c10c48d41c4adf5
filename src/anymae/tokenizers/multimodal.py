"""Several named modalities in one token sequence (MultiMAE, row 50): one tokenizer per modality,
a learnable modality embedding, `group` = modality id; segmentation maps as class embeddings."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Tokenizer, Tokens, check_finite
from .patching import patch_grid, patchify_image, unpatchify_image
from .position import GridPosition


class SegmentationTokenizer(Tokenizer):
    """Class maps [B,H,W] (long, 0..classes-1) -> (H/p)(W/p) tokens: a class embedding per pixel,
    then a patch projection (MultiMAE's semantic-segmentation input). Values are the class ids."""

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"image_size": 8, "patch_size": 4, "classes": 3, "dim": 16, "class_dim": 4}]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randint(0, self.classes, (batch_size, *self.image_size), generator=generator)

    def __init__(self, image_size: int | tuple[int, int] = 32, patch_size: int = 4, classes: int = 11,
                 dim: int = 192, class_dim: int = 16):
        super().__init__()
        self.image_size, self.grid = patch_grid(image_size, patch_size)
        if classes < 2:
            raise ValueError(f"a segmentation needs at least 2 classes, got {classes}")
        self.patch_size, self.classes, self.dim = patch_size, classes, dim
        self.channels = 1
        self.patch_dim = patch_size * patch_size
        self.class_embed = nn.Embedding(classes, class_dim)
        self.proj = nn.Conv2d(class_dim, dim, kernel_size=patch_size, stride=patch_size)
        self.pos = GridPosition(dim, self.grid)

    def check_input(self, x) -> None:
        self.labels(x)

    def labels(self, x: Tensor) -> Tensor:
        """[B,H,W] or [B,1,H,W] class ids (any dtype holding integers) -> long [B,H,W], checked."""
        if not isinstance(x, Tensor):
            raise ValueError(f"expected class maps as a torch.Tensor [B,H,W], got {type(x).__name__}")
        if x.is_floating_point():
            check_finite(x, "class maps")
        if x.ndim == 4 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 3:
            raise ValueError(f"expected class maps [B,H,W], got shape {tuple(x.shape)}")
        if tuple(x.shape[-2:]) != self.image_size:
            raise ValueError(f"expected class maps of {self.image_size[0]}x{self.image_size[1]}, "
                             f"got {x.shape[-2]}x{x.shape[-1]}")
        labels = x.round().long() if x.is_floating_point() else x.long()
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.classes):
            raise ValueError(f"class ids must be in 0..{self.classes - 1}, got {int(labels.min())}..{int(labels.max())}")
        return labels

    def patchify(self, x: Tensor) -> Tensor:
        """class maps [B,H,W] -> ids per patch [B,N,p*p] (float)."""
        return patchify_image(self.labels(x).float().unsqueeze(1), self.patch_size)

    def unpatchify(self, values: Tensor) -> Tensor:
        """[B,N,p*p] -> [B,1,H,W]."""
        return unpatchify_image(values, self.patch_size, self.grid, 1)

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        return GridPosition(dim, self.grid, learnable=learnable)

    def forward(self, x: Tensor) -> Tokens:
        labels = self.labels(x)
        embed = self.proj(self.class_embed(labels).permute(0, 3, 1, 2)).flatten(2).transpose(1, 2)
        return Tokens(values=self.patchify(labels), embed=embed, pos=self.pos(), grid=self.grid)


class MultiModalPosition(nn.Module):
    """Tokens -> [1,N,dim]: each present modality's own position table plus its modality embedding."""

    def __init__(self, tokenizer: "MultiModalTokenizer", dim: int, learnable: bool = False):
        super().__init__()
        self.names = list(tokenizer.names)
        self.parts = nn.ModuleDict({n: tokenizer.parts[n].position(dim, learnable) for n in self.names})
        self.modality_embed = nn.Parameter(torch.zeros(len(self.names), dim))
        nn.init.normal_(self.modality_embed, std=0.02)

    def forward(self, tokens: Tokens) -> Tensor:
        out = []
        for name, (start, end) in tokens.extra["spans"].items():
            m = self.names.index(name)
            pos = self.parts[name](None)
            out.append(pos.expand(1, end - start, -1) + self.modality_embed[m])
        return torch.cat(out, dim=1)


class MultiModalTokenizer(Tokenizer):
    """{name: sample [B,...]} -> one Tokens row per sample: the present modalities' tokens in the
    order the tokenizers were given, `group[N]` = modality id, `extra["spans"]` = {name: (start, end)}.

    Values of different widths are zero-padded to the widest (`widths[name]` tells each one's);
    a modality missing from the input is simply absent from the sequence.
    """

    @classmethod
    def examples(cls) -> list[dict]:
        from .patch import PatchTokenizer
        return [{"parts": {"rgb": PatchTokenizer(8, 4, 3, dim=16), "depth": PatchTokenizer(8, 4, 1, dim=16)},
                 "dim": 16}]

    def example_input(self, batch_size: int, generator: torch.Generator) -> dict:
        return {name: tok.example_input(batch_size, generator) for name, tok in self.parts.items()}

    def __init__(self, parts: dict[str, Tokenizer], dim: int):
        super().__init__()
        if not parts:
            raise ValueError("a multi-modal tokenizer needs at least one modality")
        for name, tok in parts.items():
            if tok.dim != dim:
                raise ValueError(f"modality {name!r}: tokenizer width {tok.dim} != {dim}")
        self.parts = nn.ModuleDict(parts)
        self.names = list(parts)
        self.dim = dim
        self.image_size = next(iter(parts.values())).image_size
        self.widths = {n: t.patch_dim for n, t in parts.items()}
        self.patch_dim = max(self.widths.values())
        self.grid = (sum(t.num_tokens for t in parts.values()),)
        self.modality_embed = nn.Parameter(torch.zeros(len(parts), dim))
        nn.init.normal_(self.modality_embed, std=0.02)

    def spans(self, names) -> dict[str, tuple[int, int]]:
        out, start = {}, 0
        for name in self.names:
            if name in names:
                out[name] = (start, start + self.parts[name].num_tokens)
                start += self.parts[name].num_tokens
        return out

    def check_input(self, x) -> None:
        if not isinstance(x, dict):
            raise ValueError(f"a multi-modal model takes a dict of modalities {self.names}, got {type(x).__name__}")
        unknown = sorted(set(x) - set(self.names))
        if unknown:
            raise ValueError(f"unknown modalities {unknown}; this model knows {self.names}")
        if not any(n in x for n in self.names):
            raise ValueError(f"no modality given; expected some of {self.names}")
        for name, value in x.items():
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"modality {name!r}: expected a torch.Tensor, got {type(value).__name__}")
            self.parts[name].check_input(value)
        sizes = {name: int(value.shape[0]) for name, value in x.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"modalities hold different numbers of samples: {sizes}")

    def placeholder(self, name: str, batch_size: int, device="cpu") -> Tensor:
        """An all-zero sample of modality `name` (for modalities the mask hides entirely)."""
        tok = self.parts[name]
        h, w = tok.image_size
        if isinstance(tok, SegmentationTokenizer):
            return torch.zeros(batch_size, h, w, dtype=torch.long, device=device)
        return torch.zeros(batch_size, tok.channels, h, w, device=device)

    def patchify(self, x: dict) -> Tensor:
        return self.forward(x).values

    def split(self, tokens: Tokens) -> dict[str, Tokens]:
        """One Tokens per present modality (values trimmed to that modality's width)."""
        out = {}
        for name, (s, e) in tokens.extra["spans"].items():
            pos = tokens.pos[:, s:e]
            out[name] = Tokens(values=tokens.values[:, s:e, :self.widths[name]], embed=tokens.embed[:, s:e],
                               pos=pos, grid=self.parts[name].grid)
        return out

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        return MultiModalPosition(self, dim, learnable)

    def forward(self, x: dict) -> Tokens:
        self.check_input(x)
        spans = self.spans(x)
        values, embeds, poses, groups = [], [], [], []
        for name in spans:
            m = self.names.index(name)
            t = self.parts[name](x[name])
            values.append(F.pad(t.values, (0, self.patch_dim - t.values.shape[-1])))
            embeds.append(t.embed + self.modality_embed[m])
            poses.append(t.pos.expand(1, -1, -1) if t.pos.shape[0] == 1 else t.pos)
            groups.append(torch.full((t.embed.shape[1],), m, dtype=torch.long, device=t.embed.device))
        batch = max(p.shape[0] for p in poses)
        pos = torch.cat([p.expand(batch, -1, -1) for p in poses], dim=1)
        return Tokens(values=torch.cat(values, 1), embed=torch.cat(embeds, 1), pos=pos,
                      grid=(pos.shape[1],), group=torch.cat(groups), extra={"spans": spans})
