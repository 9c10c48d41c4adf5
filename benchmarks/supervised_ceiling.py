"""What labels could buy at the same budget: train a recipe's encoder *supervised*, end to end, for the
same number of steps as a pretraining run, and report its test accuracy beside the frozen probes.

    python benchmarks/supervised_ceiling.py --data shapes --steps 300 --arg patch_size=8 --arg depth=6
    python benchmarks/supervised_ceiling.py --data shapes --cnn      # a small supervised CNN, for scale

The encoder reads the whole image (no masking), mean-pools its patch tokens and feeds a linear head;
AdamW (lr 1e-3, wd 0.05), batch 128, horizontal flips, the data set's own normalisation. If a linear
probe on self-supervised features is to beat random init by 10 points, the features must be about as
good as what this supervised run reaches: it is the ceiling the probe bar is measured against.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn
from tqdm.auto import tqdm

import anymae
from anymae.cli import parse_assignments
from anymae.data import load_dataset


def small_cnn(channels: int, classes: int) -> nn.Module:
    def stage(c_in, c_out, stride):
        return [nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.GELU()]
    return nn.Sequential(*stage(channels, 32, 1), *stage(32, 64, 2), *stage(64, 64, 1), *stage(64, 128, 2),
                         *stage(128, 128, 1), *stage(128, 192, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(192, classes))


class PooledViT(nn.Module):
    """A recipe's tokenizer + encoder, mean-pooled patch tokens, a linear head: x [B,C,H,W] -> logits [B,K]."""

    def __init__(self, model, classes: int):
        super().__init__()
        self.model = model
        self.head = nn.Linear(model.encoder.dim, classes)

    def forward(self, x):
        latents = self.model.encode(x)
        return self.head(latents[:, self.model.encoder.num_prefix:].mean(1))


def tensors(name: str, split: str, size: int):
    """A built-in split as float images [N,C,size,size] in [0,1] (bilinear resize) and labels [N]."""
    data = load_dataset(name, split=split, image_size=size)
    x = torch.stack([data.pixels(i) for i in range(len(data))])
    if x.shape[-2:] != (size, size):
        x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x, data.labels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="shapes")
    p.add_argument("--recipe", default="mae_vit_tiny")
    p.add_argument("--arg", action="append", default=[], help="recipe override KEY=VALUE (repeatable)")
    p.add_argument("--cnn", action="store_true", help="a small supervised CNN instead of the recipe's encoder")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    x, y = tensors(args.data, "train", args.image_size)
    xt, yt = tensors(args.data, "test", args.image_size)
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True).clamp_min(1e-6)
    x, xt = (x - mean) / std, (xt - mean) / std
    classes = int(y.max()) + 1
    overrides = parse_assignments(args.arg, "--arg")
    if args.cnn:
        net = small_cnn(x.shape[1], classes)
    else:
        net = PooledViT(anymae.create(args.recipe, image_size=args.image_size, channels=x.shape[1], **overrides),
                        classes)
    opt = torch.optim.AdamW([q for q in net.parameters() if q.requires_grad], lr=1e-3, weight_decay=0.05)
    g = torch.Generator().manual_seed(args.seed)
    start = time.time()
    net.train()
    for _ in tqdm(range(args.steps), desc="supervised"):
        idx = torch.randint(0, len(x), (args.batch_size,), generator=g)
        batch = x[idx]
        flip = torch.rand(len(idx), generator=g) < 0.5
        batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
        loss = nn.functional.cross_entropy(net(batch), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = torch.cat([net(xt[i:i + 256]).argmax(1) for i in range(0, len(xt), 256)]).eq(yt).float().mean()
    print(json.dumps({"data": args.data, "model": "cnn" if args.cnn else args.recipe, "overrides": overrides,
                      "steps": args.steps, "seconds": round(time.time() - start), "last_loss": round(loss.item(), 3),
                      "test_accuracy": round(100 * accuracy.item(), 1)}))


if __name__ == "__main__":
    main()
