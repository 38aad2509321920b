"""The book (:mod:`duvae.book.site`), built from a smoke main job and read in headless Chromium with
the network off, as a student behind a lab firewall would read it.

The fixture runs the main job (``python -m duvae.book.run``) at ``smoke`` on notebooks 00, 01, 02 and
12 into a temporary build, with temporary results and runs, then ``python -m duvae.book.site`` on it.
Every page of the site is opened in Chromium (Debian's ``chromium``; ``$DUVAE_CHROMIUM`` names
another) inside a network namespace of its own (``unshare --net``: no interface but a loopback that
is down), with the resolver told to find no host as well. A small script appended to a copy of the
page waits for MathJax (and, on the search page, for the results), then writes into the page what
the browser saw: every image's natural size, every link's address, the number of typeset formulas
and the visible text. ``--dump-dom`` prints it. Without a browser the browser tests are skipped with
the reason; ``.ci/run`` installs Debian's ``chromium``.
"""

from __future__ import annotations

import functools
import html as html_lib
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

from duvae.book import site
from duvae.report.claims import ALL_CLAIMS

ROOT = Path(__file__).resolve().parents[1]
#: quick notebooks: the overview, the formulas of 01, the figures of 02 (and claim C8's section), the report
NOTEBOOKS = ("00", "01", "02", "12")
CHECK_ID = "__book_check__"
CHECK_SCRIPT = """
<script>
window.addEventListener("load", function () {
  var started = Date.now();
  function write() {
    var images = Array.prototype.map.call(document.images, function (i) {
      return {src: (i.currentSrc || i.src).slice(0, 160), complete: i.complete, width: i.naturalWidth,
              height: i.naturalHeight};
    });
    var links = Array.prototype.map.call(document.querySelectorAll("a[href]"), function (a) { return a.href; });
    var results = document.querySelectorAll("#search-results ul.search li");
    var prose = document.body.cloneNode(true);  // the text a reader reads: no code, no typeset math
    prose.querySelectorAll("pre, code, .highlight, script, style, mjx-container").forEach(function (e) { e.remove(); });
    var out = document.createElement("pre");
    out.id = "%s";
    out.textContent = JSON.stringify({
      title: document.title, state: document.readyState, images: images, links: links,
      text: document.body.innerText, prose: prose.textContent, math: document.querySelectorAll("mjx-container").length,
      display_math: document.querySelectorAll("mjx-container[display='true']").length,
      search: Array.prototype.map.call(results, function (li) { return li.querySelector("a").href; }),
      mathjax: !!(window.MathJax && window.MathJax.version), prev_next: document.querySelectorAll(
        "a.left-prev, a.right-next").length, sidebar: document.querySelectorAll("nav.bd-links a").length,
      fold_buttons: document.querySelectorAll("button.duvae-fold").length});
    document.body.appendChild(out);
  }
  function wait() {
    var searching = document.getElementById("search-results");
    var searched = !searching || /Search finished|did not match/.test(searching.innerText);
    if (!searched && Date.now() - started < 15000) { setTimeout(wait, 100); return; }
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) { MathJax.startup.promise.then(write, write); }
    else { write(); }
  }
  wait();
});
</script>
""" % CHECK_ID



