"""Training-step throughput of anymae against the MAE implementations users would otherwise run (issue #9).

    python benchmarks/step_throughput.py                 # tiny32 + base224, 3 alternating repeats
    python benchmarks/step_throughput.py --quick         # fewer steps and repeats (a smoke run)
    python benchmarks/step_throughput.py --workloads tiny32 --extras none

One training step = forward with masking and loss + backward + AdamW step + zero_grad, on a fixed
batch of random images. Every (implementation, workload, repeat) runs in its own subprocess with
the same threads, shape, batch and precision; warm-up steps are excluded; a run's figure is the
median of its timed steps; the order of implementations rotates between repeats and each ratio
is taken within one repeat (then the median over repeats), so machine load hits all alike.

Also measured in the same run: the fp32 (and bf16) matmul peak, hence MFU = model FLOPs per step
(torch.utils.flop_counter) / step time / peak; peak resident memory; the input pipeline's
images/s (built-in data and a folder of JPEGs, default workers) against the step's consumption;
and for anymae alone: bf16-mixed/fp32, --grad-checkpointing (base224) and --decoder-keep-ratio
step-time ratios. With `--compile`, `anymae --compile` (torch.compile of encoder and decoder) is a
row of its own in the same alternation, beside eager anymae, with its loss checked against eager's
(same seed, same batch). Writes a table and a JSON file.
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
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))  # this checkout's anymae, whatever is installed
PEER_NAMES = ("hf", "lightly", "official")
# the rows of the comparison that are anymae with options: row name -> (implementation, options)
ANYMAE_ROWS = {"anymae": ("anymae", {}), "anymae --compile": ("anymae", {"compile": True})}


# ------------------------------------------------------------------ measuring inside one subprocess
def rss_now() -> tuple[int, int]:
    """(current, peak) resident set size in bytes, from /proc/self/status."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields.get("VmRSS", 0), fields.get("VmHWM", 0)


def reset_peak_rss() -> None:
    """Make VmHWM restart from the current RSS (Linux: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def build(impl: str, workload, options: dict):
    """-> (model, step_loss(images) -> loss, optimizer) for one implementation at a workload's shape."""
    import torch
    from peers import PEERS
    if impl in PEERS:
        model, step_loss = PEERS[impl](workload)
        return model, step_loss, torch.optim.AdamW(model.parameters(), lr=1.5e-4, betas=(0.9, 0.95),
                                                   weight_decay=0.05)
    import anymae
    from anymae.train.config import PretrainConfig
    from anymae.train.module import make_optimizer, step_generator
    from anymae.train.speed import apply_speed_options
    w = workload
    model = anymae.create("mae_vit_tiny", image_size=w.image_size, patch_size=w.patch_size, mask_ratio=w.mask_ratio,
                          dim=w.dim, depth=w.depth, heads=w.heads, decoder_dim=w.decoder_dim,
                          decoder_depth=w.decoder_depth, decoder_heads=w.decoder_heads)
    config = PretrainConfig(compile=options.get("compile", False),
                            grad_checkpointing=options.get("grad_checkpointing", False),
                            decoder_keep_ratio=options.get("decoder_keep_ratio", 1.0))
    apply_speed_options(model, config)
    steps = iter(range(10**9))

    def step_loss(images):
        return model(images, generator=step_generator(0, 0, next(steps), images.device)).loss
    return model, step_loss, make_optimizer(model, 1.5e-4, 0.05, (0.9, 0.95))


