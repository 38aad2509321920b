r"""The course edition: the student build of the course notebooks.

Every course notebook (00-05) opens with its learning goals, its prerequisites and its measured run
time (:mod:`duvae.book.timings`), and closes with exercises whose reference answers and checks live
in :mod:`duvae.book.exercises`.

**The student build.** An exercise is a Markdown question, a code cell tagged ``solution`` (jupytext
cell metadata, ``# %% tags=["solution"]``) that holds the reference answer written out as a short
function using only torch, and an untagged check cell ``exercises.check_eq3(my_mpd)``. A pen-and-paper
question may have a Markdown answer tagged ``solution`` as well. :func:`build_student` writes
``build/student/NN_name.ipynb``: unexecuted, outputs cleared, and every ``solution`` cell replaced
by a stub made from the function's own header (``ast``): its signature and docstring, then
``raise NotImplementedError``; a Markdown answer becomes "*Your answer.*". The stubs are tagged
``exercise``. Nothing else changes, so the student runs the same notebook as the reader of the
reference one.

What a student sees when running a stubbed notebook: every check cell reports "not implemented
yet" (a :class:`duvae.book.exercises.CheckResult`, no exception), so the whole notebook runs; a wrong
answer raises :class:`duvae.book.exercises.ExerciseFailed` with the hint, which stops the run at that
cell, as a failing test would.

``answers`` injects code in place of the stubs (for CI, and for an instructor checking a hand-in):
``"reference"`` keeps the reference solutions; a mapping ``{function name: source}`` replaces the
solution cell that defines that function and stubs the others. CI (``tests/test_student.py``, part
of ``make test``) runs the build twice: with the reference injected every check prints "correct";
with one deliberately wrong answer the execution fails and the error carries that mistake's hint.

Usage::

    python -m duvae.book.course student [--output build/student]   # what `make student` runs
"""

from __future__ import annotations

import argparse
import ast
import copy
import sys
from collections.abc import Mapping
from pathlib import Path

from duvae.book.sources import REPO_ROOT, list_notebooks

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
GOALS_MARKER = "**Learning goals.**"  # the header cell of a course notebook starts so
MARKDOWN_STUB = "**Your answer.** *(write it here)*"


# --------------------------------------------------------------------------------------------------
# the student build
# --------------------------------------------------------------------------------------------------


