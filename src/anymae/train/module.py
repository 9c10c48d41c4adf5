"""Lightning module for pretraining: AdamW, warm-up + cosine per step, seeded masks per step."""
from __future__ import annotations

import math

import lightning as L
import torch
from torch import nn

from ..masking.decoder import select_rows
from ..model import MaskedAutoencoder
from ..config import PretrainConfig
from .guard import NonFiniteGuard

NO_DECAY_NAMES = ("pos", "cls_token", "mask_token", "memory", "register")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """MAE's groups: no weight decay on norms, biases, position tables and cls/mask tokens."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or any(key in name.split(".")[-1] for key in NO_DECAY_NAMES) or name.endswith(".table"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float = 0.0) -> float:
    """lr multiplier: linear from 0 over `warmup` steps, then half-cosine to `min_ratio`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, betas=(0.9, 0.95)) -> torch.optim.Optimizer:
    """AdamW over MAE's param groups: the fused kernel where the device has one (CPU, CUDA),
    else the multi-tensor (foreach) one. Both are the same update up to float rounding."""
    groups = param_groups(model, weight_decay)
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), foreach=True)


def step_seed(seed: int, rank: int, step: int) -> int:
    return (seed * 1_000_003 + rank * 100_003 + step) % (2**63 - 1)


def seed_step_rng(seed: int, rank: int, step: int) -> None:
    """Seed the global RNG (drop path, dropout) from (seed, rank, step): a resumed run draws the same."""
    torch.manual_seed(step_seed(seed, rank, step))


def step_generator(seed: int, rank: int, step: int, device: torch.device) -> torch.Generator:
    """Mask randomness from (seed, rank, step) only: ranks differ, a resumed run replays exactly."""
    g = torch.Generator(device=device)
    g.manual_seed(step_seed(seed, rank, step))
    return g


class PretrainModule(L.LightningModule):
    def __init__(self, model: MaskedAutoencoder, config: PretrainConfig, steps_total: int, lr: float):
        super().__init__()
        self.model, self.config = model, config
        self.steps_total, self.lr = steps_total, lr
        self.guard = NonFiniteGuard(getattr(config, "max_nonfinite_steps", 10))
        self.loss_finite: list[torch.Tensor] = []  # one flag per micro-batch of the current optimizer step
        self.stop_reason: str | None = None
        self.last_step_skipped = False

    def step_mask(self, x):
        """This rank's masks for this step, or None when the masker must draw from the tokens.

        Maskers that draw from the token grid alone draw once for the global batch from (seed, step)
        and each rank takes rows rank::world (the rows of the samples the EpochSampler gave it): ranks
        never share a mask and the run is the same whatever the number of processes. Maskers that read
        the sample (`MaskedAutoencoder.grid_mask` gives None) and dict batches draw on each rank from
        (seed, rank, step) instead.
        """
        if not torch.is_tensor(x):
            return None
        world = max(1, self.trainer.world_size)
        generator = step_generator(self.config.seed, 0, self.global_step, x.device)
        mask = self.model.grid_mask(x.shape[0] * world, generator, x.device)
        if mask is None or world == 1:
            return mask
        return select_rows(mask, slice(self.global_rank % world, None, world))

    def training_step(self, batch, batch_idx):
        x = batch[0]
        seed_step_rng(self.config.seed, self.global_rank, self.global_step)
        device = x.device if torch.is_tensor(x) else self.device  # dict batches: multi-modal samples
        generator = step_generator(self.config.seed, self.global_rank, self.global_step, device)
        out = self.model(x, generator=generator, mask=self.step_mask(x))
        self.loss_finite.append(torch.isfinite(out.loss.detach()))
        sync = self.trainer.world_size > 1  # log the global batch's loss, not rank 0's share
        self.log("loss", out.loss, prog_bar=True, on_step=True, on_epoch=False, sync_dist=sync)
        self.log("global_step", float(self.global_step), on_step=True, on_epoch=False)
        for name, value in out.terms.items():
            if name != "reconstruction":
                self.log(name, value, on_step=True, on_epoch=False, sync_dist=sync)
        return out.loss

    def on_train_batch_start(self, batch, batch_idx):
        """Tell the masker how far training is (mask-ratio schedules, HPM's easy-to-hard)."""
        set_progress = getattr(self.model.masker, "set_progress", None)
        if set_progress is not None:
            set_progress(self.global_step / max(1, self.steps_total))

    def on_before_optimizer_step(self, optimizer):
        """Skip (and count) a step whose loss or gradients are not finite; stop after too many in a row."""
        loss_finite = bool(torch.stack(self.loss_finite).all()) if self.loss_finite else True
        self.loss_finite = []
        # every rank skips together (gradients are already all-reduced; the loss flags are not)
        loss_finite = self.trainer.strategy.reduce_boolean_decision(loss_finite, all=True)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        self.last_step_skipped = not self.guard.check(self.global_step, loss_finite, params)
        if self.last_step_skipped and self.guard.exhausted:
            self.stop_reason = (f"{self.guard.in_a_row} optimizer steps in a row had a non-finite loss or "
                                f"gradients (max_nonfinite_steps={self.guard.patience}); stopped at step "
                                f"{self.global_step}")
            self.trainer.should_stop = True

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if not self.last_step_skipped:
            self.model.after_step()

    def on_save_checkpoint(self, checkpoint):
        checkpoint["anymae_guard"] = self.guard.state_dict()

    def on_load_checkpoint(self, checkpoint):
        self.guard.load_state_dict(checkpoint.get("anymae_guard", {}))

    def configure_optimizers(self):
        cfg = self.config
        optimizer = make_optimizer(self.model, self.lr, cfg.weight_decay, cfg.betas)
        warmup = int(round(cfg.warmup * self.steps_total))
        min_ratio = cfg.min_lr / self.lr if self.lr > 0 else 0.0
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, self.steps_total, warmup, min_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
