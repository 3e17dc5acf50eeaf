"""`gigapath-tile` end to end: bad inputs land in the status table with their reason while the batch goes on,
and a batch killed midway resumes to the same outputs without redoing finished slides."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile

from gigapath_nb.synthetic import make_cohort, paint_slide, write_aperio

CLI = [sys.executable, "-c", "from gigapath_nb.tiling import main; main()"]


def run_cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> pd.DataFrame:
    "Eight small synthetic Aperio slides."
    return make_cohort(tmp_path_factory.mktemp("cohort"), n_slides=8, seed=3, size=(1536, 2048), workers=2)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, cohort) -> dict[str, Path]:
    "One slide of each kind of trouble, plus a good one."
    d = tmp_path_factory.mktemp("bad")
    good = Path(cohort.path[0])
    data = good.read_bytes()
    (d / "corrupt.svs").write_bytes(data[: len(data) // 3])               # truncated download
    (d / "notes.svs").write_text("this is not a slide\n")                  # wrong file with a slide extension
    rng = np.random.default_rng(0)                                         # glass only: no tissue
    write_aperio(d / "blank.svs", (240 + rng.integers(0, 6, (1024, 1024, 3))).astype(np.uint8))
    rgb, _ = paint_slide((1024, 1024), "solid", seed=1)                   # generic TIFF without resolution tags
    tifffile.imwrite(d / "nompp.tif", rgb, tile=(256, 256), compression="jpeg", photometric="rgb", metadata=None)
    return dict(good=good, corrupt=d / "corrupt.svs", unsupported=d / "notes.svs", blank=d / "blank.svs", nompp=d / "nompp.tif")


def test_help():
    res = run_cli("--help")
    assert res.returncode == 0
    for opt in ["--out", "--mpp", "--tile-size", "--min-tissue", "--workers", "--save-tiles", "--format", "--slide-mpp"]:
        assert opt in res.stdout


def test_usage_errors(tmp_path):
    assert run_cli("x.svs").returncode == 2                                            # --out missing
    (tmp_path / "empty_dir").mkdir()
    res = run_cli(tmp_path / "empty_dir", "--out", tmp_path / "o")
    assert res.returncode == 2 and "no slides found" in res.stderr
    (tmp_path / "m.csv").write_text("file\na.svs\n")
    res = run_cli(tmp_path / "m.csv", "--out", tmp_path / "o")
    assert res.returncode == 2 and "no 'path' column" in res.stderr


def test_bad_inputs_batch_goes_on(tmp_path, bad_inputs):
    out = tmp_path / "tiles"
    res = run_cli(*bad_inputs.values(), "--out", out, "--workers", "2")
    assert res.returncode == 1, res.stderr                          # some slides failed
    table = pd.read_csv(out / "status.csv").set_index("slide_id")
    assert len(table) == 5
    reasons = {k: str(table.loc[p.name.split(".")[0], "reason"]) for k, p in bad_inputs.items()}
    assert table.loc[bad_inputs["good"].stem, "status"] == "ok" and table.loc[bad_inputs["good"].stem, "n_tiles"] > 0
    assert "corrupt" in reasons["corrupt"] and str(bad_inputs["corrupt"]) in reasons["corrupt"]
    assert "unsupported format" in reasons["unsupported"]
    assert "no tissue" in reasons["blank"]
    assert "no mpp metadata" in reasons["nompp"] and "--slide-mpp" in reasons["nompp"]
    assert (table.drop(bad_inputs["good"].stem).status == "failed").all()
    assert sorted(p.name for p in out.glob("*.h5")) == [f"{bad_inputs['good'].stem}.h5"]   # nothing half-written
    assert not list(out.glob(".*.tmp"))
    # the fix the error names works, and the good slide is not redone
    mtime = (out / f"{bad_inputs['good'].stem}.h5").stat().st_mtime_ns
    res = run_cli(bad_inputs["good"], bad_inputs["nompp"], "--out", out, "--slide-mpp", "0.5")
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(out / "status.csv").set_index("slide_id")
    assert (table.status == "ok").all() and table.loc[bad_inputs["good"].stem, "skipped"]
    assert (out / f"{bad_inputs['good'].stem}.h5").stat().st_mtime_ns == mtime


def _outputs(out: Path) -> dict[str, tuple]:
    res = {}
    for p in sorted(out.glob("*.h5")):
        with h5py.File(p) as f: res[p.stem] = (f["coords"][:], f["tiles"][:], f.attrs["n_tiles"])
    return res


def test_kill_and_resume(tmp_path, cohort):
    manifest = tmp_path / "manifest.csv"
    cohort[["slide_id", "path"]].to_csv(manifest, index=False)
    ref, out = tmp_path / "ref", tmp_path / "killed"
    assert run_cli(manifest, "--out", ref, "--save-tiles").returncode == 0
    proc = subprocess.Popen([*CLI, str(manifest), "--out", str(out), "--save-tiles"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("*.h5"))) < 2: time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    done = {p.stem: p.stat().st_mtime_ns for p in out.glob("*.h5")}
    assert 2 <= len(done) < len(cohort), "the batch finished before it could be killed; use bigger slides"
    assert not (out / "status.csv").exists()
    res = run_cli(manifest, "--out", out, "--save-tiles")
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(out / "status.csv").set_index("slide_id")
    assert (table.status == "ok").all()
    assert set(table.index[table.skipped]) == set(done)                        # finished ones were skipped...
    assert {p.stem: p.stat().st_mtime_ns for p in out.glob("*.h5") if p.stem in done} == done   # ...and not rewritten
    assert not list(out.glob(".*.tmp"))                                         # no leftovers of the killed run
    a, b = _outputs(ref), _outputs(out)
    assert a.keys() == b.keys() and len(a) == len(cohort)
    for k in a:
        np.testing.assert_array_equal(a[k][0], b[k][0]); np.testing.assert_array_equal(a[k][1], b[k][1])


def test_png_reference_layout(tmp_path, cohort):
    out = tmp_path / "png"
    assert run_cli(cohort.path[1], "--out", out, "--format", "png").returncode == 0
    sid = cohort.slide_id[1]
    ds = pd.read_csv(out / sid / "dataset.csv")
    assert list(ds.columns) == ["slide_id", "tile_id", "image", "label", "tile_x", "tile_y", "occupancy"]
    assert all((out / sid / f"{x:05d}x_{y:05d}y.png").exists() for x, y in zip(ds.tile_x, ds.tile_y))
    assert (ds.occupancy >= 0.1).all() and not (out / f"{sid}.h5").exists()
