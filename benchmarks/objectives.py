"""Issue 22's objectives against the baselines their papers improve on, at the same budget on built-in data
(docs/objectives.md): linear probe, kNN-20, wall time per step, and each group's baselines (the same
architecture at random init, the raw input and the field's classical features, computed the same way).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/objectives.py --seeds 0 1 --out runs/bench-objectives

Groups (each row of a group trains the same encoder for the same steps and batch):
  images    shapes:            pixel-MAE | MixedAE (11) | MFM (28) | MTO (30) | DMJD's disjoint masking alone | DMJD (33)
  video     moving-digits:     VideoMAE | CrossVideoMAE (39)
  spectral  spectral-shapes:   SMARTIES without mixup | SMARTIES with cross-sensor token mixup (3)
  points    point-shapes:      Point-MAE, random masking | I2P-MAE (20) (its 2-D teacher: the pixel-MAE image run)
The spectral rows also report the cross-sensor probe (fit on 13-band features, tested on 4-band features of
the test scenes); MTO's loss curve against pixel-MAE's is written below the table.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path

from targets import round_robin_step_times  # benchmarks/targets.py: the round-robin CPU timing of training steps

IMAGE = dict(image_size=32, patch_size=8, dim=64, depth=4, heads=4, decoder_dim=64, decoder_depth=2, decoder_heads=4)
VIDEO = dict(frames=16, image_size=32, patch_size=8, tubelet=2, dim=64, depth=4, heads=4, decoder_dim=64,
             decoder_depth=2, decoder_heads=4)
SPECTRAL = dict(image_size=32, patch_size=8, dim=64, depth=4, heads=4, decoder_dim=64, decoder_depth=2, decoder_heads=4)
POINTS = dict(num_points=256, num_groups=32, group_size=16, dim=64, depth=4, heads=4, decoder_dim=64,
              decoder_depth=2, decoder_heads=4)

# group: (data, batch, [(row, recipe, recipe args, teacher row or None)])
GROUPS = {
    "images": ("shapes", 64, [
        ("pixel-MAE", "mae_vit_tiny", IMAGE, None),
        ("MixedAE (11)", "mixedae_vit_tiny", IMAGE, None),
        ("MFM: block 2 of 4 masked + rebuilt (28)", "mae_vit_tiny", {**IMAGE, "feature_mask_layer": 1}, None),
        ("MTO: no attention to mask tokens, both decoder blocks (30)", "mae_vit_tiny", {**IMAGE, "mto_layers": 2}, None),
        ("DMJD disjoint masking + HOG, no visible branch", "dmjd_vit_tiny",
         {**IMAGE, "position_task": 0.0, "distill_weight": 0.0}, None),
        ("DMJD: + dual branch (33)", "dmjd_vit_tiny", {**IMAGE, "position_task": 0.0}, None),
    ]),
    "video": ("moving-digits", 16, [
        ("VideoMAE", "videomae_vit_tiny", {**VIDEO, "target": "pixel"}, None),  # the paper's target, as CrossVideoMAE's
        ("CrossVideoMAE (39)", "crossvideomae_tiny", VIDEO, None),
    ]),
    "spectral": ("spectral-shapes", 64, [
        ("SMARTIES without mixup", "smarties_tiny", {**SPECTRAL, "mixup": 0.0}, None),
        ("SMARTIES, cross-sensor token mixup (3)", "smarties_tiny", {**SPECTRAL, "mixup": 0.5}, None),
    ]),
    "points": ("point-shapes", 32, [
        ("Point-MAE, random masking", "pointmae_tiny", POINTS, None),
        ("I2P-MAE: 2-D-guided masking + 2-D feature target (20)", "i2pmae_tiny", POINTS, ("images", "pixel-MAE")),
    ]),
}


def run_dir(out: Path, group: str, row: str, seed: int) -> Path:
    slug = row.split(":")[0].split(" (")[0].replace(" ", "_").replace(",", "").replace("+", "").lower()
    return out / group / f"{slug}-s{seed}"


def train(recipe, args, data, batch, steps, seed, run: Path, teacher: Path | None, reuse: bool) -> dict:
    from anymae.config import PretrainConfig
    from anymae.io.checkpoint import read_config
    from anymae.train.run import pretrain
    done = (run / "config.yaml").exists() and "summary" in read_config(run / "config.yaml")
    if not (reuse and done):
        config = PretrainConfig(recipe=recipe, data=data, recipe_args=dict(args), steps=steps, batch_size=batch,
                                seed=seed, lr=1e-3, teacher=[str(teacher)] if teacher else [])
        pretrain(config, run, progress=False, overwrite=True)
    return read_config(run / "config.yaml")["summary"]


def features(model, splits, pool="mean"):
    from anymae.eval.features import encoder_features
    return [encoder_features(model, d, pool) for d in splits]


def probe_run(run: Path, extra_sensor: bool):
    """-> (ProbeResult of the run's encoder, 13 -> 4 band linear accuracy or None); kept in the run folder."""
    from anymae.eval.probe import ProbeResult
    cache = run / "objectives_probe.json"
    if cache.exists() and cache.stat().st_mtime >= (run / "config.yaml").stat().st_mtime:
        got = json.loads(cache.read_text())
        return ProbeResult("encoder", 0, got["linear"], got["knn"]), got["cross"]
    result, cross = measure_probe(run, extra_sensor)
    cache.write_text(json.dumps({"linear": result.linear, "knn": result.knn, "cross": cross}))
    return result, cross


def measure_probe(run: Path, extra_sensor: bool):
    from anymae.config import PretrainConfig
    from anymae.eval.probe import evaluate, linear_probe, probe_splits
    from anymae.io.checkpoint import load_run
    model, raw = load_run(run)
    config = PretrainConfig.from_dict(raw)
    _, train, test = probe_splits(config, model, config.data)
    tr, te = features(model, (train, test))
    result = evaluate("encoder", tr, train.labels.numpy(), te, test.labels.numpy())
    cross = None
    if extra_sensor:
        _, _, test4 = probe_splits(config, model, "spectral-shapes-4band")
        te4 = features(model, (test4,))[0]
        cross = linear_probe(tr, train.labels.numpy(), te4, test4.labels.numpy())
        cross = getattr(cross, "accuracy", cross)
    return result, cross


def group_baselines(run: Path, modality: str):
    """Random init of the group's architecture, the raw input and the classical features, probed the same way."""
    from anymae.config import PretrainConfig
    from anymae.eval.baselines import baselines
    from anymae.eval.probe import evaluate, probe_splits
    from anymae.io.checkpoint import build_untrained, load_run
    model, raw = load_run(run)
    config = PretrainConfig.from_dict(raw)
    _, train, test = probe_splits(config, model, config.data)
    ys = train.labels.numpy(), test.labels.numpy()
    rows = [("random init (same encoder)", evaluate("random", *interleave(features(build_untrained(raw), (train, test)), ys)))]
    for name, tr, te in baselines(modality, train, test):
        rows.append((name, evaluate(name, tr, ys[0], te, ys[1])))
    return rows


def interleave(feats, ys):
    return feats[0], ys[0], feats[1], ys[1]


def sample_batch(model, group: str, batch: int, generator):
    """A training batch of the group's kind (SMARTIES with mixup gets its two sensors and token map)."""
    import torch
    tok = model.tokenizer
    if group == "video":
        return torch.randn(batch, tok.channels, tok.frames, *tok.image_size, generator=generator)
    if group == "points":
        return torch.rand(batch, tok.num_points, 3, generator=generator) * 2 - 1
    if group == "spectral":
        from anymae.data.spectral import SENTINEL2_LIKE, SpectralTransform
        x = {"pixels": torch.rand(batch, tok.channels, *tok.image_size, generator=generator),
             "bands": torch.tensor(SENTINEL2_LIKE, dtype=torch.float32).expand(batch, -1, -1)}
        if tok.mixup > 0:
            draw = SpectralTransform(tok.image_size, {"pixels": (0.0, 1.0)}, mixup=tok.mixup, tokens=tok.num_tokens)
            drawn = [draw.sensor_mixup(tok.channels, generator) for _ in range(batch)]
            x.update({k: torch.stack([d[k] for d in drawn]) for k in ("sensor_masks", "sensor_map")})
        return x
    return torch.randn(batch, tok.channels, *tok.image_size, generator=generator)


def cpu_step_times(runs: dict, group: str, batch: int, rounds: int = 3, per_round: int = 2) -> dict:
    """CPU seconds (process time, one thread) per optimizer step of each run's model, measured in one process,
    round-robin over the models so that each sees the same machine load."""
    import torch
    from anymae.io.checkpoint import load_run
    models, optims = {}, {}
    for name, run in runs.items():
        models[name] = load_run(run)[0].train()
        optims[name] = torch.optim.AdamW([p for p in models[name].parameters() if p.requires_grad], lr=1e-4)
    x = {name: sample_batch(m, group, batch, torch.Generator().manual_seed(0)) for name, m in models.items()}
    return round_robin_step_times(models, optims, x, rounds, per_round)


def loss_curve(run: Path, windows: int = 5) -> list[float]:
    with open(run / "metrics.csv") as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f) if r.get("loss")]
    size = max(1, len(losses) // windows)
    return [statistics.fmean(losses[i * size:(i + 1) * size]) for i in range(windows)]


def pct(values) -> str:
    values = [100 * v for v in values]
    if len(values) == 1:
        return f"{values[0]:.1f}%"
    return f"{statistics.fmean(values):.1f}% ({' / '.join(f'{v:.1f}' for v in values)})"


def read_config(path: Path) -> dict:
    from anymae.io.checkpoint import read_config as read
    return read(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps of every run")
    parser.add_argument("--group-steps", nargs="*", default=[], metavar="GROUP=STEPS",
                        help="another step budget for a group's runs (every row of a group keeps one budget)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--groups", nargs="+", default=list(GROUPS))
    parser.add_argument("--out", default="runs/bench-objectives")
    parser.add_argument("--doc", default="docs/objectives.md")
    parser.add_argument("--reuse", action="store_true", help="keep finished runs found in --out")
    parser.add_argument("--rows", nargs="*", help="only these rows (name prefixes) in this invocation; no table")
    parser.add_argument("--no-train", action="store_true",
                        help="train nothing: tabulate the finished runs of --seeds found in --out (implies --reuse)")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    out = Path(args.out)
    args.budget = {g: args.steps for g in GROUPS}
    args.budget.update({k: int(v) for k, v in (a.split("=", 1) for a in args.group_steps)})
    results = {}
    for group in args.groups:
        data, batch, rows = GROUPS[group]
        for row, recipe, rargs, teacher in rows:
            if args.rows and not row.startswith(tuple(args.rows)):
                continue
            for seed in args.seeds:
                start = time.time()
                run = run_dir(out, group, row, seed)
                if args.no_train:
                    args.reuse = True
                    if not (run / "config.yaml").exists() or "summary" not in read_config(run / "config.yaml"):
                        continue
                t_run = run_dir(out, teacher[0], teacher[1], seed) if teacher else None
                summary = train(recipe, rargs, data, batch, args.budget[group], seed, run, t_run, args.reuse)
                probe, cross = probe_run(run, group == "spectral")
                results.setdefault((group, row), []).append(dict(
                    linear=probe.linear, knn=probe.knn, cross=cross, run=str(run),
                    step=summary["train_seconds"] / summary["steps"], steps=summary["steps"]))
                print(f"[{time.time() - start:5.0f} s] {group} / {row} seed {seed}: linear {100 * probe.linear:.1f}% "
                      f"kNN {100 * probe.knn:.1f}%" + (f" 13->4 {100 * cross:.1f}%" if cross is not None else ""),
                      flush=True)
        if args.rows:
            continue
        timed = cpu_step_times({row: run_dir(out, group, row, args.seeds[0]) for row, *_ in rows}, group, batch)
        for row, *_ in rows:
            for r in results[(group, row)]:
                r["cpu_step"] = timed[row]
        cached = out / group / "baselines.json"     # they depend on the data and the architecture, not the seed
        if args.reuse and cached.exists():
            from anymae.eval.probe import ProbeResult
            results[(group, "baselines")] = [(n, ProbeResult(n, 0, a, k)) for n, a, k in json.loads(cached.read_text())]
        else:
            from anymae.recipes import get_recipe
            first = run_dir(out, group, rows[0][0], args.seeds[0])
            results[(group, "baselines")] = group_baselines(first, get_recipe(rows[0][1]).modality)
            cached.write_text(json.dumps([(n, p.linear, p.knn) for n, p in results[(group, "baselines")]]))
    if args.rows:
        return
    (out / "results.json").write_text(json.dumps(
        {f"{g}/{r}": v if r != "baselines" else [(n, p.linear, p.knn) for n, p in v] for (g, r), v in results.items()},
        indent=1, default=str))
    write_doc(results, args)


READING = "## What the tables say"


def write_doc(results, args) -> None:
    lines = ["# The remaining objectives against their baselines (issue 22)", "",
             f"`benchmarks/objectives.py --steps {args.steps} --seeds {' '.join(map(str, args.seeds))}"
             + "".join(f" --group-steps {a}" for a in args.group_steps) + "`: every row of a "
             f"group trains the same encoder for the group's steps (lr 1e-3, AdamW, MAE's warm-up + cosine) from "
             "the same seed(s), one thread, nice'd, on a 2-core machine shared with five other jobs. Linear probe "
             "and kNN-20 on mean-pooled encoder tokens of the data set's fixed train/test split; several seeds "
             "show mean (each seed). Step time: CPU seconds (process time, one thread) per optimizer step on a "
             "training batch, measured round-robin over the group's trained models in one process (machine load "
             "hits them alike); the teacher's forward and every extra view are in it.", ""]
    for group in args.groups:
        data, batch, rows = GROUPS[group]
        base = results[(group, rows[0][0])]
        done = sorted({r["steps"] for r in base})
        lines += [f"## {group}: `{data}`, batch {batch}, {args.budget[group]} steps asked "
                  f"({'/'.join(map(str, done))} run: whole epochs)", ""]
        cross = group == "spectral"
        lines.append("| row | recipe | linear | kNN-20 |" + (" 13 -> 4 bands |" if cross else "") + " CPU s/step | vs first row |")
        lines.append("|---|---|---|---|" + ("---|" if cross else "") + "---|---|")
        for row, recipe, rargs, _ in rows:
            got = results[(group, row)]
            opts = " ".join(f"{k}={v}" for k, v in rargs.items() if k in ("feature_mask_layer", "mto_layers", "mixup",
                                                                           "distill_weight"))
            step = got[0]["cpu_step"]
            line = (f"| {row} | `{recipe}`{' ' + opts if opts else ''} | {pct([r['linear'] for r in got])} | "
                    f"{pct([r['knn'] for r in got])} |")
            if cross:
                line += f" {pct([r['cross'] for r in got])} |"
            line += f" {step:.3f} | {step / base[0]['cpu_step']:.2f}x |"
            lines.append(line)
        for name, p in results[(group, "baselines")]:
            lines.append(f"| baseline: {name} | - | {100 * p.linear:.1f}% | {100 * p.knn:.1f}% |" +
                         (" - |" if cross else "") + " - | - |")
        lines.append("")
        if group == "images":
            mae = [loss_curve(Path(r["run"])) for r in results[(group, rows[0][0])]]
            mto = [loss_curve(Path(r["run"])) for r in results[(group, rows[3][0])]]
            mean = lambda curves: [statistics.fmean(c[i] for c in curves) for i in range(len(curves[0]))]
            lines += ["MTO's loss curve against pixel-MAE's (mean training loss over each fifth of the steps, "
                      "seeds averaged; the same reconstruction loss, so the curves compare directly):", "",
                      "| run | " + " | ".join(f"steps {i * 20}-{(i + 1) * 20}%" for i in range(5)) + " |",
                      "|---|" + "---|" * 5,
                      "| pixel-MAE | " + " | ".join(f"{v:.4f}" for v in mean(mae)) + " |",
                      "| MTO | " + " | ".join(f"{v:.4f}" for v in mean(mto)) + " |", ""]
    doc = Path(args.doc)
    reading = doc.read_text().split(READING, 1) if doc.exists() else []
    tail = READING + reading[1] if len(reading) == 2 else ""      # the hand-written reading below the tables stays
    doc.write_text("\n".join(lines) + "\n" + tail)
    print(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
