"""Training for generation recipes (`modality="generation"`): a tokenizer (QLAE) or a generator over a
finished tokenizer run (`--tokenizer RUN`). `anymae pretrain` hands these recipes here (train/run.py).

Why not the MAE trainer: these models read whole, un-augmented images in [-1, 1] (no crops or flips, which
would teach the generator crops and mirrored digits), a generator trains on codes computed once by its frozen
tokenizer, and the run ends with generation pictures and codebook statistics. It is one plain loop on one
device (AdamW, MAE's warm-up + cosine schedule, fixed seeds, metrics.csv, a progress bar). Every
`--save-every-n-steps` steps (default 500) it writes checkpoints/last.pt (weights, optimizer, schedule, random
states, data order; removed when the run finishes); `anymae pretrain --resume RUN` continues from it and ends
with the same weights as an uninterrupted run. Several devices and mixed precision are not offered for these runs.

A run folder: config.yaml (recipe, recipe_args: for a generator the tokenizer's recipe and arguments too,
so the run loads alone), model.safetensors (a generator's holds its frozen tokenizer), metrics.csv, and
codebook.json + reconstructions.png (tokenizer) or samples.png (generator).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from tqdm.auto import tqdm

from ..config import PretrainConfig
from ..data import load_dataset
from ..io.checkpoint import load_run, read_config, save_weights
from ..io.files import write_text
from ..recipes import get_recipe
from ..spec import build_model
from .module import make_optimizer, warmup_cosine

log = logging.getLogger("anymae.train")
GENERATION = "generation"


def is_generative(recipe: str) -> bool:
    """True for recipes trained here (tokenizers and generators)."""
    return get_recipe(recipe).modality == GENERATION


def needs_tokenizer(recipe: str) -> bool:
    """True for generator recipes (they generate a tokenizer's tokens)."""
    return "tokenizer_recipe" in get_recipe(recipe).defaults()


def tokenizer_optional(recipe: str) -> bool:
    """A generator that runs on patch pixels unless given a tokenizer run (continuous tokens, `mar_tiny`)."""
    return needs_tokenizer(recipe) and get_recipe(recipe).defaults()["tokenizer_recipe"] is None


def pixels(data, image_size: int) -> torch.Tensor:
    """A data set of images -> every image resized to `image_size`, in [-1, 1]: [M,C,S,S]."""
    images = getattr(data, "images", None)
    if not torch.is_tensor(images) or images.ndim != 4:
        raise ValueError(f"{getattr(data, 'name', 'data')}: generation recipes take images (a built-in image set "
                         "or a folder of images)")
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if tuple(x.shape[-2:]) != (image_size, image_size):
        shrink = x.shape[-1] > image_size
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=shrink)
    return (x.clamp(0, 1) * 2 - 1).contiguous()


def load_tokenizer_run(run: str | Path):
    """A finished tokenizer run -> (tokenizer model, its config). Clear errors for anything else."""
    run = Path(run)
    if not (run / "config.yaml").exists():
        raise ValueError(f"--tokenizer {run}: not an anymae run folder (no config.yaml)")
    config = read_config(run / "config.yaml")
    recipe = config.get("recipe")
    if not recipe or not is_generative(recipe) or needs_tokenizer(recipe):
        raise ValueError(f"--tokenizer {run}: recipe {recipe!r} is not a tokenizer (train one with "
                         "`anymae pretrain --recipe qlae_tiny`)")
    if not (run / "model.safetensors").exists():
        raise ValueError(f"--tokenizer {run}: no model.safetensors (did its training finish?)")
    try:
        model, config = load_run(run)
    except RuntimeError as err:   # shapes that do not fit the recipe as built today
        raise ValueError(f"--tokenizer {run}: its weights do not fit recipe {recipe!r} with "
                         f"{config.get('recipe_args')}: {str(err).splitlines()[-1].strip()}") from None
    return model, config


