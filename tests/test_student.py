"""The course edition (duvae.book.course): notebook headers, exercises, and the student build.

CI runs the student build twice, here, as part of ``make test``:

- with the reference answers injected, the student notebooks 01-03 execute at ``smoke`` and every
  check cell says "correct" (those three hold the exercises on eq. 3, 5, 6, 9 and Algorithm 1,
  step 9); for 04 and 05, whose full run trains models and is already executed by
  ``test_notebooks.py``, the exercise cells of the built notebook are executed on their own;
- with one deliberately wrong answer injected into notebook 01, the execution fails at that
  exercise and the error carries the hint of that mistake, after the stubbed exercise before it
  has reported "not implemented yet" without stopping the notebook.
"""

from __future__ import annotations

import ast
import re

import jupytext
import nbformat
import pytest

from duvae.book import course
from duvae.book import timings as T
from duvae.book.exercises import EXERCISES
from duvae.book.run import list_notebooks, run_notebook

COURSE = course.course_notebooks()
WITH_EXERCISES = [p for p in COURSE if p.stem != "00_overview"]


def test_the_course_is_notebooks_00_to_05():
    assert [p.stem[:2] for p in COURSE] == ["00", "01", "02", "03", "04", "05"]
    assert {ex.notebook for ex in EXERCISES.values()} == {p.stem for p in WITH_EXERCISES}


@pytest.mark.parametrize("source", COURSE, ids=[p.stem for p in COURSE])
def test_a_course_notebook_opens_with_goals_prerequisites_and_its_measured_run_time(source):
    cells = jupytext.read(source).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")  # the title
    assert cells[1].cell_type == "markdown" and cells[1].source.startswith(course.GOALS_MARKER)
    assert "**Prerequisites.**" in cells[1].source and "**Run time,**" in cells[1].source
    assert cells[2].cell_type == "code" and f'run_time_line("{source.stem}")' in cells[2].source
    assert "parameters" in cells[3].metadata.get("tags", [])


