"""Which change bought what: each optimised part against the straightforward version, same process,
alternating, median of repeats (issue #9). Ratios only: absolute times on a shared machine are noise.

    python benchmarks/parts_ab.py [--workload tiny32] [--repeats 7] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src"), str(HERE.parent / "tests")]


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def alternate(variants: dict, repeats: int) -> dict:
    """name -> median seconds, running the variants in turn `repeats` times after one warm-up each."""
    for fn in variants.values():
        fn()
    times = {k: [] for k in variants}
    for r in range(repeats):
        names = list(variants)[r % len(variants):] + list(variants)[:r % len(variants)]
        for name in names:
            times[name].append(timed(variants[name]))
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="tiny32")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import anymae
    from anymae.train.module import make_optimizer, param_groups
    from peers import WORKLOADS
    from test_speed import reference_decoder
    w = WORKLOADS[args.workload]
    torch.manual_seed(0)
    model = anymae.create("mae_vit_tiny", image_size=w.image_size, patch_size=w.patch_size, dim=w.dim,
                          depth=w.depth, heads=w.heads, decoder_dim=w.decoder_dim, decoder_depth=w.decoder_depth,
                          decoder_heads=w.decoder_heads)
    print(f"{args.workload}, {args.threads} threads, {args.repeats} alternating repeats")

    # 1. the optimizer step: fused AdamW vs the multi-tensor and the single-tensor (torch's CPU default) ones
    for p_ in model.parameters():
        p_.grad = torch.randn_like(p_)
    opts = {"fused": make_optimizer(model, 1e-4, 0.05),
            "foreach": torch.optim.AdamW(param_groups(model, 0.05), lr=1e-4, foreach=True),
            "single-tensor (torch default on CPU)": torch.optim.AdamW(param_groups(model, 0.05), lr=1e-4,
                                                                     foreach=False)}
    got = alternate({k: o.step for k, o in opts.items()}, args.repeats)
    for k, v in got.items():
        print(f"  AdamW step, {k:<38} {1e3 * v:8.1f} ms  ({v / got['fused']:.2f}x fused)")

    # 2. the decoder: no un-shuffling gather, norm/pred on predicted tokens only, vs models_mae.py's order
    x = torch.randn(w.batch, 3, w.image_size, w.image_size)
    g = torch.Generator().manual_seed(0)
    tokens = model.tokenizer(x)
    mask = model.draw_mask(tokens, g)
    latents = torch.randn(w.batch, 1 + mask.num_visible, w.dim, requires_grad=True)
    tokens.embed, tokens.pos = tokens.embed.detach(), tokens.pos.detach()
    dec = model.decoder

    def new():
        dec(latents, mask, tokens, 1).square().mean().backward()

    def ref():
        reference_decoder(dec, latents, mask, tokens, 1).square().mean().backward()
    got = alternate({"anymae decoder": new, "reference order": ref}, args.repeats)
    print(f"  decoder fwd+bwd: anymae {1e3 * got['anymae decoder']:.0f} ms, reference "
          f"{1e3 * got['reference order']:.0f} ms ({got['reference order'] / got['anymae decoder']:.3f}x)")
    from anymae.masking.decoder import decoder_subset
    half = decoder_subset(mask, 0.5, g)

    def keep_half():
        dec(latents, half, tokens, 1).square().mean().backward()
    got = alternate({"all": new, "half": keep_half}, args.repeats)
    print(f"  decoder fwd+bwd with --decoder-keep-ratio 0.5: x{got['half'] / got['all']:.3f} of the full decoder")
    return 0


if __name__ == "__main__":
    sys.exit(main())
