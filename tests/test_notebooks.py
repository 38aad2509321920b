"""Every notebook in notebooks/ executes end to end with the ``smoke`` profile.

New notebooks are picked up automatically (``NN_name.py``); a failing cell fails the test and the
message carries papermill's traceback.
"""

from __future__ import annotations

import pytest

from duvae.run_notebooks import list_notebooks, run_notebook

NOTEBOOKS = list_notebooks()


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_with_smoke_profile(source, tmp_path, monkeypatch):
    monkeypatch.setenv("DUVAE_RUNS_DIR", str(tmp_path / "runs"))  # trained models stay in tmp
    monkeypatch.setenv("DUVAE_RESULTS_DIR", str(tmp_path / "results"))  # and so do their results
    run = run_notebook(source, tmp_path, profile="smoke", seed=0, device="cpu", timeout=600)
    assert run.ok, run.error
    assert (tmp_path / "notebooks" / f"{source.stem}.ipynb").is_file()
