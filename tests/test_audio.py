"""Audio (HiCMAE's audio branch, PAPERS.md row 16): log-mel patches, time/frequency masking, user folders of
.wav / .flac / .ogg with bad files skipped and named, the built-in `sounds`, and a run end to end."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from anymae.data import load_dataset
from anymae.data.audio import SOUND_CLASSES, sounds, synth_sound
from anymae.eval.baselines import mfcc_statistics
from anymae.masking.time_frequency import TimeFrequencyMasker
from anymae.tokenizers.audio import AudioTokenizer, hz_to_mel, log_mel, mel_filterbank, mel_to_hz

SRC = Path(__file__).resolve().parents[1] / "src"


def tone(freq: float, rate: int, seconds: float = 0.5, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def test_a_tone_lights_the_mel_band_of_its_frequency():
    rate, n_fft, mels = 16000, 400, 64
    bank = mel_filterbank(n_fft, mels, rate)
    assert bool((bank.sum(0) > 0).all()) and float(bank.max()) <= 1.0               # no empty band, peaks <= 1
    centres = mel_to_hz(torch.linspace(hz_to_mel(20.0), hz_to_mel(rate / 2), mels + 2, dtype=torch.float64))[1:-1]
    for freq in (300.0, 1000.0, 3000.0):
        spec = log_mel(torch.from_numpy(tone(freq, rate))[None], rate, n_fft, 160, mels)     # [1,mels,T]
        peak = int(spec[0].mean(1).argmax())
        assert abs(float(centres[peak]) - freq) / freq < 0.12, (freq, float(centres[peak]))


def test_tokenizer_patches_the_spectrogram_and_inverts_them():
    tok = AudioTokenizer(8000, 200, 80, 32, 48, 8, dim=32)
    wave = torch.randn(2, tok.num_samples, generator=torch.Generator().manual_seed(0))
    tokens = tok(wave)
    assert tokens.grid == (4, 6) and tokens.embed.shape == (2, 24, 32) and tokens.values.shape == (2, 24, 64)
    torch.testing.assert_close(tok.unpatchify(tokens.values), tok.spectrogram(wave))
    with pytest.raises(ValueError, match=r"expected waveforms \[B,3760\]"):
        tok(torch.randn(2, 100))


@pytest.mark.parametrize("mode", ["time", "frequency", "time+frequency", "unstructured"])
def test_time_frequency_masks_hide_whole_lines(mode):
    f, t = 8, 12
    mask = TimeFrequencyMasker(0.5, mode).sample(64, (f, t), torch.Generator().manual_seed(0))
    hidden = mask.bool.view(64, f, t)
    counts = mask.bool.sum(1)
    assert bool((counts == counts[0]).all()) and 0 < int(counts[0]) < f * t
    rows, cols = hidden.all(2), hidden.all(1)                # [B,F] whole rows, [B,T] whole columns hidden
    union = rows[:, :, None] | cols[:, None, :]
    if mode == "time":
        assert torch.equal(hidden, cols[:, None, :].expand_as(hidden)) and int(cols[0].sum()) == 6
    elif mode == "frequency":
        assert torch.equal(hidden, rows[:, :, None].expand_as(hidden)) and int(rows[0].sum()) == 4
    elif mode == "time+frequency":
        assert torch.equal(hidden, union) and bool(rows.any(1).all()) and bool(cols.any(1).all())
    else:
        assert int(counts[0]) == 48 and not bool(union.all())
    again = TimeFrequencyMasker(0.5, mode).sample(64, (f, t), torch.Generator().manual_seed(0))
    assert torch.equal(again.bool, mask.bool)


def write_folder(root: Path) -> dict[str, Path]:
    """Two classes of real audio files at 16 kHz (wav int16, flac, ogg), plus four bad files."""
    made = {}
    for cls, freq in (("low", 220.0), ("high", 1760.0)):
        (root / cls).mkdir(parents=True)
        for i, (suffix, subtype) in enumerate([(".wav", "PCM_16"), (".flac", "PCM_16"), (".ogg", "VORBIS")] * 2):
            path = root / cls / f"{i}{suffix}"
            soundfile.write(str(path), tone(freq * (1 + 0.05 * i), 16000, 1.2), 16000, subtype=subtype)
    made["corrupt"] = root / "low" / "corrupt.wav"
    made["corrupt"].write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    made["empty"] = root / "low" / "empty.flac"
    made["empty"].write_bytes(b"")
    made["silent"] = root / "high" / "silent.wav"
    soundfile.write(str(made["silent"]), np.zeros(16000, np.float32), 16000)
    made["short"] = root / "high" / "short.ogg"
    soundfile.write(str(made["short"]), tone(440.0, 16000, 0.01), 16000, subtype="VORBIS")
    return made


def test_user_folder_of_wav_flac_ogg_is_resampled_labelled_and_bad_files_are_named_once(tmp_path):
    bad = write_folder(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(str(tmp_path), split="all", image_size=8000)
    assert data.modality == "audio" and data.sample_rate == 8000
    assert len(data) == 12 and data.classes == ["high", "low"] and data.labels.tolist().count(0) == 6
    assert all(abs(len(w) - 9600) <= 2 for w in data.waves)                    # 1.2 s resampled 16 -> 8 kHz
    messages = [str(w.message) for w in caught]
    for path in bad.values():
        assert sum(str(path) in m for m in messages) == 1, path
    assert sorted(data.skipped) == sorted(str(p) for p in bad.values())
    assert sum("resampled 12 of 12 audio files to the model's 8000 Hz (they were at 16000 Hz)" in m
               for m in messages) == 1
    spec = log_mel(data.pixels(int((data.labels == 0).nonzero()[0]))[None], 8000, 200, 80, 64)
    spec_low = log_mel(data.pixels(int((data.labels == 1).nonzero()[0]))[None], 8000, 200, 80, 64)
    assert int(spec[0].mean(1).argmax()) > int(spec_low[0].mean(1).argmax())   # "high" sounds higher than "low"


def test_built_in_sounds_are_labelled_varied_and_told_apart_by_mfcc_statistics():
    rng = np.random.default_rng(0)
    for label in range(len(SOUND_CLASSES)):
        wave = synth_sound(label, 8000, 1.0, rng)
        assert wave.shape == (8000,) and np.isfinite(wave).all() and 0.01 < np.abs(wave).max() <= 0.9
    train = sounds("train", 8000, train_count=200)
    test = sounds("test", 8000, test_count=100)
    assert train.sample_rate == 8000 and sorted(set(train.labels.tolist())) == list(range(10))
    assert not torch.equal(train.waves[0], sounds("test", 8000, test_count=100).waves[0])
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    x_train, x_test = mfcc_statistics(train.waves, 8000), mfcc_statistics(test.waves, 8000)
    scaler = StandardScaler().fit(x_train)
    clf = LogisticRegression(max_iter=2000).fit(scaler.transform(x_train), train.labels)
    accuracy = clf.score(scaler.transform(x_test), test.labels)
    assert 0.3 < accuracy < 0.98, accuracy                                        # learnable, not trivial


def test_audio_run_pretrains_probes_with_mfcc_baseline_and_draws_spectrograms(tmp_path):
    write_folder(tmp_path / "data")
    run = tmp_path / "run"
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "anymae"]
    subprocess.run(cli + ["pretrain", "--recipe", "audio_mae_tiny", "--data", str(tmp_path / "data"), "--steps", "2",
                          "--batch-size", "4", "--arg", "depth=1", "--arg", "dim=32", "--arg", "heads=2",
                          "--arg", "decoder_depth=1", "--arg", "decoder_dim=32", "--arg", "decoder_heads=2",
                          "--out", str(run)], check=True, env=env, capture_output=True)
    assert (run / "reconstructions.png").stat().st_size > 1000
    out = subprocess.run(cli + ["probe", str(run)], check=True, env=env, capture_output=True, text=True).stdout
    names = [r["name"] for r in json.loads((run / "probe.json").read_text())["results"]]
    assert names[1].startswith("random init") and "MFCC statistics" in names and "MFCC statistics" in out
