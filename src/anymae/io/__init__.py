"""Checkpoints (safetensors), run folders, atomic writes; import/export of other formats."""
from .checkpoint import build_untrained, load_run, load_weights, read_config, save_weights
from .files import atomic_path, write_bytes, write_text
from .interop import export_run, import_checkpoint

__all__ = ["save_weights", "load_weights", "load_run", "read_config", "build_untrained", "atomic_path",
           "write_bytes", "write_text", "import_checkpoint", "export_run"]
