"""`anymae finetune RUN`: MAE's fine-tuning (or, with --linear, its linear-probing) protocol on a run's
encoder, beside the same architecture trained from random init with the same budget."""
from __future__ import annotations

import json
import time
from pathlib import Path

EPILOG = ("Writes OUT/finetune.json, OUT/pretrained/ and OUT/from-scratch/ (checkpoints, metrics.csv, "
          "classifier.safetensors, result.json) and prints `run folder: OUT`.")


def add(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune a run's encoder end to end (MAE's recipe), beside from-scratch",
                       epilog=EPILOG,
                       description="A classification head on RUN's pretrained encoder, trained end to end as MAE "
                                   "fine-tunes: AdamW, layer-wise lr decay, warm-up then cosine, drop path, label "
                                   "smoothing, optional mixup/cutmix, global-pool or [CLS] head (a laptop recipe "
                                   "may start from its own measured settings, e.g. videomae_vit_tiny; the "
                                   "table names the lr and layer decay it ran). The same "
                                   "architecture from random init is trained with the same budget and printed "
                                   "beside it. --linear: MAE's linear probe (frozen encoder, BatchNorm without "
                                   "affine + linear head, LARS).")
    p.add_argument("run", nargs="?", help="run folder of a pretrained encoder")
    p.add_argument("--data", help="labelled built-in name or folder (default: the run's data)")
    p.add_argument("--linear", action="store_true", help="MAE's linear-probing protocol instead of fine-tuning")
    p.add_argument("--from-scratch", action="store_true",
                   help="train only the random-init row (the pretrained row is printed beside it when OUT has it)")
    p.add_argument("--epochs", type=int, help="epochs (default 30, or the recipe's own)")
    p.add_argument("--batch-size", type=int, help="samples per step (default 64)")
    p.add_argument("--lr", type=float, help="absolute peak lr (default: --blr x batch / 256)")
    p.add_argument("--blr", type=float, help="base lr (default 1e-3, or the recipe's own; 0.1 with --linear)")
    p.add_argument("--layer-decay", type=float, help="layer-wise lr decay (default 0.75, or the recipe's own)")
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay (default 0.05; 0 with --linear)")
    p.add_argument("--drop-path", type=float, help="stochastic depth of the last block (default 0.1)")
    p.add_argument("--mixup", type=float, help="mixup alpha (default 0: off; MAE 0.8)")
    p.add_argument("--cutmix", type=float, help="cutmix alpha (default 0: off; MAE 1.0)")
    p.add_argument("--label-smoothing", type=float, help="label smoothing (default 0.1)")
    p.add_argument("--warmup-epochs", type=float, help="linear warm-up epochs (default 5; 10 with --linear)")
    p.add_argument("--pool", choices=["mean", "cls"], help="global average pool (default) or the [CLS] token "
                                                          "(default with --linear)")
    p.add_argument("--freeze-tokenizer", action="store_const", const=True,
                   help="keep the tokenizer (patch embedding) as loaded, in both rows")
    p.add_argument("--reinit-blocks", type=int, metavar="N",
                   help="re-draw the pretrained encoder's last N blocks at random init (default 0)")
    p.add_argument("--optimizer", choices=["adamw", "lars", "sgd"], help="default adamw; lars with --linear")
    p.add_argument("--seed", type=int, help="seed of the head, data order, augmentations, drop path (default 0)")
    p.add_argument("--accelerator", help="Lightning accelerator: auto, cpu, gpu")
    p.add_argument("--precision", help="Lightning precision (default: bf16-mixed on CUDA, 32-true on CPU)")
    p.add_argument("--workers", type=int, help="data-loading worker processes")
    p.add_argument("--out", help="output folder (default RUN/finetune-<time>, RUN/linear-<time> with --linear)")
    p.add_argument("--resume", metavar="OUT", help="continue an interrupted `anymae finetune` in folder OUT")
    p.set_defaults(handler=run_finetune)


SETTINGS = ("data", "linear", "epochs", "batch_size", "lr", "blr", "layer_decay", "weight_decay", "drop_path",
            "mixup", "cutmix", "label_smoothing", "warmup_epochs", "pool", "optimizer", "seed", "accelerator",
            "precision", "workers", "freeze_tokenizer", "reinit_blocks")


def run_finetune(args) -> int:
    from ..io import read_config
    from ..train.finetune import ROWS, FinetuneConfig, finetune_run, format_finetune_table
    rows = ("from-scratch",) if args.from_scratch else ROWS
    if args.resume:
        out = Path(args.resume)
        if not (out / "finetune.json").exists():
            raise ValueError(f"--resume {out}: no finetune.json there (not an `anymae finetune` folder)")
        saved = json.loads((out / "finetune.json").read_text())
        config = FinetuneConfig.from_dict(saved["settings"])
        run = Path(saved["run"])
        summary = finetune_run(run, out, config, rows=rows, resume=True)
    else:
        if not args.run:
            raise ValueError("give a run folder (anymae finetune RUN) or --resume OUT")
        run = Path(args.run)
        if not (run / "config.yaml").exists():
            raise ValueError(f"{run}: not an anymae run folder (no config.yaml)")
        values = {k: getattr(args, k) for k in SETTINGS if getattr(args, k, None) is not None}
        config = FinetuneConfig.for_recipe(read_config(run / "config.yaml").get("recipe"), **values)
        kind = "linear" if args.linear else "finetune"
        out = Path(args.out) if args.out else run / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
        done = json.loads((out / "finetune.json").read_text()).get("results", {}) if (out / "finetune.json").exists() else None
        if done is not None and not (args.from_scratch and "from-scratch" not in done):
            raise ValueError(f"--out {out}: already holds a fine-tune (finetune.json); use --resume {out} or "
                             "another folder")
        summary = finetune_run(run, out, config, rows=rows)
    print(format_finetune_table(summary))
    print(f"run folder: {out}")
    return 0
