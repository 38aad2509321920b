"""Closed forms of duvae.theory against independent computations (torch.distributions, brute force,
Monte Carlo). Random inputs in float64; Monte Carlo tolerances are multiples of the standard error."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from duvae import theory as T

from duvae import montecarlo as MC

ALPHA = 1.0 / (2.0 * math.pi * math.e)


def family(gen: torch.Generator, n: int = 24, nz: int = 3, var_hi: float = 1.0, mu_scale: float = 1.0):
    """Means N(0, mu_scale^2) with per-dimension offsets; variances log-uniform in [alpha, var_hi]."""
    mu = mu_scale * torch.randn(n, nz, generator=gen, dtype=torch.float64) + torch.arange(nz, dtype=torch.float64)
    log_var = math.log(ALPHA) + torch.rand(n, nz, generator=gen, dtype=torch.float64) * math.log(var_hi / ALPHA)
    return mu, log_var.exp()


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def brute_mpd(mu, var):
    """eq. 2 by definition: mean over all ordered pairs (i, j), i = j included, of 0.5 (KL_ij + KL_ji)."""
    qi = Normal(mu[:, None, :], var[:, None, :].sqrt())
    qj = Normal(mu[None, :, :], var[None, :, :].sqrt())
    skl = 0.5 * (kl_divergence(qi, qj) + kl_divergence(qj, qi))  # [N, N, nz]
    return skl.mean(dim=(0, 1))


def test_alpha_is_one_over_2_pi_e():
    assert T.ALPHA == pytest.approx(0.0585498, abs=1e-7)
    assert Normal(0.0, math.sqrt(T.ALPHA)).entropy().item() == pytest.approx(0.0, abs=1e-12)


def test_gaussian_and_symmetric_kl_match_torch(gen):
    mu, var = family(gen)
    mu2, var2 = family(gen)
    q, p = Normal(mu, var.sqrt()), Normal(mu2, var2.sqrt())
    torch.testing.assert_close(T.gaussian_kl(mu, var, mu2, var2), kl_divergence(q, p))
    torch.testing.assert_close(T.symmetric_kl(mu, var, mu2, var2), 0.5 * (kl_divergence(q, p) + kl_divergence(p, q)))
    torch.testing.assert_close(
        T.prior_kl(mu, var), kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(var)))
    )


@pytest.mark.parametrize("n,nz,var_hi,mu_scale", [(1, 2, 1.0, 1.0), (7, 3, 1.0, 0.1), (40, 5, 9.0, 3.0)])
def test_mpd_equals_pairwise_symmetric_kl_average(gen, n, nz, var_hi, mu_scale):
    mu, var = family(gen, n, nz, var_hi, mu_scale)
    expected = brute_mpd(mu, var)
    torch.testing.assert_close(T.mpd(mu, var), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(T.pairwise_skl_mpd(mu, var, chunk_size=3), expected, rtol=1e-10, atol=1e-12)


def test_mpd_batched_leading_dims(gen):
    mu, var = family(gen, 10, 2)
    mu2, var2 = family(gen, 10, 2)
    stacked = T.mpd(torch.stack([mu, mu2]), torch.stack([var, var2]))
    torch.testing.assert_close(stacked, torch.stack([brute_mpd(mu, var), brute_mpd(mu2, var2)]))


def test_mpd_is_zero_for_identical_posteriors():
    mu = torch.full((5, 3), 0.7, dtype=torch.float64)
    var = torch.full((5, 3), 0.3, dtype=torch.float64)
    assert torch.equal(T.mpd(mu, var), torch.zeros(3, dtype=torch.float64))


def test_mpd_sampling_z_monte_carlo_agrees(gen):
    mu, var = family(gen, 8, 2)
    est = MC.mc_mpd_sampling_z(mu, var, 40_000, generator=gen, chunk_size=10_000)
    exact = brute_mpd(mu, var)
    assert bool((est.z_score(exact) < 5).all()), (est.mean, est.se, exact)
    assert est.total_z_score(exact.sum()) < 5


def test_mpd_lower_bound_holds_when_var_at_most_one(gen):
    for trial in range(20):
        mu, var = family(gen, 16, 4, var_hi=1.0, mu_scale=0.2 + trial)
        value = T.mpd(mu, var)
        bound = T.mpd_lower_bound(mu, var, var_max=1.0)
        torch.testing.assert_close(bound, mu.var(dim=0, unbiased=False))  # the paper's sum_d Var[mu_d]
        assert bool((value >= bound).all())
        assert bool((value >= T.mpd_lower_bound(mu, var)).all())  # the tighter max-variance version


def test_mpd_lower_bound_is_tight_at_constant_variance_and_fails_above_one(gen):
    mu = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    ones = torch.ones_like(mu)
    torch.testing.assert_close(T.mpd(mu, ones), T.mpd_lower_bound(mu, ones, var_max=1.0))  # equality
    assert bool((T.mpd(mu, 4.0 * ones) < mu.var(dim=0, unbiased=False)).all())  # var > 1: bound fails
    with pytest.raises(ValueError, match="var_max"):
        T.mpd_lower_bound(mu, 4.0 * ones, var_max=1.0)


def test_conditional_entropy_matches_normal_entropy(gen):
    _, var = family(gen, 12, 4, var_hi=5.0)
    expected = Normal(torch.zeros_like(var), var.sqrt()).entropy().mean(dim=0)
    torch.testing.assert_close(T.conditional_entropy(var), expected)
    torch.testing.assert_close(T.gaussian_entropy(var), Normal(torch.zeros_like(var), var.sqrt()).entropy())
    at_alpha = T.conditional_entropy(torch.full((3, 2), ALPHA, dtype=torch.float64))
    torch.testing.assert_close(at_alpha, torch.zeros(2, dtype=torch.float64), atol=1e-14, rtol=0)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_variance_preserves_mean_and_floor(gen, p):
    var = ALPHA + torch.tensor([0.0, 0.01, 0.3, 1.0, 4.0], dtype=torch.float64)
    n = 200_000
    draws = T.dropout_variance(var.expand(n, -1), p, generator=gen)
    assert bool((draws >= ALPHA).all())
    # exact per-entry law: alpha w.p. 1 - p, alpha + (var - alpha)/p w.p. p; sd of the mean from it
    sd = (var - ALPHA) * math.sqrt((1 - p) / p)
    err = (draws.mean(dim=0) - var).abs()
    assert bool((err <= 5 * sd / math.sqrt(n) + 1e-12).all()), (err, sd)
    frac_kept = (draws > ALPHA)[:, 1:].double().mean()
    assert abs(frac_kept.item() - p) < 5 * math.sqrt(p * (1 - p) / (4 * n))
    assert bool((draws[:, 0] == var[0]).all())  # var = alpha is left unchanged


def test_dropout_variance_p_one_is_identity_and_validation(gen):
    var = ALPHA + torch.rand(6, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(T.dropout_variance(var, 1.0, generator=gen), var)
    for bad in (0.0, -0.2, 1.5, float("nan")):
        with pytest.raises(ValueError, match="p="):
            T.dropout_variance(var, bad)
    with pytest.raises(ValueError, match="var >= alpha"):
        T.dropout_variance(var - 0.5, 0.5)
    # float32 variances exactly at the floor are accepted
    floor32 = torch.full((4,), ALPHA, dtype=torch.float32)
    assert bool((T.dropout_variance(floor32, 0.3, generator=gen) == floor32).all())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("p", [0.3, 0.8, 1.0])
def test_dropout_variance_is_the_training_function_on_the_same_draws(dtype, p):
    """The notebooks' eq. 6 (from sigma^2) is the heads' variance_dropout (from the excess): same masks, same values."""
    from duvae.posteriors import du, iaf

    assert du.variance_dropout is T.variance_dropout and iaf.variance_dropout is T.variance_dropout
    excess = torch.rand(64, 5, generator=torch.Generator().manual_seed(1), dtype=dtype) * 3.0  # [B, nz]
    var = excess + ALPHA
    g_notebook, g_training = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    got = T.dropout_variance(var, p, generator=g_notebook)
    want = T.variance_dropout(var - ALPHA, p, ALPHA, generator=g_training)
    assert got.dtype == dtype and torch.equal(got, want)
    assert torch.equal(torch.rand(3, generator=g_notebook), torch.rand(3, generator=g_training))  # same draws used
    # with the global generator too
    torch.manual_seed(3)
    got = T.dropout_variance(var, p)
    torch.manual_seed(3)
    assert torch.equal(got, T.variance_dropout(var - ALPHA, p, ALPHA))


def test_variance_dropout_draws_bernoulli_masks_and_p_one_draws_nothing():
    excess = torch.linspace(0.0, 2.0, 12, dtype=torch.float64).reshape(3, 4)
    g = torch.Generator().manual_seed(5)
    keep = torch.bernoulli(torch.full_like(excess, 0.6), generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(T.variance_dropout(excess, 0.6, 0.1, g), keep / 0.6 * excess + 0.1, rtol=0, atol=0)
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(T.variance_dropout(excess, 1.0, 0.1, g1), excess + 0.1)
    assert torch.equal(torch.rand(2, generator=g1), torch.rand(2, generator=g2))  # p = 1: nothing drawn
    with pytest.raises(ValueError, match="p_keep"):
        T.variance_dropout(excess, 0.0, 0.1)


def test_argument_errors():
    mu = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="same shape"):
        T.mpd(mu, torch.ones(4, 3))
    with pytest.raises(ValueError, match="var must be > 0"):
        T.mpd(mu, torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\[\.\.\., N, nz\]"):
        T.conditional_entropy(torch.ones(3))
    with pytest.raises(ValueError, match="gamma"):
        T.renormalise_scales(torch.ones(3), 0.0)


def test_expected_inverse_variance_by_enumerating_the_mask(gen):
    _, var = family(gen, 5, 2)
    p = 0.3
    kept = ALPHA + (var - ALPHA) / p
    torch.testing.assert_close(T.expected_inverse_dropout_variance(var, p), p / kept + (1 - p) / ALPHA)
    assert bool((T.expected_inverse_dropout_variance(var, p) >= 1 / var).all())  # Jensen


def test_expected_mpd_under_dropout_by_exact_enumeration(gen):
    """Product distribution of data x masks, enumerated exactly (2 outcomes per entry), then eq. 2 brute force."""
    mu, var = family(gen, 6, 2)
    p = 0.35
    kept = ALPHA + (var - ALPHA) / p
    # the new family: 2N weighted posteriors (each posterior, kept or dropped, per dimension independently;
    # eq. 3 factorises over d, so per-dimension enumeration is exact)
    mu2 = torch.cat([mu, mu])  # [2N, nz]
    var2 = torch.cat([kept, torch.full_like(var, ALPHA)])
    wts = torch.cat([torch.full_like(var, p), torch.full_like(var, 1 - p)]) / mu.shape[0]  # [2N, nz]
    qi = Normal(mu2[:, None], var2[:, None].sqrt())
    qj = Normal(mu2[None], var2[None].sqrt())
    skl = 0.5 * (kl_divergence(qi, qj) + kl_divergence(qj, qi))
    expected = (wts[:, None] * wts[None] * skl).sum(dim=(0, 1))
    torch.testing.assert_close(T.expected_mpd_under_dropout(mu, var, p), expected)
    # and the CE: sum over the same weights of the entropies
    ent = Normal(torch.zeros_like(var2), var2.sqrt()).entropy()
    torch.testing.assert_close(T.expected_ce_under_dropout(var, p), (wts * ent).sum(dim=0))


def test_prop1_closed_forms_against_monte_carlo(gen):
    mu, var = family(gen, 10, 2)
    p = 0.4
    est = MC.mc_dropout_effects(mu, var, p, 60_000, generator=gen, chunk_size=20_000)
    mpd_b = T.expected_mpd_under_dropout(mu, var, p)
    ce_b = T.expected_ce_under_dropout(var, p)
    checks = {
        "var_hat": var.mean(dim=0),
        "mpd": mpd_b,
        "mpd_gap": mpd_b - brute_mpd(mu, var),
        "ce": ce_b,
        "ce_gap": T.conditional_entropy(var) - ce_b,
    }
    for name, exact in checks.items():
        assert bool((est[name].z_score(exact) < 5).all()), (name, est[name].mean, exact)


def test_prop1_inequalities_and_monotone_gaps(gen):
    for var_hi in (ALPHA * 1.5, 1.0, 10.0):
        mu, var = family(gen, 20, 3, var_hi=var_hi)
        base_mpd, base_ce = T.mpd(mu, var), T.conditional_entropy(var)
        ps = [0.02, 0.1, 0.3, 0.6, 0.9, 0.99]
        gaps_mpd = torch.stack([T.expected_mpd_under_dropout(mu, var, p) - base_mpd for p in ps])
        gaps_ce = torch.stack([base_ce - T.expected_ce_under_dropout(var, p) for p in ps])
        assert bool((gaps_mpd > 0).all()) and bool((gaps_ce > 0).all())
        assert bool((gaps_mpd[:-1] > gaps_mpd[1:]).all())  # grows as p -> 0
        assert bool((gaps_ce[:-1] > gaps_ce[1:]).all())
        for p in ps:  # eq. 8
            assert bool((T.expected_mpd_under_dropout(mu, var, p) >= T.mpd_dropout_bound(mu, p)).all())
        torch.testing.assert_close(T.expected_mpd_under_dropout(mu, var, 1.0), base_mpd)
        torch.testing.assert_close(T.expected_ce_under_dropout(var, 1.0), base_ce)
    # at the floor dropout does nothing: the gaps vanish
    mu = torch.randn(8, 2, generator=gen, dtype=torch.float64)
    at_floor = torch.full_like(mu, ALPHA)
    torch.testing.assert_close(T.expected_mpd_under_dropout(mu, at_floor, 0.3), T.mpd(mu, at_floor))


def test_expected_batch_mpd_against_monte_carlo(gen):
    mu, var = family(gen, 5, 2)
    p, reps = 0.5, 100_000
    realised = T.mpd(mu.expand(reps, -1, -1), T.dropout_variance(var.expand(reps, -1, -1), p, generator=gen))
    mean, se = realised.mean(dim=0), realised.std(dim=0) / math.sqrt(reps)
    exact = T.expected_batch_mpd_under_dropout(mu, var, p)
    assert bool(((mean - exact).abs() < 5 * se).all()), (mean, exact, se)
    assert bool((exact < T.expected_mpd_under_dropout(mu, var, p)).all())  # the diagonal i = j pairs


def test_batchnorm_means_matches_torch_and_has_variance_w2(gen):
    m = 3.0 + 2.0 * torch.randn(50, 4, generator=gen, dtype=torch.float64)
    w = torch.randn(4, generator=gen, dtype=torch.float64)
    b = torch.randn(4, generator=gen, dtype=torch.float64)
    out = T.batchnorm_means(m, w, b, eps=1e-5)
    ref = torch.nn.functional.batch_norm(m, None, None, weight=w, bias=b, training=True, eps=1e-5)
    torch.testing.assert_close(out, ref)
    s2 = m.var(dim=0, unbiased=False)
    torch.testing.assert_close(out.var(dim=0, unbiased=False), w**2 * s2 / (s2 + 1e-5))
    torch.testing.assert_close(out.mean(dim=0), b)


def test_renormalise_scales_mean_square_and_idempotent(gen):
    w = torch.randn(32, generator=gen, dtype=torch.float64)
    r = T.renormalise_scales(w, 0.6)
    assert (r**2).mean().item() == pytest.approx(0.36, rel=1e-12)
    torch.testing.assert_close(T.renormalise_scales(r, 0.6), r)
    torch.testing.assert_close(r / w, torch.full_like(w, (r / w)[0].item()))  # a common factor


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_renormalise_scales_resets_all_zero_scales_to_gamma(dtype):
    """Eq. 9's edge case, decided once: no direction to keep -> the initialisation gamma (not NaN, not an error)."""
    out = T.renormalise_scales(torch.zeros(5, dtype=dtype), 0.6)
    assert torch.equal(out, torch.full((5,), 0.6, dtype=dtype))
    assert (out**2).mean().item() == pytest.approx(0.36)  # the fixed mean scale holds again
    one_left = T.renormalise_scales(torch.tensor([0.0, 0.0, 1e-30], dtype=torch.float64), 0.6)  # not all zero
    torch.testing.assert_close(one_left, torch.tensor([0.0, 0.0, 0.6 * math.sqrt(3)], dtype=torch.float64))
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="gamma"):
            T.renormalise_scales(torch.ones(3), bad)


