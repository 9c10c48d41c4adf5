"""`anymae serve`'s generate panel through FastAPI's test client: `POST /api/generate` on a tiny qlae_tiny
tokenizer + maskgit_tiny generator pair (3 training steps each, built once), its settings (JSON or form), the
library's samplers and their pass counts, and every bad input a 4xx with a message, the server serving on."""
import base64
import io

import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve,serve-test]'")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx (the serve-test extra)")
from fastapi.testclient import TestClient  # noqa: E402

from anymae.serve.app import create_app  # noqa: E402

TINY_TOK = ["--arg", "width=8", "--arg", "dims=3", "--arg", "levels=5", "--arg", "downsample=2"]
TINY_GEN = ["--arg", "dim=16", "--arg", "depth=1", "--arg", "heads=2"]
CELL = 66  # sample_grid's cell (64) + padding (2)


def tiny_generator_runs(root):
    """A qlae_tiny tokenizer and a maskgit_tiny generator on digits, 3 training steps each -> (tok, gen)."""
    from anymae.cli import main
    torch.set_num_threads(1)
    assert main(["pretrain", "--recipe", "qlae_tiny", "--data", "digits", "--image-size", "8", *TINY_TOK,
                 "--steps", "3", "--batch-size", "16", "--out", str(root / "tok")]) == 0
    assert main(["pretrain", "--recipe", "maskgit_tiny", "--tokenizer", str(root / "tok"), "--data", "digits",
                 *TINY_GEN, "--steps", "3", "--batch-size", "16", "--out", str(root / "gen")]) == 0
    return root / "tok", root / "gen"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_generator_runs(tmp_path_factory.mktemp("serve-gen"))


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(create_app(list(runs)))


def gen(client, **settings):
    return client.post("/api/generate", json={"run": "gen", "steps": 2, "count": 4, **settings})


def picture(out: dict) -> Image.Image:
    head, data = out["picture"].split(",", 1)
    assert head == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_runs_flag_the_generator(client):
    runs = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert runs["gen"]["generator"] is True and runs["gen"]["recipe"] == "maskgit_tiny"
    assert runs["tok"]["generator"] is False


def test_one_class_gives_a_row_of_that_class_with_settings_and_seconds(client):
    r = gen(client, **{"class": 3, "sampler": "maskgit", "temperature": 0.5, "guidance": 1.5, "seed": 7})
    assert r.status_code == 200, r.text
    out = r.json()
    assert {k: out[k] for k in ("run", "class", "steps", "sampler", "temperature", "guidance", "seed", "count")} == \
        {"run": "gen", "class": 3, "steps": 2, "sampler": "maskgit", "temperature": 0.5, "guidance": 1.5, "seed": 7,
         "count": 4}
    assert isinstance(out["seconds"], float)  # its duration is reported, never compared with a time
    assert out["num_classes"] == 10 and out["classes"] == [str(c) for c in range(10)]
    assert out["samplers"] == ["maskgit", "recap"]       # a plain stack: no ENAT split
    assert out["full_passes"] == 2 and out["cheap_passes"] == 0
    assert picture(out).size == (4 * CELL + 2, CELL + 2)  # one row of 4 samples


def test_every_class_is_one_titled_row_each(client):
    out = gen(client, count=20).json()
    assert out["class"] is None and out["count"] == 20 and out["per_row"] == 2
    width, height = picture(out).size
    assert height == 10 * CELL + 2 and width > 2 * CELL + 2  # ten rows, titles on the left


def test_recap_runs_cheap_passes_between_full_ones(client):
    out = gen(client, sampler="recap", steps=4).json()
    assert out["sampler"] == "recap" and out["full_passes"] + out["cheap_passes"] == 4
    assert 0 < out["full_passes"] < 4


def test_same_seed_same_samples_other_seed_other_samples_json_or_form(client):
    a, b = gen(client, seed=1).json(), gen(client, seed=1).json()
    assert a["picture"] == b["picture"]
    assert gen(client, seed=2).json()["picture"] != a["picture"]
    form = client.post("/api/generate", data={"run": "gen", "steps": "2", "count": "4", "seed": "1"})
    assert form.status_code == 200 and form.json()["picture"] == a["picture"]


def test_format_png_answers_one_png(client):
    r = gen(client, format="png", **{"class": 0})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(r.content)).size == (4 * CELL + 2, CELL + 2)
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("settings, status, words", [
    ({"class": 10}, 422, "class must be a whole number in 0..9, got 10"),
    ({"class": -1}, 422, "class must be"),
    ({"steps": 0}, 422, "steps must be a whole number in 1..16, got 0"),
    ({"steps": 17}, 422, "steps must be a whole number in 1..16"),
    ({"steps": "x"}, 422, "steps must be a whole number, got 'x'"),
    ({"sampler": "enat"}, 400, "sampler 'enat': this run takes maskgit, recap"),
    ({"sampler": "nope"}, 400, "sampler 'nope'"),
    ({"count": 0}, 422, "count must be"),
    ({"count": 65}, 422, "count must be"),
    ({"temperature": -1}, 422, "temperature must be a number >= 0"),
    ({"guidance": "nan"}, 422, "guidance must be a number >= 0"),
    ({"run": "tok"}, 422, "run tok is a tokenizer run"),
    ({"run": "nope"}, 404, "unknown run 'nope'"),
    ({"colour": "red"}, 400, "unknown setting colour"),
    ({"format": "gif"}, 400, "format must be json or png"),
])
def test_bad_settings_are_4xx_with_a_message_and_the_server_serves_on(client, settings, status, words):
    r = gen(client, **settings)
    assert r.status_code == status and words in r.json()["error"], r.text
    assert gen(client).status_code == 200


def test_a_body_that_is_not_a_json_object_is_a_400(client):
    for body in ("{not json", "[1, 2]"):
        r = client.post("/api/generate", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and "JSON" in r.json()["error"]
    assert gen(client).status_code == 200


def test_reconstruct_refuses_a_generator_run_and_names_the_generate_panel(client):
    r = client.post("/api/reconstruct", data={"run": "gen"})
    assert r.status_code == 422 and "POST /api/generate" in r.json()["error"]


def test_the_page_has_the_generate_panel(client):
    page = client.get("/").text
    assert 'id="generate"' in page and 'id="gen-class"' in page and 'id="gen-sampler"' in page
    assert "/api/generate" in client.get("/static/app.js").text


def test_a_point_cloud_generator_is_named_as_one_not_as_a_tokenizer():
    from anymae.serve.generation import NOT_SERVED, recipe_kind
    assert recipe_kind({"recipe": "mar3d_tiny"}) == "point-cloud generator"
    assert recipe_kind({"recipe": "qlae_tiny"}) == "tokenizer" and recipe_kind({"recipe": "maskgit_tiny"}) == "generator"
    assert "anymae generate RUN" in NOT_SERVED["point-cloud generator"]
