"""Authoring helper: edit notebooks as plain `# %%` scripts, turn them back into clean, executed notebooks.

    python tools/nbtool.py to-py nbs/20_dilated_attention.ipynb /tmp/20.py    # notebook -> percent script
    python tools/nbtool.py to-nb /tmp/20.py nbs/20_dilated_attention.ipynb    # percent script -> notebook
    python tools/nbtool.py run nbs/20_dilated_attention.ipynb [--timeout 900] # execute in place, keep outputs, clean

The notebook stays the source of truth; scripts are a convenience for editors and diffs. Executed notebooks
keep their outputs (figures belong in the docs); `run` finishes with `nbdev_clean`, so the result is committable.
"""
import argparse, subprocess, sys
from pathlib import Path

import jupytext
import nbformat

KERNELSPEC = {"display_name": "Python (gigapath_nb)", "language": "python", "name": "gigapath_nb"}
BIN = Path(sys.executable).parent


def keep_cell_ids(nb, old_nb):
    "Give cells whose source is unchanged their old ids, so that diffs (and nbdev's cell markers) show only real edits."
    old = {}
    for c in old_nb.cells: old.setdefault(c.source, []).append(c.get("id"))
    for cell in nb.cells:
        if old.get(cell.source): cell.id = old[cell.source].pop(0)


def to_nb(src: Path, dst: Path):
    "Percent script -> notebook with the project's kernel and no editor metadata (unchanged cells keep their ids)."
    nb = jupytext.read(src, fmt="py:percent")
    nb.metadata = {"kernelspec": KERNELSPEC}
    for cell in nb.cells: cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
    if dst.exists(): keep_cell_ids(nb, nbformat.read(dst, as_version=4))
    nbformat.write(nb, dst)


def to_py(src: Path, dst: Path):
    "Notebook -> percent script (outputs dropped)."
    jupytext.write(nbformat.read(src, as_version=4), dst, fmt="py:percent")


def run(nb: Path, timeout: int):
    "Execute a notebook in place on the gigapath_nb kernel, from its own directory, then nbdev_clean it."
    subprocess.run([str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--inplace",
                    "--ExecutePreprocessor.kernel_name=gigapath_nb", f"--ExecutePreprocessor.timeout={timeout}",
                    nb.name], cwd=nb.parent, check=True)
    subprocess.run([str(BIN / "nbdev_clean"), "--fname", str(nb)], check=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["to-nb", "to-py", "run"])
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell for `run`")
    a = p.parse_args()
    if a.command == "run":
        for nb in a.paths: run(nb, a.timeout)
    else:
        (to_nb if a.command == "to-nb" else to_py)(*a.paths)
