"""How local a run's encoder attends, against the same architecture at random init: per block, the mean
entropy of the attention rows (nats; uniform over N tokens = ln N) and the mean cosine similarity of the
block's output tokens, on the first clips/images of the test split, every token visible.

    python benchmarks/attention_entropy.py RUN [--count 64]

Written for docs/evaluation.md (why fine-tuning the `videomae_vit_tiny` encoder trails from-scratch training).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def block_stats(model, x):
    """-> [(attention entropy, token cosine)] per encoder block, every token visible."""
    import torch
    from anymae.encoders.vit import encoder_inputs
    encoder = model.encoder.eval()
    h = encoder_inputs(encoder, model.tokenizer(x), None)["x"]
    if encoder.cls_token is not None:
        h = torch.cat([encoder.cls_token.expand(len(h), -1, -1), h], 1)
    stats = []
    for block in encoder.blocks:
        attn, y = block.attn, block.norm1(h)
        b, n, d = y.shape
        q, k, _ = attn.qkv(y).reshape(b, n, 3, attn.num_heads, d // attn.num_heads).permute(2, 0, 3, 1, 4)
        rows = ((q @ k.transpose(-1, -2)) * attn.scale).softmax(-1)
        entropy = -(rows * rows.clamp_min(1e-12).log()).sum(-1).mean().item()
        h = block(h)
        tokens = torch.nn.functional.normalize(h[:, encoder.num_prefix:], dim=-1)
        stats.append((entropy, (tokens @ tokens.transpose(1, 2)).mean().item()))
    return stats, n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random-init model")
    args = parser.parse_args()
    import torch
    from anymae.io.checkpoint import build_untrained, load_run
    from anymae.train.finetune import finetune_splits
    torch.set_num_threads(1)
    model, config = load_run(args.run)
    _, test, _, _ = finetune_splits(config, model, config["data"])
    x = torch.stack([test[i][0] for i in range(min(args.count, len(test)))])
    print("| encoder | " + " | ".join(f"block {i}: entropy / cosine" for i in range(len(model.encoder.blocks))) + " |")
    print("|---|" + "---|" * len(model.encoder.blocks))
    with torch.no_grad():
        for name, m in (("pretrained", model), ("random init", build_untrained(config, seed=args.seed))):
            stats, n = block_stats(m, x)
            print(f"| {name} | " + " | ".join(f"{e:.2f} / {c:.2f}" for e, c in stats) + " |")
    print(f"\nuniform attention over the {n} tokens: entropy ln {n} = {math.log(n):.2f}")


if __name__ == "__main__":
    main()
