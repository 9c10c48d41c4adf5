"""MAR-3D (row 51): point-patch tokens, MAR's diffusion loss on hidden tokens only, clouds of the requested
size, the point-cloud generation metrics on hand-made sets, and `anymae pretrain` / `anymae generate --score`
on a point run."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from anymae.cli import main
from anymae.eval.point_generation import (coverage, medoid_jitter, mmd, one_nna, pairwise_chamfer, set_metrics,
                                          uniform_box)
from anymae.spec import ModelSpec, build_model
from anymae.tokenizers.point_patches import PointPatchTokenizer, random_rotations

SMALL = {"num_points": 64, "num_groups": 8, "group_size": 8, "dim": 32, "heads": 2, "head_width": 32,
         "num_classes": 2}


@pytest.fixture
def mar3d():
    torch.manual_seed(0)
    return build_model(ModelSpec("mar3d_tiny", dict(SMALL)), seed=0)


def spheres(count: int, points: int, g: torch.Generator, radius=(0.5, 1.0)) -> torch.Tensor:
    """Clouds on spheres of random radius [count,points,3]."""
    d = torch.randn(count, points, 3, generator=g)
    r = radius[0] + (radius[1] - radius[0]) * torch.rand(count, 1, 1, generator=g)
    return r * d / d.norm(dim=-1, keepdim=True)


def cubes(count: int, points: int, g: torch.Generator, half: float = 0.7) -> torch.Tensor:
    """Clouds on the surface of the cube [-half, half]^3 [count,points,3]."""
    x = half * (2 * torch.rand(count, points, 3, generator=g) - 1)
    axis = torch.randint(0, 3, (count, points), generator=g)
    side = half * (2 * torch.randint(0, 2, (count, points), generator=g) - 1).float()
    return x.scatter(2, axis.unsqueeze(-1), side.unsqueeze(-1))


# ---------------------------------------------------------------- tokens and the model
def test_point_patch_tokens_are_fps_centres_with_their_neighbours_and_decode_exactly():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 64, 3, generator=g)
    tok = PointPatchTokenizer(num_points=64, num_groups=8, group_size=4, pose="keep")
    tokens = tok.encode(x)
    assert tokens.shape == (3, 8, 3 + 12) and tok.output_points == 32
    centres = tokens[..., :3]
    assert torch.equal(centres[:, 0], x[:, 0])   # FPS starts at point 0, tokens in FPS order
    # the second centre is the point farthest from the first
    far = (x - x[:, :1]).norm(dim=-1).argmax(1)
    assert torch.allclose(centres[:, 1], x[torch.arange(3), far])
    cloud = tok.decode(tokens)
    assert cloud.shape == (3, 32, 3)
    # every decoded point is a point of the input cloud, each group its centre's nearest 4
    nearest = torch.cdist(cloud, x, compute_mode="donot_use_mm_for_euclid_dist").min(-1).values
    assert float(nearest.max()) < 1e-5
    group0 = cloud[0, :4]
    want = x[0][(x[0] - centres[0, 0]).norm(dim=-1).argsort()[:4]]
    assert torch.allclose(group0, want, atol=1e-6)


def test_pca_pose_tokens_ignore_the_input_rotation_and_round_trip_to_its_frame(mar3d):
    g = torch.Generator().manual_seed(8)
    x = cubes(4, 64, g) * torch.tensor([1.0, 0.6, 0.3])          # boxes with three distinct axes
    x = x - x.mean(1, keepdim=True)
    rotations = random_rotations(4, g)
    assert torch.allclose(rotations @ rotations.transpose(1, 2), torch.eye(3).expand(4, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(rotations), torch.ones(4), atol=1e-5)
    tok = PointPatchTokenizer(num_points=64, num_groups=8, group_size=8)
    assert torch.allclose(tok.encode(x @ rotations.transpose(1, 2)), tok.encode(x), atol=1e-4)
    tokens = tok.encode(x)
    # in its frame the first axis is the longest: the centres spread most along it
    assert bool((tokens[..., 0].std(1) > tokens[..., 2].std(1)).all())
    # tokens ordered by place: slices of 4 centres along the first axis, each slice by angle around it
    first = tokens[..., 0].reshape(4, 2, 4)
    assert bool((first[:, 0].max(1).values <= first[:, 1].min(1).values).all())
    angle = torch.atan2(tokens[..., 2], tokens[..., 1]).reshape(4, 2, 4)
    assert bool((angle.diff(dim=-1) >= 0).all())
    fps_order = PointPatchTokenizer(num_points=64, num_groups=8, group_size=8, slice_size=0).encode(x)
    assert torch.allclose(fps_order[..., 0].sort(1).values, tokens[..., 0].sort(1).values, atol=1e-5)  # same centres
    back = mar3d.round_trip(x)        # G x k = 64 points, every one a point of the input, in the input's frame
    assert float(torch.cdist(back, x, compute_mode="donot_use_mm_for_euclid_dist").min(-1).values.max()) < 1e-4


def test_mar3d_diffusion_loss_is_on_hidden_tokens_only(mar3d):
    g = torch.Generator().manual_seed(1)
    codes = mar3d.fit_tokens(mar3d.tokenizer.encode(torch.randn(6, 64, 3, generator=g)))
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    seen = {}
    original = mar3d.diffusion_loss

    def spy(z, target, generator=None):
        seen["target"] = target.clone()
        return original(z, target, generator)

    mar3d.diffusion_loss = spy
    mar3d.train()
    out = mar3d.loss_on_codes(codes, labels, torch.Generator().manual_seed(2))
    hidden = out.hidden
    counts = hidden.sum(1)
    assert bool((counts == counts[0]).all()) and int(counts[0]) >= math.ceil(0.7 * 8)
    assert torch.equal(seen["target"], codes[hidden])          # the loss's targets: exactly the hidden tokens
    # the condition of every token never reads the hidden tokens' values
    changed = codes.clone()
    changed[hidden] = torch.randn(int(hidden.sum()), codes.shape[-1], generator=g) * 10
    mar3d.eval()
    z1 = mar3d.condition(codes, ~hidden, labels)
    z2 = mar3d.condition(changed, ~hidden, labels)
    assert torch.allclose(z1, z2, atol=1e-5)
    assert not torch.allclose(mar3d.condition(codes * 2, ~hidden, labels), z1, atol=1e-3)   # visible ones: read


def test_per_dimension_standardisation_round_trips(mar3d):
    g = torch.Generator().manual_seed(3)
    raw = mar3d.tokenizer.encode(spheres(10, 64, g))
    std = mar3d.fit_tokens(raw)
    assert torch.allclose(std.reshape(-1, raw.shape[-1])[:, :3].std(0), torch.ones(3), atol=1e-4)
    assert torch.allclose(mar3d.decode_tokens(std), mar3d.tokenizer.decode(raw), atol=1e-5)


def test_mar3d_samples_have_the_requested_point_count(mar3d):
    g = torch.Generator().manual_seed(4)
    clouds, cost = mar3d.generate_points(3, torch.tensor([0, 1, 1]), steps=4, generator=g, diffusion_steps=3)
    assert clouds.shape == (3, 64, 3) and bool(torch.isfinite(clouds).all())
    assert cost == {"full_passes": 4, "cheap_passes": 0, "denoiser_passes": 12}
    clouds, _ = mar3d.generate_points(2, None, steps=2, points=37, generator=g, diffusion_steps=2)
    assert clouds.shape == (2, 37, 3)
    with pytest.raises(ValueError, match="at most 64 points"):
        mar3d.generate_points(1, None, steps=2, points=65, diffusion_steps=2)
    with pytest.raises(ValueError, match="--steps 9"):
        mar3d.generate_points(1, None, steps=9, diffusion_steps=2)
    with pytest.raises(ValueError, match="classes 0..1"):
        mar3d.generate_points(1, torch.tensor([2]), steps=2, diffusion_steps=2)


# ---------------------------------------------------------------- the metrics
def test_pairwise_chamfer_is_the_chamfer_of_each_pair():
    a = torch.tensor([[[0.0, 0, 0], [1, 0, 0]]])
    b = torch.tensor([[[0.0, 0, 0], [1, 0, 0]], [[0.0, 0, 0], [0, 0, 0]]])
    d = pairwise_chamfer(a, b)
    # to the second: a->b nearest squared (0, 1) mean 0.5; b->a (0, 0) mean 0
    assert torch.allclose(d, torch.tensor([[0.0, 0.5]], dtype=torch.float64))


def test_metrics_on_hand_made_sets():
    g = torch.Generator().manual_seed(5)
    ref = spheres(40, 32, g)
    same = spheres(40, 32, g)          # a second draw of the same distribution
    other = cubes(40, 32, g, half=0.3)  # a disjoint one: small cubes inside the spheres
    rr = pairwise_chamfer(ref, ref)
    near = set_metrics(pairwise_chamfer(same, same), rr, pairwise_chamfer(same, ref))
    far = set_metrics(pairwise_chamfer(other, other), rr, pairwise_chamfer(other, ref))
    assert 0.35 <= near["one_nna"] <= 0.65, near
    assert far["one_nna"] >= 0.97, far
    assert near["mmd_cd"] < far["mmd_cd"] and near["cov_cd"] > far["cov_cd"]
    # a set identical to the reference: MMD 0, full coverage, and 1-NNA 0 (each cloud's nearest is its twin)
    assert mmd(rr) < 1e-6 and coverage(rr) == 1.0 and one_nna(rr, rr, rr) == 0.0
    # one generated cloud copied 40 times covers one reference: mode collapse shows in COV
    collapsed = pairwise_chamfer(ref[:1].expand(40, -1, -1), ref)
    assert coverage(collapsed) == pytest.approx(1 / 40)


def test_baselines_keep_class_mix_and_point_count():
    g = torch.Generator().manual_seed(6)
    train = torch.cat([spheres(10, 32, g), cubes(10, 32, g)])
    labels = torch.tensor([0] * 10 + [1] * 10)
    want = torch.tensor([1, 0, 1])
    box = uniform_box(train, labels, want, g)
    assert box.shape == (3, 32, 3)
    low, high = train[10:].reshape(-1, 3).min(0).values, train[10:].reshape(-1, 3).max(0).values
    assert bool(((box[0] >= low) & (box[0] <= high)).all())
    med = medoid_jitter(train, labels, want, g, jitter=0.0)
    # a rotated medoid of the spheres keeps each point's radius: the class-0 row lies on a sphere
    assert med.shape == (3, 32, 3)
    radii = med[1].norm(dim=-1)
    assert float(radii.max() - radii.min()) < 1e-4


# ---------------------------------------------------------------- the commands
def point_folder(root, g) -> None:
    for name, make in (("sphere", lambda: spheres(1, 300, g)), ("cube", lambda: cubes(1, 300, g))):
        (root / name).mkdir(parents=True)
        for i in range(14):
            np.save(root / name / f"{i}.npy", make()[0].numpy())


def test_pretrain_generate_and_score_a_point_run(tmp_path, capsys):
    g = torch.Generator().manual_seed(7)
    data = tmp_path / "clouds"
    point_folder(data, g)
    run = tmp_path / "mar3d"
    args = ["--arg", "num_points=64", "--arg", "num_groups=8", "--arg", "group_size=8", "--arg", "dim=16",
            "--arg", "heads=2", "--arg", "head_width=32"]
    assert main(["pretrain", "--recipe", "mar3d_tiny", "--data", str(data), "--steps", "3", "--batch-size", "8",
                 *args, "--out", str(run)]) == 0
    assert (run / "samples.png").exists()
    capsys.readouterr()
    assert main(["generate", str(run), "--n", "4", "--steps", "2", "--diffusion-steps", "2", "--points", "50",
                 "--out", str(tmp_path / "c.png"), "--score", "--score-steps", "2", "--score-count", "6"]) == 0
    out = capsys.readouterr().out
    assert "4 clouds of 50 points" in out and "1-NNA-CD" in out
    assert np.load(tmp_path / "c.npy").shape == (4, 50, 3)
    report = json.loads((run / "generate.json").read_text())
    names = [r["row"] for r in report["rows"]]
    assert names[0] == "real train vs test (floor)" and any("bounding box" in n for n in names)
    assert names[-1].startswith("mar3d mar S=2") and report["rows"][-1]["denoiser_passes"] == 4
    assert all(0.0 <= r["one_nna"] <= 1.0 and 0.0 <= r["cov_cd"] <= 1.0 for r in report["rows"])
    # bad input: one line, exit 2
    assert main(["generate", str(run), "--sampler", "umd", "--out", str(tmp_path / "x.png")]) == 2
    assert "takes mar" in capsys.readouterr().err
    assert main(["generate", str(run), "--points", "65", "--out", str(tmp_path / "y.png")]) == 2
    assert "at most 64 points" in capsys.readouterr().err
    assert main(["pretrain", "--recipe", "mar3d_tiny", "--data", "digits", "--steps", "2", *args,
                 "--out", str(tmp_path / "no")]) == 2
    assert "point clouds" in capsys.readouterr().err
