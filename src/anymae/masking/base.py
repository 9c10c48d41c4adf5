"""The Mask contract and the Masker base class (MAE's `random_masking`, row 0)."""
from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real

import torch
from torch import Tensor, nn


@dataclass
class Mask:
    """Which tokens each sample keeps and hides; index tensors, all sorted by the masker's order.

    keep     [B,Nv] indices of visible tokens (the encoder sees these, in this order)
    hidden   [B,Nh] indices of hidden tokens
    restore  [B,N]  position of each original token in cat(keep, hidden): gathering
                    cat(visible, hidden) with it gives back the original order
    bool     [B,N]  True where hidden
    predict  [B,Np] tokens the decoder predicts and the loss covers (default: `hidden`;
                    a subset under VideoMAE V2's decoder masking)
    """

    keep: Tensor
    hidden: Tensor
    restore: Tensor
    bool: Tensor
    predict: Tensor

    @property
    def num_visible(self) -> int:
        return self.keep.shape[1]

    @property
    def num_tokens(self) -> int:
        return self.restore.shape[1]

    @classmethod
    def from_order(cls, order: Tensor, num_keep: int) -> "Mask":
        """order [B,N] a permutation per sample: its first `num_keep` entries are kept."""
        keep, hidden = order[:, :num_keep], order[:, num_keep:]
        restore = torch.argsort(order, dim=1)
        hidden_bool = torch.ones_like(order, dtype=torch.bool)
        hidden_bool.scatter_(1, keep, False)
        return cls(keep=keep, hidden=hidden, restore=restore, bool=hidden_bool, predict=hidden)

    @classmethod
    def from_bool(cls, hidden_bool: Tensor, num_hidden: int | None = None) -> "Mask":
        """hidden_bool [B,N], the same count of True per row -> Mask (kept first, each set in index order).

        `num_hidden` states the count for an empty batch (B = 0), where the rows cannot tell it.
        """
        counts = hidden_bool.sum(1)
        if counts.numel() and not bool((counts == counts[0]).all()):
            raise ValueError(f"every sample must hide the same number of tokens, got counts {counts.tolist()}")
        hidden = int(counts[0]) if counts.numel() else (num_hidden or 0)
        # stable sort puts kept (False) before hidden (True), each in index order
        order = torch.sort(hidden_bool.to(torch.int8), dim=1, stable=True).indices
        return cls.from_order(order, hidden_bool.shape[1] - hidden)

    def with_predict(self, predict: Tensor) -> "Mask":
        return Mask(self.keep, self.hidden, self.restore, self.bool, predict)

    def to(self, device) -> "Mask":
        keep, hidden, restore, hidden_bool = (t.to(device) for t in (self.keep, self.hidden, self.restore, self.bool))
        predict = hidden if self.predict is self.hidden else self.predict.to(device)  # decoders test `is`
        return Mask(keep, hidden, restore, hidden_bool, predict)


def num_visible(num_tokens: int, ratio: float, rounding: str = "round") -> int:
    """Tokens kept at a mask ratio: round(N(1-ratio)), at least 1 and at most N - 1.

    At least one token is hidden, so there is always something to predict (an empty loss is NaN).
    `rounding="floor"` gives int(N(1-ratio)), MAE's and Hugging Face ViTMAE's `len_keep` (floating-point
    error included: N=100, ratio 0.9 keeps 9), for exact parity with their masks.
    """
    if isinstance(ratio, bool) or not isinstance(ratio, Real) or not 0.0 < ratio < 1.0:
        raise ValueError(f"mask ratio must be a number in (0, 1), got {ratio!r}")
    if rounding not in ("round", "floor"):
        raise ValueError(f"rounding must be 'round' or 'floor', got {rounding!r}")
    if num_tokens < 2:
        raise ValueError(f"cannot mask {num_tokens} token(s): masking needs at least 2 (one seen, one hidden)")
    kept = num_tokens * (1.0 - ratio)
    return min(num_tokens - 1, max(1, int(round(kept)) if rounding == "round" else int(kept)))