def test_batchnorm_means_evaluation_mode_uses_the_running_statistics(gen):
    m = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    w, b = torch.rand(3, generator=gen, dtype=torch.float64), torch.randn(3, generator=gen, dtype=torch.float64)
    running_mean, running_var = torch.randn(3, dtype=torch.float64), torch.rand(3, dtype=torch.float64) + 0.5
    out = T.batchnorm_means(m, w, b, 1e-5, running_mean, running_var, training=False)
    torch.testing.assert_close(out, w * (m - running_mean) / torch.sqrt(running_var + 1e-5) + b)
    torch.testing.assert_close(T.batchnorm_means(m[:1], w, b, 1e-5, running_mean, running_var, training=False),
                               out[:1])  # a batch of one is fine in evaluation
    before = running_mean.clone()
    T.batchnorm_means(m, w, b, 1e-5, running_mean, running_var)  # training: the running mean moves (momentum 0.1)
    torch.testing.assert_close(running_mean, 0.9 * before + 0.1 * m.mean(0))
    for bad in (dict(m=m[:1]), dict(eps=0.0), dict(w=w[:2]), dict(training=False)):
        args = dict(m=m, w=w, b=b, eps=1e-5) | bad
        with pytest.raises(ValueError):
            T.batchnorm_means(**args)


