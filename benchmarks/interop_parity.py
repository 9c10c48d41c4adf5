"""Largest absolute differences between anymae and the reference implementations at full MAE sizes.

Random weights (no downloads), fp32, CPU. Rows: Hugging Face ViTMAEForPreTraining (same weights, same
`noise`) for ViT-B/16 MAE at full depth (12 encoder + 8 decoder blocks), norm-pix on/off, with MAE's
LayerNorm eps (1e-6) and the eps the Hub's configs carry (1e-12), read from config.json on import; timm
`forward_features` of the exported encoder for ViT-B/16 and ViT-L/16.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/interop_parity.py [--out docs/interop.md]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_interop import compare_with_hf, hf_model, perturb  # noqa: E402

import anymae  # noqa: E402
from anymae.io.checkpoint import load_run  # noqa: E402
from anymae.io.interop import export_run, import_checkpoint, write_run  # noqa: E402
from anymae.train.config import PretrainConfig  # noqa: E402


def hf_rows(tmp: Path, batch: int) -> list[tuple[str, float, float]]:
    import test_interop
    test_interop.SHAPES["base-full"] = (768, 12, 12, 512, 8, 16, 224, 16)
    rows = []
    for norm_pix in (True, False):
        for eps in (1e-6, 1e-12):
            hf = hf_model("base-full", norm_pix, eps=eps)
            folder = tmp / f"hf-{norm_pix}-{eps}"
            hf.save_pretrained(folder)
            run, _ = import_checkpoint(folder, "hf-vitmae", tmp / f"run-{norm_pix}-{eps}", progress=False)
            model, _ = load_run(run)
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(batch, 3, 224, 224, generator=gen)
            noise = torch.rand(batch, 196, generator=gen)
            d = compare_with_hf(model, hf, x, noise)
            rows.append((f"HF ViTMAE ViT-B/16 12+8 blocks, norm-pix {'on' if norm_pix else 'off'}, HF eps {eps:g}",
                         d["loss"], d["pred"]))
    return rows


def timm_rows(tmp: Path, batch: int) -> list[tuple[str, float, float]]:
    import timm
    rows = []
    for recipe in ("mae_vit_base", "mae_vit_large"):
        torch.manual_seed(0)
        model = anymae.create(recipe, decoder_depth=1).eval()
        perturb(model, 0)
        write_run(model, PretrainConfig(recipe=recipe, recipe_args={"decoder_depth": 1}), tmp / recipe, {})
        out, _, _ = export_run(tmp / recipe, "timm", tmp / f"timm-{recipe}", progress=False)
        vit = timm.create_model(f"local-dir:{out}", pretrained=True, num_classes=0).eval()
        x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            diff = float((model.encode(x) - vit.forward_features(x)).abs().max())
        rows.append((f"timm forward_features, {recipe} encoder", float("nan"), diff))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--out", help="write the table as markdown here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = hf_rows(Path(tmp), args.batch) + timm_rows(Path(tmp), args.batch)
    lines = ["| comparison | max abs diff, loss | max abs diff, predictions / features |", "|---|---|---|"]
    for name, loss, pred in rows:
        loss_text = "—" if loss != loss else f"{loss:.2e}"
        lines.append(f"| {name} | {loss_text} | {pred:.2e} |")
    table = "\n".join(lines)
    print(table)
    print(json.dumps({"torch": torch.__version__, "batch": args.batch}))
    if args.out:
        from anymae.io.files import write_text
        import transformers, timm
        head = (f"# Interop parity at full size\n\n`benchmarks/interop_parity.py`, random weights, fp32, CPU, "
                f"batch {args.batch}; torch {torch.__version__}, transformers {transformers.__version__}, "
                f"timm {timm.__version__}. The HF model is written with `save_pretrained`, imported with "
                f"`anymae import --format hf-vitmae` (which reads the LayerNorm eps from config.json), and both "
                f"are run on the same images and `noise`. timm rows: `anymae export --to timm`, then "
                f"`timm.create_model('local-dir:...', pretrained=True, num_classes=0)`.\n\n")
        write_text(args.out, head + table + "\n")


if __name__ == "__main__":
    main()
