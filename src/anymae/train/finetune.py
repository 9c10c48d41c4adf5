"""Fine-tuning and linear probing of a run's encoder as MAE does (He et al. 2022, row 0; facebookresearch/mae
`main_finetune.py`, `main_linprobe.py`, `util/lr_decay.py`), on Lightning like pretraining.

Fine-tune: a classification head on the pretrained tokenizer + encoder, trained end to end with AdamW,
layer-wise lr decay, warm-up then cosine, drop path, optional mixup/cutmix and label smoothing; global
average pool (+ a fresh LayerNorm, MAE's `fc_norm`, on the last block's output before the encoder's norm)
or the [CLS] token. Linear probe (`linear=True`): the encoder frozen (eval mode, no gradients),
BatchNorm without affine before a linear head, LARS (or SGD) with no weight decay.
The same architecture from random init with the same budget (`from_scratch=True`) is the baseline.
"""
from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..io.checkpoint import build_untrained, load_run, save_weights
from ..io.files import write_text
from .callbacks import MetricsCSV, SamplerResume
from .checkpoint_io import AtomicCheckpointIO, load_checkpoint_file, remove_stale_temporaries
from .module import NO_DECAY_NAMES, seed_step_rng, warmup_cosine
from .sampler import EpochSampler
from .speed import resolve_precision

POOLS = ("mean", "cls")
OPTIMIZERS = ("adamw", "lars", "sgd")
ROWS = ("pretrained", "from-scratch")


@dataclass
class FinetuneConfig:
    """Settings of one `anymae finetune` (written into finetune.json). MAE's defaults unless said:
    fine-tune blr 1e-3 (lr = blr x batch / 256), layer decay 0.75, weight decay 0.05, drop path 0.1,
    label smoothing 0.1, 5 warm-up epochs, min lr 1e-6; linear probe blr 0.1, LARS, weight decay 0, 10
    warm-up epochs, [CLS] features. Laptop changes: 30 epochs (MAE: 100 / 90), mixup and cutmix off by
    default (MAE: 0.8 / 1.0), no RandAugment (the run's own crop-and-flip augmentation instead)."""

    data: str | None = None        # None: the run's data
    linear: bool = False
    epochs: int = 30
    batch_size: int = 64
    blr: float | None = None       # None: 1e-3 (fine-tune) or 0.1 (linear)
    lr: float | None = None        # absolute peak lr; overrides blr
    min_lr: float = 1e-6
    warmup_epochs: float | None = None  # None: 5 (fine-tune) or 10 (linear), at most a third of the epochs
    layer_decay: float = 0.75
    weight_decay: float | None = None   # None: 0.05 (fine-tune) or 0 (linear)
    drop_path: float = 0.1
    mixup: float = 0.0
    cutmix: float = 0.0
    label_smoothing: float = 0.1
    pool: str | None = None        # None: mean (fine-tune) or cls (linear; mean when the encoder has no cls)
    freeze_tokenizer: bool = False  # fine-tune: the tokenizer (patch embedding) kept as loaded, both rows
    reinit_blocks: int = 0         # fine-tune: the last N encoder blocks of the pretrained row re-drawn at random init
    optimizer: str | None = None   # None: adamw (fine-tune) or lars (linear)
    seed: int = 0
    accelerator: str = "auto"
    precision: str | None = None
    workers: int = 0

    def resolved(self, has_cls: bool) -> "FinetuneConfig":
        """A copy with every None default filled in for the protocol (fine-tune or linear)."""
        c = FinetuneConfig(**asdict(self))
        lin = c.linear
        c.blr = c.blr if c.blr is not None else (0.1 if lin else 1e-3)
        c.warmup_epochs = c.warmup_epochs if c.warmup_epochs is not None else min(10 if lin else 5, c.epochs / 3)
        c.weight_decay = c.weight_decay if c.weight_decay is not None else (0.0 if lin else 0.05)
        c.pool = c.pool or ("cls" if lin and has_cls else "mean")
        c.optimizer = c.optimizer or ("lars" if lin else "adamw")
        if lin:
            c.drop_path, c.mixup, c.cutmix, c.label_smoothing = 0.0, 0.0, 0.0, 0.0  # MAE's linprobe uses none
        return c

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"--epochs must be >= 1 and --batch-size >= 2, got {self.epochs} and {self.batch_size}")
        if not 0 < self.layer_decay <= 1:
            raise ValueError(f"--layer-decay must be in (0, 1], got {self.layer_decay}")
        for name in ("drop_path", "label_smoothing"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1), got {getattr(self, name)}")
        if self.mixup < 0 or self.cutmix < 0:
            raise ValueError(f"--mixup and --cutmix are Beta(alpha, alpha) parameters >= 0, got {self.mixup}, {self.cutmix}")
        if self.pool is not None and self.pool not in POOLS:
            raise ValueError(f"--pool must be one of {POOLS}, got {self.pool!r}")
        if self.reinit_blocks < 0:
            raise ValueError(f"--reinit-blocks must be >= 0, got {self.reinit_blocks}")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "FinetuneConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def for_recipe(cls, recipe: str, **settings) -> "FinetuneConfig":
        """The settings `anymae finetune` runs on a run of `recipe`: `settings` (the flags given), then the
        recipe's own fine-tuning defaults (its `finetune=` in the registry; fine-tuning only, not the linear
        probe), then MAE's defaults above."""
        from ..recipes import RECIPES
        own = {} if settings.get("linear") or recipe not in RECIPES else RECIPES[recipe].finetune
        return cls(**{**own, **settings})


