"""A small 3-D ResNet (row 17's medical setting: SparK with 3-D convolutions), shaped like a timm CNN: `feature_info`
(channels and stride of each stage) and `forward_intermediates`, so `SparseCNNEncoder` makes it sparse as it does
timm's 2-D CNNs. Basic blocks (two 3x3x3 conv-BN, ReLU, identity or 1x1x1-conv shortcut), a 3x3x3 stem."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn


class BasicBlock3d(nn.Module):
    """x [B,cin,*S] -> [B,cout,*S/stride]: ResNet's basic block in 3-D."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.act = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv3d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm3d(cout))
        nn.init.zeros_(self.bn2.weight)  # zero-init the last BN of each block (timm's zero_init_last)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.act(self.bn1(self.conv1(x)))
        return self.act(self.bn2(self.conv2(y)) + shortcut)


class ResNet3d(nn.Module):
    """x [B,C,D,H,W] -> stage outputs at strides 2, 4, 8, ... (`feature_info`), one stride-2 stage per width.

    widths: channels of each stage; depths: blocks per stage; stem: a stride-2 3x3x3 conv-BN-ReLU of widths[0]; the first stage keeps its stride.
    """

    def __init__(self, in_chans: int = 1, widths: Sequence[int] = (16, 32, 64), depths: Sequence[int] = (1, 1, 1)):
        super().__init__()
        if len(widths) != len(depths) or not widths:
            raise ValueError(f"widths {tuple(widths)} and depths {tuple(depths)} must be the same non-empty length")
        self.stem = nn.Sequential(nn.Conv3d(in_chans, widths[0], 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm3d(widths[0]), nn.ReLU(inplace=True))
        stages, cin = [], widths[0]
        for s, (width, depth) in enumerate(zip(widths, depths)):
            stride = 1 if s == 0 else 2  # the stem already halves
            stages.append(nn.Sequential(*[BasicBlock3d(cin if i == 0 else width, width, stride if i == 0 else 1)
                                          for i in range(depth)]))
            cin = width
        self.stages = nn.ModuleList(stages)
        self.feature_info = [{"num_chs": w, "reduction": 2 ** (i + 1), "module": f"stages.{i}"}
                             for i, w in enumerate(widths)]
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_intermediates(self, x: Tensor, indices: Sequence[int] | None = None,
                              intermediates_only: bool = True) -> list[Tensor]:
        """The outputs of the stages at `indices` (all when None), shallow first (timm's signature)."""
        wanted = set(range(len(self.stages)) if indices is None else indices)
        x, out = self.stem(x), []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in wanted:
                out.append(x)
        return out

    def forward_features(self, x: Tensor) -> Tensor:
        return self.forward_intermediates(x, [len(self.stages) - 1])[0]
