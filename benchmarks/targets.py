"""Targets and teachers on a built-in data set (`shapes` by default): every target's tiny recipe trained for the same number of steps, then
linear-probe and kNN accuracy, step time relative to pixel-MAE, and what its teacher cost.

    OMP_NUM_THREADS=1 python benchmarks/targets.py --steps 3000 --batch-size 128 --lr 2e-3 --arg depth=6 \
        --position-task 1.0 --out runs/bench-targets-pos        # the recipes' defaults (docs/targets.md)
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/targets.py --epochs 5 --out runs/bench-targets
    python benchmarks/targets.py --data faces --epochs 100 --out runs/bench-targets-faces
    python benchmarks/targets.py --steps 3000 --batch-size 128 --lr 2e-3 --arg dim=192 --arg depth=6 \
        --arg heads=3 --arg decoder_dim=128 --arg decoder_depth=4 --arg decoder_heads=4 --out runs/bench-targets-3k

All runs share one encoder (64 wide, 4 blocks, 8x8 patches of 32x32 images unless `--arg` says otherwise) and
batch size. Teachers are
trained here first: the pixel-MAE baseline run (SALT, MaskAlign, MR-MAE, the MIM teacher of Hybrid), a
larger MAE (DMAE) and the EMA-latent run (the feature teacher of Hybrid).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ENCODER = dict(image_size=32, patch_size=8, dim=64, depth=4, heads=4)
DECODER = dict(decoder_dim=64, decoder_depth=2, decoder_heads=4)

# (row name, recipe, extra recipe args, target swap, teachers by row name)
ROWS = [
    ("pixel-MAE (baseline)", "mae_vit_tiny", DECODER, None, []),
    ("HOG (MaskFeat)", "maskfeat_vit_tiny", DECODER, None, []),
    ("HOG via --target hog", "mae_vit_tiny", DECODER, "hog", []),
    ("frequency (MFM, 40)", "mfm_vit_tiny", DECODER, None, []),
    ("positions (MP3, 42)", "mp3_vit_tiny", {}, None, []),
    ("EMA latents (JEPA/data2vec, 26)", "latent_ema_vit_tiny", DECODER, None, []),
    ("frozen-teacher latents (SALT, 54)", "salt_vit_tiny", DECODER, None, ["pixel-MAE (baseline)"]),
    ("MaskAlign (6)", "maskalign_vit_tiny", {}, None, ["pixel-MAE (baseline)"]),
    ("MR-MAE (13)", "mrmae_vit_tiny", DECODER, None, ["pixel-MAE (baseline)"]),
    ("DMAE (29)", "dmae_vit_tiny", DECODER, None, ["larger MAE teacher"]),
    ("Hybrid Distillation (36)", "hybrid_distill_vit_tiny", {}, None,
     ["EMA latents (JEPA/data2vec, 26)", "pixel-MAE (baseline)"]),
    ("CAE (5)", "cae_vit_tiny", {}, None, []),
    ("LUT (7)", "lut_vit_tiny", DECODER, None, []),
    ("DMJD (33)", "dmjd_vit_tiny", DECODER, None, []),
]
LARGE_TEACHER = ("larger MAE teacher", "mae_vit_tiny")


def larger_teacher_args() -> dict:
    """DMAE's teacher: 1.5x the shared encoder's width (in whole heads) and 2 more blocks."""
    head = ENCODER["dim"] // ENCODER["heads"]
    heads = -(-3 * ENCODER["heads"] // 2)
    return {**ENCODER, **DECODER, "dim": heads * head, "heads": heads, "depth": ENCODER["depth"] + 2}


def train(name, recipe, args, target, teachers, out: Path, epochs: int | None, batch_size: int, seed: int,
          reuse: bool = False, data: str = "shapes", steps: int = 300, lr: float = 1e-3):
    from anymae.train.config import PretrainConfig
    from anymae.train.run import pretrain
    from anymae.io.checkpoint import read_config
    config = PretrainConfig(recipe=recipe, data=data, recipe_args=dict(args), epochs=epochs,
                            steps=steps, batch_size=batch_size, seed=seed, lr=lr, target=target,
                            teacher=[str(t) for t in teachers])
    run = out / name.split(" (")[0].replace(" ", "_").replace("/", "-").lower()
    finished = (run / "config.yaml").exists() and "summary" in read_config(run / "config.yaml")
    if not (reuse and finished):
        pretrain(config, run, progress=False, overwrite=True)
    summary = read_config(run / "config.yaml")["summary"]
    return run, summary["train_seconds"] / summary["steps"], summary["train_seconds"], summary["steps"]


def probe(run: Path, with_random: bool):
    """Linear probe and kNN of the run's encoder (mean-pooled tokens) on its data set's fixed train/test split;
    also the same architecture at random init when asked (one row serves every recipe: same encoder)."""
    from anymae.eval.features import encoder_features
    from anymae.eval.probe import evaluate, probe_splits
    from anymae.io.checkpoint import build_untrained, load_run
    from anymae.train.config import PretrainConfig
    model, raw = load_run(run)
    config = PretrainConfig.from_dict(raw)
    _, train, test = probe_splits(config, model, config.data)
    ys = train.labels.numpy(), test.labels.numpy()
    out = []
    for m in (model, build_untrained(raw) if with_random else None):
        if m is None:
            out.append(None)
            continue
        tr, te = encoder_features(m, train, "mean"), encoder_features(m, test, "mean")
        out.append(evaluate("encoder", tr, ys[0], te, ys[1]))
    return out[0], out[1]


def cpu_step_times(runs: dict, batch_size: int, rounds: int = 5, per_round: int = 2) -> dict:
    """CPU seconds (process time, one thread) per optimizer step of each run's model, measured here, in one
    process, round-robin over the models so that every model sees the same machine load."""
    import torch
    from anymae.io.checkpoint import load_run
    torch.set_num_threads(1)
    models, optims = {}, {}
    for name, run in runs.items():
        model = load_run(run)[0].train()
        models[name] = model
        optims[name] = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    channels = next(iter(models.values())).tokenizer.channels
    x = torch.randn(batch_size, channels, ENCODER["image_size"], ENCODER["image_size"],
                    generator=torch.Generator().manual_seed(0))
    return round_robin_step_times(models, optims, {name: x for name in models}, rounds, per_round)


def round_robin_step_times(models: dict, optims: dict, batches: dict, rounds: int, per_round: int) -> dict:
    """Median CPU seconds (process time) per optimizer step of each model on its batch: one warm-up step each,
    then `rounds` rounds of `per_round` steps, round-robin over the models so each sees the same load."""
    import torch

    def step(name, i):
        out = models[name](batches[name], generator=torch.Generator().manual_seed(i))
        optims[name].zero_grad(set_to_none=True)
        out.loss.backward()
        optims[name].step()
        models[name].after_step()

    for name in models:
        step(name, 0)  # warm-up
    spent = {name: [] for name in models}
    for r in range(rounds):
        for name in models:
            start = time.process_time()
            for i in range(per_round):
                step(name, 1 + r * per_round + i)
            spent[name].append((time.process_time() - start) / per_round)
    return {name: sorted(v)[len(v) // 2] for name, v in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="shapes", help="a labelled built-in data set (default shapes)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the data (shapes: 31 steps each at batch 64)")
    parser.add_argument("--steps", type=int, help="optimizer steps per run instead of --epochs")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--arg", action="append", metavar="KEY=VALUE",
                        help="shared encoder/decoder setting, e.g. dim=192, depth=6, decoder_dim=128 (repeatable)")
    parser.add_argument("--position-task", type=float, default=0.0, metavar="W",
                        help="MP3's position task with weight W on every row but MP3 (its own task), as the "
                             "recipes' defaults have it (1.0); the encoders, random init included, then get no "
                             "position embedding. Default 0: each target alone, as its paper has it")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-targets")
    parser.add_argument("--reuse", action="store_true", help="keep finished runs found in --out (probe them again)")
    parser.add_argument("--only", nargs="*", help="row names to run (the teachers they need run too)")
    args = parser.parse_args()
    from anymae.cli import parse_assignments
    for key, value in parse_assignments(args.arg, "--arg").items():
        (DECODER if key.startswith("decoder_") else ENCODER)[key] = value
    epochs = None if args.steps else args.epochs
    out = Path(args.out)
    runs, step_time, seconds = {}, {}, {}
    wanted = ROWS if not args.only else [r for r in ROWS if r[0] in args.only or r[0] == ROWS[0][0]]
    needed = {t for r in wanted for t in r[4]}
    if LARGE_TEACHER[0] in needed:
        wanted = wanted[:1] + [(LARGE_TEACHER[0], LARGE_TEACHER[1], {}, None, [])] + wanted[1:]
    results = []
    for name, recipe, extra, target, teachers in wanted:
        recipe_args = {**ENCODER, **extra} if name != LARGE_TEACHER[0] else larger_teacher_args()
        if recipe != "mp3_vit_tiny":  # MP3 is the position task itself
            recipe_args["position_task"] = args.position_task
        for t in teachers:
            if t not in runs:
                raise SystemExit(f"{name}: teacher {t} must come earlier in ROWS")
        start = time.time()
        run, per_step, secs, steps = train(name, recipe, recipe_args, target, [runs[t] for t in teachers], out,
                                           epochs, args.batch_size, args.seed, args.reuse, args.data,
                                           args.steps or 300, args.lr)
        runs[name], step_time[name], seconds[name] = run, per_step, secs
        enc, rnd = probe(run, with_random=name == ROWS[0][0])
        if rnd is None:
            rnd = next(r for r in results if r["name"] == ROWS[0][0])["random"]
        results.append(dict(teachers=teachers, name=name, recipe=recipe + (f" --target {target}" if target else ""), linear=enc.linear,
                            knn=enc.knn, random=rnd, random_linear=rnd.linear, random_knn=rnd.knn, wall_step_seconds=per_step,
                            train_seconds=secs, steps=steps))
        print(f"[{time.time() - start:6.0f} s] {name}: linear {100 * enc.linear:.1f}%  kNN {100 * enc.knn:.1f}%  "
              f"(random init {100 * rnd.linear:.1f}% / {100 * rnd.knn:.1f}%)", flush=True)
    cpu = cpu_step_times(runs, args.batch_size)
    for r in results:
        r["cpu_step_seconds"] = cpu[r["name"]]
    base = next(r for r in results if r["name"].startswith("pixel-MAE"))
    steps = base["steps"]
    by_name = {r["name"]: r for r in results}
    for r in results:
        parts = [f"{t.split(' (')[0]} run: {by_name[t]['steps'] * by_name[t]['cpu_step_seconds'] / base['cpu_step_seconds']:.0f}"
                 for t in r.pop("teachers")]
        r["teacher_cost"] = " + ".join(parts) + " pixel-MAE steps" if parts else "-"
        if r["name"].startswith(("EMA", "LUT")):
            r["teacher_cost"] = "EMA copy of the student: no training (its update is in the step time)"
    budget = f"{args.epochs} epochs, " if epochs else ""
    if args.position_task > 0:
        budget += f"position task weight {args.position_task:g} on every row, "
    lines = [f"{args.data}, {steps} steps of batch {args.batch_size} each ({budget}lr {args.lr:g}), encoder "
             f"{ENCODER['dim']}x{ENCODER['depth']}, {ENCODER['patch_size']}x{ENCODER['patch_size']} patches of "
             f"{ENCODER['image_size']}x{ENCODER['image_size']}; random init of that encoder: linear "
             f"{100 * base['random_linear']:.1f}%, kNN {100 * base['random_knn']:.1f}%", "",
             f"Step time: CPU seconds per training step (one thread, measured round-robin in one process), "
             f"relative to pixel-MAE's {1000 * base['cpu_step_seconds']:.0f} ms; it includes the teacher's forward. "
             "Teacher's cost: the teacher run's training, in pixel-MAE steps.", "",
             "| target | recipe | linear | kNN-20 | step time vs pixel-MAE | teacher's cost |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['name']} | `{r['recipe']}` | {100 * r['linear']:.1f}% | {100 * r['knn']:.1f}% | "
                     f"{r['cpu_step_seconds'] / base['cpu_step_seconds']:.2f}x | {r['teacher_cost']} |")
    table = "\n".join(lines)
    print(table)
    for r in results:
        r.pop("random")
    (out / "targets.json").write_text(json.dumps(results, indent=2))
    (out / "targets.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