# ---------------------------------------------------------------- the classifier
def mean_of_tokens(latents: Tensor, valid: Tensor | None, prefix: int) -> Tensor:
    """latents [B,N,D] (prefix tokens already dropped) -> [B,D]: their mean, over non-pad tokens when `valid`
    [B,prefix+N] is given."""
    if valid is None:
        return latents.mean(1)
    keep = valid[:, prefix:, None].to(latents.dtype)
    return (latents * keep).sum(1) / keep.sum(1).clamp_min(1.0)


class EncoderClassifier(nn.Module):
    """A run's tokenizer + encoder with a classification head: x -> logits [B,K].

    pool "mean": the last block's tokens before the encoder's norm, averaged, then `fc_norm` (MAE's
    global_pool); "cls": the normed [CLS] token. `linear`: BatchNorm1d(affine=False) + Linear (MAE's
    linprobe head); else a Linear head (trunc-normal init, std 2e-5 as MAE; 0.01 for the linear probe).
    """

    def __init__(self, tokenizer: nn.Module, encoder: nn.Module, num_classes: int, pool: str = "mean",
                 linear: bool = False, drop_path: float = 0.0):
        super().__init__()
        if pool == "cls" and encoder.num_prefix == 0:
            raise ValueError("--pool cls needs an encoder with a [CLS] token; this one has none (use --pool mean)")
        self.tokenizer, self.encoder, self.pool, self.linear = tokenizer, encoder, pool, linear
        dim = encoder.dim
        self.fc_norm = nn.LayerNorm(dim, eps=1e-6) if pool == "mean" and not linear else None
        head = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(head.weight, std=0.01 if linear else 2e-5)
        nn.init.zeros_(head.bias)
        self.head = nn.Sequential(nn.BatchNorm1d(dim, affine=False, eps=1e-6), head) if linear else head
        set_drop_path(encoder, drop_path)
        if linear:
            for p in (*tokenizer.parameters(), *encoder.parameters()):
                p.requires_grad_(False)

    def features(self, x) -> Tensor:
        """x -> pooled features [B,D]. Text (tokens carrying `valid` [B,L]): pads are neither attended to nor
        pooled, as in the text model's own features (text_model.py)."""
        from ..encoders.vit import encode_tokens
        tokens = self.tokenizer(x)
        valid = tokens.extra.get("valid")

        def encode(**kwargs):
            if valid is not None:  # BERT-style encoder: its own padding mask
                return self.encoder(tokens.embed + tokens.pos, valid, **kwargs)
            return encode_tokens(self.encoder, tokens, **kwargs)

        prefix = self.encoder.num_prefix
        if self.pool == "cls":
            return encode()[:, 0]
        if self.fc_norm is None:  # linear probe on mean-pooled normed tokens
            return mean_of_tokens(encode()[:, prefix:], valid, prefix)
        _, (last,) = encode(return_layers=[-1])
        return self.fc_norm(mean_of_tokens(last[:, prefix:], valid, prefix))

    def forward(self, x) -> Tensor:
        if self.linear:
            with torch.no_grad():
                feats = self.features(x)
            return self.head(feats)
        return self.head(self.features(x))

    def train(self, mode: bool = True):
        """Under the linear probe the frozen tokenizer and encoder stay in eval mode (no drop path, dropout)."""
        super().train(mode)
        if self.linear:
            self.tokenizer.eval()
            self.encoder.eval()
        return self


def encoder_blocks(encoder: nn.Module) -> list[nn.Module]:
    """The encoder's transformer blocks: `blocks` (timm's name) or `layers` (BERT's, the text encoders)."""
    return list(getattr(encoder, "blocks", None) or getattr(encoder, "layers", None) or [])


