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


def parse_devices(text: str):
    """'2' -> 2, 'auto' / '0,1' stay strings (Lightning reads both)."""
    return int(text) if text.isdigit() else text


def parse_assignments(items: list[str] | None, flag: str) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{flag} expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip().replace("-", "_")] = parse_value(value)
    return out


def default_run_dir(*parts: str) -> Path:
    """runs/<part>-<part>-...-<date-time>: where a command writes when --out is not given."""
    return Path("runs") / "-".join([*parts, time.strftime("%Y%m%d-%H%M%S")])


# ---------------------------------------------------------------- pretrain
def add_pretrain(sub) -> None:
    p = sub.add_parser("pretrain", help="pretrain a recipe on built-in data or a folder", epilog=EPILOG,
                       description="Pretrain a masked autoencoder. With no arguments: the tiny recipe on "
                                   "built-in `shapes`, a few minutes on 2 CPU cores.")
    p.add_argument("--recipe", default=None, help="recipe name (see `anymae recipes`); default mae_laptop (MAE + position task + colour jitter, sized for a CPU)")
    p.add_argument("--data", default=None, help="built-in data set name, a folder of files, or shards from `anymae "
                                               "shard` (a folder or an s3://, gs://, ... URL, streamed); default: the "
                                               "recipe's built-in set (shapes for image recipes); "
                                               "NAME:N draws N training samples of a set that renders its own, "
                                               "e.g. shapes:20000")
    p.add_argument("--image-size", type=int, help="image side in pixels (recipe default otherwise)")
    p.add_argument("--patch-size", type=int, help="patch side in pixels")
    p.add_argument("--mask-ratio", type=float, help="fraction of tokens hidden from the encoder")
    p.add_argument("--epochs", type=int, help="training epochs (default: enough epochs for --steps)")
    p.add_argument("--steps", type=int, help="optimizer-step budget when --epochs is not given")
    p.add_argument("--batch-size", type=int, help="images per step (per device)")
    p.add_argument("--lr", type=float, help="absolute peak learning rate (default: --blr x batch / 256)")
    p.add_argument("--blr", type=float, help="base learning rate, scaled by effective batch / 256")
    p.add_argument("--warmup", type=float, help="fraction of steps for linear warm-up")
    p.add_argument("--accumulate", type=int, help="gradient accumulation steps")
    p.add_argument("--colour-jitter", type=float, help="images: channel shuffle + brightness/contrast/saturation "
                   "jitter of this strength, 20%% grey (0 off; mae_laptop's default 0.4)")
    p.add_argument("--precision", help="Lightning precision, e.g. 32-true, bf16-mixed (default: bf16-mixed on CUDA, "
                   "32-true on CPU; bf16 on a CPU without native bf16 instructions warns)")
    p.add_argument("--workers", type=int, help="data-loading worker processes")
    p.add_argument("--accelerator", help="Lightning accelerator: auto, cpu, gpu (default auto)")
    p.add_argument("--devices", type=parse_devices, help="devices per node (Lightning), e.g. 8, or 'auto'")
    p.add_argument("--num-nodes", type=int, help="nodes (Lightning; torchrun / SLURM set the ranks)")
    p.add_argument("--strategy", help="Lightning strategy: auto, ddp, fsdp, ... (see docs/scaling.md)")
    p.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the encoder and the decoder (off by default; same numerics, measured in docs/speed.md)")
    p.add_argument("--grad-checkpointing", action="store_true", default=None,
                   help="recompute encoder blocks in backward: less activation memory, more time")
    p.add_argument("--decoder-keep-ratio", type=float,
                   help="VideoMAE V2 decoder masking: reconstruct only this share of the hidden tokens (0-1]")
    p.add_argument("--arg", action="append", metavar="KEY=VALUE", help="any recipe argument, e.g. --arg depth=6")
    p.add_argument("--masker", help="use this registered masker instead of the recipe's (see `anymae masks "
                                    "--masker all`): random, block, grid, noise, hard_patch, guided, ...")
    p.add_argument("--masker-arg", action="append", metavar="KEY=VALUE",
                   help="a masker argument, repeatable, e.g. --masker-arg color=green; any masker takes "
                        "schedule=constant|linear|cosine|progressive with ratio_start=R (and stages=K)")
    p.add_argument("--target", help="swap the recipe's target: pixel, hog, frequency, position, ema, teacher "
                                     "(each brings its loss)")
    p.add_argument("--target-arg", action="append", metavar="KEY=VALUE", help="an argument of --target")
    p.add_argument("--teacher", action="append", metavar="RUN",
                   help="a finished anymae run folder whose frozen encoder is the teacher (repeat for a second one)")
    p.add_argument("--tokenizer", metavar="PATH",
                   help="text recipes: a Hugging Face tokenizer.json (or a folder holding one) instead of a WordPiece "
                        "vocabulary trained on the corpus; generator recipes (maskgit_tiny, enat_tiny): the finished "
                        "tokenizer run (qlae_tiny) whose codes they learn to generate")
    p.add_argument("--config", help="a config.yaml to start from (flags override it)")
    p.add_argument("--out", help="run folder (default runs/<recipe>-<data>-<time>)")
    p.add_argument("--seed", type=int, help="run seed: data order, augmentations, masks, init")
    p.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its last checkpoint")
    p.add_argument("--save-every-n-steps", type=int, help="also checkpoint every N optimizer steps")
    p.add_argument("--keep-checkpoints", type=int, metavar="K",
                   help="keep the newest K epoch and K step checkpoints, plus last.ckpt (default 3)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (its files are removed first); without it an "
                        "existing, non-empty --out is refused")
    p.add_argument("--max-nonfinite-steps", type=int,
                   help="stop after this many steps in a row with a NaN/Inf loss or gradients (default 10); "
                        "such steps are skipped")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-probe", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=run_pretrain)


