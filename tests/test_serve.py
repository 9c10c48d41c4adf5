"""`anymae serve`'s API through FastAPI's test client: every endpoint, every bad input of the issue (each a
4xx with a message, the server answering the next request as before), on a tiny pretrained run."""
import io
import json
import shutil

import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve,serve-test]'")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx (the serve-test extra)")
from fastapi.testclient import TestClient  # noqa: E402

from anymae.masking import MASKERS, num_visible  # noqa: E402
from anymae.serve.app import create_app  # noqa: E402


def pretrain_tiny_run(run):
    """20 steps of a 1-block mae_laptop on shapes (in this process: no second start-up of torch)."""
    from conftest import TINY
    from anymae.cli import main
    torch.set_num_threads(1)
    assert main(["pretrain", "--data", "shapes", "--epochs", "1", "--batch-size", "100", "--seed", "1",
                 "--out", str(run), *TINY]) == 0
    return run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return pretrain_tiny_run(tmp_path_factory.mktemp("serve") / "tiny")


@pytest.fixture(scope="module")
def client(tiny_run):
    torch.set_num_threads(1)
    return TestClient(create_app([tiny_run], max_upload_mb=0.05))


def png_bytes(size=(40, 30), colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, colour)
    image.paste((20, 20, 220), (5, 5, 20, 20))
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def post(client, files=None, **fields):
    return client.post("/api/reconstruct", data={k: str(v) for k, v in fields.items()}, files=files)


def ok(client) -> None:
    """The server still answers a good request."""
    assert post(client, ratio=0.5, sample=1).status_code == 200


# ------------------------------------------------------------------ endpoints
def test_runs_lists_the_run_with_its_recipe_and_modality(client, tiny_run):
    runs = client.get("/api/runs").json()["runs"]
    assert [(r["id"], r["path"], r["recipe"], r["modality"], r["error"]) for r in runs] == \
        [("tiny", str(tiny_run), "mae_laptop", "image", None)]


def test_maskers_lists_every_registered_masker_with_its_arguments(client):
    maskers = {m["name"]: m for m in client.get("/api/maskers").json()["maskers"]}
    assert set(maskers) == set(MASKERS)
    assert {a["name"]: a["default"] for a in maskers["noise"]["args"]}["color"] == "green"


@pytest.mark.parametrize("ratio", [0.25, 0.75])
def test_reconstruct_gives_five_panels_and_per_patch_errors(client, ratio):
    out = post(client, ratio=ratio, seed=3, sample=2).json()
    assert [p["title"] for p in out["panels"]] == ["original", "masked", "prediction", "pred + visible",
                                                   "error per patch"]
    h, w = out["grid"]
    hidden = torch.tensor(out["hidden"], dtype=torch.bool)
    errors = torch.tensor(out["errors"])
    assert hidden.shape == errors.shape == (h, w)
    assert int(hidden.sum()) == out["num_hidden"] == h * w - num_visible(h * w, ratio)
    assert (errors >= 0).all() and float(errors.max()) == pytest.approx(out["error_max"])
    assert out["mean_error_hidden"] == pytest.approx(float(errors[hidden].mean()), rel=1e-5)
    for panel in out["panels"]:
        image = Image.open(io.BytesIO(__import__("base64").b64decode(panel["png"].split(",", 1)[1])))
        assert image.size[0] == image.size[1] >= 32


def test_pasted_panel_keeps_the_visible_patches_of_the_original(client):
    """`pred + visible` equals the original on every visible patch (within PNG rounding)."""
    import base64
    out = post(client, ratio=0.5, seed=0, sample=4).json()
    decode = lambda p: torch.tensor(__import__("numpy").array(
        Image.open(io.BytesIO(base64.b64decode(p["png"].split(",", 1)[1]))).convert("RGB"))).float()
    original, pasted = decode(out["panels"][0]), decode(out["panels"][3])
    h, w = out["grid"]
    ph, pw = original.shape[0] // h, original.shape[1] // w
    for i in range(h):
        for j in range(w):
            a = original[i * ph:(i + 1) * ph, j * pw:(j + 1) * pw]
            b = pasted[i * ph:(i + 1) * ph, j * pw:(j + 1) * pw]
            if not out["hidden"][i][j]:
                assert (a - b).abs().max() <= 1.0


def test_same_seed_same_mask_other_seed_other_mask(client):
    a, b, c = (post(client, ratio=0.5, seed=s, sample=0).json() for s in (7, 7, 8))
    assert a["hidden"] == b["hidden"] and a["errors"] == b["errors"]
    assert a["hidden"] != c["hidden"]


def test_upload_an_image_and_get_a_png(client):
    out = post(client, files={"file": ("mine.png", png_bytes(), "image/png")}, ratio=0.75, masker="grid")
    assert out.status_code == 200 and out.json()["masker"] == "grid"
    picture = post(client, files={"file": ("mine.png", png_bytes(), "image/png")}, ratio=0.75, format="png")
    assert picture.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(picture.content)).size[0] > 5 * 128


