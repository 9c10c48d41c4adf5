import os

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