def prepare(config: PretrainConfig):
    """Resolve the config (tokenizer run, channels, classes), load the training images and build the model.
    -> (model, images [M,C,S,S] in [-1,1], labels [M] (-1 unlabelled), data set)."""
    from .generative_points import is_point_generator, prepare_points
    if is_point_generator(config.recipe):   # MAR-3D: clouds [M,P,3] instead of images
        return prepare_points(config)
    recipe = get_recipe(config.recipe)
    tokenizer = None
    pixel_tokens = tokenizer_optional(config.recipe) and not config.tokenizer
    if needs_tokenizer(config.recipe) and not pixel_tokens:
        if not config.tokenizer:
            wanted = recipe.defaults().get("tokenizer_recipe") or "qlae_tiny"
            raise ValueError(f"recipe {config.recipe!r} generates a tokenizer's tokens: pass --tokenizer RUN, a "
                             f"finished `anymae pretrain --recipe {wanted}` run")
        tokenizer, tok_config = load_tokenizer_run(config.tokenizer)
        config.recipe_args["tokenizer_recipe"] = tok_config["recipe"]
        config.recipe_args["tokenizer_args"] = dict(tok_config.get("recipe_args") or {})
        image_size = tokenizer.image_size
    else:
        if config.tokenizer:
            raise ValueError(f"--tokenizer is for generator recipes; {config.recipe!r} is itself a tokenizer")
        image_size = {**recipe.defaults(), **config.recipe_args}["image_size"]
    data = load_dataset(config.data, split="train", image_size=image_size, channels=config.channels,
                        seed=config.seed)
    images = pixels(data, image_size)
    channels = images.shape[1]
    if tokenizer is not None and tokenizer.channels != channels:
        raise ValueError(f"--tokenizer {config.tokenizer}: it was trained on {tokenizer.channels}-channel images, "
                         f"but --data {config.data} has {channels} channels")
    if tokenizer is None:
        config.recipe_args.setdefault("channels", channels)
    labels = data.labels.long()
    classes = len(data.classes) if getattr(data, "classes", None) and bool((labels >= 0).all()) else 0
    if needs_tokenizer(config.recipe):
        config.recipe_args.setdefault("num_classes", classes)
        if config.recipe_args["num_classes"] and int(labels.max()) >= config.recipe_args["num_classes"]:
            raise ValueError(f"num_classes={config.recipe_args['num_classes']}: the data has {classes} classes")
    config.recipe_args = {**recipe.defaults(), **config.recipe_args}   # every argument written down: the run
    config.modality = "image"                                           # loads the same if defaults change
    config.mean, config.std = [0.5] * channels, [0.5] * channels   # [0,1] pixels -> [-1,1], as these models read
    model = build_model(config.model_spec(), seed=config.seed)
    if tokenizer is not None:
        model.tokenizer.load_state_dict(tokenizer.state_dict())
    return model, images, labels, data


def write_metrics(path: Path, rows: list[dict]) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


CHECKPOINT = Path("checkpoints") / "last.pt"
SAVE_EVERY = 500   # steps between checkpoints when --save-every-n-steps is not given


def save_checkpoint(path: Path, step: int, model, optimizer, schedule, g: torch.Generator, order: torch.Generator,
                    perm: torch.Tensor, rows: list[dict], seconds: float, batch_size: int) -> None:
    """Everything a resumed run needs to continue after `step` exactly as an uninterrupted one (atomic write)."""
    from ..io.files import atomic_path
    state = {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "schedule": schedule.state_dict(), "g": g.get_state(), "order": order.get_state(), "perm": perm,
             "rows": rows, "seconds": seconds, "batch_size": batch_size}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(run_dir: Path, batch_size: int) -> dict:
    """checkpoints/last.pt of an unfinished generation run; one clear line for anything else."""
    if (run_dir / "model.safetensors").exists():
        raise ValueError(f"--resume {run_dir}: the run already finished (model.safetensors exists)")
    if not (run_dir / CHECKPOINT).exists():
        raise ValueError(f"--resume {run_dir}: nothing to resume, no {CHECKPOINT}")
    state = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)
    if state["batch_size"] != batch_size:
        raise ValueError(f"--batch-size {batch_size}: the run trained with {state['batch_size']}; a resumed run "
                         "must keep it (the data order depends on it)")
    return state


