"""`anymae generate RUN`: sample a PNG grid from a generator run (`--sampler maskgit|enat|recap|joint`; for
continuous tokens `mar` or `umd`), and with `--score` the generation score table (anymae/eval/generation.py),
written to RUN/generate.json."""
from __future__ import annotations

import json
import time
from pathlib import Path

EPILOG = "Every command writes what it makes into a run folder and prints its path."


def add(sub) -> None:
    p = sub.add_parser("generate", help="sample images from a generator run (maskgit, enat, recap, joint, mar, umd); "
                                        "--score",
                       epilog=EPILOG,
                       description="Masked generation: start from all tokens masked and reveal them over --steps "
                                   "parallel steps, then decode the tokens with the run's tokenizer. Writes a PNG "
                                   "grid (one row a class for a class-conditional generator). --score prints and "
                                   "writes (generate.json) FID / precision / recall in the feature space of a "
                                   "classifier trained here on the real training split (not Inception FID), "
                                   "class accuracy of conditional samples and nearest-training-image distance, "
                                   "with the real-vs-real floor, the tokenizer's reconstructions and a per-class "
                                   "pixel Gaussian as rows.")
    p.add_argument("run", help="a generator run folder (anymae pretrain --recipe maskgit_tiny --tokenizer TOK)")
    p.add_argument("--class", dest="klass", type=int, help="generate only this class id (default: every class, "
                                                             "one row each)")
    p.add_argument("--n", type=int, default=64, help="images to generate (default 64)")
    p.add_argument("--steps", type=int, help="decoding steps (full passes of the generator; default 8; umd: "
                                              "diffusion steps, default 50)")
    p.add_argument("--sampler", help="maskgit, enat (ENAT runs), recap, joint; mar (mar/lmd/harmon runs), umd (umd "
                                     "runs) (default: maskgit, or the run's own for continuous tokens)")
    p.add_argument("--diffusion-steps", type=int, default=50,
                   help="mar: steps of the per-token diffusion head for each token (default 50)")
    p.add_argument("--temperature", type=float, default=1.0, help="token sampling temperature (0: argmax)")
    p.add_argument("--guidance", type=float, default=0.0,
                   help="classifier-free guidance weight w: cond + w * (cond - uncond) (default 0: none)")
    p.add_argument("--choice-temperature", type=float, default=4.5,
                   help="Gumbel noise on the confidences, annealed to 0 over the steps (MaskGIT's 4.5)")
    p.add_argument("--full-every", type=int, default=2, help="recap: a full pass every K steps (default 2)")
    p.add_argument("--no-reuse", action="store_true", help="enat: re-encode every visible token each step")
    p.add_argument("--marginals", action="store_true",
                   help="joint: unmask the tokens of a pass from its marginals instead of the sampler layer")
    p.add_argument("--joint-steps", type=int, default=400,
                   help="joint: training steps of the sampler layer when RUN has none for this --steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--out", help="PNG path (default RUN/samples-<sampler>-<steps>-<time>.png)")
    p.add_argument("--score", action="store_true", help="score samplers and baselines; writes RUN/generate.json")
    p.add_argument("--score-samplers", help="comma-separated samplers to score (default: every one this run takes)")
    p.add_argument("--score-steps", default="4,8", help="comma-separated step counts to score (default 4,8)")
    p.add_argument("--score-count", type=int, help="images per row (default: the test split, at most 1000)")
    p.add_argument("--classifier-steps", type=int, default=600, help="training steps of the scoring classifier")
    p.add_argument("--probe", action="store_true",
                   help="continuous-token generators: linear probe of the generator's encoder against random init "
                        "and raw pixels (UMD, Harmon); writes RUN/probe.json")
    p.add_argument("--points", type=int, help="point-cloud runs (mar3d_tiny): points per generated cloud (default: "
                                              "the generator's groups x group size)")
    p.set_defaults(handler=run_generate)


