"""`pretrain(config, run_dir)`: one function from a config to a finished run folder."""
from __future__ import annotations

import inspect
import shutil
import logging
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import lightning as L
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from torch.utils.data import DataLoader

from ..data import load_dataset, modality_of
from ..errors import Interrupted, RunError
from ..io.checkpoint import fitting_recipe, load_run, save_weights, weights_misfit
from ..io.files import write_text
from ..recipes import get_recipe
from ..recipes.registry import RENAMED
from ..spec import TEACHER_KEYS, build_model
from .callbacks import MetricsCSV, SamplerResume
from .checkpoint_io import AtomicCheckpointIO, load_checkpoint_file, remove_stale_temporaries
from .interrupt import StopOnSignal
from .run_folder import RunFolderLock, check_new_run_folder, folder_bytes
from ..config import PretrainConfig
from .module import PretrainModule
from .sampler import make_sampler
from .speed import apply_speed_options, precision_summary, resolve_precision
from .validate import validate_config, validate_data

log = logging.getLogger("anymae.train")


def process_layout(config: PretrainConfig) -> tuple[int, int]:
    """(world size, this process's global rank) that Lightning will use for `config`'s
    accelerator/devices/num_nodes/strategy (torchrun and SLURM set the rank through the environment)."""
    quiet = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # the real Trainer below reports the devices once
    try:
        probe = L.Trainer(accelerator=config.accelerator, devices=config.devices, num_nodes=config.num_nodes,
                          strategy=config.strategy, logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False)
    except Exception as err:
        if type(err).__name__ != "MisconfigurationException":
            raise
        raise ValueError(f"accelerator={config.accelerator!r} devices={config.devices!r} num_nodes="
                         f"{config.num_nodes!r} strategy={config.strategy!r} (--accelerator / --devices / "
                         f"--num-nodes / --strategy): {' '.join(str(err).split())}") from None
    finally:
        quiet.setLevel(level)
    return probe.world_size, probe.global_rank


def resolve(config: PretrainConfig):
    """Load the training data, fill in channels / normalisation, build the model. -> (model, data)."""
    from .generative import is_generative, prepare
    if is_generative(config.recipe):  # tokenizers and generators (train/generative.py)
        model, _, _, data = prepare(config)
        return model, data
    recipe = get_recipe(config.recipe)
    validate_config(config, recipe.defaults())
    args = {**recipe.defaults(), **config.recipe_args}
    size = args.get("image_size", args.get("num_points", args.get("sample_rate", 32)))  # pixels, points or Hz
    if recipe.modality == "audiovisual":  # frames and sample rate (HiCMAE): data/audiovisual.py
        from ..data.audiovisual import audiovisual_size
        size = audiovisual_size(args)
    data = load_dataset(config.data, split="train", image_size=size, channels=config.channels, seed=config.seed)
    modality = modality_of(data)
    config.modality = modality.name
    modality.configure(config, data, args)  # text: the vocabulary, trained on this corpus
    if "channels" in recipe.defaults() and "channels" not in config.recipe_args and hasattr(data, "channels"):
        config.recipe_args["channels"] = data.channels
    # every argument written down, so a run keeps its architecture when a recipe's defaults change later
    config.recipe_args = {**recipe.defaults(), **config.recipe_args}
    if config.mean is None or config.std is None:
        config.mean, config.std = getattr(data, "stored_stats", None) or modality.stats(data)  # shards: measured when written
    validate_data(config, data, config.data)
    model = build_model(config.model_spec(), teachers=lambda: load_teachers(config), seed=config.seed)
    apply_speed_options(model, config)
    return model, data.with_transform(modality.pretrain_transform(model, config), seed=config.seed)


def load_teachers(config: PretrainConfig) -> list:
    """`--teacher RUN` (repeatable): the frozen teachers' trained models; their settings are recorded in
    the config, so this run reloads without them."""
    teachers, configs = [], []
    for run in config.teacher:
        if not (Path(run) / "config.yaml").exists():
            raise ValueError(f"--teacher {run}: not an anymae run folder (no config.yaml)")
        teacher, teacher_config = load_run(run)
        teachers.append(teacher)
        configs.append({k: teacher_config.get(k) for k in TEACHER_KEYS})
    config.teacher_configs = configs
    return teachers


def tensorboard_logger(run_dir: Path):
    """A TensorBoard logger when tensorboard is installed (metrics.csv is always written)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    from lightning.pytorch.loggers import TensorBoardLogger
    return TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="")


def write_config(config: PretrainConfig, run_dir: Path, summary: dict | None = None) -> None:
    d = config.to_dict()
    if summary:
        d["summary"] = summary
    write_text(run_dir / "config.yaml", yaml.safe_dump(d, sort_keys=False))


def check_resume_batch(saved: dict | None, batch_size: int, world: int) -> None:
    """A resumed run keeps its global batch (batch_size x processes): the sampler's position depends on it."""
    if not saved:
        return
    saved_global = saved["batch_size"] * saved.get("world", 1)
    if saved_global != batch_size * world:
        raise ValueError(f"batch_size {batch_size} x {world} process(es) differs from the checkpoint's "
                         f"{saved['batch_size']} x {saved.get('world', 1)}; a resumed run must keep its "
                         "global batch size")


