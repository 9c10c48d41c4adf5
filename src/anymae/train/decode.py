"""RAE (row 44), a representation autoencoder: a run's frozen encoder + a pixel decoder trained here to
reconstruct the full, unmasked image from the encoder's latents (`anymae decode RUN`)."""
from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import yaml
from torch import nn
from tqdm.auto import tqdm

from ..decoders import MAEDecoder
from ..io.checkpoint import load_run, save_weights
from ..io.files import write_text
from ..masking.base import Mask
from .module import warmup_cosine


@dataclass
class DecodeConfig:
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    dim: int = 64
    depth: int = 2
    heads: int = 4
    eval_every: int = 50
    eval_images: int = 256
    seed: int = 0
    random_init: bool = True  # also train the decoder on the random-init encoder (the baseline)


def every_token(batch_size: int, num_tokens: int, device) -> Mask:
    """Keep and predict all tokens: the decoder reads the latents of the full image."""
    order = torch.arange(num_tokens, device=device).expand(batch_size, -1)
    return Mask.from_order(order, num_tokens).with_predict(order)


class RepresentationAutoencoder(nn.Module):
    """x [B,C,H,W] -> a run's frozen model's latents of every token -> trained decoder -> pixels [B,N,P]."""

    def __init__(self, model: nn.Module, decoder: MAEDecoder):
        super().__init__()
        self.model, self.decoder = model, decoder
        model.requires_grad_(False)
        decoder.bind(self.encoder.dim, self.tokenizer.patch_dim,
                     self.tokenizer.position(decoder.dim, decoder.learnable_pos))

    @property
    def tokenizer(self) -> nn.Module:
        return self.model.tokenizer

    @property
    def encoder(self) -> nn.Module:
        return self.model.encoder

    def train(self, mode: bool = True) -> "RepresentationAutoencoder":
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (predicted patch values [B,N,P], true patch values [B,N,P])."""
        tokens = self.model.tokenize(x)
        with torch.no_grad():
            latents = self.model.encode_visible(tokens)
        mask = every_token(tokens.batch_size, tokens.num_tokens, x.device)
        return self.decoder(latents, mask, tokens, self.encoder.num_prefix), tokens.values


def held_out_error(rae: RepresentationAutoencoder, images: torch.Tensor, batch_size: int = 128) -> float:
    """Mean squared error of the reconstructions of `images` (full, unmasked)."""
    rae.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            pred, true = rae(images[i:i + batch_size])
            total += float((pred - true).pow(2).sum())
            count += true.numel()
    rae.train()
    return total / max(count, 1)


def train_decoder(run: str | Path, out: str | Path, config: DecodeConfig | None = None, progress: bool = True):
    """Train a pixel decoder on the frozen encoder of `run`; write decoder, metrics and pictures to `out`.
    With `config.random_init`, the same decoder is also trained on the run's architecture at random init
    (the baseline, as `anymae probe` has one): its held-out error is the `random_init_held_out_mse` column.

    -> (RepresentationAutoencoder, list of metric rows).
    """
    from ..data import MODALITIES, load_dataset
    from ..io.checkpoint import build_untrained
    from ..config import PretrainConfig
    config = config or DecodeConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, raw = load_run(run)
    run_config = PretrainConfig.from_dict(raw)
    if run_config.modality != "image":
        raise ValueError(f"{run}: anymae decode handles image runs; this one is {run_config.modality}")
    modality = MODALITIES["image"]
    train = load_dataset(run_config.data, "train", image_size=model.tokenizer.image_size,
                         channels=run_config.channels).with_transform(modality.pretrain_transform(model, run_config),
                                                                      seed=config.seed)
    test = load_dataset(run_config.data, "test" if run_config.data in ("shapes", "digits", "faces") else "train",
                        image_size=model.tokenizer.image_size, channels=run_config.channels)
    test = test.with_transform(modality.eval_transform(model, run_config))
    held_out = torch.stack([test[i][0] for i in range(min(config.eval_images, len(test)))])
    start = time.time()
    rae = fresh_decoder(model, config)
    rows = fit_decoder(rae, train, held_out, config, "decode" if progress else None)
    fieldnames = ["step", "train_mse", "held_out_mse"]
    summary = {"held_out_mse_start": rows[0]["held_out_mse"], "held_out_mse_end": rows[-1]["held_out_mse"]}
    if config.random_init:
        baseline = fit_decoder(fresh_decoder(build_untrained(raw), config), train, held_out, config,
                               "decode (random init)" if progress else None)
        for row, base in zip(rows, baseline):
            row["random_init_held_out_mse"] = base["held_out_mse"]
        fieldnames.append("random_init_held_out_mse")
        summary["random_init_held_out_mse_end"] = baseline[-1]["held_out_mse"]
    with open(out / "decode_metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    save_weights({k: v for k, v in rae.decoder.state_dict().items()}, out / "decoder.safetensors")
    write_text(out / "decode.yaml", yaml.safe_dump({"run": str(run), **asdict(config),
                                                    "train_seconds": round(time.time() - start, 1), **summary},
                                                   sort_keys=False))
    picture(rae, held_out[:8], test.transform, out / "decode.png")
    return rae, rows


def fresh_decoder(model, config: DecodeConfig) -> RepresentationAutoencoder:
    """`model` (its tokenizer and encoder), frozen, under a new decoder (seeded: equal for every encoder)."""
    torch.manual_seed(config.seed)
    return RepresentationAutoencoder(model, MAEDecoder(dim=config.dim, depth=config.depth, heads=config.heads)).train()


def fit_decoder(rae: RepresentationAutoencoder, train, held_out: torch.Tensor, config: DecodeConfig,
                desc: str | None) -> list[dict]:
    """Train `rae`'s decoder for `config.steps` on `train` (the same batches for every encoder);
    -> rows of step, train MSE and held-out MSE (every `eval_every` steps and at step 0)."""
    params = [p for p in rae.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.05)
    warmup = max(1, config.steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, config.steps, warmup))
    g = torch.Generator().manual_seed(config.seed)
    rows = [{"step": 0, "train_mse": "", "held_out_mse": held_out_error(rae, held_out)}]
    bar = tqdm(range(1, config.steps + 1), desc=desc, disable=desc is None)
    for step in bar:
        idx = torch.randint(len(train), (config.batch_size,), generator=g)
        x = torch.stack([train[int(i) + (step * len(train))][0] for i in idx])
        pred, true = rae(x)
        loss = (pred - true).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % config.eval_every == 0 or step == config.steps:
            rows.append({"step": step, "train_mse": loss.item(), "held_out_mse": held_out_error(rae, held_out)})
    return rows


def picture(rae, images: torch.Tensor, transform, path: Path) -> None:
    """PNG: original | reconstruction from the full image, one row per image."""
    from ..viz.grid import image_grid
    rae.eval()
    with torch.no_grad():
        pred, _ = rae(images)
    recon = rae.tokenizer.unpatchify(pred)
    rows = [[transform.invert(a), transform.invert(b)] for a, b in zip(images, recon)]
    image_grid(rows, ["original", "RAE reconstruction"], path)