@functools.lru_cache(maxsize=None)
def offline() -> tuple[str, ...]:
    """The command prefix that takes the network away: a network namespace of its own where the system
    allows one (root, as in CI), else nothing (Chromium's resolver rule below still finds no host)."""
    if shutil.which("unshare") and subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0:
        return ("unshare", "--net")
    return ()


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """Notebooks 00, 01, 02 and 12 executed at smoke by the main job; then the book built on them."""
    tmp = tmp_path_factory.mktemp("book")
    build = tmp / "build" / "smoke"
    env = {**os.environ, "DUVAE_RESULTS_DIR": str(tmp / "results"), "DUVAE_RUNS_DIR": str(tmp / "runs")}
    env.pop("MPLBACKEND", None)  # .ci/run sets Agg; the kernels draw inline, as in `make notebooks`
    done = subprocess.run([sys.executable, "-m", "duvae.book.run", "--profile", "smoke", "--device", "cpu",
                           "--output", str(build), *NOTEBOOKS], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    made = subprocess.run([sys.executable, "-m", "duvae.book.site", "--profile", "smoke", "--build-root",
                           str(tmp / "build")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert made.returncode == 0, made.stdout + made.stderr
    html = build / "book" / "html"
    assert (html / "index.html").is_file()
    return html, done.stdout + done.stderr


def test_the_main_job_prints_one_line_per_notebook_and_no_kernel_warning(book):
    _, output = book
    assert "without encryption" not in output and "WARNING" not in output, output
    names = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")) if p.stem[:2] in NOTEBOOKS]
    for name in names:
        lines = [line for line in output.splitlines() if name in line]
        assert len(lines) == 1 and re.match(rf"^  {name}: ok \(\d+\.\d s\)$", lines[0]), output
    assert len(output.strip().splitlines()) == len(names) + 2, output  # the heading, the notebooks, the total


# ----------------------------------------------------------------------------------------------
# the site, as files
# ----------------------------------------------------------------------------------------------
def test_the_chapters_follow_the_reading_order_and_the_pages_are_there(book):
    html, _ = book
    toc = (html.parent / "source" / "_toc.yml").read_text()
    order = [m for m in re.findall(r"file: (\S+)", toc)]
    assert order == ["docs/running", "00_overview", "01_diversity_and_uncertainty", "02_proposition1_monte_carlo",
                     "12_report", "docs/implementation", "docs/package", "docs/course", "docs/your_data"], order
    assert "root: docs/index" in toc
    captions = re.findall(r'caption: "([^"]+)"', toc)
    assert captions == ["Start here", "The theory", "The report", "Reference"], captions  # no empty part
    for page in ["index", "search", *order]:
        assert (html / f"{page}.html").is_file(), page


def test_no_page_loads_anything_from_the_network(book, tmp_path):
    html, _ = book
    assert site.external_assets(html) == {}
    assert (html / "_static" / site.MATHJAX_SCRIPT).is_file()
    assert site.MATHJAX_SCRIPT in (html / "01_diversity_and_uncertainty.html").read_text()
    # the check itself can fail: a page with a CDN script is caught
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "p.html").write_text('<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js">'
                                    '</script><link rel="stylesheet" href="//fonts.example/x.css"><a href="https://x">ok</a>')
    assert site.external_assets(planted) == {"p.html": ["https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js",
                                                       "//fonts.example/x.css"]}


def test_the_parameters_cell_and_the_injected_values_read_as_one(book):
    html, _ = book
    staged = nbformat.read(html.parent / "source" / "01_diversity_and_uncertainty.ipynb", as_version=4)
    tags = [t for c in staged.cells for t in c.metadata.get("tags", [])]
    assert tags.count("parameters") == 1 and "injected-parameters" not in tags
    cell = next(c for c in staged.cells if "parameters" in c.metadata.get("tags", []))
    assert "this build ran with (injected by papermill)" in cell.source and 'profile = "smoke"' in cell.source
    page = (html / "01_diversity_and_uncertainty.html").read_text()
    assert page.count("this build ran with") == 1


def test_each_claim_links_to_the_section_that_tests_it(book):
    html, _ = book
    report = (html / "12_report.html").read_text()
    built = {p.stem for p in html.glob("[0-9][0-9]_*.html")}
    for claim in ALL_CLAIMS:
        source = (ROOT / "notebooks" / f"{claim.notebook}.py").read_text()
        assert f'<a id="{claim.anchor}"></a>' in source, (claim.id, claim.notebook)
        if claim.notebook in built:
            assert f'href="{claim.notebook}.html#{claim.anchor}"' in report, claim.id
            assert f'id="{claim.anchor}"' in (html / f"{claim.notebook}.html").read_text()
        else:
            assert f"{claim.notebook} is not part of this build" in report, claim.id
    assert ".ipynb#" not in re.sub(r'href="_sources/[^"]*"', "", report)


# ----------------------------------------------------------------------------------------------
# the site, in a browser with the network off
# ----------------------------------------------------------------------------------------------
class _Ids(HTMLParser):
    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


def _seen(browser: str, page: Path, profile_dir: Path, query: str = "") -> dict:
    """Open a copy of ``page`` (same folder: every relative address resolves alike) with the check
    script appended, offline; return what the script wrote into the page."""
    copy = page.with_name(f"{page.stem}.__check__.html")
    text = page.read_text()
    copy.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>", 1) if "</body>" in text else text + CHECK_SCRIPT)
    try:
        done = subprocess.run(
            [*offline(), browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile_dir}", "--window-size=1280,900",
             "--virtual-time-budget=20000", "--dump-dom", copy.as_uri() + query],
            capture_output=True, text=True, timeout=180)
    finally:
        copy.unlink()
    assert done.returncode == 0, done.stderr[-3000:]
    m = re.search(rf'<pre id="{CHECK_ID}"[^>]*>(.*?)</pre>', done.stdout, flags=re.S)
    assert m, f"{page.name} did not finish loading in the browser:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return json.loads(html_lib.unescape(m.group(1)))


def test_every_page_loads_every_image_renders_and_every_internal_link_resolves(book, browser, tmp_path):
    html, _ = book
    pages = sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)
    assert len(pages) >= 12
    ids: dict[Path, set[str]] = {}
    images = links = 0
    for page in pages:
        text = page.read_text()
        redirect = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', text, flags=re.I)
        if redirect:  # index.html sends the reader to the first page
            assert (page.parent / redirect.group(1)).is_file(), (page.name, redirect.group(1))
            continue
        seen = _seen(browser, page, tmp_path / "chromium")
        assert seen["state"] == "complete" and seen["title"] and len(seen["text"]) > 0, (page.name, seen["title"])
        if page.name not in ("index.html", "genindex.html", "search.html"):
            assert seen["sidebar"] >= 9, (page.name, seen["sidebar"])  # every chapter in the sidebar
        for image in seen["images"]:
            assert image["complete"] and image["width"] > 0 and image["height"] > 0, (page.name, image)
            images += 1
        for href in seen["links"]:
            url = urlparse(href)
            if url.scheme != "file":
                continue  # links a reader may follow out of the book (the paper, submitit); nothing loads them
            target = Path(unquote(url.path))
            if target.name.endswith(".__check__.html"):  # a link within the page itself
                target = target.with_name(target.name.replace(".__check__.html", ".html"))
            assert target.is_file(), f"{page.relative_to(html)}: broken link {href}"
            assert html in target.parents, f"{page.relative_to(html)}: {href} leaves the book"
            if url.fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = _Ids(target.read_text()).ids
                assert {url.fragment, unquote(url.fragment)} & ids[target], \
                    f"{page.relative_to(html)}: no #{url.fragment} in {target.relative_to(html)}"
            links += 1
    assert images >= 2 and links > 100, (images, links)


