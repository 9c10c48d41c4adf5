"""Tokenizers: a modality's raw tensor -> Tokens (values, embeddings, positions)."""
from .base import Tokenizer, Tokens
from .patch import PatchTokenizer
from .position import GridPosition, sincos_1d, sincos_grid
from .tubelet import TubeletTokenizer

__all__ = ["Tokens", "Tokenizer", "PatchTokenizer", "GridPosition", "sincos_1d", "sincos_grid", "TubeletTokenizer"]
