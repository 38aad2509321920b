"""The size study: Table 1's rows at the cpu size and larger, their run ids, verdicts, figure."""

from __future__ import annotations

import dataclasses

import pytest

from duvae.sweep import engine as sweep

from duvae.experiments import verdicts
from duvae.runs.config import REFERENCE_SEED, run_identity
from duvae.experiments import scale, table1
from duvae.runs.results import load_results


def _fields(cfg) -> dict:
    """Every field of a run config, flat (``section.name``)."""
    return {f"{section}.{k}": v for section, d in cfg.to_dict().items() if isinstance(d, dict) for k, v in d.items()}


def test_the_cpu_size_is_table1s_runs_and_the_larger_sizes_are_new():
    runs = scale.runs("cpu", 3)
    t1 = {c.run_id() for c in table1.runs("cpu", 3)}
    by_size = {}
    for c in runs:
        by_size.setdefault(scale.size_of(c), []).append(c)
    assert set(by_size) == {"cpu", *scale.LARGER}
    assert len(by_size["cpu"]) == 18 and {c.run_id() for c in by_size["cpu"]} <= t1
    assert all(c.run_id() not in t1 for size in scale.LARGER for c in by_size[size])
    assert len({c.run_id() for c in runs}) == len(runs) == 18 + 7 + 9  # yahoo_long: 3 + 1 + 3 seeds at cpu (its caps)
    for c in by_size["cpu"]:  # what the sweep stores with a copied Table 1 result
        assert scale.extra_from_config(c) == {"row": table1.row_of({"config": c.to_dict(), "dataset": c.dataset}),
                                              "size": "cpu"}
    rows = {(c.dataset, scale.extra_from_config(c)["row"]) for c in runs}
    assert rows == {(ds, label) for ds in scale.DATASETS for label in scale.ROWS[ds]}


@pytest.mark.parametrize("profile", ["cpu", "smoke"])
@pytest.mark.parametrize("size", ["yahoo_long", "omniglot_deep", "omniglot_paper"])
def test_a_larger_size_differs_from_table1_only_in_its_named_fields(size, profile):
    dataset = scale.SIZES[size].dataset
    named = scale.overrides(size, profile)
    for label in scale.ROWS[dataset]:
        base = table1.row_config(label, dataset, profile, REFERENCE_SEED + 1)
        big = scale.sized(base, size)
        a, b = _fields(base), _fields(big)
        changed = {k.split(".", 1)[1] for k in a if a[k] != b[k]}
        assert changed and changed <= set(named), (changed, named)
        assert all(getattr(big.train if hasattr(big.train, k) else big.net, k) == v for k, v in named.items())
        assert scale.size_of(big) == size and scale.size_of(base) == "cpu"


def test_the_cpu_overrides_are_the_issues():
    long = scale.sized(table1.row_config("VAE", "yahoo", "cpu", REFERENCE_SEED), "yahoo_long")
    assert (long.train.max_len, long.train.max_vocab, long.train.max_train) == (200, None, 9000)
    assert (long.train.max_valid, long.train.max_test, long.train.precision) == (1000, 500, "fp32")
    deep = scale.sized(table1.row_config("VAE", "omniglot", "cpu", REFERENCE_SEED), "omniglot_deep")
    assert len(deep.net.pixelcnn_kernels) == 8 and deep.net.pixelcnn_channels == 32 and deep.net.img_channels == 16
    paper = scale.sized(table1.row_config("VAE", "omniglot", "cpu", REFERENCE_SEED), "omniglot_paper")
    assert paper.net.pixelcnn_kernels == scale.PAPER_KERNELS and paper.net.pixelcnn_channels == 64
    with pytest.raises(ValueError, match="for omniglot"):
        scale.sized(table1.row_config("VAE", "yahoo", "cpu", REFERENCE_SEED), "omniglot_deep")


def test_an_unset_added_field_leaves_old_run_ids_alone():
    cfg = table1.row_config("VAE", "omniglot", "cpu", REFERENCE_SEED)
    assert "pixelcnn_channels" not in run_identity(cfg.to_dict())["net"]
    wider = cfg.with_(net=dataclasses.replace(cfg.net, pixelcnn_channels=32))
    assert wider.run_id() != cfg.run_id()


def test_smoke_paper_and_the_size_argument():
    smoke = scale.runs("smoke", 1)
    assert len(smoke) == 12 and {scale.size_of(c) for c in smoke} == {"cpu", *scale.LARGER}
    assert {scale.size_of(c) for c in scale.runs("paper", 1)} == {"cpu"}  # nothing larger than the paper
    only = scale.runs("cpu", 1, sizes=("omniglot_paper",))
    assert {(c.dataset, scale.size_of(c)) for c in only} == {("yahoo", "cpu"), ("omniglot", "cpu"),
                                                            ("omniglot", "omniglot_paper")}
    assert scale.sizes_table("cpu").loc[("yahoo_long", "max_vocab"), "this size"] == "all 20,000"


