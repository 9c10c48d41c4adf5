"""Video (VideoMAE row 12, VideoMAE V2 row 9): tubelets, tube / running-cell / dual masking, data, training."""
from __future__ import annotations

import csv
import glob
import os
import warnings

import numpy as np
import pytest
import torch

import anymae
from anymae.data import folder_loader, load_dataset, load_image_folder
from anymae.data.video import (VideoEvalTransform, VideoPretrainTransform, frame_indices, load_video_folder,
                               moving_digits, read_video)
from anymae.masking import DualMasker, RunningCellMasker, TubeMasker, make_masker
from anymae.tokenizers import TubeletTokenizer

TINY = dict(dim=48, depth=1, heads=2, decoder_dim=48, decoder_depth=1, decoder_heads=2)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- tokenizer
@pytest.mark.parametrize("frames,size,patch,tubelet,channels", [(16, 32, 8, 2, 3), (6, (12, 20), 4, 3, 1)])
def test_tubelet_patchify_is_exactly_inverted(frames, size, patch, tubelet, channels):
    tok = TubeletTokenizer(frames, size, patch, tubelet, channels, dim=48)
    x = torch.randn(2, channels, frames, *tok.image_size, generator=gen(0))
    values = tok.patchify(x)
    assert values.shape == (2, tok.num_tokens, tubelet * patch * patch * channels)
    assert torch.equal(tok.unpatchify(values), x)


def test_tubelet_tokens_are_time_major_cubes_and_the_embedding_reads_them():
    tok = TubeletTokenizer(frames=4, image_size=8, patch_size=4, tubelet=2, channels=1, dim=12)
    x = torch.randn(1, 1, 4, 8, 8, generator=gen(1))
    values = tok.patchify(x)
    assert tok.grid == (2, 2, 2)
    # token (t=1, h=0, w=1) is index 1*4 + 0*2 + 1 = 5 and holds frames 2-3, rows 0-3, cols 4-7
    assert torch.equal(values[0, 5], x[0, 0, 2:4, 0:4, 4:8].reshape(-1))
    tokens = tok(x)
    expected = values[0] @ tok.proj.weight.reshape(12, -1).T + tok.proj.bias
    assert torch.allclose(tokens.embed[0], expected, atol=1e-5)


def test_tubelet_position_is_separable_space_and_time():
    tok = TubeletTokenizer(frames=8, image_size=16, patch_size=4, tubelet=2, channels=3, dim=48)
    table = tok.pos()[0].reshape(4, 4, 4, 48)  # (T, H, W, D)
    space, time = table[..., :32], table[..., 32:]
    assert torch.equal(space[0], space[3])            # the spatial part does not depend on time
    assert torch.equal(time[:, 0, 0], time[:, 2, 3])  # the time part does not depend on place
    assert len({tuple(r.tolist()) for r in table.reshape(-1, 48)}) == 64
    odd = TubeletTokenizer(frames=4, image_size=8, patch_size=4, dim=40)  # not divisible by 6 still works
    assert odd.pos().shape == (1, 8, 40)


def test_tubelet_rejects_bad_sizes_and_inputs():
    with pytest.raises(ValueError, match="not divisible by tubelet"):
        TubeletTokenizer(frames=5, image_size=32, patch_size=8, tubelet=2)
    with pytest.raises(ValueError, match="not divisible by patch"):
        TubeletTokenizer(frames=4, image_size=30, patch_size=8)
    tok = TubeletTokenizer(frames=4, image_size=16, patch_size=8, dim=48)
    with pytest.raises(ValueError, match="4 frames of 16x16"):
        tok(torch.zeros(1, 3, 6, 16, 16))
    with pytest.raises(ValueError, match=r"\[B,C,T,H,W\]"):
        tok(torch.zeros(1, 3, 16, 16))


# ---------------------------------------------------------------- maskers
def test_tube_masks_are_identical_across_time():
    masker = TubeMasker(0.9)
    grid = (8, 6, 5)
    mask = masker.sample(7, grid, gen(2))
    hidden = mask.bool.reshape(7, 8, 30)
    assert (hidden == hidden[:, :1]).all()
    assert (hidden[:, 0].sum(1) == 30 - 3).all()           # round(30 * 0.1) = 3 positions stay visible
    assert mask.keep.shape == (7, 8 * 3) and mask.hidden.shape == (7, 8 * 27)
    assert not torch.equal(hidden[0, 0], hidden[1, 0])     # samples differ
    again = masker.sample(7, grid, gen(2))
    assert torch.equal(again.bool, mask.bool)              # the generator fixes the mask
    assert make_masker("tube", 0.75).ratio == 0.75


