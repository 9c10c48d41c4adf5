"""Cost per batch of every registered masker relative to `random` (issue 3), and the noise masks' spectra.

    python benchmarks/maskers.py                 # batch 256, 14x14 tokens, one thread
    python benchmarks/maskers.py --spectra       # also the measured radial power spectra of the masks

Each masker is timed in rounds interleaved with `random` in the same process; the ratio is the
median over rounds of (masker time / random time). A masker's inputs come from its `example()`
(masking/base.py `MaskerExample`): scores are uniform noise, corrupting maskers get images of the
grid's size at 16 px per token. `hard_patch`'s scoring (encoder on every token + loss-predictor
head) is timed separately, against the same model's masked training forward.
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from anymae.masking import MASKERS, make_masker
from anymae.tokenizers.base import Tokens


def example_inputs(name: str, batch: int, spatial: tuple[int, int], variant: dict, g: torch.Generator):
    """(masker, call) for one masker variant: call() draws one batch of masks."""
    cls = MASKERS[name]
    example = cls.example(spatial)
    masker = make_masker(name, **variant)
    if example.progress is not None:
        masker.set_progress(example.progress)
    n = math.prod(example.grid)
    tokens = Tokens(values=torch.rand(batch, n, 16, generator=g), embed=torch.zeros(batch, n, 1),
                    pos=torch.zeros(1, n, 1), grid=tuple(example.grid), group=example.group)
    scores = torch.rand(batch, n, generator=g) if example.scores else None
    if getattr(masker, "corrupts_input", False):
        images = torch.rand(batch, 3, spatial[0] * 16, spatial[1] * 16, generator=g)
        return masker, lambda: masker.corrupt(images, g)
    if scores is not None:
        return masker, lambda: masker(tokens, g, scores=scores)
    return masker, lambda: masker(tokens, g)


def per_call(call, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls


def time_maskers(batch: int, spatial: tuple[int, int], rounds: int, calls: int) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    _, random_call = example_inputs("random", batch, spatial, {}, g)
    per_call(random_call, 3)
    rows = []
    for name in sorted(MASKERS):
        for variant in MASKERS[name].example(spatial).variants:
            _, call = example_inputs(name, batch, spatial, variant, g)
            call()  # first call: banks and caches are made here, once
            ratios, times = [], []
            for _ in range(rounds):
                base = per_call(random_call, calls)
                t = per_call(call, calls)
                ratios.append(t / base)
                times.append(t)
            label = ", ".join(f"{k}={v}" for k, v in variant.items())
            rows.append({"masker": name, "variant": label, "ms": 1e3 * statistics.median(times),
                         "ratio": statistics.median(ratios)})
    return rows


def time_hpm_head(batch: int, spatial: tuple[int, int], reps: int = 3) -> dict:
    """ViT-Ti/16 with MAE's light decoder: (a) the plain MAE training forward (random masks), (b) the same
    with HPM's loss-predictor term, (c) HPM's scoring pass (encoder on every token + head). Medians, ms."""
    import anymae
    from anymae.masking import RandomMasker
    torch.manual_seed(0)
    model = anymae.create("mae_vit_tiny", image_size=spatial[0] * 16, patch_size=16).eval()
    model.set_masker(make_masker("hard_patch", 0.75))
    hpm_masker, random_masker = model.masker, RandomMasker(0.75)
    head = list(model.aux)
    x = torch.randn(batch, 3, spatial[0] * 16, spatial[1] * 16)
    g = torch.Generator().manual_seed(0)

    def plain():
        model.masker, model.aux = random_masker, torch.nn.ModuleList()
        model(x, generator=g)

    def with_head():
        model.masker, model.aux = random_masker, torch.nn.ModuleList(head)
        model(x, generator=g)

    def scoring():
        model.masker, model.aux = hpm_masker, torch.nn.ModuleList(head)
        hpm_masker.scorer(model, model.tokenizer(x))

    times = {"plain": [], "with_head": [], "scoring": []}
    with torch.no_grad():
        for fn in (plain, with_head, scoring):
            fn()  # warm-up
        for _ in range(reps):  # interleaved, median: the machine is shared
            for name, fn in (("plain", plain), ("with_head", with_head), ("scoring", scoring)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def spectra(batch: int = 1024, spatial=(14, 14)) -> list[dict]:
    from anymae.masking.noise import COLORS, radial_power, spectrum_summary
    g = torch.Generator().manual_seed(5)
    rows = []
    for name, kwargs in [("random", {})] + [("noise", {"color": c}) for c in COLORS]:
        mask = make_masker(name, 0.75, **kwargs).sample(batch, spatial, g)
        freq, power = radial_power(mask.bool.reshape(-1, *spatial).float())
        rows.append({"masks": name + (f" {kwargs['color']}" if kwargs else ""), **spectrum_summary(freq, power),
                     "curve": power.tolist(), "freq": freq.tolist()})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--grid", type=int, default=14)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--head-batch", type=int, default=256, help="batch for hard_patch's head timing (0: skip)")
    parser.add_argument("--spectra", action="store_true", help="also print the noise masks' radial power spectra")
    parser.add_argument("--head-only", action="store_true", help="only the hard_patch head timing (and spectra)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spatial = (args.grid, args.grid)
    rows = [] if args.head_only else time_maskers(args.batch, spatial, args.rounds, args.calls)
    if rows:
        print(f"masker cost per batch of {args.batch}, {args.grid}x{args.grid} tokens, {args.threads} thread(s), "
              f"median of {args.rounds} rounds x {args.calls} calls")
        print("| masker | variant | ms / batch | x random |")
        print("|---|---|---:|---:|")
        for r in rows:
            print(f"| {r['masker']} | {r['variant'] or '-'} | {r['ms']:.2f} | {r['ratio']:.2f} |")
        over = [r for r in rows if r["ratio"] > 2.0 and r["masker"] != "hard_patch"]
        print(f"over 2x random: {', '.join(r['masker'] for r in over) if over else 'none'}")
    if args.head_batch:
        head = time_hpm_head(args.head_batch, spatial)
        print(f"\nhard_patch head cost, ViT-Ti/16 + MAE decoder (128-d x 4), 1-block loss head, batch {args.head_batch}:")
        print(f"  MAE training forward (random masks):         {head['plain']:.0f} ms")
        print(f"  + loss-predictor term:                       {head['with_head']:.0f} ms "
              f"({head['with_head'] / head['plain']:.2f}x)")
        print(f"  scoring pass (encoder on all tokens + head): {head['scoring']:.0f} ms "
              f"({head['scoring'] / head['plain']:.2f}x the MAE forward; skipped while the schedule is random)")
    if args.spectra:
        print("\nmean radial power of the masks (1024 masks, ratio 0.75, 14x14; bands in cycles/token: "
              "low < 0.12 <= mid <= 0.32 < high)")
        print("| masks | low | mid | high | curve (f = 1/14 .. 10/14) |")
        print("|---|---:|---:|---:|---|")
        for r in spectra(spatial=spatial):
            curve = " ".join(f"{v:.3f}" for v in r["curve"])
            print(f"| {r['masks']} | {r['low']:.3f} | {r['mid']:.3f} | {r['high']:.3f} | {curve} |")


if __name__ == "__main__":
    main()