def set_drop_path(encoder: nn.Module, rate: float) -> None:
    """Stochastic depth rising linearly over the encoder's blocks to `rate` (timm `Block.drop_path1/2`). BERT's
    layers have none (their dropout regularises a fine-tune, as BERT's): they are left as they are."""
    from timm.layers import DropPath
    blocks = encoder_blocks(encoder)
    if rate > 0 and not blocks:
        raise ValueError(f"--drop-path: encoder {type(encoder).__name__} has no transformer blocks")
    for i, block in enumerate(blocks):
        r = rate * i / max(len(blocks) - 1, 1)
        for name in ("drop_path1", "drop_path2"):
            if hasattr(block, name):
                setattr(block, name, DropPath(r) if r > 0 else nn.Identity())


def reinit_last_blocks(encoder: nn.Module, fresh: nn.Module, count: int) -> None:
    """The last `count` blocks of `encoder` take the weights of `fresh`'s (the same architecture at random init)."""
    blocks = encoder_blocks(encoder)
    if count > len(blocks):
        raise ValueError(f"--reinit-blocks {count}: the encoder has {len(blocks)} blocks")
    for mine, new in zip(blocks[len(blocks) - count:], encoder_blocks(fresh)[len(blocks) - count:]):
        mine.load_state_dict(new.state_dict())


def layer_id(name: str, depth: int) -> int:
    """MAE's `get_layer_id_for_vit`: tokenizer, cls/memory tokens and positions 0; block i -> i + 1; the
    encoder's norm and the head depth + 1."""
    if name.startswith("tokenizer.") or name.split(".")[1] in ("cls_token", "memory", "pos_embed", "embed_norm"):
        return 0
    if name.startswith(("encoder.blocks.", "encoder.layers.")):
        return int(name.split(".")[2]) + 1
    return depth + 1


def layer_decay_groups(classifier: EncoderClassifier, weight_decay: float, layer_decay: float) -> list[dict]:
    """MAE's `param_groups_lrd`: one group per (layer, decay or not) with `lr_scale` = decay^(depth+1-layer);
    no weight decay on 1-d parameters (norms, biases) and tokens / position tables."""
    depth = len(encoder_blocks(classifier.encoder))
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in classifier.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim <= 1 or any(k in name.split(".")[-1] for k in NO_DECAY_NAMES) or name.endswith(".table")
        layer = layer_id(name, depth)
        key = (layer, no_decay)
        if key not in groups:
            groups[key] = {"params": [], "names": [], "weight_decay": 0.0 if no_decay else weight_decay,
                           "lr_scale": layer_decay ** (depth + 1 - layer), "layer": layer}
        groups[key]["params"].append(p)
        groups[key]["names"].append(name)
    return list(groups.values())


def make_finetune_optimizer(classifier: EncoderClassifier, config: FinetuneConfig, lr: float):
    """AdamW (betas 0.9/0.999, as MAE's fine-tune) over the layer-decay groups; LARS or SGD (momentum 0.9)
    over the head for the linear probe."""
    if config.optimizer == "adamw":
        return torch.optim.AdamW(layer_decay_groups(classifier, config.weight_decay, config.layer_decay), lr=lr)
    params = [p for p in classifier.parameters() if p.requires_grad]
    groups = [{"params": params, "lr_scale": 1.0, "weight_decay": config.weight_decay}]
    if config.optimizer == "lars":
        from timm.optim import Lars
        return Lars(groups, lr=lr, momentum=0.9, weight_decay=config.weight_decay)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=config.weight_decay)


# ---------------------------------------------------------------- the Lightning module
def numpy_step_seed(seed: int, step: int) -> None:
    """timm's Mixup draws lambda and the mode from numpy's global RNG: seed it per step (exact resume)."""
    np.random.seed((seed * 1_000_003 + step) % (2**32 - 1))


