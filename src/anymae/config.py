"""The run config: plain dataclass; config.yaml is this written down. The model fields (recipe, recipe_args,
masker, target, teachers) form its `ModelSpec` (anymae/spec.py); the rest are data and training settings."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


# The built-in data set a recipe trains on when no --data is given, by the recipe's modality
DEFAULT_DATA = {"image": "shapes", "generation": "shapes", "video": "moving-digits", "points": "point-shapes",
                "multichannel": "ihc-stains", "multimodal": "shapes-multimodal", "spectral": "spectral-shapes",
                "text": "pydocs", "image-text": "shapes-captions", "volume": "volume-shapes", "audio": "sounds",
                "audiovisual": "talking-digits", "skeleton": "skeleton-actions", "embeddings": "digit-sequences"}


def recipe_training_defaults(recipe, given=()) -> dict:
    """A recipe's own training settings (its `train=`), with its modality's built-in data unless it names one.
    `given`: the settings asked for; a given `steps` asks for steps, so the recipe's `epochs` yields to it."""
    defaults = {"data": DEFAULT_DATA.get(recipe.modality, "shapes"), **recipe.train}
    if "steps" in given:
        defaults.pop("epochs", None)
    return defaults


@dataclass
class PretrainConfig:
    recipe: str = "mae_laptop"    # the laptop-budget default (docs/defaults.md)
    data: str = "shapes"
    modality: str = "image"       # set from the data set: image, video, points, ...
    recipe_args: dict = field(default_factory=dict)   # recipe overrides (image_size, patch_size, mask_ratio, ...)
    epochs: int | None = None     # None: as many epochs as `steps` needs, so small data sets train as long
    steps: int = 300              # optimizer-step budget when `epochs` is None (a few minutes on 2 cores)
    batch_size: int = 128
    blr: float = 1.5e-4          # base learning rate; lr = blr * effective batch / 256 (MAE)
    lr: float | None = None      # absolute learning rate; overrides blr
    warmup: float = 0.1          # fraction of steps with linear warm-up
    min_lr: float = 0.0
    weight_decay: float = 0.05
    betas: tuple = (0.9, 0.95)
    accumulate: int = 1
    seed: int = 0
    precision: str | None = None  # None: bf16-mixed on CUDA, 32-true elsewhere
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    workers: int = 0
    compile: bool = False          # torch.compile the encoder and the decoder (train/speed.py)
    grad_checkpointing: bool = False  # recompute encoder blocks in backward: less memory, more time
    decoder_keep_ratio: float = 1.0   # < 1: the decoder reconstructs only this share of hidden tokens
    save_every_n_steps: int = 0
    keep_checkpoints: int = 3     # newest epoch checkpoints kept (plus last.ckpt)
    max_nonfinite_steps: int = 10  # stop after this many optimizer steps in a row with NaN/Inf loss or grads
    crop_scale: tuple = (0.2, 1.0)
    colour_jitter: float = 0.0    # images: > 0 shuffles channels, jitters brightness/contrast/saturation by this much
    mean: list | None = None      # per-channel normalisation; measured on the data when None
    std: list | None = None
    channels: int | None = None
    features: str = "mean"        # which features probes read by default (see anymae.eval.features)
    masker: str | None = None     # swap the recipe's masker for this registered one (None: the recipe's)
    masker_args: dict = field(default_factory=dict)   # its arguments (color=green, schedule=cosine, ...)
    target: str | None = None     # swap the recipe's target (anymae.targets.TARGETS), e.g. hog
    target_args: dict = field(default_factory=dict)
    teacher: list = field(default_factory=list)          # run folders of frozen teachers (--teacher RUN)
    teacher_configs: list = field(default_factory=list)  # their recipe/target settings, so a run reloads alone
    # text: a tokenizer.json (None: a WordPiece trained on the corpus); generators: the tokenizer run they generate
    tokenizer: str | None = None

    def model_spec(self):
        """The model part of this config (anymae.spec.ModelSpec), which `build_model` builds."""
        from .spec import ModelSpec
        return ModelSpec.from_config(self)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"], d["crop_scale"] = list(self.betas), list(self.crop_scale)
        return d

    @classmethod
    def for_recipe(cls, recipe: str = "mae_laptop", **settings) -> "PretrainConfig":
        """Start from `recipe`'s own training defaults (its `train=` in the registry, as `anymae pretrain
        --recipe` does), then `settings`: `PretrainConfig.for_recipe("mae_laptop", data="faces")`.
        A bare `PretrainConfig(recipe=...)` takes the class defaults (300 steps, blr 1.5e-4) instead."""
        from .recipes import get_recipe
        return cls(recipe=recipe, **{**recipe_training_defaults(get_recipe(recipe), settings), **settings})

    @classmethod
    def from_dict(cls, d: dict) -> "PretrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known - {"run", "summary", "anymae_version"})
        if unknown:
            raise ValueError(f"unknown config setting(s) {unknown}")
        d = {k: v for k, v in d.items() if k in known}
        for key in ("betas", "crop_scale"):
            if key in d:
                d[key] = tuple(d[key])
        if isinstance(d.get("teacher"), str):
            d["teacher"] = [d["teacher"]]
        d["teacher"] = list(d.get("teacher") or [])
        return cls(**d)


def make_config(base: dict | None = None, settings: dict | None = None, recipe_args: dict | None = None,
                masker: str | None = None, masker_args: dict | None = None, target: str | None = None,
                target_args: dict | None = None, teacher: list | None = None) -> PretrainConfig:
    """The config `anymae pretrain` runs: `base` (a config.yaml given with --config), then the training
    `settings` given (None values skipped), then the recipe's own training defaults for any setting neither
    names, then the model settings (merged into the base's); validated before any data loads."""
    from .recipes import get_recipe
    base, settings = base or {}, {k: v for k, v in (settings or {}).items() if v is not None}
    config = PretrainConfig.from_dict(base) if base else PretrainConfig()
    for key, value in settings.items():
        setattr(config, key, value)
    for key, value in recipe_training_defaults(get_recipe(config.recipe), settings).items():
        if key not in base and key not in settings:
            setattr(config, key, value)
    config.recipe_args = {**config.recipe_args, **(recipe_args or {})}
    if target:
        config.target = target
    config.target_args = {**config.target_args, **(target_args or {})}
    if teacher:
        config.teacher = list(teacher)
    if masker and masker != config.masker:
        config.masker, config.masker_args = masker, {}
    config.masker_args = {**config.masker_args, **(masker_args or {})}
    config.model_spec().validate()
    return config
