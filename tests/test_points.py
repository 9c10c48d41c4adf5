"""Point-MAE (PAPERS.md row 10): grouping, Chamfer loss, masking of whole groups, point-cloud files."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

import anymae
from anymae.data import load_dataset, read_points
from anymae.data.points import PointTransform, point_shapes, primitive_meshes, sample_shape
from anymae.decoders.mae import gather_tokens
from anymae.encoders.vit import encode_tokens
from anymae.eval.baselines import d2_histogram, pca_features
from anymae.eval.svm import linear_svm_probe
from anymae.losses import ChamferLoss, chamfer_distance
from anymae.masking import Mask
from anymae.tokenizers import PointGroupTokenizer, farthest_point_sample, knn_indices

TINY = dict(num_points=128, num_groups=16, group_size=8, dim=32, depth=1, heads=2, decoder_dim=32,
            decoder_depth=1, decoder_heads=2, pointnet_width=16)


def clouds(b=3, n=64, seed=0):
    return torch.randn(b, n, 3, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- FPS and kNN
def brute_fps(points: torch.Tensor, count: int) -> list[int]:
    """Reference: one cloud, pure Python: start at 0, then the point maximising the distance to the picked set."""
    picked = [0]
    while len(picked) < count:
        best, best_d = None, -1.0
        for j in range(len(points)):
            d = min(float(((points[j] - points[p]) ** 2).sum()) for p in picked)
            if d > best_d:
                best, best_d = j, d
        picked.append(best)
    return picked


def test_fps_matches_brute_force_and_is_distinct():
    x = clouds(3, 40)
    index = farthest_point_sample(x, 12)
    for b in range(3):
        assert index[b].tolist() == brute_fps(x[b], 12)
        assert len(set(index[b].tolist())) == 12


def test_fps_is_farthest_first():
    """Each new centre is at least as far from the earlier ones as any other point is (greedy max-min)."""
    x = clouds(2, 50, seed=1)
    index = farthest_point_sample(x, 10)
    for b in range(2):
        for i in range(1, 10):
            d = torch.cdist(x[b], x[b, index[b, :i]]).min(1).values  # each point's distance to the picked set
            assert d[index[b, i]] == pytest.approx(float(d.max()))
            # and the max-min distances never grow (farthest first)
            if i > 1:
                prev = torch.cdist(x[b], x[b, index[b, :i - 1]]).min(1).values[index[b, i - 1]]
                assert d[index[b, i]] <= prev + 1e-6


def test_fps_distinct_even_with_duplicate_points():
    x = clouds(1, 20).repeat(1, 2, 1)  # every point twice
    index = farthest_point_sample(x, 20)
    assert len(set(x[0, index[0]].numpy().round(6).tobytes()[i:i + 12] for i in range(0, 240, 12))) == 20


def test_knn_matches_brute_force():
    x = clouds(2, 60, seed=2)
    q = x[:, :7]
    index = knn_indices(q, x, 5)
    for b in range(2):
        for g in range(7):
            dist = [float(((x[b, j] - q[b, g]) ** 2).sum()) for j in range(60)]
            assert index[b, g].tolist() == sorted(range(60), key=dist.__getitem__)[:5]


def test_groups_are_relative_and_unpatchify_gives_the_points_back():
    tok = PointGroupTokenizer(num_points=64, num_groups=8, group_size=8, dim=16)
    x = clouds(2, 64)
    groups, centres = tok.group(x)
    assert groups.shape == (2, 8, 8, 3) and centres.shape == (2, 8, 3)
    assert torch.allclose(groups[:, :, 0], torch.zeros(2, 8, 3))  # the nearest neighbour of a centre is itself
    cloud = tok.unpatchify(groups.flatten(2), centres)  # [2,64,3]
    for b in range(2):  # every reconstructed point is a point of the input
        assert (cloud[b][:, None] - x[b][None]).norm(dim=-1).min(1).values.max() < 1e-6
    tokens = tok(x)
    assert tokens.values.shape == (2, 8, 24) and tokens.embed.shape == tokens.pos.shape == (2, 8, 16)
    assert tokens.grid == (8,) and torch.equal(tokens.coords, centres)


def test_tokenizer_rejects_bad_input():
    tok = PointGroupTokenizer(num_points=64, num_groups=8, group_size=8, dim=16)
    with pytest.raises(ValueError, match="64 points"):
        tok(clouds(1, 32))
    with pytest.raises(ValueError, match=r"\[B,N,3\]"):
        tok(torch.zeros(1, 64, 2))
    with pytest.raises(ValueError, match="need at least"):
        PointGroupTokenizer(num_points=16, num_groups=32)


# ---------------------------------------------------------------- Chamfer
def brute_chamfer(a, b):
    d = ((a[:, None] - b[None]) ** 2).sum(-1)
    return float(d.min(1).values.mean() + d.min(0).values.mean())


def test_chamfer_matches_brute_force_at_any_chunk():
    a, b = clouds(3, 50, seed=3), clouds(3, 37, seed=4)
    ref = torch.tensor([brute_chamfer(a[i], b[i]) for i in range(3)])
    for max_pairs in (1, 100, 3 * 37 * 7, 1 << 22):  # one row at a time, several chunks, one block
        assert torch.allclose(chamfer_distance(a, b, max_pairs=max_pairs), ref, atol=1e-5)


def test_chamfer_zero_symmetric_permutation_invariant():
    a, b = clouds(2, 40, seed=5), clouds(2, 40, seed=6)
    assert chamfer_distance(a, a).abs().max() < 1e-5
    assert torch.allclose(chamfer_distance(a, b), chamfer_distance(b, a), atol=1e-6)
    perm = torch.randperm(40, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(chamfer_distance(a[:, perm], b), chamfer_distance(a, b), atol=1e-6)
    assert torch.allclose(chamfer_distance(a, b[:, perm.flip(0)]), chamfer_distance(a, b), atol=1e-6)
    assert (chamfer_distance(a, b) > 0.1).all()


def test_chamfer_loss_is_per_group():
    pred, target = clouds(2, 5 * 8, seed=7).reshape(2, 5, 24), clouds(2, 5 * 8, seed=8).reshape(2, 5, 24)
    loss = ChamferLoss()(pred, target)
    assert loss.shape == (2, 5)
    assert loss[1, 3] == pytest.approx(brute_chamfer(pred[1, 3].reshape(8, 3), target[1, 3].reshape(8, 3)), abs=1e-5)
    # a group's loss ignores the order of its points
    shuffled = target.reshape(2, 5, 8, 3)[:, :, torch.randperm(8)].reshape(2, 5, 24)
    assert torch.allclose(ChamferLoss()(pred, shuffled), loss, atol=1e-6)


# ---------------------------------------------------------------- the model: whole groups hidden, loss on hidden
def tiny_model():
    torch.manual_seed(0)
    return anymae.create("pointmae_tiny", **TINY).eval()


def test_masking_hides_whole_groups():
    """The encoder's output does not change when the points of hidden groups are replaced by anything."""
    model = tiny_model()
    x = clouds(2, 128)
    groups, centres = model.tokenizer.group(x)
    mask = model.masker.sample(2, (16,), torch.Generator().manual_seed(0))
    assert mask.keep.shape == (2, 6) and mask.hidden.shape == (2, 10)  # 60% of 16 groups hidden
    junk = groups.clone()
    junk[torch.arange(2)[:, None], mask.hidden] = torch.randn(2, 10, 8, 3)

    def latents(g):
        tokens = model.tokenizer.tokens(g, centres)
        return encode_tokens(model.encoder, tokens, mask.keep)
    with torch.no_grad():
        assert torch.allclose(latents(groups), latents(junk), atol=1e-6)
        junk_visible = groups.clone()
        junk_visible[torch.arange(2)[:, None], mask.keep[:, :1]] += 0.1
        assert not torch.allclose(latents(groups), latents(junk_visible), atol=1e-4)


