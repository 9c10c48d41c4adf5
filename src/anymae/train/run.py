"""`pretrain(config, run_dir)`: one function from a config to a finished run folder."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from torch.utils.data import DataLoader

from ..data import load_dataset, modality_of
from ..io.checkpoint import save_weights
from ..io.files import write_text
from ..recipes import create, get_recipe
from .callbacks import MetricsCSV
from .config import PretrainConfig
from .module import PretrainModule
from .sampler import EpochSampler

log = logging.getLogger("anymae.train")


def default_precision(accelerator: str) -> str:
    cuda = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    return "bf16-mixed" if cuda else "32-true"


def resolve(config: PretrainConfig):
    """Load the training data, fill in channels / normalisation, build the model. -> (model, data)."""
    recipe = get_recipe(config.recipe)
    args = {**recipe.defaults(), **config.recipe_args}
    size = args.get("image_size", args.get("num_points", 32))  # pixels per side, or points per cloud
    data = load_dataset(config.data, split="train", image_size=size, channels=config.channels, seed=config.seed)
    modality = modality_of(data)
    config.modality = modality.name
    if "channels" in recipe.defaults() and "channels" not in config.recipe_args and hasattr(data, "channels"):
        config.recipe_args["channels"] = data.channels
    if config.mean is None or config.std is None:
        config.mean, config.std = modality.stats(data)
    if config.batch_size > len(data):
        raise ValueError(f"batch_size {config.batch_size} is larger than the data set ({len(data)} samples "
                         f"in {config.data}); lower --batch-size")
    torch.manual_seed(config.seed)
    model = create(config.recipe, **config.recipe_args)
    return model, data.with_transform(modality.pretrain_transform(model, config), seed=config.seed)


def write_config(config: PretrainConfig, run_dir: Path, summary: dict | None = None) -> None:
    d = config.to_dict()
    if summary:
        d["summary"] = summary
    write_text(run_dir / "config.yaml", yaml.safe_dump(d, sort_keys=False))


def pretrain(config: PretrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Train `config.recipe` on `config.data`, writing everything into `run_dir`."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    model, data = resolve(config)
    write_config(config, run_dir)

    sampler = EpochSampler(len(data), seed=config.seed)
    loader = DataLoader(data, batch_size=config.batch_size, sampler=sampler, drop_last=True,
                        num_workers=config.workers, persistent_workers=config.workers > 0)
    steps_per_epoch = len(data) // config.batch_size // config.accumulate
    steps_total = max(1, steps_per_epoch * config.epochs)
    effective_batch = config.batch_size * config.accumulate
    lr = config.lr if config.lr is not None else config.blr * effective_batch / 256
    module = PretrainModule(model, config, steps_total, lr)

    checkpoints = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="epoch={epoch}", auto_insert_metric_name=False,
                                  save_top_k=-1, save_last=True, every_n_epochs=1)
    callbacks = [checkpoints, MetricsCSV(run_dir / "metrics.csv")]
    if config.save_every_n_steps:
        callbacks.append(ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="step={step}",
                                         auto_insert_metric_name=False, save_top_k=-1,
                                         every_n_train_steps=config.save_every_n_steps))
    if progress:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
    trainer = L.Trainer(
        max_epochs=config.epochs, accelerator=config.accelerator, devices=config.devices,
        num_nodes=config.num_nodes, strategy=config.strategy,
        precision=config.precision or default_precision(config.accelerator),
        accumulate_grad_batches=config.accumulate, callbacks=callbacks, logger=False,
        enable_progress_bar=progress, enable_model_summary=False, use_distributed_sampler=False,
        default_root_dir=run_dir, deterministic=False, num_sanity_val_steps=0)
    ckpt = run_dir / "checkpoints" / "last.ckpt" if resume else None
    if resume and not ckpt.exists():
        raise ValueError(f"{run_dir}: nothing to resume, no checkpoints/last.ckpt")
    start = time.time()
    trainer.fit(module, train_dataloaders=loader, ckpt_path=str(ckpt) if ckpt else None)
    if trainer.global_rank == 0:
        finish(model, config, run_dir, data, seconds=time.time() - start, steps=trainer.global_step)
    return run_dir


def finish(model, config: PretrainConfig, run_dir: Path, data, seconds: float, steps: int) -> None:
    """Write the run's weights, pictures and summary."""
    model = model.cpu().eval()
    state = model.state_dict()
    save_weights(state, run_dir / "model.safetensors")
    save_weights({k: v for k, v in state.items() if k.startswith(("tokenizer.", "encoder."))},
                 run_dir / "encoder.safetensors")
    summary = {"steps": int(steps), "train_seconds": round(seconds, 1), "samples": len(data),
               "skipped_files": len(getattr(data, "skipped", []))}
    write_config(config, run_dir, summary)
    from ..viz.reconstruct import reconstruction_picture
    reconstruction_picture(model, config, run_dir / "reconstructions.png", seed=config.seed)