def test_masker_arguments_reach_the_masker(client):
    blue = post(client, ratio=0.5, masker="noise", masker_args=json.dumps({"color": "blue"}), sample=0).json()
    green = post(client, ratio=0.5, masker="noise", masker_args="color=green", sample=0).json()
    assert blue["masker_args"] == {"color": "blue"} and green["masker_args"] == {"color": "green"}
    assert blue["hidden"] != green["hidden"]
    answer = post(client, ratio=0.5, masker="noise", masker_args="no_such_arg=1", sample=0)
    assert answer.status_code == 400 and "no_such_arg" in answer.json()["error"]


def test_run_tab_reads_config_metrics_and_probe(client, tiny_run):
    info = client.get("/api/runs/tiny").json()
    assert "recipe: mae_laptop" in info["config"]
    rows = (tiny_run / "metrics.csv").read_text().strip().splitlines()[1:]
    assert info["curve"]["step"] == [int(r.split(",")[0]) for r in rows]
    assert info["curve"]["loss"] == pytest.approx([float(r.split(",")[3]) for r in rows])
    assert info["probe"] is None
    table = [{"name": "anymae encoder", "linear": 0.5, "knn": 0.4}, {"name": "random init", "linear": 0.3, "knn": 0.2}]
    (tiny_run / "probe.json").write_text(json.dumps({"results": table}))
    try:
        assert client.get("/api/runs/tiny").json()["probe"] == table
    finally:
        (tiny_run / "probe.json").unlink()


def test_mask_gallery_is_a_png(client):
    picture = client.get("/api/masks", params={"masker": "random", "ratio": "0.5", "samples": "2"})
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(picture.content)).size[0] > 300


def test_page_and_its_assets_are_served_locally(client):
    page = client.get("/").text
    assert "/static/app.js" in page and "http://" not in page and "https://" not in page
    for asset in ("app.js", "points.js", "style.css"):
        text = client.get(f"/static/{asset}").text
        assert "http://" not in text and "https://" not in text and "cdn" not in text.lower()


# ------------------------------------------------------------------ bad input: a 4xx with a message, then served
@pytest.mark.parametrize("name,content,status,words", [
    ("notes.txt", b"this is not an image at all", 415, "not an image"),
    ("empty.png", b"", 400, "empty"),
    ("big.png", b"\x89PNG" + bytes(60_000), 413, "upload limit"),
])
def test_bad_uploads_are_refused_with_a_message(client, name, content, status, words):
    answer = post(client, files={"file": (name, content, "application/octet-stream")}, ratio=0.5)
    assert answer.status_code == status
    assert words in answer.json()["error"] and name in answer.json()["error"]
    ok(client)


def test_a_body_far_above_the_limit_is_refused_before_it_is_read(client):
    answer = post(client, files={"file": ("huge.png", b"\x89PNG" + bytes(2 * 2**20), "image/png")}, ratio=0.5)
    assert answer.status_code == 413 and "upload limit" in answer.json()["error"]
    ok(client)


@pytest.mark.parametrize("ratio", ["0", "1", "1.5", "-0.2", "nan", "three"])
def test_ratio_out_of_range_is_a_422(client, ratio):
    answer = post(client, ratio=ratio, sample=0)
    assert answer.status_code == 422 and "ratio" in answer.json()["error"]
    ok(client)


def test_unknown_masker_is_a_400_naming_the_known_ones(client):
    answer = post(client, ratio=0.5, masker="nope")
    assert answer.status_code == 400 and "unknown masker 'nope'" in answer.json()["error"]
    assert "random" in answer.json()["error"]
    assert client.get("/api/masks", params={"masker": "nope"}).status_code == 400
    ok(client)


def test_masker_that_does_not_fit_the_run_is_a_4xx(client):
    answer = post(client, ratio=0.5, masker="channel_patch")  # needs a (channels, rows, cols) grid
    assert answer.status_code == 422 and "channel_patch" in answer.json()["error"]
    ok(client)


def test_unknown_run_and_sample_out_of_range(client):
    assert post(client, run="nope", ratio=0.5).status_code == 404
    assert client.get("/api/runs/nope").status_code == 404
    answer = post(client, ratio=0.5, sample=10**6)
    assert answer.status_code == 422 and "sample" in answer.json()["error"]
    ok(client)


def test_run_folders_that_do_not_load_are_listed_and_refused(tiny_run, tmp_path):
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    shutil.copy(tiny_run / "config.yaml", no_weights / "config.yaml")
    bad_yaml = tmp_path / "bad_yaml"
    bad_yaml.mkdir()
    (bad_yaml / "config.yaml").write_text("recipe: [unclosed")
    client = TestClient(create_app([tiny_run, no_weights, bad_yaml]))
    runs = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert runs["bad_yaml"]["error"] and "not valid YAML" in runs["bad_yaml"]["error"]
    for run in ("no_weights", "bad_yaml"):
        answer = post(client, run=run, ratio=0.5)
        assert answer.status_code == 422 and f"run {run} does not load" in answer.json()["error"]
    assert post(client, run="tiny", ratio=0.5).status_code == 200


