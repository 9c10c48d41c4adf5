"""Skeleton sequences (SkeletonMAE, PAPERS.md row 18): joints [T,J,C], the built-in `skeleton-actions`, folders
of `.npy` [T,J,C] with a `skeleton.json` graph file, NTU RGB+D `.skeleton` text files, and the `skeleton` modality.

A sample is a whole sequence [T,J,C] of any length; the transform centres it on its root joint (joint 0, mean over
the frames), scales it to unit RMS and resamples it to the model's frame count (a random 80-100% window, a turn
about the vertical axis and a scale for pretraining; the whole sequence otherwise).
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..tokenizers.skeleton import NTU_EDGES, NTU_JOINTS, NTU_PARTS, check_graph
from .builtin import balanced_labels, builtin
from .datasets import SeededSamples, check_split, folder_files, folder_labels, folder_split, read_each
from .modality import Modality, register_modality

SKELETON_SUFFIXES = (".npy", ".skeleton")
GRAPH_FILE = "skeleton.json"
NTU_GRAPH = {"joints": NTU_JOINTS, "edges": [list(e) for e in NTU_EDGES], "parts": [list(p) for p in NTU_PARTS]}


# ---------------------------------------------------------------- data set
class SkeletonDataset(SeededSamples):
    """Joint sequences (a list of [T_i,J,C] or a tensor [M,T,J,C]), labels [M], and their graph
    {"joints", "edges", "parts"}; items (sequence, label, index)."""

    store = "sequences"
    modality = "skeleton"

    def __init__(self, sequences, labels: Tensor | None = None, transform=None, seed: int = 0,
                 classes: list[str] | None = None, name: str = "skeleton", graph: dict | None = None):
        graph = graph or NTU_GRAPH
        for i, s in enumerate(sequences):
            if s.ndim != 3 or s.shape[0] < 2 or s.shape[1] != graph["joints"] or s.shape[2] not in (2, 3):
                raise ValueError(f"{name}: sequence {i} should be [T>=2,{graph['joints']},2|3], got {tuple(s.shape)}")
        super().__init__(len(sequences), labels, transform, seed, classes, name)
        self.sequences, self.graph = sequences, graph

    def _rebuilt(self, samples, labels, transform, seed, name):
        out = type(self)(samples, labels, transform, seed, self.classes, name, self.graph)
        out.skipped = self.skipped
        return out

    @property
    def channels(self) -> int:
        return int(self.sequences[0].shape[-1])

    def __len__(self) -> int:
        return len(self.sequences)

    def pixels(self, index: int) -> Tensor:
        """The whole sequence [T,J,C] as stored."""
        return self.sequences[index].float()


# ---------------------------------------------------------------- files
def read_graph(path: Path) -> dict:
    """A `skeleton.json` {"edges": [[a, b], ...] (0-based joints), "joints": J (optional), "parts": [[...], ...]
    (optional)} -> the checked graph; ValueError naming the file."""
    try:
        raw = json.loads(path.read_text())
        edges = [tuple(e) for e in raw["edges"]]
        joints = int(raw.get("joints", 1 + max(max(e) for e in edges)))
        edges, parts = check_graph(joints, edges, raw.get("parts"))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a skeleton graph file ({type(err).__name__}: {err}); expected "
                         '{"edges": [[0, 1], ...], "joints": J, "parts": [[...], ...] (optional)}') from None
    return {"joints": joints, "edges": [list(e) for e in edges], "parts": [list(p) for p in parts]}


def read_ntu_skeleton(path: Path) -> np.ndarray:
    """An NTU RGB+D `.skeleton` text file -> [T,25,3] camera-space joints (metres) of its main body: the body id
    seen in most frames (frames without it are dropped). ValueError naming the file when it cannot be read."""
    try:
        values = path.read_text().split()
        pos = 0

        def take(n: int) -> list[str]:
            nonlocal pos
            if pos + n > len(values):
                raise ValueError("ends early")
            pos += n
            return values[pos - n:pos]

        frames: list[dict[str, np.ndarray]] = []
        for _ in range(int(take(1)[0])):
            bodies = {}
            for _ in range(int(take(1)[0])):
                body = take(10)[0]
                joints = int(take(1)[0])
                rows = np.asarray(take(12 * joints), dtype=np.float64).reshape(joints, 12)
                if joints != NTU_JOINTS:
                    raise ValueError(f"a body has {joints} joints, NTU RGB+D has {NTU_JOINTS}")
                bodies[body] = rows[:, :3]
            frames.append(bodies)
    except (OSError, ValueError, IndexError) as err:
        raise ValueError(f"{path}: not an NTU RGB+D .skeleton file ({err})") from None
    seen: dict[str, int] = {}
    for bodies in frames:
        for body in bodies:
            seen[body] = seen.get(body, 0) + 1
    if not seen:
        raise ValueError(f"{path}: holds no tracked body in its {len(frames)} frames")
    main = max(seen, key=seen.get)
    return np.stack([bodies[main] for bodies in frames if main in bodies]).astype(np.float32)


def read_skeleton(path: str | Path, graph: dict) -> np.ndarray:
    """One `.npy` [T,J,C] (J of `graph`, C 2 or 3) or NTU `.skeleton` file -> float32 [T,J,C]; ValueError naming
    the file when it is unreadable, has another joint count, fewer than 2 frames, or NaN/Inf coordinates."""
    path = Path(path)
    if path.suffix.lower() == ".skeleton":
        seq = read_ntu_skeleton(path)
    else:
        try:
            seq = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: cannot read the array ({err})") from None
        if seq.ndim != 3 or seq.shape[2] not in (2, 3):
            raise ValueError(f"{path}: expected joints [T,J,C] with C = 2 or 3, got shape {seq.shape}")
    if seq.shape[1] != graph["joints"]:
        raise ValueError(f"{path}: has {seq.shape[1]} joints, the skeleton graph has {graph['joints']}")
    if seq.shape[0] < 2:
        raise ValueError(f"{path}: has {seq.shape[0]} frame(s); a sequence needs at least 2")
    if not np.isfinite(seq).all():
        raise ValueError(f"{path}: holds NaN or Inf coordinates")
    if float(np.ptp(seq)) == 0.0:
        raise ValueError(f"{path}: every joint sits at the same point")
    return seq.astype(np.float32)


def folder_graph(root: Path) -> dict:
    """The graph of a skeleton folder: its `skeleton.json`, else NTU RGB+D's 25 joints."""
    path = root / GRAPH_FILE
    return read_graph(path) if path.exists() else NTU_GRAPH


