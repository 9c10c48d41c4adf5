"""Sharded data sets for streaming (Lightning's `litdata` format): `write_shards` and `ShardDataset`.

A shard folder is what `litdata`'s `BinaryWriter` makes (`index.json` + `chunk-*.bin`, each chunk at most
`shard_size_mb`) plus `anymae.json`: the modality, how samples are stored, every sample's label, the
class names, per-channel statistics and the report of the source files that could not be read.

How a sample is stored (`kind`):
- `image-file`: the image file's own bytes (JPEG stays JPEG); decoded when read, JPEGs with PIL's
  `draft` (DCT-domain downscaling) to at least the cache size, then resized to the cache size the
  folder loader uses (twice the model's side), so a shard gives the folder's samples.
- `video-file`: the video file's bytes, decoded with PyAV when read (frames at the folder's cache size).
- `tensor`: a stored array (built-in data sets, point clouds [2048,3], multi-channel arrays [C,H,W];
  `resize` arrays go to the folder's cache size when read).

Samples are written in an order shuffled once (seed 0), so a chunk mixes classes and folders.
Reading is by index (`litdata.StreamingDataset[i]`), from a local folder or an object store URL
(`s3://`, `gs://`, `azure://`, `hf://`; `local:/path` behaves as a remote one), whose chunks are
downloaded to a local cache as they are needed. `train.sampler.ChunkSampler` orders the indices.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .datasets import SeededSamples, check_split, folder_labels, report_skipped, stratified_split


META = "anymae.json"
FORMAT = "anymae-shards/1"
REMOTE_PREFIXES = ("s3://", "gs://", "gcs://", "azure://", "az://", "hf://", "r2://", "local:")
STAT_SAMPLES = 2000  # samples the per-channel statistics are measured on (as channel_stats)


def litdata():
    """The litdata package, or a one-line error saying how to install it."""
    try:
        import litdata as module
    except ImportError:
        raise ValueError("shards need the litdata package: pip install 'anymae[stream]'") from None
    return module


def is_remote(spec: str) -> bool:
    return str(spec).startswith(REMOTE_PREFIXES)


def is_shard_source(spec) -> bool:
    """A remote URL, or a local folder holding an anymae shard set (anymae.json + index.json)."""
    if is_remote(str(spec)):
        return True
    path = Path(spec)
    return path.is_dir() and (path / META).is_file() and (path / "index.json").is_file()


# ---------------------------------------------------------------- decoding one stored sample
def decode_image(data: bytes, name: str, channels: int, cache: tuple[int, int] | None, draft: bool = True) -> Tensor:
    """Image file bytes -> uint8 [C,cache] (as the folder loader caches it), JPEGs decoded with PIL's `draft`
    at the smallest DCT scale still at least `cache` (`draft=False`: the full-size decode)."""
    from .folder import read_image
    from .transforms import resize
    buffer = io.BytesIO(bytes(data))
    arr = torch.from_numpy(read_image(buffer, channels, name=name, draft=cache if draft else None)).float()
    if cache is not None:
        arr = resize(arr, cache)
    return (arr * 255).round().clamp(0, 255).to(torch.uint8)


def decode_video(data: bytes, name: str, channels: int, cache: tuple[int, int], max_frames: int = 128) -> Tensor:
    from .video import read_video
    buffer = io.BytesIO(bytes(data))
    try:
        return read_video(buffer, channels, cache, max_frames)
    except ValueError as err:
        raise ValueError(f"{name}: {str(err).split(': ', 1)[-1]}") from None


# ---------------------------------------------------------------- writing
@dataclass
class ShardReport:
    """What `write_shards` wrote."""

    out: Path
    count: int
    chunks: int
    bytes: int
    modality: str
    skipped: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


class _Stats:
    """Running per-channel mean / std over the first STAT_SAMPLES samples [C,...] in [0,1]."""

    def __init__(self):
        self.total = self.square = None
        self.count, self.samples = 0, 0

    def add(self, x: Tensor) -> None:
        if self.samples >= STAT_SAMPLES:
            return
        x = x.double().flatten(1)
        if self.total is None:
            self.total, self.square = torch.zeros(x.shape[0], dtype=torch.float64), torch.zeros(x.shape[0], dtype=torch.float64)
        if x.shape[0] != self.total.shape[0]:
            return
        self.total += x.sum(1)
        self.square += x.pow(2).sum(1)
        self.count += x.shape[1]
        self.samples += 1

    def result(self):
        if not self.count:
            return None, None
        mean = self.total / self.count
        std = (self.square / self.count - mean.pow(2)).clamp_min(0).sqrt().clamp_min(1e-3)
        return [round(float(m), 5) for m in mean], [round(float(s), 5) for s in std]


def _folder_items(root: Path, image_size: int, channels: int | None):
    """(modality, kind, paths, read) for a folder: read(i, path) -> (stored value, tensor for statistics)."""
    from . import folder_loader
    from .arrays import folder_settings, load_array_folder, read_array
    from .datasets import list_files
    from .folder import IMAGE_SUFFIXES, load_image_folder
    from .points import POINT_SUFFIXES, STORED_POINTS, load_point_folder, read_points
    from .video import VIDEO_SUFFIXES, load_video_folder
    loader = folder_loader(root)
    cache = (2 * image_size, 2 * image_size)
    if loader is load_image_folder:
        channels = channels or 3

        def read(i, path):
            data = path.read_bytes()
            return data, decode_image(data, str(path), channels, (64, 64)).float() / 255  # checks it decodes
        return "image", "image-file", list_files(root, IMAGE_SUFFIXES), read
    if loader is load_video_folder:
        channels = channels or 3

        def read(i, path):
            data = path.read_bytes()
            return data, decode_video(data, str(path), channels, (32, 32), max_frames=16).float() / 255
        return "video", "video-file", list_files(root, VIDEO_SUFFIXES), read
    if loader is load_point_folder:
        def read(i, path):
            cloud = read_points(path, STORED_POINTS, seed=i)
            return cloud, None
        return "points", "tensor", list_files(root, POINT_SUFFIXES), read
    if loader is load_array_folder:
        from .multimodal import modality_folders
        settings = folder_settings(root)
        found = modality_folders(root)
        if "bands" in settings or (found is not None and len(found) > 1):
            raise ValueError(f"{root}: spectral and multi-modal folders cannot be sharded yet "
                             "(images, videos, point clouds and multi-channel arrays can)")
        from .arrays import ARRAY_SUFFIXES
        layout = settings.get("layout")

        def read(i, path):
            arr = read_array(path, channels, layout, root)
            return arr, torch.from_numpy(arr)
        return "multichannel", "tensor", list_files(root, ARRAY_SUFFIXES), read
    raise ValueError(f"{root}: no images, videos, point clouds or arrays found to shard")


def write_shards(source: str, out: str | Path, shard_size_mb: float = 64, split: str = "train",
                 image_size: int = 32, channels: int | None = None, seed: int = 0, progress: bool = True) -> ShardReport:
    """Write the data set `source` (a folder or a built-in name) as litdata shards into the new folder `out`.

    Folders: every file (labels from sub-folders as the folder loaders give them; `split` does not apply,
    `anymae pretrain` takes the same 70/30 split the folder gives). Built-ins: the `split` asked for, at
    `image_size`. Files that cannot be read are skipped and listed in `anymae.json` and `skipped_files.txt`.
    """
    litdata()
    from litdata.streaming.writer import BinaryWriter
    from . import BUILTIN, MODALITIES, load_dataset
    from ..io.files import write_text
    out = Path(out)
    if not shard_size_mb or shard_size_mb <= 0:
        raise ValueError(f"--shard-size-mb must be > 0, got {shard_size_mb}")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: already exists and is not empty; shards are written into a new folder")
    if source in BUILTIN:
        check_split(split)
        data = load_dataset(source, split=split, image_size=image_size, seed=seed)
        store = getattr(data, getattr(data, "store", ""), None)
        if store is None or not hasattr(data, "pixels"):
            raise ValueError(f"{source}: this built-in data set ({type(data).__name__}) cannot be sharded yet")
        modality, kind = getattr(data, "modality", "image"), "tensor"
        count = len(data)
        labels = [int(v) for v in data.labels]
        classes = data.classes
        mean, std = MODALITIES[modality].stats(data)
        names = [f"{source}:{split}[{i}]" for i in range(count)]
        read = lambda i, _: (np.ascontiguousarray(store[i].numpy()), None)  # noqa: E731
        items = list(range(count))
        resize = False
    else:
        root = Path(source)
        if not root.is_dir():
            raise ValueError(f"--data {source!r} is neither a built-in data set ({', '.join(sorted(BUILTIN))}) "
                             "nor a folder")
        modality, kind, items, read = _folder_items(root, image_size, channels)
        if not items:
            raise ValueError(f"{root}: no files to shard")
        names = [str(p) for p in items]
        classes, labels = None, None
        resize = modality == "multichannel"
    order = np.random.default_rng(0).permutation(len(items))  # chunks mix classes and folders
    out.mkdir(parents=True, exist_ok=True)
    writer = BinaryWriter(str(out), chunk_bytes=int(shard_size_mb * 1024 * 1024))
    stats = _Stats()
    written_labels, folders, skipped, reasons, source_index = [], [], [], [], []
    bar = _progress(len(order), f"sharding {source}", progress)
    for j in order:
        item = items[j]
        try:
            value, for_stats = read(int(j), item)
        except ValueError as err:
            report_skipped(names[j], str(err))  # named once (a log line; a UserWarning outside the CLI)
            skipped.append(names[j])
            reasons.append(str(err))
            bar.update(1)
            continue
        if for_stats is not None:
            stats.add(for_stats)
        index = len(written_labels)
        label = labels[j] if labels is not None else -1
        if isinstance(value, bytes):  # file bytes as a uint8 array: litdata would sniff raw bytes as images
            value = np.frombuffer(value, dtype=np.uint8)
        # the name as utf-8 bytes too: litdata reads a string that looks like an image path as that image
        writer.add_item(index, {"data": value, "label": int(label),
                                "name": np.frombuffer(names[j].encode(), dtype=np.uint8)})
        written_labels.append(int(label))
        source_index.append(int(j))
        if not isinstance(item, int):
            folders.append(Path(item).relative_to(root).parent.as_posix())
        bar.update(1)
    bar.close()
    if not written_labels:
        import shutil
        shutil.rmtree(out)  # the folder this call made: nothing of the user's is in it
        raise ValueError(f"{source}: none of the {len(items)} files could be read ({'; '.join(reasons[:3])})")
    writer.done()
    writer.merge()
    if folders:  # folder labels: one sub-folder per class, or unlabelled
        found, label_tensor = folder_labels(folders)
        classes = found
        written_labels = label_tensor.tolist() if label_tensor is not None else [-1] * len(folders)
        mean, std = stats.result() if modality != "points" else (None, None)
    index = json.loads((out / "index.json").read_text())
    chunk_sizes = [int(c["chunk_size"]) for c in index["chunks"]]
    meta = {"format": FORMAT, "source": str(source), "split": split if source in BUILTIN else "all",
            "modality": modality, "kind": kind, "resize": resize, "count": len(written_labels),
            "channels": _channels_of(modality, channels, store if source in BUILTIN else None, for_stats_shape(stats)),
            "classes": classes, "labels": written_labels, "mean": mean, "std": std,
            "chunk_sizes": chunk_sizes, "source_index": source_index, "skipped": skipped, "skipped_reasons": reasons}
    write_text(out / META, json.dumps(meta))
    if skipped:
        write_text(out / "skipped_files.txt", "".join(f"{r}\n" for r in reasons))
    size = sum(f.stat().st_size for f in out.glob("chunk-*.bin"))
    return ShardReport(out, len(written_labels), len(chunk_sizes), size, modality, skipped, reasons)


def for_stats_shape(stats: _Stats) -> int | None:
    return None if stats.total is None else int(stats.total.shape[0])


def _channels_of(modality: str, asked: int | None, store, measured: int | None) -> int:
    if modality == "points":
        return 3
    if store is not None:
        first = store[0]
        return int(first.shape[0])
    return int(asked or measured or 3)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="file", disable=not enabled, leave=False)


# ---------------------------------------------------------------- reading
def fetch_meta(spec: str, cache_dir: str | None = None) -> dict:
    """The shard set's anymae.json (downloaded through litdata's downloader for a remote URL)."""
    if not is_remote(spec):
        path = Path(spec) / META
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: cannot read the shard set's description ({err})") from None
    else:
        litdata()
        from litdata.streaming.downloader import get_downloader
        import hashlib
        key = hashlib.sha1(spec.encode()).hexdigest()[:16]
        local = Path(cache_dir or Path(tempfile.gettempdir()) / "anymae-shards") / key / META
        local.parent.mkdir(parents=True, exist_ok=True)
        url = spec.rstrip("/")
        try:
            get_downloader(url, str(local.parent), []).download_file(f"{url}/{META}", str(local))
            meta = json.loads(local.read_text())
        except Exception as err:  # every object store raises its own error types
            raise ValueError(f"{url}/{META}: cannot fetch the shard set's description "
                             f"({type(err).__name__}: {err})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{spec}: {META} is not an anymae shard set of format {FORMAT}")
    return meta


class ShardDataset(SeededSamples):
    """A shard set read by index; items are (sample, label, index) as every anymae data set's.

    `rows` [N] are the shard rows this data set holds (a split is a subset). `pixels(i)` decodes row
    `rows[i]` as the matching folder loader would give it; `chunk_groups()` lists this set's indices
    chunk by chunk (for `ChunkSampler`); `stored_stats` are the statistics measured when sharding.
    """

    store = "rows"

    def __init__(self, rows: Tensor, labels: Tensor | None = None, transform=None, seed: int = 0,
                 classes: list[str] | None = None, name: str = "shards", source: str = "", meta: dict | None = None,
                 image_size=32, channels: int | None = None, cache_dir: str | None = None):
        super().__init__(len(rows), labels, transform, seed, classes, name)
        self.rows, self.source, self.meta = rows, source, meta or {}
        self.modality = self.meta.get("modality", "image")
        self.image_size, self.cache_dir = image_size, cache_dir
        self.channels = int(channels or self.meta.get("channels") or 3)
        self.skipped = list(self.meta.get("skipped", []))
        mean, std = self.meta.get("mean"), self.meta.get("std")
        self.stored_stats = (mean, std) if mean is not None and len(mean) == self.channels else None
        self._reader = None
        self.draft = True  # JPEGs decoded at a reduced DCT scale where that still covers the cache size

    def _rebuilt(self, samples, labels, transform, seed, name):
        return ShardDataset(samples, labels, transform, seed, self.classes, name, self.source, self.meta,
                            self.image_size, self.channels, self.cache_dir)

    def __getstate__(self):  # the litdata reader is opened again in each worker process
        state = dict(self.__dict__)
        state["_reader"] = None
        return state

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shuffle_window(self) -> int | None:
        """Chunks shuffled together by ChunkSampler: all of them on a local disk, 8 when streaming."""
        return 8 if is_remote(self.source) else None

    def chunk_groups(self) -> list[Tensor]:
        """This set's indices grouped by the chunk their row lives in (chunks in file order)."""
        bounds = torch.tensor([0, *np.cumsum(self.meta["chunk_sizes"]).tolist()])
        chunk = torch.bucketize(self.rows, bounds, right=True) - 1
        order = torch.argsort(chunk, stable=True)
        counts = torch.bincount(chunk, minlength=len(bounds) - 1).tolist()
        return [g for g in torch.split(order, counts) if len(g)]

    def reader(self):
        if self._reader is not None and self._reader_pid != os.getpid():
            self._reader = None  # a forked worker: open its own reader (litdata's threads do not survive fork)
        if self._reader is None:
            self._reader_pid = os.getpid()
            StreamingDataset = litdata().StreamingDataset
            if is_remote(self.source):
                self._reader = StreamingDataset(self.source, cache_dir=self.cache_dir, max_cache_size="50GB")
            else:
                self._reader = StreamingDataset(str(self.source))
        return self._reader

    def _cache_size(self) -> tuple[int, int]:
        h, w = (self.image_size, self.image_size) if isinstance(self.image_size, int) else tuple(self.image_size)[-2:]
        return 2 * int(h), 2 * int(w)

    def raw(self, index: int) -> dict:
        """The stored item of sample `index`: data, label, name (the source file / built-in sample)."""
        item = dict(self.reader()[int(self.rows[index])])
        item["name"] = bytes(np.asarray(item["name"], dtype=np.uint8)).decode()
        return item

    def pixels(self, index: int) -> Tensor:
        item = self.raw(index)
        kind, data, name = self.meta["kind"], item["data"], item.get("name", str(index))
        if kind == "image-file":
            return decode_image(data, name, self.channels, self._cache_size(), self.draft).float() / 255.0
        if kind == "video-file":
            h, w = self._cache_size()
            cache = (min(h, max(h // 2, 256)), min(w, max(w // 2, 256)))  # as load_video_folder
            return decode_video(data, name, self.channels, cache).float() / 255.0
        x = torch.from_numpy(np.array(data))
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if self.meta.get("resize"):
            from .transforms import resize
            x = resize(x, self._cache_size())
        return x


def load_shards(spec: str, split: str = "train", image_size=32, channels: int | None = None, seed: int = 0,
                cache_dir: str | None = None) -> ShardDataset:
    """A shard set (local folder or URL) -> the split's data set: labelled sets split 70/30 stratified
    (seed 0, the folder loaders' split); unlabelled ones are the whole set for every split but "test"."""
    check_split(split)
    cache_dir = cache_dir or os.environ.get("ANYMAE_SHARD_CACHE")
    meta = fetch_meta(str(spec), cache_dir)
    labels = torch.tensor(meta["labels"], dtype=torch.long)
    data = ShardDataset(torch.arange(meta["count"]), labels, classes=meta.get("classes"), name=str(spec),
                        source=str(spec), meta=meta, image_size=image_size, channels=channels, cache_dir=cache_dir)
    if meta.get("split") in ("train", "test"):  # a built-in's split was sharded: it is the only split
        if split not in ("all", meta["split"]):
            raise ValueError(f"{spec}: holds only the {meta['split']} split of {meta.get('source')} "
                             f"(shard the {split} split with `anymae shard --split {split}`)")
        return data
    if split == "all":
        return data
    if not data.labelled:
        if split == "test":
            raise ValueError(f"{spec}: a test split needs labels (one sub-folder per class)")
        return data
    # the folder loader's split: stratified over the readable files in their sorted order
    folder_order = torch.argsort(torch.tensor(meta["source_index"]))
    train, test = stratified_split(data.labels[folder_order], 0.3, seed=0)
    return data.subset(folder_order[train if split == "train" else test], f"{spec}:{split}")
