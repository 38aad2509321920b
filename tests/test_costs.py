"""The cost table: measured wall times of finished runs, projections for missing ones, no double counting."""

from __future__ import annotations

import json
import math

import pytest

from duvae.sweep.costs import cost_table, main, run_costs
from duvae.experiments import figure2, scale, table1
from duvae.runs.results import result_path


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


def test_a_larger_size_is_projected_from_its_own_size_only(tmp_path):
    """A missing yahoo_long VAE seed costs what the finished yahoo_long VAE cost, not the mean over
    the size study's sizes of the same model on the same data set."""
    runs = [c for c in scale.runs("smoke", 2) if c.dataset == "yahoo" and c.model.name == "vae"]
    short = [c for c in runs if scale.size_of(c) == "cpu"]
    long = [c for c in runs if scale.size_of(c) == "yahoo_long"]
    assert len(short) == len(long) == 2
    for cfg in short:
        _finish(tmp_path, "scale", cfg, 60.0)
    _finish(tmp_path, "scale", long[0], 600.0)
    rows = {r["run_id"]: r for r in run_costs({"scale": 2}, "smoke", tmp_path)}
    assert rows[long[1].run_id()]["setting"] == rows[long[0].run_id()]["setting"] != rows[short[0].run_id()]["setting"]
    table = cost_table({"scale": 2}, "smoke", jobs=1, results_dir=tmp_path)
    row = table.loc[("scale", "yahoo", "vae")]
    assert row["projected_h"] == pytest.approx((60 + 60 + 600 + 600) / 3600)  # not 600 + 240 for the missing one
    # DU-VAE, never measured: each size's standard-model mean, 60 s short and 600 s long
    du = table.loc[("scale", "yahoo", "du_vae")]
    assert du["projected_h"] == pytest.approx((60 + 60 + 600 + 600) / 3600) and du["basis"] == "data set mean"
    # Omniglot has no finished run at any size: nothing is borrowed from Yahoo
    assert math.isnan(table.loc[("scale", "omniglot", "vae"), "projected_h"])


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


# --- on a GPU: the paper profile projected from measured step times -------------------------------

from duvae.sweep.costs import GPU_PROXY, gpu_projection, gpu_run_hours, load_gpu_measurements  # noqa: E402
from duvae.runs.zoo import run_config  # noqa: E402


def _gpu_measurements(step_s=0.05, models=("vae", "du_vae", "du_iaf"), precisions=("fp32", "bf16")) -> dict:
    """A constructed bench_paper.py file: round numbers, so that the hours can be worked out by hand."""
    data = {"yahoo": {"train_batches": 300, "valid_batches": 20, "test_batches": 160, "n_test": 10000,
                      "test_targets": 800000, "batch_size": 32, "epochs": 100},
            "omniglot": {"train_batches": 450, "valid_batches": 40, "test_batches": 160, "n_test": 8000,
                         "batch_size": 50, "epochs": 500}}
    steps, iw = [], []
    for d in data:
        for m in models:
            for p in precisions:
                steps.append({"dataset": d, "model": m, "precision": p, "step_s": step_s, "eval_batch_s": 0.01})
                iw.append({"dataset": d, "model": m, "precision": p, "samples": 100, "profile_budget": True,
                           "examples_per_s": 10.0, "targets_per_s": 1000.0})
    return {"schema": "duvae-gpu-steps/1", "profile": "paper", "data": data, "steps": steps, "iw_nll": iw,
            "machine": {"device": "cuda", "gpu": "Test GPU", "created": "2026-01-01", "torch": "x", "cuda": "y"}}


def test_gpu_hours_of_one_run_by_hand():
    cfg = run_config("vae", "yahoo", "paper")
    hours = gpu_run_hours(cfg, _gpu_measurements())
    # 100 epochs x (300 steps x 0.05 s + 20 valid batches x 0.01 s); test: 800,000 targets at 1,000/s,
    # measured with K = 100, run with K = 500 (x5), plus 160 test batches x 0.01 s
    assert hours["train_s"] == pytest.approx(100 * (300 * 0.05 + 20 * 0.01))
    assert hours["test_s"] == pytest.approx(800000 / 1000 * 5 + 160 * 0.01)
    assert hours["basis"] == "measured" and hours["step_ms"] == pytest.approx(50)
    images = gpu_run_hours(run_config("vae", "omniglot", "paper"), _gpu_measurements())
    assert images["train_s"] == pytest.approx(500 * (450 * 0.05 + 40 * 0.01))
    assert images["test_s"] == pytest.approx(8000 / 10.0 * 5 + 160 * 0.01)  # images, not tokens


