"""Speed and memory options of a run: precision choice, torch.compile, activation checkpointing, decoder masking."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger("anymae.train")


def cpu_bf16_flags() -> set[str]:
    """The CPU's native bf16 instruction sets (avx512_bf16, amx_bf16) from /proc/cpuinfo; empty if none/unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("flags"):
            return {f for f in line.split(":", 1)[1].split() if f in ("avx512_bf16", "amx_bf16")}
    capability = torch.backends.cpu.get_cpu_capability().lower()
    return {"amx_bf16"} if "amx" in capability else set()


def uses_cuda(accelerator: str) -> bool:
    return torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")


def resolve_precision(precision: str | None, accelerator: str = "auto") -> str:
    """None -> bf16-mixed on CUDA, 32-true elsewhere. bf16 asked for on a CPU without native bf16
    instructions is kept (the user asked) but warned about: there it is emulated and far slower."""
    if precision is None:
        return "bf16-mixed" if uses_cuda(accelerator) else "32-true"
    if "bf16" in str(precision) and not uses_cuda(accelerator) and not cpu_bf16_flags():
        warnings.warn(
            f"--precision {precision} on this CPU: it has no native bf16 instructions (no avx512_bf16 / amx_bf16 "
            f"in its flags; torch reports capability {torch.backends.cpu.get_cpu_capability()}), so bf16 matmuls "
            "are emulated and can run hundreds of times slower than fp32. Use --precision 32-true here.",
            RuntimeWarning, stacklevel=2)
    return str(precision)


def enable_tf32() -> None:
    """CUDA: fp32 matmuls and convolutions left outside bf16 autocast run on TF32 tensor cores."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def compiled_parts(model: nn.Module) -> list[nn.Module]:
    """The parts `--compile` hands to torch.compile: the encoder and the decoder, each whole.

    Whole parts rather than single blocks: inductor then fuses across block boundaries (a block's
    residual add with the next block's LayerNorm) and the 12 + 4 blocks share two graphs; measured
    in docs/speed.md. Tokenizer, masker, target and loss stay eager (they draw from a
    torch.Generator, which dynamo does not trace).
    """
    return [part for part in (getattr(model, "encoder", None), getattr(model, "decoder", None)) if part is not None]


def apply_speed_options(model: nn.Module, config) -> nn.Module:
    """Apply `config.compile`, `config.grad_checkpointing`, `config.decoder_keep_ratio` to a built model.

    Parameter names are unchanged: `nn.Module.compile` compiles a part in place.
    """
    if uses_cuda(getattr(config, "accelerator", "auto")):
        enable_tf32()
    keep = float(getattr(config, "decoder_keep_ratio", 1.0))
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"decoder_keep_ratio must be in (0, 1], got {keep}")
    model.decoder_keep_ratio = keep
    if keep < 1.0:
        if not hasattr(model.decoder, "decoder_masking"):
            raise ValueError(f"decoder_keep_ratio: decoder {type(model.decoder).__name__} has no decoder masking")
        model.decoder.decoder_masking = True  # the blocks see the visible tokens and the kept subset only
    if getattr(config, "grad_checkpointing", False):
        if not hasattr(model.encoder, "grad_checkpointing"):
            raise ValueError(f"grad_checkpointing: encoder {type(model.encoder).__name__} does not support it")
        model.encoder.grad_checkpointing = True
    if getattr(config, "compile", False):
        parts = compiled_parts(model)
        if not parts:
            raise ValueError("compile: this model has no encoder/decoder to compile")
        for part in parts:
            part.compile()
    return model


def precision_summary(precision: str | None, accelerator: str = "auto") -> dict:
    """What the run summary says about precision: the one used, the CPU's native bf16 sets, and why.

    bf16-mixed is the CUDA default. On CPUs it stays opt-in: the same flag (avx512_bf16) meant a bf16-mixed
    step of 1.71-1.85x the fp32 time on one machine and about 0.85x on another, and bf16's probe accuracy
    at equal steps has not been measured on any (docs/speed.md)."""
    used = resolve_precision_quiet(precision, accelerator)
    flags = sorted(cpu_bf16_flags()) if not uses_cuda(accelerator) else []
    if precision is not None:
        why = "asked for"
    elif uses_cuda(accelerator):
        why = "default on CUDA"
    elif flags:
        why = (f"default on CPUs: this CPU has native bf16 ({', '.join(flags)}), but bf16-mixed has not been "
               "measured to hold here (docs/speed.md); pass --precision bf16-mixed to use it")
    else:
        why = "default on CPUs: no native bf16 instructions"
    return {"precision": used, "cpu_native_bf16": flags, "precision_reason": why}


def resolve_precision_quiet(precision: str | None, accelerator: str = "auto") -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return resolve_precision(precision, accelerator)
