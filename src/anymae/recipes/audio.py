"""Audio masked autoencoders: log-mel patches of waveforms (the audio branch of HiCMAE, PAPERS.md row 16,
pretrained alone, as AudioMAE: 80% unstructured masking, pixel MSE on the hidden spectrogram patches)."""
from __future__ import annotations

from ..decoders import MAEDecoder
from ..encoders import ViTEncoder
from ..losses import MSELoss
from ..masking.time_frequency import TimeFrequencyMasker
from ..model import MaskedAutoencoder
from ..targets import PixelTarget
from ..tokenizers import AudioTokenizer
from .registry import register


def audio_mae(sample_rate, n_fft, hop, mels, frames, patch_size, mask_ratio, mask_mode, dim, depth, heads,
              decoder_dim, decoder_depth, decoder_heads, norm_pix=True, norm_mean=-4.0, norm_std=3.5):
    return MaskedAutoencoder(
        tokenizer=AudioTokenizer(sample_rate, n_fft, hop, mels, frames, patch_size, dim=dim, norm_mean=norm_mean,
                                 norm_std=norm_std),
        masker=TimeFrequencyMasker(mask_ratio, mode=mask_mode),
        encoder=ViTEncoder(dim=dim, depth=depth, heads=heads),
        decoder=MAEDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads),
        target=PixelTarget(norm=norm_pix), loss=MSELoss())


# Laptop defaults measured on `sounds` (docs/modalities.md): the raw standardised log-mel patches as the target
# (per-patch normalisation turns the many background-noise patches into unit-variance noise the decoder cannot
# predict), 600 steps at base lr 5e-3; 300 steps at 2e-3 with normalised patches probed below random init.
@register("audio_mae_tiny", paper=16, modality="audio", train={"batch_size": 64, "blr": 5e-3, "steps": 600})
def audio_mae_tiny(sample_rate=8000, n_fft=200, hop=80, mels=64, frames=96, patch_size=8, mask_ratio=0.8,
                   mask_mode="unstructured", dim=128, depth=6, heads=4, decoder_dim=96, decoder_depth=2,
                   decoder_heads=4, norm_pix=False):
    """Audio MAE for a CPU: 0.95 s at 8 kHz -> 64 mels x 96 frames, 8x8 patches (96 tokens), 128-d x 6 ViT,
    80% unstructured masking (AudioMAE's default), 96-d x 2 decoder; MSE on the hidden patches' standardised log-mel
    (`norm_pix=True`: AudioMAE's per-patch normalised target)."""
    return audio_mae(sample_rate, n_fft, hop, mels, frames, patch_size, mask_ratio, mask_mode, dim, depth, heads,
                     decoder_dim, decoder_depth, decoder_heads, norm_pix)
