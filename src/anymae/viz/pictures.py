"""Reconstruction pictures, one function per modality (`PICTURES`), each
`(model, inputs, transform, path, seed) -> Path`: `inputs` are the picture's samples through the
modality's eval transform, stacked [B,...] (dict samples: {name: [B,...]}); `transform` undoes the
normalisation for display."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from .audio import spectrogram_picture
from .grid import colour_classes, image_grid, scale_for_view
from .points import point_reconstruction_picture
from .video import video_animation, video_strip

TITLES = ["original", "masked", "prediction", "pred + visible"]


# ---------------------------------------------------------------- shared
def picture_inputs(transform, dataset, count: int, seed: int, images=None):
    """`images` when given, else `count` samples of `dataset` drawn by `seed` through `transform`, stacked
    [count,...] (dict samples: {name: [count,...]})."""
    if images is not None:
        return images
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(dataset), generator=g)[:count].tolist()
    samples = [transform(dataset.pixels(i)) for i in idx]
    if isinstance(samples[0], dict):
        return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
    return torch.stack(samples)


def hidden_map(tokenizer, hidden_bool: Tensor) -> Tensor:
    """[B,N] -> [B,C,H,W] (the sample's shape) ones where a token is hidden."""
    ones = hidden_bool.float().unsqueeze(-1).expand(-1, -1, tokenizer.patch_dim)
    return tokenizer.unpatchify(ones)


def grey_out(picture: Tensor, hidden: Tensor) -> Tensor:
    """picture [C,H,W] in [0,1], hidden [1|C,H,W] (1 = hidden) -> hidden pixels mid-grey."""
    return picture * (1 - hidden) + 0.5 * hidden


@torch.no_grad()
def reconstruction_rows(model, images: Tensor, transform, seed: int = 0, ensemble: int = 1) -> list[list[Tensor]]:
    """images [B,C,...] normalised -> per sample, the four pictures of `TITLES` [C,...] in [0,1]; `ensemble` K > 1:
    each hidden token's prediction is the mean over K random masks that hide it (PHG-MAE, eval/ensemble.py)."""
    model.eval()
    if ensemble > 1:
        from ..ensemble import masked_ensemble
        mask, pred = masked_ensemble(model, images, ensemble, torch.Generator().manual_seed(seed))
    else:
        mask, pred = model.reconstruct(images, generator=torch.Generator().manual_seed(seed))
    tok = model.tokenizer
    hidden = mask.bool.unsqueeze(-1)
    prediction = tok.unpatchify(pred)
    pasted = tok.unpatchify(torch.where(hidden, pred, tok.patchify(images)))
    hidden_pixels = hidden_map(tok, mask.bool)
    rows = []
    for i in range(images.shape[0]):
        original = transform.invert(images[i])
        rows.append([original, grey_out(original, hidden_pixels[i]), transform.invert(prediction[i]),
                     transform.invert(pasted[i])])
    return rows


def channel_rows(truth: Tensor, hidden: Tensor, prediction: Tensor, channels: list[int], view) -> list[list[Tensor]]:
    """truth, hidden, prediction [B,C,H,W] -> per sample, for each chosen channel: original | masked | pred,
    each [1,H,W] through `view` (to [0,1])."""
    rows = []
    for i in range(truth.shape[0]):
        row = []
        for c in channels:
            original = view(truth[i, c:c + 1], c)
            row += [original, grey_out(original, hidden[i, c:c + 1]), view(prediction[i, c:c + 1], c)]
        rows.append(row)
    return rows


# ---------------------------------------------------------------- one function per modality
def image_picture(model, images: Tensor, transform, path: Path, seed: int = 0, ensemble: int = 1) -> Path:
    """images [B,C,H,W]: original | masked | prediction | prediction + visible, one row per image."""
    return image_grid(reconstruction_rows(model, images, transform, seed=seed, ensemble=ensemble), TITLES, path)


@torch.no_grad()
def multichannel_picture(model, images: Tensor, transform, path: Path, seed: int = 0, max_channels: int = 6) -> Path:
    """images [B,C,H,W] with any C: every channel on its own (grey, scaled by its range in the batch)."""
    model.eval()
    mask, pred = model.reconstruct(images, generator=torch.Generator().manual_seed(seed))
    prediction = model.tokenizer.unpatchify(pred)
    hidden = hidden_map(model.tokenizer, mask.bool)
    lo = images.amin((0, 2, 3), keepdim=True)[0]                        # [C,1,1]
    span = (images.amax((0, 2, 3), keepdim=True)[0] - lo).clamp_min(1e-6)
    view = lambda x, c: ((x - lo[c:c + 1]) / span[c:c + 1]).clamp(0, 1)
    channels = list(range(min(images.shape[1], max_channels)))
    titles = [t for c in channels for t in (f"ch{c}", f"ch{c} masked", f"ch{c} pred")]
    return image_grid(channel_rows(images, hidden, prediction, channels, view), titles, path)


@torch.no_grad()
def spectral_picture(model, images: dict, transform, path: Path, seed: int = 0, show_bands: int = 4) -> Path:
    """images {"pixels": [B,C,H,W], "bands": [B,C,2]}: `show_bands` bands spread over the spectrum, each
    original | masked | prediction on one grey scale (the batch's range)."""
    model.eval()
    mask, pred = model.reconstruct(images, generator=torch.Generator().manual_seed(seed))
    x = images["pixels"]
    prediction = model.tokenizer.unpatchify(pred)
    hidden = hidden_map(model.tokenizer, mask.bool)
    chosen = torch.linspace(0, x.shape[1] - 1, min(show_bands, x.shape[1])).round().long().tolist()
    lo, hi = float(x.min()), float(x.max())
    view = lambda t, c: scale_for_view(t, lo, hi)
    bands = images["bands"][0]
    titles = [t for c in chosen for t in (f"{int(bands[c, 0])}nm", "masked", "pred")]
    return image_grid(channel_rows(x, hidden, prediction, chosen, view), titles, path)


def modality_view(name: str, truth: Tensor, transform):
    """A display function [C,H,W] (normalised) -> [3|C,H,W] in [0,1] for modality `name`: class maps
    coloured, others un-normalised and scaled by the range of `truth` [B,C,H,W]."""
    if name == "semseg":
        return colour_classes
    shown = transform.invert(name, truth)
    lo, hi = float(shown.min()), float(shown.max())
    return lambda x: scale_for_view(transform.invert(name, x), lo, hi)


@torch.no_grad()
def multimodal_picture(model, images: dict, transform, path: Path, seed: int = 0) -> Path:
    """images {name: [B,...]}: per modality original | masked | prediction, one row per sample."""
    model.eval()
    tokens = model.tokenize(images)
    mask = model.draw_mask(tokens, torch.Generator().manual_seed(seed))
    pred = model.predict_modalities(images, mask)
    titles, columns = [], []
    for name, (s, e) in tokens.extra["spans"].items():
        hidden = hidden_map(model.tokenizer.parts[name], mask.bool[:, s:e])[:, :1]          # [B,1,H,W]
        truth = images[name]
        view = modality_view(name, truth, transform)
        columns.append([view(t) for t in truth])
        columns.append([grey_out(view(t), h) for t, h in zip(truth, hidden)])
        columns.append([view(p) for p in pred[name]])
        titles += [name, f"{name} masked", f"{name} pred"]
    rows = [[col[i] for col in columns] for i in range(len(columns[0]))]
    return image_grid(rows, titles, path)


def video_picture(model, clips: Tensor, transform, path: Path, seed: int = 0) -> Path:
    """clips [B,C,T,H,W]: a PNG strip (rows: the four panels of `TITLES` of each clip; columns: frames);
    a path ending in .gif gets an animation of the same panels instead."""
    rows = reconstruction_rows(model, clips, transform, seed=seed)
    if Path(path).suffix.lower() == ".gif":
        return video_animation(rows, TITLES, path)
    return video_strip(rows, TITLES, path)


def points_picture(model, clouds: Tensor, transform, path: Path, seed: int = 0) -> Path:
    """clouds [B,N,3]: input | visible groups | reconstruction as 3-D scatter plots."""
    return point_reconstruction_picture(model, clouds, Path(path), seed=seed)


def audio_picture(model, waves: Tensor, transform, path: Path, seed: int = 0) -> Path:
    """waves [B,S]: log-mel spectrogram | masked | reconstruction | reconstruction + visible."""
    return spectrogram_picture(model, waves, Path(path), seed=seed)


def volume_picture(model, volumes: Tensor, transform, path: Path, seed: int = 0) -> Path:
    """volumes [B,C,D,H,W]: the four panels of `TITLES`, each as axial | coronal | sagittal mid-slices."""
    from .volume import volume_grid
    return volume_grid(reconstruction_rows(model, volumes, transform, seed=seed), TITLES, path)


PICTURES = {"image": image_picture, "multichannel": multichannel_picture, "spectral": spectral_picture,
            "multimodal": multimodal_picture, "video": video_picture, "points": points_picture}
PICTURES["audio"] = audio_picture
PICTURES["volume"] = volume_picture


def skeleton_picture(model, sequences: Tensor, transform, path: Path, seed: int = 0) -> Path:
    """sequences [B,T,J,C]: stick figures of original | masked | reconstruction, a few frames each."""
    from .skeleton import stick_figure_picture
    return stick_figure_picture(model, sequences[:4], Path(path), seed=seed)


PICTURES["skeleton"] = skeleton_picture


@torch.no_grad()
def embeddings_picture(model, sequences: Tensor, transform, path: Path, seed: int = 0) -> Path:
    """sequences [B,T,D] (standardised): each as a T x D heat map (rows: segments), the four panels of `TITLES`;
    hidden segments grey."""
    model.eval()
    mask, pred = model.reconstruct(sequences, generator=torch.Generator().manual_seed(seed))
    hidden = mask.bool.unsqueeze(-1)
    pasted = torch.where(hidden, pred, sequences)
    rows = []
    for i in range(sequences.shape[0]):
        lo, hi = float(sequences[i].min()), float(sequences[i].max())
        view = lambda x: scale_for_view(x[None], lo, hi)
        original = view(sequences[i])
        rows.append([original, grey_out(original, hidden[i].float().expand_as(sequences[i])[None]), view(pred[i]),
                     view(pasted[i])])
    return image_grid(rows, TITLES, path)


PICTURES["embeddings"] = embeddings_picture


def audiovisual_picture(model, sample: dict, transform, path: Path, seed: int = 0) -> Path:
    """sample {"video", "audio"}: per clip its log-mel and its frames, original | masked | reconstruction (row 16)."""
    from .audiovisual import audiovisual_picture as draw
    return draw(model, sample, transform, Path(path), seed=seed)


PICTURES["audiovisual"] = audiovisual_picture


def image_text_picture(model, sample: dict, transform, path: Path, seed: int = 0) -> Path:
    """sample {"image", "text"}: per pair the image original | masked | predicted, and the caption, its masked
    words and the predicted words (M3AE, row 43)."""
    from .captions import image_text_picture as draw
    return draw(model, sample, transform, Path(path), seed=seed)


PICTURES["image-text"] = image_text_picture
