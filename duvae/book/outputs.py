"""Where notebooks write what they produce.

The main job (:mod:`duvae.book.run`) sets ``DUVAE_OUTPUT_DIR`` to ``build/<profile>``; a
notebook opened by hand in JupyterLab writes under ``build/interactive``. Figures go to
``<output>/figures/*.png``, tables to ``<output>/tables/*.csv`` (and a Markdown twin).
"""

from __future__ import annotations

import os
from pathlib import Path

from duvae.book.sources import REPO_ROOT


def output_dir() -> Path:
    """``$DUVAE_OUTPUT_DIR``, else ``build/interactive`` at the repository root (created)."""
    env = os.environ.get("DUVAE_OUTPUT_DIR")
    path = Path(env) if env else REPO_ROOT / "build" / "interactive"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig, name: str, dpi: int = 120) -> Path:
    """Save a matplotlib figure as ``<output>/figures/<name>.png`` and return the path."""
    folder = output_dir() / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(name).stem}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def save_table(df, name: str, float_format: str = "%.3f") -> Path:
    """Save a pandas DataFrame as ``<output>/tables/<name>.csv`` and ``.md``; return the csv path."""
    folder = output_dir() / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(name).stem}.csv"
    df.to_csv(path, float_format=float_format)
    path.with_suffix(".md").write_text(df.to_markdown(floatfmt=float_format.lstrip("%")) + "\n")
    return path


def show_table(df, name: str, title: str | None = None, float_format: str = "%.3f") -> Path:
    """:func:`save_table`, then show ``df`` in the notebook, under ``title`` (Markdown) if given; return the csv path."""
    from IPython.display import Markdown, display

    path = save_table(df, name, float_format)
    if title is not None:
        display(Markdown(title))
    display(df)
    return path
