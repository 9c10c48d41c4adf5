"""The motion target (targets/motion.py) and the video laptop recipes' defaults (issue 26)."""
from __future__ import annotations

import pytest
import torch

import anymae
from anymae.targets import MotionTarget, PixelTarget, make_target

SMALL = dict(frames=4, tubelet=2, image_size=16, patch_size=8, channels=1, dim=32, depth=1, heads=2, decoder_dim=32,
             decoder_depth=1, decoder_heads=2)


def moving_square(shift: int) -> torch.Tensor:
    """One clip [1,1,4,16,16]: a 4-px square that moves `shift` px right every frame."""
    clip = torch.zeros(1, 1, 4, 16, 16)
    for f in range(4):
        clip[0, 0, f, 6:10, 2 + f * shift:6 + f * shift] = 1.0
    return clip


def targets_of(model, clip):
    tokens = model.tokenize(clip)
    return model.target(clip, tokens), tokens


def test_motion_target_is_the_pixel_target_then_the_frame_differences_inside_each_tubelet():
    model = anymae.create("videomae_vit_tiny", target="motion", **SMALL)
    clip = moving_square(2)
    target, tokens = targets_of(model, clip)
    p = model.tokenizer.patch_dim                                  # 2 frames x 8 x 8 x 1 = 128
    assert target.shape == (1, tokens.values.shape[1], p + p // 2)
    assert torch.allclose(target[..., :p], PixelTarget(norm=True)(clip, tokens), atol=1e-6)
    frames = tokens.values.reshape(1, -1, 2, p // 2)
    diff = frames[:, :, 1] - frames[:, :, 0]
    moving = diff.abs().sum(-1) > 0
    assert moving.any() and (~moving).any()                        # the square moves through some tubelets only
    motion = target[..., p:]
    assert torch.all(motion[~moving] == 0)                         # a still tubelet asks for no motion
    # where something moves, the motion part is the difference, normalised per tubelet
    d = diff[moving]
    expected = (d - d.mean(-1, keepdim=True)) / (d.var(-1, keepdim=True) + 1e-2) ** 0.5
    assert torch.allclose(motion[moving], expected, atol=1e-5)


def test_motion_target_tells_a_still_clip_from_a_moving_one_where_pixels_alone_do_not_differ_in_kind():
    model = anymae.create("videomae_vit_tiny", target="motion-only", **SMALL)
    still, _ = targets_of(model, moving_square(0))
    moving, _ = targets_of(model, moving_square(2))
    assert still.abs().max() == 0 and moving.abs().max() > 0.5


def test_motion_target_inverts_its_pixel_part_for_reconstruction_pictures():
    model = anymae.create("videomae_vit_tiny", target="motion", **SMALL)
    clip = torch.rand(2, 1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    target, tokens = targets_of(model, clip)
    assert model.target.pixel_space
    assert torch.allclose(model.target.invert(target, tokens.values), tokens.values, atol=1e-4)
    assert not anymae.create("videomae_vit_tiny", target="motion-only", **SMALL).target.pixel_space


def test_motion_target_trains_a_video_recipe_and_swaps_in_by_name():
    torch.manual_seed(0)
    model = anymae.create("videomae2_vit_tiny", target="motion", **SMALL)
    out = model(moving_square(2).repeat(2, 1, 1, 1, 1))
    assert torch.isfinite(out.loss) and out.pred.shape[-1] == 128 + 64
    out.loss.backward()
    swapped = anymae.create("videomae_vit_tiny", **SMALL)
    swapped.set_target(make_target("motion"))
    assert isinstance(swapped.target, MotionTarget) and swapped(moving_square(1)).pred.shape[-1] == 192


def test_motion_target_refuses_tokens_without_time_and_recipes_refuse_unknown_targets():
    with pytest.raises(ValueError, match="tubelets of at least 2 frames"):
        anymae.create("videomae_vit_tiny", target="motion", **{**SMALL, "tubelet": 1})
    with pytest.raises(ValueError, match="tubelets of at least 2 frames"):
        anymae.create("mae_vit_tiny").set_target(make_target("motion"))
    with pytest.raises(ValueError, match="'pixel', 'motion' or 'motion-only'"):
        anymae.create("videomae_vit_tiny", target="flow", **SMALL)


@pytest.mark.parametrize("name", ["videomae_vit_tiny", "videomae2_vit_tiny"])
def test_video_laptop_defaults_keep_the_papers_masking_and_train_the_motion_target_on_4_frame_tubelets(name):
    from anymae.config import PretrainConfig
    from anymae.masking import DualMasker, TubeMasker
    model = anymae.create(name, channels=1)
    assert model.tokenizer.tubelet == 4 and model.tokenizer.grid == (4, 4, 4)       # 16 x 32 x 32 clips
    assert isinstance(model.target, MotionTarget) and model.target.appearance
    masker = model.masker.encoder_masker if isinstance(model.masker, DualMasker) else model.masker
    assert isinstance(masker, TubeMasker) and masker.ratio == 0.9                    # the papers' tube masking
    config = PretrainConfig.for_recipe(name, data="moving-digits")
    steps = 2160 if name == "videomae_vit_tiny" else 1080   # the default video encoder trains twice as long
    assert config.steps == steps and config.epochs is None and config.blr == 6e-3
    paper = anymae.create(name.replace("tiny", "small"), image_size=32, patch_size=8)
    assert isinstance(paper.target, PixelTarget) and paper.tokenizer.tubelet == 2   # paper sizes unchanged