def is_skeleton_file(path: Path) -> bool:
    """`.skeleton` files always; a `.npy` when it is [T,J,2|3] and a `skeleton.json` sits in its folder or above."""
    if path.suffix.lower() == ".skeleton":
        return True
    try:
        shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
    except (OSError, ValueError):
        return False
    return len(shape) == 3 and shape[2] in (2, 3) and any((p / GRAPH_FILE).exists() for p in path.parents)


def load_skeleton_folder(root: str | Path, image_size=None, channels=None, split: str = "all",
                         test_fraction: float = 0.3) -> SkeletonDataset:
    """Every `.npy` / `.skeleton` file under `root` (recursive); class = sub-folder name when every file has one.

    The graph is `root/skeleton.json` (NTU RGB+D's when there is none); files that do not fit it or cannot be read
    are skipped, each named once (and listed in `dataset.skipped`).
    """
    root = Path(root)
    check_split(split)
    graph = folder_graph(root)
    paths = folder_files(root, SKELETON_SUFFIXES, "skeleton")
    files = read_each(root, paths, lambda i, path: torch.from_numpy(read_skeleton(path, graph)))
    if not files.items:
        raise ValueError(f"{root}: none of the {len(paths)} skeleton files could be read ({'; '.join(files.reasons[:3])})")
    dims = {int(s.shape[2]) for s in files.items}
    if len(dims) > 1:
        raise ValueError(f"{root}: mixes 2-D and 3-D joint files; keep one kind per folder")
    classes, labels = folder_labels(files.folders)
    data = SkeletonDataset(files.items, labels, classes=classes, name=str(root), graph=graph)
    data.skipped = files.skipped
    return folder_split(data, root, split, test_fraction)


# ---------------------------------------------------------------- built-in: skeleton-actions
ACTIONS = ["walk", "wave-right", "wave-left", "jump", "squat", "kick-right", "kick-left", "punch", "clap", "bow"]
# cycles of the action per second of action (speed); a clip holds 1 s of time
CYCLES = {"walk": (1, 2.5), "wave-right": (3, 6), "wave-left": (3, 6), "jump": (1, 3), "squat": (1, 2),
          "kick-right": (1, 2), "kick-left": (1, 2), "punch": (2, 4), "clap": (3, 6), "bow": (0.8, 1.6), "idle": (1, 1)}


def limb(forward: np.ndarray, side: np.ndarray, sign: float) -> np.ndarray:
    """Unit limb directions [T,3] (x: the body's left, y: up, z: front) from a raise to the front `forward` and a
    raise to the side `side` (radians, [T]); 0, 0 points down."""
    return np.stack([sign * np.sin(side) * np.cos(forward), -np.cos(side) * np.cos(forward), np.sin(forward)], -1)


