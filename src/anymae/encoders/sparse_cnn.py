"""SparK's sparse CNN encoder (rows 48, 17): any timm CNN run on the visible patches only.

SparK treats the visible pixels as a sparse set: masked patches are zero at the input, every convolution,
normalisation and pooling output is zeroed again at the masked positions (what a submanifold sparse
convolution computes), and batch normalisation takes its statistics over the visible positions only. The CNN
keeps its own module classes and parameter names, so its state dict is a plain timm one: `timm.create_model`
loads it, and without a mask the encoder is that timm model exactly.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..tokenizers.base import Tokens, gather_tokens

CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
POOL = (nn.MaxPool2d, nn.AvgPool2d, nn.MaxPool3d, nn.AvgPool3d)
BATCH_NORM = (nn.BatchNorm2d, nn.BatchNorm3d)
UNSUPPORTED_NORM = (nn.GroupNorm, nn.InstanceNorm2d, nn.InstanceNorm3d)


class SparseContext:
    """The visible-patch map of the forward pass under way, shared by every sparsified layer.

    active  bool [B,1,*grid] (True where a patch is visible) or None (dense: no mask).
    """

    def __init__(self):
        self.active: Tensor | None = None
        self.cache: dict = {}

    def set(self, active: Tensor | None) -> None:
        self.active, self.cache = active, {}

    def at(self, spatial: Sequence[int]) -> Tensor | None:
        """The active map at a feature map's resolution: bool [B,1,*spatial] (nearest, as SparK's
        `repeat_interleave`), or None when dense."""
        if self.active is None:
            return None
        key = tuple(spatial)
        if key not in self.cache:
            grid = self.active.shape[2:]
            if any(s % g for s, g in zip(spatial, grid)):
                raise ValueError(f"feature map {key} is not a multiple of the mask grid {tuple(grid)}: the input "
                                 f"size must be divisible by the encoder's downsampling")
            up = self.active
            for axis, (s, g) in enumerate(zip(spatial, grid)):
                up = up.repeat_interleave(s // g, dim=2 + axis)
            self.cache[key] = up
        return self.cache[key]


def channels_last(module: nn.Module) -> bool:
    """Layers that timm runs on [B,H,W,C] tensors inside ConvNeXt-style blocks (Linear, plain LayerNorm)."""
    from timm.layers import LayerNorm2d
    if isinstance(module, nn.Linear):
        return True
    return isinstance(module, nn.LayerNorm) and not isinstance(module, LayerNorm2d)


def zero_masked(module: nn.Module, inputs, output: Tensor) -> Tensor | None:
    """Forward hook: the layer's output with masked positions set back to exactly zero."""
    ctx: SparseContext = module.sparse_context
    if ctx.active is None or output.ndim != ctx.active.ndim:
        return None
    if module.sparse_channels_last:
        active = ctx.at(output.shape[1:-1]).movedim(1, -1)  # [B,*spatial,1]
    else:
        active = ctx.at(output.shape[2:])  # [B,1,*spatial]
    return output * active.to(output.dtype)


def sparse_batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: Tensor, active: Tensor) -> Tensor:
    """Batch norm whose statistics (and running statistics) come from the visible positions only.

    x [B,C,*S], active bool [B,1,*S] -> [B,C,*S], zero where masked (SparK's SparseBatchNorm2d, computed with
    dense masked sums instead of a gather: the same numbers as batch norm over the visible rows)."""
    weight = active.to(x.dtype)
    axes = [0, *range(2, x.ndim)]
    shape = (1, -1, *([1] * (x.ndim - 2)))
    if bn.training or bn.running_mean is None:
        count = weight.sum() * 1.0
        if count < 2 and bn.training:
            raise ValueError("batch norm over the visible positions needs at least 2 of them")
        mean = (x * weight).sum(axes) / count
        var = ((x - mean.view(shape)) ** 2 * weight).sum(axes) / count  # biased, as batch norm normalises
        if bn.training and bn.track_running_stats:
            bn.num_batches_tracked.add_(1)
            momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
            with torch.no_grad():
                bn.running_mean.lerp_(mean.detach().to(bn.running_mean.dtype), momentum)
                bn.running_var.lerp_((var.detach() * count / (count - 1)).to(bn.running_var.dtype), momentum)
    else:
        mean, var = bn.running_mean, bn.running_var
    out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + bn.eps)
    if bn.affine:
        out = out * bn.weight.view(shape) + bn.bias.view(shape)
    return out * weight


class SparseBatchNorm2d(nn.BatchNorm2d):
    """nn.BatchNorm2d (same parameters and buffers) that reads the shared `SparseContext`."""

    sparse_context: SparseContext | None = None

    def forward(self, x: Tensor) -> Tensor:
        active = self.sparse_context.at(x.shape[2:]) if self.sparse_context is not None else None
        return super().forward(x) if active is None else sparse_batch_norm(self, x, active)


class SparseBatchNorm3d(nn.BatchNorm3d):
    """nn.BatchNorm3d that reads the shared `SparseContext` (SparK's 3-D medical setting, row 17)."""

    sparse_context: SparseContext | None = None

    def forward(self, x: Tensor) -> Tensor:
        active = self.sparse_context.at(x.shape[2:]) if self.sparse_context is not None else None
        return super().forward(x) if active is None else sparse_batch_norm(self, x, active)


SPARSE_BN = {nn.BatchNorm2d: SparseBatchNorm2d, nn.BatchNorm3d: SparseBatchNorm3d}