def check_sample_args(batch_size: int, grid) -> int:
    """Validate a masker's `sample(batch_size, grid)` arguments -> the token count N (ValueError otherwise)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 0:
        raise ValueError(f"batch size must be a whole number >= 0, got {batch_size!r}")
    sizes = tuple(grid) if isinstance(grid, (tuple, list, torch.Size)) else ()
    if not sizes or not all(isinstance(g, Integral) and not isinstance(g, bool) and g >= 1 for g in sizes):
        raise ValueError(f"token grid must be a non-empty tuple of whole numbers >= 1, got {grid!r}")
    n = 1
    for g in sizes:
        n *= int(g)
    return n


@dataclass
class MaskerExample:
    """What a masker needs to be drawn (`anymae masks`) and timed (`benchmarks/maskers.py`).

    A masker class says it with the classmethod `example(spatial)`; the gallery and the
    benchmark read nothing else, so a new masker shows up in both once it is registered.

    grid       token grid the masker works on; the last two dims are drawn as an image, any
               leading dims (time slots, channels, modalities) as panels side by side
    group      [N] group id per token (channel / modality), or None
    scores     True when the masker reads per-token scores `[B,N]` (given as `scores=`)
    variants   constructor arguments, one gallery row each (e.g. the four ColorMAE colours)
    progress   training progress to set (`set_progress`) before drawing, or None
    note       what the gallery should say about the inputs it made up (e.g. where scores come from)
    spectrum   True: the gallery also draws the measured power spectrum of the masks (ColorMAE)
    """

    grid: tuple[int, ...]
    group: Tensor | None = None
    scores: bool = False
    variants: list[dict] = field(default_factory=lambda: [{}])
    progress: float | None = None
    note: str = ""
    spectrum: bool = False


class Masker(nn.Module):
    """Base: `forward(tokens, generator) -> Mask`. Maskers hold no learnable state unless stated.

    Hooks every masker has (and may override):
    - `example(spatial)` (classmethod): a `MaskerExample`; default a plain 2-D grid of `spatial`.
    - `set_progress(fraction)`: the trainer tells the masker how far training is (0..1) before each
      step; a mask-ratio `schedule` (masking/schedule.py) then sets `ratio`, and maskers with their
      own curriculum (HPM's easy-to-hard) read `progress`.
    - `bind(tokenizer)`: learn the token layout (maskers that corrupt the input before tokenizing).
    - `scorer(model, tokens) -> [B,N] | None`: per-token scores `forward` reads (HPM, guided masking).
    - `corrupts_input` / `corrupt(x, generator) -> (x', Mask)`: the masker corrupts the input instead of
      dropping tokens; the encoder then sees every token (SimMIM-style, frequency masking).
    - `term_specs()`: extra terms the masker needs in the model, as (registered name, arguments) of the
      terms/ registry (HPM's loss predictor); `MaskedAutoencoder.set_masker` adds them.
    """

    ratio: float
    progress: float | None = None
    schedule = None

    @classmethod
    def example(cls, spatial: tuple[int, int] = (14, 14)) -> MaskerExample:
        return MaskerExample(grid=tuple(spatial))

    def set_progress(self, fraction: float) -> None:
        """fraction of training done, in [0, 1]; moves `ratio` along the schedule when there is one."""
        self.progress = min(1.0, max(0.0, float(fraction)))
        if self.schedule is not None:
            self.ratio = self.schedule(self.progress)

    corrupts_input = False

    def bind(self, tokenizer) -> None:
        """Learn the token layout (default: nothing to learn)."""

    def scorer(self, model, tokens) -> Tensor | None:
        """Per-token scores [B,N] for `forward`, or None (default: the masker reads no scores)."""
        return None

    def term_specs(self) -> list[tuple[str, dict]]:
        """Extra terms this masker needs: [(name in anymae.terms.TERMS, arguments)]."""
        return []

    @property
    def reads_scores(self) -> bool:
        return type(self).scorer is not Masker.scorer

    @property
    def reads_content(self) -> bool:
        """The mask depends on the sample (scores, corruption, its own `forward`), not the grid alone."""
        return self.reads_scores or self.corrupts_input or type(self).forward is not Masker.forward

    def forward(self, tokens, generator: torch.Generator | None = None, scores: Tensor | None = None) -> Mask:
        return self.sample(tokens.batch_size, tokens.grid, generator=generator, device=tokens.embed.device)

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> Mask:
        raise NotImplementedError


def uniform(shape, generator: torch.Generator | None, device) -> Tensor:
    """Uniform noise drawn from `generator` (on its device), moved to `device`."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def order_by_scores(scores: Tensor, generator: torch.Generator | None, descending: bool = False) -> Tensor:
    """scores [B,N] -> order [B,N] sorting each row by score, ties broken uniformly at random.

    A random permutation first, then a stable sort of the permuted scores: tokens with equal
    scores keep the random order of the permutation.
    """
    perm = torch.argsort(uniform(scores.shape, generator, scores.device), dim=1)
    permuted = torch.gather(scores, 1, perm)
    idx = torch.sort(permuted, dim=1, descending=descending, stable=True).indices
    return torch.gather(perm, 1, idx)


def mask_from_permutation(order: Tensor, num_keep: int) -> Mask:
    """`Mask.from_order` for an order known to be a permutation: `restore` by a scatter, not a sort."""
    restore = torch.empty_like(order).scatter_(1, order, torch.arange(order.shape[1], device=order.device)
                                              .expand_as(order))
    keep, hidden = order[:, :num_keep], order[:, num_keep:]
    return Mask(keep=keep, hidden=hidden, restore=restore, bool=restore >= num_keep, predict=hidden)