def count_flops(step_loss, images) -> int:
    """Model FLOPs of one forward + backward (matmuls, convolutions, attention) with torch's counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop, sdpa_flop
    aten = torch.ops.aten
    def raw(formula):  # torch's formulas are already shape-wrapped: mark them so they are not wrapped again
        def counted(*args, **kwargs):
            return formula(*args, **kwargs)
        counted._get_raw = True
        return counted
    mapping = {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):  # not in torch's own table
        mapping[aten._scaled_dot_product_flash_attention_for_cpu] = raw(sdpa_flop)
        mapping[aten._scaled_dot_product_flash_attention_for_cpu_backward] = raw(sdpa_backward_flop)
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        step_loss(images).backward()
    return int(counter.get_total_flops())


def child(args) -> dict:
    """One measurement in this process: median step time, FLOPs, peak memory."""
    import torch
    from peers import WORKLOADS
    torch.set_num_threads(args.threads)
    # every library any implementation uses is imported before the baseline RSS, so "step memory"
    # counts the model, its activations and optimizer state only
    import anymae.train.module  # noqa: F401  (Lightning)
    import lightly.models.modules  # noqa: F401
    import transformers.models.vit_mae.modeling_vit_mae  # noqa: F401
    w = WORKLOADS[args.workload]
    options = json.loads(args.options)
    torch.manual_seed(0)
    base_rss, _ = rss_now()
    reset_peak_rss()
    model, step_loss, optimizer = build(args.child, w, options)
    model.train()
    images = torch.randn(w.batch, 3, w.image_size, w.image_size, generator=torch.Generator().manual_seed(0))
    bf16 = options.get("precision") == "bf16-mixed"

    def one_step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = step_loss(images)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)

    times, cpu_times = [], []
    for i in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = one_step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
    _, peak = rss_now()
    flops = count_flops(step_loss, images) if not options.get("no_flops") else 0
    return {"impl": args.child, "workload": w.name, "options": options, "batch": w.batch, "loss": loss,
            "step_s": statistics.median(times), "step_cpu_s": statistics.median(cpu_times),
            "times": times, "images_per_s": w.batch / statistics.median(times),
            "flops_per_step": flops, "peak_rss": peak, "step_mem": max(0, peak - base_rss),
            "params": sum(p.numel() for p in model.parameters())}


def matmul_peak(threads: int, dtype: str = "float32", size: int = 2048, repeats: int = 7) -> float:
    """Best GFLOP/s of a square matmul (this process)."""
    import torch
    torch.set_num_threads(threads)
    dt = getattr(torch, dtype)
    a, b = torch.randn(size, size, dtype=dt), torch.randn(size, size, dtype=dt)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size ** 3 / best / 1e9


def pipeline_rate(spec: str, image_size: int, batch: int, batches: int) -> float:
    """Images/s of the default `pretrain` input pipeline (decode + augment + collate, default workers)."""
    from torch.utils.data import DataLoader
    from anymae.train.config import PretrainConfig
    from anymae.train.run import resolve
    from anymae.train.sampler import EpochSampler
    config = PretrainConfig(data=spec, batch_size=batch, recipe_args={"image_size": image_size, "patch_size": 4})
    _, data = resolve(config)
    loader = DataLoader(data, batch_size=batch, sampler=EpochSampler(len(data), seed=0), drop_last=True,
                        num_workers=config.workers)
    sampler = loader.sampler
    it = iter(loader)
    next(it)  # warm-up: workers started, first batch made
    t = time.perf_counter()
    n = 0
    for _ in range(batches):
        try:
            batch = next(it)
        except StopIteration:  # next epoch
            sampler.set_epoch(sampler.epoch + 1)
            it = iter(loader)
            batch = next(it)
        n += len(batch[0])
    return n / (time.perf_counter() - t)


def jpeg_folder(root: Path, count: int, side: int) -> Path:
    """A folder of real-photo JPEG crops (scikit-image's pictures), in two class sub-folders."""
    import numpy as np
    from PIL import Image
    from skimage import data as skdata
    photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket()]
    rng = np.random.default_rng(0)
    for i in range(count):
        photo = photos[i % len(photos)]
        top = rng.integers(0, photo.shape[0] - side)
        left = rng.integers(0, photo.shape[1] - side)
        folder = root / f"class{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo[top:top + side, left:left + side]).save(folder / f"{i:05d}.jpg", quality=90)
    return root