# flags that set a training setting of the same name (anymae.config.PretrainConfig)
TRAINING_FLAGS = ("epochs", "steps", "batch_size", "lr", "blr", "warmup", "accumulate", "precision", "workers", "seed",
                  "save_every_n_steps", "recipe", "data", "max_nonfinite_steps", "accelerator", "devices",
                  "num_nodes", "strategy", "compile", "grad_checkpointing", "decoder_keep_ratio", "tokenizer",
                  "keep_checkpoints", "colour_jitter")
# settings a resumed run may change: where and how it runs, not what it trains
RESUME_OVERRIDES = ("accelerator", "devices", "num_nodes", "strategy", "precision", "workers", "epochs",
                    "batch_size", "accumulate", "compile", "grad_checkpointing", "save_every_n_steps",
                    "keep_checkpoints")
RECIPE_FLAGS = ("image_size", "patch_size", "mask_ratio")  # flags that set a recipe argument


def build_config(args):
    from .config import make_config
    from .io.checkpoint import read_config
    recipe_args = {key: getattr(args, key) for key in RECIPE_FLAGS if getattr(args, key, None) is not None}
    return make_config(base=read_config(args.config) if args.config else {},
                       settings={key: getattr(args, key, None) for key in TRAINING_FLAGS},
                       recipe_args={**recipe_args, **parse_assignments(args.arg, "--arg")},
                       masker=args.masker, masker_args=parse_assignments(args.masker_arg, "--masker-arg"),
                       target=args.target, target_args=parse_assignments(args.target_arg, "--target-arg"),
                       teacher=args.teacher)