def test_serve_command_refuses_a_missing_folder_and_says_it_binds_loopback(tmp_path):
    from anymae.cli import build_parser, main
    assert main(["serve", str(tmp_path / "missing")]) == 2
    help_text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()
    assert "127.0.0.1" in help_text and "--max-upload-mb" in help_text


# ------------------------------------------------------------------ other modalities (untrained runs: the layout is what is tested)
def untrained_run(folder, recipe: str, data: str, **recipe_args):
    """A run folder of `recipe` at random init (config.yaml + model.safetensors), written without training."""
    from anymae.config import make_config
    from anymae.io.checkpoint import save_weights
    from anymae.train.run import resolve, write_config
    config = make_config(base={}, settings={"recipe": recipe, "data": data, "seed": 0}, recipe_args=recipe_args,
                         masker=None, masker_args={}, target=None, target_args={}, teacher=None)
    model, _ = resolve(config)
    folder.mkdir(parents=True)
    write_config(config, folder)
    save_weights({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "model.safetensors")
    return folder


@pytest.fixture(scope="module")
def other_client(tmp_path_factory):
    root = tmp_path_factory.mktemp("modalities")
    small = {"depth": 1, "dim": 32, "heads": 2}
    runs = [untrained_run(root / "video", "videomae_vit_tiny", "moving-digits", **small),
            untrained_run(root / "points", "pointmae_tiny", "point-shapes", depth=1),
            untrained_run(root / "mm", "multimae_tiny", "shapes-multimodal", depth=1)]
    return TestClient(create_app(runs))


def test_video_runs_give_a_strip_of_frames_per_panel(other_client):
    out = post(other_client, run="video", ratio=0.9, masker="tube", sample=0).json()
    t, h, w = out["grid"]
    assert out["frames"] > 1 and len(out["panels"]) == 5
    assert all(len(p["frames"]) == out["frames"] for p in out["panels"])
    hidden = torch.tensor(out["hidden"], dtype=torch.bool)
    assert hidden.shape == (t, h, w) and (hidden == hidden[:1]).all()  # a tube: the same patches in every slot


def test_point_runs_give_points_for_the_3d_view(other_client):
    out = post(other_client, run="points", ratio=0.6, sample=0).json()
    groups, hidden = out["num_tokens"], out["num_hidden"]
    assert hidden == groups - num_visible(groups, 0.6)
    points = out["points"]
    per_group = len(points["predicted"]) // hidden
    assert len(points["predicted"]) == len(points["hidden_truth"]) == hidden * per_group
    assert len(points["visible"]) == (groups - hidden) * per_group
    assert all(len(p) == 3 for p in points["input"])
    npy = io.BytesIO()
    __import__("numpy").save(npy, torch.randn(300, 3).numpy())
    assert post(other_client, run="points", ratio=0.6, files={"file": ("c.npy", npy.getvalue(), "x")}).status_code == 200
    assert post(other_client, run="points", ratio=0.6, files={"file": ("c.npy", b"no" * 20, "x")}).status_code == 415


def test_multimodal_rows_and_hiding_a_modality(other_client):
    out = post(other_client, run="mm", ratio=0.5, sample=0, hide="depth").json()
    rows = {r["name"]: r for r in out["rows"]}
    assert set(rows) == {"rgb", "depth", "semseg"}
    assert rows["depth"]["hidden_all"] and rows["depth"]["num_hidden"] == rows["depth"]["num_tokens"]
    assert rows["rgb"]["num_hidden"] < rows["rgb"]["num_tokens"]
    assert [p["title"] for p in rows["semseg"]["panels"]] == ["semseg", "semseg masked", "semseg prediction",
                                                              "semseg error"]
    assert 0 <= rows["semseg"]["mean_error"] <= 1  # a share of wrong classes
    uploaded = post(other_client, run="mm", ratio=0.5, hide="depth,semseg",
                    files={"file": ("mine.png", png_bytes(), "image/png")}).json()
    assert {r["name"]: r["hidden_all"] for r in uploaded["rows"]} == {"rgb": False, "depth": True, "semseg": True}
    assert post(other_client, run="mm", ratio=0.5, hide="sound").status_code == 400
    assert post(other_client, run="mm", ratio=0.5, hide="rgb,depth,semseg").status_code == 422


def test_the_runs_own_masker_is_the_default(client):
    out = post(client, ratio=0.5, sample=0).json()
    assert out["masker"] == "random" and out["num_hidden"] == out["num_tokens"] - num_visible(out["num_tokens"], 0.5)
    explicit = post(client, ratio=0.5, sample=0, masker="random").json()
    assert explicit["hidden"] == out["hidden"]  # the same masker, the same seed: the same mask