def pretrain_generative(config: PretrainConfig, run_dir: str | Path, resume: bool = False,
                        progress: bool = True) -> Path:
    """Train a tokenizer or a generator recipe, writing everything into `run_dir` (`resume`: continue it from
    checkpoints/last.pt)."""
    from .run import write_config
    run_dir = Path(run_dir)
    if not run_dir.is_dir() and resume:
        raise ValueError(f"--resume {run_dir}: no such run folder")
    saved = load_checkpoint(run_dir, config.batch_size) if resume else None
    if not resume and (run_dir / "model.safetensors").exists():
        raise ValueError(f"--out {run_dir}: already holds a trained model; choose another folder")
    torch.manual_seed(config.seed)
    model, images, labels, data = prepare(config)
    device = torch.device("cuda" if config.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
                          else "cpu")
    model.to(device)
    generator_run = getattr(model, "kind", None) == "generator"
    with torch.no_grad():   # a generator trains on codes its frozen tokenizer computes once
        inputs = (torch.cat([model.tokenize(images[i:i + 256].to(device)) for i in range(0, len(images), 256)])
                  if generator_run else images.to(device))
        if hasattr(model, "fit_tokens"):   # continuous tokens: standardised by their training statistics
            inputs = model.fit_tokens(inputs)
    labels = labels.to(device)
    if not generator_run or not getattr(model, "num_classes", 0):
        labels = None
    if config.batch_size > len(inputs):
        raise ValueError(f"batch_size {config.batch_size} is larger than the data ({len(inputs)} images); "
                         "lower --batch-size")
    per_epoch = max(1, len(inputs) // config.batch_size)
    steps = config.epochs * per_epoch if config.epochs else config.steps
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        write_config(config, run_dir)
    optimizer = make_optimizer(model, config.lr or config.blr * config.batch_size / 256, config.weight_decay,
                               config.betas)
    warmup = int(round(config.warmup * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, steps, warmup))
    g = torch.Generator(device=device).manual_seed(config.seed)
    order = torch.Generator().manual_seed(config.seed)
    rows, start, model = [], time.time(), model.train()
    perm = torch.randperm(len(inputs), generator=order)
    first, earlier = 0, 0.0
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        g.set_state(saved["g"])
        order.set_state(saved["order"])
        perm, rows, first, earlier = saved["perm"], saved["rows"], saved["step"] + 1, saved["seconds"]
        log.info("resuming %s at step %d of %d", run_dir, first, steps)
    every = config.save_every_n_steps or SAVE_EVERY
    bar = tqdm(range(first, steps), desc=f"train {config.recipe}", disable=not progress, initial=first, total=steps)
    for step in bar:
        at = (step % per_epoch) * config.batch_size
        if step and at == 0:
            perm = torch.randperm(len(inputs), generator=order)
        idx = perm[at:at + config.batch_size].to(device)
        batch_labels = labels[idx] if labels is not None else None
        if hasattr(model, "set_progress"):   # LMD's mask-ratio schedule
            model.set_progress(step / max(1, steps - 1))
        out = (model.loss_on_codes(inputs[idx], batch_labels, g) if generator_run
               else model(inputs[idx], generator=g))
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        if not torch.isfinite(out.loss):
            raise ValueError(f"step {step}: the loss is not finite; lower --lr")
        optimizer.step()
        schedule.step()
        model.after_step()
        row = {"step": step, "loss": float(out.loss.detach()), "lr": optimizer.param_groups[0]["lr"],
               **{k: float(v.detach()) for k, v in out.terms.items()}}
        rows.append(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}")
        if step % 100 == 0 or step == steps - 1:
            write_metrics(run_dir / "metrics.csv", rows)
        if (step + 1) % every == 0 and step + 1 < steps:
            write_metrics(run_dir / "metrics.csv", rows)
            save_checkpoint(run_dir / CHECKPOINT, step, model, optimizer, schedule, g, order, perm, rows,
                            earlier + time.time() - start, config.batch_size)
    model = model.cpu().eval()
    save_weights(model.state_dict(), run_dir / "model.safetensors")
    summary = {"steps": steps, "train_seconds": round(earlier + time.time() - start, 1), "samples": len(inputs),
               "skipped_files": len(getattr(data, "skipped", []))}
    if generator_run:
        summary.update(generator_pictures(model, config, run_dir))
    else:
        summary.update(tokenizer_report(model, config, run_dir))
    write_config(config, run_dir, summary)
    (run_dir / CHECKPOINT).unlink(missing_ok=True)   # superseded by model.safetensors: a finished run has no resume
    if (run_dir / CHECKPOINT.parent).is_dir() and not any((run_dir / CHECKPOINT.parent).iterdir()):
        (run_dir / CHECKPOINT.parent).rmdir()
    return run_dir


@torch.no_grad()
def tokenizer_report(model, config: PretrainConfig, run_dir: Path) -> dict:
    """Held-out reconstruction error and codebook use (codebook.json), and reconstructions.png. A continuous
    tokenizer (no codebook) reports its error and its latent's statistics."""
    from ..tokenizers.quantize import codebook_use
    from ..viz.grid import image_grid
    test = pixels(load_dataset(config.data, split="test", image_size=model.image_size, channels=config.channels),
                  model.image_size)
    codes = torch.cat([model.encode(test[i:i + 256]) for i in range(0, len(test), 256)])
    recon = torch.cat([model.decode(codes[i:i + 256]) for i in range(0, len(codes), 256)]).clamp(-1, 1)
    if not hasattr(model, "levels"):
        report = {"test_mse_01": round(float(((recon - test) / 2).pow(2).mean()), 5),
                  "latent_mean": float(codes.mean()), "latent_std": float(codes.std())}
        write_text(run_dir / "latent.json", json.dumps(report, indent=1))
        count = min(8, len(test))
        image_grid([[(test[i] + 1) / 2, (recon[i] + 1) / 2] for i in range(count)], ["image", "reconstruction"],
                   run_dir / "reconstructions.png", cell=64)
        return {"tokenizer": report}
    use = codebook_use(codes, model.levels)
    report = {"test_mse_01": round(float(((recon - test) / 2).pow(2).mean()), 5), **use,
              "collapsed": bool(use["entropy_min_bits"] < 0.5 or use["values_used"] < 0.5)}
    if report["collapsed"]:
        log.warning("tokenizer codebook collapsed: per-dimension entropy down to %.2f bits, %.0f%% of values used",
                    use["entropy_min_bits"], 100 * use["values_used"])
    write_text(run_dir / "codebook.json", json.dumps(report, indent=1))
    count = min(8, len(test))
    image_grid([[(test[i] + 1) / 2, (recon[i] + 1) / 2] for i in range(count)], ["image", "reconstruction"],
               run_dir / "reconstructions.png", cell=64)
    return {"tokenizer": report}


def config_classes(config: PretrainConfig) -> list | None:
    """The class names of the run's data (None when it has none)."""
    data = load_dataset(config.data, split="train", image_size=8, channels=config.channels, seed=0)
    return getattr(data, "classes", None)


@torch.no_grad()
def generator_pictures(model, config: PretrainConfig, run_dir: Path) -> dict:
    """samples.png: one row a class (or one unconditional row): MaskGIT sampler, 8 steps (continuous tokens:
    the run's own sampler, `mar` 8 steps or `umd` 50)."""
    from ..generate.samplers import sample
    from ..viz.generation import sample_grid
    if getattr(model, "point_cloud", False):   # MAR-3D: a grid of 3-D scatter plots
        from .generative_points import point_pictures
        return point_pictures(model, config, run_dir)
    classes = model.num_classes
    labels = torch.arange(classes).repeat_interleave(8) if classes else None
    sampler = (getattr(model, "samplers", None) or ("maskgit",))[0]
    steps = 50 if sampler == "umd" else min(8, model.num_tokens)
    images, _ = sample(model, sampler, count=8 * max(1, classes), labels=labels, steps=steps,
                       generator=torch.Generator().manual_seed(config.seed))
    names = [str(n) for n in (config_classes(config) or range(classes))] if classes else None
    sample_grid(images, run_dir / "samples.png", per_row=8, row_titles=names)
    return {}
