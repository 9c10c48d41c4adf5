"""Data: built-in sets and folders of user files, and their transforms."""
from __future__ import annotations

import inspect
from pathlib import Path

from ..registry import Registry
from .builtin import BUILTIN, builtin
from .datasets import TensorImageDataset, stratified_split
from .folder import IMAGE_SUFFIXES, load_image_folder
from .image import ImageModality, channel_stats
from .modality import MODALITIES, Modality, modality_of, register_modality
from .points import POINT_SUFFIXES, PointCloudDataset, PointsModality, load_point_folder, read_points
from .transforms import EvalTransform, PretrainTransform, sample_generator


FOLDER_LOADERS = Registry("folder loader")  # loader name -> (suffixes, loader, accepts)


def register_folder_loader(suffixes, loader, accepts=None) -> None:
    """`loader(root, image_size, channels, split) -> Dataset` for folders holding files with these suffixes.

    `accepts(path) -> bool`, when given, looks inside one file to tell formats that share a suffix
    apart (`.npy` point clouds [N,3|6] vs multi-channel arrays [C,H,W])."""
    FOLDER_LOADERS.register(loader.__name__, (frozenset(s.lower() for s in suffixes), loader, accepts))


from .video import VIDEO_SUFFIXES, TensorVideoDataset, VideoModality, load_video_folder  # noqa: E402

register_folder_loader(VIDEO_SUFFIXES, load_video_folder)


def _is_point_array(path: Path) -> bool:
    """A .npy of shape [N,3] or [N,6] is a point cloud; a .txt one whose first line is numbers (else it is
    text); other suffixes are point formats anyway."""
    if path.suffix.lower() == ".txt":
        return _numeric_first_line(path)
    if path.suffix.lower() != ".npy":
        return True
    try:
        import numpy as np
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return True  # unreadable: let the loader name the file
    return arr.ndim == 2 and arr.shape[1] in (3, 6)


def _numeric_first_line(path: Path) -> bool:
    try:
        head = path.read_bytes()[:4096].decode("utf-8", "replace")
    except OSError:
        return True
    line = next((t for t in head.splitlines() if t.strip() and not t.lstrip().startswith("#")), "")
    try:
        [float(v) for v in line.replace(",", " ").split()]
    except ValueError:
        return False
    return bool(line.strip())


register_folder_loader(POINT_SUFFIXES, load_point_folder, accepts=_is_point_array)


def folder_loader(root: Path):
    """The loader whose suffixes match most files under `root` (images when nothing else matches, or
    when image files outnumber them: a folder of PNGs with one .gif stays an image folder)."""
    counts: dict[str, int] = {}
    sample: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            counts[p.suffix.lower()] = counts.get(p.suffix.lower(), 0) + 1
            sample.setdefault(p.suffix.lower(), p)
    best, best_count = load_image_folder, 0
    for suffixes, loader, accepts in FOLDER_LOADERS.values():
        n = sum(counts.get(s, 0) for s in suffixes)
        if accepts is not None and n and not all(accepts(sample[s]) for s in suffixes if s in sample):
            continue
        if n > best_count:
            best, best_count = loader, n
    if best_count < sum(counts.get(s, 0) for s in IMAGE_SUFFIXES):
        return load_image_folder
    return best


from .arrays import ARRAY_SUFFIXES, MultiChannelDataset, load_array_folder  # noqa: E402  (beyond RGB)
from . import channels, multimodal, spectral  # noqa: E402,F401  (register their built-ins and modalities)
from .multimodal import DictDataset, load_modality_folder  # noqa: E402
from .defects import is_mvtec_folder, load_mvtec_folder  # noqa: E402  (anomaly data: textures-defects, MVTec)

from .volume import VOLUME_SUFFIXES, TensorVolumeDataset, is_volume_file, load_volume_folder  # noqa: E402
register_folder_loader(VOLUME_SUFFIXES, load_volume_folder, accepts=is_volume_file)  # before arrays: wins ties
from . import phantom  # noqa: E402,F401  (phantom-mri)
from .skeleton import SKELETON_SUFFIXES, SkeletonDataset, is_skeleton_file, load_skeleton_folder  # noqa: E402
register_folder_loader(SKELETON_SUFFIXES, load_skeleton_folder, accepts=is_skeleton_file)  # before arrays: wins ties
from .embeddings import EmbeddingSequenceDataset, is_embedding_file, load_embedding_folder  # noqa: E402
register_folder_loader((".npy",), load_embedding_folder, accepts=is_embedding_file)  # [T,D]: LV-MAE, before arrays
register_folder_loader(ARRAY_SUFFIXES, load_array_folder)
from .text import TEXT_SUFFIXES, TextDataset, load_text_folder  # noqa: E402  (text: .txt/.md/.jsonl, BEIR)

