"""Issue 26's second pass of levers for the laptop default: pixels + HOG as one target, and a pixel decoder
that draws the pictures without training the encoder."""
from __future__ import annotations

import pytest
import torch

import anymae
from anymae.targets import HOGTarget, PixelHOGTarget, PixelTarget


def laptop(**kwargs):
    torch.manual_seed(0)
    return anymae.create("mae_laptop", **kwargs)


def test_pixel_hog_target_is_pixels_then_weighted_hog():
    model = laptop(hog_weight=3.0)
    x = torch.rand(2, 3, 32, 32)
    tokens = model.tokenize(x)
    target = model.target(x, tokens)
    pixels, hog = PixelTarget(norm=True)(x, tokens), HOGTarget()(x, tokens)
    p = pixels.shape[-1]
    assert target.shape == (2, 16, p + hog.shape[-1])
    assert torch.allclose(target[..., :p], pixels)
    # under a mean-squared error the HOG part weighs hog_weight times the pixel values together
    # (each norm-pix patch's squares sum to ~p, each HOG has unit norm)
    assert torch.allclose(target[..., p:].pow(2).sum(-1), torch.full((2, 16), 3.0 * p), rtol=1e-3)
    assert torch.allclose(pixels.pow(2).sum(-1), torch.full((2, 16), float(p)), rtol=0.01)
    assert torch.allclose(target[..., p:] / (3.0 * p) ** 0.5, hog)
    # pictures come from the pixel part only
    pred = torch.randn_like(target)
    assert torch.allclose(model.target.invert(pred, tokens.values), PixelTarget().invert(pred[..., :p], tokens.values))


def test_pixel_hog_model_reconstructs_pixels_and_rejects_a_zero_weight():
    model = laptop(hog_weight=1.0)
    mask, values = model.reconstruct(torch.rand(2, 3, 32, 32), torch.Generator().manual_seed(0))
    assert values.shape == (2, 16, 8 * 8 * 3)
    with pytest.raises(ValueError, match="hog_weight"):
        PixelHOGTarget(hog_weight=0.0)


def test_detached_pixel_decoder_leaves_the_encoder_to_the_position_task():
    x = torch.rand(4, 3, 32, 32)
    for pixel_grad in (True, False):
        model = laptop(pixel_grad=pixel_grad)
        out = model(x, generator=torch.Generator().manual_seed(0))
        out.token_loss.mean().backward()          # the pixel loss alone
        encoder_grad = sum(p.grad.abs().sum() for p in model.encoder.parameters() if p.grad is not None)
        decoder_grad = sum(p.grad.abs().sum() for p in model.decoder.parameters() if p.grad is not None)
        assert decoder_grad > 0
        assert (encoder_grad > 0) == pixel_grad, (pixel_grad, encoder_grad)
    model = laptop(pixel_grad=False)
    out = model(x, generator=torch.Generator().manual_seed(0))
    out.terms and out.loss.backward()
    assert sum(p.grad.abs().sum() for p in model.encoder.parameters() if p.grad is not None) > 0  # position task
