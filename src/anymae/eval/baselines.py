"""Hand-made features every probe table shows beside the encoder: one function per modality, each
`(train, test) -> [(name, train features [M,F], test features [M',F])]` on the probe's data sets
(items `(input, label, index)`, inputs through the eval transform)."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


# ---------------------------------------------------------------- features
def model_view(dataset) -> Tensor:
    """[M,...] in [0,1]: every sample of `dataset` through its (eval) transform and back, at the model's
    size, before normalisation (what the encoder sees)."""
    tf = dataset.transform
    return torch.stack([tf.invert(tf(dataset.pixels(i))) for i in range(len(dataset))])


def model_inputs(dataset, key: str | None = None) -> Tensor:
    """[M,...]: every transformed (normalised) input of `dataset`; `key` picks one entry of dict samples."""
    return torch.stack([dataset[i][0] if key is None else dataset[i][0][key] for i in range(len(dataset))])


def hog_features(images: Tensor) -> np.ndarray:
    """images [M,C,H,W] in [0,1] -> HOG (9 orientations, 4x4 cells, 2x2 blocks) of the grey image [M,F]."""
    return hog_blocks(images).reshape(len(images), -1)


def hog_blocks(images: Tensor) -> np.ndarray:
    """images [M,C,H,W] in [0,1] -> `hog_features`' blocks as tokens [M,blocks,36]: the same numbers, unflattened."""
    from skimage.feature import hog
    grey = images.float().mean(1).numpy()
    cell = max(2, grey.shape[-1] // 4)
    blocks = [hog(g, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2), feature_vector=False)
              for g in grey]                                                  # each [rows,cols,2,2,9]
    return np.stack([b.reshape(-1, b[0, 0].size) for b in blocks])


def patches(images: Tensor, patch: int) -> np.ndarray:
    """images [M,C,H,W] -> non-overlapping patch x patch patches as tokens [M,(H/p)(W/p),C*p*p]."""
    return torch.nn.functional.unfold(images.float(), patch, stride=patch).transpose(1, 2).numpy()


def stretch(x: Tensor) -> Tensor:
    """x [M,...] -> each sample min-max scaled to [0,1] (normalised values made drawable for HOG)."""
    dims = tuple(range(1, x.ndim))
    low = x.amin(dims, keepdim=True)
    return (x - low) / (x.amax(dims, keepdim=True) - low).clamp_min(1e-6)


def clip_hog(frame: np.ndarray) -> np.ndarray:
    """frame [H,W] -> HOG (9 orientations, 4 x 4 cells, 2 x 2 blocks)."""
    from skimage.feature import hog
    cell = max(2, frame.shape[-1] // 4)
    return hog(frame, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2), feature_vector=True)


def motion_features(clips: Tensor) -> np.ndarray:
    """clips [M,C,T,H,W] in [0,1] -> HOG of the mean frame + HOG of the mean absolute frame difference.

    The mean frame shows what is where (and the blur of a moving thing); the frame-difference image
    is the trail that motion leaves, whose orientation is the direction of travel.
    """
    grey = clips.float().mean(1)                                   # [M,T,H,W]
    mean_frame = grey.mean(1).numpy()
    motion = (grey[:, 1:] - grey[:, :-1]).abs().mean(1).numpy()
    return np.stack([np.concatenate([clip_hog(a), clip_hog(m)]) for a, m in zip(mean_frame, motion)])


def d2_histogram(clouds: Tensor, bins: int = 32, pairs: int = 4096, seed: int = 0) -> np.ndarray:
    """Osada et al.'s D2 shape distribution: histogram of distances between random point pairs
    (the same pair indices for every cloud) over [0, 2], normalised: clouds [M,P,3] -> [M,bins]."""
    g = torch.Generator().manual_seed(seed)
    i, j = torch.randint(0, clouds.shape[1], (2, pairs), generator=g)
    dist = (clouds[:, i] - clouds[:, j]).norm(dim=-1)                              # [M,pairs]
    which = (dist / 2 * bins).long().clamp(0, bins - 1)
    hist = torch.zeros(clouds.shape[0], bins).scatter_add_(1, which, torch.ones_like(dist))
    return (hist / pairs).numpy()


