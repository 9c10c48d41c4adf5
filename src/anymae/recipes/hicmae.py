"""HiCMAE (PAPERS.md row 16): audio-visual masked autoencoding with hierarchical contrastive learning.

Video tubelets (tube masking, 90%) and log-mel spectrogram patches (unstructured masking, 80%) each go through
their own ViT; a cross-modal fusion encoder lets each read the other; one decoder per modality reconstructs its
hidden tokens (normalised pixels / normalised log-mel patches, the two modalities' mean losses added); and at
three encoder depths the two modalities' pooled features are contrasted (InfoNCE, the clip's own soundtrack is
the positive). Sizes and settings of `hicmae_base` are facts from sunlicai/HiCMAE (`pretrain_base.sh`,
`modeling_pretrain_av.py`, `engine_for_pretraining_av.py`); what differs is said in docs/modalities.md.
"""
from __future__ import annotations

import torch

from ..decoders.hicmae import HiCMAEDecoder
from ..encoders.hicmae import HiCMAEEncoder, paired_layers
from ..losses import MSELoss
from ..losses.multimodal import MultiModalLoss
from ..masking.per_modality import PerModalityMasker
from ..masking.time_frequency import TimeFrequencyMasker
from ..masking.tube import TubeMasker
from ..model import MaskedAutoencoder
from ..targets import MotionTarget, PixelTarget
from ..targets.frame_diff import FrameDiffTarget
from ..targets.multimodal import MultiModalTarget
from ..terms.hicmae import HierarchicalContrastive
from ..tokenizers import AudioTokenizer, MultiModalTokenizer, TubeletTokenizer
from .registry import register

MODALITIES = ("video", "audio")


def layer_list(layers, depth: int) -> tuple[int, ...]:
    """"3,6,9" / (3, 6, 9) / None (HiCMAE's fractions of the depth: `paired_layers`) -> block indices."""
    if layers is None or layers == "":
        return paired_layers(depth)
    chosen = tuple(int(i) for i in (layers.split(",") if isinstance(layers, str) else layers))
    if any(not 0 <= i < depth for i in chosen):
        raise ValueError(f"contrast_layers {list(chosen)}: block indices must be in 0..{depth - 1}")
    return chosen


def hicmae(frames, image_size, patch_size, tubelet, channels, frame_stride, video_mask_ratio, sample_rate, n_fft,
           hop, mels, audio_frames, audio_patch_size, audio_mask_ratio, audio_mask_mode, dim, depth, heads,
           fusion_depth, decoder_dim, decoder_depth, decoder_heads, contrast_layers, contrast_weight, temperature,
           norm_pix=True, norm_mean=-4.0, norm_std=3.5, video_target="pixel") -> MaskedAutoencoder:
    tokenizer = MultiModalTokenizer({
        "video": TubeletTokenizer(frames, image_size, patch_size, tubelet, channels, dim=dim, frame_stride=frame_stride),
        "audio": AudioTokenizer(sample_rate, n_fft, hop, mels, audio_frames, audio_patch_size, dim=dim,
                                norm_mean=norm_mean, norm_std=norm_std)}, dim=dim)
    masker = PerModalityMasker({"video": TubeMasker(video_mask_ratio),
                                "audio": TimeFrequencyMasker(audio_mask_ratio, mode=audio_mask_mode)})
    targets = {n: PixelTarget(norm=norm_pix) for n in MODALITIES}
    if video_target in ("frame_diff", "motion"):
        # frame_diff: HiCMAE's code (`--use_frame_diff_as_target`); motion: issue 26's (pixels + differences)
        targets["video"] = FrameDiffTarget(norm=norm_pix) if video_target == "frame_diff" else MotionTarget()
        targets["video"].tubelet = targets["video"].frames_per_token(tokenizer.parts["video"])
    elif video_target != "pixel":
        raise ValueError(f"video_target {video_target!r}: HiCMAE's video target is 'pixel', 'frame_diff' or 'motion'")
    target = MultiModalTarget(targets, tokenizer.widths)
    widths = target.pred_dims(tokenizer)
    # HiCMAE adds the two modalities' mean losses; the model averages over every hidden token, so each token is
    # weighted by (all hidden tokens) / (hidden tokens of its modality)
    fixed = torch.Generator().manual_seed(0)
    hidden = {n: masker.parts[n].sample(1, tokenizer.parts[n].grid, fixed).hidden.shape[1] for n in MODALITIES}
    weights = {n: sum(hidden.values()) / hidden[n] for n in MODALITIES}
    loss = MultiModalLoss({n: MSELoss() for n in MODALITIES}, widths, target.dims(tokenizer), weights)
    return MaskedAutoencoder(
        tokenizer=tokenizer, masker=masker,
        encoder=HiCMAEEncoder(MODALITIES, dim, depth, heads, fusion_depth),
        decoder=HiCMAEDecoder(widths, decoder_dim, decoder_depth, decoder_heads),
        target=target, loss=loss,
        aux=[HierarchicalContrastive(layer_list(contrast_layers, depth), contrast_weight, temperature)])


