"""The speed-ups are exact: optimised parts equal a straightforward reference within fp32 tolerance."""
from __future__ import annotations

import warnings

import pytest
import torch

import anymae
from anymae.config import PretrainConfig
from anymae.decoders.mae import gather_tokens
from anymae.masking import RandomMasker
from anymae.masking.decoder import decoder_subset, select_rows
from anymae.train import speed
from anymae.train.module import make_optimizer


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return anymae.create("mae_vit_tiny", image_size=16, patch_size=4, dim=32, depth=2, heads=2,
                         decoder_dim=32, decoder_depth=2, decoder_heads=2)


def reference_decoder(decoder, latents, mask, tokens, num_prefix=1, seen=None):
    """MAE's decoder as models_mae.py writes it: mask tokens appended, un-shuffled to the original
    order, positions added, blocks, then the predicted tokens gathered. `seen` [B,M] (sorted token
    indices) restricts the decoder to those tokens (VideoMAE V2's decoder masking)."""
    x = decoder.embed(latents)
    prefix, visible = x[:, :num_prefix], x[:, num_prefix:]
    b, n = mask.restore.shape
    fill = decoder.mask_token.expand(b, n - visible.shape[1], -1)
    full = gather_tokens(torch.cat([visible, fill], 1), mask.restore) + decoder.pos(tokens)  # original order
    where = torch.arange(n).expand(b, -1)
    if seen is not None:
        full, where = gather_tokens(full, seen), seen
    x = torch.cat([prefix, full], 1)
    for block in decoder.blocks:
        x = block(x)
    x = decoder.norm(x[:, num_prefix:])
    slot = (where.unsqueeze(2) == mask.predict.unsqueeze(1)).float().argmax(1)  # [B,Np]: where each predicted token sits
    return decoder.pred(gather_tokens(x, slot))


def decoder_inputs(model, batch=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, 16, 16, generator=g)
    tokens = model.tokenizer(x)
    mask = model.draw_mask(tokens, g)
    latents = torch.randn(batch, 1 + mask.num_visible, 32, generator=g)
    return tokens, mask, latents, g


def assert_same_outputs_and_grads(model, fast, slow):
    params = [p for p in model.decoder.parameters() if p.requires_grad]
    fast_grads = torch.autograd.grad(fast.square().sum(), params, allow_unused=True)
    slow_grads = torch.autograd.grad(slow.square().sum(), params, allow_unused=True)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    for a, b in zip(fast_grads, slow_grads):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_decoder_equals_reference_on_hidden_tokens():
    model = tiny_model()
    tokens, mask, latents, _ = decoder_inputs(model)
    assert_same_outputs_and_grads(model, model.decoder(latents, mask, tokens, 1),
                                  reference_decoder(model.decoder, latents, mask, tokens, 1))


def test_decoder_equals_reference_when_predicting_every_token():
    model = tiny_model()
    tokens, mask, latents, _ = decoder_inputs(model)
    everything = mask.with_predict(torch.arange(mask.num_tokens).expand(4, -1))
    assert_same_outputs_and_grads(model, model.decoder(latents, everything, tokens, 1),
                                  reference_decoder(model.decoder, latents, everything, tokens, 1))


def test_decoder_masking_sees_visible_and_kept_hidden_tokens_only():
    model = tiny_model()
    model.decoder.decoder_masking = True  # what --decoder-keep-ratio (apply_speed_options) turns on
    tokens, mask, latents, g = decoder_inputs(model)
    sub = decoder_subset(mask, 0.5, g)
    seen = torch.sort(torch.cat([sub.keep, sub.predict], 1), dim=1).values
    assert_same_outputs_and_grads(model, model.decoder(latents, sub, tokens, 1),
                                  reference_decoder(model.decoder, latents, sub, tokens, 1, seen=seen))


def test_without_decoder_masking_a_predict_subset_still_sees_every_hidden_token():
    """MAE's decoder (decoder_masking off): every hidden token has a mask token in the blocks, whatever
    subset the loss reads (the modality masker's `predict`)."""
    model = tiny_model()
    tokens, mask, latents, g = decoder_inputs(model)
    sub = decoder_subset(mask, 0.5, g)
    assert_same_outputs_and_grads(model, model.decoder(latents, sub, tokens, 1),
                                  reference_decoder(model.decoder, latents, sub, tokens, 1))


def test_decoder_subset_is_a_random_share_of_hidden_tokens():
    mask = RandomMasker(0.75).sample(8, (8, 8), torch.Generator().manual_seed(0))
    sub = decoder_subset(mask, 0.5, torch.Generator().manual_seed(1))
    assert sub.predict.shape == (8, 24)
    assert bool(mask.bool.gather(1, sub.predict).all())  # only hidden tokens
    assert all(len(set(row.tolist())) == 24 for row in sub.predict)  # no repeats
    assert not torch.equal(sub.predict[0].sort().values, sub.predict[1].sort().values)
    assert decoder_subset(mask, 1.0) is mask
    with pytest.raises(ValueError):
        decoder_subset(mask, 0.0)