def test_a_size_caps_its_seeds_at_cpu_only():
    cpu = scale.runs("cpu", 3)
    per_size = {}
    for c in cpu:
        per_size.setdefault((c.dataset, scale.size_of(c)), set()).add(c.train.seed)
    long_rows = {}
    for c in cpu:
        if scale.size_of(c) == "yahoo_long":
            long_rows.setdefault(scale.row_of({"config": c.to_dict(), "dataset": c.dataset}), set()).add(c.train.seed)
    # BN-VAE keeps one seed; the VAE and DU-VAE (0.6, 0.8) get three, for the official-code comparison
    assert {row: len(s) for row, s in long_rows.items()} == {"VAE": 3, "BN-VAE (0.6/0.6/0.5)": 1, "DU-VAE (0.6, 0.8)": 3}
    assert len(per_size[("yahoo", "cpu")]) == len(per_size[("omniglot", "omniglot_deep")]) == 3
    assert scale.seeds_at("yahoo_long", "smoke", 3) == 3 and scale.seeds_at("yahoo_long", "cpu", 2) == 1
    assert scale.seeds_at("yahoo_long", "cpu", 2, "VAE") == 2
    assert scale.seeds_text("yahoo_long", "cpu", 3) == "1; VAE: 3; DU-VAE (0.6, 0.8): 3"
    assert scale.SIZES["yahoo_long"].why_seeds  # a cap states its reason


def _record(dataset: str, size: str, label: str, seed: int, **metrics) -> dict:
    cfg = scale.sized(table1.row_config(label, dataset, "cpu", REFERENCE_SEED + seed), size)
    full = {"nll": 100.0, "kl": 1.0, "mi": 1.0, "au": 10.0, **metrics}
    return {"dataset": dataset, "model": cfg.model.name, "seed": REFERENCE_SEED + seed, "config": cfg.to_dict(),
            "metrics": full, "extra": scale.extra_from_config(cfg), "machine": {"cpu": "AMD EPYC"},
            "wall_seconds": 120.0 if size == "cpu" else 600.0, **({"copied_from": "table1/x.json"} if size == "cpu" else {})}


def _results() -> list[dict]:
    du, bn, vae = scale.DU_ROW["yahoo"], scale.BN_ROW, scale.VAE_ROW
    out = []
    for s in range(3):
        # cpu: the VAE wins by 1 nat (as measured); long: DU-VAE wins by 2 nats, clearly; BN-VAE ties
        out += [_record("yahoo", "cpu", vae, s, nll=189.7 + 0.1 * s, au=0.0),
                _record("yahoo", "cpu", du, s, nll=190.7 + 0.1 * s, au=29.0),
                _record("yahoo", "cpu", bn, s, nll=190.8 + 0.1 * s, au=32.0),
                _record("yahoo", "yahoo_long", vae, s, nll=342.0 + 0.1 * s, au=0.0),
                _record("yahoo", "yahoo_long", du, s, nll=340.0 + 0.1 * s, au=30.0),
                _record("yahoo", "yahoo_long", bn, s, nll=341.7 + 0.3 * s, au=32.0)]
        out.append(_record("omniglot", "cpu", vae, s, au=30.0 + s))
    return out


def test_claims_a_clear_win_a_tie_within_the_spread_and_missing_runs():
    c = scale.claims(_results())
    long, cpu = c.loc["yahoo"].loc["yahoo_long"], c.loc["yahoo"].loc["cpu"]
    assert cpu.loc["DU-VAE has a lower NLL than the VAE", "verdict"] == "does not hold"
    assert long.loc["DU-VAE has a lower NLL than the VAE", "verdict"] == "holds"
    assert long.loc["DU-VAE has a lower NLL than the VAE", "difference"] == pytest.approx(2.0)
    assert long.loc["BN-VAE has a lower NLL than the VAE", "verdict"] == "within the spread (paper's sign)"
    assert long.loc["the VAE leaves units inactive (AU < nz)", "verdict"] == "holds"
    omni = c.loc["omniglot"].loc["cpu"]
    assert omni.loc["the VAE leaves units inactive (AU < nz)", "verdict"] == "within the spread (paper's sign)"
    assert omni.loc["the VAE leaves units inactive (AU < nz)", "paper"] == "5.0 vs 32"
    assert omni.loc["DU-VAE has a lower NLL than the VAE", "verdict"] == "no results"
    assert set(c.loc["omniglot"].loc["omniglot_deep"]["verdict"]) == {"no results"}
    one = scale.claims([r for r in _results() if r["seed"] == REFERENCE_SEED])
    assert one.loc[("yahoo", "yahoo_long", "DU-VAE has a lower NLL than the VAE"), "verdict"] == verdicts.ONE_SEED
    summary = scale.verdict_summary(c)
    assert summary.loc[("omniglot", "omniglot_deep"), "no results"] == len(scale.CLAIMS["omniglot"])