def run_pretrain(args) -> int:
    import yaml
    from .config import PretrainConfig
    from .train.run import pretrain, resolve
    from .io.checkpoint import read_config, read_run_config
    if args.resume:
        run_dir = Path(args.resume)
        config = PretrainConfig.from_dict(read_run_config(run_dir))
        for key in RESUME_OVERRIDES:
            if getattr(args, key, None) is not None:
                setattr(config, key, getattr(args, key))
        pretrain(config, run_dir, resume=True, overwrite=args.overwrite)
        print_disk(run_dir)
        print(f"run folder: {run_dir}")
        return 0
    config = build_config(args)
    if args.print_config:
        resolve(config)
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    run_dir = Path(args.out) if args.out else default_run_dir(config.recipe, Path(config.data).name)
    pretrain(config, run_dir, overwrite=args.overwrite)
    from lightning.pytorch.utilities.rank_zero import rank_zero_only
    if getattr(rank_zero_only, "rank", 0) != 0:  # other DDP ranks: rank 0 reports
        return 0
    summary = read_config(run_dir / "config.yaml").get("summary", {})
    print(f"trained {summary.get('steps')} steps in {summary.get('train_seconds')} s "
          f"on {summary.get('samples')} samples ({summary.get('skipped_files', 0)} files skipped)")
    print_disk(run_dir)
    print(f"run folder: {run_dir}")
    return 0


def print_disk(run_dir: Path) -> None:
    """One line: what the run folder holds on disk, and its checkpoints (rotated: --keep-checkpoints)."""
    from .train.run_folder import folder_bytes, human_bytes
    kept = len(list((run_dir / "checkpoints").glob("*.ckpt")))
    print(f"the run folder holds {human_bytes(folder_bytes(run_dir))} ({kept} checkpoint files)")


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
    p.add_argument("--pool", help="features read: cls, mean, cls+mean, max+mean, mean-last4, grid, grid3 (default: the "
                                     "run's; max+mean for point clouds; hicmae: HiCMAE's per-modality readout)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--attentive", action="store_true",
                   help="also read every row with an attentive probe (one learned query cross-attends over its tokens; "
                        "raw pixels as the encoder's patches, HOG's blocks as tokens): images and multi-channel images")
    p.set_defaults(handler=run_probe)


def run_probe(args) -> int:
    from .eval.probe import probe_run
    _, table = probe_run(args.run, data=args.data, pool=args.pool, seed=args.seed, attentive=args.attentive)
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
    p.add_argument("--gif", action="store_true", help="video runs: also write an animated GIF beside the PNG")
    p.add_argument("--ensemble", type=int, default=1, metavar="K",
                   help="PHG-MAE mask ensemble: each hidden patch is the mean of its predictions under K random masks")
    p.set_defaults(handler=run_reconstruct)


def run_reconstruct(args) -> int:
    import torch
    from .data import MODALITIES
    from .data.folder import read_image
    from .io.checkpoint import load_run
    from .masking import num_visible
    from .config import PretrainConfig
    from .viz.reconstruct import reconstruction_picture
    model, raw = load_run(args.run)
    config = PretrainConfig.from_dict(raw)
    if not getattr(model.target, "pixel_space", True):
        raise ValueError(f"{args.run}: its target ({type(model.target).__name__}) does not predict pixels; "
                         "try `anymae decode RUN` for pixel reconstructions from its encoder")
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
    if args.gif and config.modality != "video":
        raise ValueError(f"--gif draws video runs; this run's modality is {config.modality}")
    reconstruction_picture(model, config, out, data=args.data, count=args.count, seed=args.seed, images=images,
                           **({"ensemble": args.ensemble} if args.ensemble != 1 else {}))
    print(f"wrote {out}")
    if args.gif:
        gif = reconstruction_picture(model, config, out.with_suffix(".gif"), data=args.data, count=args.count,
                                     seed=args.seed)
        print(f"wrote {gif}")
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
        print(f"{r.name:<{width}}  row {r.paper:>2}  {r.modality:<10}  {r.line()}")
    return 0


