"""The `anymae` command: a thin layer over the library (DESIGN.md)."""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

EPILOG = "Every command writes what it makes into a run folder and prints its path."


def parse_value(text: str):
    """'0.5' -> 0.5, '3' -> 3, 'true' -> True, 'a,b' -> ['a','b'], anything else stays a string."""
    import yaml
    value = yaml.safe_load(text)
    if isinstance(value, str) and "," in value:
        return [parse_value(v) for v in value.split(",")]
    return value


def parse_assignments(items: list[str] | None, flag: str) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"{flag} expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip().replace("-", "_")] = parse_value(value)
    return out


def default_run_dir(recipe: str, data: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{recipe}-{Path(data).name}-{stamp}"


# ---------------------------------------------------------------- pretrain
def add_pretrain(sub) -> None:
    p = sub.add_parser("pretrain", help="pretrain a recipe on built-in data or a folder", epilog=EPILOG,
                       description="Pretrain a masked autoencoder. With no arguments: the tiny recipe on "
                                   "built-in `shapes`, a few minutes on 2 CPU cores.")
    p.add_argument("--recipe", default=None, help="recipe name (see `anymae recipes`); default mae_vit_tiny")
    p.add_argument("--data", default=None, help="built-in data set name or a folder of images; default shapes")
    p.add_argument("--image-size", type=int, help="image side in pixels (recipe default otherwise)")
    p.add_argument("--patch-size", type=int, help="patch side in pixels")
    p.add_argument("--mask-ratio", type=float, help="fraction of tokens hidden from the encoder")
    p.add_argument("--epochs", type=int, help="training epochs")
    p.add_argument("--batch-size", type=int, help="images per step (per device)")
    p.add_argument("--lr", type=float, help="absolute peak learning rate (default: --blr x batch / 256)")
    p.add_argument("--blr", type=float, help="base learning rate, scaled by effective batch / 256")
    p.add_argument("--warmup", type=float, help="fraction of steps for linear warm-up")
    p.add_argument("--accumulate", type=int, help="gradient accumulation steps")
    p.add_argument("--precision", help="Lightning precision, e.g. 32-true, bf16-mixed (default bf16-mixed on CUDA)")
    p.add_argument("--workers", type=int, help="data-loading worker processes")
    p.add_argument("--arg", action="append", metavar="KEY=VALUE", help="any recipe argument, e.g. --arg depth=6")
    p.add_argument("--config", help="a config.yaml to start from (flags override it)")
    p.add_argument("--out", help="run folder (default runs/<recipe>-<data>-<time>)")
    p.add_argument("--seed", type=int, help="run seed: data order, augmentations, masks, init")
    p.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its last checkpoint")
    p.add_argument("--save-every-n-steps", type=int, help="also checkpoint every N optimizer steps")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-probe", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=run_pretrain)


FLAG_TO_CONFIG = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "blr": "blr", "warmup": "warmup",
                  "accumulate": "accumulate", "precision": "precision", "workers": "workers", "seed": "seed",
                  "save_every_n_steps": "save_every_n_steps", "recipe": "recipe", "data": "data"}
FLAG_TO_RECIPE = {"image_size": "image_size", "patch_size": "patch_size", "mask_ratio": "mask_ratio"}


def build_config(args):
    import yaml
    from .io.checkpoint import read_config
    from .recipes import get_recipe
    from .train.config import PretrainConfig
    base = read_config(args.config) if args.config else {}
    config = PretrainConfig.from_dict(base) if base else PretrainConfig()
    for flag, key in FLAG_TO_CONFIG.items():
        value = getattr(args, flag, None)
        if value is not None:
            setattr(config, key, value)
    for key, value in get_recipe(config.recipe).train.items():  # the recipe's own training defaults
        if key not in base and getattr(args, key, None) is None:
            setattr(config, key, value)
    recipe_args = dict(config.recipe_args)
    for flag, key in FLAG_TO_RECIPE.items():
        value = getattr(args, flag, None)
        if value is not None:
            recipe_args[key] = value
    recipe_args.update(parse_assignments(args.arg, "--arg"))
    known = get_recipe(config.recipe).defaults()
    unknown = sorted(set(recipe_args) - set(known))
    if unknown:
        raise ValueError(f"recipe {config.recipe!r} takes no argument(s) {unknown}; it takes {sorted(known)}")
    config.recipe_args = recipe_args
    return config


