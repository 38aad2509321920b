"""References in the code and notebooks point at things a reader of the repository has.

Two rules, checked over ``duvae/``, ``notebooks/``, ``tests/``, ``benchmarks/``, ``scripts/``,
``docs/`` and the top-level README, Makefile, ``pyproject.toml`` and ``environment.yml``:

(a) every section cited as ``docs/implementation.md §N.M`` (or ``§N``; chains such as
    ``docs/implementation.md §1.1, step 4; §1.3, item 2`` or ``§2.1, §2.2`` count every section)
    is a heading of ``docs/implementation.md`` (``## N. Title`` or ``### N.M Title``); inside that
    document a bare ``§N.M`` is a citation of itself;
(b) nothing cites the project's former private notes (by their file name, or as "notes 2.1") or an
    issue by its number ("issue 29"): a reader has neither, so a reference says what it means.

Each failure names ``file:line``. :func:`dangling_references` and :func:`forbidden_references` take a
list of paths, so the tests below also run them on planted bad references.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "implementation.md"
SCANNED_DIRS = ("duvae", "notebooks", "tests", "benchmarks", "scripts", "docs")
SCANNED_TOP = ("README.md", "Makefile", "pyproject.toml", "environment.yml")
SUFFIXES = {".py", ".md", ".sh", ".toml", ".yml", ".yaml", ".txt", ".cfg", ".rst", ".ini"}
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints"}

#: a heading of the document: ``## 4. Evaluation`` -> "4", ``### 4.1 Importance-weighted NLL`` -> "4.1"
HEADING = re.compile(r"^#{2,4}\s+(\d+(?:\.\d+)*)\.?\s", re.MULTILINE)
_SECTION = r"§\s?\d+(?:\.\d+)*"
#: one citation chain: the document's path, then sections joined by , ; / and -, each optionally
#: followed by ", step k" / ", items j-k" (a line break, with a comment's ``#``, may come between)
CITATION = re.compile(
    r"docs/implementation\.md[\s#]*(?P<chain>" + _SECTION
    + r"(?:,\s*(?:steps?|items?)\s+\d+(?:-\d+)?|[\s#]*(?:,|;|/|-|–|\band\b)[\s#]*" + _SECTION + r")*)"
)
SECTION = re.compile(r"§\s?(\d+(?:\.\d+)*)")
#: what a reader cannot follow: the former notes (by name, or "notes 2.1" / "notes §4"), issue numbers
_OLD_NOTES_NAME = "IMPLEMENTATION" + "_NOTES"  # split, so that this file does not cite it itself
FORBIDDEN = {
    "the former private notes": re.compile(_OLD_NOTES_NAME),
    "a section of the former notes": re.compile(r"\b[Nn]otes:?\s+§?\s?\d"),
    "the former notes": re.compile(r"\bthe notes'|\bin the notes\b"),
    "an issue number": re.compile(r"\b[Ii]ssues?[- ]#?\d+"),
}


def scanned_files(root: Path = ROOT) -> list[Path]:
    """The text files the two rules apply to (this test file excepted: it quotes the patterns)."""
    files = [root / name for name in SCANNED_TOP if (root / name).is_file()]
    for top in SCANNED_DIRS:
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and not SKIP_PARTS & set(path.parts):
                files.append(path)
    return [f for f in files if f.resolve() != Path(__file__).resolve()]


def doc_sections(doc: Path = DOC) -> set[str]:
    """The section numbers of ``doc``'s headings."""
    return set(HEADING.findall(doc.read_text(encoding="utf-8")))


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _name(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def cited_sections(path: Path, doc: Path = DOC) -> list[tuple[int, str]]:
    """``(line, section)`` of every section of ``doc`` that ``path`` cites (bare ``§`` inside ``doc``)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    out = []
    for cite in CITATION.finditer(text):
        chain = cite.group("chain")
        for sec in SECTION.finditer(chain):
            out.append((_line(text, cite.start("chain") + sec.start()), sec.group(1)))
    if path.resolve() == doc.resolve():  # the document's own cross-references are bare
        out += [(_line(text, m.start()), m.group(1)) for m in SECTION.finditer(text)]
    return sorted(set(out))


def dangling_references(paths, doc: Path = DOC) -> list[str]:
    """``file:line: §N.M`` for every cited section that is not a heading of ``doc``."""
    known = doc_sections(doc)
    return [f"{_name(Path(p))}:{line}: §{sec} is not a section of {_name(doc)}"
            for p in paths for line, sec in cited_sections(Path(p), doc) if sec not in known]


def forbidden_references(paths) -> list[str]:
    """``file:line: what: the line`` for every citation of the former notes or of an issue number."""
    out = []
    for p in paths:
        text = Path(p).read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        for what, pattern in FORBIDDEN.items():
            for m in pattern.finditer(text):
                line = _line(text, m.start())
                context = lines[line - 1].strip()[:110] if line <= len(lines) else ""
                out.append((_name(Path(p)), line, f"{what} {m.group(0)!r} in: {context}"))
    return [f"{name}:{line}: {what}" for name, line, what in sorted(out)]


# ----------------------------------------------------------------------------------------------
# the repository
# ----------------------------------------------------------------------------------------------
def test_the_document_has_numbered_sections():
    text = DOC.read_text(encoding="utf-8")
    numbers = HEADING.findall(text)
    assert len(numbers) == len(set(numbers)), f"a section number is used twice: {numbers}"
    for n in numbers:  # every subsection sits in its chapter
        if "." in n:
            assert n.rsplit(".", 1)[0] in numbers, f"§{n} has no chapter §{n.rsplit('.', 1)[0]}"
    assert {"1.1", "1.3", "1.5", "2.3", "3.1", "4.1", "4.6", "4.7", "5.7", "6.3", "7.1", "8.1"} <= set(numbers)


def test_the_scan_covers_the_tree():
    names = {_name(p) for p in scanned_files()}
    assert {"README.md", "docs/implementation.md", "duvae/runs/zoo.py", "notebooks/04_models.py",
            "benchmarks/gpu_check.sh"} <= names
    assert "tests/test_references.py" not in names
    assert not any(n.endswith(".ipynb") for n in names)


def test_every_cited_section_exists():
    dangling = dangling_references(scanned_files())
    assert not dangling, "sections cited but missing from docs/implementation.md:\n" + "\n".join(dangling)


def test_nothing_cites_the_former_notes_or_an_issue_number():
    found = forbidden_references(scanned_files())
    assert not found, ("references a reader cannot follow (cite docs/implementation.md §N.M or the paper, "
                       "and say in words what an issue was about):\n" + "\n".join(found))


# ----------------------------------------------------------------------------------------------
# the checks themselves fail on planted bad references
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def doc(tmp_path):
    path = tmp_path / "implementation.md"
    path.write_text("# Notes\n\n## 1. One\n\n### 1.1 First\n\nSee §1.2 and §1.\n\n### 1.2 Second\n\n## 2. Two\n")
    return path


def test_a_planted_dangling_reference_is_named(tmp_path, doc):
    good = tmp_path / "good.py"
    good.write_text('"""Fine (docs/implementation.md §1.1, step 4; §1.2) and §9.9 of the paper."""\n'
                    "# docs/implementation.md §2 and §1\n")
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n"
                   '"""The head (docs/implementation.md §1.1, step 2; §1.3, item 1)."""\n'
                   "# a chain over two lines: docs/implementation.md\n"
                   "# §4.7\n"
                   "y = 2  # docs/implementation.md §1.1, §1.2, §2.5\n")
    assert dangling_references([good], doc) == []
    found = dangling_references([good, bad], doc)
    assert [f.split(": ", 1)[0] for f in found] == [f"{bad}:2", f"{bad}:4", f"{bad}:5"]
    assert "§1.3 is not a section" in found[0] and "§4.7" in found[1] and "§2.5" in found[2]


def test_the_document_s_own_references_are_checked(tmp_path, doc):
    assert dangling_references([doc], doc) == []
    doc.write_text(doc.read_text() + "\nAs §3.1 says.\n")
    found = dangling_references([doc], doc)
    assert len(found) == 1 and "§3.1" in found[0] and f"{doc}:13" in found[0]


def test_planted_forbidden_references_are_named(tmp_path):
    clean = tmp_path / "clean.py"
    clean.write_text('notes = "a field"\n# the Yahoo NLL-gap study (docs/implementation.md §2.1)\n'
                     "release_notes = 3\n")
    bad = tmp_path / "bad.md"
    bad.write_text("Intro.\n"
                   "As " + _OLD_NOTES_NAME + " 2.1 says.\n"
                   "The head (notes 1.1 step 4).\n"
                   "Metrics (Notes §4.1) and notes 5.\n"
                   "Fixed in issue 29; see also Issues 21 and issue-27.\n"
                   "The numbers quoted in the notes.\n")
    assert forbidden_references([clean]) == []
    found = forbidden_references([clean, bad])
    lines = [int(f.split(":")[1]) for f in found]
    assert lines == [2, 3, 4, 4, 5, 5, 5, 6], found
    assert all(f.startswith(f"{bad}:") for f in found)
    assert any("an issue number 'issue-27' in: Fixed in issue 29" in f for f in found)
