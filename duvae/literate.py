"""Small helpers for the literate notebooks: show the code that implements an equation."""

from __future__ import annotations

import inspect
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def source(obj, contains: str | None = None) -> str:
    """The source of ``obj`` headed by ``file:line``; with ``contains``, only the lines that hold it.

    Used by the notebooks to print, next to an equation, the line of the package that computes it.
    """
    lines, start = inspect.getsourcelines(obj)
    path = Path(inspect.getsourcefile(obj)).resolve()
    try:
        where = path.relative_to(REPO_ROOT)
    except ValueError:
        where = path
    numbered = [(start + i, line.rstrip("\n")) for i, line in enumerate(lines)]
    if contains is not None:
        numbered = [(n, line) for n, line in numbered if contains in line]
        if not numbered:
            raise ValueError(f"no line of {obj.__qualname__} contains {contains!r}")
    body = "\n".join(f"{n:4d}  {line}" for n, line in numbered)
    return f"# {where} :: {obj.__qualname__}\n{body}"


def show_source(obj, contains: str | None = None) -> None:
    """Print :func:`source`."""
    print(source(obj, contains))