register_folder_loader(TEXT_SUFFIXES, load_text_folder)

from .audio import AUDIO_SUFFIXES, AudioDataset, AudioModality, load_audio_folder, read_audio  # noqa: E402

register_folder_loader(AUDIO_SUFFIXES, load_audio_folder)
from .audiovisual import AudioVisualDataset, AudioVisualSize, load_audiovisual_folder  # noqa: E402,F401  (HiCMAE)
from . import captions  # noqa: E402,F401  (M3AE: shapes-captions, the image-text modality)


def accepted_suffixes() -> dict[str, list[str]]:
    """What each kind of folder reads: {"image": [".bmp", ...], "points": [...], ...}."""
    kinds = {"image": sorted(IMAGE_SUFFIXES)}
    for name, (suffixes, _, _) in FOLDER_LOADERS.items():
        kinds[name.removeprefix("load_").removesuffix("_folder")] = sorted(suffixes)
    return kinds


def check_readable_suffixes(root: Path) -> None:
    """A folder with no file of a suffix anymae reads: say which suffixes it holds and which are read."""
    accepted = set().union(*accepted_suffixes().values())
    found: dict[str, int] = {}
    for p in root.rglob("*"):
        if p.is_file() and not p.name.startswith("."):
            suffix = p.suffix.lower() or "(no suffix)"
            found[suffix] = found.get(suffix, 0) + 1
    if any(s in accepted for s in found):
        return
    held = ", ".join(f"{n} {s}" for s, n in sorted(found.items())) if found else "no files"
    kinds = "; ".join(f"{kind}: {' '.join(suffixes)}" for kind, suffixes in accepted_suffixes().items())
    raise ValueError(f"{root}: no file anymae can read (the folder holds {held}); folders are read as {kinds}")


def sized_builtin(spec: str) -> tuple[str, int] | None:
    """`NAME:N` for a built-in set that renders its training split (shapes, sounds, ...) -> (NAME, N).

    None when `spec` is not of that form; a bad N or a set of fixed size is a ValueError naming it.
    """
    name, sep, count = str(spec).rpartition(":")
    if not sep or name not in BUILTIN:
        return None
    if "train_count" not in inspect.signature(BUILTIN[name]).parameters:
        raise ValueError(f"--data {spec!r}: the built-in set {name!r} has a fixed size; drop ':{count}'")
    if not count.isdigit() or int(count) < 10:
        raise ValueError(f"--data {spec!r}: after ':' give the training split's size, a whole number >= 10")
    return name, int(count)


def load_dataset(spec: str, split: str = "train", image_size=32, channels: int | None = None, seed: int = 0):
    """A built-in name (`anymae.data.BUILTIN`) or a folder path -> the split's data set.

    `image_size` is the sample size the model expects (an int or (H, W) for images; each
    modality's loader reads what it needs from it).
    """
    if spec in BUILTIN:
        return BUILTIN[spec](split=split, image_size=image_size, seed=seed)
    sized = sized_builtin(spec)
    if sized is not None:
        name, train_count = sized
        return BUILTIN[name](split=split, image_size=image_size, seed=seed, train_count=train_count)
    from .shards import is_shard_source, load_shards  # `anymae shard` output, local or s3://... (streamed)
    if is_shard_source(spec):
        return load_shards(spec, split=split, image_size=image_size, channels=channels, seed=seed)
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"{spec!r} is neither a built-in data set ({', '.join(sorted(BUILTIN))}) nor a path")
    if not path.is_dir():
        raise ValueError(f"{spec}: expected a folder of files (or a built-in data set name)")
    if is_mvtec_folder(path):
        return load_mvtec_folder(path, image_size, channels, split=split)
    check_readable_suffixes(path)
    loader = folder_loader(path)
    if isinstance(image_size, AudioVisualSize):  # an audio-visual model reads video files with their sound
        loader = load_audiovisual_folder
    if loader is load_image_folder:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        return load_image_folder(path, size, channels or 3, split=split)
    return loader(path, image_size=image_size, channels=channels, split=split)


__all__ = ["register_folder_loader", "FOLDER_LOADERS", "MODALITIES", "Modality", "modality_of", "register_modality", "ImageModality", "BUILTIN", "builtin", "load_dataset", "channel_stats", "TensorImageDataset",
           "stratified_split", "load_image_folder", "EvalTransform", "PretrainTransform", "sample_generator",
           "DictDataset", "MultiChannelDataset", "load_array_folder", "load_modality_folder",
           "TensorVideoDataset", "VideoModality", "load_video_folder",
           "PointCloudDataset", "PointsModality", "load_point_folder", "read_points",
           "AudioDataset", "AudioModality", "load_audio_folder", "read_audio"]