def sparsify(cnn: nn.Module, ctx: SparseContext) -> int:
    """Make every layer of `cnn` sparse in place (parameter names unchanged) -> the number of layers.

    Batch norms become their sparse twins (visible-only statistics); convolutions, layer norms, poolings and
    channels-last linears get a hook that re-zeroes the masked positions of their output. Norms whose
    statistics span positions and that SparK has no sparse form of (group / instance norm) are refused."""
    count = 0
    for name, module in cnn.named_modules():
        if isinstance(module, UNSUPPORTED_NORM):
            raise ValueError(f"layer {name!r} is a {type(module).__name__}: its statistics span masked positions "
                             f"and SparK has no sparse form of it (batch norm and layer norm CNNs work)")
        if type(module) in SPARSE_BN:
            module.__class__ = SPARSE_BN[type(module)]
        elif isinstance(module, BATCH_NORM):
            raise ValueError(f"layer {name!r} is a {type(module).__name__}, a batch norm with its own forward; "
                             f"only plain BatchNorm2d/3d can take visible-only statistics")
        if isinstance(module, BATCH_NORM + CONV + POOL + (nn.LayerNorm, nn.Linear)):
            module.sparse_context = ctx
            module.sparse_channels_last = channels_last(module)
            if not isinstance(module, BATCH_NORM):
                module.register_forward_hook(zero_masked)
            count += 1
    return count


def active_map(keep: Tensor | None, batch: int, grid: Sequence[int], device) -> Tensor | None:
    """keep [B,Nv] token indices -> bool [B,1,*grid], True at the visible patches (None when keep is None)."""
    if keep is None:
        return None
    n = 1
    for g in grid:
        n *= g
    flat = torch.zeros(batch, n, dtype=torch.bool, device=device).scatter_(1, keep, True)
    return flat.view(batch, 1, *grid)


class SparseCNNEncoder(nn.Module):
    """x [B,C,H,W] and the visible patches -> sparse feature maps at `hierarchy` scales; latents [B,Nv,D] are
    the deepest map's features at the visible patches (one patch = one deepest-map position).

    `cnn`: a timm CNN (`timm.create_model(name, **model_args)`, its classifier kept so the state dict is the
    plain model's); `scales`: indices into `cnn.feature_info` of the maps the decoder reads (SparK: the
    stride-4, 8, 16 and 32 stage outputs), the last being the deepest. `forward_intermediates` gives them.
    `reads_input`: the encoder reads the sample itself (`tokens.extra["image"]`), not token embeddings.
    """

    reads_input = True
    num_prefix = 0

    def __init__(self, cnn: nn.Module, name: str, model_args: dict | None = None, hierarchy: int = 4):
        super().__init__()
        self.cnn, self.name, self.model_args = cnn, name, dict(model_args or {})
        info = list(cnn.feature_info)
        if len(info) < hierarchy:
            raise ValueError(f"{name} has {len(info)} feature stages; SparK's decoder reads {hierarchy}")
        self.scales = list(range(len(info) - hierarchy, len(info)))
        self.widths = [info[i]["num_chs"] for i in self.scales]  # shallow -> deep
        self.strides = [info[i]["reduction"] for i in self.scales]
        self.downsample = self.strides[-1]
        self.dim = self.widths[-1]
        self.context = SparseContext()
        self.sparse_layers = sparsify(cnn, self.context)

    def feature_maps(self, x: Tensor, active: Tensor | None) -> list[Tensor]:
        """x [B,C,*S] with its visible map -> the `hierarchy` feature maps (shallow first), zero where masked."""
        self.context.set(active)
        try:
            if active is not None:
                x = x * self.context.at(x.shape[2:]).to(x.dtype)  # masked patches are zero at the input
            return self.cnn.forward_intermediates(x, indices=self.scales, intermediates_only=True)
        finally:
            self.context.set(None)

    def encode_tokens(self, tokens: Tokens, keep: Tensor | None = None, return_layers=None) -> Tensor:
        """Tokens (the image in `extra["image"]`) and the visible patches keep [B,Nv] (all when None) ->
        latents [B,Nv,D]. The feature maps and the active map are left in `tokens.extra["sparse"]` for
        SparK's decoder (the same Tokens object reaches `decode`)."""
        if return_layers is not None:
            raise ValueError("a sparse CNN encoder has no transformer blocks to read (pool 'mean' reads its "
                             "deepest feature map)")
        image = tokens.extra["image"]
        active = active_map(keep, image.shape[0], tokens.grid, image.device)
        maps = self.feature_maps(image, active)
        deepest = maps[-1]
        if tuple(deepest.shape[2:]) != tuple(tokens.grid):
            raise ValueError(f"{self.name}'s deepest map is {tuple(deepest.shape[2:])}, the patch grid "
                             f"{tuple(tokens.grid)}: the patch size must be the CNN's downsampling {self.downsample}")
        tokens.extra["sparse"] = {"maps": maps, "active": active}
        flat = deepest.flatten(2).transpose(1, 2)  # [B,N,D]
        return flat if keep is None else gather_tokens(flat, keep)

    def forward(self, x: Tensor, *args, **kwargs):
        raise ValueError("SparseCNNEncoder reads the image: call it through MaskedAutoencoder.encode_visible")

    def timm_state_dict(self) -> dict[str, Tensor]:
        """The CNN's weights under timm's own names (`timm.create_model(self.name, **self.model_args)`)."""
        return {k: v.detach().clone() for k, v in self.cnn.state_dict().items()}