# ---------------------------------------------------------------- masks
def add_masks(sub) -> None:
    p = sub.add_parser("masks", help="gallery of sampled masks of one or all registered maskers over an image",
                       epilog=EPILOG,
                       description="Draw several sampled masks of each chosen masker over an image (the built-in "
                                   "`shapes` image by default); for `noise` also the measured power spectrum "
                                   "of its masks. `--masker all` draws every registered masker.")
    p.add_argument("--masker", action="append", required=True, metavar="NAME",
                   help="masker name, `all`, or a comma-separated list; repeatable")
    p.add_argument("--image", help="an image file to draw the masks over (default: a built-in shapes image)")
    p.add_argument("--mask-ratio", type=float, help="fraction of tokens hidden (default: each masker's)")
    p.add_argument("--masker-arg", action="append", metavar="KEY=VALUE", help="a masker argument, repeatable")
    p.add_argument("--samples", type=int, default=4, help="masks drawn per masker (default 4)")
    p.add_argument("--grid", type=int, default=14, help="token grid side (default 14, as ViT-B/16 at 224 px)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="PNG path (default runs/masks-<time>/masks.png)")
    p.set_defaults(handler=run_masks)


def run_masks(args) -> int:
    import torch
    from .viz.masks import load_image, mask_gallery
    torch.set_num_threads(1)  # small tensors: one thread is fastest on a shared machine
    names = [n.strip() for item in args.masker for n in item.split(",") if n.strip()]
    if args.samples < 1 or args.grid < 2:
        raise ValueError(f"--samples must be >= 1 and --grid >= 2, got {args.samples} and {args.grid}")
    out = Path(args.out) if args.out else default_run_dir("masks") / "masks.png"
    image = load_image(args.image, 16 * args.grid) if args.image else None
    mask_gallery(names, out, image=image, ratio=args.mask_ratio, samples=args.samples, spatial=(args.grid, args.grid),
                 seed=args.seed, masker_args=parse_assignments(args.masker_arg, "--masker-arg"))
    print(f"wrote {out}")
    print(f"run folder: {out.parent}")
    return 0




# ---------------------------------------------------------------- import / export
def add_import(sub) -> None:
    p = sub.add_parser("import", help="turn an official MAE, Hugging Face ViTMAE or timm checkpoint into a run",
                       epilog=EPILOG,
                       description="Read weights made elsewhere (torch files with weights_only=True, or "
                                   "safetensors) into an anymae run folder that `probe`, `reconstruct` and "
                                   "`export` accept. Position embeddings are resampled when --image-size differs.")
    p.add_argument("src", help="checkpoint file, or a folder (Hugging Face: config.json + weights)")
    p.add_argument("--format", required=True, choices=["official-mae", "hf-vitmae", "timm"],
                   help="official-mae: facebookresearch/mae .pth; hf-vitmae: ViTMAEForPreTraining folder; "
                        "timm: a timm ViT state dict (encoder only)")
    p.add_argument("--out", help="run folder to write (default runs/import-<format>-<time>)")
    p.add_argument("--image-size", help="input size of the run, N or HxW (default: the checkpoint's)")
    p.add_argument("--source-size", help="the checkpoint's own input size, N or HxW, when it cannot be read "
                                         "from the file (non-square grids)")
    p.add_argument("--arg", action="append", metavar="KEY=VALUE",
                   help="recipe argument, e.g. --arg heads=12 (head counts are not stored in weights), "
                        "--arg norm_pix=false, --arg mask_ratio=0.75")
    p.add_argument("--data", help="data the run's probe/reconstruct use by default (built-in name or folder)")
    p.add_argument("--seed", type=int, default=0, help="seed for parts the checkpoint lacks (a decoder)")
    p.add_argument("--force", "--overwrite", dest="force", action="store_true",
                   help="overwrite weights already in --out")
    p.set_defaults(handler=run_import)


def run_import(args) -> int:
    from .io.interop import import_checkpoint
    out = Path(args.out) if args.out else default_run_dir("import", args.format)
    run, report = import_checkpoint(args.src, args.format, out, image_size=args.image_size,
                                    source_size=args.source_size, overrides=parse_assignments(args.arg, "--arg"),
                                    seed=args.seed, data=args.data, force=args.force)
    for note in report["notes"]:
        print(f"  {note}")
    print(f"run folder: {run}")
    return 0


def add_export(sub) -> None:
    p = sub.add_parser("export", help="write a run as a timm ViT (encoder) or a Hugging Face ViTMAE folder",
                       epilog=EPILOG,
                       description="timm: model.safetensors + config.json, loadable with "
                                   "timm.create_model('local-dir:DIR', pretrained=True, num_classes=0). "
                                   "hf: ViTMAEForPreTraining folder (config.json, model.safetensors, "
                                   "preprocessor_config.json) for from_pretrained(DIR).")
    p.add_argument("run", help="run folder")
    p.add_argument("--to", required=True, choices=["timm", "hf"], help="target format")
    p.add_argument("--out", help="folder to write (default RUN/export-<to>)")
    p.add_argument("--hf-names", choices=["4", "5"],
                   help="transformers key names for --to hf (default: those of the installed transformers; "
                        "4 when it is not installed)")
    p.add_argument("--overwrite", action="store_true", help="replace the files of an existing, non-empty --out")
    p.set_defaults(handler=run_export)


def run_export(args) -> int:
    from .io.interop import export_run
    out = Path(args.out) if args.out else Path(args.run) / f"export-{args.to}"
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.overwrite:
        raise ValueError(f"--out {out}: already exists{' and holds files' if out.is_dir() else ' (a file)'}; "
                         "choose another --out or add --overwrite")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: is a file, not a folder")
    folder, files, notes = export_run(args.run, args.to, out, naming=args.hf_names)
    for note in notes:
        print(f"  {note}")
    print(f"wrote {', '.join(files)}")
    print(f"folder: {folder}")
    return 0


# ---------------------------------------------------------------- impute
def add_impute(sub) -> None:
    p = sub.add_parser("impute", help="predict missing modalities (e.g. depth, semseg) from present ones (rgb)",
                       epilog=EPILOG,
                       description="Every token of the --from modalities is visible, every token of the others "
                                   "hidden; the model's per-modality decoders fill them in. Writes one .npy per "
                                   "sample and modality, panel.png (input | prediction | truth) and metrics.json "
                                   "(depth RMSE, segmentation mIoU, each against a predict-the-mean baseline) when "
                                   "the truth is there.")
    p.add_argument("run", help="run folder of a multi-modal recipe (e.g. multimae_tiny)")
    p.add_argument("--input", help="folder: one sub-folder per modality with matching file names, or plain images (rgb)")
    p.add_argument("--data", help="built-in data set or folder to take samples from (default: the run's data, test split)")
    p.add_argument("--from", dest="source", default="rgb", help="present modalities, comma-separated (default rgb)")
    p.add_argument("--predict", help="modalities to predict, comma-separated (default: all the others)")
    p.add_argument("--out", help="output folder (default RUN/impute)")
    p.add_argument("--count", type=int, help="impute only the first COUNT samples")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--ensemble", type=int, default=1, metavar="K",
                   help="PHG-MAE mask ensemble: K masks that also hide a random share of the present tokens, averaged")
    p.set_defaults(handler=run_impute)