def test_notebook_pages_have_previous_next_and_foldable_code(book, browser, tmp_path):
    html, _ = book
    seen = _seen(browser, html / "01_diversity_and_uncertainty.html", tmp_path / "chromium")
    assert seen["prev_next"] == 2
    assert seen["fold_buttons"] >= 5


def test_the_formulas_of_notebook_01_are_typeset_offline(book, browser, tmp_path):
    html, _ = book
    page = html / "01_diversity_and_uncertainty.html"
    seen = _seen(browser, page, tmp_path / "chromium")
    assert seen["mathjax"], "MathJax did not load"
    source_math = len(re.findall(r'class="math notranslate nohighlight"', page.read_text()))
    assert source_math > 30 and seen["math"] >= source_math, (seen["math"], source_math)
    assert seen["display_math"] >= 5
    assert "$" in page.read_text() and "\\mathrm" in page.read_text()  # the source has LaTeX to typeset
    for raw in ("$\\mathrm", "\\mathrm", "\\frac", "$$"):
        assert raw not in seen["prose"], raw
    # the paper's numbers on its equations: eq. 3 and eq. 5 are tagged (3) and (5)
    assert "\\tag{3}" in page.read_text() and "\\tag{5}" in page.read_text()


def test_search_finds_posterior_collapse(book, browser, tmp_path):
    html, _ = book
    seen = _seen(browser, html / "search.html", tmp_path / "chromium", query="?q=posterior+collapse")
    found = [Path(urlparse(u).path).name for u in seen["search"]]
    assert found, seen["text"][-500:]
    assert "00_overview.html" in found