def test_running_cell_keeps_the_same_fraction_in_every_cell_and_runs_over_time():
    masker = RunningCellMasker(0.5)
    t, h, w = 8, 6, 4
    hidden = masker.sample(5, (t, h, w), gen(3)).bool.reshape(5, t, h // 2, 2, w // 2, 2)
    per_cell = hidden.sum(dim=(3, 5))                                   # [B,T,H/2,W/2]
    assert (per_cell == 2).all()                                        # every cell, every slot: half
    cycle = hidden[:, :4].sum(1)                                        # 4 consecutive slots
    assert (cycle == 2).all()                                           # each position hidden twice a cycle
    assert (hidden[:, 1:] != hidden[:, :-1]).any(dim=(2, 3, 4, 5)).all()  # the pattern moves every slot
    assert torch.equal(hidden[:, :-2], ~hidden[:, 2:])                  # at 50%, t and t+2 are complementary
    quarter = RunningCellMasker(0.75).sample(2, (4, 4, 4), gen(4)).bool.reshape(2, 4, 2, 2, 2, 2)
    assert (quarter.sum(dim=(3, 5)) == 3).all()
    with pytest.raises(ValueError, match="k/4"):
        RunningCellMasker(0.6)
    with pytest.raises(ValueError, match="not divisible"):
        RunningCellMasker(0.5).sample(1, (2, 5, 4))


def test_dual_masking_predicts_the_running_cell_visible_part_of_the_tube_hidden_tokens():
    masker = DualMasker(0.9, decoder_ratio=0.5)
    grid = (8, 4, 4)
    mask = masker.sample(6, grid, gen(5))
    n_hidden = mask.hidden.shape[1]
    assert mask.predict.shape == (6, n_hidden // 2)
    for b in range(6):
        hidden, predict = set(mask.hidden[b].tolist()), set(mask.predict[b].tolist())
        assert predict <= hidden
    # with T a multiple of the cell's cycle, `predict` is exactly hidden & (not running-cell hidden)
    g = gen(5)
    encoder = masker.encoder_masker.sample(6, grid, g)
    skip = masker.decoder_masker.hidden_bool(6, grid, g)
    expected = encoder.bool & ~skip
    got = torch.zeros_like(expected).scatter_(1, mask.predict, True)
    assert torch.equal(got, expected)
    assert torch.equal(mask.bool, encoder.bool)  # the encoder's mask is the tube mask
    with pytest.raises(ValueError, match="k/4"):
        DualMasker(0.9, decoder_ratio=0.3)


def test_maskers_offer_a_gallery_example_grid():
    for cls in (TubeMasker, RunningCellMasker, DualMasker):
        example = cls.example()
        assert len(example.grid) == 3  # time slots x the 2-D grid the gallery draws
        n = example.grid[0] * example.grid[1] * example.grid[2]
        mask = cls().sample(2, example.grid, gen(0))
        assert mask.bool.shape == (2, n) and mask.keep.shape[0] == 2
        hidden = mask.bool.sum(1)
        assert (hidden > 0).all() and (hidden < n).all()


# ---------------------------------------------------------------- dual masking through the model
def test_decoder_in_dual_masking_mode_sees_only_visible_and_predicted_tokens_and_the_loss_covers_them():
    model = anymae.create("videomae2_vit_tiny", frames=8, image_size=16, patch_size=4, channels=1, tubelet=2,
                          target="pixel", **TINY)  # the paper's tubelet and target (the laptop default: motion)
    x = torch.randn(3, 1, 8, 16, 16, generator=gen(6))
    seen = {}
    model.decoder.blocks[0].register_forward_pre_hook(lambda m, args: seen.__setitem__("tokens", args[0].shape[1]))
    model.decoder.register_forward_hook(lambda m, args, out: seen.__setitem__("mask", args[1]))
    out = model(x, generator=gen(7))
    mask = seen["mask"]
    n_visible, n_hidden, n_predict = mask.keep.shape[1], mask.hidden.shape[1], mask.predict.shape[1]
    assert n_predict == n_hidden // 2 and n_predict < n_hidden
    assert seen["tokens"] == 1 + n_visible + n_predict            # cls + visible + the running-cell subset
    assert out.pred.shape == (3, n_predict, 4 * 4 * 2)
    # the loss is the MSE of exactly those tokens' per-tubelet normalised pixels
    values = model.tokenizer.patchify(x)
    target = torch.gather(values, 1, mask.predict.unsqueeze(-1).expand(-1, -1, values.shape[-1]))
    target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    assert torch.allclose(out.loss, (out.pred - target).pow(2).mean(), atol=1e-5)
    # a tubelet the encoder does not see and the decoder does not predict does not touch the loss
    skipped = sorted(set(mask.hidden[0].tolist()) - set(mask.predict[0].tolist()))[0]
    values2 = values.clone()
    values2[0, skipped] += 5.0
    again = model(model.tokenizer.unpatchify(values2), mask=mask)
    assert torch.allclose(again.loss, out.loss, atol=1e-6)
    predicted = mask.predict[0, 0]
    values2[0, predicted] = torch.randn(values.shape[-1], generator=gen(8))
    assert not torch.allclose(model(model.tokenizer.unpatchify(values2), mask=mask).loss, out.loss)


def test_videomae_v1_decoder_predicts_every_hidden_token():
    model = anymae.create("videomae_vit_tiny", frames=4, image_size=16, patch_size=8, channels=1, **TINY)
    out = model(torch.randn(2, 1, 4, 16, 16, generator=gen(9)), generator=gen(9))
    assert torch.equal(out.mask.predict, out.mask.hidden)
    assert isinstance(model.masker, TubeMasker) and model.masker.ratio == 0.9
    for name in ("videomae_vit_small", "videomae_vit_base", "videomae2_vit_small", "videomae2_vit_base"):
        recipe = anymae.recipes.get_recipe(name)
        assert recipe.modality == "video" and recipe.paper in (9, 12)


# ---------------------------------------------------------------- data
def test_moving_digits_is_seeded_labelled_by_motion_axis_and_split_by_digit_image():
    train, test = moving_digits("train"), moving_digits("test")
    assert train.modality == "video" and train.videos.shape == (1200, 1, 20, 32, 32)
    assert len(test) == 600 and train.classes == ["horizontal", "diagonal", "vertical"]
    assert torch.equal(train.labels.bincount(), torch.tensor([400, 400, 400]))
    assert torch.equal(moving_digits("train").videos[:4], train.videos[:4])
    # the motion axis: bright mass moves mostly along x for "horizontal", y for "vertical"
    def travel(video):
        v = video[0].float()
        ys, xs = torch.arange(v.shape[1]).float(), torch.arange(v.shape[2]).float()
        mass = v.sum(dim=(1, 2)).clamp_min(1)
        cy, cx = (v.sum(2) * ys).sum(1) / mass, (v.sum(1) * xs).sum(1) / mass
        return (cy[1:] - cy[:-1]).abs().mean(), (cx[1:] - cx[:-1]).abs().mean()
    horizontal = [travel(train.videos[i]) for i in torch.nonzero(train.labels == 0)[:20, 0]]
    vertical = [travel(train.videos[i]) for i in torch.nonzero(train.labels == 2)[:20, 0]]
    assert np.mean([float(dx > dy) for dy, dx in horizontal]) > 0.8
    assert np.mean([float(dy > dx) for dy, dx in vertical]) > 0.8


def test_video_transforms_sample_frames_at_the_stride_and_crop_every_frame_alike():
    assert frame_indices(20, 4, 3, None).tolist() == [5, 8, 11, 14]   # centred
    assert frame_indices(5, 4, 2, None).tolist() == [0, 2, 4, 4]      # short video repeats its last frame
    starts = {int(frame_indices(40, 4, 2, gen(s))[0]) for s in range(20)}
    assert len(starts) > 5 and max(starts) <= 40 - 7
    frame = torch.rand(3, 1, 24, 30, generator=gen(10))
    video = frame.expand(3, 12, 24, 30).clone()
    tf = VideoPretrainTransform(8, 1, (16, 16), torch.zeros(3), torch.ones(3))
    clip = tf(video, gen(11))
    assert clip.shape == (3, 8, 16, 16)
    assert torch.allclose(clip, clip[:, :1].expand_as(clip))             # one crop box for all frames
    assert torch.equal(tf(video, gen(11)), clip)
    ev = VideoEvalTransform(8, 2, (16, 16), torch.full((3,), 0.5), torch.full((3,), 0.25))
    from anymae.data.video import resize_frames
    centred = frame_indices(12, 8, 2, None)
    assert centred.tolist() == [0, 2, 4, 6, 8, 10, 11, 11]  # 15 frames asked of 12: the last one repeats
    expected = resize_frames(video[:, centred], (16, 16)).clamp(0, 1)
    assert ev(video).shape == (3, 8, 16, 16)
    assert torch.allclose(ev.invert(ev(video)), expected, atol=1e-6)  # normalising is undone exactly


def write_mp4(path, frames: int = 12, size: int = 32, codec: str = "mpeg4") -> None:
    """A white 8x8 square moving right 2 px a frame, encoded with PyAV."""
    import av
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = size, size, "yuv420p"
        for i in range(frames):
            img = np.zeros((size, size, 3), np.uint8)
            img[8:16, 2 + 2 * i:10 + 2 * i] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_pyav_decodes_a_generated_mp4(tmp_path):
    path = tmp_path / "square.mp4"
    write_mp4(path)
    video = read_video(path)
    assert video.shape == (3, 12, 32, 32) and video.dtype == torch.uint8
    grey = video.float().mean(0)
    xs = torch.arange(32).float()
    centre_x = (grey.sum(1) * xs).sum(1) / grey.sum(dim=(1, 2))
    assert torch.allclose(centre_x, 5.5 + 2 * torch.arange(12).float(), atol=0.6)
    assert read_video(path, channels=1, size=(16, 16)).shape == (1, 12, 16, 16)


def test_pyav_decodes_the_gif_scikit_image_ships():
    import skimage
    gifs = glob.glob(os.path.join(os.path.dirname(skimage.__file__), "data", "*.gif"))
    assert gifs, "scikit-image ships an animated GIF in skimage/data"
    video = read_video(gifs[0])
    assert video.shape[0] == 3 and video.shape[1] > 1           # an animation, not a still
    assert (video[:, 1:].float() - video[:, :-1].float()).abs().mean() > 0


def test_video_folder_labels_from_subfolders_and_skips_broken_files(tmp_path):
    for label in ("left", "right"):
        (tmp_path / label).mkdir()
        for i in range(3):
            write_mp4(tmp_path / label / f"{i}.mp4", frames=6, size=16)
    (tmp_path / "left" / "broken.mp4").write_bytes(b"not a video at all")
    assert folder_loader(tmp_path) is load_video_folder
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(str(tmp_path), split="all", image_size=8)
    assert any("broken.mp4" in str(w.message) for w in caught)
    assert len(data) == 6 and data.skipped == [str(tmp_path / "left" / "broken.mp4")]
    assert data.classes == ["left", "right"] and data.modality == "video"
    assert data.pixels(0).shape == (3, 6, 16, 16)                 # cached at twice the model's 8 px
    train = load_dataset(str(tmp_path), split="train", image_size=8)
    test = load_dataset(str(tmp_path), split="test", image_size=8)
    assert len(train) + len(test) == 6


def test_a_folder_of_images_with_one_gif_stays_an_image_folder(tmp_path):
    from PIL import Image
    for i in range(3):
        Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tmp_path / f"{i}.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "still.gif")
    assert folder_loader(tmp_path) is load_image_folder


# ---------------------------------------------------------------- training end to end
@pytest.mark.slow
def test_short_pretraining_on_moving_digits_lowers_the_loss_and_draws_strips(tmp_path):
    from anymae.train.config import PretrainConfig
    from anymae.train.run import pretrain
    torch.set_num_threads(1)
    config = PretrainConfig(recipe="videomae2_vit_tiny", data="moving-digits", epochs=3, batch_size=64, lr=2e-3,
                            warmup=0.1, recipe_args=dict(frames=8, image_size=16, patch_size=4, **TINY))
    run = pretrain(config, tmp_path / "run", progress=False)
    with open(run / "metrics.csv") as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    assert len(losses) == 3 * (1200 // 64)
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])
    assert (run / "reconstructions.png").stat().st_size > 0
    from anymae.cli import main
    assert main(["reconstruct", str(run), "--count", "2", "--gif"]) == 0
    from PIL import Image
    with Image.open(run / "reconstruct.gif") as img:
        assert img.n_frames == 8                                     # one GIF frame per clip frame
    with Image.open(run / "reconstruct.png") as img:
        assert img.width > img.height                                # frames run across the strip
