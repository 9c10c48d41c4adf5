"""`PretrainConfig` lives in `anymae.config` (io/ and eval/ read it without importing train/); this name stays."""
from ..config import PretrainConfig

__all__ = ["PretrainConfig"]