# ----------------------------------------------------------------------------------------------
# the parts, without a browser
# ----------------------------------------------------------------------------------------------
def test_without_executed_notebooks_the_book_says_what_to_run(tmp_path, capsys):
    assert site.main(["--profile", "smoke", "--build-root", str(tmp_path)]) == 1
    assert "run `make notebooks PROFILE=smoke` first" in capsys.readouterr().err
    assert site.main(["--student", "--build-root", str(tmp_path)]) == 1
    assert "run `make student` first" in capsys.readouterr().err


def test_links_to_notebooks_outside_the_build_become_text():
    text = ("see [notebook 02](02_proposition1_monte_carlo.ipynb#claim-c8) and [06](06_table1_likelihood.ipynb) "
            "and [the web](https://example.org/x.ipynb)")
    out = site.link_notebooks(text, {"02_proposition1_monte_carlo"})
    assert "[notebook 02](02_proposition1_monte_carlo.ipynb#claim-c8)" in out
    assert "06 (06_table1_likelihood is not part of this build)" in out and "(06_table1_likelihood.ipynb)" not in out
    assert "(https://example.org/x.ipynb)" in out


def test_html_links_to_notebooks_point_at_their_pages(tmp_path):
    (tmp_path / "02_x.html").write_text("<p id='claim-c8'></p>")
    (tmp_path / "12_r.html").write_text('<a href="02_x.ipynb#claim-c8">a</a> <a href="05_y.ipynb">b</a> '
                                        '<a href="_sources/02_x.ipynb">download</a>')
    assert site.point_links_at_pages(tmp_path) == 1
    page = (tmp_path / "12_r.html").read_text()
    assert 'href="02_x.html#claim-c8"' in page and 'href="05_y.ipynb"' in page and "_sources/02_x.ipynb" in page


def test_merge_parameters_keeps_the_defaults_and_adds_the_values():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('profile = "cpu"\nseed = 0', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('# Parameters\nprofile = "smoke"\n', metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("x = 1")])
    site.merge_parameters(nb)
    assert len(nb.cells) == 2
    assert nb.cells[0].source.startswith('profile = "cpu"\nseed = 0\n\n# this build ran with')
    assert nb.cells[0].source.endswith('profile = "smoke"') and "# Parameters" not in nb.cells[0].source
    untouched = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    site.merge_parameters(untouched)
    assert [c.source for c in untouched.cells] == ["x = 1"]


def test_the_student_edition_has_stubs_and_no_solutions(tmp_path):
    from duvae.book.course import build_student

    build_student(tmp_path / "student", only=["01"])
    source = site.stage(student=True, build_root=tmp_path, out=tmp_path / "student" / "book")
    toc = (source / "_toc.yml").read_text()
    assert "01_diversity_and_uncertainty" in toc and "12_report" not in toc and "docs/implementation" not in toc
    staged = nbformat.read(source / "01_diversity_and_uncertainty.ipynb", as_version=4)
    code = "\n".join(c.source for c in staged.cells if c.cell_type == "code")
    assert "raise NotImplementedError" in code
    assert not any("solution" in c.metadata.get("tags", []) for c in staged.cells)
