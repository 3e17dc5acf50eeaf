"""The docs site builds offline, has a page per notebook, its internal links resolve, and it renders in Chromium."""
import os, re, shutil, subprocess, sys, tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest


class Links(HTMLParser):
    def __init__(self):
        super().__init__(); self.links = []
    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("href", "src") and value: self.links.append(value)


@pytest.fixture(scope="module")
def site(root):
    out = Path(tempfile.mkdtemp(prefix="gigapath_site_"))
    subprocess.run([sys.executable, str(root / "tools" / "build_docs.py"), "--out", str(out)], check=True, cwd=root,
                   env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    yield out
    shutil.rmtree(out, ignore_errors=True)


def test_every_notebook_has_a_page(site, root):
    for nb in (root / "nbs").rglob("*.ipynb"):
        if ".ipynb_checkpoints" in nb.parts: continue
        page = site / nb.relative_to(root / "nbs").with_suffix(".html")
        assert page.exists(), f"no docs page for {nb.relative_to(root)}"
    assert (site / "search" / "search_index.json").exists(), "the site has no search index"


def test_internal_links_resolve(site):
    broken = []
    for page in site.rglob("*.html"):
        parser = Links(); parser.feed(page.read_text(errors="replace"))
        for link in parser.links:
            url = urlparse(link)
            if url.scheme or url.netloc or link.startswith(("#", "mailto:", "data:", "javascript:")): continue
            base = site if url.path.startswith("/") else page.parent  # 404.html links from the server root
            target = (base / unquote(url.path).lstrip("/")).resolve()
            if url.path and not target.exists(): broken.append(f"{page.relative_to(site)} -> {link}")
    assert not broken, "broken links:\n" + "\n".join(broken[:20])


def test_show_doc_rendered(site):
    html = (site / "00_core.html").read_text()
    assert "set_seed" in html and "Seed every random number generator" in html
    assert "#| export" not in html and "#| hide" not in html


def test_index_renders_in_headless_chromium(site):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"): pytest.fail("chromium missing in CI: tools/ensure_chromium.py should have installed it")
        pytest.skip("chromium not installed (Debian: apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="chromium_")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=3000"]
    url = (site / "index.html").as_uri()
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    shot = site / "index.png"
    subprocess.run([chromium, *flags, "--window-size=1280,900", f"--screenshot={shot}", url], capture_output=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    assert re.search(r"<title>\s*gigapath_nb", dom), "the rendered page has no title"
    assert 'class="md-nav' in dom and "Core" in dom, "the rendered page has no navigation"
    assert shot.exists() and shot.stat().st_size > 10_000, "chromium produced no screenshot"