def solution_functions(source: str) -> list[str]:
    """The names of the functions a ``solution`` code cell defines (it may hold nothing else but imports)."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            names.append(node.name)
        elif not isinstance(node, (ast.Import, ast.ImportFrom)):
            raise ValueError("a solution cell holds imports and function definitions only; found "
                             f"{type(node).__name__} at line {node.lineno}:\n{source}")
    return names


def stub_source(source: str) -> str:
    """The student's version of a ``solution`` cell: imports kept, each function reduced to its header.

    The header (decorators, ``def`` line(s), docstring) is copied verbatim from ``source``; the body
    becomes ``raise NotImplementedError(...)``.
    """
    solution_functions(source)  # refuses cells with other statements
    lines = source.splitlines()
    out = ["# Your answer: replace `raise NotImplementedError(...)` by the body of the function."]
    for node in ast.parse(source).body:
        start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.extend(lines[start - 1:node.end_lineno])
            continue
        first = node.body[0]
        has_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
            and isinstance(first.value.value, str)
        header_end = first.end_lineno if has_doc else first.lineno - 1
        if header_end < node.lineno:  # a one-line function: def f(x): return x
            raise ValueError(f"write the solution {node.name} over several lines (its body on its own line)")
        indent = " " * first.col_offset
        out.append("")
        out.extend(lines[start - 1:header_end])
        out.append(f'{indent}raise NotImplementedError("{node.name}: your answer")')
    return "\n".join(out).strip() + "\n"


def is_solution(cell) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_cell(cell, answers: str | Mapping[str, str] | None = None, used: set[str] | None = None):
    """The student-edition copy of one cell (``cell`` itself is not modified)."""
    cell = copy.deepcopy(cell)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    if not is_solution(cell):
        return cell
    tags = [t for t in cell.metadata.get("tags", []) if t != SOLUTION_TAG] + [EXERCISE_TAG]
    cell.metadata["tags"] = tags
    if cell.cell_type == "markdown":
        if answers != "reference":
            cell.source = MARKDOWN_STUB
        return cell
    names = solution_functions(cell.source)
    if answers == "reference":
        return cell
    injected = [n for n in names if isinstance(answers, Mapping) and n in answers]
    if injected:
        cell.source = "\n\n".join(answers[n] for n in injected)
        if used is not None:
            used.update(injected)
    else:
        cell.source = stub_source(cell.source)
    return cell


def is_course_notebook(source: Path) -> bool:
    """A course notebook opens with a learning-goals cell (:data:`GOALS_MARKER`)."""
    return GOALS_MARKER in Path(source).read_text()


def course_notebooks(only: list[str] | None = None) -> list[Path]:
    """The notebooks of the course (00-05 today), in order; ``only`` keeps names starting so."""
    return [p for p in list_notebooks(only=only) if is_course_notebook(p)]


def student_notebook(source: Path, answers: str | Mapping[str, str] | None = None,
                     used: set[str] | None = None):
    """The student edition of one ``py:percent`` notebook, as an nbformat notebook."""
    import jupytext
    from nbconvert.preprocessors import Preprocessor

    class StubSolutions(Preprocessor):
        """nbconvert preprocessor: clear outputs, replace ``solution`` cells by stubs (or answers)."""

        def preprocess_cell(self, cell, resources, index):
            return student_cell(cell, answers, used), resources

    nb = jupytext.read(source)
    nb, _ = StubSolutions().preprocess(nb, {})
    nb.metadata.pop("jupytext", None)  # a plain notebook, not paired with a .py file
    if answers is None:
        import nbformat

        from duvae.runs.results import git_commit

        note = nbformat.v4.new_markdown_cell(
            f"*Student edition* (built by `make student` from commit `{git_commit()[:12]}`). The cells tagged "
            "`exercise` near the end are yours: each raises `NotImplementedError` until you write its body, "
            "and the check cell under it says *correct*, *not implemented yet*, or stops with a hint.")
        nb.cells.insert(1, note)
    return nb


def build_student(out_dir: Path | str = REPO_ROOT / "build" / "student",
                  answers: str | Mapping[str, str] | None = None, only: list[str] | None = None) -> list[Path]:
    """Write the student edition of the course notebooks to ``out_dir``; return the paths written.

    ``answers``: ``None`` (stubs, what a student gets), ``"reference"`` (the reference solutions) or
    ``{function name: source}`` (those cells replaced, the others stubbed; every name must exist).
    Also writes ``out_dir/EXERCISES.md``, the list of exercises and how to check them.
    """
    import jupytext

    if answers is not None and answers != "reference" and not isinstance(answers, Mapping):
        raise ValueError(f"answers must be None, 'reference' or a mapping of function names to code, got {answers!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    written = []
    for source in course_notebooks(only):
        nb = student_notebook(source, answers, used)
        path = out_dir / f"{source.stem}.ipynb"
        jupytext.write(nb, path)
        written.append(path)
    if isinstance(answers, Mapping) and set(answers) - used:
        raise KeyError(f"no solution cell defines {sorted(set(answers) - used)} in {[p.stem for p in written]}")
    (out_dir / "EXERCISES.md").write_text(exercises_markdown())
    return written


def exercises_markdown() -> str:
    """The exercises as a Markdown table, for the student build and the README."""
    from duvae.book.exercises import exercise_table

    rows = exercise_table()
    out = ["# Exercises", "",
           "Open each notebook, write the function in the cell tagged `exercise` (it raises "
           "`NotImplementedError` until you do) and run the check cell under it: it prints *correct*, "
           "*not implemented yet*, or stops with a hint.", "",
           "| notebook | exercise | you write | check | reference answer |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| `{r['notebook']}` | {r['exercise']} | `{r['student writes']}` | `{r['check']}` | "
                   f"`{r['reference']}` |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("student", help="write the student edition of the course notebooks")
    st.add_argument("--output", type=Path, default=REPO_ROOT / "build" / "student")
    st.add_argument("--answers", choices=["stubs", "reference"], default="stubs",
                    help="stubs (default, what students get) or the reference answers")
    st.add_argument("only", nargs="*", help="only notebooks whose name starts with one of these")
    args = parser.parse_args(argv)
    paths = build_student(args.output, None if args.answers == "stubs" else "reference", args.only or None)
    for p in paths:
        print(f"  {p}")
    print(f"{len(paths)} student notebooks and EXERCISES.md in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