def run_impute(args) -> int:
    from .eval.impute import impute
    split = lambda text: [t.strip() for t in text.split(",") if t.strip()] if text else None
    if args.input and args.data:
        raise ValueError("give --input or --data, not both")
    out = Path(args.out) if args.out else Path(args.run) / "impute"
    from .eval.impute_volume import impute_volumes, is_volume_run
    from .io.checkpoint import read_config
    if is_volume_run(read_config(Path(args.run) / "config.yaml")):  # multi-modal volumes (BM-MAE)
        report = impute_volumes(args.run, out, data=args.data, source=split(args.source), predict=split(args.predict),
                                batch_size=args.batch_size, count=args.count)
        print(report.table())
        print(f"run folder: {out} (panel.png: mid-slices, metrics.json, imputed.npy: every imputed volume)")
        return 0
    report = impute(args.run, out=out, input_dir=args.input, data=args.data, source=split(args.source),
                    predict=split(args.predict), batch_size=args.batch_size, count=args.count,
                    **({"ensemble": args.ensemble} if args.ensemble != 1 else {}))
    print(report.table())
    print(f"run folder: {out} (panel.png, metrics.json, one .npy per sample and modality)")
    return 0




# ---------------------------------------------------------------- decode (RAE)
def add_decode(sub) -> None:
    p = sub.add_parser("decode", help="train a pixel decoder on a run's frozen encoder (representation autoencoder)",
                       epilog=EPILOG,
                       description="RAE: freeze RUN's encoder, train a fresh decoder to reconstruct the full, "
                                   "unmasked image from its latents; reports held-out reconstruction error, and "
                                   "that of the same decoder on the architecture at random init (the baseline).")
    p.add_argument("run", help="run folder whose encoder is frozen")
    p.add_argument("--steps", type=int, default=300, help="decoder training steps")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--dim", type=int, default=64, help="decoder width")
    p.add_argument("--depth", type=int, default=2, help="decoder blocks")
    p.add_argument("--heads", type=int, default=4, help="decoder attention heads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the baseline: the same decoder trained on the architecture at random init")
    p.add_argument("--out", help="output folder (default RUN/decode)")
    p.set_defaults(handler=run_decode)


