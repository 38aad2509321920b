"""The reproduction report: the README's generated Results section, the HTML report in a real browser,
and the main job's output (one line per notebook, no kernel warning).

The browser test builds a small ``smoke`` report of its own: notebooks 00, 02 and 12 executed by the
main job (``python -m duvae.book.run``) into a temporary build, with temporary results and runs,
then ``python -m duvae.report html`` on it. Every page of the report is opened in headless Chromium
(Debian's ``chromium``; ``$DUVAE_CHROMIUM`` names another) through a copy of the page with a small
script appended, which, once the page has loaded, writes into the page what the browser saw: the
title, every image's natural size, every link's resolved address. ``--dump-dom`` prints the page, and
the test checks that every page loaded, every image rendered (natural width and height above 0) and
every link inside the report resolves: the file exists and, for ``#fragment`` links, an element
with that id is in it. Without a browser the test is skipped with the reason; ``.ci/run`` installs
Debian's ``chromium``.
"""

from __future__ import annotations

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

import pytest

from duvae.report import publish as report

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: the notebooks of the test's smoke build: quick ones, one with figures and LaTeX, and the report itself
NOTEBOOKS = ("00", "02", "12")
CHECK_ID = "__report_check__"
CHECK_SCRIPT = """
<script>
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (i) {
    return {src: (i.currentSrc || i.src).slice(0, 120), complete: i.complete, width: i.naturalWidth,
            height: i.naturalHeight};
  });
  var links = Array.prototype.map.call(document.querySelectorAll("a[href]"), function (a) { return a.href; });
  var out = document.createElement("pre");
  out.id = "%s";
  out.textContent = JSON.stringify({title: document.title, state: document.readyState, images: images,
                                    links: links, text: document.body.innerText.length});
  document.body.appendChild(out);
});
</script>
""" % CHECK_ID


# ----------------------------------------------------------------------------------------------
# the README's Results section
# ----------------------------------------------------------------------------------------------
def test_the_readmes_results_section_is_generated_from_the_committed_results():
    text = (ROOT / "README.md").read_text()
    assert report.BEGIN in text and report.END in text
    fresh = report.readme_section("cpu")  # from $DUVAE_RESULTS_DIR or results/, as the command reads them
    assert report.current_section(text) == fresh, (
        "README.md's Results section is stale: run `python -m duvae.report readme` and commit README.md")


def test_the_section_marks_missing_runs_inconclusive_and_invents_nothing(tmp_path):
    section = report.readme_section("cpu", tmp_path / "no-results")
    assert "**inconclusive (missing runs)**" in section
    assert "no results yet (0 of 33 runs)" in section  # Table 2
    assert "newest result no results" in section
    assert not re.search(r"\d+\.\d+ ± \d", section)  # no number of ours anywhere
    # the mathematics is computed, not read, and stands in its own table after the claims
    claims_part, math_part = section.split("**The mathematics, checked**")
    assert "| C8 |" in math_part and "**holds**" in math_part and "| C8 |" not in claims_part


def test_replace_section_keeps_everything_outside_the_markers():
    text = f"head\n{report.BEGIN}\nold\n{report.END}\ntail\n"
    new = report.replace_section(text, "new\n")
    assert new == f"head\n{report.BEGIN}\nnew\n{report.END}\ntail\n"
    assert report.current_section(new) == "new\n"
    with pytest.raises(ValueError, match="markers"):
        report.replace_section("no markers", "x")