def run_pretrain(args) -> int:
    import yaml
    from .train.config import PretrainConfig
    from .train.run import pretrain, resolve
    from .io.checkpoint import read_config
    if args.resume:
        run_dir = Path(args.resume)
        config = PretrainConfig.from_dict(read_config(run_dir / "config.yaml"))
        pretrain(config, run_dir, resume=True)
        print(f"run folder: {run_dir}")
        return 0
    config = build_config(args)
    if args.print_config:
        resolve(config)
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    run_dir = Path(args.out) if args.out else default_run_dir(config.recipe, config.data)
    pretrain(config, run_dir)
    summary = read_config(run_dir / "config.yaml").get("summary", {})
    print(f"trained {summary.get('steps')} steps in {summary.get('train_seconds')} s "
          f"on {summary.get('samples')} samples ({summary.get('skipped_files', 0)} files skipped)")
    print(f"run folder: {run_dir}")
    return 0


# ---------------------------------------------------------------- probe
def add_probe(sub) -> None:
    p = sub.add_parser("probe", help="linear probe + kNN of a run's frozen encoder against baselines",
                       epilog=EPILOG,
                       description="Frozen-feature linear probe (logistic regression) and kNN (k=20, cosine). "
                                   "Rows: this encoder, the same architecture at random init, raw pixels, HOG. "
                                   "Point-cloud runs: a linear SVM on max+mean pooled tokens (Point-MAE), "
                                   "with D2 shape-histogram baselines.")
    p.add_argument("run", help="run folder")
    p.add_argument("--data", help="built-in name or labelled folder (default: the run's data)")
    p.add_argument("--pool", help="features read: cls, mean, cls+mean, max+mean, mean-last4 (default: the run's; "
                                     "max+mean for point clouds)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=run_probe)


def run_probe(args) -> int:
    from .eval.probe import probe_run
    _, table = probe_run(args.run, data=args.data, pool=args.pool, seed=args.seed)
    print(table)
    print(f"run folder: {args.run} (probe.json)")
    return 0


# ---------------------------------------------------------------- reconstruct
def add_reconstruct(sub) -> None:
    p = sub.add_parser("reconstruct", help="PNG grid: original | masked | prediction | prediction + visible",
                       epilog=EPILOG)
    p.add_argument("run", help="run folder")
    p.add_argument("--input", help="an image file to reconstruct")
    p.add_argument("--data", help="built-in name or folder to draw samples from (default: the run's data)")
    p.add_argument("--mask-ratio", type=float, help="mask ratio for the picture (default: the recipe's)")
    p.add_argument("--count", type=int, default=8, help="samples in the grid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="PNG path (default RUN/reconstruct.png)")
    p.set_defaults(handler=run_reconstruct)


def run_reconstruct(args) -> int:
    import torch
    from .data import MODALITIES
    from .data.folder import read_image
    from .io.checkpoint import load_run
    from .masking import num_visible
    from .train.config import PretrainConfig
    from .viz.reconstruct import reconstruction_picture
    model, raw = load_run(args.run)
    config = PretrainConfig.from_dict(raw)
    if args.mask_ratio is not None:
        num_visible(4, args.mask_ratio)  # validates
        model.masker.ratio = args.mask_ratio
    images = None
    if args.input:
        if config.modality != "image":
            raise ValueError(f"--input takes an image; this run's modality is {config.modality}")
        transform = MODALITIES["image"].eval_transform(model, config)
        pixels = torch.from_numpy(read_image(Path(args.input), model.tokenizer.channels)).float()
        images = transform(pixels).unsqueeze(0)
    out = Path(args.out) if args.out else Path(args.run) / "reconstruct.png"
    reconstruction_picture(model, config, out, data=args.data, count=args.count, seed=args.seed, images=images)
    print(f"wrote {out}")
    print(f"run folder: {args.run}")
    return 0


# ---------------------------------------------------------------- recipes
def add_recipes(sub) -> None:
    p = sub.add_parser("recipes", help="list the registered recipes, one line each with its paper")
    p.set_defaults(handler=run_recipes)


def run_recipes(args) -> int:
    from .recipes import list_recipes
    recipes = list_recipes()
    width = max(len(r.name) for r in recipes)
    for r in recipes:
        print(f"{r.name:<{width}}  row {r.paper:>2}  {r.modality:<10}  {r.summary}")
    return 0


COMMANDS = [add_pretrain, add_reconstruct, add_probe, add_recipes]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(prog="anymae", description="Masked autoencoders for any modality.",
                                     epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"anymae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    try:
        return args.handler(args) or 0
    except ValueError as err:
        print(f"anymae {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
