"""Paper recipes at the papers' sizes: the built models match docs/paper_recipes.md, and the doc lists them.

`PAPER_SETTINGS` is the doc's table in Python; each recipe is built once (ViT-B: ~1-3 s each, ~45 s in all).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import anymae
from anymae.recipes import RECIPES, get_recipe

DOC = Path(__file__).resolve().parents[1] / "docs" / "paper_recipes.md"


def vit_b(paper, decoder="MAEDecoder", decoder_dim=512, decoder_depth=8, decoder_heads=16, **rest):
    """A ViT-B/16 on 224 px entry; `rest` sets mask ratio, masker, target, loss (and any override)."""
    return {"paper": paper, "image_size": 224, "patch_size": 16, "dim": 768, "depth": 12, "heads": 12,
            "decoder": decoder, "decoder_dim": decoder_dim, "decoder_depth": decoder_depth,
            "decoder_heads": decoder_heads, "position_task": 0.0, **rest}


LINEAR = {"decoder": "LinearHead", "decoder_dim": None, "decoder_depth": 0, "decoder_heads": None}
PIXEL_MSE = {"target": "PixelTarget", "loss": "MSELoss"}
TEACHER_MSE = {"target": "TeacherLatentTarget", "loss": "MSELoss"}

PAPER_SETTINGS = {
    # existing paper recipes (recipes/mae.py, videomae.py, pointmae.py, channels.py)
    "mae_vit_base": vit_b(0, mask_ratio=0.75, masker="RandomMasker", **PIXEL_MSE),
    "videomae_vit_base": vit_b(12, decoder_dim=384, decoder_depth=4, decoder_heads=6, mask_ratio=0.9,
                               masker="TubeMasker", **PIXEL_MSE),
    "videomae2_vit_base": vit_b(9, decoder_dim=384, decoder_depth=4, decoder_heads=6, mask_ratio=0.9,
                                masker="DualMasker", **PIXEL_MSE),
    "pointmae": {"paper": 10, "image_size": None, "patch_size": None, "dim": 384, "depth": 12, "heads": 6,
                 "decoder": "MAEDecoder", "decoder_dim": 384, "decoder_depth": 4, "decoder_heads": 6,
                 "mask_ratio": 0.6, "masker": "RandomMasker", "target": "PixelTarget", "loss": "ChamferLoss",
                 "position_task": 0.0},
    "chamaevit_base": vit_b(45, decoder="FusionDecoder", mask_ratio=0.75, masker="ChannelPatchMasker", **PIXEL_MSE),
    "smarties_base": vit_b(3, mask_ratio=0.75, masker="RandomMasker", **PIXEL_MSE),
    "multimae_base": vit_b(50, decoder="MultiModalDecoder", decoder_dim=256, decoder_depth=2, decoder_heads=8,
                           mask_ratio=5 / 6, masker="ModalityMasker", target="MultiModalTarget",
                           loss="MultiModalLoss"),
    # the target papers at their sizes (recipes/paper_sizes.py)
    "maskfeat_vit_base": vit_b(0, mask_ratio=0.4, masker="BlockMasker", target="HOGTarget", loss="MSELoss"),
    "mfm_vit_base": vit_b(40, **LINEAR, mask_ratio=None, radius=16 / 112, masker="FrequencyMasker",
                          target="FrequencyTarget", loss="SpectrumLoss"),
    "mp3_vit_base": vit_b(42, **LINEAR, mask_ratio=0.5, masker="PredictVisible", target="PositionTarget",
                          loss="CrossEntropyLoss"),
    "salt_vit_base": vit_b(54, decoder_dim=384, decoder_depth=12, decoder_heads=12, mask_ratio=0.9,
                           masker="RandomMasker", **TEACHER_MSE),
    "latent_ema_vit_base": vit_b(26, mask_ratio=0.6, masker="BlockMasker", target="EMALatentTarget",
                                 loss="MSELoss"),
    "maskalign_vit_base": vit_b(6, **LINEAR, mask_ratio=0.7, masker="PredictVisible", **TEACHER_MSE),
    "mrmae_vit_base": vit_b(13, mask_ratio=0.75, masker="RandomMasker", **PIXEL_MSE),
    "dmae_vit_base": vit_b(29, mask_ratio=0.75, masker="RandomMasker", **PIXEL_MSE),
    "hybrid_distill_vit_base": vit_b(36, **LINEAR, mask_ratio=0.5, masker="PredictVisible", **TEACHER_MSE),
    # issue 22's objectives at their papers' sizes (recipes/objectives.py)
    "mixedae_vit_base": vit_b(11, mask_ratio=0.75, masker="MixingMasker", **PIXEL_MSE),
    "crossvideomae_base": vit_b(39, decoder_dim=384, decoder_depth=4, decoder_heads=6, mask_ratio=0.9,
                                masker="TubeMasker", **PIXEL_MSE),
    "cae_vit_base": vit_b(5, decoder="CAEDecoder", decoder_dim=768, decoder_depth=4, decoder_heads=12,
                          regressor_depth=4, mask_ratio=0.5, masker="BlockMasker", **PIXEL_MSE),
    "lut_vit_base": vit_b(7, mask_ratio=0.75, masker="RandomMasker", **PIXEL_MSE),
    "dmjd_vit_base": vit_b(33, mask_ratio=0.5, masker="DisjointMasker", target="HOGTarget", loss="MSELoss"),
    # new modalities and encoders (recipes/crate.py, ...)
    "crate_mae_base": vit_b(8, decoder="CRATEDecoder", decoder_dim=768, decoder_depth=12, decoder_heads=12,
                            mask_ratio=0.75, masker="RandomMasker", **PIXEL_MSE),
    "skeletonmae_base": {"paper": 18, "image_size": None, "patch_size": None, "dim": 256, "depth": 8, "heads": 8,
                         "decoder": "GraphDecoder", "decoder_dim": 256, "decoder_depth": 1, "decoder_heads": 8,
                         "mask_ratio": 0.4, "masker": "SkeletonMasker", "target": "JointEdgeTarget", "loss": "MSELoss",
                         "position_task": 0.0},
    # audio-visual (recipes/hicmae.py): per-modality ViTs; tube 0.9 on 800 video tokens, 0.8 on 128 audio tokens
    "hicmae_base": {"paper": 16, "image_size": 160, "patch_size": 16, "dim": 512, "depth": 10, "heads": 8,
                    "decoder": "HiCMAEDecoder", "decoder_dim": 384, "decoder_depth": 4, "decoder_heads": 6,
                    "mask_ratio": (720 + 102) / 928, "masker": "PerModalityMasker", "target": "MultiModalTarget",
                    "loss": "MultiModalLoss", "position_task": 0.0},
    # image-text (recipes/m3ae.py): ViT-B/16 on 256 px + 64 caption tokens; image 0.75 of 256, text 0.5 of 64
    "m3ae_base": {"paper": 43, "image_size": 256, "patch_size": 16, "dim": 768, "depth": 12, "heads": 12,
                  "decoder": "M3AEDecoder", "decoder_dim": 512, "decoder_depth": 8, "decoder_heads": 16,
                  "mask_ratio": (192 + 32) / 320, "masker": "PerModalityMasker", "target": "MultiModalTarget",
                  "loss": "MultiModalLoss", "position_task": 0.0},
    # text (recipes/text.py): BERT-base encoder, RetroMAE's one-layer enhanced decoder at the encoder's width
    "retromae_base": {"paper": 2, "image_size": None, "patch_size": None, "dim": 768, "depth": 12, "heads": 12,
                      "decoder": "EnhancedDecoder", "decoder_dim": 768, "decoder_depth": 1, "decoder_heads": 12,
                      "mask_ratio": 0.3, "masker": "AsymmetricTextMasker", "target": "TokenIdTarget",
                      "loss": "TokenCrossEntropy", "position_task": 0.0},
    "dupmae_base": {"paper": 2, "image_size": None, "patch_size": None, "dim": 768, "depth": 12, "heads": 12,
                    "decoder": "EnhancedDecoder", "decoder_dim": 768, "decoder_depth": 1, "decoder_heads": 12,
                    "mask_ratio": 0.3, "masker": "AsymmetricTextMasker", "target": "TokenIdTarget",
                    "loss": "TokenCrossEntropy", "position_task": 0.0},
}

# the extra terms each paper has (class names in model.aux); MP3's position term is in none of them
PAPER_TERMS = {
    "cae_vit_base": {"LatentAlignment"}, "maskalign_vit_base": {"DynamicAlignment"},
    "mrmae_vit_base": {"VisibleMimic"}, "dmae_vit_base": {"IntermediateDistill"},
    "hybrid_distill_vit_base": {"TokenRelation"}, "lut_vit_base": {"VisibleTokenTerm"},
    "dmjd_vit_base": {"DualBranch"}, "dupmae_base": {"BagOfWordsTerm"},
    "mixedae_vit_base": {"HomologousRecognition"}, "crossvideomae_base": {"CrossVideoContrast"},
    "hicmae_base": {"HierarchicalContrastive"},
}


def decoder_depth(decoder) -> int:
    if type(decoder).__name__ == "LinearHead":
        return 0
    return getattr(decoder, "depth", None) or len(decoder.blocks)


def patch_size(name, tokenizer):
    return getattr(tokenizer, "patch_size", None) or get_recipe(name).defaults().get("patch_size")


def image_size(tokenizer):
    size = getattr(tokenizer, "image_size", None)
    return size[0] if isinstance(size, tuple) else size


@pytest.mark.parametrize("name", sorted(PAPER_SETTINGS))
def test_recipe_matches_paper_settings(name):
    want = PAPER_SETTINGS[name]
    recipe = get_recipe(name)
    model = anymae.create(name)  # built once per recipe; not kept (19 ViT-B models would hold ~8 GB)
    assert recipe.paper == want["paper"]
    tok, enc, dec, masker = model.tokenizer, model.encoder, model.decoder, model.masker
    if want["image_size"] is not None:
        assert image_size(tok) == want["image_size"]
        assert patch_size(name, tok) == want["patch_size"]
    assert (enc.dim, enc.depth, enc.heads) == (want["dim"], want["depth"], want["heads"])
    assert type(dec).__name__ == want["decoder"]
    assert decoder_depth(dec) == want["decoder_depth"]
    if want["decoder_dim"] is not None:
        assert (dec.dim, dec.heads) == (want["decoder_dim"], want["decoder_heads"])
    if "regressor_depth" in want:
        assert len(dec.regressor) == want["regressor_depth"]
    assert type(masker).__name__ == want["masker"]
    if want["mask_ratio"] is not None:
        assert masker.ratio == pytest.approx(want["mask_ratio"])
    if "radius" in want:
        assert masker.radius == pytest.approx(want["radius"])
    assert type(model.target).__name__ == want["target"]
    assert type(model.loss).__name__ == want["loss"]
    terms = {type(part).__name__ for part in model.aux}
    assert "PositionPrediction" not in terms
    assert recipe.defaults().get("position_task", 0.0) == want["position_task"]
    assert terms == PAPER_TERMS.get(name, set())


def test_every_paper_size_recipe_is_in_the_table():
    """Every recipe registered in recipes/paper_sizes.py has an entry here (and so in the doc)."""
    ours = {n for n, r in RECIPES.items() if getattr(r.build, "__module__", "").endswith("recipes.paper_sizes")}
    assert len(ours) == 12
    assert ours <= set(PAPER_SETTINGS)


def doc_rows() -> dict[str, list[str]]:
    """recipe -> cells of its row in the doc's first table (| # | recipe | ... |)."""
    rows = {}
    for line in DOC.read_text().split("## Laptop variants")[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and re.fullmatch(r"`\w+`", cells[1]):
            rows[cells[1].strip("`")] = cells
    return rows


def test_doc_lists_every_recipe_with_its_values():
    """docs/paper_recipes.md's table holds exactly PAPER_SETTINGS' recipes, with the same numbers."""
    rows = doc_rows()
    assert set(rows) == set(PAPER_SETTINGS)
    for name, (paper, _, size, encoder, decoder, ratio, target, loss, source, _) in rows.items():
        want = PAPER_SETTINGS[name]
        assert paper == (str(want["paper"]) if name != "maskfeat_vit_base" else "-"), name
        if want["image_size"] is not None:
            assert size == f"{want['image_size']}/{want['patch_size']}", name
        assert encoder == f"{want['dim']}x{want['depth']} ({want['heads']})", name
        if want["decoder_dim"] is None:
            assert decoder == "linear head", name
        else:
            assert decoder.startswith(f"{want['decoder_dim']}x{want['decoder_depth']} ({want['decoder_heads']})"), name
        if want["mask_ratio"] is not None:
            assert float(ratio) == pytest.approx(want["mask_ratio"], abs=1e-3), name
        assert target == f"`{want['target']}`" and loss == f"`{want['loss']}`", name
        assert source, name


def test_doc_names_the_laptop_variants():
    laptop = DOC.read_text().split("## Laptop variants")[1]
    for name in RECIPES:
        if name.endswith("_vit_tiny") and name.replace("_tiny", "_base") in PAPER_SETTINGS and \
                getattr(RECIPES[name].build, "__module__", "").endswith("recipes.targets"):
            assert f"`{name}`" in laptop, name


# SparK's CNN recipes (recipes/spark.py; docs/paper_recipes.md "CNN recipes"): timm model, image, grid, decoder
CNN_SETTINGS = {
    "spark_resnet50_base": {"paper": 48, "cnn": "resnet50", "image_size": 224, "grid": (7, 7), "mask_ratio": 0.6,
                            "decoder_dim": 768, "blocks": 5, "densify": "bn", "drop_path": 0.05},
    "spark_convnext_base": {"paper": 48, "cnn": "convnext_base", "image_size": 224, "grid": (7, 7),
                            "mask_ratio": 0.6, "decoder_dim": 768, "blocks": 5, "densify": "ln", "drop_path": 0.3},
}


@pytest.mark.parametrize("name", sorted(CNN_SETTINGS))
def test_cnn_recipe_matches_paper_settings(name):
    want = CNN_SETTINGS[name]
    model = anymae.create(name)
    enc, dec = model.encoder, model.decoder
    assert get_recipe(name).paper == want["paper"] and enc.name == want["cnn"]
    assert model.tokenizer.image_size == (want["image_size"],) * 2 and model.tokenizer.grid == want["grid"]
    assert type(model.masker).__name__ == "RandomMasker" and model.masker.ratio == want["mask_ratio"]
    assert type(dec).__name__ == "SparKDecoder" and dec.dim == want["decoder_dim"] and len(dec.blocks) == want["blocks"]
    assert {n.kind for n in dec.densify_norms} == {want["densify"]}
    assert get_recipe(name).defaults()["drop_path"] == want["drop_path"]
    assert (type(model.target).__name__, model.target.norm, type(model.loss).__name__) == ("PixelTarget", True, "MSELoss")
    row = next(line for line in DOC.read_text().split("## CNN recipes")[1].splitlines() if f"`{name}`" in line)
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    assert cells[2].startswith(f"`{want['cnn']}` / {want['image_size']}")
    assert cells[3] == f"{want['grid'][0]}x{want['grid'][1]}, {want['mask_ratio']}"
    assert cells[4].startswith(f"UNet, {want['decoder_dim']}-d, {want['blocks']} blocks")
    assert cells[5] == want["densify"].upper() and float(cells[6]) == want["drop_path"]
