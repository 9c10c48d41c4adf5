"""Recipes: one small file per paper/family; importing this package registers them all."""
import importlib
import pkgutil

from .registry import RECIPES, Recipe, create, get_recipe, list_recipes, register

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["RECIPES", "Recipe", "create", "get_recipe", "list_recipes", "register"]
