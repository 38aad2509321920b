"""The notebooks' reviewed sources: where they live and in which order they are read.

Each notebook is a jupytext ``py:percent`` file ``notebooks/NN_name.py``; the two digits give the
order of the book (00 the overview, 01-05 the theory and models, 06-12 the experiments and the
report). Every module of :mod:`duvae.book` finds them here.
"""

from __future__ import annotations

from pathlib import Path

#: the repository's root (the folder holding ``duvae/`` and ``notebooks/``)
REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def list_notebooks(notebook_dir: Path = NOTEBOOK_DIR, only: list[str] | None = None) -> list[Path]:
    """The ``py:percent`` notebook sources, in order; ``only`` keeps names starting with a prefix."""
    paths = sorted(p for p in notebook_dir.glob("[0-9][0-9]_*.py"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(o) for o in only)]
    return paths
