"""The cost table: measured wall times of finished runs, projections for missing ones, no double counting."""

from __future__ import annotations

import json
import math

import pytest

from duvae.costs import cost_table, main, run_costs
from duvae.experiments import figure2, table1
from duvae.results import result_path


def _finish(tmp_path, experiment, cfg, seconds, cpu="Test CPU"):
    path = result_path(tmp_path, "smoke", experiment, cfg.run_id())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"wall_seconds": seconds, "machine": {"cpu": cpu}}))


def test_measured_projected_and_unmeasured(tmp_path):
    runs = table1.runs("smoke", 2)
    omni = [c for c in runs if c.dataset == "omniglot"]
    vae = [c for c in omni if c.model.name == "vae"]
    fb = [c for c in omni if c.model.name == "fb"]
    _finish(tmp_path, "table1", vae[0], 60.0)
    _finish(tmp_path, "table1", fb[0], 120.0)
    table = cost_table({"table1": 2}, "smoke", jobs=2, results_dir=tmp_path)
    row = table.loc[("table1", "omniglot", "vae")]
    assert (row["runs"], row["finished"]) == (2, 1)
    assert row["measured_h"] == pytest.approx(60 / 3600)
    assert row["projected_h"] == pytest.approx(120 / 3600)  # the missing seed at the same model's mean
    assert row["basis"] == "same model" and row["machine_h"] == pytest.approx(60 / 3600)
    # a standard model without a measurement: the data set's standard-procedure mean (90 s)
    mae = table.loc[("table1", "omniglot", "mae")]
    assert mae["projected_h"] == pytest.approx(2 * 90 / 3600) and mae["basis"] == "data set mean"
    # SA-VAE is never guessed from the standard models
    sa = table.loc[("table1", "omniglot", "sa_vae")]
    assert math.isnan(sa["projected_h"]) and sa["basis"] == "unmeasured"
    total = table.loc[("total", "", "")]
    assert total["finished"] == 2 and total["measured_h"] == pytest.approx(180 / 3600)
    assert math.isnan(total["projected_h"])  # unknown while any part is unmeasured


def test_a_run_shared_by_two_experiments_counts_once(tmp_path):
    shared = {c.run_id() for c in figure2.runs("smoke", 1)} & {c.run_id() for c in table1.runs("smoke", 1)}
    assert shared
    rows = run_costs({"table1": 1, "figure2": 1}, "smoke", tmp_path)
    ids = [r["run_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert len(ids) == len(table1.runs("smoke", 1)) + len(figure2.runs("smoke", 1)) - len(shared)


def test_cli_prints_a_markdown_table(tmp_path, capsys):
    _finish(tmp_path, "table1", table1.runs("smoke", 1)[0], 30.0, cpu="Some CPU")
    assert main(["table1:1", "--profile", "smoke", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| experiment" in out and "measured on: Some CPU" in out
    with pytest.raises(SystemExit):
        main(["table1", "--profile", "smoke"])


def test_a_resumed_run_costs_all_its_epochs(tmp_path):
    cfg = table1.runs("smoke", 1)[0]
    path = result_path(tmp_path, "smoke", "table1", cfg.run_id())
    path.parent.mkdir(parents=True)
    # resumed: this call's wall time (100 s) saw only the last epochs; the epochs sum to 300 s, test 50 s
    path.write_text(json.dumps({"wall_seconds": 100.0, "train_seconds": 300.0, "metrics": {"test_seconds": 50.0},
                                "machine": {"cpu": "x"}}))
    (row,) = [r for r in run_costs({"table1": 1}, "smoke", tmp_path) if r["run_id"] == cfg.run_id()]
    assert row["seconds"] == 350.0
