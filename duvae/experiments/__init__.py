"""The paper's experiments, one module each: which runs, the paper's numbers, how results become a table.

Each module declares, as plain data and small functions:

- ``NAME``: the experiment's name (the folder under ``results/<profile>/``);
- ``runs(profile, seeds) -> list[RunConfig]``: every run it needs (seeds offset the reference seed);
- ``extra_from_config(cfg) -> dict`` (optional): labels that follow from the run's config alone
  (a Table 1 row, a Figure 2 cell), stored in its result;
- ``extra_metrics(run) -> dict`` (optional): what the experiment measures on a finished run
  beyond the test metrics, stored in the run's result so notebooks need no checkpoint. An
  experiment without it reuses the committed result of a run another experiment shares with it
  (:func:`duvae.sweep.engine.copy_shared`) instead of re-training it;
- ``PAPER``: the paper's numbers or statements, as data;
- ``table(results) -> DataFrame``: one row per model, mean +- std over seeds, the paper beside ours.

``yours`` is not the paper's: it runs the models on a user's own data (``--data``, docs/your_data.md),
and its ``runs`` also takes the models to run.

:func:`current_results` reads an experiment's committed results that its current plan still lists.
:mod:`duvae.sweep.engine` runs them: ``python -m duvae.sweep figure1 --profile cpu --seeds 3``.
"""

from __future__ import annotations

import importlib
import os

from duvae.runs.config import REFERENCE_SEED
from duvae.runs.results import load_results

EXPERIMENTS = ("figure1", "table1", "figure2", "precision", "table2", "table3", "scale", "inside", "gap", "yours")


def check_seeds(seeds) -> int:
    """Refuse a number of seeds that is not a positive integer."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")
    return seeds


def get(name: str):
    """The experiment module ``duvae.experiments.<name>``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {EXPERIMENTS}")
    return importlib.import_module(f"duvae.experiments.{name}")


def current_results(profile: str, experiment: str, seeds: int | None = None,
                    results_dir: str | os.PathLike | None = None) -> list[dict]:
    """The results of ``experiment`` that are runs of its *current* plan, ``runs(profile, seeds)``.

    A result whose run id the experiment no longer plans (its profile changed since, e.g. the
    ``cpu`` Yahoo runs trained in bf16 before the profile moved to fp32) is left out, so that a
    table never mixes two configurations; so is a result of a seed beyond ``seeds`` (default: every
    committed seed). :func:`load_results` still returns everything.
    """
    records = load_results(profile, experiment, results_dir)
    if not records:
        return []
    if seeds is None:
        seeds = max(1, max(int(r["seed"]) - REFERENCE_SEED + 1 for r in records))
    planned = {c.run_id() for c in get(experiment).runs(profile, seeds)}
    return [r for r in records if r["run_id"] in planned]
