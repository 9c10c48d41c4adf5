"""Imputing a missing modality of a multi-modal volume (BM-MAE, row 15) with `anymae impute`: every token of the
present modalities is visible, the missing modality's are predicted; the error (MSE on the normalised voxels of
the test split) is printed beside baselines computed the same way: the training set's mean volume of that
modality, a copy of each present modality (normalised, so on the same scale), and a voxel-wise regression of the
missing intensity from the present ones fitted on the training set (the classical synthesis baseline)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..io.files import write_text
from ..masking.modality import present_mask


@dataclass
class VolumeImputeReport:
    data: str
    present: list[str]
    missing: str
    samples: int
    rows: list[tuple[str, float]] = field(default_factory=list)  # (method, MSE)
    reads_present: float | None = None  # present_dependence over the test split (0: the model ignores its input)
    paired: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # baseline -> (its MSE - the model's,
    #                                         standard error of that mean over volumes, volumes where the model wins)

    def table(self) -> str:
        width = max(len(name) for name, _ in self.rows)
        lines = [f"impute {self.missing} from {', '.join(self.present)} on {self.data}: {self.samples} test volumes, "
                 f"MSE of normalised voxels (lower is better); last column: the baseline's MSE minus the model's, "
                 f"+- its standard error over volumes (> 0: the model is better), and the volumes the model wins",
                 f"{'method':<{width}}  {'MSE':>8}  {'paired difference':>26}"]
        for name, mse in self.rows:
            diff = self.paired.get(name)
            paired = f"{diff[0]:+.4f} +- {diff[1]:.4f} ({diff[2]}/{self.samples})" if diff else ""
            lines.append(f"{name:<{width}}  {mse:>8.4f}  {paired:>26}")
        if self.reads_present is not None:
            lines.append(f"dependence on the present sequences: {self.reads_present:.3f} (0: the imputation ignores "
                         f"them, 1: it changes as much as the true {self.missing} between subjects)")
        return "\n".join(lines)


def is_volume_run(config: dict) -> bool:
    return config.get("modality") == "volume"


def modality_names(dataset, count: int) -> list[str]:
    names = getattr(dataset, "sequences", None)
    return list(names) if names and len(names) == count else [f"m{i}" for i in range(count)]


def pick(names: list[str], wanted: list[str] | None, what: str) -> list[int]:
    unknown = [w for w in wanted or [] if w not in names]
    if unknown:
        raise ValueError(f"--{what}: unknown modality {unknown}; this run's are {', '.join(names)}")
    return [names.index(w) for w in wanted or []]


def voxel_regression(train_volumes: Tensor, present: list[int], missing: int, samples: int = 50_000, seed: int = 0):
    """The classical baseline of MRI synthesis: a regression of the missing modality's intensity from the present
    modalities' intensities at the same voxel (gradient-boosted trees on `samples` training voxels).
    train_volumes [N,M,D,H,W] normalised -> a function [B,M,D,H,W] -> [B,D,H,W]."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    voxels = train_volumes.movedim(1, -1).reshape(-1, train_volumes.shape[1])  # [N*D*H*W, M]
    pick = torch.randperm(voxels.shape[0], generator=torch.Generator().manual_seed(seed))[:samples]
    fit = HistGradientBoostingRegressor(max_iter=100, random_state=seed).fit(
        voxels[pick][:, present].numpy(), voxels[pick][:, missing].numpy())

    def predict(x: Tensor) -> Tensor:
        flat = x.movedim(1, -1).reshape(-1, x.shape[1])[:, present].numpy()
        return torch.from_numpy(fit.predict(flat)).float().reshape(x.shape[0], *x.shape[2:])
    return predict


@torch.no_grad()
def impute_missing(model, x: Tensor, present: list[int], missing: int) -> Tensor:
    """x [B,M,D,H,W] normalised -> the imputed modality `missing` [B,D,H,W], from every token of `present`."""
    mask = present_mask(model.tokenizer.group, x.shape[0], present, [missing])
    tokens, pred = model.predict_every_token(x, mask)
    return model.tokenizer.unpatchify(model.target.invert(pred, tokens.values))[:, missing]


@torch.no_grad()
def present_dependence(model, x: Tensor, present: list[int], missing: int,
                       guess: Tensor | None = None) -> tuple[float, float]:
    """How much the imputation reads the present modalities: each subject's present modalities swapped for the next
    subject's (the batch rolled by one) -> (sum of squared change of the imputed volume, sum of squared change of
    the true missing modality between those subjects). Their ratio is 0 for a model that predicts one volume
    whatever it is given (the failure `docs/volumes.md` diagnosed) and about 1 for one that follows the subject."""
    if x.shape[0] < 2:
        return 0.0, 0.0
    guess = impute_missing(model, x, present, missing) if guess is None else guess
    swapped = x.clone()
    swapped[:, present] = x.roll(1, 0)[:, present]
    moved = impute_missing(model, swapped, present, missing)
    return float(((moved - guess) ** 2).sum()), float(((x.roll(1, 0)[:, missing] - x[:, missing]) ** 2).sum())