def pca_features(clouds: Tensor) -> np.ndarray:
    """Covariance eigenvalues per cloud: [M,P,3] -> [M,6] = eigenvalues / their sum (3, descending),
    linearity (l1-l2)/l1, planarity (l2-l3)/l1, sphericity l3/l1."""
    centred = clouds - clouds.mean(1, keepdim=True)
    cov = centred.transpose(1, 2) @ centred / clouds.shape[1]
    ev = torch.linalg.eigvalsh(cov.double()).flip(-1).clamp_min(1e-12)              # [M,3] descending
    l1, l2, l3 = ev.unbind(-1)
    return torch.cat([ev / ev.sum(-1, keepdim=True),
                      torch.stack([(l1 - l2) / l1, (l2 - l3) / l1, l3 / l1], -1)], -1).float().numpy()


def flat(pair: list[Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """[train [M,...], test [M',...]] -> their samples flattened to numpy rows."""
    return pair[0].flatten(1).numpy(), pair[1].flatten(1).numpy()


# ---------------------------------------------------------------- one function per modality
def image_baselines(train, test):
    """Raw pixels and HOG of what the encoder sees (in [0,1])."""
    pixels = [model_view(d) for d in (train, test)]
    return [("raw pixels", *flat(pixels)), ("HOG", hog_features(pixels[0]), hog_features(pixels[1]))]


def multichannel_baselines(train, test):
    """Raw normalised values (no clamping to [0,1]) and HOG of each sample stretched to [0,1]."""
    pixels = [model_inputs(d) for d in (train, test)]
    grey = [stretch(p) for p in pixels]
    return [("raw pixels", *flat(pixels)), ("HOG", hog_features(grey[0]), hog_features(grey[1]))]


def spectral_baselines(train, test):
    """Raw band values, the mean spectrum [M,C], and HOG of the band mean."""
    pixels = [model_inputs(d, "pixels") for d in (train, test)]
    grey = [stretch(p.mean(1, keepdim=True)) for p in pixels]                  # [M,1,H,W] in [0,1]
    return [("raw pixels", *flat(pixels)),
            ("mean spectrum", pixels[0].mean((2, 3)).numpy(), pixels[1].mean((2, 3)).numpy()),
            ("HOG (band mean)", hog_features(grey[0]), hog_features(grey[1]))]


def multimodal_baselines(train, test):
    """Raw pixels and HOG of the RGB modality (none when the samples have no RGB)."""
    if "rgb" not in train.names:
        return []
    rgb = [torch.stack([d.transform.invert("rgb", d[i][0]["rgb"]) for i in range(len(d))]).clamp(0, 1)
           for d in (train, test)]
    return [("raw pixels (rgb)", *flat(rgb)), ("HOG (rgb)", hog_features(rgb[0]), hog_features(rgb[1]))]


def video_baselines(train, test):
    """Raw clip pixels and HOG of the mean frame + the mean frame difference."""
    clips = [model_view(d) for d in (train, test)]                # [M,C,T,H,W] in [0,1]
    return [("raw pixels (clip)", *flat(clips)),
            ("HOG mean frame + frame diff", motion_features(clips[0]), motion_features(clips[1]))]


def points_baselines(train, test):
    """D2 shape histograms, alone and with the covariance eigenvalue features."""
    clouds = [model_inputs(d) for d in (train, test)]
    d2 = [d2_histogram(c) for c in clouds]
    both = [np.concatenate([h, pca_features(c)], axis=1) for h, c in zip(d2, clouds)]
    return [("D2 shape histogram", d2[0], d2[1]), ("D2 + PCA eigenvalues", both[0], both[1])]


def mfcc_statistics(waves: Tensor, sample_rate: int, coefficients: int = 13, mels: int = 40) -> np.ndarray:
    """The classical clip descriptor: MFCCs (DCT-II of the log-mel, 25 ms windows, 10 ms hop, 40 mels) and their
    deltas, each summarised by mean and standard deviation over time: waves [M,S] -> [M,4*coefficients]."""
    from scipy.fft import dct
    from ..tokenizers.audio import log_mel
    n_fft, hop = int(round(0.025 * sample_rate)), int(round(0.010 * sample_rate))
    spec = log_mel(waves, sample_rate, n_fft, hop, mels).numpy()                   # [M,mels,T]
    mfcc = dct(spec, type=2, axis=1, norm="ortho")[:, :coefficients]              # [M,c,T]
    delta = np.gradient(mfcc, axis=2)
    return np.concatenate([mfcc.mean(2), mfcc.std(2), delta.mean(2), delta.std(2)], axis=1)


def audio_baselines(train, test):
    """Raw waveform samples and MFCC statistics (mean and std of 13 MFCCs and their deltas)."""
    waves = [model_inputs(d) for d in (train, test)]
    rate = train.transform.sample_rate
    return [("raw waveform", *flat(waves)),
            ("MFCC statistics", mfcc_statistics(waves[0], rate), mfcc_statistics(waves[1], rate))]


def text_baselines(train, test):
    """TF-IDF of words (fitted on the train documents), the field's classical text features."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    docs = [[d.pixels(i) for i in range(len(d))] for d in (train, test)]
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=5000).fit(docs[0])
    return [("TF-IDF words", tfidf.transform(docs[0]).toarray(), tfidf.transform(docs[1]).toarray())]


BASELINES = {"text": text_baselines, "image": image_baselines, "multichannel": multichannel_baselines, "spectral": spectral_baselines,
             "multimodal": multimodal_baselines, "video": video_baselines, "points": points_baselines}
BASELINES["audio"] = audio_baselines


def image_text_baselines(train, test):
    """Image-caption pairs (M3AE): raw pixels and HOG of the images (the captions name the label)."""
    images = [torch.stack([d.transform.invert("image", d[i][0]["image"]) for i in range(len(d))]).clamp(0, 1)
              for d in (train, test)]
    return [("raw pixels", *flat(images)), ("HOG", hog_features(images[0]), hog_features(images[1]))]


BASELINES["image-text"] = image_text_baselines


def token_baselines(modality: str, train, test, patch: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The image baselines as token sets for the attentive probe: raw pixels cut into the encoder's patch x patch
    patches, HOG's blocks; named as the rows of `baselines` they unflatten. Images and multi-channel images."""
    if modality == "image":
        pixels, grey = ([model_view(d) for d in (train, test)],) * 2
    elif modality == "multichannel":
        pixels = [model_inputs(d) for d in (train, test)]
        grey = [stretch(p) for p in pixels]
    else:
        raise ValueError(f"the attentive probe reads images and multi-channel images; {modality} runs have no "
                         f"token baselines to read the same way (probe without --attentive)")
    return [("raw pixels", patches(pixels[0], patch), patches(pixels[1], patch)),
            ("HOG", hog_blocks(grey[0]), hog_blocks(grey[1]))]


def baselines(modality: str, train, test) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The hand-made features of `modality` for the probe table (none for a modality without any)."""
    make = BASELINES.get(modality)
    return make(train, test) if make is not None else []


# ---------------------------------------------------------------- volumes (rows 15, 17, 25)
def pooled_voxels(volumes: Tensor, side: int = 16) -> np.ndarray:
    """[M,C,D,H,W] -> [M,F]: average-pooled to at most `side` per axis, flattened."""
    size = [min(side, s) for s in volumes.shape[2:]]
    return torch.nn.functional.adaptive_avg_pool3d(volumes.float(), size).flatten(1).numpy()


def mid_slice_hog(volumes: Tensor) -> np.ndarray:
    """[M,C,D,H,W] -> HOG of the axial, coronal and sagittal mid-slices, concatenated."""
    d, h, w = volumes.shape[2:]
    slices = [volumes[:, :, d // 2], volumes[:, :, :, h // 2], volumes[:, :, :, :, w // 2]]
    return np.concatenate([hog_features(s) for s in slices], axis=1)


def volume_baselines(train, test):
    """Raw voxels (pooled to 16^3 at most) and the HOG of the three orthogonal mid-slices."""
    views = [model_view(d) for d in (train, test)]
    return [("raw voxels (16^3)", pooled_voxels(views[0]), pooled_voxels(views[1])),
            ("HOG of 3 mid-slices", mid_slice_hog(views[0]), mid_slice_hog(views[1]))]


BASELINES["volume"] = volume_baselines


# ---------------------------------------------------------------- skeletons (row 18)
def joint_angle_statistics(sequences: Tensor, edges) -> np.ndarray:
    """The classical skeleton descriptor: at every joint, the angle between each pair of bones that meet there
    (view- and size-invariant), and each joint's speed; each summarised over time by mean, standard deviation,
    minimum and maximum: sequences [M,T,J,C] -> [M,4*(angles+J)]."""
    neighbours: dict[int, list[int]] = {}
    for a, b in edges:
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    triples = [(j, n[i], n[k]) for j, n in sorted(neighbours.items()) for i in range(len(n)) for k in range(i + 1, len(n))]
    x = sequences.double()
    centre, first, second = (torch.tensor(c) for c in zip(*triples))
    u, v = x[:, :, first] - x[:, :, centre], x[:, :, second] - x[:, :, centre]                    # [M,T,A,C]
    cosine = (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1)).clamp_min(1e-9)
    angles = torch.arccos(cosine.clamp(-1, 1))                                                   # [M,T,A]
    speed = (x[:, 1:] - x[:, :-1]).norm(dim=-1)                                                  # [M,T-1,J]
    stats = [torch.cat([f.mean(1), f.std(1), f.amin(1), f.amax(1)], dim=1) for f in (angles, speed)]
    return torch.cat(stats, dim=1).float().numpy()


def skeleton_baselines(train, test):
    """Raw joint coordinates (normalised, at the model's frame count) and joint-angle statistics."""
    seqs = [model_inputs(d) for d in (train, test)]                                              # [M,T,J,C]
    edges = train.graph["edges"]
    return [("raw joints", *flat(seqs)),
            ("joint-angle statistics", joint_angle_statistics(seqs[0], edges), joint_angle_statistics(seqs[1], edges))]


BASELINES["skeleton"] = skeleton_baselines


# ---------------------------------------------------------------- embedding sequences (row 14)
def embedding_baselines(train, test):
    """The mean of the segment embeddings (the usual pooling of clip features) and the raw sequence, flattened."""
    seqs = [model_inputs(d) for d in (train, test)]                                              # [M,T,D]
    return [("mean segment embedding", seqs[0].mean(1).numpy(), seqs[1].mean(1).numpy()),
            ("raw sequence", *flat(seqs))]


BASELINES["embeddings"] = embedding_baselines


# ---------------------------------------------------------------- audio-visual clips (row 16)
def audiovisual_baselines(train, test):
    """MFCC statistics of the soundtrack, HOG of the mean frame + mean frame difference of the clip, and both."""
    waves = [model_inputs(d, "audio") for d in (train, test)]
    clips = [torch.stack([d.transform.invert_video(d[i][0]["video"]) for i in range(len(d))]) for d in (train, test)]
    rate = train.transform.sample_rate
    mfcc = [mfcc_statistics(w, rate) for w in waves]
    motion = [motion_features(c) for c in clips]
    both = [np.concatenate([a, b], axis=1) for a, b in zip(mfcc, motion)]
    return [("MFCC statistics (audio)", *mfcc), ("HOG mean frame + frame diff (video)", *motion),
            ("MFCC + HOG motion (both)", *both)]


BASELINES["audiovisual"] = audiovisual_baselines
