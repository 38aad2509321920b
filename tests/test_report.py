"""The README's generated Results section (the published pages are the book's: tests/test_book.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from duvae.report import publish as report

ROOT = Path(__file__).resolve().parents[1]


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


def test_the_old_html_command_points_at_the_book(capsys):
    assert report.main(["html"]) == 2
    assert "make book" in capsys.readouterr().err


def test_the_section_sets_our_yahoo_text_path_beside_the_official_code_only_where_we_have_runs(tmp_path):
    section = report.readme_section("cpu", tmp_path / "no-results")
    assert "**Our Yahoo text path against the official code**: no fp32 Yahoo result of ours yet" in section
    committed = report.readme_section("cpu")
    part = committed.split("**Our Yahoo text path against the official code**")[1].split("**What the runs cost")[0]
    assert "| VAE |" in part and "Welch's t" in part and "At `yahoo_long` (notebook 10):" in part
    assert report.readme_section("smoke", tmp_path / "no-results").count("official code") == 0  # cpu only