def test_the_reading_follows_the_verdicts():
    text = scale.reading(scale.claims(_results()))
    yahoo, omniglot = text.split("\n\n")
    assert "moves from \"does not hold\" to \"holds\"" in yahoo and "supports the reading" in yahoo
    assert "no results yet" in omniglot and "open until these runs are in" in omniglot

    def yahoo_reading(long_vae_nll) -> str:
        """The Yahoo paragraph with the yahoo_long VAE's three seeds replaced (NLL ``long_vae_nll(s)``)."""
        results = [r for r in _results() if not (r["extra"]["size"] == "yahoo_long" and r["extra"]["row"] == "VAE")]
        results += [_record("yahoo", "yahoo_long", "VAE", s, nll=long_vae_nll(s), au=0.0) for s in range(3)]
        return scale.reading(scale.claims(results)).split("\n\n")[0]

    assert "does not change this verdict" in yahoo_reading(lambda s: 339.0 + 0.1 * s)
    # the VAE's lead shrinks into a wide seed spread at the longer size, keeping its sign
    yahoo = yahoo_reading(lambda s: 338.0 + 1.5 * s)
    assert "to \"within the spread (opposite sign)\"" in yahoo and "partial support only" in yahoo
    assert "supports the reading" not in yahoo


def test_the_cpu_size_falls_back_on_table1s_results():
    cfg = table1.row_config("VAE", "yahoo", "cpu", REFERENCE_SEED + 1)
    t1 = {"run_id": cfg.run_id(), "experiment": "table1", "dataset": "yahoo", "seed": cfg.train.seed,
          "config": cfg.to_dict(), "metrics": {"nll": 189.0}, "extra": {"row": "VAE"}}
    other = {**t1, "run_id": "yahoo-fb-000000000000"}
    mine = [{"run_id": "yahoo-vae-111111111111", "extra": {"row": "VAE", "size": "yahoo_long"}}]
    out = scale.with_table1(mine, [t1, other], "cpu", 3)
    assert len(out) == 2 and out[1]["extra"] == {"row": "VAE", "size": "cpu"}
    assert out[1]["copied_from"] == f"table1/{cfg.run_id()}.json" and out[1]["experiment"] == "scale"
    assert scale.with_table1(out, [t1], "cpu", 3) == out  # present once


def test_table_cost_and_the_figure():
    import matplotlib

    matplotlib.use("Agg")
    results = _results()
    t = scale.table(results)
    assert t.loc[("yahoo", "yahoo_long", "VAE"), "NLL"] == "342.10 ± 0.10"
    assert t.loc[("yahoo", "yahoo_long", "VAE"), "NLL (paper)"] == 328.5
    assert t.loc[("omniglot", "omniglot_deep", "VAE"), "seeds"] == 0
    cost = scale.cost(results).set_index(["data set", "size", "row"])
    assert cost.loc[("yahoo", "yahoo_long", "VAE"), "mean wall min"] == pytest.approx(10.0)
    assert cost.loc[("yahoo", "cpu", "VAE"), "copied"] == 3
    # a resumed run: its wall time saw only the resumed call; its epochs (1,500 s) and test (60 s) count
    results[0] = {**results[0], "wall_seconds": 30.0, "train_seconds": 1500.0, "metrics": {**results[0]["metrics"], "test_seconds": 60.0}}
    resumed = scale.cost(results).set_index(["data set", "size", "row"])
    assert resumed.loc[("yahoo", "cpu", "VAE"), "mean wall min"] == pytest.approx((1560 + 120 + 120) / 3 / 60)
    fig = scale.plot_metrics(results, "yahoo")
    assert len(fig.axes) == len(scale.METRICS)
    for ax in fig.axes:
        assert len(ax.get_lines()) == len(scale.ROWS["yahoo"])  # one line per row
        assert [t.get_text() for t in ax.get_xticklabels()] == ["cpu", "yahoo_long", "paper"]
    nll = fig.axes[0].get_lines()[2].get_ydata()  # DU-VAE minus the VAE, per size
    assert list(nll) == pytest.approx([1.0, -2.0])
    empty = scale.plot_metrics([], "omniglot")
    assert all(len(ax.get_lines()) == 3 for ax in empty.axes)


@pytest.mark.slow
def test_scale_sweep_at_smoke_copies_table1s_runs_and_trains_the_larger_ones(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("DUVAE_DATA_MIRROR", str(mirror))
    common = ["--profile", "smoke", "--seeds", "1", "--executor", "inline", "--models", "vae", "--datasets", "yahoo",
              "--results-dir", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs")]
    assert sweep.main(["table1", *common]) == 0
    assert sweep.main(["scale", *common]) == 0
    results = {r["extra"]["size"]: r for r in load_results("smoke", "scale", tmp_path / "results")}
    assert set(results) == {"cpu", "yahoo_long"}
    assert results["cpu"]["copied_from"].startswith("table1/") and "copied_from" not in results["yahoo_long"]
    assert results["yahoo_long"]["config"]["train"]["max_len"] == scale.SIZES["yahoo_long"].smoke["max_len"]
    assert all(r["extra"]["row"] == "VAE" and r["metrics"]["nll"] > 0 for r in results.values())