def test_doubling_the_step_time_doubles_the_training_hours():
    one = gpu_projection(_gpu_measurements(0.05), {"table1": 1, "figure2": 1}, precision="bf16")
    two = gpu_projection(_gpu_measurements(0.10), {"table1": 1, "figure2": 1}, precision="bf16")
    rows = [r for r in one.index if r[1] and r[2] != "sa_vae"]
    assert rows
    for r in rows:
        # train = E (n 0.05 + valid 0.01 x m): doubling the step time adds E n 0.05 exactly
        assert two.loc[r, "train_h"] > one.loc[r, "train_h"]
        assert two.loc[r, "test_h"] == pytest.approx(one.loc[r, "test_h"])
    vae = ("table1", "yahoo", "vae")
    assert two.loc[vae, "train_h"] - one.loc[vae, "train_h"] == pytest.approx(100 * 300 * 0.05 / 3600)


def test_proxies_unmeasured_sa_vae_and_the_total():
    table = gpu_projection(_gpu_measurements(), {"table1": 1})
    assert table.loc[("table1", "yahoo", "bn_vae"), "basis"] == "du_vae's times"
    assert table.loc[("table1", "omniglot", "iaf_fb"), "basis"] == "du_iaf's times"
    assert "lower bound" in table.loc[("table1", "yahoo", "agg_vae"), "basis"]
    assert table.loc[("table1", "yahoo", "bn_vae"), "gpu_h"] == pytest.approx(
        table.loc[("table1", "yahoo", "vae"), "gpu_h"])  # same round numbers for every measured model
    assert math.isnan(table.loc[("table1", "yahoo", "sa_vae"), "gpu_h"])  # SA-VAE only with its own times
    assert math.isnan(table.loc[("total", "", ""), "gpu_h"])
    measured = _gpu_measurements()
    measured["steps"].append({"dataset": "yahoo", "model": "sa_vae", "precision": "fp32", "step_s": 1.0,
                              "eval_batch_s": 0.01})
    measured["steps"].append({"dataset": "omniglot", "model": "sa_vae", "precision": "fp32", "step_s": 1.0,
                              "eval_batch_s": 0.01})
    table = gpu_projection(measured, {"table1": 1})
    sa = table.loc[("table1", "yahoo", "sa_vae")]
    assert sa["basis"] == "measured; IW-NLL at vae's rate" and sa["step_ms"] == pytest.approx(1000)
    assert table.loc[("total", "", ""), "gpu_h"] == pytest.approx(table["gpu_h"].iloc[:-1].sum())
    assert set(GPU_PROXY) >= {c.model.name for c in table1.runs("paper", 1)}


def test_a_missing_model_or_data_set_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no measured training step of 'du_iaf' on yahoo in fp32"):
        gpu_projection(_gpu_measurements(models=("vae", "du_vae")), {"table1": 1})
    with pytest.raises(ValueError, match="in bf16"):
        gpu_projection(_gpu_measurements(precisions=("fp32",)), {"table1": 1}, precision="bf16")
    measured = _gpu_measurements()
    del measured["data"]["omniglot"]
    with pytest.raises(ValueError, match="no data sizes for 'omniglot'"):
        gpu_projection(measured, {"table1": 1})
    with pytest.raises(ValueError, match="packing"):
        gpu_projection(_gpu_measurements(), {"table1": 1}, runs_per_gpu=4)
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"schema": "something else"}))
    with pytest.raises(ValueError, match="not a step-time file"):
        load_gpu_measurements(path)
    with pytest.raises(FileNotFoundError, match="bench_paper.py"):
        load_gpu_measurements(tmp_path / "missing.json")


def test_packing_divides_by_the_measured_speedup_and_the_cli_prints_it(tmp_path, capsys):
    packing = {"packing": [{"processes": 1, "speedup_vs_1": 1.0}, {"processes": 4, "speedup_vs_1": 2.5}]}
    one = gpu_projection(_gpu_measurements(), {"figure2": 1})
    four = gpu_projection(_gpu_measurements(), {"figure2": 1}, runs_per_gpu=4, packing=packing)
    assert four.loc[("total", "", ""), "machine_h"] == pytest.approx(one.loc[("total", "", ""), "gpu_h"] / 2.5)
    with pytest.raises(ValueError, match=r"measured: \[1, 4\]"):
        gpu_projection(_gpu_measurements(), {"figure2": 1}, runs_per_gpu=8, packing=packing)
    steps, pack = tmp_path / "steps.json", tmp_path / "packing.json"
    steps.write_text(json.dumps(_gpu_measurements()))
    pack.write_text(json.dumps(packing))
    assert main(["figure2:1", "--gpu", str(steps), "--packing", str(pack), "--runs-per-gpu", "4"]) == 0
    out = capsys.readouterr().out
    assert "| experiment" in out and "measured on Test GPU" in out and "4 run(s) per GPU" in out