class FinetuneModule(L.LightningModule):
    """One optimizer step per batch: mixup/cutmix, logits, (soft-target / label-smoothed) cross-entropy;
    the lr of each group is peak x warm-up-cosine(step) x its `lr_scale`, set before every step (MAE's
    `adjust_learning_rate`, per step instead of per fractional epoch)."""

    def __init__(self, classifier: EncoderClassifier, config: FinetuneConfig, num_classes: int, steps_total: int,
                 steps_per_epoch: int, lr: float):
        super().__init__()
        self.classifier, self.config = classifier, config
        self.steps_total, self.lr = steps_total, lr
        self.warmup_steps = int(round(config.warmup_epochs * steps_per_epoch))
        self.mixup = None
        if config.mixup > 0 or config.cutmix > 0:
            from timm.data import Mixup
            self.mixup = Mixup(mixup_alpha=config.mixup, cutmix_alpha=config.cutmix, label_smoothing=config.label_smoothing,
                               num_classes=num_classes)
            from timm.loss import SoftTargetCrossEntropy
            self.criterion = SoftTargetCrossEntropy()
        else:
            self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    def lr_at(self, step: int) -> float:
        min_ratio = self.config.min_lr / self.lr if self.lr > 0 else 0.0
        return self.lr * warmup_cosine(step, self.steps_total, self.warmup_steps, min(min_ratio, 1.0))

    def set_lr(self, optimizer, step: int) -> None:
        """Every group's lr for `step`: the schedule's lr x the group's layer-decay `lr_scale`."""
        lr = self.lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)

    def on_train_batch_start(self, batch, batch_idx):
        self.set_lr(self.trainer.optimizers[0], self.global_step)

    def training_step(self, batch, batch_idx):
        x, y = batch[0], batch[1]
        seed_step_rng(self.config.seed, 0, self.global_step)
        if self.mixup is not None:
            numpy_step_seed(self.config.seed, self.global_step)
            x, y = self.mixup(x, y)
        loss = self.criterion(self.classifier(x), y)
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=False)
        self.log("global_step", float(self.global_step), on_step=True, on_epoch=False)
        return loss

    def configure_optimizers(self):
        return make_finetune_optimizer(self.classifier, self.config, self.lr)


# ---------------------------------------------------------------- running it
@torch.no_grad()
def accuracy(classifier: nn.Module, data, batch_size: int = 256) -> float:
    """Top-1 accuracy on a transformed, labelled data set."""
    classifier.eval()
    device = next(classifier.parameters()).device
    right = total = 0
    for x, y, _ in DataLoader(data, batch_size=batch_size, shuffle=False):
        x = x.to(device) if torch.is_tensor(x) else {k: v.to(device) for k, v in x.items()}
        right += int((classifier(x).argmax(1).cpu() == y).sum())
        total += len(y)
    return right / max(total, 1)


def finetune_splits(run_config: dict, model, data_spec: str):
    """(train split with the run's training augmentation, test split with its eval transform, classes)."""
    from ..config import PretrainConfig
    from ..data import MODALITIES, load_dataset
    config = PretrainConfig.from_dict(run_config)
    modality = MODALITIES[config.modality]
    size = modality.sample_size(model, config)
    train = load_dataset(data_spec, split="train", image_size=size, channels=config.channels)
    test = load_dataset(data_spec, split="test", image_size=size, channels=config.channels)
    for split in (train, test):
        if not split.labelled:
            raise ValueError(f"{data_spec}: fine-tuning needs labels (a labelled built-in set, or one sub-folder per class)")
    classes = int(max(train.labels.max(), test.labels.max())) + 1
    return (train.with_transform(modality.pretrain_transform(model, config), seed=0),
            test.with_transform(modality.eval_transform(model, config)), classes, config.modality)


