"""What `anymae serve` computes, with no web framework in it: the run folders it offers, an upload or a
built-in sample turned into the run's model input, and one reconstruction under a chosen masker, ratio
and seed -> panels (original | masked | prediction | prediction + visible | per-patch error) and the
per-patch errors.

Every bad input raises `ServeError(status, message)`; the web layer (`serve/app.py`) answers it as JSON.
"""
from __future__ import annotations

import base64
import csv
import functools
import inspect
import io
import json
import math
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

MAX_UPLOAD_MB = 10.0  # default size limit of one upload (`anymae serve --max-upload-mb`)
PANEL_TITLES = ["original", "masked", "prediction", "pred + visible", "error per patch"]
UPLOAD_SUFFIXES = {"image": ".png", "video": ".mp4", "points": ".npy"}


class ServeError(ValueError):
    """A request the server refuses: `status` (4xx) and a one-line message for the page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- run folders
@dataclass
class RunEntry:
    """One run folder the server offers; the model is loaded on first use and kept."""

    id: str
    path: Path
    config: dict | None = None
    error: str | None = None
    model: object = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def summary(self) -> dict:
        from .generation import recipe_kind
        config = self.config or {}
        return {"id": self.id, "path": str(self.path), "recipe": config.get("recipe"),
                "modality": config.get("modality", "image") if self.config else None, "data": config.get("data"),
                "steps": (config.get("summary") or {}).get("steps"), "error": self.error,
                "generator": recipe_kind(self.config) == "generator",
                "files": [name for name in ("metrics.csv", "probe.json", "reconstructions.png")
                          if (self.path / name).is_file()]}


def find_runs(paths: list[str | Path] | None, root: str | Path = "runs") -> list[Path]:
    """Run folders to offer: each given folder holding a config.yaml, or the run folders directly inside a
    given folder (`anymae serve runs`); none given: those inside `root`. A given path that is not there is
    an error; a given folder with no run in it is offered as it is (the page shows why it cannot load)."""
    found: list[Path] = []
    for given in paths or []:
        path = Path(given)
        if not path.exists():
            raise ValueError(f"{path}: no such run folder")
        children = [] if (path / "config.yaml").is_file() or not path.is_dir() else \
            sorted(p for p in path.iterdir() if (p / "config.yaml").is_file())
        found += children or [path]
    if not paths:
        base = Path(root)
        found = sorted(p for p in base.iterdir() if (p / "config.yaml").is_file()) if base.is_dir() else []
    return found


class Runs:
    """The run folders of one server, by id (the folder name, made unique)."""

    def __init__(self, folders: list[Path]):
        self.entries: dict[str, RunEntry] = {}
        for folder in folders:
            base, n = folder.name or "run", 1
            rid = base
            while rid in self.entries:
                n += 1
                rid = f"{base}-{n}"
            entry = RunEntry(rid, folder)
            try:
                from ..io.checkpoint import read_config
                entry.config = read_config(folder / "config.yaml")
            except ValueError as err:
                entry.error = str(err)
            self.entries[rid] = entry

    def list(self) -> list[dict]:
        return [e.summary() for e in self.entries.values()]

    def get(self, run_id: str | None) -> RunEntry:
        if not self.entries:
            raise ServeError(404, "no run folders: start `anymae serve RUN` with a run folder (see `anymae pretrain`)")
        if run_id in (None, ""):
            return next(iter(self.entries.values()))
        if run_id not in self.entries:
            raise ServeError(404, f"unknown run {run_id!r}; known: {', '.join(self.entries)}")
        return self.entries[run_id]

    def load(self, run_id: str | None):
        """-> (entry, model, PretrainConfig); a run that does not load is a 422 naming the reason."""
        entry = self.get(run_id)
        from .generation import recipe_kind
        if recipe_kind(entry.config):
            raise ServeError(422, f"run {entry.id} is a {recipe_kind(entry.config)} run of masked generation, not a "
                                  "masked autoencoder: its page is the generate panel (POST /api/generate)")
        model = self.model(entry.id)
        from ..config import PretrainConfig
        return entry, model, PretrainConfig.from_dict(entry.config)

    def model(self, run_id: str | None):
        """The run's model, loaded on first use and kept; a run that does not load is a 422 naming the reason."""
        entry = self.get(run_id)
        with entry.lock:
            if entry.model is None:
                if entry.error:
                    raise ServeError(422, f"run {entry.id} does not load: {entry.error}")
                from ..io.checkpoint import load_run
                try:
                    entry.model, _ = load_run(entry.path)
                except Exception as err:  # a broken run folder must not stop the server
                    entry.error = f"{type(err).__name__}: {err}" if not isinstance(err, ValueError) else str(err)
                    raise ServeError(422, f"run {entry.id} does not load: {entry.error}") from None
        return entry.model

    def info(self, run_id: str | None) -> dict:
        """The run tab: config, the loss curve of metrics.csv, the probe table of probe.json."""
        import yaml
        entry = self.get(run_id)
        out = {**entry.summary(), "config": yaml.safe_dump(entry.config, sort_keys=False) if entry.config else None,
               "curve": read_curve(entry.path / "metrics.csv"), "probe": None}
        probe = entry.path / "probe.json"
        if probe.is_file():
            try:
                out["probe"] = json.loads(probe.read_text()).get("results")
            except (json.JSONDecodeError, AttributeError) as err:
                out["probe_error"] = f"{probe}: not a probe table ({err})"
        return out


