"""Pretraining augmentation, one transform call per batch against one per image, in one process.

    python benchmarks/augment_speed.py [--batch 128] [--rounds 20] [--threads 1]

Every row turns the same `--batch` 32x32 `shapes` images into a normalised batch with MAE's random
resized crop (scale 0.2-1), a horizontal flip and `mae_laptop`'s colour jitter (0.4, 20% grey):

- `anymae, per batch`: `TensorImageDataset.__getitems__`, what anymae's data loader calls: each image's
  draws from its own generator, then one `PretrainTransform.batch` call (crops and resizes as two batched
  matmuls, the colour jitter as broadcast ops);
- `anymae, per image`: `[data[i] for i in batch]`, the same draws, each image cropped and resized by
  `F.interpolate` (`transforms.resize`), flipped, jittered and normalised on its own: what the data loader
  ran before session 12;
- `torchvision v2 per image`: RandomResizedCrop (antialiased) + RandomHorizontalFlip + ColorJitter(0.4,
  0.4, 0.4) + RandomGrayscale(0.2) + Normalize, the field's usual pipeline (its own draws, no channel
  shuffle: not the same jitter, the same amount of work);
- `mae_laptop training step`: forward with masking and loss, backward and AdamW on a batch of the same
  size, to put the augmentation in proportion (the loader runs in the training process on 2 cores).

Rounds alternate the rows (order rotating), each timed by process CPU time; the table prints the
median milliseconds per batch and the median over rounds of each round's ratio to `anymae, per batch`.
Absolute times are noise on shared machines; the ratios are the figure.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import torch  # noqa: E402

import anymae  # noqa: E402
from anymae.data import load_dataset  # noqa: E402
from anymae.data.transforms import PretrainTransform  # noqa: E402


def torchvision_per_image(images: torch.Tensor, indices: list[int], mean, std):
    from torchvision.transforms import v2
    pipeline = v2.Compose([v2.RandomResizedCrop(32, scale=(0.2, 1.0), antialias=True), v2.RandomHorizontalFlip(),
                           v2.ColorJitter(0.4, 0.4, 0.4), v2.RandomGrayscale(0.2),
                           v2.Normalize(mean.tolist(), std.tolist())])
    return lambda: torch.stack([pipeline(images[i].float() / 255) for i in indices])


def training_step(batch: int):
    model = anymae.create("mae_laptop").train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, 32, 32)

    def step():
        loss = model(x).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = load_dataset("shapes")
    mean, std = torch.full((3,), 0.5), torch.full((3,), 0.25)
    transform = PretrainTransform((32, 32), mean, std, colour_jitter=0.4)
    data = data.with_transform(transform, seed=0)
    indices = list(range(args.batch))
    rows = {
        "anymae, per batch": lambda: data.__getitems__(indices),
        "anymae, per image": lambda: [data[i] for i in indices],
        "torchvision v2 per image": torchvision_per_image(data.images, indices, mean, std),
        "mae_laptop training step": training_step(args.batch),
    }
    times = {name: [] for name in rows}
    names = list(rows)
    for name in names:                                   # warm-up
        rows[name]()
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.process_time()
            rows[name]()
            times[name].append(time.process_time() - start)
    base = times["anymae, per batch"]
    print(f"batch {args.batch}, {args.rounds} rounds, {args.threads} thread(s), process CPU time")
    print(f"{'row':28s} {'ms / batch':>11s} {'x per batch':>12s}")
    for name in names:
        ratio = statistics.median(t / b for t, b in zip(times[name], base))
        print(f"{name:28s} {1000 * statistics.median(times[name]):11.1f} {ratio:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
