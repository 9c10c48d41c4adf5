"""Tokens/s of one masked-LM training step: anymae's BERT (TextTokenizer + BertEncoder + MLMHead, the parts of
RetroMAE / DupMAE without the decoder) against Hugging Face `BertForMaskedLM` of the same size, same batch,
sequence length, masks and optimizer, fp32, interleaved step by step in one process.

    python benchmarks/text_throughput.py [--size tiny|base] [--rounds 10] [--threads 1] [--clock cpu]

A step: forward (15% of the ordinary tokens chosen, 80/10/10 corruption drawn once per round and given to both)
+ cross-entropy on the chosen tokens + backward + AdamW + zero_grad. The figure is the median over rounds of
the per-round ratio (anymae tokens/s over Hugging Face tokens/s); `--clock cpu` times with the process CPU
time (meaningful with --threads 1 on a loaded machine).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src")]

SIZES = {"tiny": dict(dim=128, depth=4, heads=4, vocab=4000, length=64, batch=32),
         "base": dict(dim=768, depth=12, heads=12, vocab=30522, length=128, batch=8)}


def anymae_step(size, lr=1e-4):
    import torch
    from anymae.encoders.bert import BertEncoder
    from anymae.masking.text import MLMMasker
    from anymae.text_model import TextMaskedAutoencoder
    from anymae.tokenizers.text import TextTokenizer
    torch.manual_seed(0)
    model = TextMaskedAutoencoder(TextTokenizer(size["vocab"], size["length"], size["dim"]), MLMMasker(0.15),
                                  BertEncoder(size["dim"], size["depth"], size["heads"]), decoder=None).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)

    def step(ids, corrupted, chosen):
        latents = model.encode_tokens(model.tokenize(corrupted))
        loss = model.loss(model.head(latents[chosen]), ids[chosen]).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())
    return step


def hf_step(size, lr=1e-4):
    import torch
    from transformers import BertConfig, BertForMaskedLM
    torch.manual_seed(0)
    config = BertConfig(vocab_size=size["vocab"], hidden_size=size["dim"], num_hidden_layers=size["depth"],
                        num_attention_heads=size["heads"], intermediate_size=4 * size["dim"],
                        max_position_embeddings=size["length"], pad_token_id=0)
    model = BertForMaskedLM(config).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)

    def step(ids, corrupted, chosen):
        labels = ids.masked_fill(~chosen, -100)
        loss = model(input_ids=corrupted, attention_mask=(ids != 0).long(), labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="cpu")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    import torch
    from anymae.masking.text import MLMMasker
    torch.set_num_threads(args.threads)
    size = SIZES[args.size]
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    steps = {"anymae": anymae_step(size), "hf BertForMaskedLM": hf_step(size)}
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, size["vocab"], (size["batch"], size["length"]), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3
    tokens = size["batch"] * size["length"]
    times = {name: [] for name in steps}
    for r in range(args.rounds + 1):  # round 0 warms up
        corrupted, chosen = MLMMasker(0.15).corrupt(ids, ids > 4, 4, size["vocab"], g)
        order = list(steps) if r % 2 == 0 else list(steps)[::-1]
        for name in order:
            start = clock()
            steps[name](ids, corrupted, chosen)
            if r:
                times[name].append(clock() - start)
    ratios = [h / a for a, h in zip(times["anymae"], times["hf BertForMaskedLM"])]
    result = {"size": args.size, **size, "threads": args.threads, "clock": args.clock, "rounds": args.rounds,
              "tokens_per_s": {n: round(tokens / statistics.median(t), 1) for n, t in times.items()},
              "ratio_anymae_over_hf": round(statistics.median(ratios), 3)}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