@torch.no_grad()
def impute_volumes(run: str | Path, out: str | Path, data: str | None = None, source: list[str] | None = None,
                   predict: list[str] | None = None, batch_size: int = 16, count: int | None = None,
                   progress: bool = True) -> VolumeImputeReport:
    """Impute one modality of a multi-modal volume run (a `ModalityVolumeTokenizer` recipe, e.g. bmmae_tiny)."""
    from ..config import PretrainConfig
    from ..data import MODALITIES, load_dataset
    from ..io.checkpoint import load_run
    from ..viz.volume import volume_grid
    model, raw = load_run(run)
    model.eval()
    tok = model.tokenizer
    if getattr(tok, "group", None) is None or not hasattr(tok, "modalities"):
        raise ValueError(f"{run}: recipe {raw.get('recipe')!r} has no modality tokens; impute needs a multi-modal "
                         f"volume recipe (bmmae_tiny)")
    config = PretrainConfig.from_dict(raw)
    spec = data or config.data
    modality = MODALITIES["volume"]
    size = modality.sample_size(model, config)
    transform = modality.eval_transform(model, config)
    test = load_dataset(spec, split="test", image_size=size, channels=config.channels)
    names = modality_names(test, tok.modalities)
    test = test.with_transform(transform)
    if source == ["rgb"] and "rgb" not in names:  # the command's 2-D default: every modality but the predicted one
        source = None
    missing = pick(names, predict, "predict") or [len(names) - 1]
    if len(missing) != 1:
        raise ValueError(f"--predict: name one modality to impute, got {predict}")
    present = pick(names, source, "from") or [i for i in range(len(names)) if i != missing[0]]
    if missing[0] in present:
        raise ValueError(f"--from and --predict both name {names[missing[0]]}")
    m = missing[0]
    train = load_dataset(spec, split="train", image_size=size, channels=config.channels).with_transform(transform)
    train_volumes = torch.stack([train[i][0] for i in range(len(train))])  # [N,M,D,H,W] normalised
    mean_volume = train_volumes[:, m].mean(0)  # [D,H,W]
    regression = voxel_regression(train_volumes, present, m)
    n = len(test) if count is None else min(count, len(test))
    label = "BM-MAE (bmmae) prediction" if "bmmae" in str(raw.get("recipe")) else "model prediction"
    methods = [label, "mean volume (train)", "voxel-wise regression (train)", *(f"copy {names[p]}" for p in present)]
    per_volume = {name: [] for name in methods}   # each method's MSE of every test volume
    first, dependence, imputed = None, [0.0, 0.0], []
    for start in tqdm(range(0, n, batch_size), desc="impute", disable=not progress, leave=False):
        x = torch.stack([test[i][0] for i in range(start, min(n, start + batch_size))])  # [B,M,D,H,W]
        guess = impute_missing(model, x, present, m)  # [B,D,H,W]
        truth = x[:, m]
        dependence = [a + b for a, b in zip(dependence, present_dependence(model, x, present, m, guess))]
        predictions = [guess, mean_volume.expand_as(truth), regression(x), *(x[:, p] for p in present)]
        for name, prediction in zip(methods, predictions):
            per_volume[name] += ((prediction - truth) ** 2).mean(dim=(1, 2, 3)).tolist()
        imputed.append(guess.numpy().astype(np.float32))
        if first is None:
            first = (x[:4], guess[:4])
    errors = {name: np.asarray(v) for name, v in per_volume.items()}
    rows = [(name, float(errors[name].mean())) for name in methods]
    paired = {name: paired_difference(errors[name], errors[label]) for name in methods[1:]}
    reads = dependence[0] / dependence[1] if dependence[1] > 0 else None
    report = VolumeImputeReport(spec, [names[p] for p in present], names[m], n, rows, reads, paired)
    out = Path(out)
    write_text(out / "metrics.json", json.dumps({"data": spec, "present": report.present, "missing": report.missing,
                                                 "samples": n, "mse": dict(rows),
                                                 "baseline_minus_model": {k: {"mean": d, "standard_error": se,
                                                                              "model_wins": w}
                                                                          for k, (d, se, w) in paired.items()},
                                                 "dependence_on_present": reads}, indent=2))
    x, guess = first

    def shown(v, c):  # one modality's normalised voxels [1,D,H,W] -> [0,1]
        return (v * transform.std[c] + transform.mean[c]).clamp(0, 1)

    panels = [[shown(x[i, p:p + 1], p) for p in present] + [shown(guess[i:i + 1], m), shown(x[i, m:m + 1], m)]
              for i in range(x.shape[0])]
    volume_grid(panels, [names[p] for p in present] + [f"{names[m]} imputed", f"{names[m]} true"], out / "panel.png")
    np.save(out / "imputed.npy", np.concatenate(imputed))   # every test volume's imputation [N,D,H,W]
    return report


def paired_difference(baseline: np.ndarray, model: np.ndarray) -> tuple[float, float, int]:
    """Per-volume MSEs of a baseline and of the model [N] -> (mean of baseline - model, its standard error,
    volumes where the model's error is lower)."""
    diff = baseline - model
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    return float(diff.mean()), se, int((diff > 0).sum())