# ------------------------------------------------------------------ the parent: alternate, collect, print
def run_child(impl: str, workload: str, args, options: dict | None = None) -> dict:
    options = options or {}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", impl, "--workload", workload,
           "--threads", str(args.threads), "--steps", str(args.steps[workload]), "--warmup", str(args.warmup),
           "--options", json.dumps(options)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")]),
           "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error", "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{impl} on {workload} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_in_child(expr: str, threads: int) -> float:
    """Evaluate one of this file's measuring functions in a fresh process; -> its float."""
    code = (f"import sys; sys.path[:0] = [{str(HERE)!r}, {str(HERE.parent / 'src')!r}]; "
            f"import step_throughput as s; print({expr})")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{expr} failed:\n{out.stderr[-3000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def median(values):
    return statistics.median(values) if values else float("nan")


def compare(workload: str, impls: list[str], args, log) -> dict:
    """Alternating repeats of every implementation; ratios within each repeat."""
    runs = {impl: [] for impl in impls}
    ratios = {impl: [] for impl in impls}
    cpu_ratios = {impl: [] for impl in impls}  # the same ratio from process CPU time: less hit by others' load
    for r in range(args.repeats):
        order = impls[r % len(impls):] + impls[:r % len(impls)]
        this, this_cpu = {}, {}
        for impl in order:
            child_impl, row_options = ANYMAE_ROWS.get(impl, (impl, {}))
            options = {**row_options} if args.precision == "32-true" else {**row_options, "precision": args.precision}
            if r > 0 or row_options.get("compile"):
                options["no_flops"] = True  # FLOPs per step do not change between repeats (nor by compiling)
            res = run_child(child_impl, workload, args, options)
            runs[impl].append(res)
            this[impl] = res["step_s"]
            this_cpu[impl] = res["step_cpu_s"]
            log(f"  {workload} repeat {r + 1}/{args.repeats} {impl:<8} {res['images_per_s']:8.2f} img/s "
                f"({res['step_s']:.3f} s/step, cpu {res['step_cpu_s']:.3f} s)")
        fastest_peer = min(this[p] for p in impls if p in PEER_NAMES)
        fastest_peer_cpu = min(this_cpu[p] for p in impls if p in PEER_NAMES)
        for impl in impls:
            ratios[impl].append(fastest_peer / this[impl])
            cpu_ratios[impl].append(fastest_peer_cpu / this_cpu[impl])
    result = {"runs": runs, "ratio_to_fastest_peer": {k: median(v) for k, v in ratios.items()},
              "ratios_per_repeat": ratios, "cpu_time_ratio_to_fastest_peer": {k: median(v) for k, v in cpu_ratios.items()},
              "cpu_time_ratios_per_repeat": cpu_ratios}
    if "anymae --compile" in runs:  # same seed, init, batch and masks: the losses must agree
        diffs = [abs(a["loss"] - b["loss"]) for a, b in zip(runs["anymae"], runs["anymae --compile"])]
        result["compile_loss_abs_diff"] = max(diffs)
        log(f"  {workload}: |loss(eager) - loss(--compile)| after the same steps <= {max(diffs):.2e}")
    return result


def ab(workload: str, base: dict, variant: dict, args, log, label: str) -> dict:
    """anymae with `variant` options against anymae with `base`, alternating; -> time and memory ratios."""
    time_ratio, mem_ratio, rows = [], [], []
    for r in range(max(2, args.repeats - 1)):
        pair = [("base", base), ("variant", variant)]
        if r % 2:
            pair.reverse()
        got = {name: run_child("anymae", workload, args, {**opts, "no_flops": True}) for name, opts in pair}
        time_ratio.append(got["variant"]["step_s"] / got["base"]["step_s"])
        mem_ratio.append(got["variant"]["step_mem"] / max(1, got["base"]["step_mem"]))
        rows.append(got)
        log(f"  {label} {workload} repeat {r + 1}: step-time ratio {time_ratio[-1]:.3f}, memory ratio {mem_ratio[-1]:.3f}")
    return {"step_time_ratio": median(time_ratio), "step_memory_ratio": median(mem_ratio), "runs": rows}


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def table(results: dict, peak: float) -> str:
    lines = ["| workload | implementation | images/s | ratio to fastest peer | (by CPU time) | GFLOP/step | MFU | "
             "peak RSS | step memory |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for workload, res in results.items():
        for impl, runs in res["runs"].items():
            ips = median([r["images_per_s"] for r in runs])
            step = median([r["step_s"] for r in runs])
            flops = max(r["flops_per_step"] for r in runs) or max(r["flops_per_step"] for r in res["runs"]["anymae"])
            mfu = flops / step / (peak * 1e9) if peak else float("nan")
            lines.append(f"| {workload} | {impl} | {ips:.2f} | {res['ratio_to_fastest_peer'][impl]:.2f}x | "
                         f"{res['cpu_time_ratio_to_fastest_peer'][impl]:.2f}x | "
                         f"{flops / 1e9:.1f} | {100 * mfu:.0f}% | {fmt_bytes(median([r['peak_rss'] for r in runs]))} | "
                         f"{fmt_bytes(median([r['step_mem'] for r in runs]))} |")
    return "\n".join(lines)


def parent(args) -> int:
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    lines = []

    def log(text):
        print(text, flush=True)
        lines.append(text)

    workloads = args.workloads.split(",")
    impls = ["anymae", *(["anymae --compile"] if args.compile else []), *PEER_NAMES]
    report = {"started": started, "threads": args.threads, "repeats": args.repeats, "steps": args.steps,
              "warmup": args.warmup, "precision": args.precision, "load_average_start": os.getloadavg()}
    log(f"threads {args.threads}, repeats {args.repeats}, warm-up {args.warmup}, load average "
        f"{os.getloadavg()[0]:.1f}")
    peaks = [run_in_child(f"s.matmul_peak({args.threads})", args.threads) for _ in range(2)]
    report["matmul_peak_gflops"] = max(peaks)
    log(f"fp32 matmul peak: {max(peaks):.1f} GFLOP/s")
    results = {}
    for workload in workloads:
        results[workload] = compare(workload, impls, args, log)
    peak = report["matmul_peak_gflops"]
    # the peak that bounds this run: measured again at the end, the best of both
    peaks.append(run_in_child(f"s.matmul_peak({args.threads})", args.threads))
    report["matmul_peak_gflops"] = peak = max(peaks)
    text = table(results, peak)
    report["results"] = results
    extras = set(args.extras.split(",")) if args.extras != "none" else set()
    if "bf16" in extras:
        bf16 = run_in_child(f"s.matmul_peak({args.threads}, 'bfloat16')", args.threads)
        report["bf16_matmul_gflops"] = bf16
        report["bf16_over_fp32_matmul"] = bf16 / peak
        from anymae.train.speed import cpu_bf16_flags
        report["cpu_bf16_flags"] = sorted(cpu_bf16_flags())
        log(f"bf16 matmul: {bf16:.1f} GFLOP/s = {bf16 / peak:.2f}x fp32 (native bf16 flags: "
            f"{sorted(cpu_bf16_flags()) or 'none'})")
        w = "tiny32"
        report["bf16_mixed_step"] = ab(w, {}, {"precision": "bf16-mixed"}, args, log, "bf16-mixed/fp32")
    if "keep" in extras:
        for w in workloads:
            report.setdefault("decoder_keep_ratio", {})[w] = ab(w, {}, {"decoder_keep_ratio": args.keep_ratio},
                                                               args, log, f"decoder-keep-ratio {args.keep_ratio}")
    if "checkpointing" in extras and "base224" in workloads:
        report["grad_checkpointing"] = ab("base224", {}, {"grad_checkpointing": True}, args, log,
                                          "grad-checkpointing")
    if "pipeline" in extras and "tiny32" in workloads:
        step_rate = median([r["images_per_s"] for r in results["tiny32"]["runs"]["anymae"]])
        with tempfile.TemporaryDirectory() as tmp:
            folder = jpeg_folder(Path(tmp) / "jpegs", 512, 64)
            rates = {"shapes (built-in)": run_in_child("s.pipeline_rate('shapes', 32, 256, 6)", args.threads),
                     "folder of JPEGs": run_in_child(f"s.pipeline_rate({str(folder)!r}, 32, 256, 4)", args.threads)}
        report["pipeline"] = {k: {"images_per_s": v, "over_step": v / step_rate} for k, v in rates.items()}
        for k, v in rates.items():
            log(f"input pipeline, {k}: {v:.0f} images/s = {v / step_rate:.1f}x the tiny32 step's {step_rate:.0f}")
    report["load_average_end"] = os.getloadavg()
    log("")
    log(text)
    for key, label in (("decoder_keep_ratio", f"decoder keep ratio {args.keep_ratio}"),):
        for w, res in report.get(key, {}).items():
            if "step_time_ratio" in res:
                log(f"{label}, {w}: step time x{res['step_time_ratio']:.3f}")
    if "grad_checkpointing" in report:
        g = report["grad_checkpointing"]
        log(f"--grad-checkpointing, base224: step time x{g['step_time_ratio']:.3f}, "
            f"step memory x{g['step_memory_ratio']:.3f}")
    if "bf16_mixed_step" in report:
        log(f"bf16-mixed / fp32, tiny32 anymae step time: x{report['bf16_mixed_step']['step_time_ratio']:.3f}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    log(f"wrote {out}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--workloads", default="tiny32,base224", help="comma list of tiny32, base224")
    p.add_argument("--repeats", type=int, default=3, help="alternating repeats (>= 3 for a result)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per run (default 5 tiny32, 4 base224)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads in every run")
    p.add_argument("--precision", default="32-true", help="32-true (the comparison's precision)")
    p.add_argument("--extras", default="bf16,keep,checkpointing,pipeline",
                   help="comma list of bf16, keep, checkpointing, pipeline; or none")
    p.add_argument("--compile", action="store_true",
                   help="add the row 'anymae --compile' (torch.compile, measured beside eager anymae and the peers)")
    p.add_argument("--grad-checkpointing", action="store_true", help="measure --grad-checkpointing on base224")
    p.add_argument("--decoder-keep-ratio", dest="keep_ratio", type=float, default=0.5,
                   help="keep ratio for the decoder-masking measurement")
    p.add_argument("--quick", action="store_true", help="2 repeats, fewer steps: a smoke run, not a result")
    p.add_argument("--json", default="docs/step_throughput.json", help="where to write the JSON results")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--workload", help=argparse.SUPPRESS)
    p.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.steps = args.steps or 3
        print(json.dumps(child(args)))
        return 0
    extras = [] if args.extras == "none" else args.extras.split(",")
    if args.grad_checkpointing and "checkpointing" not in extras:
        extras.append("checkpointing")
    args.extras = ",".join(extras) or "none"
    if args.quick:
        args.repeats, args.warmup = min(args.repeats, 2), 1
    default_steps = {"tiny32": 2 if args.quick else 5, "base224": 2 if args.quick else 4}
    args.steps = {w: args.steps or default_steps[w] for w in ("tiny32", "base224")}
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
