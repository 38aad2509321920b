r"""The book: the main job's executed notebooks and the repository's own pages as one static site.

``make book PROFILE=cpu`` (``python -m duvae.book.site --profile cpu``) reads what the main job wrote
(``build/<profile>/notebooks/*.ipynb``; nothing is executed again) and builds a Jupyter Book (Sphinx,
MyST-NB) at ``build/<profile>/book/html/index.html``: a sidebar in reading order, search, a table of
contents per page, previous / next links. ``--student`` builds the student edition instead, from
``make student``'s notebooks (exercise stubs and hints, no solutions, not executed) into
``build/student/book/html``.

**Reading order** (:data:`PARTS`): what the repository is and how to run it; the theory (00-03); the
models (04); the experiments (05-11); the report (12); your own data (13, when the build has it); and
the reference pages of ``docs/`` (the implementation notes, the course, your own data).

**Offline mathematics.** Every formula is typeset by MathJax 3 served from the book's own
``_static/mathjax/`` folder, never from a CDN: the npm registry's ``mathjax`` package, pinned by
version and SHA-256 (:data:`MATHJAX`), fetched once through the data layer's verified download
(:func:`duvae.data.registry.fetch_file`, cached under ``data/cache/tools/``; a mirror folder that
holds ``tools/mathjax-3.2.2.tgz`` serves it offline) and unpacked into the build. Its SVG output needs
no web fonts, so the pages typeset from ``file://`` as well as from a server. The paper's numbered
equations carry their numbers (``\tag{3}`` in the notebooks' Markdown), so "eq. 3" in the text
and the (3) beside the formula agree.

**What the staging does to each notebook** (:func:`stage_notebook`): the ``parameters`` cell and the
cell papermill injected after it become one cell (the defaults, then the values this build ran
with); links between notebooks (``NN_name.ipynb#anchor``) point at the pages, or become plain text
when that notebook is not in the build. Code cells get a fold button (``_static/fold.js``). Each
claim of the report (notebook 12) links to the section of the notebook that tests it
(:attr:`duvae.report.claims.Claim.target`).

Nothing in the built pages loads from the network (:func:`external_assets` lists what would;
the build fails if anything does).
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import subprocess
import sys
import tarfile
import time
from html.parser import HTMLParser
from pathlib import Path

from duvae.book.sources import REPO_ROOT
from duvae.data.registry import RemoteFile, fetch_file
from duvae.runs.profiles import PROFILES, check_profile

#: MathJax 3 from the npm registry, pinned; only its SVG component and what that loads are copied
MATHJAX = RemoteFile(
    "tools/mathjax-3.2.2.tgz",
    "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09",
    6_132_118,
    "https://registry.npmjs.org/mathjax/-/mathjax-3.2.2.tgz",
)
#: the parts of the tarball a page loads: the TeX-to-SVG component, the TeX extensions it loads on
#: demand (\require, \boldsymbol, ...), the context menu and its accessibility helpers
MATHJAX_PARTS = ("tex-svg.js", "input/tex/extensions", "ui", "a11y", "adaptors")
MATHJAX_SCRIPT = "mathjax/tex-svg.js"

#: the book's parts: (caption, notebook prefixes or repository pages); a notebook missing from the
#: build is left out, a page is always there
PARTS = (
    ("Start here", ("docs/index.md", "docs/running.md")),
    ("The theory", ("00", "01", "02", "03")),
    ("The models", ("04",)),
    ("The experiments", ("05", "06", "07", "08", "09", "10", "11")),
    ("The report", ("12",)),
    ("Your own data", ("13",)),
    ("Reference", ("docs/implementation.md", "docs/package.md", "docs/course.md", "docs/your_data.md")),
)
STUDENT_PARTS = (
    ("Start here", ("docs/course.md",)),
    ("The course", ("00", "01", "02", "03", "04", "05")),
)

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"

FOLD_JS = """// a fold button on every code cell of the book: click to hide or show the code
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("div.cell_input").forEach(function (input) {
    var button = document.createElement("button");
    button.className = "duvae-fold";
    button.type = "button";
    button.textContent = "fold code";
    button.addEventListener("click", function () {
      var folded = input.classList.toggle("duvae-folded");
      button.textContent = folded ? "show code" : "fold code";
    });
    input.parentNode.insertBefore(button, input);
  });
});
"""
FOLD_CSS = """button.duvae-fold { font-size: 0.75em; margin: 0.2em 0; padding: 0 0.6em; cursor: pointer;
  border: 1px solid #bbb; border-radius: 3px; background: transparent; color: #666; }
div.cell_input.duvae-folded { display: none; }
"""


class BookError(RuntimeError):
    """The book cannot be built as asked (nothing executed yet, no Jupyter Book, a page loading from the web)."""


# --------------------------------------------------------------------------------------------------
# the notebooks, staged
# --------------------------------------------------------------------------------------------------


def notebook_title(nb) -> str:
    """The first Markdown heading of a notebook, else ``""``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, flags=re.M)
            if m:
                return m.group(1).strip()
    return ""


