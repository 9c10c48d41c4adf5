"""Per-class accuracy of the scoring classifier on a generator's class-conditional samples (the same
classifier, requested classes and sampler settings as `anymae generate RUN --score`; another draw of samples).

    python benchmarks/generation_per_class.py runs/gen --steps 8 --guidance 4
"""
from __future__ import annotations

import argparse

import torch

from anymae.commands.generate import load_generator
from anymae.data import load_dataset
from anymae.eval.generation import GenerationScore
from anymae.generate.samplers import sample
from anymae.train.generative import pixels


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--guidance", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(1)
    model, config = load_generator(a.run)
    size = model.tokenizer.image_size
    train_data, test_data = (load_dataset(config["data"], split=s, image_size=size) for s in ("train", "test"))
    train, test = ((pixels(d, size) + 1) / 2 for d in (train_data, test_data))
    test_labels = test_data.labels[:1000].long()
    score = GenerationScore(train, train_data.labels.long(), test[:1000], test_labels, model.num_classes, seed=a.seed)
    g = torch.Generator().manual_seed(a.seed)
    with torch.no_grad():
        images = torch.cat([sample(model, "maskgit", count=len(test_labels[i:i + 250]), labels=test_labels[i:i + 250],
                                   steps=a.steps, generator=g, guidance=a.guidance)[0] for i in range(0, 1000, 250)])
        pred, real = score.classifier(images).argmax(1), score.classifier(test[:1000]).argmax(1)
    names = train_data.classes
    print(f"| class | real test | samples (S={a.steps}, guidance {a.guidance}) |\n|---|---|---|")
    for c, name in enumerate(names):
        rows = test_labels == c
        print(f"| {name} | {(real[rows] == c).float().mean():.2f} | {(pred[rows] == c).float().mean():.2f} |")


if __name__ == "__main__":
    main()