def train_row(run: Path, out: Path, config: FinetuneConfig, from_scratch: bool, progress: bool = True,
              resume: bool = False) -> dict:
    """Fine-tune (or linear-probe) one row into `out` (checkpoints/, metrics.csv, classifier.safetensors,
    result.json) -> {"row", "accuracy", "steps", "train_seconds"}."""
    model, run_config = load_run(run)
    data_spec = config.data or run_config["data"]
    train, test, classes, modality = finetune_splits(run_config, model, data_spec)
    if from_scratch:
        model = build_untrained(run_config, seed=config.seed)
    elif config.reinit_blocks and not config.linear:
        reinit_last_blocks(model.encoder, build_untrained(run_config, seed=config.seed).encoder, config.reinit_blocks)
    if (config.mixup > 0 or config.cutmix > 0) and modality not in ("image", "video", "multichannel"):
        raise ValueError(f"--mixup/--cutmix mix images or clips; this run's modality is {modality}")
    if len(train) < config.batch_size:
        raise ValueError(f"--batch-size {config.batch_size} is larger than the {len(train)} training samples")
    torch.manual_seed(config.seed)
    classifier = EncoderClassifier(model.tokenizer, model.encoder, classes, config.pool, config.linear,
                                   config.drop_path)
    if config.freeze_tokenizer:
        classifier.tokenizer.requires_grad_(False)
    sampler = EpochSampler(len(train), seed=config.seed)
    loader = DataLoader(train, batch_size=config.batch_size, sampler=sampler, drop_last=True,
                        num_workers=config.workers, persistent_workers=config.workers > 0)
    steps_per_epoch = len(train) // config.batch_size
    steps_total = steps_per_epoch * config.epochs
    lr = config.lr if config.lr is not None else config.blr * config.batch_size / 256
    module = FinetuneModule(classifier, config, classes, steps_total, steps_per_epoch, lr)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoints" / "last.ckpt"
    if resume and ckpt.exists():
        remove_stale_temporaries(ckpt.parent)
        load_checkpoint_file(ckpt)
    callbacks = [ModelCheckpoint(dirpath=out / "checkpoints", filename="epoch={epoch}", auto_insert_metric_name=False,
                                 monitor="global_step", mode="max", save_top_k=1, save_last=True,
                                 enable_version_counter=False),
                 MetricsCSV(out / "metrics.csv"), SamplerResume(sampler, config.batch_size)]
    if progress:
        callbacks.append(TQDMProgressBar(refresh_rate=max(1, steps_per_epoch // 4)))
    trainer = L.Trainer(max_epochs=config.epochs, accelerator=config.accelerator, devices=1,
                        precision=resolve_precision(config.precision, config.accelerator), callbacks=callbacks,
                        logger=False, enable_progress_bar=progress, enable_model_summary=False,
                        use_distributed_sampler=False, default_root_dir=out, num_sanity_val_steps=0,
                        plugins=[AtomicCheckpointIO()])
    start = time.time()
    classifier.train()  # Lightning keeps the mode it finds; the frozen parts of a linear probe stay in eval
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
        trainer.fit(module, train_dataloaders=loader, ckpt_path=str(ckpt) if resume and ckpt.exists() else None,
                    weights_only=True)
    classifier = classifier.cpu()
    save_weights(classifier.state_dict(), out / "classifier.safetensors")
    result = {"row": "from-scratch" if from_scratch else "pretrained", "accuracy": round(accuracy(classifier, test), 4),
              "steps": int(trainer.global_step), "train_seconds": round(time.time() - start, 1),
              "train": len(train), "test": len(test), "classes": classes, "lr": lr}
    write_text(out / "result.json", json.dumps(result, indent=2))
    return result


def finetune_run(run: str | Path, out: str | Path, config: FinetuneConfig, rows=ROWS, progress: bool = True,
                 resume: bool = False) -> dict:
    """Train each of `rows` ("pretrained", "from-scratch") in `out/<row>/` with the same budget; writes
    out/finetune.json (settings and every row's accuracy, finished rows already in `out` included)."""
    run, out = Path(run), Path(out)
    model, run_config = load_run(run)
    config.validate()
    config = config.resolved(has_cls=model.encoder.num_prefix > 0)
    summary_path = out / "finetune.json"
    previous = json.loads(summary_path.read_text()).get("results", {}) if summary_path.exists() else {}
    out.mkdir(parents=True, exist_ok=True)
    summary = {"run": str(run), "recipe": run_config["recipe"], "data": config.data or run_config["data"],
               "protocol": "linear probe (MAE)" if config.linear else "fine-tune (MAE)",
               "settings": asdict(config), "results": dict(previous)}
    write_text(summary_path, json.dumps(summary, indent=2))
    for row in rows:
        if resume and (out / row / "result.json").exists():
            summary["results"][row] = json.loads((out / row / "result.json").read_text())
            continue
        summary["results"][row] = train_row(run, out / row, config, from_scratch=row == "from-scratch",
                                            progress=progress, resume=resume)
        write_text(summary_path, json.dumps(summary, indent=2))
    return summary


def format_finetune_table(summary: dict) -> str:
    """Both rows, the pretrained one first; a row not trained yet says so."""
    s = summary["settings"]
    lr = f"lr {s['lr']:g}" if s.get("lr") is not None else f"blr {s['blr']:g}"
    decay = f", layer decay {s['layer_decay']:g}" if not s.get("linear") else ""
    lines = [f"{summary['protocol']} on {summary['data']}: {s['epochs']} epochs, batch {s['batch_size']}, {lr}{decay}, "
             f"pool {s['pool']}, optimizer {s['optimizer']}",
             f"{'encoder':<14}  {'top-1':>7}  {'steps':>6}  {'seconds':>8}"]
    for row in ROWS:
        r = summary["results"].get(row)
        if r is None:
            lines.append(f"{row:<14}  {'not trained (run without --from-scratch)' if row == 'pretrained' else 'not trained'}")
        else:
            lines.append(f"{row:<14}  {100 * r['accuracy']:>6.1f}%  {r['steps']:>6}  {r['train_seconds']:>8.1f}")
    return "\n".join(lines)