_MD_NOTEBOOK_LINK = re.compile(r"\[(?P<text>[^\]]*)\]\((?:\./)?(?P<name>[0-9][0-9]_\w+)\.(?:ipynb|py)(?P<fragment>#[^)]*)?\)")


def link_notebooks(text: str, available: set[str]) -> str:
    """Markdown links ``[t](NN_name.ipynb#a)`` to a notebook of the build stay (Sphinx resolves them to
    its page); a link to a notebook the build does not hold becomes its text with a note."""
    def repl(m):
        if m["name"] in available:
            return m.group(0)
        return f"{m['text']} ({m['name']} is not part of this build)"

    return _MD_NOTEBOOK_LINK.sub(repl, text)


def merge_parameters(nb) -> None:
    """The ``parameters`` cell and papermill's ``injected-parameters`` cell become one, in place: the
    defaults, then the values this build ran with (the injected cell's outputs are none)."""
    cells = nb.cells
    params = next((i for i, c in enumerate(cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])), None)
    injected = next((i for i, c in enumerate(cells) if INJECTED_TAG in c.get("metadata", {}).get("tags", [])), None)
    if params is None or injected is None:
        return
    values = "\n".join(line for line in cells[injected].source.splitlines() if not line.startswith("# Parameters"))
    cells[params].source = (cells[params].source.rstrip() + "\n\n# this build ran with (injected by papermill):\n"
                            + values.strip())
    del cells[injected]


def stage_notebook(nb, available: set[str]):
    """A copy of an executed notebook as the book shows it (module docstring)."""
    nb = copy.deepcopy(nb)
    merge_parameters(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = link_notebooks(cell.source, available)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/markdown" in data:
                data["text/markdown"] = link_notebooks(data["text/markdown"], available)
    return nb


# --------------------------------------------------------------------------------------------------
# MathJax, offline
# --------------------------------------------------------------------------------------------------


def install_mathjax(static_dir: Path) -> Path:
    """Unpack the pinned MathJax's SVG component into ``static_dir/mathjax``; return the script's path."""
    tarball = fetch_file(MATHJAX, mirror_optional=True)
    target = static_dir / "mathjax"
    shutil.rmtree(target, ignore_errors=True)
    prefix = "package/es5/"
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(prefix)
                   and any(m.name[len(prefix):] == p or m.name[len(prefix):].startswith(p + "/") for p in MATHJAX_PARTS)]
        for member in members:
            member.name = member.name[len(prefix):]
        tar.extractall(target, members=members, filter="data")
    script = static_dir / MATHJAX_SCRIPT
    if not script.is_file():
        raise BookError(f"{MATHJAX.name} holds no {prefix}{Path(MATHJAX_SCRIPT).name}")
    return script


# --------------------------------------------------------------------------------------------------
# the book
# --------------------------------------------------------------------------------------------------


def _config(title: str) -> str:
    return f"""# written by duvae.book.site; edit that module, not this file
title: "{title}"
author: "duvae"
only_build_toc_files: true
execute:
  execute_notebooks: "off"
html:
  use_repository_button: false
  home_page_in_navbar: false
  extra_footer: "Built from the executed notebooks of this repository; every formula typeset offline."
parse:
  myst_enable_extensions: [dollarmath, amsmath, colon_fence, linkify]
  myst_heading_anchors: 3
sphinx:
  config:
    mathjax_path: "{MATHJAX_SCRIPT}"
    mathjax3_config:
      tex:
        tags: "none"
      svg:
        fontCache: "global"
    html_static_path: ["_static"]
    html_js_files: ["fold.js"]
    html_css_files: ["fold.css"]
    html_show_copyright: false
    nb_merge_streams: true
    suppress_warnings: ["myst.header", "mystnb.unknown_mime_type"]
"""


def _toc(chapters: list[tuple[str, list[str]]]) -> str:
    root = chapters[0][1][0]
    lines = ["# written by duvae.book.site", "format: jb-book", f"root: {root}", "parts:"]
    for caption, files in chapters:
        files = [f for f in files if f != root]
        if not files:
            continue
        lines.append(f'  - caption: "{caption}"')
        lines.append("    chapters:")
        lines += [f"      - file: {f}" for f in files]
    return "\n".join(lines) + "\n"


def notebooks_of(profile: str, student: bool, build_root: Path) -> tuple[Path, list[Path]]:
    """The folder of executed (or student) notebooks and the notebooks in it, in order."""
    folder = build_root / "student" if student else build_root / profile / "notebooks"
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        how = "make student" if student else f"make notebooks PROFILE={profile}"
        raise BookError(f"no notebooks in {folder}: run `{how}` first (the book executes nothing)")
    return folder, found


