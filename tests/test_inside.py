"""Looking inside trained models: the pieces of ``duvae.experiments.inside`` on constructed models, and a smoke sweep."""

from __future__ import annotations

import json
import math

import pytest
import torch

from duvae import generation, metrics
from duvae.experiments import inside
from duvae.metrics import iw_nll, log_importance_weights, mutual_information
from duvae.nets.text_decoder import LSTMDecoder

BOS, EOS = 1, 2


def _decoder(depends_on_z: bool, vocab: int = 30, nz: int = 4, seed: int = 0) -> LSTMDecoder:
    """A small decoder; with ``depends_on_z=False`` every weight that reads z is zero."""
    torch.manual_seed(seed)
    dec = LSTMDecoder(vocab, emb_dim=8, hidden_dim=16, nz=nz)
    with torch.no_grad():
        for p in dec.parameters():
            p.uniform_(-1.0, 1.0)
        z_cols = dec.lstm.weight_ih_l0[:, 8:]  # the input columns of z
        if depends_on_z:
            dec.init_cell.weight.mul_(3.0)
            z_cols.mul_(3.0)
        else:
            dec.init_cell.weight.zero_()
            z_cols.zero_()
    return dec


def test_a_decoder_that_ignores_z_writes_one_sentence_for_every_draw():
    z = torch.randn(2 * 100, 4)  # two groups of 100 draws
    ids = generation.greedy(_decoder(False), z, max_len=12, bos_id=BOS, eos_id=EOS)
    assert generation.distinct_counts(ids, 2).tolist() == [1, 1]
    (_, count), = generation.top_outputs(ids[:100], 1)
    assert count == 100


def test_a_decoder_that_reads_z_writes_many_sentences():
    z = torch.randn(2 * 100, 4)
    ids = generation.greedy(_decoder(True), z, max_len=12, bos_id=BOS, eos_id=EOS)
    counts = generation.distinct_counts(ids, 2)
    assert (counts > 20).all(), counts
    tops = generation.top_outputs(ids[:100], 3)
    assert [c for _, c in tops] == sorted((c for _, c in tops), reverse=True)


def test_distinct_counts_counts_within_groups():
    ids = torch.tensor([[1, 2], [1, 2], [1, 2], [3, 4], [3, 4], [1, 2]])  # group 0: one sentence, group 1: two
    assert generation.distinct_counts(ids, 2).tolist() == [1, 2]
    with pytest.raises(ValueError):
        generation.distinct_counts(ids, 4)


def test_greedy_decoding_of_a_batch_equals_decoding_each_z_alone():
    dec = _decoder(True, seed=3)
    z = torch.randn(7, 4)
    batch = generation.greedy(dec, z, max_len=10, bos_id=BOS, eos_id=EOS)
    for i in range(len(z)):
        alone = generation.greedy(dec, z[i:i + 1], max_len=10, bos_id=BOS, eos_id=EOS)[0]
        assert torch.equal(batch[i, :len(alone)], alone)
        assert (batch[i, len(alone):] == dec.pad_id).all()  # the batch only pads after </s>


def _text_model(seed: int = 0):
    from duvae.runs.zoo import build_model, run_config

    torch.manual_seed(seed)
    return build_model(run_config("du_vae", "yahoo", "smoke"), vocab_size=40).eval()


def test_the_homotopy_runs_from_one_posterior_mean_to_the_other():
    from duvae.metrics import gaussian_params

    model = _text_model()
    x = torch.randint(4, 40, (2, 9))
    x[:, 0], x[:, -1] = BOS, EOS
    mu, _ = gaussian_params(model.posterior(x))
    path = generation.homotopy(mu[0], mu[1], 7)
    assert path.shape == (7, mu.shape[1])
    assert torch.equal(path[0], mu[0]) and torch.equal(path[-1], mu[1])
    assert torch.allclose(path[3], (mu[0] + mu[1]) / 2, atol=1e-6)  # t = 1/2 in the middle
    with pytest.raises(ValueError):
        generation.homotopy(mu[0], mu[1], 1)


def test_mi_from_draws_is_the_package_estimator_for_each_draw():
    torch.manual_seed(0)
    mu, var = torch.randn(50, 3).double(), torch.rand(50, 3).double() + 0.1
    one = metrics.mi_from_draws(mu, var, torch.randn(1, 50, 3, generator=torch.Generator().manual_seed(5),
                                                    dtype=torch.float64))
    assert one.item() == pytest.approx(mutual_information(mu, var, torch.Generator().manual_seed(5)), abs=1e-9)
    eps = torch.randn(4, 50, 3, dtype=torch.float64)
    many = metrics.mi_from_draws(mu, var, eps)  # the repeats in one computation
    assert torch.allclose(many, torch.cat([metrics.mi_from_draws(mu, var, eps[r:r + 1]) for r in range(4)]))
    # mini-batch mixtures: each group its own mixture
    groups = metrics.mi_from_draws(mu, var, eps, group_sizes=[20, 30])
    by_hand = (20 * metrics.mi_from_draws(mu[:20], var[:20], eps[:, :20])
               + 30 * metrics.mi_from_draws(mu[20:], var[20:], eps[:, 20:])) / 50
    assert torch.allclose(groups, by_hand)


