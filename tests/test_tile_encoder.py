"""gigapath-extract end to end: help, a directory of slides, resume after a rerun and after a kill, errors that name the file."""
import os, signal, subprocess, sys, time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from gigapath_nb.tile_encoder import create_tile_encoder, write_tiles_h5

CLI = str(Path(sys.executable).parent / "gigapath-extract")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "GIGAPATH_NB_DEVICE": "cpu"}


def run(*args, **kw):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300, **kw)


def make_slides(d: Path, n_slides: int, n_tiles: int) -> list[Path]:
    rng = np.random.default_rng(0)
    for s in range(n_slides):
        coords = np.stack([np.arange(n_tiles) * 256, np.zeros(n_tiles, int)], 1)
        write_tiles_h5(d / f"slide{s}.h5", rng.integers(0, 256, (n_tiles, 256, 256, 3), dtype=np.uint8), coords, mpp=0.5)
    return sorted(d.glob("*.h5"))


def complete(path: Path, n: int) -> bool:
    with h5py.File(path, "r") as f: return f["features"].shape == (n, 128) and f["coords"].shape == (n, 2)


def test_help():
    r = run("--help")
    assert r.returncode == 0 and "--tiles" in r.stdout and "--weights" in r.stdout and "resumes" in r.stdout


def test_directory_end_to_end_and_rerun(tmp_path):
    make_slides(tmp_path / "tiles", 3, 12)
    r = run("--tiles", tmp_path / "tiles", "--out", tmp_path / "feats", "--encoder", "vit_demo", "--batch-size", "5")
    assert r.returncode == 0, r.stderr
    outs = sorted((tmp_path / "feats").glob("*.h5"))
    assert [p.name for p in outs] == ["slide0.h5", "slide1.h5", "slide2.h5"] and all(complete(p, 12) for p in outs)
    with h5py.File(outs[0]) as f, h5py.File(tmp_path / "tiles" / "slide0.h5") as g:
        assert np.array_equal(f["coords"][:], g["coords"][:]) and f["features"].dtype == np.float32
        assert f.attrs["encoder_name"] == "vit_demo" and f.attrs["mpp"] == 0.5
    mtimes = [p.stat().st_mtime_ns for p in outs]
    r = run("--tiles", tmp_path / "tiles", "--out", tmp_path / "feats", "--encoder", "vit_demo")
    assert r.returncode == 0 and "3 already done" in r.stderr
    assert [p.stat().st_mtime_ns for p in outs] == mtimes


def test_kill_and_resume(tmp_path):
    n_slides, n_tiles = 6, 48
    make_slides(tmp_path / "tiles", n_slides, n_tiles)
    args = [CLI, "--tiles", tmp_path / "tiles", "--out", tmp_path / "feats", "--encoder", "vit_demo", "--batch-size", "4"]
    proc = subprocess.Popen(list(map(str, args)), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list((tmp_path / "feats").glob("slide*.h5")): time.sleep(0.05)
    proc.send_signal(signal.SIGKILL); proc.wait()
    done = sorted((tmp_path / "feats").glob("slide*.h5"))
    assert 1 <= len(done) < n_slides, "the kill should land mid-run"
    assert all(complete(p, n_tiles) for p in done), "a killed run leaves whole files or none"
    first = done[0].stat().st_mtime_ns
    r = run(*args[1:])
    assert r.returncode == 0, r.stderr
    assert f"{len(done)} already done" in r.stderr
    outs = sorted((tmp_path / "feats").glob("slide*.h5"))
    assert len(outs) == n_slides and all(complete(p, n_tiles) for p in outs)
    assert done[0].stat().st_mtime_ns == first


def test_wrong_weights_name_the_file_and_keys(tmp_path):
    make_slides(tmp_path / "tiles", 1, 2)
    torch.save(create_tile_encoder("vit_demo").state_dict(), tmp_path / "demo.pth")
    r = run("--tiles", tmp_path / "tiles", "--out", tmp_path / "feats", "--encoder", "vit_tiny", "--weights", tmp_path / "demo.pth")
    assert r.returncode == 1 and "demo.pth" in r.stderr and "missing keys" in r.stderr and "Traceback" not in r.stderr
    r = run("--tiles", tmp_path / "tiles", "--out", tmp_path / "feats", "--encoder", "vit_demo", "--weights", tmp_path / "nope.bin")
    assert r.returncode == 1 and "nope.bin" in r.stderr


def test_coords_only_file_names_the_fix(tmp_path):
    (tmp_path / "tiles").mkdir()
    with h5py.File(tmp_path / "tiles" / "c.h5", "w") as f: f["coords"] = np.zeros((3, 2), int)
    r = run("--tiles", tmp_path / "tiles" / "c.h5", "--out", tmp_path / "feats", "--encoder", "vit_demo")
    assert r.returncode == 1 and "c.h5" in r.stderr and "save_tiles" in r.stderr
    r = run("--tiles", tmp_path / "missing", "--out", tmp_path / "feats")
    assert r.returncode == 2 and "does not exist" in r.stderr
