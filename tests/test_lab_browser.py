"""JupyterLab, as this project's environment sets it up, opens a ``py:percent`` file as a notebook.

The reviewed notebooks are ``.py`` files. A plain JupyterLab opens those in its text editor; the
settings overrides that ``make setup`` copies from ``jupyter/lab/overrides.json`` into the
environment (``<env>/share/jupyter/lab/settings/overrides.json``) make jupytext's notebook view the
default for Python files and switch off the pop-up that asks about Jupyter news.

The test starts ``jupyter lab`` of the running environment on a free loopback port, with no token
and with empty user-settings and workspace folders (so nothing of the machine's own JupyterLab
state leaks in), loads a notebook's URL in headless Chromium, and reads the page it rendered
(``--dump-dom``): notebook cells, one per cell of the source, the notebook's title as a rendered
heading, typeset LaTeX, the ``parameters`` cell's code, and no text editor and no news pop-up.
Opening a URL uses the same default viewer as a double-click in the file browser.

Without Chromium on ``PATH`` (``chromium``, ``chromium-browser`` or ``google-chrome``, or
``$DUVAE_CHROMIUM``) the test is skipped with the reason; ``.ci/run`` installs Debian's ``chromium``.

Run as a script to take the picture in ``docs/``::

    .venv/bin/python tests/test_lab_browser.py docs/jupyterlab-notebook.png
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SETTINGS_SOURCE = ROOT / "jupyter" / "lab" / "overrides.json"
NOTEBOOK = "01_diversity_and_uncertainty.py"
#: the news pop-up's question, as JupyterLab 4 words it
NEWS_QUESTION = "official Jupyter news"
SERVER_START_S = 180
PAGE_BUDGET_MS = 20_000



def installed_overrides() -> Path:
    """Where JupyterLab of this environment reads its settings overrides from."""
    from jupyterlab.commands import get_app_dir

    return Path(get_app_dir()) / "settings" / "overrides.json"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root_dir: Path, state_dir: Path):
    """JupyterLab of this environment serving ``root_dir`` on a free loopback port; yields its URL.

    The server runs in its own process group, so stopping it also stops the kernels it started,
    and nothing else.
    """
    port = free_port()
    env = dict(os.environ)
    for name in ("JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_RUNTIME_DIR"):
        env[name] = str(state_dir / name.lower())
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", f"--ServerApp.root_dir={root_dir}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    url = f"http://127.0.0.1:{port}"
    log_path = state_dir / "jupyterlab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {server.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/lab", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer within {SERVER_START_S} s:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(server)


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server (it shuts its kernels down), then SIGKILL to its group if it lingers."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)  # the group is this server's own (start_new_session)
    server.wait(timeout=30)


def chromium(browser: str, url: str, *mode: str, profile_dir: Path, timeout: int = 180) -> str:
    """Load ``url`` in headless Chromium with a fresh profile, let the page run, return stdout."""
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", f"--user-data-dir={profile_dir}",
        "--window-size=1400,900", f"--virtual-time-budget={PAGE_BUDGET_MS}", *mode, url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{browser} exited with {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


#: elements that never have a closing tag in HTML
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class PageFacts(HTMLParser):
    """What a rendered JupyterLab page holds: counts of the classes that matter, the text of the
    ``h1`` headings, the text of each code cell, and the visible text (no styles or scripts)."""

    CLASSES = ("jp-Notebook", "jp-Cell", "jp-MarkdownCell", "jp-CodeCell", "jp-FileEditor")

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.counts: Counter = Counter()
        self.headings: list[str] = []
        self.code_cells: list[str] = []
        self.text: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, opens a code cell)
        self._in_h1 = 0
        self._in_code = 0
        self._hidden = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        for name in self.CLASSES:
            self.counts[name] += name in classes
        self.counts["mjx-container"] += tag == "mjx-container"
        if tag in _VOID:
            return
        code = "jp-CodeCell" in classes
        if code:
            self.code_cells.append("")
        if tag == "h1":
            self.headings.append("")
        self._in_code += code
        self._in_h1 += tag == "h1"
        self._hidden += tag in ("style", "script")
        self._stack.append((tag, code))

    def handle_endtag(self, tag):
        if tag in _VOID or not any(t == tag for t, _ in self._stack):
            return
        while self._stack:  # close what the serialiser left open inside this element, too
            open_tag, code = self._stack.pop()
            self._in_code -= code
            self._in_h1 -= open_tag == "h1"
            self._hidden -= open_tag in ("style", "script")
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self._hidden:
            return
        self.text.append(data)
        if self._in_h1:
            self.headings[-1] += data
        if self._in_code:
            self.code_cells[-1] += data


def source_facts(path: Path) -> tuple[str, Counter]:
    """The notebook's title (its first Markdown heading) and its cells by type, from the source."""
    import jupytext

    notebook = jupytext.read(path)
    cells = Counter(cell.cell_type for cell in notebook.cells)
    for cell in notebook.cells:
        match = re.search(r"^# (.+)$", cell.source, flags=re.M) if cell.cell_type == "markdown" else None
        if match:
            return match.group(1).strip(), cells
    raise AssertionError(f"{path.name} has no Markdown title")