def load_generator(run: str):
    from ..io.checkpoint import load_run, read_config
    from ..train.generative import is_generative, needs_tokenizer
    from ..train.generative_points import is_point_generator
    config = read_config(Path(run) / "config.yaml")
    recipe = config.get("recipe")
    if not recipe or not is_generative(recipe) or not (needs_tokenizer(recipe) or is_point_generator(recipe)):
        raise ValueError(f"{run}: recipe {recipe!r} is not a generator (train one with `anymae pretrain --recipe "
                         "maskgit_tiny --tokenizer TOK`)")
    if not (Path(run) / "model.safetensors").exists():
        raise ValueError(f"{run}: no model.safetensors (did its training finish?)")
    return load_run(run)


def train_codes(model, config: dict, device):
    """The run's training images (in [-1,1]), their codes and labels."""
    import torch
    from ..data import load_dataset
    from ..train.generative import pixels
    data = load_dataset(config["data"], split="train", image_size=model.tokenizer.image_size,
                        channels=config.get("channels"), seed=0)
    images = pixels(data, model.tokenizer.image_size).to(device)
    with torch.no_grad():
        codes = torch.cat([model.tokenize(images[i:i + 256]) for i in range(0, len(images), 256)])
    labels = data.labels.long().to(device) if model.num_classes else None
    return images, codes, labels


