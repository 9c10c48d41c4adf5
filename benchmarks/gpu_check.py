"""The GPU check in one call (issue 23): everything a short loan of a GPU should measure, in one run.

    python benchmarks/gpu_check.py --out runs/gpu-check                # on a GPU: within ~8 minutes
    python benchmarks/gpu_check.py --out /tmp/check --device cpu --tiny # the same code on a CPU, < 1 minute

1. `pytest -m cuda tests/test_cuda.py`: bf16-mixed steps of every laptop recipe against fp32, --compile,
   the SDPA kernel, --grad-checkpointing's memory, an exact 1-GPU resume (all skipped without CUDA).
2. Step throughput of anymae and the peers of `step_throughput.py` (hf, lightly, official) on base224 at
   batch 128 in bf16-mixed, eager and compiled: images/s, MFU against a bf16 matmul peak measured in the
   same run, peak GPU memory. Each row: warm-up steps, then the median of timed steps (CUDA-synchronised).
3. The input pipeline's images/s (a folder of JPEGs and its shards, CPU decoding with all workers; and
   `torchvision.io.decode_jpeg` on the GPU) against the step's consumption (the fastest row of 2).
Writes DIR/gpu_check.json and DIR/gpu_check.md. `--tiny` shrinks every size (a smoke run, not a result).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))


# ------------------------------------------------------------------ 1. the CUDA tests
def cuda_tests(out: Path, timeout: int) -> dict:
    """Run `pytest -m cuda tests/test_cuda.py`; -> counts and the failures' names."""
    report = out / "cuda_tests.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda", str(ROOT / "tests" / "test_cuda.py"),
           f"--junitxml={report}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    import xml.etree.ElementTree as ET
    if not report.exists():
        return {"error": "pytest wrote no report", "returncode": done.returncode, "tail": done.stdout[-1500:]}
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    failures = []
    for case in ET.parse(report).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
            failures.append(case.get("name"))
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return {**counts, "failures": failures, "returncode": done.returncode, "tail": done.stdout[-1500:]}


# ------------------------------------------------------------------ 2. step throughput
def workload(tiny: bool):
    from peers import WORKLOADS, Workload
    if tiny:
        return Workload("tiny-check", 32, 8, 64, 2, 2, 32, 1, 2, batch=16)
    base = WORKLOADS["base224"]
    return Workload("base224", base.image_size, base.patch_size, base.dim, base.depth, base.heads,
                    base.decoder_dim, base.decoder_depth, base.decoder_heads, batch=128)


def sync(device: str) -> None:
    import torch
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: str, dtype: str, size: int, repeats: int = 10) -> float:
    """Best GFLOP/s of a square matmul in `dtype` on `device`."""
    import torch
    dt = getattr(torch, dtype)
    a = torch.randn(size, size, device=device).to(dt)
    b = torch.randn(size, size, device=device).to(dt)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * size ** 3 / best / 1e9


def step_row(impl: str, w, device: str, precision: str, compiled: bool, warmup: int, steps: int,
             flops: int | None = None) -> dict:
    """One implementation's training step: median images/s, model FLOPs (counted eagerly: the counter does
    not see inside compiled graphs, so a compiled row is given its eager row's count), peak memory, loss."""
    import torch
    from step_throughput import build, count_flops
    torch.manual_seed(0)
    if device == "cuda":
        torch.cuda.empty_cache()
    model, step_loss, optimizer = build(impl, w, {"compile": compiled and impl == "anymae"})
    model = model.to(device).train()
    if impl != "anymae":  # the optimizer was made on CPU parameters: make it again on the device's
        optimizer = torch.optim.AdamW(model.parameters(), lr=1.5e-4, betas=(0.9, 0.95), weight_decay=0.05,
                                      fused=device == "cuda")
        if compiled:
            model.compile()
    elif device == "cuda":
        from anymae.train.module import make_optimizer
        optimizer = make_optimizer(model, 1.5e-4, 0.05)
    images = torch.randn(w.batch, 3, w.image_size, w.image_size, device=device,
                         generator=torch.Generator(device).manual_seed(0))
    bf16 = precision == "bf16-mixed"
    autocast_device = "cuda" if device == "cuda" else "cpu"

    def one_step():
        with torch.autocast(autocast_device, dtype=torch.bfloat16, enabled=bf16):
            loss = step_loss(images)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(warmup + steps):
        sync(device)
        t = time.perf_counter()
        loss = one_step()
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    if flops is None:
        with torch.autocast(autocast_device, dtype=torch.bfloat16, enabled=bf16):
            flops = count_flops(step_loss, images)
    optimizer.zero_grad(set_to_none=True)
    step_s = statistics.median(times)
    return {"impl": impl, "compiled": compiled, "precision": precision, "batch": w.batch, "step_s": step_s,
            "images_per_s": w.batch / step_s, "flops_per_step": flops, "loss": float(loss.detach()),
            "peak_memory": torch.cuda.max_memory_allocated() if device == "cuda" else None}


