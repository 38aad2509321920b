"""Tables 2 and 3 (probes) and the bf16 / fp32 check as experiment modules: runs, tables, verdicts."""

from __future__ import annotations

import pytest

from duvae.sweep import engine as sweep
from duvae.experiments import precision, table1, table2, table3
from duvae.runs.results import load_results


def test_rows_and_the_papers_tables_agree():
    assert [label for label, _ in table2.ROWS] == list(table2.PAPER)
    assert [label for label, _ in table3.ROWS] == list(table3.PAPER)
    assert all(len(v) == 5 for v in table2.PAPER.values()) and all(len(v) == 3 for v in table3.PAPER.values())
    cfg = {c.model.name: c for c in table2.runs("cpu", 1)}
    assert (cfg["du_vae"].model.gamma, cfg["du_vae"].model.p_keep) == (0.5, 0.8)
    assert (cfg["du_iaf"].model.gamma, cfg["du_iaf"].model.p_keep) == (0.6, 0.7)
    assert cfg["iaf_bn"].model.gamma == 0.7 and cfg["ae"].model.beta == 0.0
    assert {c.dataset for c in cfg.values()} == {"short_yelp"}


def test_table3_runs_are_table1_runs_plus_the_ae():
    mine = {c.run_id() for c in table3.runs("cpu", 2)}
    t1 = {c.run_id() for c in table1.runs("cpu", 2) if c.dataset == "omniglot"}
    assert len(mine) == 22 and len(mine - t1) == 2  # the AE's two seeds are new
    assert all(i.startswith("omniglot-ae-") for i in mine - t1)


def _probe_record(module, label: str, seed: int, values: dict) -> dict:
    name = dict(module.ROWS)[label]
    return {"model": name, "seed": seed, "config": {"model": {"name": name}}, "machine": {"cpu": "AMD EPYC"},
            "extra": {"row": label, "probe": values}}


def test_table2_claims_clear_win_tie_and_missing_rows():
    du, vae, ae = table2.DU_ROW, "VAE", "AE"
    results = [_probe_record(table2, du, s, {"100": [0.90 + 0.001 * s, 0.90]}) for s in range(3)]
    results += [_probe_record(table2, vae, s, {"100": [0.70, 0.71]}) for s in range(3)]
    results += [_probe_record(table2, ae, s, {"100": [0.89 + 0.02 * s, 0.91]}) for s in range(3)]
    c = table2.claims(results, "cpu").loc
    assert c[f"{du} beats VAE at 100 labels", "verdict"] == "holds"
    assert c[f"{du} beats VAE at 100 labels", "difference"] == pytest.approx(19.55, abs=0.01)
    # 90.05 vs 91.00: the opposite sign, but inside AE's spread of 1.26
    assert c[f"{du} beats AE at 100 labels", "verdict"] == "within the spread (opposite sign)"
    assert c[f"{du} beats AE at 100 labels", "half"] == table2.HALF_CONTEXT  # the AE is shown, not counted
    assert c[f"{du} beats VAE at 100 labels", "half"] == table2.HALF_CLASSIC
    assert c[f"{du} beats FB (0.1) at 100 labels", "verdict"] == "inconclusive (missing runs)"
    t = table2.table(results, "cpu")
    # each seed's two draws (0.70, 0.71) average to 70.5: no spread over seeds, whatever the draws do
    assert t.loc["VAE", "100 (paper)"] == 71.10 and t.loc["VAE", "100"] == "70.50 ± 0.00"
    assert t.loc["VAE", "seeds"] == 3 and t.loc["FB (0.1)", "100"] == ""


def test_table2_spreads_are_over_seeds_not_over_pooled_draws():
    """Three seeds whose draws scatter widely around nearly the same mean: the pooled std of the nine
    (seed, draw) values is large, the std of the three seed means small; the tables, the claims and
    the report use the latter."""
    import statistics

    du, bn = table2.DU_ROW, "BN-VAE (0.6)"
    draws = {du: [[0.80, 0.90, 1.00], [0.81, 0.91, 1.01], [0.79, 0.89, 0.99]],
             bn: [[0.84, 0.88, 0.92], [0.85, 0.89, 0.93], [0.83, 0.87, 0.91]]}
    results = [_probe_record(table2, label, s, {"100": d}) for label, per_seed in draws.items()
               for s, d in enumerate(per_seed)]
    pooled = statistics.stdev([100 * a for d in draws[du] for a in d])
    per_seed = statistics.stdev([100 * statistics.mean(d) for d in draws[du]])
    assert pooled > 5 * per_seed  # the constructed case tells the two apart
    assert table2.accuracies(results, du, 100) == pytest.approx([90.0, 91.0, 89.0])
    assert table2.table(results, "cpu").loc[du, "100"] == f"90.00 ± {per_seed:.2f}"
    c = table2.claims(results, "cpu").loc[f"{du} beats {bn} at 100 labels"]
    assert c["spread"] == pytest.approx(per_seed) and c["seeds"] == "3 vs 3"
    # 90.0 vs 88.0, 2 points apart: beyond the per-seed spread (1.0), inside the pooled one (8.2)
    assert c["verdict"] == "holds"


def test_table3_claims_and_table_read_each_seeds_mean_over_alphabets():
    du = table3.DU_ROW
    results = [_probe_record(table3, du, s, {"5": 0.40 + 0.01 * s}) for s in range(3)]
    results += [_probe_record(table3, "BN-VAE (0.5)", s, {"5": 0.40 + 0.01 * s - 0.005}) for s in range(3)]
    c = table3.claims(results).loc[f"{du} beats BN-VAE (0.5) at 5 labels per character"]
    assert c["difference"] == pytest.approx(0.5) and c["verdict"] == "within the spread (paper's sign)"
    assert table3.table(results).loc[du, "5"] == "41.00 ± 1.00"


