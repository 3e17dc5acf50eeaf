"""Test setup: make sure headless Chromium (Debian packages chromium, chromium-driver) is there for the docs browser test.

Installs them with apt-get when missing and running as root; otherwise says what to install and leaves
the browser test to skip (outside CI) or fail (in CI, where CI=true).
"""
import os, shutil, subprocess, sys

if shutil.which("chromium"):
    sys.exit(0)
if os.geteuid() == 0 and shutil.which("apt-get"):
    print("installing Debian chromium + chromium-driver for the docs browser test ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
else:
    print("chromium not found: install the Debian packages chromium and chromium-driver to run the docs browser test")