def read_curve(path: Path, max_points: int = 400) -> dict | None:
    """metrics.csv -> {"step": [...], "loss": [...]} (at most `max_points`, evenly thinned), or None."""
    if not path.is_file():
        return None
    steps, losses = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                step, loss = int(float(row.get("step") or row.get("global_step"))), float(row["loss"])
            except (TypeError, ValueError, KeyError):
                continue
            if math.isfinite(loss):
                steps.append(step)
                losses.append(loss)
    if len(steps) > max_points:
        keep = np.linspace(0, len(steps) - 1, max_points).round().astype(int)
        steps, losses = [steps[i] for i in keep], [losses[i] for i in keep]
    return {"step": steps, "loss": losses}


# ---------------------------------------------------------------- maskers
def masker_catalogue() -> list[dict]:
    """Every registered masker with its constructor arguments (name, default) for the page's form."""
    from ..masking import MASKERS
    out = []
    for name in sorted(MASKERS):
        cls = MASKERS[name]
        params = inspect.signature(cls.__init__).parameters
        args = [{"name": p.name, "default": p.default if isinstance(p.default, (int, float, str, bool)) else None,
                 "type": type(p.default).__name__ if p.default is not inspect.Parameter.empty else "str"}
                for p in params.values() if p.name not in ("self", "ratio") and p.kind is p.POSITIONAL_OR_KEYWORD]
        doc = " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split())
        out.append({"name": name, "doc": doc, "args": args})
    return out


def parse_masker_args(text: str | None) -> dict:
    """'{"color": "blue"}' (JSON) or 'color=blue, bank=8' -> {"color": "blue", "bank": 8}."""
    if not text or not text.strip():
        return {}
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise ServeError(400, f"masker_args: not valid JSON ({err})") from None
        if not isinstance(value, dict):
            raise ServeError(400, "masker_args: expected an object of name: value")
        return value
    import yaml
    out = {}
    for item in text.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise ServeError(400, f"masker_args: expected key=value, got {item.strip()!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value.strip()
    return out


def make_request_masker(name: str, ratio: float, args: dict, tokenizer):
    """The masker a request asks for, built fresh (the run's own is never changed); 400 when unknown or
    when its arguments do not fit."""
    from ..masking import MASKERS, make_masker, num_visible
    if name not in MASKERS:
        raise ServeError(400, f"unknown masker {name!r}; known: {', '.join(sorted(MASKERS))}")
    check_ratio(ratio)
    try:
        num_visible(4, ratio)
        masker = make_masker(name, ratio, **args)
        masker.bind(tokenizer)
    except (TypeError, ValueError) as err:
        raise ServeError(400, f"masker {name!r}: {err}") from None
    return masker


def own_masker(model, ratio: float):
    """(name, a copy of the run's own masker at `ratio`): its trained arguments and the terms it reads in the
    model (HPM's loss predictor) stay; a ratio schedule is dropped so the chosen ratio holds."""
    import copy
    masker = copy.deepcopy(model.masker)
    masker.schedule = None
    if hasattr(masker, "ratio"):
        masker.ratio = ratio
    return getattr(type(masker), "registered_name", type(masker).__name__), masker


def check_ratio(ratio) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio) \
            or not 0.0 < ratio < 1.0:
        raise ServeError(422, f"ratio must be a number strictly between 0 and 1, got {ratio!r}")
    return float(ratio)


