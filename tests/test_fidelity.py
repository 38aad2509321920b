"""Fidelity fixes found by review: SA-VAE's refined evaluation, Agg-VAE's per-word rule and schedule,
KL annealing over the nominal epoch, He et al.'s full files at the paper profile."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from duvae.runs import trainer as trainer_mod
from duvae.metrics import evaluate
from duvae.runs.run_data import RunData, load_run_data
from duvae.sa_vae import RefinedPosteriorModel
from duvae.runs.trainer import fit, inner_loss_value
from duvae.runs.zoo import build_model, run_config

VOCAB = 30


def tiny_text(n_train=100, batch=16, length=7, seed=0) -> RunData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(4, VOCAB, (n_train + 16, length), generator=g)
    x[:, 0], x[:, -1] = 1, 2
    train, valid = x[:n_train], x[n_train:]

    def train_batches(epoch):  # like the bucketing: batches under 16 sentences are skipped
        order = torch.randperm(n_train, generator=torch.Generator().manual_seed(epoch))
        return iter([train[i] for i in order.split(batch) if len(i) >= 16])

    def sample(generator):
        return train[torch.randint(n_train, (batch,), generator=generator)]

    usable = n_train // batch
    return RunData("text", train_batches, sample, usable, [valid], [valid], "tiny", vocab_size=VOCAB,
                   n_train=n_train)


def _cfg(name, **train):
    cfg = run_config(name, "synthetic", "smoke")
    return cfg.with_(train=dataclasses.replace(cfg.train, steps_per_epoch=None, **train))


@pytest.mark.parametrize("anneal_steps, expected", [("nominal", 6 / 6.25), ("usable", 1.0)])
def test_kl_annealing_runs_over_the_nominal_epoch(anneal_steps, expected):
    # 100 sentences in batches of 16: 6 usable batches, but a nominal epoch of 100 / 16 = 6.25 steps
    cfg = _cfg("vae", epochs=1, warm_up=1.0, kl_start=0.0, batch_size=16, anneal_steps=anneal_steps)
    torch.manual_seed(0)
    model = build_model(cfg, vocab_size=VOCAB)
    history = fit(model, tiny_text(), cfg, progress=False)
    assert history[0]["step"] == 6
    assert history[0]["kl_weight"] == pytest.approx(expected)


def test_agg_vae_inner_rule_compares_loss_per_word():
    short, long_ = torch.zeros(4, 6, dtype=torch.long), torch.zeros(4, 11, dtype=torch.long)
    # the same loss per word (2 nats) on sentences of 5 and 10 targets compares equal
    assert inner_loss_value(torch.tensor(10.0), short, "text") == inner_loss_value(torch.tensor(20.0), long_, "text")
    assert inner_loss_value(torch.tensor(20.0), long_, "text") == pytest.approx(2.0)
    assert inner_loss_value(torch.tensor(20.0), torch.zeros(4, 1, 28, 28), "image") == 20.0


def test_agg_vae_uses_he_et_al_schedule_on_text():
    for dataset in ("yahoo", "synthetic", "short_yelp"):
        t = run_config("agg_vae", dataset, "cpu").train
        assert (t.kl_start, t.warm_up) == (0.1, 10.0)
    assert run_config("vae", "yahoo", "cpu").train.kl_start == 0.0


def test_sa_vae_is_evaluated_with_its_refined_posterior():
    cfg = run_config("sa_vae", "synthetic", "smoke")
    torch.manual_seed(0)
    model = build_model(cfg, vocab_size=VOCAB).eval()
    data = tiny_text()
    torch.manual_seed(1)
    got = trainer_mod.test_metrics(model, data, cfg)
    torch.manual_seed(1)
    refined = evaluate(RefinedPosteriorModel(model, cfg.model.svi_steps, cfg.model.svi_lr, cfg.model.svi_momentum),
                       data.test, n_iw=cfg.train.eval_iw_samples, work_budget=cfg.train.eval_work_budget,
                       n_tokens_fn=data.n_tokens)
    torch.manual_seed(1)
    plain = evaluate(model, data.test, n_iw=cfg.train.eval_iw_samples, n_tokens_fn=data.n_tokens)
    for key in ("kl", "nll", "mi"):
        assert got[key] == pytest.approx(refined[key], rel=1e-6), key
    assert got["kl"] != pytest.approx(plain["kl"], rel=1e-4)


def _fake_he_files(folder, stem, n=40):
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    words = [f"w{i}" for i in range(20)]
    for split in ("train", "valid", "test"):
        lines = [" ".join(words[j] for j in torch.randint(20, (5,), generator=g).tolist()) for _ in range(n)]
        (folder / f"{stem}.{split}.txt").write_text("\n".join(lines) + "\n")


def test_paper_profile_reads_he_et_al_files_when_given(tmp_path, monkeypatch):
    _fake_he_files(tmp_path / "yelp", "yelp")
    monkeypatch.setenv("DUVAE_HE2019_DIR", str(tmp_path))
    data = load_run_data(run_config("vae", "yelp", "paper"))
    assert "he2019-full" in data.describe() and data.n_train == 40


def test_yelp_without_the_files_says_why_and_how(monkeypatch):
    monkeypatch.delenv("DUVAE_HE2019_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="DUVAE_HE2019_DIR"):
        load_run_data(run_config("vae", "yelp", "paper"))


def test_added_config_fields_keep_old_run_ids_and_change_them_when_set():
    import hashlib
    import json
    from dataclasses import replace

    cfg = run_config("vae", "synthetic", "cpu")
    legacy = cfg.to_dict()
    from duvae.runs.config import ADDED_FIELDS

    assert {("train", "max_vocab"), ("model", "agg_max_epochs")} <= set(ADDED_FIELDS)
    for section, name in ADDED_FIELDS:  # the config as it was hashed before the fields existed
        del legacy[section][name]
    digest = hashlib.sha256(json.dumps(legacy, sort_keys=True, default=str).encode()).hexdigest()[:12]
    assert cfg.run_id() == f"synthetic-vae-{digest}"
    capped = cfg.with_(train=replace(cfg.train, max_vocab=100))
    assert capped.run_id() != cfg.run_id()
    assert run_config("vae", "yahoo", "cpu").train.max_vocab == 5000


def test_aggressive_phase_ends_after_agg_max_epochs():
    """The cap ends the aggressive phase after that many epochs, even while the MI keeps rising."""
    cfg = _cfg("agg_vae", epochs=3, batch_size=16)
    cfg = cfg.with_(model=dataclasses.replace(cfg.model, agg_max_epochs=1))
    torch.manual_seed(0)
    history = fit(build_model(cfg, vocab_size=VOCAB), tiny_text(), cfg, progress=False)
    assert [row["aggressive"] for row in history] == [True, False, False]
    uncapped = _cfg("agg_vae", epochs=1, batch_size=16)
    torch.manual_seed(0)
    assert fit(build_model(uncapped, vocab_size=VOCAB), tiny_text(), uncapped, progress=False)[0]["aggressive"]
    with pytest.raises(ValueError, match="agg_max_epochs"):
        dataclasses.replace(cfg.model, agg_max_epochs=0).validate()


def test_cpu_cuts_of_the_costly_procedures_apply_to_table1_data_sets_only():
    for dataset in ("yahoo", "omniglot"):
        sa, agg = run_config("sa_vae", dataset, "cpu").model, run_config("agg_vae", dataset, "cpu").model
        assert sa.svi_steps == 2
        assert (agg.agg_max_inner, agg.agg_max_epochs) == (20, 2)
        # every other model keeps the profile's common values (and so its committed run ids)
        vae = run_config("vae", dataset, "cpu").model
        assert (vae.svi_steps, vae.agg_max_inner, vae.agg_max_epochs) == (5, 100, None)
    agg = run_config("agg_vae", "synthetic", "cpu").model  # Figure 1's runs are unchanged
    assert (agg.agg_max_inner, agg.agg_max_epochs, run_config("sa_vae", "synthetic", "cpu").model.svi_steps) == (100, None, 5)
    paper = run_config("agg_vae", "omniglot", "paper").model
    assert (paper.svi_steps, paper.agg_max_inner, paper.agg_max_epochs) == (10, 100, None)
