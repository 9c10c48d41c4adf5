"""Skeletons (SkeletonMAE, PAPERS.md row 18): joint tokens, joint / body-part masking across frames, the
graph-biased encoder, .npy + skeleton.json and NTU RGB+D .skeleton files, the built-in actions, a run end to end."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import anymae
from anymae.data import load_dataset
from anymae.data.skeleton import ACTIONS, skeleton_actions, synth_action
from anymae.encoders.graph import GraphBiasedEncoder, GraphBlock, HopBias
from anymae.eval.baselines import joint_angle_statistics
from anymae.masking.skeleton import SkeletonMasker
from anymae.tokenizers.skeleton import NTU_EDGES, NTU_PARTS, SkeletonTokenizer, hop_distances, parent_joints

SRC = Path(__file__).resolve().parents[1] / "src"


def test_tokens_are_one_joint_over_a_segment_and_invert():
    tok = SkeletonTokenizer(frames=8, joints=25, channels=3, segment=2, dim=16)
    x = torch.randn(2, 8, 25, 3, generator=torch.Generator().manual_seed(0))
    tokens = tok(x)
    assert tokens.grid == (4, 25) and tokens.values.shape == (2, 100, 6)
    torch.testing.assert_close(tokens.values[1, 2 * 25 + 7], x[1, 4:6, 7].reshape(-1))   # segment 2, joint 7
    torch.testing.assert_close(tok.unpatchify(tokens.values), x)
    with pytest.raises(ValueError, match=r"expected joint sequences \[B,8,25,3\]"):
        tok(torch.randn(2, 8, 24, 3))
    with pytest.raises(ValueError, match="needs its edges"):
        SkeletonTokenizer(frames=8, joints=5)


def test_hop_distances_follow_the_ntu_skeleton():
    hops = hop_distances(25, NTU_EDGES)
    assert torch.equal(hops, hops.T) and bool((hops.diagonal() == 0).all())
    assert hops[7, 6] == 1 and hops[22, 7] == 1 and hops[21, 7] == 2  # hand - wrist, thumb - hand (ST-GCN graph)
    assert hops[3, 15] == 8                                       # head .. neck, spine, base, hip, knee, ankle, foot
    assert hop_distances(4, [(0, 1), (2, 3)])[0, 3] == 5          # no path: J + 1


@pytest.mark.parametrize("mode", ["joint", "part", "random"])
def test_masks_hide_joints_across_every_frame_and_body_parts_whole(mode):
    masker = SkeletonMasker(0.4, mode)
    masker.bind(SkeletonTokenizer(frames=8, joints=25, segment=2, dim=16))
    mask = masker.sample(256, (4, 25), torch.Generator().manual_seed(0))
    hidden = mask.bool.view(256, 4, 25)
    again = SkeletonMasker(0.4, mode)
    again.bind(SkeletonTokenizer(frames=8, joints=25, segment=2, dim=16))
    assert torch.equal(again.sample(256, (4, 25), torch.Generator().manual_seed(0)).bool, mask.bool)
    if mode == "random":
        assert int(mask.bool[0].sum()) == 40 and not bool((hidden == hidden[:, :1]).all())
        return
    assert bool((hidden == hidden[:, :1]).all())                  # the same joints in every segment
    joints = hidden[:, 0]
    assert bool((joints.sum(1) == 10).all())                      # round(25 * 0.4)
    if mode == "part":
        partial = torch.stack([(joints[:, list(p)].sum(1) > 0) & ~joints[:, list(p)].all(1) for p in NTU_PARTS], 1)
        assert bool((partial.sum(1) <= 1).all())                  # whole parts, but the last one drawn
    else:
        partial = torch.stack([(joints[:, list(p)].sum(1) > 0) & ~joints[:, list(p)].all(1) for p in NTU_PARTS], 1)
        assert float(partial.sum(1).float().mean()) > 2           # joints scattered over the parts


def test_attention_bias_is_a_learnable_function_of_the_hop_distance():
    bias = HopBias(heads=2, joints=25, edges=NTU_EDGES, max_hop=4)
    joint = torch.tensor([[-1, 7, 6, 5, 15]])                     # cls, hand, wrist (1 hop), elbow (2), foot (far)
    b = bias(joint)[0, 0].detach()
    assert b.shape == (5, 5) and float(b[0, 1]) == 0.0 and float(b[1, 0]) == 0.0
    assert float(b[1, 1]) > float(b[1, 2]) > float(b[1, 3]) > float(b[1, 4])   # nearer joints first at init
    with torch.no_grad():
        bias.table[0, 1] = 3.0                                    # one hop
    assert float(bias(joint)[0, 0, 1, 2].detach()) == 3.0 and float(bias(joint)[0, 1, 1, 2].detach()) == -0.5
    block = GraphBlock(8, 2)
    with torch.no_grad():
        block.qkv.weight[:16].zero_(), block.qkv.bias[:16].zero_()  # q = k = 0: attention = softmax(bias)
    x = torch.randn(1, 5, 8, generator=torch.Generator().manual_seed(0))
    h = block.norm1(x)
    v = (h @ block.qkv.weight[16:].T + block.qkv.bias[16:]).view(1, 5, 2, 4).transpose(1, 2)
    want = torch.softmax(bias(joint), -1) @ v
    torch.testing.assert_close(block.attention(h, bias(joint)), block.proj(want.transpose(1, 2).reshape(1, 5, 8)))


def test_skeletonmae_predicts_the_hidden_joints_and_the_graph_shapes_the_encoder():
    model = anymae.create("skeletonmae_tiny", frames=8, dim=32, depth=1, heads=2, decoder_dim=32, decoder_heads=2,
                          mask_mode="part", mask_ratio=0.4, reconstruct="joints")        # SkeletonMAE's masking
    x = torch.randn(3, 8, 25, 3, generator=torch.Generator().manual_seed(0))
    out = model(x, generator=torch.Generator().manual_seed(1))
    assert out.pred.shape == (3, 10 * 2, 12)                      # 10 hidden joints x 2 segments, 4 frames x 3
    torch.testing.assert_close(out.target, torch.gather(model.tokenizer.patchify(x), 1,
                                                        out.mask.hidden[..., None].expand(-1, -1, 12)))
    out.loss.backward()
    assert model.encoder.bias.table.grad is not None and model.decoder.bias.table.grad is not None
    other = GraphBiasedEncoder(dim=32, depth=1, heads=2, joints=25, edges=[(0, j) for j in range(1, 25)])
    other.load_state_dict(model.encoder.state_dict())
    tokens = model.tokenize(x)
    assert not torch.allclose(other.encode_tokens(tokens), model.encoder.encode_tokens(tokens))


def test_joints_and_edges_target_adds_each_joints_bone_from_its_parent():
    parent = parent_joints(25, NTU_EDGES)
    assert parent[0] == 0 and parent[1] == 0 and parent[20] == 1 and parent[7] == 6 and parent[15] == 14
    model = anymae.create("skeletonmae_tiny", frames=8, dim=32, depth=1, heads=2, decoder_dim=32, decoder_heads=2,
                          mask_mode="part", mask_ratio=0.4, reconstruct="joints+edges")   # SkeletonMAE's setting
    x = torch.randn(2, 8, 25, 3, generator=torch.Generator().manual_seed(0))
    out = model(x, generator=torch.Generator().manual_seed(1))
    assert out.pred.shape == (2, 20, 24)                          # 4 frames x 3 coordinates, joint then bone
    token = int(out.mask.hidden[0, 0])
    segment, joint = divmod(token, 25)
    frames = slice(4 * segment, 4 * segment + 4)
    torch.testing.assert_close(out.target[0, 0, :12], x[0, frames, joint].reshape(-1))
    torch.testing.assert_close(out.target[0, 0, 12:], (x[0, frames, joint] - x[0, frames, int(parent[joint])]).reshape(-1))
    assert model.reconstruct(x)[1].shape == (2, 50, 12)           # pictures read the joints' half
    with pytest.raises(ValueError, match="reconstruct must be one of"):
        anymae.create("skeletonmae_tiny", reconstruct="bones")


def test_joint_motion_target_is_each_hidden_joints_frame_to_frame_motion_across_segments():
    model = anymae.create("skeletonmae_tiny", frames=8, dim=32, depth=1, heads=2, decoder_dim=32, decoder_heads=2,
                          mask_mode="random", mask_ratio=0.9, reconstruct="joints+motion")
    x = torch.randn(2, 8, 25, 3, generator=torch.Generator().manual_seed(0))
    out = model(x, generator=torch.Generator().manual_seed(1))
    assert out.pred.shape == (2, 45, 24)                          # round(50 x 0.9) hidden; joint, then its motion
    motion = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1) * model.target.motion_scale
    for b in range(2):
        for k, token in enumerate(out.mask.hidden[b].tolist()):
            segment, joint = divmod(token, 25)
            frames = slice(4 * segment, 4 * segment + 4)          # segment 1's first motion reaches back into segment 0
            torch.testing.assert_close(out.target[b, k, :12], x[b, frames, joint].reshape(-1))
            torch.testing.assert_close(out.target[b, k, 12:], motion[b, frames, joint].reshape(-1))
    assert model.reconstruct(x)[1].shape == (2, 50, 12)           # pictures read the joints' half
    still = model.target(x[:, :1].expand(-1, 8, -1, -1), model.tokenizer(x[:, :1].expand(-1, 8, -1, -1)))
    assert float(still[..., 12:].abs().max()) == 0.0              # a still skeleton has no motion to predict
    motion_only = anymae.create("skeletonmae_tiny", frames=8, dim=32, depth=1, heads=2, decoder_dim=32,
                                decoder_heads=2, reconstruct="motion")
    assert motion_only(x, generator=torch.Generator().manual_seed(1)).pred.shape[-1] == 12


def test_joint_angle_statistics_ignore_the_view_and_tell_actions_apart():
    rng = np.random.default_rng(0)
    seq = torch.from_numpy(synth_action(0, 32, rng))[None]
    c, s = math.cos(1.0), math.sin(1.0)
    turned = seq @ torch.tensor([[c, 0.0, s], [0, 1, 0], [-s, 0, c]]).T * 1.7
    a, b = joint_angle_statistics(seq, NTU_EDGES), joint_angle_statistics(turned, NTU_EDGES)
    n = a.shape[1] - 4 * 25                                       # the angle statistics, then the joint speeds
    np.testing.assert_allclose(a[:, :n], b[:, :n], atol=1e-4)
    np.testing.assert_allclose(b[:, n:], 1.7 * a[:, n:], rtol=1e-4, atol=1e-6)
    train = skeleton_actions("train", train_count=100)
    assert train.sequences.shape == (100, 64, 25, 3) and sorted(set(train.labels.tolist())) == list(range(10))
    assert len(ACTIONS) == 10 and not torch.equal(train.sequences[0], skeleton_actions("test", test_count=50).sequences[0])


def write_ntu(path: Path, frames: int, rng: np.random.Generator) -> np.ndarray:
    """An NTU RGB+D .skeleton text file: a main body in every frame, a second one in the first two frames."""
    main = rng.normal(size=(frames, 25, 3))
    lines = [str(frames)]
    for f in range(frames):
        bodies = [("72057594037931101", main[f])] + ([("72057594037931999", rng.normal(size=(25, 3)))] if f < 2 else [])
        lines.append(str(len(bodies)))
        for body, joints in bodies:
            lines += [f"{body} 0 1 1 1 1 0 0.1 0.2 2", "25"]
            lines += [" ".join(f"{v:.6f}" for v in (*xyz, 250.0, 200.0, 900.0, 500.0, 0.1, 0.2, 0.3, 0.9)) + " 2"
                      for xyz in joints]
    path.write_text("\n".join(lines) + "\n")
    return main


def write_folder(root: Path) -> dict[str, Path]:
    """A 5-joint 2-D stick (skeleton.json) in two classes, plus four bad files."""
    (root).mkdir(parents=True, exist_ok=True)
    (root / "skeleton.json").write_text(json.dumps({"edges": [[0, 1], [1, 2], [1, 3], [0, 4]],
                                                    "parts": [[0, 1], [2, 3], [4]]}))
    rng = np.random.default_rng(0)
    for cls, speed in (("slow", 1.0), ("fast", 4.0)):
        (root / cls).mkdir()
        for i in range(8):
            t = np.linspace(0, 1, 20 + i)[:, None]
            base = np.array([[0, 0], [0, 1], [-0.5, 1.5], [0.5, 1.5], [0, -1]], float)
            seq = base[None] + 0.3 * np.sin(2 * np.pi * speed * t + i)[..., None] * rng.normal(size=(1, 5, 2))
            np.save(root / cls / f"{i}.npy", seq.astype(np.float32))
    bad = {"corrupt": root / "slow" / "corrupt.npy", "joints": root / "slow" / "joints.npy",
           "nan": root / "fast" / "nan.npy", "one": root / "fast" / "one.npy"}
    bad["corrupt"].write_bytes(b"\x93NUMPY not really")
    np.save(bad["joints"], np.zeros((10, 6, 2), np.float32) + np.arange(6)[None, :, None])
    np.save(bad["nan"], np.full((10, 5, 2), np.nan, np.float32))
    np.save(bad["one"], np.ones((1, 5, 2), np.float32))
    return bad


def test_user_npy_folder_with_graph_and_ntu_skeleton_files_read_and_bad_files_are_named_once(tmp_path):
    bad = write_folder(tmp_path / "npy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(str(tmp_path / "npy"), split="all")
    assert data.modality == "skeleton" and data.graph["joints"] == 5 and data.channels == 2
    assert len(data) == 16 and data.classes == ["fast", "slow"] and data.graph["parts"] == [[0, 1], [2, 3], [4]]
    messages = [str(w.message) for w in caught]
    for path in bad.values():
        assert sum(str(path) in m for m in messages) == 1, path
    assert sorted(data.skipped) == sorted(str(p) for p in bad.values())
    ntu = tmp_path / "ntu" / "a"
    ntu.mkdir(parents=True)
    main = write_ntu(ntu / "S001C001P001R001A001.skeleton", 6, np.random.default_rng(1))
    write_ntu(ntu / "S001C001P001R001A002.skeleton", 5, np.random.default_rng(2))
    (ntu / "broken.skeleton").write_text("3\n1\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clips = load_dataset(str(tmp_path / "ntu"), split="all")
    assert len(clips) == 2 and clips.graph["joints"] == 25 and clips.skipped == [str(ntu / "broken.skeleton")]
    np.testing.assert_allclose(clips.pixels(0).numpy(), main, atol=1e-5)       # the body seen in every frame


def test_skeleton_run_on_a_user_graph_pretrains_draws_and_probes_with_joint_angles(tmp_path):
    write_folder(tmp_path / "data")
    run = tmp_path / "run"
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "anymae"]
    args = ["--arg", "frames=8", "--arg", "segment=2", "--arg", "dim=16", "--arg", "depth=1", "--arg", "heads=2",
            "--arg", "decoder_dim=16", "--arg", "decoder_heads=2"]
    subprocess.run(cli + ["pretrain", "--recipe", "skeletonmae_tiny", "--data", str(tmp_path / "data"), "--steps", "1",
                          "--batch-size", "4", *args, "--out", str(run)], check=True, env=env, capture_output=True)
    assert (run / "reconstructions.png").stat().st_size > 1000
    out = subprocess.run(cli + ["probe", str(run)], check=True, env=env, capture_output=True, text=True).stdout
    names = [r["name"] for r in json.loads((run / "probe.json").read_text())["results"]]
    assert names[1].startswith("random init") and "joint-angle statistics" in names and "joint-angle statistics" in out
