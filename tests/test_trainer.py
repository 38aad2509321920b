"""The model zoo end to end: every model trains, runs resume exactly, failures are clear.

Models are built from their real configs (:mod:`duvae.runs.zoo`, ``smoke`` sizes) on tiny in-memory
data, so these tests need no data files.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from duvae.runs import trainer as trainer_mod
from duvae.runs.config import RunConfig
from duvae.objectives import training_loss
from duvae.runs.run_data import RunData
from duvae.runs.trainer import NonFiniteLossError, fit, load_checkpoint, train_or_load
from duvae.runs.zoo import MODEL_NAMES, build_model, run_config

VOCAB = 30


def tiny_text_data(n_train=96, n_valid=16, length=7, batch=16, seed=0) -> RunData:
    """Random sentences ``<s> w .. w </s>`` of one length; deterministic per epoch."""
    g = torch.Generator().manual_seed(seed)

    def sentences(n):
        x = torch.randint(4, VOCAB, (n, length), generator=g)
        x[:, 0], x[:, -1] = 1, 2
        return x

    train, valid = sentences(n_train), sentences(n_valid)

    def train_batches(epoch):
        order = torch.randperm(n_train, generator=torch.Generator().manual_seed(1000 + epoch))
        return iter([train[i] for i in order.split(batch)])

    def sample(generator):
        return train[torch.randint(n_train, (batch,), generator=generator)]

    return RunData("text", train_batches, sample, n_train // batch, list(valid.split(8)), list(valid.split(8)),
                   "tiny random text", vocab_size=VOCAB)


def tiny_image_data(n_train=40, n_valid=10, batch=10, seed=0) -> RunData:
    g = torch.Generator().manual_seed(seed)
    gray = torch.rand(n_train, 1, 28, 28, generator=g) ** 3
    valid = torch.bernoulli(torch.rand(n_valid, 1, 28, 28, generator=g) ** 3, generator=g)

    def train_batches(epoch):
        gen = torch.Generator().manual_seed(2000 + epoch)
        order = torch.randperm(n_train, generator=gen)
        return iter([torch.bernoulli(gray[i], generator=gen) for i in order.split(batch)])

    def sample(generator):
        return torch.bernoulli(gray[torch.randint(n_train, (batch,), generator=generator)], generator=generator)

    return RunData("image", train_batches, sample, n_train // batch, list(valid.split(5)), list(valid.split(5)),
                   "tiny random images")


def smoke_config(name: str, dataset: str, **train_changes) -> RunConfig:
    cfg = run_config(name, dataset, "smoke")
    return cfg.with_(train=dataclasses.replace(cfg.train, **train_changes))


@pytest.mark.parametrize("dataset", ["synthetic", "omniglot"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_trains_with_finite_decreasing_loss(name, dataset):
    """A few Adam steps on one fixed batch, KL weight 1: finite loss that goes down."""
    torch.manual_seed(0)
    cfg = smoke_config(name, dataset)
    data = tiny_text_data() if dataset == "synthetic" else tiny_image_data()
    model = build_model(cfg, vocab_size=data.vocab_size)
    x = next(data.train_batches(0))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        terms = training_loss(model, x, 1.0, cfg.model)
        assert torch.isfinite(terms.loss), (name, dataset, terms.loss)
        assert terms.rec.shape == terms.kl.shape == (x.shape[0],)
        opt.zero_grad()
        terms.loss.backward()
        opt.step()
        losses.append(float(terms.loss.detach()))
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first, (name, dataset, losses)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", ["du_vae", "agg_vae"])
def test_interrupted_and_resumed_training_equals_uninterrupted(name, tmp_path):
    cfg = smoke_config(name, "synthetic", epochs=4, steps_per_epoch=None)
    data = tiny_text_data()

    def fresh():
        torch.manual_seed(cfg.train.seed)
        return build_model(cfg, vocab_size=VOCAB)

    full = fresh()
    hist_full = fit(full, data, cfg, tmp_path / "full", progress=False)

    part = fresh()
    fit(part, data, cfg, tmp_path / "resumed", progress=False, stop_after_epochs=2)
    torch.manual_seed(12345)  # a resumed process starts with unrelated RNG state
    resumed = fresh()
    hist_resumed = fit(resumed, data, cfg, tmp_path / "resumed", progress=False)

    assert len(hist_full) == len(hist_resumed) == 4
    a, b = _weights(full), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [r["loss"] for r in hist_full] == [r["loss"] for r in hist_resumed]
    # the checkpoint is plain data, readable with weights_only=True
    ckpt = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert ckpt["state"]["epoch"] == 4


def test_non_finite_loss_stops_with_epoch_and_step_and_keeps_checkpoint(tmp_path, monkeypatch):
    cfg = smoke_config("vae", "synthetic", epochs=3, steps_per_epoch=None)
    data = tiny_text_data()
    model = build_model(cfg, vocab_size=VOCAB)
    run_dir = tmp_path / "run"
    fit(model, data, cfg, run_dir, progress=False, stop_after_epochs=1)
    good = (run_dir / "checkpoint.pt").read_bytes()

    real = trainer_mod.training_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        terms = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            terms.loss = terms.loss * math.nan
        return terms

    monkeypatch.setattr(trainer_mod, "training_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 8"):
        fit(build_model(cfg, vocab_size=VOCAB), data, cfg, run_dir, progress=False)
    assert (run_dir / "checkpoint.pt").read_bytes() == good


@pytest.mark.parametrize(
    "make",
    [
        lambda: run_config("du_vae", "yahoo", "smoke", gamma=0.0),
        lambda: run_config("bn_vae", "yahoo", "smoke", gamma=-1.0),
        lambda: run_config("du_vae", "yahoo", "smoke", p_keep=0.0),
        lambda: run_config("du_vae", "yahoo", "smoke", p_keep=1.5),
        lambda: run_config("du_iaf", "omniglot", "smoke", p_keep=-0.1),
        lambda: run_config("no_such_model", "yahoo", "smoke"),
        lambda: run_config("vae", "no_such_data", "smoke"),
        lambda: run_config("vae", "yahoo", "no_such_profile"),
        lambda: run_config("fb", "yahoo", "smoke", free_bits=-0.1),
        lambda: run_config("vae", "yahoo", "smoke").with_(
            net=dataclasses.replace(run_config("vae", "yahoo", "smoke").net, nz=0)).validate(),
    ],
)
def test_invalid_configs_are_refused(make):
    with pytest.raises(ValueError):
        make()


def test_train_or_load_refuses_bad_config_before_any_work(tmp_path):
    cfg = run_config("vae", "synthetic", "smoke")
    bad = cfg.with_(net=dataclasses.replace(cfg.net, nz=0))
    with pytest.raises(ValueError, match="nz"):
        train_or_load(bad, runs_dir=tmp_path, data=tiny_text_data())
    assert not any(tmp_path.iterdir())


def test_train_or_load_does_not_retrain_a_finished_run(tmp_path, monkeypatch):
    cfg = smoke_config("du_vae", "synthetic", epochs=2, steps_per_epoch=2)
    data = tiny_text_data()
    first = train_or_load(cfg, runs_dir=tmp_path, data=data, device="cpu", progress=False)
    assert first.run_dir.name == cfg.run_id()
    assert {"nll", "kl", "mi", "au", "mpd", "ce"} <= set(first.metrics)
    assert math.isfinite(first.metrics["nll"])

    def no_training(*args, **kwargs):
        raise AssertionError("train_or_load retrained a finished run")

    monkeypatch.setattr(trainer_mod, "fit", no_training)
    second = train_or_load(cfg, runs_dir=tmp_path, data=data, device="cpu", progress=False)
    assert second.metrics == first.metrics
    for k, v in first.model.state_dict().items():
        assert torch.equal(v, second.model.state_dict()[k]), k
    # another config is another run
    other = smoke_config("du_vae", "synthetic", epochs=3, steps_per_epoch=2)
    assert other.run_id() != cfg.run_id()


def test_history_csv_has_one_row_per_epoch(tmp_path):
    cfg = smoke_config("bn_vae", "omniglot", epochs=2, steps_per_epoch=2)
    model = build_model(cfg)
    fit(model, tiny_image_data(), cfg, tmp_path, progress=False)
    lines = (tmp_path / "history.csv").read_text().strip().splitlines()
    assert lines[0].split(",")[:4] == ["epoch", "step", "kl_weight", "lr"]
    assert len(lines) == 3


def test_the_ae_is_selected_on_its_reconstruction_every_other_model_on_the_elbo():
    from duvae.runs.config import run_identity
    from duvae.runs.trainer import selection_loss

    row = {"loss": 77.1, "rec": 50.9, "kl": 26.2}
    ae, vae = smoke_config("ae", "synthetic"), smoke_config("vae", "synthetic")
    assert ae.model.select_on == "rec" and selection_loss(row, ae) == 50.9
    assert vae.model.select_on == "elbo" and selection_loss(row, vae) == 77.1
    # the default stays out of the run identity: every run id but the AE's is unchanged
    assert "select_on" not in run_identity(dataclasses.asdict(vae))["model"]
    assert run_identity(dataclasses.asdict(ae))["model"]["select_on"] == "rec"
    with pytest.raises(ValueError, match="select_on"):
        dataclasses.replace(vae.model, select_on="loss").validate()


@pytest.mark.parametrize("name, kept", [("ae", 3), ("vae", 0)])
def test_the_kept_epoch_follows_the_selection_loss(name, kept, tmp_path, monkeypatch):
    """Validation rows whose rec falls while the KL grows faster (what an AE does): the AE keeps the
    epoch of its best reconstruction (3), a model selected on the ELBO its best ELBO (0)."""
    rows = iter([{"rec": 50.0 - 2 * e, "kl": 10.0 + 5 * e} for e in range(4)])

    def fake_evaluate(model, batches, **kw):
        r = next(rows)
        return {**r, "loss": r["rec"] + r["kl"], "mi": 0.0, "au": 0, "mpd": 0.0, "ce": 0.0}

    monkeypatch.setattr(trainer_mod, "evaluate", fake_evaluate)
    cfg = smoke_config(name, "synthetic", epochs=4, steps_per_epoch=1)
    data = tiny_text_data()
    fit(build_model(cfg, vocab_size=data.vocab_size), data, cfg, tmp_path, progress=False)
    assert torch.load(tmp_path / "best.pt", weights_only=True)["epoch"] == kept
