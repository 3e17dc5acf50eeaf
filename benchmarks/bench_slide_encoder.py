"""LongNet slide encoder speed and memory: our dilated-attention LongNetViT vs the floor (plain matmuls of the same
FLOPs) and vs dense attention, in one run.

1. Headline: `gigapath_slide_enc12l768d` forward on N tiles (default 10,000), float32 and bf16 autocast. Each
   forward runs in its own subprocess, which also times plain `torch.mm` calls in the same dtype right before
   and right after it (half the model's FLOPs each time); their mean rate, scaled to the model's FLOPs, is the
   floor of this machine at that moment. The forward is timed twice, and the second (steady-state) call is the
   one compared: the first also pays for mapping fresh memory pages. Reported: seconds (and first-call seconds), model FLOPs,
   achieved GFLOP/s, ratio model / matmul floor, peak RSS of the process, and the bf16 embedding's relative
   error vs float32.
2. Scaling: forward time (one first call each) and peak RSS for N = 1k ... 100k tiles, dilated (the released schedule) vs dense
   attention (one segment, ratio 1: PyTorch's fused attention over the whole sequence), dense only up to
   `--dense-max` (its time grows as N^2). Writes a table and a log-log plot.

Results: benchmarks/results/slide_encoder_{headline,scaling}.csv and slide_encoder_scaling.png (a `_cuda` suffix
with `--device cuda`, where the peak is also measured as GPU memory and attention uses PyTorch's flash kernel).

    python benchmarks/bench_slide_encoder.py [--n 10000] [--sizes 1000,3000,10000,30000,100000] [--dense-max 10000]
                                             [--layers 12] [--device cpu] [--skip-headline] [--skip-scaling]
    # the GPU table of the issue: bf16 up to 100k tiles
    python benchmarks/bench_slide_encoder.py --device cuda --scaling-dtype bf16 --sizes 1000,10000,100000,200000 --dense-max 100000
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ARCH = "gigapath_slide_enc12l768d"


def model_flops(model, n_tiles: int) -> dict:
    "Multiply-add FLOPs (x2) of one forward: linear layers and attention branches (padded slots included)."
    from gigapath_nb.dilated_attention import branch_geometry
    D, n = model.embed_dim, n_tiles + 1
    ffn = model.encoder.layers[0].ffn.fc1.out_features
    linear = 2 * n_tiles * model.in_chans * D + len(model.encoder.layers) * 2 * n * (4 * D * D + 2 * D * ffn)
    attn = 0
    for sl, r in zip(model.encoder.layers[0].self_attn.segment_lengths, model.encoder.layers[0].self_attn.dilated_ratios):
        s, m, l, _ = branch_geometry(n, sl, r, model.num_heads)
        attn += 4 * m * l * l * D           # QK^T and PV over every head of every sparse segment
    return dict(linear=linear, attention=attn * len(model.encoder.layers))


def peak_rss_mb() -> float:
    "Peak resident memory of this process (Linux VmHWM, else ru_maxrss)."
    try:
        hwm = [l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM")]
        return int(hwm[0].split()[1]) / 1024
    except (OSError, IndexError):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    "Resident memory of this process now (Linux), NaN elsewhere."
    try: return int([l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS")][0].split()[1]) / 1024
    except (OSError, IndexError): return float("nan")


def sync(device: str):
    "Wait for queued GPU work, so that wall-clock times cover it."
    import torch
    if device.startswith("cuda"): torch.cuda.synchronize(device)


def matmul_floor(flops: float, dtype, device: str = "cpu") -> float:
    "Seconds that plain square matmuls of `flops` FLOPs take here now, in `dtype` on `device` (timed on `flops` of them)."
    import torch
    size = 1024 if device == "cpu" else 8192
    a, b = (torch.randn(size, size, dtype=dtype, device=device) for _ in range(2))
    torch.mm(a, b); sync(device)
    reps = max(1, round(flops / (2 * size ** 3)))
    t = time.perf_counter()
    for _ in range(reps): torch.mm(a, b)
    sync(device)
    return (time.perf_counter() - t) * flops / (reps * 2 * size ** 3)


def worker(spec: dict) -> dict:
    "Forward(s) in this process: `spec` = n, dtype ('fp32'|'bf16'), attention ('dilated'|'dense'), layers, device, floor, save, repeat."
    import torch
    from gigapath_nb.slide_encoder import create_model
    torch.manual_seed(0)
    rss_import = current_rss_mb()
    n = spec["n"]
    kw = dict(segment_length=[n + 1], dilated_ratio=[1]) if spec["attention"] == "dense" else {}
    device = spec.get("device", "cpu")
    model = create_model("", ARCH, 1536, global_pool=True, depth=spec["layers"], **kw).eval().to(device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, n, 1536, generator=g)
    side = int(n ** 0.5) + 1
    cells = torch.randperm(side * side, generator=g)[:n]
    coords = (torch.stack([cells // side, cells % side], -1) * 256)[None].float()
    x, coords = x.to(device), coords.to(device)
    bf16 = spec["dtype"] == "bf16"
    autocast = lambda: torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)
    fl = model_flops(model, n)
    out = dict(spec, flops_linear=fl["linear"], flops_attention=fl["attention"], rss_after_import_mb=rss_import)
    with torch.inference_mode(), autocast():
        model(x[:, :64], coords[:, :64])                 # warm-up: kernels, thread pool
    out["rss_before_forward_mb"] = current_rss_mb()
    total, mm_dtype = fl["linear"] + fl["attention"], torch.bfloat16 if bf16 else torch.float32
    if spec.get("floor"): floor_before = 2 * matmul_floor(total / 2, mm_dtype, device)  # the machine drifts: time half before, half after
    if device.startswith("cuda"): torch.cuda.reset_peak_memory_stats(device)
    times = []
    with torch.inference_mode(), autocast():
        for _ in range(spec.get("repeat", 1)):
            sync(device); t = time.perf_counter()
            emb = model(x, coords)[0].float(); sync(device)
            times.append(time.perf_counter() - t)
    out["first_call_seconds"], out["seconds"] = times[0], times[-1]
    out["peak_rss_mb"] = peak_rss_mb()
    if spec.get("floor"):
        out["floor_before_s"], out["floor_after_s"] = floor_before, 2 * matmul_floor(total / 2, mm_dtype, device)
        out["floor_s"] = (out["floor_before_s"] + out["floor_after_s"]) / 2
    if device.startswith("cuda"): out["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    emb = emb.cpu()
    if spec.get("save"): torch.save(emb, spec["save"])
    return out


def run_worker(spec: dict) -> dict:
    "Run `worker(spec)` in a fresh subprocess (so that its peak RSS is its own)."
    res = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"benchmark worker {spec} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def headline(n: int, layers: int, device: str = "cpu") -> list[dict]:
    import torch
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("fp32", "bf16"):
            r = run_worker(dict(n=n, dtype=dtype, attention="dilated", layers=layers, device=device, floor=True, repeat=2, save=f"{tmp}/{dtype}.pt"))
            r["gflops_per_s"] = (r["flops_linear"] + r["flops_attention"]) / r["seconds"] / 1e9
            r["ratio_to_matmul_floor"] = r["seconds"] / r["floor_s"]
            rows.append(r)
            print(f"N={n} {dtype}: {r['seconds']:.1f} s (first call {r['first_call_seconds']:.1f} s), {r['gflops_per_s']:.0f} GFLOP/s, matmul floor {r['floor_s']:.1f} s "
                  f"(before {r['floor_before_s']:.1f} s, after {r['floor_after_s']:.1f} s) "
                  f"(ratio {r['ratio_to_matmul_floor']:.2f}), peak RSS {r['peak_rss_mb']:.0f} MB "
                  f"(after import torch {r['rss_after_import_mb']:.0f} MB, with model {r['rss_before_forward_mb']:.0f} MB)"
                  + (f", peak GPU memory {r['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in r else ""), flush=True)
        a, b = torch.load(f"{tmp}/fp32.pt"), torch.load(f"{tmp}/bf16.pt")
        rel = ((a - b).norm() / a.norm()).item()
    rows[1]["bf16_rel_error"] = rel
    rows[1]["speedup_vs_fp32"] = rows[0]["seconds"] / rows[1]["seconds"]
    print(f"bf16 vs fp32: {rows[1]['speedup_vs_fp32']:.2f}x faster, embedding relative error {rel:.2e}; "
          f"FLOPs {rows[0]['flops_linear'] / 1e12:.2f} T linear + {rows[0]['flops_attention'] / 1e12:.2f} T attention", flush=True)
    return rows


def scaling(sizes: list[int], dense_max: int, layers: int, dtype: str, device: str = "cpu") -> list[dict]:
    rows = []
    for n in sizes:
        for attention in ("dilated", "dense"):
            if attention == "dense" and n > dense_max: continue
            r = run_worker(dict(n=n, dtype=dtype, attention=attention, layers=layers, device=device))
            rows.append(r)
            print(f"N={n:>7} {attention:<8} {r['seconds']:8.2f} s  peak RSS {r['peak_rss_mb']:7.0f} MB "
                  f"(model loaded: {r['rss_before_forward_mb']:.0f} MB)"
                  + (f"  peak GPU memory {r['peak_gpu_mb']:7.0f} MB" if "peak_gpu_mb" in r else ""), flush=True)
    return rows


def plot_scaling(rows: list[dict], path: Path, title: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, 2, figsize=(11, 4))
    mem = "peak_gpu_mb" if any("peak_gpu_mb" in r for r in rows) else "peak_rss_mb"
    for attention, mk in (("dilated", "o-"), ("dense", "s--")):
        rs = [r for r in rows if r["attention"] == attention]
        if not rs: continue
        axs[0].loglog([r["n"] for r in rs], [r["seconds"] for r in rs], mk, label=attention)
        axs[1].loglog([r["n"] for r in rs], [r[mem] for r in rs], mk, label=attention)
    dil = [r for r in rows if r["attention"] == "dilated"]
    if dil:
        ns = [r["n"] for r in dil]
        axs[0].loglog(ns, [dil[-1]["seconds"] * n / dil[-1]["n"] for n in ns], ":", color="grey", label="linear")
    axs[0].set(xlabel="tiles N", ylabel="forward seconds", title=title)
    axs[1].set(xlabel="tiles N", ylabel="peak GPU memory (MB)" if mem == "peak_gpu_mb" else "peak RSS (MB)")
    for ax in axs: ax.grid(True, which="both", alpha=0.3); ax.legend()
    fig.tight_layout(); fig.savefig(path, dpi=120)


def write_csv(rows: list[dict], path: Path):
    keys = sorted({k for r in rows for k in r})
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys); w.writeheader(); w.writerows(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000, help="tiles for the headline fp32/bf16 forward")
    p.add_argument("--sizes", default="1000,3000,10000,30000,100000", help="comma-separated tile counts for the scaling table")
    p.add_argument("--dense-max", type=int, default=10_000, help="largest N for dense attention (its time grows as N^2)")
    p.add_argument("--layers", type=int, default=12, help="use only the first LAYERS layers (ratios are unaffected; faster)")
    p.add_argument("--scaling-dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--device", default="cpu", help="cpu, or cuda[:i] for the GPU table (flash SDPA; results get a _cuda suffix)")
    p.add_argument("--skip-headline", action="store_true"); p.add_argument("--skip-scaling", action="store_true")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(json.loads(a.worker)))); return
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if a.device == "cpu" else "_" + a.device.split(":")[0]
    if not a.skip_headline:
        write_csv(headline(a.n, a.layers, a.device), RESULTS / f"slide_encoder_headline{suffix}.csv")
    if not a.skip_scaling:
        rows = scaling([int(s) for s in a.sizes.split(",")], a.dense_max, a.layers, a.scaling_dtype, a.device)
        write_csv(rows, RESULTS / f"slide_encoder_scaling{suffix}.csv")
        where = "this CPU" if a.device == "cpu" else a.device
        plot_scaling(rows, RESULTS / f"slide_encoder_scaling{suffix}.png", f"{ARCH} ({a.layers} layers, {a.scaling_dtype}), {where}")
    print(f"results in {RESULTS}")


if __name__ == "__main__":
    main()
