"""Linear probes (duvae.probes): the batched classifiers of Tables 2 and 3, checked against
scikit-learn, on separable and on random labels, and on bad input."""

from __future__ import annotations

import pytest
import torch

from duvae import probes
from duvae.probes import ADAM_PROTOCOL, SGD_PROTOCOL, Problems, fit_probes, omniglot_problems, yelp_problems


def two_gaussians(n: int, d: int = 8, shift: float = 1.0, seed: int = 0):
    """Two classes whose means differ by ``shift`` along the first axis (overlapping when small)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, d, generator=g)
    x[:, 0] += shift * (2 * y - 1)
    return x, y


def single_problem(n_train, n_valid, n_test, n_classes=2):
    a = torch.arange
    return Problems(a(n_train)[None], a(n_train + n_valid, n_train + n_valid + n_test)[None],
                    torch.tensor([n_classes]), a(n_train, n_train + n_valid)[None])


def test_sgd_probe_agrees_with_scikit_learn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    x, y = two_gaussians(3000, shift=0.8)
    p = single_problem(1000, 1000, 1000)
    ours = float(fit_probes(x, y, p, **SGD_PROTOCOL, seed=1).accuracy[0])
    sk = LogisticRegression(max_iter=1000).fit(x[:1000].numpy(), y[:1000].numpy()).score(x[2000:].numpy(), y[2000:].numpy())
    assert 0.7 < sk < 0.9  # an overlapping problem, so the comparison means something
    assert abs(ours - sk) < 0.03, (ours, sk)


def test_adam_probe_agrees_with_scikit_learn_on_many_classes():
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(3)
    centres = torch.randn(5, 6, generator=g) * 1.2
    y = torch.arange(1500) % 5
    x = centres[y] + torch.randn(1500, 6, generator=g)
    p = Problems(torch.arange(1000)[None], torch.arange(1000, 1500)[None], torch.tensor([5]))
    ours = float(fit_probes(x, y, p, **{**ADAM_PROTOCOL, "epochs": 100}, seed=0).accuracy[0])
    sk = LogisticRegression(max_iter=2000).fit(x[:1000].numpy(), y[:1000].numpy()).score(x[1000:].numpy(), y[1000:].numpy())
    assert 0.5 < sk < 0.95
    assert abs(ours - sk) < 0.04, (ours, sk)


def test_separable_features_reach_100_percent_and_random_labels_stay_at_chance():
    x, y = two_gaussians(2000, shift=8.0)
    p = single_problem(600, 400, 1000)
    assert float(fit_probes(x, y, p, **SGD_PROTOCOL).accuracy[0]) == 1.0
    noise = torch.randint(0, 2, (2000,), generator=torch.Generator().manual_seed(5))
    acc = float(fit_probes(x, noise, p, **SGD_PROTOCOL).accuracy[0])
    assert abs(acc - 0.5) < 0.06, acc


def test_batched_problems_do_not_leak_into_each_other():
    """Problems of different sizes and class counts share one computation, padding and inactive steps
    included; changing one problem's data leaves the other's weights bit for bit the same."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 5, generator=g)
    y = torch.cat([torch.arange(200) % 3, torch.arange(200) % 2])
    x[y == 1, 1] += 2.0
    a_train, a_test = torch.arange(0, 150), torch.arange(150, 200)
    for optimizer in (ADAM_PROTOCOL, SGD_PROTOCOL):
        fits = []
        for b_train in (torch.arange(200, 237), torch.arange(300, 337)):  # same size, other examples
            both = Problems(probes.pad_index([a_train, b_train]), probes.pad_index([a_test, torch.arange(237, 300)]),
                            torch.tensor([3, 2]), torch.arange(340, 400).expand(2, -1).clone())
            fits.append(fit_probes(x, y, both, **{**optimizer, "epochs": 20}, seed=7))
        if optimizer is ADAM_PROTOCOL:  # no model selection: both problems train all epochs
            assert fits[0].epochs.tolist() == [20, 20]
        assert torch.equal(fits[0].W[0], fits[1].W[0]) and torch.equal(fits[0].b[0], fits[1].b[0])
        assert fits[0].accuracy[0] == fits[1].accuracy[0]
        assert not torch.equal(fits[0].W[1], fits[1].W[1])
        assert torch.isinf(probes.logits(x[None, :3].expand(2, -1, -1), fits[0].W, fits[0].b, torch.tensor([3, 2]))[1, :, 2]).all()