def stage(profile: str = "cpu", student: bool = False, build_root: Path | None = None,
          out: Path | None = None) -> Path:
    """Write the book's sources (``_config.yml``, ``_toc.yml``, pages, staged notebooks, ``_static``)
    to ``out/source``; return that folder."""
    import nbformat

    build_root = Path(build_root or REPO_ROOT / "build")
    folder, notebooks = notebooks_of(profile, student, build_root)
    out = Path(out or (build_root / "student" / "book" if student else build_root / profile / "book"))
    source = out / "source"
    shutil.rmtree(source, ignore_errors=True)
    (source / "docs").mkdir(parents=True)
    available = {p.stem for p in notebooks}
    by_prefix = {p.stem[:2]: p for p in notebooks}
    chapters = []
    for caption, entries in (STUDENT_PARTS if student else PARTS):
        files = []
        for entry in entries:
            if entry.endswith(".md"):
                page = REPO_ROOT / entry
                text = page.read_text()
                (source / entry).write_text(link_notebooks(text, available))
                files.append(entry[:-3])
            elif entry in by_prefix:
                path = by_prefix[entry]
                nb = nbformat.read(path, as_version=4)
                nbformat.write(stage_notebook(nb, available), source / path.name)
                files.append(path.stem)
        if files:
            chapters.append((caption, files))
    static = source / "_static"
    static.mkdir()
    install_mathjax(static)
    (static / "fold.js").write_text(FOLD_JS)
    (static / "fold.css").write_text(FOLD_CSS)
    title = "DU-VAE, re-implemented: the student edition" if student else f"DU-VAE, re-implemented ({profile})"
    (source / "_config.yml").write_text(_config(title))
    (source / "_toc.yml").write_text(_toc(chapters))
    return source


_HTML_NOTEBOOK_LINK = re.compile(r'href="(?P<name>[0-9][0-9]_\w+)\.ipynb(?P<fragment>#[^"]*)?"')


def point_links_at_pages(html_dir: Path) -> int:
    """``href="NN_name.ipynb#a"`` left in the notebooks' pages (links inside Markdown *outputs*, which
    Sphinx does not resolve) -> ``NN_name.html#a`` where that page exists; return how many changed."""
    changed = 0
    for page in Path(html_dir).glob("*.html"):
        text = page.read_text()

        def to_page(m):
            nonlocal changed
            if not (page.parent / f"{m['name']}.html").is_file():
                return m.group(0)
            changed += 1
            return f'href="{m["name"]}.html{m["fragment"] or ""}"'

        new = _HTML_NOTEBOOK_LINK.sub(to_page, text)
        if new != text:
            page.write_text(new)
    return changed


class _Assets(HTMLParser):
    """The addresses a page loads by itself (scripts, styles, images, frames), not the links a reader follows."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.loaded: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "audio", "video") and a.get("src"):
            self.loaded.append(a["src"])
        if tag == "link" and a.get("href") and (a.get("rel") or "") in ("stylesheet", "preload", "icon"):
            self.loaded.append(a["href"])


def external_assets(html_dir: Path) -> dict[str, list[str]]:
    """Per page, what it would load from the network (``http:``, ``https:`` or ``//``); empty when offline-clean."""
    out = {}
    for page in sorted(Path(html_dir).rglob("*.html")):
        parser = _Assets()
        parser.feed(page.read_text(errors="replace"))
        remote = [u for u in parser.loaded if re.match(r"^(https?:)?//", u)]
        if remote:
            out[str(page.relative_to(html_dir))] = remote
    return out


def build(profile: str = "cpu", student: bool = False, build_root: Path | None = None,
          out: Path | None = None, quiet: bool = True) -> Path:
    """Stage and build the book; return the path of its ``index.html``.

    Raises :class:`BookError` when the notebooks are not there yet, when Jupyter Book fails (its log
    tail in the message) or when a built page would load anything from the network.
    """
    source = stage(profile, student, build_root, out)
    out_dir = source.parent
    html = out_dir / "html"
    shutil.rmtree(out_dir / "_build", ignore_errors=True)
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(source), "--path-output", str(out_dir), "--builder", "html"]
    if quiet:
        cmd.append("--quiet")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BookError(f"jupyter-book build failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
    shutil.rmtree(html, ignore_errors=True)
    shutil.move(str(out_dir / "_build" / "html"), html)
    shutil.rmtree(out_dir / "_build", ignore_errors=True)
    point_links_at_pages(html)
    remote = external_assets(html)
    if remote:
        raise BookError(f"pages would load from the network: {remote}")
    return html / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m duvae.book.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", choices=PROFILES)
    parser.add_argument("--student", action="store_true", help="the student edition, from `make student`'s notebooks")
    parser.add_argument("--build-root", type=Path, default=None, help="the folder holding <profile>/ (default build/)")
    parser.add_argument("--output", type=Path, default=None, help="default build/<profile>/book or build/student/book")
    args = parser.parse_args(argv)
    check_profile(args.profile)
    start = time.perf_counter()
    try:
        index = build(args.profile, args.student, args.build_root, args.output)
    except BookError as err:
        print(f"book: {err}", file=sys.stderr)
        return 1
    print(f"book: {index} ({time.perf_counter() - start:.0f} s); open it in a browser, no network needed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
