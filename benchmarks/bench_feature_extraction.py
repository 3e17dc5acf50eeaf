"""Feature extraction: tiles/s of the whole pipeline vs the bare model forward on the same batches, in one run.

The pipeline (`gigapath_nb.tile_encoder.extract_features`) reads tiles from an LZF-compressed HDF5 file (as the
tiling stage writes them), transforms them (bicubic resize, centre crop, normalisation), runs the encoder under
autocast and writes features + coords atomically. The baseline is the encoder's forward alone, under the same
autocast, on the very same batches already transformed and held in memory. Their ratio is the cost of
everything that is not the model; the target is < 15 %.

    python benchmarks/bench_feature_extraction.py [--encoder vit_demo] [--tiles 1024] [--batch-size 256] [--repeats 3]

Writes benchmarks/results/feature_extraction.csv and .png.
"""
import argparse, os, tempfile, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import h5py
import numpy as np
import pandas as pd
import torch

from gigapath_nb.core import autocast_dtype, get_device
from gigapath_nb.tile_encoder import H5TileBatches, create_tile_encoder, extract_features, tile_transforms

RESULTS = Path(__file__).parent / "results"


def make_tiles(path: Path, n: int, seed: int = 0):
    "Tile-like images (smooth colour fields plus noise) in the tiling stage's layout: LZF chunks of one tile."
    rng = np.random.default_rng(seed)
    base = rng.integers(80, 230, (n, 8, 8, 3)).astype(np.uint8)
    tiles = np.kron(base, np.ones((1, 32, 32, 1), np.uint8)) + rng.integers(0, 20, (n, 256, 256, 3), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f.create_dataset("tiles", data=tiles, chunks=(1, 256, 256, 3), compression="lzf")
        f["coords"] = np.stack([np.arange(n) % 64 * 256, np.arange(n) // 64 * 256], 1)


@torch.inference_mode()
def bare_forward(model, batches, device) -> float:
    "Seconds for the model forward alone over pre-transformed batches (same autocast as the pipeline)."
    dtype = autocast_dtype(device)
    start = time.perf_counter()
    for x in batches:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            model(x).float().cpu()
    if device.type == "cuda": torch.cuda.synchronize()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", default="vit_demo"); p.add_argument("--tiles", type=int, default=1024)
    p.add_argument("--batch-size", type=int, default=256); p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device"); p.add_argument("--num-workers", type=int)
    a = p.parse_args()
    device = get_device(a.device)
    model = create_tile_encoder(a.encoder).to(device).eval()
    tf = tile_transforms(model.patch_embed.img_size[0])
    tmp = Path(tempfile.mkdtemp())
    make_tiles(tmp / "slide.h5", a.tiles)
    ds = H5TileBatches(tmp / "slide.h5", a.batch_size)
    batches = [tf(ds[i][0].to(device).permute(0, 3, 1, 2)) for i in range(len(ds))]
    bare_forward(model, batches[:1], device)  # warm-up
    rows = []
    for r in range(args_repeats(a)):
        t = time.perf_counter()
        extract_features(tmp / "slide.h5", tmp / "out.h5", model, batch_size=a.batch_size, device=device,
                         num_workers=a.num_workers, overwrite=True, progress=False)
        if device.type == "cuda": torch.cuda.synchronize()
        pipe = time.perf_counter() - t
        bare = bare_forward(model, batches, device)
        rows.append(dict(repeat=r, encoder=a.encoder, device=str(device), tiles=a.tiles, batch_size=a.batch_size,
                         pipeline_s=pipe, forward_s=bare, pipeline_tiles_per_s=a.tiles / pipe,
                         forward_tiles_per_s=a.tiles / bare, overhead=pipe / bare - 1))
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
    df = pd.DataFrame(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    df.to_csv(RESULTS / "feature_extraction.csv", index=False)
    med = df[["pipeline_tiles_per_s", "forward_tiles_per_s", "overhead"]].median()
    print(f"median: pipeline {med.pipeline_tiles_per_s:.0f} tiles/s, bare forward {med.forward_tiles_per_s:.0f} tiles/s, "
          f"pipeline overhead {med.overhead:+.1%} (target < 15%)")
    import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(["bare forward", "pipeline"], [med.forward_tiles_per_s, med.pipeline_tiles_per_s], color=["gray", "tab:blue"])
    ax.set_ylabel("tiles / s"); ax.set_title(f"{a.encoder} on {device}: overhead {med.overhead:+.1%}", fontsize=10)
    fig.tight_layout(); fig.savefig(RESULTS / "feature_extraction.png", dpi=110)


def args_repeats(a) -> int: return max(1, a.repeats)


if __name__ == "__main__":
    main()
