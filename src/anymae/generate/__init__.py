"""Masked generation: a generator over a trained tokenizer's tokens and the samplers that run it.

`model.py` holds `MaskedTokenGenerator` (MaskGIT-style bidirectional transformer; with `enc_depth > 0` the
ENAT split: visible tokens encoded alone, mask tokens decoded from them); `schedule.py` the mask schedules;
`samplers/` one file a sampler (maskgit, enat, recap, joint), each registered in `SAMPLERS`.
"""
from .model import GenerationOutput, MaskedTokenGenerator
from .schedule import SCHEDULES, masked_counts

__all__ = ["GenerationOutput", "MaskedTokenGenerator", "SCHEDULES", "masked_counts"]
