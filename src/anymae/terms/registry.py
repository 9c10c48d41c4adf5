"""Extra terms by name: a masker asks the model for the ones it needs (`Masker.term_specs`)."""
from ..registry import Registry

TERMS = Registry("extra term")
