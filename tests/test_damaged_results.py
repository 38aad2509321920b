"""A damaged result file names itself: every reader of ``results/`` says which file and how to restore it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from duvae.report import publish as report
from duvae.runs.results import DamagedResult, load_results, read_result

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def damaged(tmp_path):
    """A copy of the committed ``cpu`` Table 2 results with one file truncated to half its length."""
    src = ROOT / "results" / "cpu" / "table2"
    if not src.is_dir():
        pytest.skip("no committed table2 results")
    dst = tmp_path / "results" / "cpu" / "table2"
    shutil.copytree(src, dst)
    victim = sorted(dst.glob("*.json"))[3]
    text = victim.read_text()
    victim.write_text(text[: len(text) // 2])
    return tmp_path / "results", victim


def test_a_truncated_result_names_its_file_and_both_ways_out(damaged):
    results_dir, victim = damaged
    with pytest.raises(DamagedResult) as info:
        load_results("cpu", "table2", results_dir)
    message = str(info.value)
    assert victim.name in message and "not valid JSON" in message
    assert f"git checkout -- {victim}" in message  # outside the repository: the path as given
    assert "python -m duvae.sweep table2 --profile cpu" in message


def test_the_readme_report_names_the_damaged_file(damaged):
    results_dir, victim = damaged
    with pytest.raises(DamagedResult, match=victim.name):
        report.readme_section("cpu", results_dir)


@pytest.mark.parametrize("content,what", [(b"[1, 2]", "a JSON list"), (b'{"run_id": "x"}', "it lacks model"),
                                          (b'{"a": "\xff\xfe"}', "not UTF-8"), (b"", "not valid JSON")])
def test_other_damage_is_named_too(tmp_path, content, what):
    path = tmp_path / "cpu" / "table1" / "x.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(DamagedResult, match=what):
        read_result(path)


def test_a_committed_result_inside_the_repository_is_named_relative_to_it():
    path = next((ROOT / "results" / "cpu" / "table1").glob("*.json"), None)
    if path is None:
        pytest.skip("no committed results")
    assert read_result(path)["run_id"] == path.stem
    from duvae.runs.results import _shown

    assert _shown(path) == f"results/cpu/table1/{path.name}"