def pose_angles(action: str, t: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Joint angles [T] of one clip of `action` (t in [0,1]) with a random speed, phase and amplitude."""
    phase = 2 * np.pi * rng.uniform(*CYCLES[action]) * t + rng.uniform(0, 2 * np.pi)
    amp = rng.uniform(0.6, 1.4)
    s, z = np.sin(phase), np.zeros_like(t)
    up = 0.5 * (1 - np.cos(phase))                                              # 0 -> 1 -> 0 each cycle
    a = {k: z.copy() for k in ("arm_l", "arm_r", "elbow_l", "elbow_r", "hip_l", "hip_r", "knee_l", "knee_r",
                               "bend", "lift", "forward")}
    a["side_l"] = a["side_r"] = np.full_like(t, 0.15)
    a["elbow_l"], a["elbow_r"] = np.full_like(t, 0.15), np.full_like(t, 0.15)
    a["wave_l"] = a["wave_r"] = z.copy()
    if action == "walk":
        a["hip_l"], a["hip_r"] = 0.45 * amp * s, -0.45 * amp * s
        a["knee_l"], a["knee_r"] = 0.7 * amp * np.maximum(0, -s), 0.7 * amp * np.maximum(0, s)
        a["arm_l"], a["arm_r"] = -0.4 * amp * s, 0.4 * amp * s
        a["forward"] = rng.uniform(0.8, 1.6) * t                                  # metres walked
    elif action in ("wave-right", "wave-left"):
        for k in ("r",) if action == "wave-right" else ("l",):
            a[f"side_{k}"] = np.full_like(t, 2.5 * amp)
            a[f"elbow_{k}"] = np.full_like(t, 0.3)
            a[f"wave_{k}"] = 0.6 * amp * s
    elif action == "jump":
        a["lift"] = 0.25 * amp * np.maximum(0, s)
        crouch = np.maximum(0, -s)
        a["hip_l"] = a["hip_r"] = 0.7 * crouch
        a["knee_l"] = a["knee_r"] = 1.2 * crouch
        a["arm_l"] = a["arm_r"] = 1.8 * amp * np.maximum(0, s) - 0.4 * crouch
    elif action == "squat":
        a["hip_l"] = a["hip_r"] = 1.3 * amp * up
        a["knee_l"] = a["knee_r"] = 2.0 * amp * up
        a["arm_l"] = a["arm_r"] = 1.4 * up
        a["bend"] = 0.3 * up
    elif action in ("kick-right", "kick-left"):
        kick, k = np.maximum(0, s) ** 2, "r" if action.endswith("right") else "l"
        a[f"hip_{k}"] = 1.3 * amp * kick
        a[f"knee_{k}"] = 1.2 * np.sin(np.pi * np.clip(kick, 0, 1)) * (s > 0)
        a["side_l"] = a["side_r"] = np.full_like(t, 0.6)
    elif action == "punch":
        left, right = np.maximum(0, s), np.maximum(0, -s)
        a["arm_l"], a["arm_r"] = 0.4 + 1.2 * amp * left, 0.4 + 1.2 * amp * right
        a["elbow_l"], a["elbow_r"] = 1.8 * (1 - left), 1.8 * (1 - right)
    elif action == "clap":
        a["arm_l"] = a["arm_r"] = np.full_like(t, 1.35)
        a["side_l"] = a["side_r"] = 0.05 + 0.6 * amp * (0.5 + 0.5 * s)
        a["elbow_l"] = a["elbow_r"] = np.full_like(t, 0.3)
    elif action == "bow":
        a["bend"] = 1.1 * amp * up
        a["arm_l"] = a["arm_r"] = 0.3 * up
    return a


def acted_angles(action: str, t: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Joint angles [T] of a clip where the action fills a random 30-100% window and the body stands idle (arms
    hanging, a slight sway) before and after, blended over 5% of the clip at each end of the window; in 40% of the
    clips an arm the action leaves free makes a gesture (a raise and bend of 10-30% of the clip) at a random time."""
    length = rng.uniform(0.3, 1.0)
    start = rng.uniform(0, 1 - length)
    local = np.clip(t - start, 0, length)
    acted, idle = pose_angles(action, local, rng), pose_angles("idle", t, rng)
    weight = np.clip(np.minimum(t - start, start + length - t) / 0.05 + 0.5, 0, 1)
    idle["arm_l"] = idle["arm_l"] + 0.1 * np.sin(2 * np.pi * t + rng.uniform(0, 6))
    idle["arm_r"] = idle["arm_r"] + 0.1 * np.sin(2 * np.pi * t + rng.uniform(0, 6))
    out = {k: idle[k] + weight * (acted[k] - idle[k]) for k in acted}
    free = {"wave-right": "l", "wave-left": "r", "punch": None, "clap": None}.get(action, "lr"[rng.integers(2)])
    if free and rng.random() < 0.4:                  # a gesture of a free arm (scratch head, reach) at a random time
        centre, width = rng.uniform(0, 1), rng.uniform(0.1, 0.3)
        bump = np.exp(-0.5 * ((t - centre) / width) ** 2)
        out[f"arm_{free}"] = out[f"arm_{free}"] + rng.uniform(0.5, 2.0) * bump
        out[f"elbow_{free}"] = out[f"elbow_{free}"] + rng.uniform(0.3, 1.8) * bump
    return out


def synth_action(label: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    """One clip [frames,25,3] (NTU RGB+D joint order, metres) of ACTIONS[label] with a random body (height 1.4-2.0 m,
    each bone +-10%), speed, phase, amplitude (0.6-1.4), a 30-100% window of action in idle standing, a gesture of a free arm (40%), facing
    direction, place, joint noise (0.5-6% of the height) and tracking glitches (4% of the joints, 10%)."""
    t = np.linspace(0, 1, frames)
    a = acted_angles(ACTIONS[label], t, rng)
    h = rng.uniform(1.4, 2.0)
    bone = {k: h * v * rng.uniform(0.9, 1.1) for k, v in dict(
        thigh=0.245, shin=0.245, ankle=0.04, foot=0.08, spine1=0.13, spine2=0.15, neck=0.05, head=0.08,
        shoulder=0.13, hip=0.06, upper=0.17, fore=0.15, hand=0.05, tip=0.04, thumb=0.03).items()}
    joints = np.zeros((frames, 25, 3))
    one = np.ones_like(t)
    root_height = np.maximum(bone["thigh"] * np.cos(a["hip_l"]) + bone["shin"] * np.cos(a["hip_l"] - a["knee_l"]),
                             bone["thigh"] * np.cos(a["hip_r"]) + bone["shin"] * np.cos(a["hip_r"] - a["knee_r"]))
    root = np.stack([0 * t, root_height + bone["ankle"] + a["lift"], a["forward"]], -1)
    spine = np.stack([0 * t, np.cos(a["bend"]), np.sin(a["bend"])], -1)             # the upper body's axis
    joints[:, 0] = root
    joints[:, 1] = root + bone["spine1"] * spine
    joints[:, 20] = joints[:, 1] + bone["spine2"] * spine
    joints[:, 2] = joints[:, 20] + bone["neck"] * spine
    joints[:, 3] = joints[:, 2] + bone["head"] * spine
    for k, sign, (sh, el, wr, hd, tip, th) in (("l", 1.0, (4, 5, 6, 7, 21, 22)), ("r", -1.0, (8, 9, 10, 11, 23, 24))):
        joints[:, sh] = joints[:, 20] + sign * bone["shoulder"] * np.array([1.0, 0, 0]) - 0.02 * h * spine
        upper = limb(a[f"arm_{k}"] + a["bend"], a[f"side_{k}"], sign)
        fore = limb(a[f"arm_{k}"] + a[f"elbow_{k}"] + a["bend"], a[f"side_{k}"] + a[f"wave_{k}"], sign)
        joints[:, el] = joints[:, sh] + bone["upper"] * upper
        joints[:, wr] = joints[:, el] + bone["fore"] * fore
        joints[:, hd] = joints[:, wr] + bone["hand"] * fore
        joints[:, tip] = joints[:, hd] + bone["tip"] * fore
        joints[:, th] = joints[:, wr] + bone["thumb"] * limb(a[f"arm_{k}"] + a[f"elbow_{k}"] + 0.5, a[f"side_{k}"], sign)
    for k, sign, (hp, kn, an, ft) in (("l", 1.0, (12, 13, 14, 15)), ("r", -1.0, (16, 17, 18, 19))):
        joints[:, hp] = root + sign * bone["hip"] * np.array([1.0, 0, 0])
        joints[:, kn] = joints[:, hp] + bone["thigh"] * limb(a[f"hip_{k}"], 0.03 * one, sign)
        joints[:, an] = joints[:, kn] + bone["shin"] * limb(a[f"hip_{k}"] - a[f"knee_{k}"], 0.03 * one, sign)
        joints[:, ft] = joints[:, an] + bone["foot"] * np.array([0, -0.3, 0.95])
    yaw = rng.uniform(0, 2 * np.pi)
    turn = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    joints = joints @ turn.T + np.array([rng.uniform(-1, 1), 0, rng.uniform(2, 4)])
    joints += rng.normal(scale=rng.uniform(0.005, 0.06) * h, size=joints.shape)
    glitch = rng.random(joints.shape[:2]) < 0.04                                   # tracking glitches
    joints[glitch] += rng.normal(scale=0.1 * h, size=(int(glitch.sum()), 3))
    return joints.astype(np.float32)


@lru_cache(maxsize=4)
def _actions_split(split: str, count: int, frames: int) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng({"train": 41, "test": 42}[split])
    labels = balanced_labels(count, len(ACTIONS), rng)
    return torch.from_numpy(np.stack([synth_action(int(y), frames, rng) for y in labels])), torch.as_tensor(labels)


@builtin("skeleton-actions")
def skeleton_actions(split: str = "train", image_size=None, seed: int = 0, train_count: int = 1200,
                     test_count: int = 600, frames: int = 64) -> SkeletonDataset:
    """3-D skeleton clips (NTU RGB+D's 25 joints, 64 frames) of 10 procedural actions (walk, wave right / left hand,
    jump, squat, kick right / left, punch, clap, bow) with random body proportions, speed, phase, amplitude, window
    of action, facing direction, place, joint noise and tracking glitches; fixed train/test sets."""
    check_split(split)
    if split == "all":
        a, b = skeleton_actions("train"), skeleton_actions("test")
        return SkeletonDataset(torch.cat([a.sequences, b.sequences]), torch.cat([a.labels, b.labels]),
                               classes=list(ACTIONS), name="skeleton-actions:all")
    seqs, labels = _actions_split(split, train_count if split == "train" else test_count, frames)
    return SkeletonDataset(seqs, labels, classes=list(ACTIONS), name=f"skeleton-actions:{split}")


# ---------------------------------------------------------------- the modality
def normalise_sequence(seq: Tensor) -> Tensor:
    """[T,J,C] -> centred on joint 0's mean position and scaled to unit RMS distance from it."""
    centred = seq - seq[:, 0].mean(0)
    return centred / centred.square().sum(-1).mean().sqrt().clamp_min(1e-6)


def resample_frames(seq: Tensor, frames: int) -> Tensor:
    """[T,J,C] -> [frames,J,C] by linear interpolation over time."""
    x = seq.permute(1, 2, 0).reshape(1, -1, seq.shape[0])                               # [1,J*C,T]
    x = torch.nn.functional.interpolate(x, size=frames, mode="linear", align_corners=True)
    return x.reshape(seq.shape[1], seq.shape[2], frames).permute(2, 0, 1)


class SkeletonTransform:
    """[T,J,C] -> [frames,J,C], normalised. With `augment`: a random window of 80-100% of the frames, a turn of
    up to 30 degrees about the vertical (y) axis for 3-D joints and a scale of 0.9-1.1; else the whole sequence."""

    def __init__(self, frames: int, augment: bool = False):
        self.frames, self.augment = frames, augment

    def __call__(self, seq: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if not self.augment or generator is None:
            return resample_frames(normalise_sequence(seq.float()), self.frames)
        t = seq.shape[0]
        length = max(2, int(round(t * (0.8 + 0.2 * float(torch.rand(1, generator=generator))))))
        start = int(torch.randint(0, t - length + 1, (1,), generator=generator))
        x = normalise_sequence(seq[start:start + length].float())
        if x.shape[-1] == 3:
            yaw = (float(torch.rand(1, generator=generator)) - 0.5) * math.pi / 3
            c, s = math.cos(yaw), math.sin(yaw)
            x = x @ torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]]).T
        x = x * (0.9 + 0.2 * float(torch.rand(1, generator=generator)))
        return resample_frames(x, self.frames)

    def invert(self, x: Tensor) -> Tensor:
        return x


@register_modality
class SkeletonModality(Modality):
    """Joint sequences [T,J,C] (SkeletonMAE, row 18): the data's graph is given to the recipe before the model is
    built; the model's tokenizer sets the frame count."""

    name = "skeleton"

    def configure(self, config, data, args: dict) -> None:
        """A folder with its own `skeleton.json` builds the model on that graph (unless --arg sets it)."""
        graph = getattr(data, "graph", NTU_GRAPH)
        if graph != NTU_GRAPH:
            for key in ("joints", "edges", "parts"):
                config.recipe_args.setdefault(key, graph[key])

    def pretrain_transform(self, model, config):
        return SkeletonTransform(model.tokenizer.frames, augment=True)

    def eval_transform(self, model, config):
        return SkeletonTransform(model.tokenizer.frames)