@pytest.mark.parametrize("source", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_a_course_notebook_closes_with_two_to_four_exercises(source):
    cells = jupytext.read(source).cells
    start = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises"))
    assert not any(c.source.startswith("## ") for c in cells[start + 1:])  # the last section
    tail = cells[start:]
    numbers = re.findall(r"\*\*Exercise (\d+) ", "\n".join(c.source for c in tail if c.cell_type == "markdown"))
    assert 2 <= len(numbers) <= 4 and numbers == [str(i + 1) for i in range(len(numbers))], numbers
    solutions = [i for i, c in enumerate(cells) if course.is_solution(c)]
    assert solutions and min(solutions) > start  # answers only in the exercises
    for i in solutions:
        cell = cells[i]
        if cell.cell_type == "markdown":
            continue
        (name,) = course.solution_functions(cell.source)  # one function per answer cell
        after = cells[i + 1]
        assert after.cell_type == "code" and not course.is_solution(after)
        key = next(k for k, ex in EXERCISES.items() if ex.function == name)
        assert f"check_{key}({name})" in after.source, (name, after.source)
        assert "duvae" not in cell.source, f"{name}: an answer is written out, it calls nothing from the package"


def test_run_time_line_reads_the_committed_timings(tmp_path):
    timings = tmp_path / "timings.csv"
    timings.write_text(
        "notebook,profile,seconds,measured_on,cpu,cores,load_1min,commit,how\n"
        "01_x,smoke,7.43,2026-01-02,AMD EPYC 7B13 64-Core Processor,2,1.5,abc,run_notebooks\n"
        "01_x,cpu,10.0,2026-01-03,AMD EPYC 7B13 64-Core Processor,2,,abc,README\n")
    line = T.run_time_line("01_x", timings)
    assert line.startswith("measured run time: smoke 7.4 s (2026-01-02, AMD EPYC 7B13, 2 cores, load 1.5), "
                           "cpu 10.0 s (2026-01-03, AMD EPYC 7B13, 2 cores); not measured: paper")
    assert "none recorded yet" in T.run_time_line("02_y", timings)


def test_record_timings_merges_a_build(tmp_path):
    build = tmp_path / "build.csv"
    build.write_text("notebook,profile,seconds,ok\n01_x,smoke,7.4,True\n02_y,smoke,3.0,False\n")
    timings = tmp_path / "timings.csv"
    timings.write_text("notebook,profile,seconds,measured_on,cpu,cores,load_1min,commit,how\n"
                       "01_x,smoke,99.0,2020-01-01,old,1,,old,old\n01_x,cpu,10.0,2020-01-01,old,1,,old,old\n")
    T.record_timings(build, timings)
    rows = {(r["notebook"], r["profile"]): r for r in T.read_timings(timings)}
    assert set(rows) == {("01_x", "smoke"), ("01_x", "cpu")}  # the failed run is not recorded
    assert rows["01_x", "smoke"]["seconds"] == "7.4" and rows["01_x", "smoke"]["cpu"] != "old"
    assert rows["01_x", "cpu"]["seconds"] == "10.0"


def test_the_committed_timings_cover_every_course_notebook_at_smoke_and_cpu():
    rows = T.read_timings()
    have = {(r["notebook"], r["profile"]) for r in rows}
    for source in COURSE:
        for profile in ("smoke", "cpu"):
            assert (source.stem, profile) in have, (source.stem, profile)
    assert {r["notebook"] for r in rows} <= {p.stem for p in list_notebooks()}


def test_stub_keeps_the_header_and_drops_the_body():
    source = ('import math\n\n\ndef f(x, y=2):\n    """Doc."""\n    z = x + y  # the answer\n    return z\n\n\n'
              'def g(v):\n    return math.log(v)\n')
    stub = course.stub_source(source)
    assert "import math" in stub and 'def f(x, y=2):\n    """Doc."""\n    raise NotImplementedError' in stub
    assert "def g(v):\n    raise NotImplementedError" in stub
    assert "x + y" not in stub and "math.log(v)" not in stub
    ns: dict = {}
    exec(stub, ns)
    with pytest.raises(NotImplementedError):
        ns["f"](1)
    with pytest.raises(ValueError, match="imports and function definitions only"):
        course.stub_source("x = 1\n")


def test_the_student_build_stubs_every_answer(tmp_path):
    paths = course.build_student(tmp_path)
    assert [p.stem for p in paths] == [p.stem for p in COURSE]
    listing = (tmp_path / "EXERCISES.md").read_text()
    for ex in EXERCISES.values():
        assert f"check_{ex.key}`" in listing and ex.function in listing
    for source, built in zip(COURSE, paths):
        original = jupytext.read(source)
        nb = nbformat.read(built, as_version=4)
        nbformat.validate(nb)
        assert "jupytext" not in nb.metadata
        assert len(nb.cells) == len(original.cells) + 1  # the student-edition note
        assert "Student edition" in nb.cells[1].source
        rest = [nb.cells[0]] + nb.cells[2:]
        for before, after in zip(original.cells, rest):
            assert not course.is_solution(after)
            if not course.is_solution(before):
                assert after.source == before.source
                continue
            assert course.EXERCISE_TAG in after.metadata["tags"]
            if before.cell_type == "markdown":
                assert after.source == course.MARKDOWN_STUB
                continue
            names = course.solution_functions(before.source)
            assert course.solution_functions(after.source) == names
            ns: dict = {}
            exec(after.source, ns)
            for name in names:
                fn = ns[name]
                with pytest.raises(NotImplementedError):
                    fn(*([None] * len(ast.parse(before.source).body[-1].args.args)))
            body = before.source.split('"""')[-1].strip()  # the answer's body after the docstring
            assert body.splitlines()[-1] not in after.source
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None


def test_the_student_build_refuses_an_answer_for_no_exercise(tmp_path):
    with pytest.raises(KeyError, match="my_typo"):
        course.build_student(tmp_path, answers={"my_typo": "def my_typo():\n    pass\n"}, only=["01"])
    with pytest.raises(ValueError):
        course.build_student(tmp_path, answers="all of them")


def test_make_student_command(tmp_path, capsys):
    assert course.main(["student", "--output", str(tmp_path / "student"), "01"]) == 0
    assert (tmp_path / "student" / "01_diversity_and_uncertainty.ipynb").is_file()
    assert "1 student notebooks" in capsys.readouterr().out


def _outputs(nb) -> list[str]:
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text") or out.get("data", {}).get("text/plain", ""))
    return texts


def _check_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and re.search(r"^check_\w+\(", c.source, re.M)]


