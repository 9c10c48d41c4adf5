"""HiCMAE (PAPERS.md row 16): audio-visual masked autoencoding with hierarchical contrastive terms.

What the paper states and its code fixes: one encoder per modality then a cross-modal fusion encoder; masked
reconstruction of both modalities' hidden tokens (the two mean losses added); one InfoNCE term per paired
encoder block, whose positive is the clip's own soundtrack. And the data: `talking-digits`, and video files
with an audio track (PyAV).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import anymae
from anymae.data import load_dataset
from anymae.data.audiovisual import AudioVisualSize, AudioVisualTransform, talking_digits
from anymae.encoders.vit import encode_tokens
from anymae.terms.base import StepContext
from anymae.terms.hicmae import HierarchicalContrastive, pooled_by_group
from anymae.terms.invariance import info_nce

SMALL = dict(dim=32, heads=2, decoder_dim=32, decoder_depth=1, decoder_heads=2)


def small_model(**over):
    torch.manual_seed(0)
    return anymae.create("hicmae_tiny", **{**SMALL, **over})


def batch(size: int = 4, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"video": torch.randn(size, 1, 8, 32, 32, generator=g), "audio": 0.1 * torch.randn(size, 7600, generator=g)}


def test_one_contrastive_term_per_paired_block_from_the_same_forward():
    model = small_model()
    term = model.term_named("hierarchical_contrastive")
    assert term.layers == [0, 1, 3]                       # HiCMAE's 3, 6, 9 of 10 at depth 4 (0.4, 0.7, 1.0)
    x = batch()
    out = model(x, generator=torch.Generator().manual_seed(1))
    contrast = {k for k in out.terms if k.startswith("contrast")}
    assert contrast == {"contrast_block0", "contrast_block1", "contrast_block3"}
    # each term is weight x symmetric InfoNCE of the two modalities' pooled visible block outputs (after the norm)
    tokens = model.tokenize(x)
    _, layers = encode_tokens(model.encoder, tokens, out.mask.keep, return_layers=term.layers)
    group = tokens.group[out.mask.keep]
    for i, features in zip(term.layers, layers):
        video, audio = pooled_by_group(features, group, 0), pooled_by_group(features, group, 1)
        want = 0.0025 * info_nce(video, audio, 0.07)
        assert torch.allclose(out.terms[f"contrast_block{i}"], want, atol=1e-6)
    recon = out.terms["reconstruction"]
    assert torch.allclose(out.loss, recon + sum(out.terms[k] for k in contrast), atol=1e-6)
    # the paper's size pairs blocks 3, 6, 9 of 10
    from anymae.recipes import get_recipe
    assert get_recipe("hicmae_base").defaults()["contrast_layers"] == "3,6,9"


def test_the_positive_of_a_clip_is_its_own_soundtrack():
    """Pooled features equal across modalities for the same clip: low loss; the soundtracks shuffled: high."""
    term = HierarchicalContrastive(layers=(0,), weight=1.0, temperature=0.07)
    b, nv, d = 6, 5, 16
    clip = torch.nn.functional.normalize(torch.randn(b, d, generator=torch.Generator().manual_seed(0)), dim=-1)
    group = torch.tensor([0, 0, 0, 1, 1])                  # 3 visible video tokens, then 2 audio tokens
    tokens = type("T", (), {"group": group})()
    keep = torch.arange(nv).expand(b, -1)
    mask = type("M", (), {"keep": keep})()

    def loss(audio_of):
        features = torch.cat([clip[:, None].expand(-1, 3, -1), clip[audio_of][:, None].expand(-1, 2, -1)], dim=1)
        ctx = StepContext(None, None, tokens, mask, None, None, None, None, layers={0: features})
        return float(term(ctx)["contrast_block0"])

    same, shuffled = loss(torch.arange(b)), loss(torch.roll(torch.arange(b), 1))
    assert same < 0.05 < 5.0 < shuffled


def test_reconstruction_covers_hidden_tokens_of_both_modalities_and_only_them():
    model = small_model()
    x = batch()
    out = model(x, generator=torch.Generator().manual_seed(2))
    tokens, mask = out.tokens, out.mask
    spans = tokens.extra["spans"]
    assert spans == {"video": (0, 64), "audio": (64, 160)}
    predicted = tokens.group[mask.predict]                 # [B,Np] modality of each predicted token
    assert torch.equal(mask.predict, mask.hidden)
    assert not mask.bool.gather(1, mask.keep).any() and mask.bool.gather(1, mask.predict).all()
    # tube masking keeps 2 of 16 places in each of 4 time slots (90%); 19 of 96 spectrogram patches stay (80%)
    assert ((predicted == 0).sum(1) == 4 * 14).all() and ((predicted == 1).sum(1) == 96 - 19).all()
    video_keep = mask.keep[mask.keep < 64].view(4, -1) % 16
    assert all(len(set(row.tolist())) == 2 for row in video_keep)  # the same 2 places in every time slot
    # the loss is the video mean plus the audio mean of the hidden tokens' MSE (HiCMAE adds the two)
    squared = (out.pred - out.target) ** 2                           # [B,Np,128]: widths padded to the widest
    video_err = squared[..., :128].mean(-1)[predicted == 0].mean()   # video tubelets: 2x8x8x1 = 128 values
    audio_err = squared[..., :64].mean(-1)[predicted == 1].mean()    # spectrogram patches: 8x8 = 64 values
    assert torch.allclose(out.terms["reconstruction"], video_err + audio_err, atol=1e-5)
    # a hidden token's prediction reads nothing of its own content: changing only hidden inputs leaves the
    # predictions unchanged
    hidden_video = mask.bool[:, :64]
    changed = {k: v.clone() for k, v in x.items()}
    tubes = model.tokenizer.parts["video"].patchify(changed["video"])
    tubes[hidden_video] += 3.0
    changed["video"] = model.tokenizer.parts["video"].unpatchify(tubes)
    again = model(changed, mask=mask)
    assert torch.allclose(again.pred, out.pred, atol=1e-5)


def test_fusion_is_where_the_modalities_meet():
    """Per-modality encoders: without fusion blocks the video latents ignore the sound; with them they read it."""
    x, other = batch(), batch(seed=5)
    mixed = {"video": x["video"], "audio": other["audio"]}
    for depth, reads in ((0, False), (2, True)):
        model = small_model(fusion_depth=depth).eval()
        with torch.no_grad():
            a, b = model.encode(x)[:, :64], model.encode(mixed)[:, :64]
        assert torch.allclose(a, b, atol=1e-6) != reads


def test_the_finetuning_readout_holds_each_modality_alone_and_fused():
    """`--pool hicmae` (HiCMAE's fine-tuning features): [video layer means | audio layer means | fused video |
    fused audio]; the unimodal halves ignore the other modality, the fused ones read it."""
    from anymae.eval.features import encoder_features
    model = small_model().eval()
    x, other = batch(), batch(seed=5)
    mixed = {"video": x["video"], "audio": other["audio"]}
    d = model.encoder.dim
    with torch.no_grad():
        feats, again = (model.encoder.finetune_features(model.tokenize(v)) for v in (x, mixed))
        tokens = model.tokenize(x)
        fused, layers = encode_tokens(model.encoder, tokens, return_layers=[0, 1, 2, 3])
    assert feats.shape == (4, 4 * d)
    want = torch.cat([torch.stack([z[:, :64].mean(1) for z in layers]).mean(0),
                      torch.stack([z[:, 64:].mean(1) for z in layers]).mean(0), fused[:, :64].mean(1),
                      fused[:, 64:].mean(1)], dim=1)
    assert torch.allclose(feats, torch.nn.functional.layer_norm(want, (4 * d,)), atol=1e-5)
    # a new soundtrack: the video-only block is unchanged once both are normalised alike, the fused video changes
    raw, raw_again = (torch.cat([torch.stack([z[:, :64].mean(1) for z in encode_tokens(
        model.encoder, model.tokenize(v), return_layers=[0, 1, 2, 3])[1]]).mean(0)], 1) for v in (x, mixed))
    assert torch.allclose(raw, raw_again, atol=1e-6)
    assert not torch.allclose(feats[:, 2 * d:3 * d], again[:, 2 * d:3 * d], atol=1e-3)

    class Clips(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {k: v[i] for k, v in x.items()}, 0, i

    assert np.allclose(encoder_features(model, Clips(), "hicmae"), feats.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="pool 'hicmae'"):
        encoder_features(anymae.create("mae_vit_tiny", image_size=16, patch_size=8, dim=32, depth=1, heads=2,
                                       decoder_dim=32, decoder_depth=1, decoder_heads=2),
                         [(torch.zeros(3, 16, 16), 0, 0)], "hicmae")


def test_frame_difference_target_keeps_the_first_frame_and_asks_for_the_change():
    """HiCMAE's code (`--use_frame_diff_as_target`): per-tubelet normalised pixels, the second frame of each pair
    replaced by its difference from the first; a still tubelet asks for zero change; pictures invert it."""
    from anymae.recipes import get_recipe
    from anymae.targets.frame_diff import FrameDiffTarget
    from anymae.tokenizers.base import Tokens
    target = FrameDiffTarget()
    target.tubelet = 2
    g = torch.Generator().manual_seed(0)
    first, moved = torch.rand(3, 5, 64, generator=g), torch.rand(3, 5, 64, generator=g)
    values = torch.cat([first, moved], dim=-1)                                           # [B,N,2 frames x 64]
    values[:, 0, 64:] = values[:, 0, :64]                                                # token 0 stands still
    out = target(None, Tokens(values=values, embed=None, pos=None, grid=(5,)))
    norm = (values - values.mean(-1, keepdim=True)) / (values.var(-1, keepdim=True) + 1e-6) ** 0.5
    assert out.shape == values.shape
    assert torch.allclose(out[..., :64], norm[..., :64], atol=1e-6)
    assert torch.allclose(out[..., 64:], norm[..., 64:] - norm[..., :64], atol=1e-6)
    assert out[:, 0, 64:].abs().max() < 1e-6
    assert torch.allclose(target.invert(out, values), values, atol=1e-4)
    # the paper's size uses it; the laptop recipe takes it as an argument
    assert get_recipe("hicmae_base").defaults()["video_target"] == "frame_diff"
    model = small_model(video_target="frame_diff")
    assert isinstance(model.target.parts["video"], FrameDiffTarget) and model.target.parts["video"].tubelet == 2
    with pytest.raises(ValueError, match="video_target"):
        small_model(video_target="flow")


def write_av(path, frames=12, side=24, rate=16000, seconds=1.2, audio=True, freq=440.0):
    """A clip with a bar sweeping right and (optionally) a mono AAC tone, encoded with PyAV."""
    import av
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width = video.height = side
        video.pix_fmt = "yuv420p"
        if audio:
            sound = container.add_stream("aac", rate=rate)
            sound.layout = "mono"
        for i in range(frames):
            img = np.zeros((side, side, 3), np.uint8)
            img[:, (2 * i) % side] = 255
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio:
            wave = (0.5 * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)
            for s in range(0, len(wave), 1024):
                frame = av.AudioFrame.from_ndarray(wave[None, s:s + 1024], format="fltp", layout="mono")
                frame.sample_rate = rate
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)


def test_user_video_files_with_audio_tracks_are_read_resampled_and_bad_ones_named_once(tmp_path):
    for cls, freq in (("low", 300.0), ("high", 1500.0)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            write_av(tmp_path / cls / f"{i}.mp4", freq=freq)
    write_av(tmp_path / "low" / "mute.mp4", audio=False)
    (tmp_path / "high" / "broken.mp4").write_bytes(b"not a video at all")
    write_av(tmp_path / "high" / "quiet.mp4", freq=0.0)          # a silent soundtrack
    size = AudioVisualSize((16, 16), 8, 1, 8000, 7600)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(str(tmp_path), split="all", image_size=size)
    skipped = [str(w.message) for w in caught if "skipping" in str(w.message)]
    assert len(skipped) == 3 and any("mute.mp4" in s and "no audio track" in s for s in skipped)
    assert any("quiet.mp4" in s and "silent" in s for s in skipped)
    assert any("broken.mp4" in s for s in skipped)
    assert any("resampled 6 of 6 video files' soundtracks" in str(w.message) and "16000 Hz" in str(w.message) for w in caught)
    assert data.modality == "audiovisual" and len(data) == 6 and data.classes == ["high", "low"]
    assert sorted(data.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    sample = data.pixels(0)
    assert sample["video"].shape == (1, 12, 32, 32)           # cached at twice the frame size
    assert abs(len(sample["audio"]) - 9600) < 2100           # 1.2 s at 16 kHz, resampled to 8 kHz (+ AAC padding)
    # the tone is where its class says: the louder half of the spectrum tells low from high
    spectrum = np.abs(np.fft.rfft(sample["audio"].numpy()))
    peak = np.fft.rfftfreq(len(sample["audio"]), 1 / 8000)[spectrum.argmax()]
    assert abs(peak - (1500.0 if data.classes[int(data.labels[0])] == "high" else 300.0)) < 20
    tf = AudioVisualTransform(size, [0.1], [0.2])
    x = tf(sample)
    assert x["video"].shape == (1, 8, 16, 16) and x["audio"].shape == (7600,)


def test_talking_digits_say_their_digit_in_both_modalities():
    size = AudioVisualSize((32, 32), 8, 1, 8000, 7600)
    train, test = talking_digits("train", size), talking_digits("test", size)
    assert (len(train), len(test)) == (1200, 600) and train.modality == "audiovisual"
    assert torch.bincount(train.labels).tolist() == [120] * 10
    sample = train.pixels(0)
    assert sample["video"].shape == (1, 8, 32, 32) and sample["audio"].shape == (7600,)
    assert float(sample["video"].max()) > 0.5 and float(sample["audio"].abs().max()) <= 1.0
    # each modality alone tells the digit far above chance (10%): the motif in the sound, the glyph in the frames
    from sklearn.linear_model import LogisticRegression
    from anymae.eval.baselines import mfcc_statistics, motion_features
    for features in (lambda d: mfcc_statistics(torch.stack([d.pixels(i)["audio"] for i in range(300)]), 8000),
                     lambda d: motion_features(torch.stack([d.video(i) for i in range(300)]))):
        fit = LogisticRegression(max_iter=2000).fit(features(train), train.labels[:300].numpy())
        assert fit.score(features(test), test.labels[:300].numpy()) > 0.15  # chance 0.10, 300 clips: SE 0.017


def test_pictures_show_spectrogram_and_frames_masked_where_hidden(tmp_path):
    from anymae.viz.audiovisual import audiovisual_picture, audiovisual_rows
    model = small_model()
    x = batch(2)
    rows = audiovisual_rows(model, x, seed=3)
    mask = model.draw_mask(model.tokenize(x), torch.Generator().manual_seed(3))
    for name, (s, e) in model.tokenize(x).extra["spans"].items():
        part = model.tokenizer.parts[name]
        original, masked, pasted = rows[name]
        hidden_values = part.patchify(masked).isnan().all(-1)            # [B,N_m] patches greyed out
        assert torch.equal(hidden_values, mask.bool[:, s:e])
        visible = ~mask.bool[:, s:e]
        assert torch.allclose(part.patchify(pasted)[visible], part.patchify(original)[visible])
    tf = AudioVisualTransform(AudioVisualSize((32, 32), 8, 1, 8000, 7600), [0.1], [0.2])
    path = audiovisual_picture(model, x, tf, tmp_path / "av.png")
    assert path.exists() and path.stat().st_size > 1000


def test_audio_visual_data_with_another_recipe_is_one_clear_line(tmp_path, capsys):
    from anymae.cli import main
    code = main(["pretrain", "--recipe", "videomae_vit_tiny", "--data", "talking-digits", "--steps", "1",
                 "--workers", "0", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "needs an audio-visual recipe such as hicmae_tiny" in err and "Traceback" not in err
