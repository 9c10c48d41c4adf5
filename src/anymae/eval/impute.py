"""Predict missing modalities from present ones (BM-MAE row 15, MultiMAE row 50): every token of the
present modalities is visible, every token of the missing ones hidden, and their decoders fill them in.
Errors against the truth when it exists: depth RMSE, segmentation mIoU, each next to a predict-the-mean
(most frequent class) baseline."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..io.files import write_bytes, write_text


@dataclass
class ImputeReport:
    samples: int
    source: list[str]
    predict: list[str]
    metrics: dict = field(default_factory=dict)   # {modality: {metric: value, "baseline": value, ...}}

    def table(self) -> str:
        lines = [f"impute {'+'.join(self.predict)} from {'+'.join(self.source)} on {self.samples} samples",
                 f"{'modality':<10}  {'metric':<6}  {'model':>8}  {'baseline':>8}  baseline is"]
        for name, m in self.metrics.items():
            lines.append(f"{name:<10}  {m['metric']:<6}  {m['model']:>8.4f}  {m['baseline']:>8.4f}  {m['baseline_is']}")
        if not self.metrics:
            lines.append("(no ground truth for the predicted modalities: no errors measured)")
        return "\n".join(lines)


class SegmentationScore:
    """Accumulates a confusion matrix; mIoU over the classes present in truth or prediction."""

    def __init__(self, classes: int):
        self.classes = classes
        self.confusion = torch.zeros(classes, classes, dtype=torch.long)

    def add(self, pred: torch.Tensor, truth: torch.Tensor) -> None:
        idx = truth.reshape(-1).long() * self.classes + pred.reshape(-1).long()
        self.confusion += torch.bincount(idx, minlength=self.classes ** 2).view(self.classes, self.classes)

    def miou(self) -> float:
        inter = self.confusion.diag().float()
        union = self.confusion.sum(0).float() + self.confusion.sum(1).float() - inter
        seen = union > 0
        return float((inter[seen] / union[seen]).mean()) if bool(seen.any()) else float("nan")


def impute_inputs(model, batch: dict, source: list[str]) -> dict:
    """The model's input: the present modalities, all-zero placeholders for the others (hidden anyway)."""
    tok = model.tokenizer
    b = next(iter(batch.values())).shape[0]
    device = next(iter(batch.values())).device
    return {n: batch[n] if n in source else tok.placeholder(n, b, device) for n in tok.names}