def test_readme_check_exits_1_when_stale(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{report.BEGIN}\nstale\n{report.END}\n")
    results = tmp_path / "results"
    assert report.main(["readme", "--readme", str(readme), "--results-dir", str(results), "--check"]) == 1
    assert report.main(["readme", "--readme", str(readme), "--results-dir", str(results)]) == 0
    assert report.main(["readme", "--readme", str(readme), "--results-dir", str(results), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# the HTML report
# ----------------------------------------------------------------------------------------------
def test_without_executed_notebooks_the_report_says_what_to_run(tmp_path, capsys):
    with pytest.raises(report.MissingBuild, match=r"make notebooks PROFILE=smoke"):
        report.build_html(tmp_path / "smoke")
    assert report.main(["html", "--build", str(tmp_path / "smoke")]) == 2
    assert "run `make notebooks PROFILE=smoke`" in capsys.readouterr().err


def test_links_between_notebooks_point_at_their_pages_or_say_they_are_missing():
    page = ('<a href="02_proposition1_monte_carlo.ipynb#Exercises">02</a> <a href="06_table1_likelihood.ipynb">06</a> '
            '<a href="https://example.org/x.ipynb">elsewhere</a>')
    out = report._link_notebooks(page, {"02_proposition1_monte_carlo"})
    assert '<a href="02_proposition1_monte_carlo.html#Exercises">02</a>' in out
    assert "06 <span" in out and "06_table1_likelihood.ipynb" not in out
    assert '<a href="https://example.org/x.ipynb">' in out


def find_browser() -> str | None:
    env = os.environ.get("DUVAE_CHROMIUM")
    if env:
        return env
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


@pytest.fixture(scope="module")
def smoke_build(tmp_path_factory):
    """Notebooks 00, 02 and 12 executed at smoke by the main job, and its output; then the report."""
    tmp = tmp_path_factory.mktemp("report")
    build = tmp / "build" / "smoke"
    env = {**os.environ, "DUVAE_RESULTS_DIR": str(tmp / "results"), "DUVAE_RUNS_DIR": str(tmp / "runs")}
    env.pop("MPLBACKEND", None)  # .ci/run sets Agg; the kernels draw inline, as in `make notebooks`
    done = subprocess.run([sys.executable, "-m", "duvae.book.run", "--profile", "smoke", "--device", "cpu",
                           "--output", str(build), *NOTEBOOKS], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    assert report.main(["html", "--build", str(build)]) == 0
    return build, done.stdout + done.stderr


def test_the_main_job_prints_one_line_per_notebook_and_no_kernel_warning(smoke_build):
    _, output = smoke_build
    assert "without encryption" not in output and "WARNING" not in output, output
    names = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")) if p.stem[:2] in NOTEBOOKS]
    for name in names:
        lines = [line for line in output.splitlines() if name in line]
        assert len(lines) == 1 and re.match(rf"^  {name}: ok \(\d+\.\d s\)$", lines[0]), output
    assert len(output.strip().splitlines()) == len(names) + 2, output  # the heading, the notebooks, the total


def test_the_index_lists_every_notebook_table_and_figure(smoke_build):
    build, _ = smoke_build
    index = (build / "report" / "index.html").read_text()
    for nb in (build / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        assert f'href="{nb.stem}.html"' in index
    for table in (build / "tables").glob("*.csv"):
        assert f'href="tables.html#{table.stem}"' in index
    figures = list((build / "figures").glob("*.png"))
    assert figures, "the smoke build drew no figure"
    for figure in figures:
        assert f'src="figures/{figure.name}"' in index
    assert (build / "report" / "12_report.html").is_file()


class _Ids(HTMLParser):
    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


def _seen_by_the_browser(browser: str, page: Path, profile_dir: Path) -> dict:
    """Open a copy of ``page`` (same folder, so every relative address resolves alike) with the
    check script appended; return what the script wrote into the page."""
    copy = page.with_name(f"{page.stem}.__check__.html")
    text = page.read_text()
    copy.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>", 1) if "</body>" in text else text + CHECK_SCRIPT)
    try:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--allow-file-access-from-files", f"--user-data-dir={profile_dir}", "--window-size=1280,900",
             "--virtual-time-budget=10000", "--dump-dom", copy.as_uri()],
            capture_output=True, text=True, timeout=180)
    finally:
        copy.unlink()
    assert done.returncode == 0, done.stderr[-3000:]
    m = re.search(rf'<pre id="{CHECK_ID}">(.*?)</pre>', done.stdout, flags=re.S)
    assert m, f"{page.name} did not finish loading in the browser:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return json.loads(html_lib.unescape(m.group(1)))


def test_every_page_loads_every_image_renders_and_every_link_resolves(smoke_build, tmp_path):
    browser = find_browser()
    if browser is None:
        pytest.skip(f"no headless browser: none of {', '.join(BROWSERS)} is on PATH and $DUVAE_CHROMIUM is unset "
                    "(.ci/run installs Debian's chromium)")
    build, _ = smoke_build
    site = build / "report"
    pages = sorted(site.glob("*.html"))
    assert {p.name for p in pages} >= {"index.html", "tables.html", "00_overview.html", "12_report.html"}
    ids: dict[Path, set[str]] = {}
    checked_images = checked_links = 0
    for page in pages:
        seen = _seen_by_the_browser(browser, page, tmp_path / "chromium")
        assert seen["state"] == "complete" and seen["title"] and seen["text"] > 0, (page.name, seen["title"])
        for image in seen["images"]:
            assert image["complete"] and image["width"] > 0 and image["height"] > 0, (page.name, image)
            checked_images += 1
        for href in seen["links"]:
            url = urlparse(href)
            if url.scheme != "file":
                continue  # the web (the notebooks' MathJax and require.js come from a CDN); not the report's
            target = Path(unquote(url.path))
            if target.name.endswith(".__check__.html"):  # a link within the page itself
                target = target.with_name(target.name.replace(".__check__.html", ".html"))
            assert target.is_file(), f"{page.name}: broken link {href}"
            assert site in target.parents or target.parent == site, f"{page.name}: {href} leaves the report"
            if url.fragment:
                if target not in ids:
                    ids[target] = _Ids(target.read_text()).ids if target.suffix == ".html" else set()
                # as a browser looks for it: the fragment as written, then percent-decoded
                assert {url.fragment, unquote(url.fragment)} & ids[target], \
                    f"{page.name}: no #{url.fragment} in {target.name}"
            checked_links += 1
    inline = sum(p.read_text().count('src="data:image/png') for p in pages)
    assert inline > 0, "no notebook page shows a figure"
    assert checked_images >= len(list((build / "figures").glob("*.png"))) + inline and checked_links > 10