# ---------------------------------------------------------------- inputs
KIND = {"image": "image", "video": "video", "points": "point cloud", "multimodal": "image (its rgb)"}


def check_upload(data: bytes, filename: str, max_bytes: int) -> None:
    if len(data) == 0:
        raise ServeError(400, f"{filename or 'upload'}: the file is empty")
    if len(data) > max_bytes:
        raise ServeError(413, f"{filename or 'upload'}: {len(data) / 2**20:.1f} MB is above the upload limit of "
                              f"{max_bytes / 2**20:g} MB (anymae serve --max-upload-mb)")


def decode_upload(data: bytes, filename: str, modality: str, model, config):
    """Bytes of an uploaded file -> the modality's raw sample (what its data set's `pixels(i)` gives);
    a multi-modal run takes an image as its rgb, the other modalities from its first built-in sample."""
    if modality not in KIND:
        raise ServeError(422, f"uploads are read for image, video, point-cloud and multi-modal runs; this run is "
                              f"{modality}: pick a built-in sample")
    suffix = Path(filename or "").suffix.lower() or UPLOAD_SUFFIXES.get(modality, ".png")
    with tempfile.TemporaryDirectory(prefix="anymae-serve-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            if modality in ("image", "multimodal"):
                from ..data.folder import read_image
                raw = builtin_raw(model, config, 0) if modality == "multimodal" else None
                channels = raw["rgb"].shape[0] if raw is not None else model.tokenizer.channels
                pixels = torch.from_numpy(read_image(path, channels)).float()
                if raw is None:
                    return pixels
                from ..data.transforms import resize
                rgb = resize(pixels, tuple(raw["rgb"].shape[-2:]))
                return {**raw, "rgb": (rgb * 255).round().to(raw["rgb"].dtype) if raw["rgb"].dtype == torch.uint8
                        else rgb}
            if modality == "video":
                from ..data.video import read_video
                return read_video(path, config.channels or 3)
            from ..data.points import read_points
            return torch.from_numpy(read_points(path)).float()
        except ServeError:
            raise
        except ValueError as err:
            message = str(err).replace(f"{path}: ", "").replace(str(path), filename or "upload")
            kind = KIND[modality]
            article = "an" if kind[0] in "aeiou" else "a"
            raise ServeError(415, f"{filename or 'upload'}: not {article} {kind} this run reads ({message})") from None


def stack(samples: list):
    if isinstance(samples[0], dict):
        return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
    return torch.stack(samples)


def builtin_raw(model, config, index: int):
    """Raw sample `index` of the run's data (its test split when there is one)."""
    from ..data import MODALITIES
    size = MODALITIES[config.modality].sample_size(model, config)
    size = tuple(size) if isinstance(size, list) else size
    try:
        dataset = run_dataset(config.data, size, config.channels)
    except ValueError as err:
        raise ServeError(422, f"the run's data {config.data!r} cannot be read here: {err}") from None
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(dataset):
        raise ServeError(422, f"sample must be a whole number in 0..{len(dataset) - 1}, got {index!r}")
    return dataset.pixels(index)


@functools.lru_cache(maxsize=8)
def run_dataset(data: str, size, channels):
    """A run's data set, read once per server: the test split when there is one, else the train split."""
    from ..data import load_dataset
    try:
        return load_dataset(data, split="test", image_size=size, channels=channels)
    except ValueError:
        return load_dataset(data, split="train", image_size=size, channels=channels)


# ---------------------------------------------------------------- one reconstruction
def png_data(picture: torch.Tensor | np.ndarray, scale: int = 1) -> str:
    """[C,H,W] in [0,1] (or HxWx3 uint8) -> a data: URL of a PNG, upscaled `scale` times (nearest)."""
    from ..viz.grid import to_uint8
    array = to_uint8(picture) if isinstance(picture, torch.Tensor) else picture
    img = Image.fromarray(array)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def heat(values: np.ndarray, top: float) -> np.ndarray:
    """[...] errors -> [...,3] uint8 colours (dark blue low, yellow high; matplotlib's viridis)."""
    from matplotlib import colormaps
    return (colormaps["viridis"](np.clip(values / max(top, 1e-12), 0, 1))[..., :3] * 255).round().astype(np.uint8)


def draw_mask(model, masker, x, generator):
    """(input the encoder sees, Mask) for one request's masker: content-reading maskers get the run's scores,
    corrupting ones (SimMIM-style) corrupt the input."""
    if masker.corrupts_input:
        return masker.corrupt(x, generator)
    tokens = model.tokenize(x)
    try:
        scores = masker.scorer(model, tokens) if masker.reads_scores else None
        return x, (masker(tokens, generator, scores=scores) if scores is not None else masker(tokens, generator))
    except (ValueError, TypeError, RuntimeError, IndexError, AttributeError) as err:
        raise ServeError(422, f"masker {type(masker).__name__} does not fit this run's tokens "
                              f"(grid {tuple(tokens.grid)}): {err}") from None


def spatial_grid(tokenizer, n: int) -> tuple[int, ...]:
    grid = tuple(getattr(tokenizer, "grid", ()) or ())
    return grid if grid and math.prod(grid) == n else (n,)


@torch.no_grad()
def reconstruct_images(model, transform, x: torch.Tensor, masker, seed: int, scale: int) -> dict:
    """Image and video runs: x [1,C,H,W] or [1,C,T,H,W] normalised -> panels and per-patch errors."""
    g = torch.Generator().manual_seed(seed)
    x_in, mask = draw_mask(model, masker, x, g)
    try:
        mask, pred = model.reconstruct(x_in, mask=mask)
    except (ValueError, RuntimeError, IndexError) as err:
        raise ServeError(422, f"this run cannot reconstruct under masker {type(masker).__name__}: {err}") from None
    tok = model.tokenizer
    values = tok.patchify(x)                                               # [1,N,P]
    errors = ((pred - values) ** 2).mean(-1)[0]                            # [N]
    hidden = mask.bool[0]
    error_map = tok.unpatchify(errors[None, :, None].expand(-1, -1, values.shape[-1]))[0, :1]  # [1,...]
    from ..viz.pictures import grey_out, hidden_map
    original = transform.invert(x[0])
    shown_input = transform.invert(x_in[0]) if x_in is not x else original
    masked = grey_out(shown_input, hidden_map(tok, mask.bool)[0])
    prediction = transform.invert(tok.unpatchify(pred)[0])
    pasted = transform.invert(tok.unpatchify(torch.where(mask.bool.unsqueeze(-1), pred, values))[0])
    top = float(errors.max())
    heat_map = torch.from_numpy(heat(error_map[0].numpy(), top)).float().div(255).movedim(-1, 0)  # [3,...]
    pictures = [original, masked, prediction, pasted, heat_map]
    grid = spatial_grid(tok, errors.numel())
    out = {"grid": list(grid), "hidden": hidden.reshape(grid).int().tolist(),
           "errors": errors.reshape(grid).tolist(), "error_max": top,
           "mean_error_hidden": float(errors[hidden].mean()) if hidden.any() else None,
           "mean_error_visible": float(errors[~hidden].mean()) if (~hidden).any() else None,
           "num_hidden": int(hidden.sum()), "num_tokens": int(hidden.numel())}
    if original.ndim == 4:  # video [C,T,H,W]: one strip of frames per panel
        out["frames"] = int(original.shape[1])
        out["panels"] = [{"title": t, "frames": [png_data(p[:, f], scale) for f in range(p.shape[1])]}
                         for t, p in zip(PANEL_TITLES, pictures)]
        out["picture"] = strip_png(pictures)
    else:
        out["panels"] = [{"title": t, "png": png_data(p, scale)} for t, p in zip(PANEL_TITLES, pictures)]
        out["picture"] = row_png(pictures)
    return out


def row_png(pictures: list[torch.Tensor], cell: int = 128) -> bytes:
    """The panels side by side with their titles: one PNG (the API's `format=png` answer)."""
    path = io.BytesIO()
    from ..viz.grid import image_grid
    with tempfile.TemporaryDirectory(prefix="anymae-serve-") as tmp:
        image_grid([pictures], PANEL_TITLES, Path(tmp) / "row.png", cell=cell)
        path.write((Path(tmp) / "row.png").read_bytes())
    return path.getvalue()


def strip_png(pictures: list[torch.Tensor]) -> bytes:
    """Video panels [C,T,H,W]: panels down, frames across (viz.video.video_strip)."""
    from ..viz.video import video_strip
    with tempfile.TemporaryDirectory(prefix="anymae-serve-") as tmp:
        video_strip([pictures], PANEL_TITLES, Path(tmp) / "strip.png")
        return (Path(tmp) / "strip.png").read_bytes()


@torch.no_grad()
def reconstruct_points(model, clouds: torch.Tensor, masker, seed: int) -> dict:
    """Point-cloud runs: clouds [1,N,3] -> the input, the visible groups and the predicted hidden groups as
    point lists for the page's 3-D view, and the per-group Chamfer-free squared error."""
    g = torch.Generator().manual_seed(seed)
    tok = model.tokenizer
    tokens = model.tokenize(clouds)
    _, mask = draw_mask(model, masker, clouds, g)
    mask, pred = model.reconstruct(clouds, mask=mask)
    keep, hidden = mask.keep[0], mask.hidden[0]
    centres = tokens.coords
    visible = tok.unpatchify(tokens.values[:, keep], centres[:, keep])[0]
    predicted = tok.unpatchify(pred[:, hidden], centres[:, hidden])[0]
    truth = tok.unpatchify(tokens.values[:, hidden], centres[:, hidden])[0]
    errors = ((pred - tokens.values) ** 2).mean(-1)[0]  # per group, the value space (points in group order)
    rounded = lambda p: np.round(p.detach().cpu().numpy(), 4).tolist()
    return {"points": {"input": rounded(clouds[0]), "visible": rounded(visible), "predicted": rounded(predicted),
                       "hidden_truth": rounded(truth)},
            "grid": [int(errors.numel())], "hidden": mask.bool[0].int().tolist(), "errors": errors.tolist(),
            "error_max": float(errors.max()), "num_hidden": int(mask.bool[0].sum()), "num_tokens": int(errors.numel()),
            "mean_error_hidden": float(errors[mask.bool[0]].mean()),
            "mean_error_visible": float(errors[~mask.bool[0]].mean())}


@torch.no_grad()
def reconstruct_modalities(model, transform, sample: dict, masker, seed: int, hide: list[str], scale: int) -> dict:
    """Multi-modal runs: one row per modality (original | masked | prediction | error per pixel: squared
    error, or wrong class for class maps); every
    token of the modalities in `hide` is hidden (imputation), the others are masked by `masker`."""
    from ..masking import Mask
    from ..viz.pictures import grey_out, hidden_map, modality_view
    g = torch.Generator().manual_seed(seed)
    tokens = model.tokenize(sample)
    spans = tokens.extra["spans"]
    unknown = [h for h in hide if h not in spans]
    if unknown:
        raise ServeError(400, f"hide: unknown modality {', '.join(unknown)}; this run has {', '.join(spans)}")
    if len(hide) >= len(spans):
        raise ServeError(422, "hide: at least one modality must stay visible")
    _, drawn = draw_mask(model, masker, sample, g)
    hidden = drawn.bool.clone()
    for name in hide:
        s, e = spans[name]
        hidden[:, s:e] = True
    if bool(hidden.all()):
        raise ServeError(422, "every token is hidden; lower the ratio or show a modality")
    mask = Mask.from_bool(hidden)
    pred = model.predict_modalities(sample, mask)
    rows = []
    for name, (s, e) in spans.items():
        part = model.tokenizer.parts[name]
        hid = hidden_map(part, mask.bool[:, s:e])[0, :1]
        truth = sample[name]
        view = modality_view(name, truth, transform)
        shown = view(truth[0])
        p = pred[name][0]
        p = p.reshape(truth[0].shape) if p.numel() == truth[0].numel() else p  # class maps: [1,H,W] -> [H,W]
        err = None
        if p.shape == truth[0].shape and not truth.is_floating_point():  # class maps: wrong pixels
            err = (p != truth[0]).float().reshape(-1, *truth.shape[-2:]).mean(0)
        elif p.shape == truth[0].shape:  # squared error per pixel, averaged over channels
            err = ((p.float() - truth[0].float()) ** 2).reshape(-1, *truth.shape[-2:]).mean(0)
        row = {"name": name, "hidden_all": name in hide, "num_hidden": int(mask.bool[0, s:e].sum()), "num_tokens": e - s,
               "panels": [{"title": f"{name}", "png": png_data(shown, scale)},
                          {"title": f"{name} masked", "png": png_data(grey_out(shown, hid), scale)},
                          {"title": f"{name} prediction", "png": png_data(view(p), scale)}]}
        if err is not None:
            e_map = err.numpy()
            row["panels"].append({"title": f"{name} error", "png": png_data(heat(e_map, float(e_map.max())), scale)})
            row["mean_error"] = float(err.mean())
        rows.append(row)
    return {"rows": rows, "modalities": list(spans), "hidden": mask.bool[0].int().tolist()}


@torch.no_grad()
def reconstruct_other(model, config, transform, x, masker, seed: int, lock: threading.Lock) -> dict:
    """Modalities without a page of their own (multi-channel, spectral): the modality's reconstruction
    picture of `anymae reconstruct`, drawn with the request's masker in place of the run's."""
    from ..viz.pictures import PICTURES
    draw = PICTURES.get(config.modality)
    if draw is None:
        raise ServeError(422, f"no picture for {config.modality} runs")
    with lock, tempfile.TemporaryDirectory(prefix="anymae-serve-") as tmp:
        own = model.masker
        model._modules["masker"] = masker  # swapped back below; the lock keeps other requests out
        try:
            path = draw(model, x, transform, Path(tmp) / "picture.png", seed=seed)
        finally:
            model._modules["masker"] = own
        data = path.read_bytes()
    return {"picture": data, "panels": [{"title": config.modality, "png": "data:image/png;base64," +
                                         base64.b64encode(data).decode()}]}


def reconstruct(runs: Runs, run_id: str | None, masker_name: str | None, ratio, seed: int, masker_args: dict,
                upload: tuple[bytes, str] | None, sample: int | None, hide: list[str], max_bytes: int,
                scale: int = 4) -> dict:
    """One request of `POST /api/reconstruct` -> JSON-ready dict (`picture`: PNG bytes, popped by the caller)."""
    from ..data import MODALITIES
    entry, model, config = runs.load(run_id)
    ratio = check_ratio(ratio)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ServeError(422, f"seed must be a whole number >= 0, got {seed!r}")
    if not getattr(model.target, "pixel_space", True):
        raise ServeError(422, f"run {entry.id}: its target ({type(model.target).__name__}) does not predict "
                              "pixels; `anymae decode RUN` trains a pixel decoder for it")
    if masker_name:
        name, masker = masker_name, make_request_masker(masker_name, ratio, masker_args, model.tokenizer)
    else:
        name, masker = own_masker(model, ratio)
    modality = config.modality
    transform = MODALITIES[modality].eval_transform(model, config)
    if upload is not None:
        check_upload(upload[0], upload[1], max_bytes)
        raw = decode_upload(upload[0], upload[1], modality, model, config)
    else:
        raw = builtin_raw(model, config, 0 if sample is None else sample)
    x = stack([transform(raw)])
    if modality in ("image", "video"):
        out = reconstruct_images(model, transform, x, masker, seed, scale if modality == "image" else 2)
    elif modality == "points":
        out = reconstruct_points(model, x, masker, seed)
    elif modality == "multimodal":
        out = reconstruct_modalities(model, transform, x, masker, seed, hide, scale)
    else:
        out = reconstruct_other(model, config, transform, x, masker, seed, entry.lock)
    return {"run": entry.id, "modality": modality, "masker": name, "ratio": ratio, "seed": seed,
            "masker_args": masker_args, **out}