def test_the_mi_estimate_of_identical_posteriors_has_the_predicted_spread():
    N, nz, R = 400, 32, 400
    mu, var = torch.zeros(N, nz, dtype=torch.float64), torch.ones(N, nz, dtype=torch.float64)
    est = metrics.mi_from_draws(mu, var, torch.randn(R, N, nz, generator=torch.Generator().manual_seed(0),
                                                    dtype=torch.float64))
    sd = math.sqrt(nz / (2 * N))  # the module docstring's sqrt(nz / 2N)
    assert abs(float(est.mean())) < 4 * sd / math.sqrt(R)
    assert float(est.std()) == pytest.approx(sd, rel=0.15)
    assert 0.3 < float((est < 0).double().mean()) < 0.7  # negative about half of the time


def test_log_weights_give_the_package_iw_nll_and_bounds_between_elbo_and_nll():
    model = _text_model(1)
    x = torch.randint(4, 40, (3, 8))
    x[:, 0], x[:, -1] = BOS, EOS
    torch.manual_seed(11)
    log_w = log_importance_weights(model, x, 20, work_budget=200)  # several chunks of samples
    torch.manual_seed(11)
    ref = iw_nll(model, x, n_samples=20)
    assert torch.equal(-(torch.logsumexp(log_w, 0) - math.log(20)), ref)  # iw_nll is built on these weights
    seeded = log_importance_weights(model, x, 20, work_budget=200, generator=torch.Generator().manual_seed(11))
    assert torch.equal(seeded, log_w)  # a generator seeded alike gives the same draws as the global one
    b = metrics.iw_bounds(log_w, [1, 2, 5, 20])
    assert b[0] == pytest.approx(float(-log_w.mean()), abs=1e-6)  # k = 1: the negative ELBO
    assert b[-1] == pytest.approx(float(ref.mean()), abs=1e-5)
    assert b[-1] <= b[0]  # the IW bound is tighter than the ELBO


def test_image_grid_png_is_small(tmp_path):
    images = torch.bernoulli(torch.full((3, 8, 1, 28, 28), 0.2), generator=torch.Generator().manual_seed(0))
    picture = generation.image_grid(images)
    assert picture.shape == (2 * (3 * 30 + 2), 2 * (8 * 30 + 2)) and picture.dtype.name == "uint8"
    path = generation.write_png(picture, tmp_path / "grid.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 500 < path.stat().st_size < 50_000  # noise is the worst case; strokes compress far better


def test_runs_are_table1_runs_with_their_ids():
    from duvae.runs.config import REFERENCE_SEED
    from duvae.experiments import table1

    cfgs = inside.runs("cpu", 1)
    assert len(cfgs) == sum(len(v) for v in inside.ROWS.values())
    table1_ids = {c.run_id() for c in table1.runs("cpu", 1)}
    assert {c.run_id() for c in cfgs} <= table1_ids
    assert all(c.train.seed == REFERENCE_SEED for c in cfgs)
    rows = [inside.extra_from_config(c)["row"] for c in cfgs]
    assert rows == [label for labels in inside.ROWS.values() for label in labels]


@pytest.mark.slow
def test_smoke_sweep_writes_small_results_and_grids(mirror, tmp_path, monkeypatch):
    from duvae.sweep.engine import main

    monkeypatch.setenv("DUVAE_DATA_MIRROR", str(mirror))
    results, runs = tmp_path / "results", tmp_path / "runs"
    assert main(["inside", "--profile", "smoke", "--seeds", "1", "--executor", "inline", "--device", "cpu",
                 "--results-dir", str(results), "--runs-dir", str(runs)]) == 0
    folder = results / "smoke" / "inside"
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    assert len(records) == len(inside.runs("smoke", 1))
    for path in folder.glob("*.json"):
        assert path.stat().st_size < 50_000
    for r in records:
        e = r["extra"]
        assert len(e["mi"]["full"]) == len(e["mi"]["batch"]) == inside.SIZES["smoke"]["mi_repeats"]
        assert e["iw"]["bound"][0] >= e["iw"]["bound"][-1] - 1e-6
        if r["dataset"] == "yahoo":
            assert len(e["reconstructions"]) == inside.SIZES["smoke"]["n_inputs"]
            assert all(1 <= x["distinct"] <= e["draws"] for x in e["reconstructions"])
            assert 1 <= e["prior"]["distinct"] <= e["draws"]
            # a prefix can only merge outputs: never more distinct first words than whole outputs
            assert all(1 <= x["distinct_first"] <= x["distinct"] for x in e["reconstructions"])
            assert 1 <= e["prior"]["distinct_first"] <= e["prior"]["distinct"]
            assert all(len(h["sentences"]) == inside.SIZES["smoke"]["homotopy_points"] for h in e["homotopies"])
            assert e["ppl"]["tokens"] == e["ppl"]["words"] + e["ppl"]["sentences"]
            assert e["ppl"]["ppl"] == pytest.approx(r["metrics"]["ppl"], rel=1e-6)
        else:
            for name in e["grids"].values():
                png = folder / name
                assert png.is_file() and png.stat().st_size < 50_000
    # the notebook's tables read them
    assert not inside.distinct_table(records).empty
    assert not inside.iw_table(records).empty