@pytest.fixture(scope="module")
def lab_settings() -> Path:
    """The environment's overrides, the very file ``make setup`` installs (not a copy of the test's)."""
    path = installed_overrides()
    if not path.is_file():
        pytest.fail(f"JupyterLab's settings overrides are not installed at {path}: run `make setup`, "
                    f"which copies {SETTINGS_SOURCE.relative_to(ROOT)} there")
    if path.read_bytes() != SETTINGS_SOURCE.read_bytes():
        pytest.fail(f"{path} differs from {SETTINGS_SOURCE.relative_to(ROOT)}: run `make setup` to install "
                    "the current settings")
    return path


def test_settings_set_the_notebook_viewer_and_silence_the_news():
    import json

    settings = json.loads(SETTINGS_SOURCE.read_text())
    viewers = settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"python": "Jupytext Notebook"}
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"


def test_double_click_opens_a_notebook_as_a_notebook(browser, lab_settings, tmp_path):
    title, cells = source_facts(NOTEBOOKS / NOTEBOOK)
    before = sorted(NOTEBOOKS.glob("*.ipynb"))
    with jupyter_lab(NOTEBOOKS, tmp_path) as url:
        html = chromium(browser, f"{url}/lab/tree/{NOTEBOOK}", "--dump-dom", profile_dir=tmp_path / "chromium")
    (tmp_path / "page.html").write_text(html)
    page = PageFacts(html)
    text = " ".join(page.text)
    where = f"(the page is in {tmp_path / 'page.html'})"

    assert page.counts["jp-FileEditor"] == 0, f"{NOTEBOOK} opened in the text editor {where}"
    assert page.counts["jp-Notebook"] == 1, f"no notebook on the page {where}"
    assert page.counts["jp-MarkdownCell"] == cells["markdown"], (page.counts, cells, where)
    assert page.counts["jp-CodeCell"] == cells["code"], (page.counts, cells, where)
    assert any(title in h for h in page.headings), f"title {title!r} not among the headings {page.headings} {where}"
    assert page.counts["mjx-container"] > 0, f"no typeset LaTeX {where}"
    assert any('profile = "cpu"' in code for code in page.code_cells), f"no parameters cell {where}"
    assert NEWS_QUESTION not in text, f"the news pop-up is showing {where}"
    assert sorted(NOTEBOOKS.glob("*.ipynb")) == before, "opening the notebook wrote a file"


def screenshot(path: Path, notebook: str = NOTEBOOK) -> None:
    """Save what the browser shows for ``notebook`` as a PNG at ``path`` (for ``docs/``)."""
    from conftest import BROWSERS, find_browser  # tests/ is on sys.path when this file runs as a script

    browser = find_browser()
    if browser is None:
        raise SystemExit(f"no headless browser: none of {', '.join(BROWSERS)} is on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        with jupyter_lab(NOTEBOOKS, Path(tmp)) as url:
            chromium(browser, f"{url}/lab/tree/{notebook}", f"--screenshot={Path(path).resolve()}",
                     profile_dir=Path(tmp) / "chromium")
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(f"usage: python {sys.argv[0]} OUT.png [NOTEBOOK.py]")
    screenshot(Path(sys.argv[1]), *sys.argv[2:])
