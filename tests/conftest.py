import importlib.util
import os
from pathlib import Path

import pytest
import torch

# Tests are small: one thread each keeps them fast and steady on a 2-core machine.
torch.set_num_threads(int(os.environ.get("ANYMAE_TEST_THREADS", "1")))

TINY = ["--arg", "depth=1", "--arg", "dim=32", "--arg", "heads=2", "--arg", "decoder_dim=32",
        "--arg", "decoder_depth=1", "--arg", "decoder_heads=2"]


@pytest.fixture
def tiny_args():
    """Recipe overrides that make mae_vit_tiny a 1-block, 32-wide model for fast CLI tests."""
    return list(TINY)


def benchmark_module(name: str):
    """benchmarks/NAME.py imported as a module, so tests call the functions its tables come from."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