def test_point_mae_encoder_re_adds_positions_before_every_block():
    """Point-MAE's encoder: block i (i >= 1) reads the previous block's output plus the visible groups' positions."""
    torch.manual_seed(0)
    model = anymae.create("pointmae_tiny", **{**TINY, "depth": 3}, pos_every_block=True).eval()
    x = clouds(2, 128, seed=2)
    seen, made = [], []

    def record(module, args, output):
        seen.append(args[0])
        made.append(output)
    for block in model.encoder.blocks:
        block.register_forward_hook(record)
    with torch.no_grad():
        out = model(x, generator=torch.Generator().manual_seed(1))
        pos = gather_tokens(model.tokenizer(x).pos, out.mask.keep)
    for i in (1, 2):
        assert torch.allclose(seen[i], made[i - 1] + pos, atol=1e-6)
    assert not torch.allclose(seen[1], made[0], atol=1e-3)
    with pytest.raises(ValueError, match="pos="):
        model.encoder(pos)


def test_loss_only_on_hidden_groups():
    model = tiny_model()
    x = clouds(2, 128, seed=1)
    out = model(x, generator=torch.Generator().manual_seed(3))
    hidden = out.mask.hidden
    assert out.pred.shape == (2, 10, 24) and out.token_loss.shape == (2, 10)
    assert torch.equal(out.target, gather_tokens(out.tokens.values, hidden))
    expected = ChamferLoss()(out.pred, gather_tokens(out.tokens.values, hidden)).mean()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # the decoder's output for visible slots gets no gradient: only hidden predictions enter the loss
    seen = {}

    def keep_output(module, inputs, output):
        output.retain_grad()
        seen["out"] = output
    handle = model.decoder.blocks[-1].register_forward_hook(keep_output)
    model.train()
    out = model(x, mask=out.mask)
    out.loss.backward()
    handle.remove()
    grad = seen["out"].grad.abs().sum(-1)  # [B,P+Nv+Nh]: the decoder's blocks run on [prefix, visible, hidden]
    seen_slots = model.encoder.num_prefix + out.mask.num_visible
    assert (grad[:, seen_slots:] > 0).all() and (grad[:, :seen_slots] == 0).all()


