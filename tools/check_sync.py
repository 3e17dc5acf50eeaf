"""Check that the package, the notebooks and the README are in step with each other.

- `nbdev_export` must leave `gigapath_nb/` unchanged (the package is exported from `nbs/`);
- `nbdev_clean` must leave `nbs/` unchanged (notebooks are committed clean);
- `README.md` must be what `nbs/index.ipynb` generates (`--write-readme` rewrites it).

The checks compare file contents before and after, so they work with or without git and with local edits.
"""
import argparse, filecmp, json, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
README_HEADER = "<!-- Generated from nbs/index.ipynb by `make readme`: edit the notebook, not this file. -->\n\n"


def readme_text(index_nb: Path) -> str:
    "Markdown for README.md: the index notebook's markdown cells and visible code cells."
    cells = json.loads(index_nb.read_text())["cells"]
    parts = []
    for cell in cells:
        src = "".join(cell["source"]).strip()
        if not src or src.startswith("#| hide"): continue
        parts.append(src if cell["cell_type"] == "markdown" else f"```python\n{src}\n```")
    return README_HEADER + "\n\n".join(parts) + "\n"


def differences(before: Path, after: Path) -> list[str]:
    "Relative paths of files that differ, appear or disappear between two directory trees."
    cmp = filecmp.dircmp(before, after, ignore=["__pycache__", ".ipynb_checkpoints"])
    out = []
    def walk(c, prefix):
        out.extend(prefix + n for n in c.left_only + c.right_only + c.diff_files)
        for name, sub in c.subdirs.items(): walk(sub, prefix + name + "/")
    walk(cmp, "")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-readme", action="store_true", help="rewrite README.md from nbs/index.ipynb and exit")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    expected = readme_text(ROOT / "nbs" / "index.ipynb")
    if args.write_readme:
        readme.write_text(expected); print(f"wrote {readme}"); return
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["gigapath_nb", "nbs"]:
            shutil.copytree(ROOT / name, Path(tmp) / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        for cmd in ["nbdev_export", "nbdev_clean"]:
            subprocess.run([str(BIN / cmd)], cwd=ROOT, check=True)
        for name, fix in [("gigapath_nb", "nbdev_export"), ("nbs", "nbdev_clean")]:
            changed = differences(Path(tmp) / name, ROOT / name)
            if changed:
                problems.append(f"{fix} changed {name}/: {', '.join(changed[:10])} -- commit what it wrote (it has been applied)")
    if not readme.exists() or readme.read_text() != expected:
        problems.append("README.md is not what nbs/index.ipynb generates -- run `make readme` and commit README.md")
    if problems:
        print("\n".join("out of sync: " + p for p in problems), file=sys.stderr); sys.exit(1)
    print("in sync: gigapath_nb/ == nbdev_export(nbs/), nbs/ clean, README.md == nbs/index.ipynb")


if __name__ == "__main__":
    main()