def run_decode(args) -> int:
    from .train.decode import DecodeConfig, train_decoder
    out = Path(args.out) if args.out else Path(args.run) / "decode"
    config = DecodeConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, dim=args.dim, depth=args.depth,
                          heads=args.heads, seed=args.seed, eval_every=max(1, args.steps // 6),
                          random_init=not args.no_baseline)
    _, rows = train_decoder(args.run, out, config)
    print(f"held-out reconstruction MSE (full image): {rows[0]['held_out_mse']:.4f} at step 0 -> "
          f"{rows[-1]['held_out_mse']:.4f} at step {rows[-1]['step']}")
    if "random_init_held_out_mse" in rows[-1]:
        print(f"the same decoder on the random-init encoder: {rows[-1]['random_init_held_out_mse']:.4f}")
    print(f"run folder: {out}")
    return 0


COMMANDS = [add_pretrain, add_reconstruct, add_probe, add_recipes, add_masks, add_import, add_export, add_impute, add_decode]


def quiet_engine_logs() -> None:
    """Keep Lightning's start-up chatter and known-harmless warnings out of the command's output."""
    import logging
    import lightning.pytorch  # noqa: F401  (it sets its own log level on import)
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in (".*does not have many workers.*", ".*GPU available but not used.*", ".*LeafSpec.*",
                    ".*TreeSpec.*", ".*Checkpoint directory .* exists and is not empty.*"):
        warnings.filterwarnings("ignore", message=pattern)
    # a skipped data file is named by one log line (data/datasets.py report_skipped); not twice
    warnings.filterwarnings("ignore", message="skipping ", category=UserWarning)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(prog="anymae", description="Masked autoencoders for any modality.",
                                     epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"anymae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from .commands import command_adders
    for add in [*COMMANDS, *command_adders()]:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Every failure ends with one line on stderr and an exit code (anymae/failures.py):
    2 for bad input, 1 for an internal error (with the path of a log holding the traceback), 130/143 for
    SIGINT/SIGTERM; a command added in anymae/commands/ inherits this by raising ValueError."""
    from .failures import run_command
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2

    def start(args):
        quiet_engine_logs()
        return args.handler(args)
    return run_command(args, start)


if __name__ == "__main__":
    sys.exit(main())