def test_precision_runs_pair_the_bf16_runs_with_the_fp32_runs_table1_now_plans():
    runs = precision.runs("cpu", 3)
    assert len(runs) == 18 and {c.train.precision for c in runs} == {"bf16", "fp32"}
    t1 = {c.run_id() for c in table1.runs("cpu", 3)}
    bf16 = {c.run_id() for c in runs if c.train.precision == "bf16"}
    fp32 = {c.run_id() for c in runs if c.train.precision == "fp32"}
    # the cpu profile trains Yahoo in fp32 since the precision check: its fp32 runs are Table 1's
    assert fp32 <= t1 and not bf16 & t1 and len(bf16) == 9


def _precision_record(label: str, precision_: str, seed: int, nll: float) -> dict:
    cfg = table1.row_config(label, "yahoo", "cpu", seed).to_dict()
    cfg["train"]["precision"] = precision_
    return {"dataset": "yahoo", "seed": seed, "config": cfg, "machine": {"cpu": "AMD EPYC"}, "wall_seconds": 60.0,
            "metrics": {"nll": nll, "kl": 1.0, "mi": 1.0, "au": 1.0}, "extra": {"row": label, "precision": precision_}}


def test_precision_table_says_which_rows_moved_beyond_the_seed_spread():
    results = [_precision_record("VAE", "bf16", s, 189.7 + 0.1 * s) for s in range(3)]
    results += [_precision_record("VAE", "fp32", s, 189.3 + 0.1 * s) for s in range(3)]  # -0.4, sd 0.1: moved
    results += [_precision_record("DU-VAE (0.6, 0.8)", "bf16", s, 190.8 + 0.5 * s) for s in range(3)]
    results += [_precision_record("DU-VAE (0.6, 0.8)", "fp32", s, 191.0 + 0.5 * s) for s in range(3)]
    t = precision.table(results)
    assert t.loc[("VAE", "NLL"), "verdict"] == "moved beyond the spread"
    assert t.loc[("VAE", "NLL"), "fp32 - bf16"] == pytest.approx(-0.4)
    assert t.loc[("DU-VAE (0.6, 0.8)", "NLL"), "verdict"] == "within the spread"
    assert t.loc[("VAE", "KL"), "verdict"] == "within the spread"
    assert t.loc[("DU-VAE (0.5, 0.8)", "NLL"), "verdict"] == "no results"
    assert precision.moved(results) == ["VAE"]
    pairs, summary = precision.paired(results)
    assert len(pairs) == 6 and summary.loc["VAE", "mean"] == pytest.approx(-0.4)
    assert summary.loc["DU-VAE (0.6, 0.8)", "std"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.slow
def test_probe_sweeps_at_smoke_store_the_accuracies(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("DUVAE_DATA_MIRROR", str(mirror))
    for name, models in (("table2", ["vae", "du_iaf"]), ("table3", ["du_vae", "iaf_bn"])):
        argv = [name, "--profile", "smoke", "--seeds", "1", "--executor", "inline", "--models", *models,
                "--results-dir", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs")]
        assert sweep.main(argv) == 0
        results = {r["model"]: r for r in load_results("smoke", name, tmp_path / "results")}
        assert set(results) == set(models)
        for model, r in results.items():
            e = r["extra"]
            iaf = model.startswith(("du_iaf", "iaf"))
            assert e["features"] == ("concat(mu0, zT)" if iaf else "mu") and ("probe_zT" in e) == iaf
            values = [v for v in e["probe"].values()]
            flat = [a for v in values for a in (v if isinstance(v, list) else [v])]
            assert flat and all(0.0 <= a <= 1.0 for a in flat)
        if name == "table2":
            assert set(results["vae"]["extra"]["probe"]) == {"10", "20"}
            assert len(results["vae"]["extra"]["pca"]["xy"]) == len(results["vae"]["extra"]["pca"]["label"])
        else:
            assert set(results["du_vae"]["extra"]["probe_alphabets"]["5"]) and \
                len(results["du_vae"]["extra"]["probe_alphabets"]["5"]) == table3.PROBE_ALPHABETS["smoke"]


def test_current_results_leave_out_runs_the_experiment_no_longer_plans(tmp_path):
    """After a profile change (bf16 -> fp32 Yahoo), the old results stay on disk but out of the tables."""
    from duvae.experiments import current_results
    from duvae.runs.results import result_path, write_result

    planned = table1.runs("smoke", 2)
    old = planned[0].with_(train=planned[0].train.__class__(**{**planned[0].train.__dict__, "precision": "bf16"}))
    for cfg in (planned[0], planned[1], old):
        write_result(result_path(tmp_path, "smoke", "table1", cfg.run_id()),
                     {"run_id": cfg.run_id(), "model": cfg.model.name, "seed": cfg.train.seed})
    assert len(load_results("smoke", "table1", tmp_path)) == 3
    kept = current_results("smoke", "table1", results_dir=tmp_path)
    assert {r["run_id"] for r in kept} == {planned[0].run_id(), planned[1].run_id()}
    assert [r["run_id"] for r in current_results("smoke", "table1", seeds=1, results_dir=tmp_path)] == \
        [c.run_id() for c in planned[:2] if c.train.seed == table1.REFERENCE_SEED]