def test_sgd_protocol_halves_the_lr_and_stops_after_five_decays():
    x, y = two_gaussians(600, shift=0.3)
    p = single_problem(200, 200, 200)
    r = fit_probes(x, y, p, **SGD_PROTOCOL)
    assert int(r.decays[0]) == 5  # a hard problem stops by the decay rule, well before 100 epochs
    assert int(r.epochs[0]) < 100
    assert torch.isfinite(r.valid_loss).all()


def test_yelp_problems_are_balanced_nested_and_refuse_too_many_labels():
    labels = torch.arange(1000) % 2
    p, names = yelp_problems(labels, n_valid=50, n_test=60, sizes=(10, 100), draws=2, seed=1)
    assert names == [(10, 0), (100, 0), (10, 1), (100, 1)]
    small, large = set(p.train[0][p.train[0] >= 0].tolist()), set(p.train[1].tolist())
    assert small < large  # nested within a draw
    assert set(p.train[0][p.train[0] >= 0].tolist()) != set(p.train[2][p.train[2] >= 0].tolist())  # draws differ
    assert int(labels[p.train[1]].sum()) == 50  # balanced
    assert p.valid.min() == 1000 and p.test.min() == 1050
    with pytest.raises(ValueError, match="only 500 / 500"):
        yelp_problems(labels, 50, 60, sizes=(2000,), draws=1, seed=1)


def test_omniglot_problems_take_the_first_k_drawers_and_refuse_short_alphabets():
    # two alphabets of 3 and 4 characters, 20 drawers each
    alphabet = torch.cat([torch.zeros(60, dtype=torch.long), torch.ones(80, dtype=torch.long)])
    char = torch.cat([torch.arange(60) // 20, torch.arange(80) // 20])
    drawer = torch.cat([torch.arange(60) % 20, torch.arange(80) % 20])
    p, names = omniglot_problems(alphabet, char, drawer, shots=(5, 15))
    assert names == [(0, 5), (0, 15), (1, 5), (1, 15)]
    assert p.n_classes.tolist() == [3, 3, 4, 4]
    assert int((p.train[0] >= 0).sum()) == 15 and int((p.train[3] >= 0).sum()) == 60
    assert drawer[p.train[0][p.train[0] >= 0]].max() == 4
    assert int((p.test[2] >= 0).sum()) == 20 and drawer[p.test[2][p.test[2] >= 0]].min() == 15
    keep = ~((alphabet == 1) & (char == 2) & (drawer >= 3) & (drawer < 15))  # a character with 3 training images
    with pytest.raises(ValueError, match="alphabet 1: a character has only 3 training"):
        omniglot_problems(alphabet[keep], char[keep], drawer[keep], shots=(5,))


def test_bad_features_and_untrained_models_are_refused():
    x, y = two_gaussians(100)
    p = single_problem(40, 30, 30)
    x[7, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN/Inf values in 1 of 100 rows"):
        fit_probes(x, y, p, **SGD_PROTOCOL)
    x[7, 2] = float("inf")
    with pytest.raises(ValueError, match="NaN/Inf"):
        fit_probes(x, y, p, **SGD_PROTOCOL)
    from duvae.runs.zoo import build_model, run_config

    model = build_model(run_config("du_vae", "omniglot", "smoke"))
    with pytest.raises(ValueError, match="was never trained"):
        probes.check_trained(model)
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        fit_probes(torch.randn(100, 3), torch.full((100,), 2), p, **SGD_PROTOCOL)


def test_features_of_a_classic_and_an_iaf_posterior():
    from duvae.runs.zoo import build_model, run_config

    for name, d in (("du_vae", 4), ("du_iaf", 8)):
        model = build_model(run_config(name, "omniglot", "smoke"))
        x = torch.bernoulli(torch.full((6, 1, 28, 28), 0.3))
        model.train()
        model.posterior(x)  # one batch through the BN layers
        f = probes.image_features(model, x, batch_size=4)
        assert f.shape == (6, d)
        assert model.training  # the mode is restored
        if name == "du_iaf":
            assert probes.image_features(model, x, iaf="zT").shape == (6, 4)
        else:  # eval-mode features are the BN output: the posterior mean in eval mode
            model.eval()
            assert torch.allclose(f, model.posterior(x).mu, atol=1e-6)