# ---- CI run 1: the student build with the reference answers injected --------------------------

FULL_RUN = [p for p in WITH_EXERCISES if p.stem[:2] in ("01", "02", "03")]


@pytest.mark.parametrize("source", FULL_RUN, ids=[p.stem for p in FULL_RUN])
def test_student_build_with_reference_answers_passes_every_check(source, tmp_path, monkeypatch):
    monkeypatch.setenv("DUVAE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DUVAE_RESULTS_DIR", str(tmp_path / "results"))
    (built,) = course.build_student(tmp_path / "student", answers="reference", only=[source.stem])
    run = run_notebook(built, tmp_path / "out", profile="smoke", seed=0, device="cpu", timeout=600)
    assert run.ok, run.error
    executed = nbformat.read(tmp_path / "out" / "notebooks" / built.name, as_version=4)
    checks = _check_cells(executed)
    assert len(checks) == sum(ex.notebook == source.stem for ex in EXERCISES.values()) >= 2
    for cell in checks:
        text = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
        assert ": correct (" in text, (cell.source, text)


@pytest.mark.parametrize("source", [p for p in WITH_EXERCISES if p not in FULL_RUN],
                         ids=[p.stem for p in WITH_EXERCISES if p not in FULL_RUN])
def test_student_build_with_reference_answers_exercise_cells(source, tmp_path):
    """04 and 05 train models in their full run; here only their built exercise and check cells run."""
    (built,) = course.build_student(tmp_path, answers="reference", only=[source.stem])
    nb = nbformat.read(built, as_version=4)
    ns: dict = {}
    results = []
    for i, cell in enumerate(nb.cells):
        if course.EXERCISE_TAG in cell.metadata.get("tags", []) and cell.cell_type == "code":
            exec(cell.source, ns)
            check = nb.cells[i + 1].source
            *setup, last = check.strip().splitlines()
            exec("\n".join(setup), ns)
            results.append(eval(last, ns))
    assert len(results) == sum(ex.notebook == source.stem for ex in EXERCISES.values()) >= 1
    assert all(results), results


# ---- CI run 2: the student build with a deliberately wrong answer ----------------------------

WRONG_EQ5 = '''import math

import torch


def my_conditional_entropy(var):
    return 0.5 * math.log(2 * math.pi * math.e) + torch.log(var).mean(0)  # the 1/2 forgotten
'''


def test_student_build_with_a_wrong_answer_fails_with_its_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("DUVAE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DUVAE_RESULTS_DIR", str(tmp_path / "results"))
    (built,) = course.build_student(tmp_path / "student", answers={"my_conditional_entropy": WRONG_EQ5},
                                    only=["01"])
    run = run_notebook(built, tmp_path / "out", profile="smoke", seed=0, device="cpu", timeout=600)
    assert not run.ok
    hint = next(m.hint for m in EXERCISES["eq5"].mistakes if "1/2 in front" in m.hint)
    assert "ExerciseFailed" in run.error and hint in run.error, run.error
    executed = nbformat.read(tmp_path / "out" / "notebooks" / built.name, as_version=4)
    outputs = "\n".join(_outputs(executed))
    assert "Eq. 3 (MPD per dimension): not implemented yet" in outputs  # the stub before it did not stop the run


def test_the_course_page_lists_every_exercise():
    section = (course.REPO_ROOT / "docs" / "course.md").read_text()
    for ex in EXERCISES.values():
        assert f"`check_{ex.key}`" in section and f"`{ex.function}(" in section, ex.key
    assert "make student" in section