def throughput(device: str, tiny: bool, precision: str, eager_only: bool = False) -> dict:
    w = workload(tiny)
    peak_dtype = "bfloat16" if precision == "bf16-mixed" else "float32"
    peak = matmul_peak(device, peak_dtype, 1024 if tiny else 8192)
    warmup, steps = (1, 2) if tiny else (3, 8)
    rows, eager_flops = [], {}
    for compiled in ((False,) if tiny or eager_only else (False, True)):
        for impl in ("anymae", "hf", "lightly", "official"):
            try:
                row = step_row(impl, w, device, precision, compiled, warmup, steps, eager_flops.get(impl))
                eager_flops.setdefault(impl, row["flops_per_step"])
            except Exception as err:  # a peer that cannot run here is reported, not fatal
                row = {"impl": impl, "compiled": compiled, "error": f"{type(err).__name__}: {err}"[:500]}
            if "step_s" in row:
                row["mfu"] = row["flops_per_step"] / row["step_s"] / (peak * 1e9)
            rows.append(row)
            print(f"  {impl}{' compiled' if compiled else ''}: "
                  f"{row.get('images_per_s', float('nan')):.1f} img/s", flush=True)
    return {"workload": w.name, "batch": w.batch, "precision": precision, "matmul_peak_gflops": peak,
            "matmul_peak_dtype": peak_dtype, "rows": rows}


# ------------------------------------------------------------------ 3. the input pipeline
def photo_folder(root: Path, count: int, side: tuple[int, int]) -> Path:
    """`count` JPEGs of about `side` (min, max) px cut from scikit-image's photographs, two classes."""
    import numpy as np
    from PIL import Image
    from skimage import data as skdata
    from skimage.transform import resize
    photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket(), skdata.immunohistochemistry()]
    rng = np.random.default_rng(0)
    big = [(resize(p, (p.shape[0] * 2, p.shape[1] * 2), preserve_range=True)).astype(np.uint8) for p in photos]
    for i in range(count):
        photo = big[i % len(big)]
        h = int(rng.integers(side[0], min(side[1], photo.shape[0]) + 1))
        w = int(rng.integers(side[0], min(side[1], photo.shape[1]) + 1))
        top, left = int(rng.integers(0, photo.shape[0] - h + 1)), int(rng.integers(0, photo.shape[1] - w + 1))
        folder = root / f"class{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo[top:top + h, left:left + w]).save(folder / f"{i:05d}.jpg", quality=90)
    return root


def pipeline_rate(data, batch: int, workers: int, batches: int) -> float:
    """Images/s of the pretrain loader (decode + augment + collate) over `data` with `workers`."""
    from torch.utils.data import DataLoader
    from anymae.train.sampler import make_sampler
    loader = DataLoader(data, batch_size=batch, sampler=make_sampler(data, 0, 0, 1), drop_last=True,
                        num_workers=workers, persistent_workers=workers > 0)
    it = iter(loader)
    next(it)  # workers started, first batch made
    t, n = time.perf_counter(), 0
    for _ in range(batches):
        try:
            n += len(next(it)[0])
        except StopIteration:
            break
    return n / (time.perf_counter() - t)


def gpu_decode_rate(folder: Path, batch: int, size: int, batches: int) -> float | None:
    """Images/s of torchvision.io.decode_jpeg on CUDA (+ resize to the model size) from file bytes."""
    import torch
    if not torch.cuda.is_available():
        return None
    from torchvision.io import decode_jpeg
    import torch.nn.functional as F
    files = sorted(folder.rglob("*.jpg"))[:batch * batches]
    data = [torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8) for p in files]
    decode_jpeg(data[:batch], device="cuda")
    torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(0, len(data), batch):
        images = decode_jpeg(data[i:i + batch], device="cuda")
        torch.stack([F.interpolate(x[None].float(), size=(size, size), mode="bilinear", antialias=True)[0]
                     for x in images])
    torch.cuda.synchronize()
    return len(data) / (time.perf_counter() - t)


