"""`anymae generate RUN` on a point-cloud generator run (MAR-3D, `mar3d_tiny`): a PNG grid of 3-D scatter
plots (one row a class) and the generated clouds (.npy), and with `--score` the point-cloud table of
`eval/point_generation.py` written to RUN/generate.json. `commands/generate.py` hands such runs here."""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..data import load_dataset
from ..data.points import clouds_of
from ..generate.request import draw_in_chunks, generation_device, requested_class_labels
from ..io.files import write_bytes, write_text
from .point_generation import (BASELINES, PointGenerationScore, balanced_reference, format_point_table,
                               matching_index, measure_points)

NOTE = ("Point-cloud metrics with the L2 Chamfer distance (sum of the two mean squared nearest-point distances) "
        "between clouds scaled into the unit sphere; every row against the same reference clouds of the test "
        "split. 1-NNA: 0.5 is indistinguishable from the reference, 1.0 always told apart.")


def point_labels(model, n: int, klass: int | None) -> tuple[torch.Tensor | None, int, bool]:
    """-> (labels [n'] or None, clouds a row, one row a class?)."""
    return requested_class_labels(model.num_classes, n, klass, per_row=6)


def class_names(config: dict, model) -> list[str]:
    data = load_dataset(config["data"], split="train", image_size=model.tokenizer.num_points, seed=0)
    return [str(n) for n in (getattr(data, "classes", None) or range(model.num_classes))]


def save_clouds(clouds: torch.Tensor, path: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, clouds.numpy().astype(np.float32))
    write_bytes(path, buffer.getvalue())


def run_generate_points(args, model, config: dict, run: Path) -> int:
    """Sample clouds (and score them with --score) from a point generator run."""
    from ..viz.point_generation import cloud_grid
    if getattr(args, "probe", False):
        raise ValueError("--probe: not offered for point-cloud generators (use anymae probe on a Point-MAE run)")
    if args.sampler not in (None, "mar"):
        raise ValueError(f"--sampler {args.sampler}: a point-cloud generator (mar3d_tiny) takes mar")
    args.sampler, args.steps = "mar", args.steps if args.steps is not None else min(8, model.num_tokens)
    device = generation_device(args.device)
    model.to(device)
    labels, per_row, by_class = point_labels(model, args.n, args.klass)
    out = Path(args.out) if args.out else run / f"samples-mar-{args.steps}-{time.strftime('%Y%m%d-%H%M%S')}.png"
    if out.exists() or out.with_suffix(".npy").exists():
        raise ValueError(f"--out {out}: already exists (or its .npy); choose another path")
    count = len(labels) if labels is not None else args.n
    g = torch.Generator(device=device).manual_seed(args.seed)
    clouds, cost = draw_in_chunks(
        lambda n, part: model.generate_points(n, part, steps=args.steps, points=args.points, generator=g,
                                              temperature=args.temperature, guidance=args.guidance,
                                              diffusion_steps=args.diffusion_steps), count, labels)
    cloud_grid(clouds, out, per_row=per_row, row_titles=class_names(config, model) if by_class else None)
    save_clouds(clouds, out.with_suffix(".npy"))
    print(f"{count} clouds of {clouds.shape[1]} points, mar, {args.steps} steps: {cost['full_passes']} passes of the "
          f"transformer and {cost['denoiser_passes']} of the diffusion head per cloud")
    print(f"wrote {out} and {out.with_suffix('.npy')}")
    if args.score:
        score_points(args, model, config, run, device)
    print(f"run folder: {run}")
    return 0


def score_points(args, model, config: dict, run: Path, device) -> dict:
    """Floor, ceiling, two baselines and one row per --score-steps; RUN/generate.json."""
    from tqdm.auto import tqdm
    if not model.num_classes:
        raise ValueError("--score needs a class-conditional point generator on labelled data (the baselines and "
                         "the reference's class mix are per class)")
    try:
        steps_list = [int(t) for t in args.score_steps.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--score-steps {args.score_steps!r}: expected a comma-separated list") from None
    for s in steps_list:
        if not 1 <= s <= model.num_tokens:
            raise ValueError(f"--score-steps {s}: must be in 1..{model.num_tokens}")
    if args.score_samplers not in (None, "mar"):
        raise ValueError(f"--score-samplers {args.score_samplers}: a point-cloud generator takes mar")
    tok = model.tokenizer
    points = min(tok.num_points, tok.output_points, args.points or tok.output_points)
    load = lambda split: load_dataset(config["data"], split=split, image_size=tok.num_points, seed=0)
    train_data, test_data = load("train"), load("test")
    train = clouds_of(train_data, tok.num_points, config["data"])[:, :points]
    test_all = clouds_of(test_data, tok.num_points, config["data"])
    count = min(args.score_count or 100, len(test_all))   # 10 a class: each distance matrix is count^2 Chamfers
    index = balanced_reference(test_data.labels.long(), count, model.num_classes)
    reference, ref_labels = test_all[index], test_data.labels.long()[index]
    train_labels = train_data.labels.long()
    rows = 1 + 2 * (4 + len(steps_list))
    bar = tqdm(total=rows * len(reference), desc="Chamfer distances")
    scorer = PointGenerationScore(reference[:, :points], ref_labels, progress=lambda: bar.update(1))
    g = torch.Generator().manual_seed(args.seed)
    chosen = matching_index(train_labels, ref_labels, g)
    scorer.row("real train vs test (floor)", train[chosen], ref_labels)
    with torch.no_grad():   # the same training clouds through the tokens and back: what the tokens lose
        round_trip = model.round_trip(clouds_of(train_data, tok.num_points, config["data"])[chosen].to(device)).cpu()
    keep = torch.rand(len(reference), round_trip.shape[1], generator=g).argsort(1)[:, :points]
    scorer.row("the floor's clouds through the tokens (tokenizer ceiling)",
               torch.gather(round_trip, 1, keep.unsqueeze(-1).expand(-1, -1, 3)), ref_labels)
    for name, make in BASELINES.items():
        scorer.row(name, make(train, train_labels, ref_labels, g), ref_labels)
    for steps in steps_list:
        gen = torch.Generator(device=device).manual_seed(args.seed)

        def make(offset, n):
            return model.generate_points(n, ref_labels[offset:offset + n], steps=steps, points=points, generator=gen,
                                         temperature=args.temperature, guidance=args.guidance,
                                         diffusion_steps=args.diffusion_steps)

        made = measure_points(make, len(reference))
        label = f"mar3d mar S={steps}, T={args.diffusion_steps}" + (f", guidance {args.guidance}" if args.guidance else "")
        scorer.row(label, made["clouds"], ref_labels, sampler="mar", steps=steps, seconds=made["seconds"],
                   full_passes=made["full_passes"], denoiser_passes=made["denoiser_passes"])
    bar.close()
    table = format_point_table(scorer.rows)
    print(NOTE)
    print(f"{len(reference)} reference clouds of the test split ({points} points each, "
          f"{len(reference) // model.num_classes} a class); guidance {args.guidance}, temperature {args.temperature}")
    print(table)
    report = {"note": NOTE, "run": str(run), "data": config["data"], "clouds_per_row": len(reference),
              "points": points, "guidance": args.guidance, "temperature": args.temperature, "seed": args.seed,
              "diffusion_steps": args.diffusion_steps, "rows": scorer.rows}
    out = run / "generate.json"
    if out.exists():
        out = run / f"generate-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_text(out, json.dumps(report, indent=1))
    print(f"wrote {out}")
    return report