def joint_layer(model, config: dict, run: Path, steps: int, train_steps: int, seed: int, device):
    """The run's joint sampler layer for `steps` passes (ceil(N/steps) tokens a pass): loaded from
    RUN/joint_sampler-k<k>.safetensors, or trained now and saved there."""
    from tqdm.auto import tqdm
    from ..generate.samplers.joint import JointSamplerLayer, train_joint_layer
    from ..io.checkpoint import load_weights, save_weights
    k = -(-model.num_tokens // steps)
    if k < 2:
        return None
    path = run / f"joint_sampler-k{k}.safetensors"
    if path.exists():
        layer = JointSamplerLayer(model)
        layer.load_state_dict(load_weights(path))
        return layer.to(device).eval()
    _, codes, labels = train_codes(model, config, device)
    bar = tqdm(total=train_steps, desc=f"train joint sampler layer (k={k})")
    layer = train_joint_layer(model, codes, labels, steps=train_steps, tokens_per_pass=k, seed=seed,
                              progress=lambda s, loss: (bar.update(1), bar.set_postfix(kl=f"{loss:.4f}")))
    bar.close()
    save_weights(layer.state_dict(), path)
    return layer


def sampler_options(name: str, args, model, config, run: Path, steps: int, device) -> dict:
    if name == "mar":
        return {"diffusion_steps": args.diffusion_steps}
    if name == "recap":
        return {"full_every": args.full_every}
    if name == "enat":
        return {"reuse": not args.no_reuse}
    if name == "joint":
        use = not args.marginals
        return {"use_layer": use, "layer": joint_layer(model, config, run, steps, args.joint_steps, args.seed, device)
                if use else None}
    return {}


def requested_labels(model, n: int, klass: int | None):
    """-> (labels [n'] or None, images per row, row titles)."""
    from ..generate.request import requested_class_labels
    labels, per_row, by_class = requested_class_labels(model.num_classes, n, klass, per_row=8)
    return labels, per_row, [str(c) for c in range(model.num_classes)] if by_class else None


def run_generate(args) -> int:
    import torch
    from ..generate.request import draw_in_chunks, generation_device
    from ..generate.samplers import SAMPLERS, sample
    from ..viz.generation import sample_grid
    if args.n < 1:
        raise ValueError(f"--n {args.n}: must be >= 1")
    run = Path(args.run)
    model, config = load_generator(args.run)
    if getattr(model, "point_cloud", False):   # MAR-3D: clouds, scored with the point-cloud metrics
        from ..eval.point_generation_report import run_generate_points
        return run_generate_points(args, model, config, run)
    args.sampler = args.sampler or (getattr(model, "samplers", None) or ("maskgit",))[0]
    SAMPLERS.get(args.sampler)
    args.steps = args.steps if args.steps is not None else (50 if args.sampler == "umd" else 8)
    if args.steps < 1:
        raise ValueError(f"--steps {args.steps}: must be a whole number >= 1")
    if args.sampler != "umd" and args.steps > model.num_tokens:
        raise ValueError(f"--steps {args.steps}: at most one step per token ({model.num_tokens} tokens)")
    device = generation_device(args.device)
    model.to(device)
    labels, per_row, titles = requested_labels(model, args.n, args.klass)
    options = sampler_options(args.sampler, args, model, config, run, args.steps, device)
    out = Path(args.out) if args.out else run / f"samples-{args.sampler}-{args.steps}-{time.strftime('%Y%m%d-%H%M%S')}.png"
    if out.exists():
        raise ValueError(f"--out {out}: already exists; choose another path")
    count = len(labels) if labels is not None else args.n
    g = torch.Generator(device=device).manual_seed(args.seed)
    images, cost = draw_in_chunks(
        lambda n, part: sample(model, args.sampler, count=n, labels=part, steps=args.steps, generator=g,
                               temperature=args.temperature, guidance=args.guidance,
                               choice_temperature=args.choice_temperature, **options), count, labels)
    names = class_names(config, model) if titles else None
    sample_grid(images, out, per_row=per_row, row_titles=names)
    print(f"{count} images, {args.sampler}, {args.steps} steps: {cost['full_passes']} full and "
          f"{cost['cheap_passes']} cheap passes of the network per image"
          + (f", {cost['denoiser_passes']} passes of the diffusion head" if "denoiser_passes" in cost else ""))
    print(f"wrote {out}")
    if args.score:
        score(args, model, config, run, device)
    if args.probe:
        probe(args, model, config, run, device)
    print(f"run folder: {run}")
    return 0


def class_names(config: dict, model) -> list[str]:
    from ..data import load_dataset
    data = load_dataset(config["data"], split="train", image_size=model.tokenizer.image_size,
                        channels=config.get("channels"), seed=0)
    names = getattr(data, "classes", None) or list(range(model.num_classes))
    return [str(n) for n in names]


def parse_list(text: str, name: str, cast=str) -> list:
    try:
        return [cast(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"{name} {text!r}: expected a comma-separated list") from None


def score(args, model, config: dict, run: Path, device) -> dict:
    """The score table: floor, ceiling, baseline and one row per (sampler, steps); RUN/generate.json."""
    import torch
    from tqdm.auto import tqdm
    from ..data import load_dataset
    from ..eval.generation import NOTE, GenerationScore, class_gaussian, format_table, measure_cost
    from ..generate.samplers import SAMPLERS, sample
    from ..io.files import write_text
    from ..train.generative import pixels
    if not model.num_classes:
        raise ValueError("--score needs a class-conditional generator on labelled data (its feature space is a "
                         "classifier trained on the labels)")
    steps_list = parse_list(args.score_steps, "--score-steps", int)
    for s in steps_list:
        if not 1 <= s <= model.num_tokens and getattr(model, "samplers", None) != ("umd",):
            raise ValueError(f"--score-steps {s}: must be in 1..{model.num_tokens}")
    if getattr(model, "samplers", None):   # continuous tokens: their own sampler
        default = list(model.samplers)
    else:
        default = ["maskgit", "enat"] if model.split else ["maskgit", "recap", "joint", "joint-marginals"]
    samplers = parse_list(args.score_samplers, "--score-samplers") if args.score_samplers else default
    for name in samplers:
        SAMPLERS.get(name.replace("-marginals", "").replace("-noreuse", ""))
    size = model.tokenizer.image_size
    load = lambda split: load_dataset(config["data"], split=split, image_size=size, channels=config.get("channels"))
    train_data, test_data = load("train"), load("test")
    train = ((pixels(train_data, size) + 1) / 2).to(device)
    test = ((pixels(test_data, size) + 1) / 2).to(device)
    count = min(args.score_count or min(len(test), 1000), len(test))
    test, test_labels = test[:count], test_data.labels[:count].long().to(device)
    print(f"scoring: classifier feature space trained on {len(train)} real training images ...")
    scorer = GenerationScore(train, train_data.labels.long().to(device), test, test_labels, model.num_classes,
                             classifier_steps=args.classifier_steps, seed=args.seed)
    scorer.row("real test vs train (floor)", test, test_labels)
    with torch.no_grad():
        codes = torch.cat([model.tokenize(test[i:i + 256] * 2 - 1) for i in range(0, count, 256)])
        decode = getattr(model, "decode_tokens", None) or model.tokenizer.decode
        recon = torch.cat([decode(codes[i:i + 256]) for i in range(0, count, 256)])
    scorer.row("tokenizer reconstructions (ceiling)", ((recon.clamp(-1, 1) + 1) / 2), test_labels)
    g = torch.Generator(device=device).manual_seed(args.seed)
    scorer.row("per-class Gaussian (pixels)", class_gaussian(train, scorer.train_labels, test_labels, g), test_labels)
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        decode(codes[:4])
    decode_flops = counter.get_total_flops() / len(codes[:4])   # the same for every sampler: left out of its cost
    jobs = [(name, s) for s in steps_list for name in samplers]
    if "joint" in samplers and model.num_tokens not in steps_list:
        jobs.append(("maskgit", model.num_tokens))   # sequential: one token per pass, what joint approximates
    for name, steps in tqdm(jobs, desc="score samplers"):
        base = name.replace("-marginals", "").replace("-noreuse", "")
        opts = dict(sampler_options(base, args, model, config, run, steps, device))
        if name.endswith("-marginals"):
            opts.update(use_layer=False, layer=None)
        if name.endswith("-noreuse"):
            opts.update(reuse=False)
        gen = torch.Generator(device=device).manual_seed(args.seed)

        def make(offset, n):
            return sample(model, base, count=n, labels=test_labels[offset:offset + n], steps=steps, generator=gen,
                          temperature=args.temperature, guidance=args.guidance,
                          choice_temperature=args.choice_temperature, **opts)

        cost = measure_cost(make, count)
        label = f"{name} S={steps}" + (" (sequential)" if name == "maskgit" and steps == model.num_tokens else "")
        scorer.row(label, cost.pop("images"), test_labels, sampler=name, steps=steps, flops=cost["flops"] - decode_flops,
                   seconds=cost["seconds"], full_passes=cost["full_passes"], cheap_passes=cost["cheap_passes"],
                   **({"denoiser_passes": cost["denoiser_passes"]} if "denoiser_passes" in cost else {}))
    table = format_table(scorer.rows)
    print(NOTE)
    print(f"classifier accuracy on the real test split: {scorer.classifier_accuracy:.3f} (chance "
          f"{1 / model.num_classes:.3f}); {count} images a row; guidance {args.guidance}, temperature "
          f"{args.temperature}")
    print(table)
    report = {"note": NOTE, "run": str(run), "data": config["data"], "images_per_row": count,
              "classifier_test_accuracy": scorer.classifier_accuracy, "chance": 1 / model.num_classes,
              "guidance": args.guidance, "temperature": args.temperature, "seed": args.seed, "rows": scorer.rows}
    out = run / "generate.json"
    if out.exists():
        out = run / f"generate-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_text(out, json.dumps(report, indent=1))
    print(f"wrote {out}")
    return report


def probe(args, model, config: dict, run: Path, device) -> list:
    """The linear probe of a continuous-token generator's encoder; RUN/probe.json."""
    import torch
    from ..data import load_dataset
    from ..eval.generation_probe import probe_generator
    from ..eval.probe import format_table, write_results
    from ..io.checkpoint import build_untrained
    from ..train.generative import pixels
    if not hasattr(model, "features"):
        raise ValueError("--probe: this generator has no encoder features (mar, lmd, harmon and umd runs do)")
    size = model.tokenizer.image_size
    splits = [load_dataset(config["data"], split=s, image_size=size, channels=config.get("channels"))
              for s in ("train", "test")]
    if not all(getattr(d, "labelled", True) for d in splits):
        raise ValueError(f"--probe: {config['data']} has no labels")
    (train, test), (train_y, test_y) = ([pixels(d, size).to(device) for d in splits],
                                        [d.labels.long().numpy() for d in splits])
    random_model = build_untrained(config, seed=args.seed).to(device)
    rows = probe_generator(model, random_model, train, train_y, test, test_y, seed=args.seed)
    print(format_table(rows, f"probe on {config['data']}: {len(train_y)} train / {len(test_y)} test samples"))
    out = run / "probe.json"
    if out.exists():
        out = run / f"probe-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_results(rows, out, {"data": config["data"], "pool": "mean", "train": len(train_y), "test": len(test_y)})
    print(f"wrote {out}")
    return rows