@torch.no_grad()
def impute_batch(model, batch: dict, source: list[str], predict: list[str], ensemble: int = 1,
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """batch {name: normalised [B,...]} -> {name: prediction in normalised units (class ids for class maps)}."""
    from ..masking.modality import present_mask
    tok = model.tokenizer
    inputs = impute_inputs(model, batch, source)
    tokens = tok(inputs)
    ids = lambda names: [tok.names.index(n) for n in names]
    if ensemble > 1:
        return impute_ensemble(model, inputs, tokens, ids(source), ids(predict), predict, ensemble, generator)
    mask = present_mask(tokens.group, tokens.batch_size, visible=ids(source), predict=ids(predict))
    pred = model.predict_modalities(inputs, mask)
    return {n: pred[n] for n in predict}


def impute_ensemble(model, inputs: dict, tokens, source_ids: list[int], predict_ids: list[int], predict: list[str],
                    k: int, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    """PHG-MAE's inference-time ensemble (row 35): k masks that each keep a random subset of the present tokens, as
    many as the model's masker keeps in training (round(N(1 - ratio)); at least one present token is hidden);
    continuous predictions averaged, class maps by per-pixel majority vote."""
    from ..masking.base import Mask
    group = tokens.group.view(1, -1).expand(tokens.batch_size, -1)
    present = torch.isin(group, torch.tensor(source_ids))
    n_present = int(present[0].sum())
    budget = int(round(group.shape[1] * (1 - getattr(model.masker, "ratio", 0.5))))
    drop = min(n_present - 1, max(1, n_present - budget))
    wanted = torch.isin(group, torch.tensor(predict_ids))
    draws = []
    for _ in range(k):
        noise = torch.rand(group.shape, generator=generator).masked_fill(~present, 2.0)  # present tokens first
        hide_present = torch.zeros_like(present).scatter(1, noise.argsort(1)[:, :drop], True)
        mask = Mask.from_bool(~present | hide_present)
        pick = wanted.gather(1, mask.hidden)
        order = torch.sort((~pick).to(torch.int8), dim=1, stable=True).indices[:, :int(pick[0].sum())]
        draws.append(model.predict_modalities(inputs, mask.with_predict(mask.hidden.gather(1, order))))
    out = {}
    for name in predict:
        stacked = torch.stack([d[name] for d in draws])
        out[name] = stacked.mode(0).values if not stacked.is_floating_point() else stacked.mean(0)
    return out


def most_frequent_class(dataset, classes: int) -> int:
    counts = torch.bincount(dataset.arrays["semseg"].reshape(-1).long(), minlength=classes)
    return int(counts.argmax())


def load_impute_data(config, model, input_dir: str | None, data: str | None, source: list[str]):
    """The samples to impute: a folder (one sub-folder per modality, or plain images = the source
    modality) or a data set name (its test split when it has one)."""
    from ..data import load_dataset
    from ..data.folder import list_images, load_image_folder
    from ..data.multimodal import DictDataset, load_modality_folder, modality_folders
    size = model.tokenizer.image_size
    if input_dir:
        root = Path(input_dir)
        if not root.is_dir():
            raise ValueError(f"{root}: --input must be a folder")
        found = modality_folders(root)
        if found is not None and set(found) & set(model.tokenizer.names):
            return load_modality_folder(root, size, names=model.tokenizer.names)
        if len(source) != 1 or source[0] != "rgb":
            raise ValueError(f"{root}: a folder of plain images gives only rgb; for --from {','.join(source)} "
                             f"lay it out as one sub-folder per modality (rgb/, depth/, ...) with matching names")
        images = load_image_folder(root, tuple(size), 3)
        out = DictDataset({"rgb": images.images}, None, name=str(root))
        out.files = [p.relative_to(root).with_suffix("").as_posix().replace("/", "_") for p in list_images(root)
                     if str(p) not in images.skipped]
        return out
    spec = data or config.data
    try:
        return load_dataset(spec, split="test", image_size=size)
    except ValueError:
        return load_dataset(spec, split="train", image_size=size)


def panel(rows: list[list[torch.Tensor]], titles: list[str], path: Path) -> Path:
    from ..viz.grid import image_grid
    return image_grid(rows, titles, path)


def impute(run: str | Path, out: str | Path | None = None, input_dir: str | None = None, data: str | None = None,
           source: list[str] | None = None, predict: list[str] | None = None, batch_size: int = 64,
           count: int | None = None, panel_rows: int = 8, progress: bool = True, ensemble: int = 1) -> ImputeReport:
    """Predict `predict` from `source` for every sample; write arrays, panel.png and metrics.json into `out`."""
    from ..data import MODALITIES, load_dataset
    from ..viz.grid import colour_classes
    from ..io.checkpoint import load_run
    from ..tokenizers.multimodal import MultiModalTokenizer
    from ..config import PretrainConfig
    run = Path(run)
    model, raw = load_run(run)
    config = PretrainConfig.from_dict(raw)
    tok = model.tokenizer
    if not isinstance(tok, MultiModalTokenizer):
        raise ValueError(f"{run}: recipe {config.recipe!r} is not multi-modal; impute needs one (e.g. multimae_tiny)")
    source = source or ["rgb"]
    predict = predict or [n for n in tok.names if n not in source]
    for name in source + predict:
        if name not in tok.names:
            raise ValueError(f"unknown modality {name!r}; this model knows {tok.names}")
    if set(source) & set(predict):
        raise ValueError(f"--from and --predict overlap: {sorted(set(source) & set(predict))}")
    if not predict:
        raise ValueError("nothing to predict: every modality of the model is given in --from")
    out = Path(out) if out else run / "impute"
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_impute_data(config, model, input_dir, data, source)
    missing = [n for n in source if n not in dataset.names]
    if missing:
        raise ValueError(f"{dataset.name}: has no {missing} to predict from (it holds {dataset.names})")
    transform = MODALITIES["multimodal"].eval_transform(model, config)
    n = len(dataset) if count is None else min(count, len(dataset))
    names = dataset.files if dataset.files is not None else [f"{i:05d}" for i in range(len(dataset))]
    truth_names = [p for p in predict if p in dataset.names]
    depth_sq = {p: [0.0, 0.0, 0] for p in truth_names if p != "semseg"}   # model, baseline, pixels
    seg = {}
    if "semseg" in truth_names:
        classes = model.target.parts["semseg"].classes
        seg = {"model": SegmentationScore(classes), "baseline": SegmentationScore(classes)}
        try:
            majority = most_frequent_class(load_dataset(config.data, split="train", image_size=tok.image_size), classes)
        except (ValueError, KeyError):
            majority = 0
    rows = []
    model.eval()
    if ensemble < 1:
        raise ValueError(f"--ensemble must be >= 1, got {ensemble}")
    generator = torch.Generator().manual_seed(0)
    for start in tqdm(range(0, n, batch_size), desc="impute", disable=not progress):
        idx = list(range(start, min(n, start + batch_size)))
        samples = [transform(dataset.pixels(i)) for i in idx]
        batch = {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
        pred = impute_batch(model, batch, source, predict, ensemble, generator)
        for name, value in pred.items():
            value = value if name == "semseg" else transform.invert(name, value)
            for j, i in enumerate(idx):
                arr = value[j, 0].numpy() if value.shape[1] == 1 else value[j].numpy()
                buffer = _npy_bytes(arr.astype(np.int16 if name == "semseg" else np.float32))
                write_bytes(out / name / f"{names[i]}.npy", buffer)
            if name in depth_sq:
                truth = transform.invert(name, batch[name])
                mean = torch.tensor(config.mean[name]).view(1, -1, 1, 1)
                depth_sq[name][0] += float(((value - truth) ** 2).sum())
                depth_sq[name][1] += float(((mean - truth) ** 2).sum())
                depth_sq[name][2] += truth.numel()
            if name == "semseg" and seg:
                seg["model"].add(value, batch["semseg"])
                seg["baseline"].add(torch.full_like(batch["semseg"], majority), batch["semseg"])
        for j in range(len(idx)):
            if len(rows) >= panel_rows:
                break
            rgb = transform.invert(source[0], batch[source[0]][j]) if source[0] != "semseg" else None
            row = [(rgb.clamp(0, 1) if rgb.shape[0] == 3 else _grey(rgb))]
            for name in predict:
                p = pred[name][j] if name == "semseg" else transform.invert(name, pred[name][j])
                t = None
                if name in truth_names:
                    t = batch[name][j] if name == "semseg" else transform.invert(name, batch[name][j])
                if name == "semseg":
                    show = colour_classes
                else:  # prediction and truth on one grey scale: the truth's range (the prediction's without one)
                    ref = t if t is not None else p
                    show = (lambda x, lo=float(ref.min()), hi=float(ref.max()):
                            ((x[:1] - lo) / max(hi - lo, 1e-6)).clamp(0, 1))
                row.append(show(p))
                if t is not None:
                    row.append(show(t))
            rows.append(row)
    titles = [f"input {source[0]}"]
    for name in predict:
        titles += [f"{name} pred"] + ([f"{name} truth"] if name in truth_names else [])
    panel(rows, titles, out / "panel.png")
    report = ImputeReport(samples=n, source=source, predict=predict)
    for name, (sq, base, count_px) in depth_sq.items():
        report.metrics[name] = {"metric": "RMSE", "model": (sq / count_px) ** 0.5, "baseline": (base / count_px) ** 0.5,
                                "baseline_is": "training-set mean"}
    if seg:
        report.metrics["semseg"] = {"metric": "mIoU", "model": seg["model"].miou(), "baseline": seg["baseline"].miou(),
                                    "baseline_is": f"most frequent class ({majority})"}
    write_text(out / "metrics.json", json.dumps({"run": str(run), "data": input_dir or data or config.data,
                                                 **report.__dict__}, indent=2))
    return report


def _grey(x: torch.Tensor) -> torch.Tensor:
    """[1,H,W] (any range) -> [1,H,W] in [0,1] by its own min and max, for display."""
    x = x[:1]
    return ((x - x.min()) / (x.max() - x.min()).clamp_min(1e-6)).clamp(0, 1)


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io
    buffer = io.BytesIO()
    np.save(buffer, arr, allow_pickle=False)
    return buffer.getvalue()