def build_trainer(config: PretrainConfig, run_dir: Path, callbacks: list, progress: bool):
    try:
        return L.Trainer(
            max_epochs=config.epochs, accelerator=config.accelerator, devices=config.devices,
            num_nodes=config.num_nodes, strategy=config.strategy,
            precision=resolve_precision(config.precision, config.accelerator),
            accumulate_grad_batches=config.accumulate, callbacks=callbacks, logger=tensorboard_logger(run_dir),
            enable_progress_bar=progress, enable_model_summary=False, use_distributed_sampler=False,
            default_root_dir=run_dir, deterministic=False, num_sanity_val_steps=0, plugins=[AtomicCheckpointIO()])
    except Exception as err:
        if type(err).__name__ != "MisconfigurationException":
            raise
        raise ValueError(f"precision={config.precision!r} / strategy={config.strategy!r}: "
                         f"{' '.join(str(err).split())}") from None


def pretrain(config: PretrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True,
             overwrite: bool = False) -> Path:
    """Train `config.recipe` on `config.data`, writing everything into `run_dir`.

    Every check (settings, data, devices, the resume's checkpoint and batch) runs and the Trainer is built
    before anything is written into `run_dir`; then the folder is locked for the rest of the run
    (train/run_folder.py). A new run refuses a non-empty `run_dir` unless `overwrite` (which clears it).
    """
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoints" / "last.ckpt" if resume else None
    saved = load_checkpoint_file(ckpt) if ckpt is not None and ckpt.exists() else None  # refuses a tampered file
    if saved is not None and "state_dict" in saved and config.recipe in RENAMED:  # a name that has since moved on
        weights = {k[len("model."):]: v for k, v in saved["state_dict"].items() if k.startswith("model.")}
        config.recipe = fitting_recipe(config, weights)[0]
    validate_config(config, get_recipe(config.recipe).defaults())
    from .generative import is_generative, pretrain_generative
    if is_generative(config.recipe):  # tokenizers and generators: their own loop (train/generative.py)
        if not resume:
            check_new_run_folder(run_dir, overwrite, config.data)
        return pretrain_generative(config, run_dir, resume=resume, progress=progress)
    saved_sampler = None
    if resume:
        if overwrite:
            raise ValueError("--resume continues a run; --overwrite starts a new one: give one of them")
        if saved is None:
            raise ValueError(f"{run_dir}: nothing to resume, no checkpoints/last.ckpt")
        saved_sampler = saved.get("anymae_sampler")
        if (run_dir / "tokenizer.json").is_file():  # text: the run's own vocabulary
            config.tokenizer = str(run_dir / "tokenizer.json")
    world, rank = process_layout(config)  # impossible devices fail here, before the data is read
    if not resume and rank == 0:  # other ranks (DDP's launched processes) find rank 0's files there
        check_new_run_folder(run_dir, overwrite, config.data)
    model, data = resolve(config)  # bad data fails here, before a run folder exists
    if saved is not None and "state_dict" in saved:
        misfit = weights_misfit(model, {k[len("model."):]: v for k, v in saved["state_dict"].items()
                                        if k.startswith("model.")})
        if misfit:
            raise ValueError(f"{ckpt}: the checkpoint does not fit recipe {config.recipe!r} with the run's "
                             f"arguments: {misfit}")

    # each rank reads its own shard (perm[rank::world]); --batch-size is per device
    per_rank = len(data) // world
    if config.batch_size > per_rank:
        raise ValueError(f"batch_size {config.batch_size} per device is larger than a rank's share of the data "
                         f"({per_rank} = {len(data)} samples / {world} processes); lower --batch-size")
    check_resume_batch(saved_sampler, config.batch_size, world)
    sampler = make_sampler(data, seed=config.seed, rank=rank, world=world)  # ChunkSampler for shards
    loader = DataLoader(data, batch_size=config.batch_size, sampler=sampler, drop_last=True,
                        num_workers=config.workers, persistent_workers=config.workers > 0)
    steps_per_epoch = max(1, per_rank // config.batch_size // config.accumulate)
    if config.epochs is None:
        config.epochs = -(-config.steps // steps_per_epoch)
    steps_total = max(1, steps_per_epoch * config.epochs)
    effective_batch = config.batch_size * config.accumulate * world  # MAE: lr = blr * global batch / 256
    lr = config.lr if config.lr is not None else config.blr * effective_batch / 256
    module = PretrainModule(model, config, steps_total, lr)

    # A checkpoint at the end of an epoch (at most one per 100 steps on tiny data sets) and, with
    # --save-every-n-steps, every N steps: of each kind the newest `keep_checkpoints` are kept, plus last.ckpt.
    every = max(1, -(-100 // steps_per_epoch)) if steps_per_epoch < 100 else 1
    checkpoints = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="epoch={epoch}", auto_insert_metric_name=False,
                                  monitor="global_step", mode="max", save_top_k=config.keep_checkpoints,
                                  save_last=True, every_n_epochs=every, enable_version_counter=False)
    callbacks = [checkpoints, MetricsCSV(run_dir / "metrics.csv"), SamplerResume(sampler, config.batch_size)]
    if config.save_every_n_steps:
        # save_last here too: last.ckpt is always the newest state, so --resume continues mid-epoch
        callbacks.append(ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="step={step}",
                                         auto_insert_metric_name=False, monitor="global_step", mode="max",
                                         save_top_k=config.keep_checkpoints, save_last=True,
                                         enable_version_counter=False, every_n_train_steps=config.save_every_n_steps))
    if progress:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
    stop_on_signal = StopOnSignal(run_dir)
    callbacks.append(stop_on_signal)  # last: the step's own checkpoints are written first
    trainer = build_trainer(config, run_dir, callbacks, progress)

    # every check has passed: from here on the run folder is written, under its lock (rank 0 holds it)
    lock = RunFolderLock(run_dir, fresh=not resume, overwrite=overwrite) if rank == 0 else nullcontext()
    with lock:
        if resume:
            remove_stale_temporaries(ckpt.parent)
        elif config.tokenizer:  # text: the run keeps its own copy of the vocabulary
            if Path(config.tokenizer).resolve() != (run_dir / "tokenizer.json").resolve():
                shutil.copyfile(config.tokenizer, run_dir / "tokenizer.json")
            config.tokenizer = str(run_dir / "tokenizer.json")
        write_config(config, run_dir)
        start = time.time()
        # AtomicCheckpointIO loads with weights_only=True whatever is passed; say so where Lightning takes it too
        safe = {"weights_only": True} if "weights_only" in inspect.signature(trainer.fit).parameters else {}
        with warnings.catch_warnings(), stop_on_signal.catching():
            # SamplerResume continues the epoch where the checkpoint left it; Lightning cannot see that
            warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
            try:
                trainer.fit(module, train_dataloaders=loader, ckpt_path=str(ckpt) if ckpt else None, **safe)
            except Interrupted:
                if trainer.global_rank == 0:
                    write_config(config, run_dir, {"steps": int(trainer.global_step), "stopped": "interrupted",
                                                   "disk_bytes": folder_bytes(run_dir)})
                raise
        if module.stop_reason:
            good = run_dir / "checkpoints" / "last-good.ckpt"
            trainer.save_checkpoint(good)
            if trainer.global_rank == 0:
                write_config(config, run_dir, {"steps": int(trainer.global_step),
                                               "skipped_steps": module.guard.skipped, "stopped": module.stop_reason})
            raise RunError(f"{module.stop_reason}. The weights and optimizer state of the last good step are in "
                           f"{good}; the loss of every step is in {run_dir / 'metrics.csv'}")
        if trainer.global_rank == 0:
            finish(model, config, run_dir, data, seconds=time.time() - start, steps=trainer.global_step,
                   skipped_steps=module.guard.skipped)
    return run_dir


def finish(model, config: PretrainConfig, run_dir: Path, data, seconds: float, steps: int,
           skipped_steps: int = 0) -> None:
    """Write the run's weights, pictures and summary."""
    model = model.cpu().eval()
    state = model.state_dict()
    save_weights(state, run_dir / "model.safetensors")
    save_weights({k: v for k, v in state.items() if k.startswith(("tokenizer.", "encoder."))},
                 run_dir / "encoder.safetensors")
    summary = {"steps": int(steps), "train_seconds": round(seconds, 1), "samples": len(data),
               "skipped_files": len(getattr(data, "skipped", [])), "skipped_steps": int(skipped_steps),
               **precision_summary(config.precision, config.accelerator)}  # precision used and the CPU's native bf16
    if getattr(data, "truncated", 0):
        summary["truncated_documents"] = int(data.truncated)  # text: cut to the model's length
    skipped = getattr(data, "skipped", [])
    if skipped:
        write_text(run_dir / "skipped_files.txt", "".join(f"{p}\n" for p in skipped))
    if not getattr(model.target, "pixel_space", True):
        log.info("target %s does not predict pixels: no reconstruction picture", type(model.target).__name__)
    else:
        from ..viz.reconstruct import reconstruction_picture
        reconstruction_picture(model, config, run_dir / "reconstructions.png", seed=config.seed)
    summary["disk_bytes"] = folder_bytes(run_dir)  # the run folder, config.yaml aside (a few KB)
    write_config(config, run_dir, summary)
