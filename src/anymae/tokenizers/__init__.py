"""Tokenizers: a modality's raw tensor -> Tokens (values, embeddings, positions)."""
from .base import Tokenizer, Tokens
from .patch import PatchTokenizer
from .points import PointGroupTokenizer, farthest_point_sample, knn_indices
from .position import GridPosition, sincos_1d, sincos_grid

__all__ = ["Tokens", "Tokenizer", "PatchTokenizer", "PointGroupTokenizer", "farthest_point_sample", "knn_indices", "GridPosition", "sincos_1d", "sincos_grid"]