def test_pretraining_steps_lower_the_loss():
    model = anymae.create("pointmae_tiny", **TINY)
    data = point_shapes("train", train_count=40).with_transform(PointTransform(128, augment=True))
    x = torch.stack([data[i][0] for i in range(32)])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for step in range(20):
        out = model(x, generator=torch.Generator().manual_seed(step % 2))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4])


# ---------------------------------------------------------------- built-in data
def test_point_shapes_fixed_labelled_in_unit_sphere():
    a, b = point_shapes("train", train_count=30), point_shapes("train", train_count=30)
    assert torch.equal(a.clouds, b.clouds) and torch.equal(a.labels, b.labels)
    test = point_shapes("test", test_count=20)
    assert not torch.equal(test.clouds[:20], a.clouds[:20])
    assert len(a.classes) >= 8 and a.labelled and a.modality == "points"
    norms = a.clouds.norm(dim=-1)
    assert torch.allclose(norms.max(1).values, torch.ones(30)) and a.clouds.mean(1).abs().max() < 1e-5


def test_point_shapes_samples_vary_and_classes_differ():
    meshes = list(primitive_meshes().values())
    rng = np.random.default_rng(0)
    s1, s2 = sample_shape(meshes[1], 512, rng), sample_shape(meshes[1], 512, rng)  # two cubes
    assert not np.allclose(np.sort(np.linalg.eigvalsh(np.cov(s1.T))), np.sort(np.linalg.eigvalsh(np.cov(s2.T))))
    # the hand-made baseline separates the classes far above chance (10%) on a small set
    labels = np.arange(300) % len(meshes)
    clouds = torch.from_numpy(np.stack([sample_shape(meshes[c], 256, rng) for c in labels]).astype(np.float32))
    f = np.concatenate([d2_histogram(clouds), pca_features(clouds)], 1)
    assert linear_svm_probe(f[:200], labels[:200], f[200:], labels[200:]) > 0.3


