"""Batch reproduction end to end: papermill runs of every task notebook, skipping finished runs, recording failures
without stopping the batch, same seed -> same numbers, and the gigapath-reproduce CLI."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gigapath_nb.reproduce import collect_results, main, reproduce

FAMILY_TASKS = "demo_subtype,demo_mutation,demo_tmb,panda,luad_5_gene_tcga"  # subtyping, mutation (binary + multi-label), tmb, grading


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    "One batch over every task notebook (linear probe), run once for the whole module."
    out = tmp_path_factory.mktemp("runs")
    table = reproduce(FAMILY_TASKS, "linear_probe", out, folds=3, seed=0, workers=2, progress=False)
    return out, table


def test_every_task_notebook_runs(batch):
    out, table = batch
    assert table.status.tolist() == ["ok"] * 5, table[["task", "status", "error"]]
    for task in FAMILY_TASKS.split(","):
        run = out / task / "linear_probe"
        res = json.loads((run / "results.json").read_text())
        assert res["task"] == task and len(res["folds"]) == 3
        assert (run / "notebook.ipynb").exists() and (run / "roc_pr.png").exists() and (run / "predictions.csv").exists()
    assert table.set_index("task").loc["panda", "metric"] == "qwk"
    assert table.set_index("task").loc["demo_subtype", "mean"] > 0.7  # the toy cohort's planted signal is found
    for name in ("results.csv", "results.md", "comparison.png"): assert (out / name).stat().st_size > 0


def test_rerun_skips_finished_runs(batch):
    out, table = batch
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/*/notebook.ipynb")}
    again = reproduce(FAMILY_TASKS, "linear_probe", out, folds=3, seed=0, workers=2, progress=False)
    assert set(again.status) == {"skipped"}
    assert again["mean"].tolist() == table["mean"].tolist()
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*/notebook.ipynb")} == stamps


def test_failing_run_is_recorded_and_batch_completes(batch, tmp_path):
    out, _ = batch
    missing = tmp_path / "no_such" / "slide_encoder.pth"
    table = reproduce("demo_subtype", "abmil,finetune", out, folds=3, seed=0, epochs=2, slide_encoder=missing,
                      workers=2, progress=False).set_index("method")
    assert table.loc["abmil", "status"] == "ok"
    assert table.loc["finetune", "status"] == "failed"
    assert "FileNotFoundError" in table.loc["finetune", "error"] and "slide_encoder.pth" in table.loc["finetune", "error"]
    assert (out / "demo_subtype" / "finetune" / "error.txt").exists()
    assert not (out / "demo_subtype" / "finetune" / "results.json").exists()  # a rerun will retry it
    assert "failed: FileNotFoundError" in (out / "results.md").read_text()
    assert len(collect_results(out)) == 7  # five linear probes, one ABMIL, one failure


def test_same_seed_same_numbers(batch, tmp_path):
    out, _ = batch
    reproduce("demo_subtype", "abmil", tmp_path, folds=3, seed=0, epochs=2, workers=1, progress=False)
    a = json.loads((out / "demo_subtype" / "abmil" / "results.json").read_text())
    b = json.loads((tmp_path / "demo_subtype" / "abmil" / "results.json").read_text())
    assert [f["metrics"] for f in a["folds"]] == [f["metrics"] for f in b["folds"]]
    assert a["predictions"] == b["predictions"]


def test_cli_help_and_errors(tmp_path):
    r = subprocess.run([sys.executable, "-c", "from gigapath_nb.reproduce import main; main(['--help'])"], capture_output=True, text=True)
    assert r.returncode == 0 and "--tasks" in r.stdout and "papermill" in r.stdout
    with pytest.raises(ValueError, match="unknown methods"):
        main(["--tasks", "demo_subtype", "--methods", "svm", "--out", str(tmp_path)])
    with pytest.raises(KeyError, match="known tasks"):
        main(["--tasks", "no_such_task", "--out", str(tmp_path)])


def test_cli_with_relative_paths(tmp_path, monkeypatch):
    "Paths relative to the caller's directory reach the notebooks, which run in their own run directories."
    from gigapath_nb.tasks import make_toy_cohort
    make_toy_cohort(tmp_path / "cohort", n_slides=24)
    monkeypatch.chdir(tmp_path)
    code = main(["--tasks", "demo_subtype", "--methods", "linear_probe", "--out", "runs",
                 "--feature-dir", "cohort/features", "--manifest", "cohort/manifest.csv", "--workers", "1"])
    assert code == 0, (tmp_path / "runs" / "demo_subtype" / "linear_probe" / "error.txt").read_text()
    res = json.loads((tmp_path / "runs" / "demo_subtype" / "linear_probe" / "results.json").read_text())
    assert len(res["folds"]) == 3