# The laptop defaults (docs/modalities.md, benchmarks/hicmae_levers.sh): base lr 5e-3 for 2,400 steps (the lr is
# the audio branch's lever; at 600 steps neither branch beat its random init clearly, at 2,400 both seeds do),
# and probes read HiCMAE's fine-tuning features (`--pool hicmae`: each modality's own ViT and the fused tokens,
# per modality), as its code's classifier does
LAPTOP_TRAIN = {"batch_size": 32, "blr": 5e-3, "steps": 2400, "features": "hicmae"}


@register("hicmae_tiny", paper=16, modality="audiovisual", train=LAPTOP_TRAIN)
def hicmae_tiny(frames=8, image_size=32, patch_size=8, tubelet=2, channels=1, frame_stride=1, video_mask_ratio=0.9,
                sample_rate=8000, n_fft=200, hop=80, mels=64, audio_frames=96, audio_patch_size=8,
                audio_mask_ratio=0.8, audio_mask_mode="unstructured", dim=128, depth=4, heads=4, fusion_depth=2,
                decoder_dim=96, decoder_depth=2, decoder_heads=4, contrast_layers=None, contrast_weight=0.0025,
                temperature=0.07, norm_pix=True, video_target="pixel"):
    """HiCMAE for a CPU: 8 x 32 x 32 grey clips (2x8x8 tubelets, 64 tokens) + 0.95 s at 8 kHz (64 mels x 96
    frames, 8x8 patches, 96 tokens); 128-d x 4 ViT per modality, 2 fusion blocks, 96-d x 2 decoders; contrast at
    blocks 0, 1, 3; `norm_pix=False`: raw (standardised) pixels and log-mel as both targets; `video_target`:
    "pixel" (the laptop default), "frame_diff" (the paper's code, hicmae_base) or "motion" (issue 26's)."""
    return hicmae(frames, image_size, patch_size, tubelet, channels, frame_stride, video_mask_ratio, sample_rate,
                  n_fft, hop, mels, audio_frames, audio_patch_size, audio_mask_ratio, audio_mask_mode, dim, depth,
                  heads, fusion_depth, decoder_dim, decoder_depth, decoder_heads, contrast_layers, contrast_weight,
                  temperature, norm_pix, video_target=video_target)


@register("hicmae_base", paper=16, modality="audiovisual", train={"features": "hicmae"})
def hicmae_base(frames=16, image_size=160, patch_size=16, tubelet=2, channels=3, frame_stride=4,
                video_mask_ratio=0.9, sample_rate=16000, n_fft=400, hop=160, mels=128, audio_frames=256,
                audio_patch_size=16, audio_mask_ratio=0.8, audio_mask_mode="unstructured", contrast_layers="3,6,9",
                contrast_weight=0.0025, temperature=0.07, video_target="frame_diff"):
    """HiCMAE-B (its code's `pretrain_hicmae_dim512_patch16_160_a256`): 16 x 160 x 160 clips at stride 4 and
    2.56 s of 128-mel fbank, 512-d x 10 ViT per modality (8 heads), 2 fusion blocks, 384-d x 4 decoders
    (6 heads), contrast at blocks 3, 6, 9 (weight 0.0025, temperature 0.07); the video target is the code's
    frame differences (`--use_frame_diff_as_target`: normalised tubelet, second frame minus first)."""
    return hicmae(frames, image_size, patch_size, tubelet, channels, frame_stride, video_mask_ratio, sample_rate,
                  n_fft, hop, mels, audio_frames, audio_patch_size, audio_mask_ratio, audio_mask_mode, 512, 10, 8, 2,
                  384, 4, 6, contrast_layers, contrast_weight, temperature, video_target=video_target)