def pipeline(tiny: bool, out: Path, consumption: float | None) -> dict:
    from anymae.config import PretrainConfig
    from anymae.data import load_dataset, modality_of
    from anymae.data.shards import write_shards
    from anymae.spec import build_model
    count, side, size, batch = (32, (96, 160), 32, 16) if tiny else (2000, (500, 1000), 224, 128)
    workers_all = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-", dir=out))
    folder = photo_folder(tmp / "photos", count, side)
    sources, errors = [("files", str(folder))], []
    try:  # shards need litdata (anymae[stream]); a machine without it still measures the folder
        write_shards(str(folder), tmp / "shards", shard_size_mb=64, image_size=size, progress=False)
        sources.append(("shards", str(tmp / "shards")))
    except (ValueError, ImportError) as err:
        errors.append(f"shards: {err}")
        print(f"  shards not measured: {err}", flush=True)
    config = PretrainConfig(recipe="mae_vit_tiny", recipe_args={"image_size": size, "patch_size": 16 if size > 32 else 4})
    model = build_model(config.model_spec(), seed=0)
    rows = []
    for name, spec in sources:
        data = load_dataset(spec, split="all", image_size=size)
        config.mean, config.std = getattr(data, "stored_stats", None) or modality_of(data).stats(data)
        data = data.with_transform(modality_of(data).pretrain_transform(model, config))
        for workers in sorted({0, workers_all}) if tiny else (0, workers_all):
            rate = pipeline_rate(data, batch, workers, 2 if tiny else 10)
            decode = "cpu (PIL, JPEG draft)" if name == "shards" else "decoded once into memory (2x size); crops"
            rows.append({"source": name, "decode": decode, "workers": workers, "images_per_s": rate})
            print(f"  {name}, {workers} workers: {rate:.1f} img/s", flush=True)
    gpu = gpu_decode_rate(folder, batch, size, 2 if tiny else 10)
    if gpu is not None:
        rows.append({"source": "files", "decode": "cuda (torchvision decode_jpeg)", "workers": 0, "images_per_s": gpu})
    best = max(r["images_per_s"] for r in rows)
    return {"images": count, "side_px": list(side), "model_size": size, "batch": batch, "rows": rows, "errors": errors,
            "step_consumption_images_per_s": consumption,
            "best_over_consumption": best / consumption if consumption else None}


# ------------------------------------------------------------------ report
def table(result: dict) -> str:
    lines = [f"# GPU check ({result['device_name']}, torch {result['torch']})", ""]
    t = result["cuda_tests"]
    lines.append(f"CUDA tests: {t.get('passed', 0)} passed, {t.get('failed', 0)} failed, {t.get('skipped', 0)} "
                 f"skipped{' - failed: ' + ', '.join(t['failures']) if t.get('failures') else ''}")
    s = result["throughput"]
    lines += ["", f"Step throughput, {s['workload']} batch {s['batch']} {s['precision']} (matmul peak "
              f"{s['matmul_peak_gflops']:.0f} GFLOP/s {s['matmul_peak_dtype']}):", "",
              "| implementation | images/s | MFU | peak memory |", "|---|---|---|---|"]
    for r in s["rows"]:
        name = r["impl"] + (" (compiled)" if r.get("compiled") else "")
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error'][:80]} | | |")
            continue
        mem = f"{r['peak_memory'] / 2**30:.1f} GiB" if r.get("peak_memory") else "-"
        lines.append(f"| {name} | {r['images_per_s']:.1f} | {100 * r['mfu']:.1f}% | {mem} |")
    p = result["pipeline"]
    lines += ["", f"Input pipeline ({p['images']} JPEGs of {p['side_px'][0]}-{p['side_px'][1]} px, model size "
              f"{p['model_size']}), against the step's {p['step_consumption_images_per_s'] or float('nan'):.1f} images/s:",
              "", "| source | decode | workers | images/s |", "|---|---|---|---|"]
    for r in p["rows"]:
        lines.append(f"| {r['source']} | {r['decode']} | {r['workers']} | {r['images_per_s']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder for gpu_check.json and gpu_check.md")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tiny", action="store_true", help="tiny sizes: a smoke run of every part (CPU: < 1 minute)")
    ap.add_argument("--skip-tests", action="store_true", help="leave out part 1 (the CUDA tests)")
    ap.add_argument("--eager-only", action="store_true",
                    help="part 2 without the torch.compile rows (each compile takes about a minute)")
    args = ap.parse_args(argv)
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run with --device cpu --tiny for the smoke run", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    start = time.time()
    result = {"device": args.device, "tiny": args.tiny, "torch": torch.__version__,
              "device_name": torch.cuda.get_device_name() if args.device == "cuda" else "cpu"}
    seconds = result["section_seconds"] = {}
    print("1/3 CUDA tests", flush=True)
    t = time.time()
    result["cuda_tests"] = {"skipped_by_flag": True} if args.skip_tests else cuda_tests(out, 300)
    seconds["cuda_tests"] = round(time.time() - t, 1)
    print("2/3 step throughput", flush=True)
    t = time.time()
    precision = "bf16-mixed" if args.device == "cuda" else "32-true"
    result["throughput"] = throughput(args.device, args.tiny, precision, args.eager_only)
    seconds["throughput"] = round(time.time() - t, 1)
    (out / "gpu_check.json").write_text(json.dumps(result, indent=1))  # what is measured so far survives a crash
    good = [r["images_per_s"] for r in result["throughput"]["rows"] if "images_per_s" in r and r["impl"] == "anymae"]
    print("3/3 input pipeline", flush=True)
    t = time.time()
    result["pipeline"] = pipeline(args.tiny, out, max(good) if good else None)
    seconds["pipeline"] = round(time.time() - t, 1)
    result["seconds"] = round(time.time() - start, 1)
    (out / "gpu_check.json").write_text(json.dumps(result, indent=1))
    (out / "gpu_check.md").write_text(table(result))
    print(table(result))
    print(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
