"""Tokenizers: a modality's raw tensor -> Tokens (values, embeddings, positions)."""
from .audio import AudioTokenizer
from .base import Tokenizer, Tokens
from .channel import ChannelTokenizer
from .multimodal import MultiModalTokenizer, SegmentationTokenizer
from .patch import PatchTokenizer
from .points import PointGroupTokenizer, farthest_point_sample, knn_indices
from .position import GridPosition, sincos_1d, sincos_grid
from .spectral import SpectralTokenizer
from .tubelet import TubeletTokenizer

__all__ = ["Tokens", "Tokenizer", "PatchTokenizer", "ChannelTokenizer", "SpectralTokenizer", "MultiModalTokenizer",
           "SegmentationTokenizer", "TubeletTokenizer", "AudioTokenizer", "PointGroupTokenizer", "farthest_point_sample", "knn_indices",
           "GridPosition", "sincos_1d", "sincos_grid"]
