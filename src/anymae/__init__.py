"""anymae: masked autoencoders for any modality."""
from .model import MAEOutput, MaskedAutoencoder
from .recipes import create, list_recipes, register

__version__ = "0.1.0"
__all__ = ["MaskedAutoencoder", "MAEOutput", "create", "list_recipes", "register", "__version__"]
