"""`anymae embed RUN --data D --out DIR`: one embedding file per sample from a trained encoder, so that a video
run's clip features become the segment embeddings LV-MAE (PAPERS.md row 14) pretrains on."""
from __future__ import annotations

import io
import json
from pathlib import Path

EPILOG = ("Writes OUT/<class>/<index>.npy (OUT/<index>.npy for unlabelled data) and OUT/embed.json, and prints "
          "`run folder: OUT`. Then: anymae pretrain --recipe lvmae_tiny --data OUT")
POOLS = ("mean", "cls", "tokens")


def add(sub) -> None:
    p = sub.add_parser("embed", help="write per-sample embedding sequences [T,D] from a trained encoder (LV-MAE input)",
                       epilog=EPILOG,
                       description="Every sample of --data goes through RUN's encoder (no masking) and is written as "
                                   "one .npy [T,D]. Video runs cut each whole video into consecutive segments of the "
                                   "model's clip length (frames x stride) and pool each segment's latents (--pool): "
                                   "T is the segment count, as LV-MAE's per-segment features of a long video. Other "
                                   "runs write each sample's token latents (T = tokens), or with --pool mean / cls "
                                   "one row per sample.")
    p.add_argument("run", help="run folder of a trained model")
    p.add_argument("--data", help="built-in name or folder (default: the run's data); every split is embedded")
    p.add_argument("--out", required=True, help="output folder (must not already hold .npy files)")
    p.add_argument("--pool", choices=POOLS, help="video: how each segment's tokens are pooled (default mean); "
                                                 "others: tokens (default) or one pooled row")
    p.set_defaults(handler=run_embed)


def segments(video, window: int) -> list:
    """video [C,F,H,W] -> consecutive [C,window,H,W] pieces (one, possibly short, when F < 2 windows)."""
    count = max(1, video.shape[1] // window)
    return [video[:, k * window:(k + 1) * window] for k in range(count)]


def pooled(model, x, pool: str):
    """x [B,...] -> [B,D] (mean of the tokens or the cls latent) or [B,N,D] (every token) of the encoder."""
    from ..eval.features import pool_latents
    return pool_latents(model.encode(x), model.encoder.num_prefix, pool)


def run_embed(args) -> int:
    import numpy as np
    import torch
    from tqdm.auto import tqdm
    from ..config import PretrainConfig
    from ..data import MODALITIES, load_dataset
    from ..io.checkpoint import load_run
    from ..io.files import write_bytes, write_text
    run, out = Path(args.run), Path(args.out)
    if not (run / "config.yaml").exists():
        raise ValueError(f"{run}: not an anymae run folder (no config.yaml)")
    if out.exists() and any(out.rglob("*.npy")):
        raise ValueError(f"--out {out}: already holds .npy files; choose another folder")
    model, raw = load_run(run)
    config = PretrainConfig.from_dict(raw)
    modality = MODALITIES[config.modality]
    video = modality.name == "video"
    pool = args.pool or ("mean" if video else "tokens")
    if video and pool == "tokens":
        raise ValueError("--pool tokens: a video run writes one row per segment; use --pool mean or cls")
    spec = args.data or config.data
    data = load_dataset(spec, split="all", image_size=modality.sample_size(model, config), channels=config.channels)
    transform = modality.eval_transform(model, config)
    window = model.tokenizer.frames * getattr(model.tokenizer, "frame_stride", 1) if video else None
    classes = data.classes if data.labelled and data.classes else None
    widths, lengths = set(), []
    with torch.no_grad():
        for i in tqdm(range(len(data)), desc="embed", leave=False):
            sample = data.pixels(i)
            if video:
                rows = pooled(model, torch.stack([transform(s) for s in segments(sample, window)]), pool)
            else:
                rows = pooled(model, transform(sample)[None], pool)
                rows = rows[0] if pool == "tokens" else rows
            array = rows.float().cpu().numpy()
            folder = out / classes[int(data.labels[i])] if classes else out
            buffer = io.BytesIO()
            np.save(buffer, array)
            write_bytes(folder / f"{i:06d}.npy", buffer.getvalue())
            widths.add(array.shape[1])
            lengths.append(array.shape[0])
    summary = {"run": str(run), "data": spec, "pool": pool, "samples": len(lengths), "width": sorted(widths),
               "rows": {"min": min(lengths), "max": max(lengths)}, "segment_frames": window}
    write_text(out / "embed.json", json.dumps(summary, indent=2))
    print(f"wrote {len(lengths)} embedding sequences of {min(lengths)}-{max(lengths)} rows x {sorted(widths)[0]} "
          f"({pool}{', segments of ' + str(window) + ' frames' if video else ''})")
    print(f"run folder: {out}")
    return 0