def test_prior_kl_with_the_log_variance_given():
    mu = torch.randn(4, 3, dtype=torch.float64)
    logvar = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(T.prior_kl(mu, logvar.exp(), log_var=logvar), T.prior_kl(mu, logvar.exp()))
    assert torch.equal(T.prior_kl(mu, logvar.exp(), log_var=logvar),
                       0.5 * (mu**2 + logvar.exp() - logvar - 1.0))


def test_bn_kl_bound_holds_on_a_batch(gen):
    m = torch.randn(64, 6, generator=gen, dtype=torch.float64)
    w = T.renormalise_scales(torch.rand(6, generator=gen, dtype=torch.float64) + 0.1, 0.5)
    b = 0.3 * torch.randn(6, generator=gen, dtype=torch.float64)
    mu_hat = T.batchnorm_means(m, w, b, eps=1e-12)  # eps > 0 (batch_norm's rule), negligible here
    var = ALPHA + torch.rand(64, 6, generator=gen, dtype=torch.float64)
    kl = T.prior_kl(mu_hat, var).sum(dim=1).mean()
    bound = T.bn_kl_lower_bound(w, b).sum()
    torch.testing.assert_close(0.5 * (mu_hat**2).mean(dim=0).sum(), bound)
    assert kl.item() >= bound.item() >= 6 * 0.25 / 2


def test_fit_bn_scales_keeps_mean_square(gen):
    s = torch.linspace(0.2, 2.0, 5)
    hist = MC.fit_bn_scales(s, gamma=0.5, steps=30, lr=0.2, generator=gen)
    torch.testing.assert_close(hist.mean_square, torch.full_like(hist.mean_square, 0.25), rtol=1e-5, atol=0)
    free = MC.fit_bn_scales(s, gamma=0.5, steps=30, lr=0.2, renormalise=False, generator=gen)
    assert abs(free.mean_square[-1].item() - 0.25) > 0.1