def test_model_loss_unchanged_by_decoder_layout():
    """The whole step's loss equals the reference decoder's, same mask."""
    model = tiny_model()
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    out = model(x, generator=torch.Generator().manual_seed(3))
    pred = reference_decoder(model.decoder, out.latents, out.mask, out.tokens, 1)
    torch.testing.assert_close(out.pred, pred, rtol=1e-5, atol=1e-5)


def test_fused_adamw_matches_single_tensor_adamw():
    """Same gradients in, same parameters out (AdamW with MAE's groups, 3 steps)."""
    a, b = tiny_model(), tiny_model()
    fast = make_optimizer(a, 1e-3, 0.05)
    slow = torch.optim.AdamW(anymae.train.module.param_groups(b, 0.05), lr=1e-3, betas=(0.9, 0.95), foreach=False)
    g = torch.Generator().manual_seed(4)
    for step in range(3):
        for p, q in zip(a.parameters(), b.parameters()):
            p.grad = torch.randn(p.shape, generator=g)
            q.grad = p.grad.clone()
        fast.step()
        slow.step()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_select_rows_takes_samples():
    mask = RandomMasker(0.5).sample(6, (4, 4), torch.Generator().manual_seed(0))
    part = select_rows(mask, slice(1, None, 2))
    assert torch.equal(part.keep, mask.keep[1::2]) and torch.equal(part.restore, mask.restore[1::2])


def test_bf16_on_a_cpu_without_native_bf16_warns(monkeypatch):
    monkeypatch.setattr(speed, "cpu_bf16_flags", lambda: set())
    monkeypatch.setattr(speed, "uses_cuda", lambda accelerator: False)
    with pytest.warns(RuntimeWarning, match="no native bf16"):
        assert speed.resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"
    monkeypatch.setattr(speed, "cpu_bf16_flags", lambda: {"avx512_bf16"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        speed.resolve_precision("bf16-mixed", "cpu")
    assert speed.resolve_precision(None, "cpu") == "32-true"


def test_speed_options_keep_parameter_names():
    model = tiny_model()
    names = list(model.state_dict())
    cfg = PretrainConfig(grad_checkpointing=True, decoder_keep_ratio=0.5)
    speed.apply_speed_options(model, cfg)
    assert list(model.state_dict()) == names
    assert model.encoder.grad_checkpointing and model.decoder_keep_ratio == 0.5
    assert model.decoder.decoder_masking  # the kept subset is all the decoder's blocks see
    assert "encoder.blocks.0.attn.qkv.weight" in names


def test_compile_option_compiles_encoder_and_decoder_in_place():
    """--compile wraps the encoder and decoder (lazily: nothing is compiled until the first step);
    names, and so checkpoints, do not change. Numerics: benchmarks/step_throughput.py --compile
    compares the compiled step's loss with eager's (docs/speed.md)."""
    model = tiny_model()
    names = list(model.state_dict())
    speed.apply_speed_options(model, PretrainConfig(compile=True))
    assert list(model.state_dict()) == names
    assert model.encoder._compiled_call_impl is not None and model.decoder._compiled_call_impl is not None
    assert getattr(model.tokenizer, "_compiled_call_impl", None) is None  # draws from generators: stays eager


def test_compiled_encoder_and_decoder_run_and_match_eager(monkeypatch):
    """The compiled parts really run (Dynamo captures a graph for each) and give eager's loss and
    gradients. Dynamo's graphs run through AOTAutograd's eager backend here: inductor's C++ build takes
    minutes on a shared CPU; its numerics are measured in docs/speed.md."""
    import functools
    import torch._dynamo
    import torch._dynamo.utils
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    eager, compiled = tiny_model(), tiny_model()
    speed.apply_speed_options(compiled, PretrainConfig(compile=True))
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    losses = [m(x, generator=torch.Generator().manual_seed(2)).loss for m in (eager, compiled)]
    for loss in losses:
        loss.backward()
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 2  # the encoder's and the decoder's
    assert torch.allclose(losses[0], losses[1], atol=1e-6)
    grads = dict(eager.named_parameters())
    for name, p in compiled.named_parameters():
        if p.grad is not None:
            assert torch.allclose(p.grad, grads[name].grad, atol=1e-6), name
    torch._dynamo.reset()


def test_grad_checkpointing_gives_the_same_gradients():
    a, b = tiny_model(), tiny_model()
    b.encoder.grad_checkpointing = True
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    for m in (a, b):
        m(x, generator=torch.Generator().manual_seed(6)).loss.backward()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7)
