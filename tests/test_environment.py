"""settings.ini, environment.yml, the Makefile, .ci/run and the README must describe the same project."""
import configparser, re, subprocess, sys
from pathlib import Path

import yaml


def settings(root):
    cfg = configparser.ConfigParser(delimiters=["="])
    cfg.read(root / "settings.ini")
    return cfg["DEFAULT"]


def test_environment_yml_matches_settings(root):
    cfg = settings(root)
    wanted = cfg["requirements"].split() + cfg["dev_requirements"].split()
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(p for p in pip if p != "-e .") == sorted(wanted)
    assert "-e ." in pip, "environment.yml must install the package itself"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert python.split("=")[1] >= cfg["min_python"]


def test_torch_pins_follow_design(root):
    reqs = settings(root)["requirements"].split()
    assert "torch==2.14.1" in reqs and "torchvision==0.29.1" in reqs
    assert any(r.startswith("nbdev==2.") for r in reqs), "nbdev 3 refuses settings.ini: stay on nbdev 2"


def test_papermill_tags_survive_nbdev_clean(root):
    assert settings(root)["allowed_cell_metadata_keys"].strip() == "tags"


def test_ci_runs_the_readme_test_command(root):
    readme = (root / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme
    ci = (root / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M), ".ci/run must run exactly the README's test command"
    assert "set -euo pipefail" in ci


def test_makefile_targets(root):
    text = (root / "Makefile").read_text()
    for target in ["install", "demo", "test", "lab", "docs"]:
        assert re.search(rf"^{target}:", text, re.M), f"Makefile lacks target {target}"
    assert "VENV ?= .venv" in text


def test_console_scripts_installed(root):
    bin_dir = Path(sys.executable).parent
    for spec in settings(root)["console_scripts"].split():
        name = spec.split("=")[0]
        out = subprocess.run([str(bin_dir / name), "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "usage" in out.stdout.lower()


def test_gigapath_info_reports_versions():
    out = subprocess.run([str(Path(sys.executable).parent / "gigapath-info")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"torch: 2\.14\.1", out.stdout)
