"""SkeletonMAE (Yan et al. 2023, PAPERS.md row 18): joint sequences, joints / body parts hidden across every frame,
an encoder and a one-layer decoder whose attention follows the skeleton graph, MSE on the hidden joints."""
from __future__ import annotations

from ..decoders.graph import GraphDecoder
from ..encoders.graph import GraphBiasedEncoder
from ..losses import MSELoss
from ..masking.skeleton import SkeletonMasker
from ..model import MaskedAutoencoder
from ..targets import PixelTarget
from ..targets.skeleton import JointEdgeTarget, JointMotionTarget
from ..tokenizers.skeleton import SkeletonTokenizer, default_graph
from .registry import register


TARGETS = ("joints", "joints+edges", "joints+motion", "motion")


def skeleton_mae(frames, joints, channels, segment, edges, parts, mask_ratio, mask_mode, dim, depth, heads,
                 decoder_dim, decoder_depth, decoder_heads, max_hop, reconstruct="joints+edges") -> MaskedAutoencoder:
    """reconstruct "joints": each hidden token's joint coordinates (PixelTarget(norm=False) of the normalised sequence);
    "joints+edges" (SkeletonMAE): those and the bone from the joint's parent over the same frames;
    "joints+motion" / "motion" (MAMP): those and / or the joint's frame-to-frame motion over the same frames."""
    if reconstruct not in TARGETS:
        raise ValueError(f"reconstruct must be one of {', '.join(TARGETS)}, got {reconstruct!r}")
    edges, parts = default_graph(joints, edges, parts)
    return MaskedAutoencoder(
        tokenizer=SkeletonTokenizer(frames, joints, channels, segment, edges, parts, dim=dim),
        masker=SkeletonMasker(mask_ratio, mode=mask_mode),
        encoder=GraphBiasedEncoder(dim=dim, depth=depth, heads=heads, joints=joints, edges=edges, max_hop=max_hop),
        decoder=GraphDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads, joints=joints, edges=edges,
                             max_hop=max_hop),
        target=skeleton_target(reconstruct), loss=MSELoss())


def skeleton_target(reconstruct: str):
    if reconstruct == "joints+edges":
        return JointEdgeTarget()
    if reconstruct in ("joints+motion", "motion"):
        return JointMotionTarget(appearance=reconstruct == "joints+motion")
    return PixelTarget(norm=False)


@register("skeletonmae_base", paper=18, modality="skeleton")
def skeletonmae_base(frames=120, joints=25, channels=3, segment=4, edges=None, parts=None, mask_ratio=0.4,
                     mask_mode="part", dim=256, depth=8, heads=8, decoder_dim=256, decoder_depth=1, decoder_heads=8,
                     max_hop=4, reconstruct="joints+edges"):
    """SkeletonMAE at a paper-like size: 120 frames of NTU RGB+D's 25 joints, 256-d x 8 graph-biased encoder,
    one-layer graph-biased decoder (the paper's decoder is one GIN layer), body-part masking, joints + edges."""
    return skeleton_mae(frames, joints, channels, segment, edges, parts, mask_ratio, mask_mode, dim, depth, heads,
                        decoder_dim, decoder_depth, decoder_heads, max_hop, reconstruct)


# Laptop defaults measured on `skeleton-actions` (docs/modalities.md): MAMP's motion target beside the joints and
# 90% of the tokens hidden at random, 600 steps at batch 32, base lr 8e-3; SkeletonMAE's body-part masking at 0.4
# with joint (or joint + edge) targets at base lr 2e-3 did not beat random init at a few minutes of CPU.
@register("skeletonmae_tiny", paper=18, modality="skeleton", train={"batch_size": 32, "blr": 8e-3, "steps": 600})
def skeletonmae_tiny(frames=32, joints=25, channels=3, segment=4, edges=None, parts=None, mask_ratio=0.9,
                     mask_mode="random", dim=96, depth=4, heads=4, decoder_dim=64, decoder_depth=1, decoder_heads=4,
                     max_hop=4, reconstruct="joints+motion"):
    """SkeletonMAE for a CPU: 32 frames x 25 joints in 4-frame tokens (200), 96-d x 4 graph-biased encoder,
    64-d x 1 decoder; changed for the laptop budget: 90% of the tokens hidden at random and each hidden joint's
    coordinates and motion as the target (MAMP's); `mask_mode="part", mask_ratio=0.4, reconstruct="joints+edges"`
    is SkeletonMAE's setting."""
    return skeleton_mae(frames, joints, channels, segment, edges, parts, mask_ratio, mask_mode, dim, depth, heads,
                        decoder_dim, decoder_depth, decoder_heads, max_hop, reconstruct)