def test_pretrain_transform_is_seeded():
    data = point_shapes("train", train_count=30).with_transform(PointTransform(256, augment=True), seed=1)
    a, b = data[3][0], data[3][0]
    assert torch.equal(a, b) and a.shape == (256, 3)
    assert not torch.equal(data[3][0], data[30 + 3][0])  # next epoch: another draw
    plain = PointTransform(256)(data.pixels(3))
    assert torch.equal(plain, data.pixels(3)[:256])


# ---------------------------------------------------------------- files
def cube_points(n=300, seed=0):
    return np.random.default_rng(seed).uniform(-2, 3, size=(n, 3))


def write_all_formats(folder):
    import trimesh
    from plyfile import PlyData, PlyElement
    pts = cube_points()
    np.save(folder / "a.npy", pts)
    np.save(folder / "a6.npy", np.concatenate([pts, np.ones_like(pts)], 1))
    np.savetxt(folder / "b.xyz", pts)
    np.savetxt(folder / "c.txt", np.concatenate([pts, pts], 1), delimiter=",")  # ModelNet-style x,y,z,nx,ny,nz
    vertex = np.array([tuple(p) for p in pts], dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    PlyData([PlyElement.describe(vertex, "vertex")]).write(str(folder / "d_points.ply"))
    box = trimesh.creation.box(extents=(1, 2, 3))
    box.export(folder / "e_mesh.ply")
    box.export(folder / "f_mesh.off")
    return pts


def test_readers_on_every_format(tmp_path):
    pts = write_all_formats(tmp_path)
    for name in ("a.npy", "a6.npy", "b.xyz", "c.txt", "d_points.ply"):
        cloud = read_points(tmp_path / name, count=300)
        assert cloud.shape == (300, 3) and cloud.dtype == np.float32
        # the same point set, centred and scaled into the unit sphere
        centred = pts - pts.mean(0)
        ref = centred / np.linalg.norm(centred, axis=1).max()
        assert np.abs(np.sort(cloud, axis=0) - np.sort(ref, axis=0)).max() < 1e-4, name
    for name in ("e_mesh.ply", "f_mesh.off"):
        cloud = read_points(tmp_path / name, count=500)
        assert cloud.shape == (500, 3)
        # sampled on the surface of a 1 x 2 x 3 box: extents in that ratio, every point on a face
        low, high = cloud.min(0), cloud.max(0)
        assert np.allclose((high - low) / (high - low)[0], [1, 2, 3], atol=2e-2)
        on_face = (np.isclose(cloud, low, atol=1e-5) | np.isclose(cloud, high, atol=1e-5)).any(1)
        assert on_face.all(), name
    assert read_points(tmp_path / "a.npy", count=1000).shape == (1000, 3)  # fewer points: resampled


@pytest.mark.parametrize("name,content", [("bad.npy", b"not numpy"), ("bad.ply", b"ply\nformat garbage\n"),
                                          ("bad.off", b"OFF\n3 1 0\n0 0\n"), ("bad.xyz", b"1 2\n3 4\n"),
                                          ("nan.txt", b"1 2 3\nnan 0 0\n")])
def test_corrupt_file_error_names_it(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=name):
        read_points(tmp_path / name)


def test_wrong_array_shape_and_degenerate_cloud(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((10, 4)))
    with pytest.raises(ValueError, match="flat.npy.*N x 3"):
        read_points(tmp_path / "flat.npy")
    np.save(tmp_path / "same.npy", np.ones((10, 3)))
    with pytest.raises(ValueError, match="same.npy.*coincide"):
        read_points(tmp_path / "same.npy")


def test_folder_classes_split_and_skip(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("chair", "lamp"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            np.save(tmp_path / cls / f"{i}.npy", rng.normal(size=(100, 3)))
    (tmp_path / "lamp" / "broken.ply").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="broken.ply"):
        data = load_dataset(str(tmp_path), split="all")
    assert data.modality == "points" and data.classes == ["chair", "lamp"] and len(data) == 10
    assert len(data.skipped) == 1 and data.clouds.shape == (10, 2048, 3)
    with warnings.catch_warnings():  # the broken file was named once; reading the folder again skips it quietly
        warnings.simplefilter("error")
        train = load_dataset(str(tmp_path), split="train")
        test = load_dataset(str(tmp_path), split="test")
    assert len(train) + len(test) == 10 and set(test.labels.tolist()) == {0, 1}
    assert train.skipped == test.skipped == data.skipped


def test_recipe_training_defaults_yield_to_flags():
    from anymae.cli import build_config, build_parser
    parse = build_parser().parse_args
    config = build_config(parse(["pretrain", "--recipe", "pointmae_tiny", "--data", "point-shapes"]))
    assert (config.batch_size, config.epochs, config.blr) == (64, 60, 4e-3)
    config = build_config(parse(["pretrain", "--recipe", "pointmae_tiny", "--batch-size", "16", "--epochs", "2"]))
    assert (config.batch_size, config.epochs, config.blr) == (16, 2, 4e-3)
    assert build_config(parse(["pretrain"])).batch_size == 128  # recipes without training defaults: unchanged
    config = build_config(parse(["pretrain", "--recipe", "pointmae_tiny", "--steps", "5"]))
    assert (config.steps, config.epochs) == (5, None)  # --steps asks for steps: the recipe's epochs yield
    assert config.data == "point-shapes"                # no --data: the recipe's modality's built-in set
    from anymae.config import PretrainConfig
    assert (PretrainConfig.for_recipe("pointmae_tiny", steps=5).epochs, PretrainConfig.for_recipe("pointmae_tiny").epochs) \
        == (None, 60)                                   # the Python API follows the same rule


def test_every_recipe_without_data_trains_on_a_built_in_set_of_its_own_modality():
    """`anymae pretrain --recipe R` with no --data must not hand a text or video model the image default."""
    from anymae.config import DEFAULT_DATA, PretrainConfig
    from anymae.data.builtin import BUILTIN
    from anymae.recipes import list_recipes
    for recipe in list_recipes():
        assert recipe.modality in DEFAULT_DATA, recipe.name
        assert PretrainConfig.for_recipe(recipe.name).data.split(":")[0] in BUILTIN, recipe.name
    assert PretrainConfig.for_recipe("retromae_tiny").data == "pydocs"
    assert PretrainConfig.for_recipe("mae_laptop").data == "shapes"
    assert PretrainConfig.for_recipe("bmmae_tiny").data == "phantom-mri"   # a recipe's own data still wins


def test_sincos_centre_position_is_fixed_and_decoder_uses_the_same_kind():
    from anymae.tokenizers.points import CentreSinCos, sincos_points
    model = anymae.create("pointmae_tiny", **{**TINY, "position": "sincos"})
    assert isinstance(model.tokenizer.pos, CentreSinCos) and isinstance(model.decoder.pos, CentreSinCos)
    assert not any("pos" in name for name, _ in model.tokenizer.named_parameters())
    c = torch.tensor([[0.1, -0.5, 0.9]])
    f = sincos_points(32, c)  # 5 frequencies per axis, 2 zero columns
    assert f.shape == (1, 32) and torch.equal(f[:, 30:], torch.zeros(1, 2))
    assert torch.allclose(f[0, :5], torch.sin(0.1 * 64.0 ** (torch.arange(5) / 4)))
    with pytest.raises(ValueError, match="position"):
        PointGroupTokenizer(position="learned")
