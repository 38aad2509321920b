"""Tests of :mod:`duvae.metrics` against closed forms and independent brute-force computations.

The models here are tiny linear-Gaussian VAEs written in this file, implementing the model
protocol of :mod:`duvae.vae`:

    z ~ N(0, I_nz),   x | z ~ N(W z + b, s^2 I_D),
    p(x)   = N(x; b, W W^T + s^2 I)                          (closed form),
    p(z|x) = N(Sigma W^T (x - b) / s^2, Sigma),  Sigma = (I + W^T W / s^2)^{-1}.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

from duvae import metrics

torch.set_default_dtype(torch.float32)


# ----------------------------------------------------------------------------------------------
# Tiny protocol models
# ----------------------------------------------------------------------------------------------


class LinearGaussian(nn.Module):
    """Linear-Gaussian VAE; ``proposal(x)`` builds q(z|x) (the true posterior by default)."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor, s: float, proposal=None):
        super().__init__()
        self.register_buffer("W", W)
        self.register_buffer("b", b)
        self.s = s
        self.nz = W.shape[1]
        self.proposal = proposal or self.true_posterior
        self.training_seen = []  # training flag at each posterior call
        self.grad_seen = []  # grad mode at each posterior call

    @property
    def prior(self):
        return Independent(Normal(torch.zeros_like(self.W[0]), torch.ones_like(self.W[0])), 1)

    def true_posterior_params(self, x):
        eye = torch.eye(self.nz, dtype=self.W.dtype)
        sigma = torch.linalg.inv(eye + self.W.T @ self.W / self.s**2)  # [nz, nz]
        mean = (x - self.b) @ self.W @ sigma / self.s**2  # [B, nz] (sigma symmetric)
        return mean, sigma

    def true_posterior(self, x):
        mean, sigma = self.true_posterior_params(x)
        return MultivariateNormal(mean, covariance_matrix=sigma)

    def posterior(self, x):
        self.training_seen.append(self.training)
        self.grad_seen.append(torch.is_grad_enabled())
        return self.proposal(x)

    def log_likelihood(self, x, z):  # z [S, B, nz] -> [S, B]
        loc = z @ self.W.T + self.b
        return Normal(loc, self.s).log_prob(x).sum(-1)

    def log_marginal(self, x):  # closed form log p(x), [B]
        cov = self.W @ self.W.T + self.s**2 * torch.eye(self.W.shape[0], dtype=self.W.dtype)
        return MultivariateNormal(self.b, covariance_matrix=cov).log_prob(x)

    def sample_x(self, n, gen):
        z = torch.randn(n, self.nz, generator=gen, dtype=self.W.dtype)
        eps = torch.randn(n, self.W.shape[0], generator=gen, dtype=self.W.dtype)
        return z @ self.W.T + self.b + self.s * eps


def make_model(nz=3, d=5, s=0.7, seed=0, dtype=torch.float64, orthogonal=False, proposal=None):
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(d, nz, generator=gen, dtype=dtype)
    if orthogonal:  # orthogonal columns -> diagonal true posterior
        Q, _ = torch.linalg.qr(W)
        W = Q * torch.linspace(0.5, 2.0, nz, dtype=dtype)
    b = torch.randn(d, generator=gen, dtype=dtype)
    return LinearGaussian(W, b, s, proposal), gen


class ReplayProposal(Distribution):
    """A diagonal Gaussian whose ``rsample`` returns successive slices of a fixed pool of draws."""

    arg_constraints = {}

    def __init__(self, mean, std, pool):
        self.q = Independent(Normal(mean, std), 1)
        self.pool, self.used = pool, 0  # pool [K, B, nz]
        super().__init__(self.q.batch_shape, self.q.event_shape, validate_args=False)

    has_rsample = True

    def rsample(self, sample_shape=torch.Size()):
        n = sample_shape[0]
        z = self.pool[self.used:self.used + n]
        self.used += n
        return z

    def log_prob(self, z):
        return self.q.log_prob(z)


class AffineFlow(Distribution):
    """IAF-like: ``z = mu + std * z0``, ``z0 ~ base = N(0, I)``; only ``rsample_and_log_prob`` gives log q."""

    arg_constraints = {}

    def __init__(self, mu, std):
        self.mu_, self.std_ = mu, std
        self.base = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
        super().__init__(self.base.batch_shape, self.base.event_shape, validate_args=False)

    def rsample_and_log_prob(self, sample_shape):
        z0 = self.base.rsample(sample_shape)
        z = self.mu_ + self.std_ * z0
        return z, self.base.log_prob(z0) - self.std_.log().sum(-1)  # change of variables

    def log_prob(self, z):
        raise AssertionError("the metrics must use rsample_and_log_prob, not log_prob")


class WrappedDiag(Distribution):
    """A diagonal Gaussian torch has no KL rule for (forces the Monte-Carlo KL)."""

    arg_constraints = {}
    has_rsample = True

    def __init__(self, mu, var, with_kl_per_dim=False):
        self.mu, self.var = mu, var
        self.q = Independent(Normal(mu, var.sqrt()), 1)
        if with_kl_per_dim:
            self.kl_per_dim = lambda: 0.5 * (mu**2 + var - 1.0 - var.log())
        super().__init__(self.q.batch_shape, self.q.event_shape, validate_args=False)

    def rsample(self, sample_shape=torch.Size()):
        return self.q.rsample(sample_shape)

    def log_prob(self, z):
        return self.q.log_prob(z)


def diag_kl_closed_form(mu, var):  # KL(N(mu, var) || N(0, I)) summed over dims, [B]
    return 0.5 * (mu**2 + var - 1.0 - var.log()).sum(-1)


# ----------------------------------------------------------------------------------------------
# IW-NLL
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_samples, work_budget", [(1, 1 << 16), (7, 1 << 16), (50, 8)])
def test_iw_nll_exact_with_true_posterior(n_samples, work_budget):
    model, gen = make_model()
    x = model.sample_x(16, gen)
    torch.manual_seed(1)
    nll = metrics.iw_nll(model, x, n_samples=n_samples, work_budget=work_budget)
    assert nll.shape == (16,)
    torch.testing.assert_close(nll, -model.log_marginal(x), rtol=0, atol=1e-6)


def test_iw_nll_approaches_truth_with_poor_diagonal_proposal():
    model, gen = make_model(seed=3)
    x = model.sample_x(64, gen)

    def poor(x):  # shifted mean, inflated diagonal standard deviations
        mean, sigma = model.true_posterior_params(x)
        return Independent(Normal(mean + 0.5, 1.5 * sigma.diagonal().sqrt()), 1)

    model.proposal = poor
    truth = -model.log_marginal(x).mean()
    torch.manual_seed(2)
    gaps = {k: (metrics.iw_nll(model, x, n_samples=k, work_budget=100 * x.numel()).mean() - truth).item()
            for k in (1, 10, 100, 1000)}
    assert gaps[1] > gaps[10] > gaps[100] > gaps[1000] > -0.05
    assert gaps[1000] < 0.05 * gaps[1]

    # K = 1 averages to the negative ELBO, computed here in closed form:
    # -ELBO = -E_q[log p(x|z)] + KL(q || p(z)), with E_q ||x - W z - b||^2 expanded.
    q = poor(x)
    m, v = q.base_dist.loc, q.base_dist.scale**2
    resid = ((x - m @ model.W.T - model.b) ** 2).sum(-1) + (v @ (model.W**2).sum(0))
    d = x.shape[1]
    neg_elbo = 0.5 * d * math.log(2 * math.pi * model.s**2) + 0.5 * resid / model.s**2 \
        + diag_kl_closed_form(m, v)
    torch.manual_seed(3)
    reps = torch.stack([metrics.iw_nll(model, x, n_samples=1) for _ in range(200)])  # [200, B]
    stderr = reps.std() / math.sqrt(reps.numel())
    assert abs(reps.mean() - neg_elbo.mean()) < 5 * stderr


def test_iw_nll_chunked_equals_unchunked_for_the_same_stream():
    model, gen = make_model(seed=4)
    x = model.sample_x(6, gen)
    mean, sigma = model.true_posterior_params(x)
    std = 1.3 * sigma.diagonal().sqrt().expand_as(mean)
    pool = mean + std * torch.randn(50, *mean.shape, generator=gen, dtype=mean.dtype)  # [K, B, nz]
    results = {}
    for budget in (1, 7 * x.numel(), 50 * x.numel(), 1 << 20):
        model.proposal = lambda x: ReplayProposal(mean, std, pool)
        results[budget] = metrics.iw_nll(model, x, n_samples=50, work_budget=budget)
    # independent: all 50 log-weights at once, then one logsumexp
    q = Independent(Normal(mean, std), 1)
    log_w = model.log_likelihood(x, pool) + model.prior.log_prob(pool) - q.log_prob(pool)
    expected = -(torch.logsumexp(log_w, 0) - math.log(50))
    for chunk, value in results.items():
        torch.testing.assert_close(value, expected, rtol=0, atol=1e-12, msg=f"budget={chunk}")


def test_iw_nll_chunked_and_unchunked_agree_statistically():
    model, gen = make_model(seed=5)
    x = model.sample_x(200, gen)
    model.proposal = lambda x: Independent(
        Normal(model.true_posterior_params(x)[0], torch.full((x.shape[0], model.nz), 0.8,
                                                             dtype=x.dtype)), 1)
    torch.manual_seed(6)
    a = metrics.iw_nll(model, x, n_samples=40)
    b = metrics.iw_nll(model, x, n_samples=40, work_budget=9)
    diff = a - b
    assert abs(diff.mean()) < 5 * diff.std() / math.sqrt(diff.numel()) + 1e-12


def test_iw_nll_uses_rsample_and_log_prob_path():
    # orthogonal W -> the true posterior is diagonal; the affine "flow" represents it exactly
    model, gen = make_model(seed=7, orthogonal=True)
    x = model.sample_x(8, gen)
    mean, sigma = model.true_posterior_params(x)
    assert torch.allclose(sigma, torch.diag(sigma.diagonal()), atol=1e-12)
    model.proposal = lambda x: AffineFlow(mean, sigma.diagonal().sqrt().expand_as(mean))
    nll = metrics.iw_nll(model, x, n_samples=5, work_budget=2)
    torch.testing.assert_close(nll, -model.log_marginal(x), rtol=0, atol=1e-6)


def test_metrics_with_the_project_diag_gaussian():
    from duvae.posteriors.gaussian import DiagGaussian

    model, gen = make_model(seed=12, orthogonal=True)
    x = model.sample_x(10, gen)
    mean, sigma = model.true_posterior_params(x)
    var = sigma.diagonal().expand_as(mean)
    model.proposal = lambda x: DiagGaussian(mean, var)
    nll = metrics.iw_nll(model, x, n_samples=4, work_budget=3)
    torch.testing.assert_close(nll, -model.log_marginal(x), rtol=0, atol=1e-6)
    torch.testing.assert_close(metrics.kl_divergence(model, x), diag_kl_closed_form(mean, var))
    mu_got, var_got = metrics.posterior_moments(model, [x])
    assert torch.equal(mu_got, mean) and torch.equal(var_got, var)


def test_iw_nll_eval_mode_no_grad_and_flags_restored():
    model, gen = make_model()
    inner = nn.Dropout()
    model.add_module("inner", inner)
    model.train()
    inner.eval()  # a sub-module deliberately in another mode
    metrics.iw_nll(model, model.sample_x(3, gen), n_samples=2)
    assert model.training_seen == [False] and model.grad_seen == [False]
    assert model.training and not inner.training


@pytest.mark.parametrize("kwargs", [{"n_samples": 0}, {"n_samples": 2.5}, {"work_budget": 0}, {"precision": "fp16"}])
def test_iw_nll_rejects_bad_arguments(kwargs):
    model, gen = make_model()
    with pytest.raises(ValueError, match=str(list(kwargs.values())[0])):
        metrics.iw_nll(model, model.sample_x(2, gen), **kwargs)


# iw_nll's output before the importance weights moved into log_importance_weights, recorded on this
# project's CPU machine (float.hex, so every bit is kept): the toy below, torch.manual_seed(11), K = 37.
# The refactor had to keep them bit for bit. (A CPU with another libm could change the last bits; then
# _iw_nll_before_the_weights_moved below, run on that machine, is the reference.)
IW_NLL_RECORDED = {
    torch.float64: ["0x1.4500d580ccdadp+3", "0x1.6e53f317f214ep+2", "0x1.bec2d1b213092p+2", "0x1.abfcbe2bb2432p+2",
                    "0x1.ec0710f073570p+2", "0x1.9b7ba2b5cff3cp+2", "0x1.fb189a9576478p+2", "0x1.f0c49093061f0p+2",
                    "0x1.a95dae2a25ee2p+2", "0x1.15c17bd69067ap+3"],
    torch.float32: ["0x1.d7c3b40000000p+2", "0x1.3796de0000000p+3", "0x1.b390660000000p+2", "0x1.c50e300000000p+2",
                    "0x1.bd695c0000000p+2", "0x1.bb36440000000p+2", "0x1.94a6740000000p+2", "0x1.da75b40000000p+2",
                    "0x1.7abfae0000000p+2", "0x1.4cee500000000p+3"],
}


def _recorded_toy(dtype):
    """The toy of IW_NLL_RECORDED: a diagonal proposal a little off the true posterior."""
    from duvae.posteriors.gaussian import DiagGaussian

    model, gen = make_model(seed=12, orthogonal=False, dtype=dtype)
    x = model.sample_x(10, gen)
    mean, sigma = model.true_posterior_params(x)
    var = 1.3 * sigma.diagonal().expand_as(mean)
    model.proposal = lambda x: DiagGaussian(mean + 0.1, var)
    return model, x


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("work_budget", [1, 3, 350, 1 << 16])
def test_iw_nll_is_bit_identical_to_its_recorded_output(dtype, work_budget):
    model, x = _recorded_toy(dtype)
    torch.manual_seed(11)
    got = metrics.iw_nll(model, x, n_samples=37, work_budget=work_budget)
    assert got.dtype == dtype
    assert [float(v).hex() for v in got] == IW_NLL_RECORDED[dtype]


def _iw_nll_before_the_weights_moved(model, x, n_samples=500, work_budget=metrics.DEFAULT_WORK_BUDGET,
                                     precision="fp32"):
    """A verbatim copy of iw_nll as it was before log_importance_weights existed (the reference of the next test)."""
    from duvae.metrics import autocast, evaluating, iw_chunks, sample_with_log_prob

    device = x.device
    with evaluating(model), autocast(precision, device):
        q = model.posterior(x)
        prior = model.prior
        B, nz = q.batch_shape[0], q.event_shape[0]
        mu = getattr(getattr(q, "base", q), "mu", None)
        dtype = mu.dtype if mu is not None else torch.get_default_dtype()
        eps = torch.randn(B, n_samples, nz, device=device, dtype=dtype).transpose(0, 1)
        z_all, log_q_all = sample_with_log_prob(q, n_samples, eps=eps)
        dtype = torch.promote_types(log_q_all.dtype, torch.float32)
        log_w = torch.empty(n_samples, B, device=device, dtype=dtype)
        s_chunk, b_chunk = iw_chunks(n_samples, B, x[0].numel(), work_budget)
        for b0 in range(0, B, b_chunk):
            xb = x[b0:b0 + b_chunk]
            for s0 in range(0, n_samples, s_chunk):
                z = z_all[s0:s0 + s_chunk, b0:b0 + b_chunk]
                log_w[s0:s0 + s_chunk, b0:b0 + b_chunk] = (
                    model.log_likelihood(xb, z).to(dtype) + prior.log_prob(z.to(dtype))
                    - log_q_all[s0:s0 + s_chunk, b0:b0 + b_chunk].to(dtype)
                )
        log_px = torch.logsumexp(log_w, dim=0) - math.log(n_samples)
    return -log_px


@pytest.mark.parametrize("name, dataset, budgets, precision", [
    ("du_vae", "synthetic", (1, 7 * 9, 1 << 20), "fp32"),  # 1 and 63: examples split, then samples chunked
    ("du_vae", "synthetic", (1 << 20,), "bf16"),
    ("du_iaf", "synthetic", (9, 1 << 20), "fp32"),
])
def test_iw_nll_is_bit_identical_to_the_code_before_on_the_real_networks(name, dataset, budgets, precision):
    from duvae.runs.zoo import build_model, run_config

    torch.manual_seed(0)
    cfg = run_config(name, dataset, "smoke")
    model = build_model(cfg, vocab_size=40)
    x = torch.randint(4, 40, (6, 9), generator=torch.Generator().manual_seed(1))
    x[:, 0], x[:, -1] = 1, 2
    for budget in budgets:
        torch.manual_seed(5)
        before = _iw_nll_before_the_weights_moved(model, x, 20, budget, precision)
        torch.manual_seed(5)
        assert torch.equal(metrics.iw_nll(model, x, 20, budget, precision), before), budget


def test_log_importance_weights_are_what_iw_nll_averages():
    model, x = _recorded_toy(torch.float64)
    torch.manual_seed(3)
    log_w = metrics.log_importance_weights(model, x, 37, work_budget=3)
    assert log_w.shape == (37, 10) and log_w.dtype == torch.float64
    torch.manual_seed(3)
    assert torch.equal(metrics.iw_nll(model, x, 37, work_budget=3), -(torch.logsumexp(log_w, 0) - math.log(37)))
    # the budget changes the chunks, never the weights; a seeded generator gives the global generator's draws
    seeded = metrics.log_importance_weights(model, x, 37, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(seeded, log_w, rtol=0, atol=1e-12)
    # each weight is log p(x|z) + log p(z) - log q(z|x) at the draw z = mu + sigma eps, eps example-major
    eps = torch.randn(10, 37, model.nz, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    q = model.posterior(x)
    z = q.mu + q.var.sqrt() * eps.transpose(0, 1)
    by_hand = model.log_likelihood(x, z) + model.prior.log_prob(z) - q.log_prob(z)
    torch.testing.assert_close(log_w, by_hand, rtol=0, atol=1e-10)


# ----------------------------------------------------------------------------------------------
# KL
# ----------------------------------------------------------------------------------------------


def _diag_model(proposal_cls, **kw):
    model, gen = make_model(seed=8, orthogonal=True)
    x = model.sample_x(5, gen)
    mu = torch.randn(5, model.nz, generator=gen, dtype=torch.float64)
    var = torch.rand(5, model.nz, generator=gen, dtype=torch.float64) + 0.2
    model.proposal = lambda x: proposal_cls(mu, var, **kw)
    return model, x, mu, var


def test_kl_analytic_matches_closed_form():
    model, x, mu, var = _diag_model(lambda m, v: Independent(Normal(m, v.sqrt()), 1))
    torch.testing.assert_close(metrics.kl_divergence(model, x), diag_kl_closed_form(mu, var))


def test_kl_per_dim_is_used_when_torch_has_no_rule():
    model, x, mu, var = _diag_model(WrappedDiag, with_kl_per_dim=True)
    torch.manual_seed(0)
    kl = metrics.kl_divergence(model, x, n_samples=1)  # exact despite a single sample
    torch.testing.assert_close(kl, diag_kl_closed_form(mu, var))


def test_kl_monte_carlo_agrees_with_analytic_statistically():
    model, x, mu, var = _diag_model(WrappedDiag)
    torch.manual_seed(0)
    n = 20000
    kl_mc = metrics.kl_divergence(model, x, n_samples=n)
    # per-example standard error of the MC mean of log q - log p
    q = Independent(Normal(mu, var.sqrt()), 1)
    z = q.sample((2000,))
    sd = (q.log_prob(z) - model.prior.log_prob(z)).std(0)
    assert kl_mc.shape == (5,)
    assert ((kl_mc - diag_kl_closed_form(mu, var)).abs() < 5 * sd / math.sqrt(n)).all()
    torch.manual_seed(0)
    kl_1 = metrics.kl_divergence(model, x, n_samples=1)
    assert not torch.allclose(kl_1, diag_kl_closed_form(mu, var))  # truly MC, not analytic


# ----------------------------------------------------------------------------------------------
# Mutual information
# ----------------------------------------------------------------------------------------------


def brute_force_mi(mu, var, z):
    """Loop-free N x N x nz reference: -mean H[q(z|x_n)] - mean_n log mean_m N(z_n; mu_m, var_m)."""
    mu, var, z = mu.double(), var.double(), z.double()
    q = Normal(mu, var.sqrt())
    neg_h = -q.entropy().sum(-1).mean()
    log_dens = Normal(mu[None], var.sqrt()[None]).log_prob(z[:, None]).sum(-1)  # [N, N]
    log_qz = torch.logsumexp(log_dens, 1) - math.log(mu.shape[0])
    return (neg_h - log_qz.mean()).item(), log_qz


def test_mi_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    n, nz = 60, 4
    mu = torch.randn(n, nz, generator=gen, dtype=torch.float64)
    var = torch.rand(n, nz, generator=gen, dtype=torch.float64) * 0.5 + 0.05
    eps = torch.randn(n, nz, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    expected, log_qz = brute_force_mi(mu, var, mu + var.sqrt() * eps)
    for chunk in (None, 1, 7, 1000):
        got = metrics.mutual_information(mu, var, generator=torch.Generator().manual_seed(11),
                                         chunk_size=chunk)
        assert got == pytest.approx(expected, abs=1e-10)
    z = mu + var.sqrt() * eps
    torch.testing.assert_close(metrics.log_aggregate_posterior(z[:13], mu, var, chunk_size=5),
                               log_qz[:13], rtol=0, atol=1e-10)


def test_mi_of_identical_posteriors_is_zero():
    n, nz = 2000, 4
    mu = torch.full((n, nz), 0.3).expand(n, nz) + torch.tensor([0.0, 1.0, -2.0, 0.5])
    var = torch.tensor([0.5, 1.0, 2.0, 0.1]).expand(n, nz)
    mi = metrics.mutual_information(mu, var, generator=torch.Generator().manual_seed(0))
    # the estimate is -H + H_hat with H_hat a mean of N terms of variance nz / 2
    assert abs(mi) < 5 * math.sqrt(nz / 2 / n)


def test_mi_of_separated_narrow_posteriors_is_log_n():
    n, nz = 300, 3
    gen = torch.Generator().manual_seed(1)
    mu = (torch.randperm(1000, generator=gen)[: n * nz].reshape(n, nz) * 5.0).float()  # far apart
    mu[:, 0] = torch.arange(n) * 5.0  # distinct rows
    var = torch.full((n, nz), 1e-4)  # std 0.01, float32 inputs
    mi = metrics.mutual_information(mu, var, generator=gen)
    assert mi == pytest.approx(math.log(n), abs=5 * math.sqrt(nz / 2 / n))
    assert mi <= math.log(n) + 5 * math.sqrt(nz / 2 / n)


def test_mi_rejects_bad_moments():
    with pytest.raises(ValueError, match="var"):
        metrics.mutual_information(torch.zeros(3, 2), torch.ones(3, 4))
    with pytest.raises(ValueError, match="-1"):
        metrics.mutual_information(torch.zeros(3, 2), -torch.ones(3, 2))


# ----------------------------------------------------------------------------------------------
# Active units
# ----------------------------------------------------------------------------------------------


def test_active_units_counts_known_variances():
    gen = torch.Generator().manual_seed(0)
    n = 500
    base = torch.randn(n, 5, generator=gen, dtype=torch.float64)
    base = (base - base.mean(0)) / base.std(0)  # every column: unbiased variance exactly ~1
    target = torch.tensor([1.0, 0.02, 0.012, 0.008, 0.0], dtype=torch.float64)
    mu = base * target.sqrt() + torch.tensor([3.0, -1.0, 0.0, 7.0, 2.0], dtype=torch.float64)
    count, a = metrics.active_units(mu)
    torch.testing.assert_close(a, torch.from_numpy(mu.numpy().var(axis=0, ddof=1)))
    assert count == 3
    assert metrics.active_units(mu, threshold=0.015)[0] == 2


def test_active_units_boundary_convention():
    n = 1024  # values {0, 0.25} half and half: mean, deviations and squares exact in binary
    col = torch.tensor([0.0, 0.25], dtype=torch.float64).repeat(n // 2)
    mu = torch.stack([col, 4 * col, col / 4], dim=1)
    boundary = (n * (0.125**2)) / (n - 1)  # unbiased variance of the first column
    assert metrics.active_units(mu, threshold=boundary)[0] == 2  # '>=' (code) counts the boundary
    assert metrics.active_units(mu, threshold=boundary, comparison=">")[0] == 1  # paper's '>'
    with pytest.raises(ValueError, match="=>"):
        metrics.active_units(mu, comparison="=>")
    with pytest.raises(ValueError, match="N=1"):
        metrics.active_units(mu[:1])


# ----------------------------------------------------------------------------------------------
# Moments, perplexity, evaluate
# ----------------------------------------------------------------------------------------------


def test_posterior_moments_reads_mu_var_mean_variance_and_base():
    model, gen = make_model(seed=9, orthogonal=True)
    xs = [model.sample_x(4, gen), model.sample_x(3, gen)]
    mean = torch.cat([model.true_posterior_params(x)[0] for x in xs])
    var = model.true_posterior_params(xs[0])[1].diagonal().expand_as(mean)
    # Independent(Normal): .mean / .variance; batches given as tuples
    model.proposal = lambda x: Independent(Normal(model.true_posterior_params(x)[0],
                                                  var[: x.shape[0]].sqrt()), 1)
    mu_got, var_got = metrics.posterior_moments(model, [(x, None) for x in xs])
    torch.testing.assert_close(mu_got, mean)
    torch.testing.assert_close(var_got, var)
    # .mu / .var attributes
    model.proposal = lambda x: WrappedDiag(x[:, : model.nz] * 0 + 1.5, torch.full_like(x[:, :model.nz], 2.0))
    mu_got, var_got = metrics.posterior_moments(model, xs)
    assert (mu_got == 1.5).all() and (var_got == 2.0).all() and mu_got.shape == (7, model.nz)
    # IAF-like: the base (z0) parameters
    model.proposal = lambda x: AffineFlow(mean[: x.shape[0]], var[: x.shape[0]].sqrt())
    mu_got, var_got = metrics.posterior_moments(model, xs)
    assert (mu_got == 0).all() and (var_got == 1).all()


def test_perplexity():
    assert metrics.perplexity(30.0, 10) == pytest.approx(math.exp(3.0))
    with pytest.raises(ValueError, match="0"):
        metrics.perplexity(1.0, 0)


def test_mpd_and_ce_wrappers_follow_notes_1_4():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    var = torch.rand(40, 3, generator=gen, dtype=torch.float64) + 0.1
    total, per_dim = metrics.mpd_of(mu, var)
    # docs/implementation.md §1.4: MPD_d = 0.5 (mean_{i,j} (mu_i - mu_j)^2 / var_j + mean(var) mean(1/var) - 1)
    pair = ((mu[:, None] - mu[None]) ** 2 / var[None]).mean((0, 1))
    expected = 0.5 * (pair + var.mean(0) * (1 / var).mean(0) - 1)
    torch.testing.assert_close(per_dim, expected)
    assert total == pytest.approx(expected.sum().item())
    total, per_dim = metrics.conditional_entropy_of(var)
    expected = 0.5 * (var.log().mean(0) + math.log(2 * math.pi * math.e))  # eq. 5 per dimension
    torch.testing.assert_close(per_dim, expected)
    assert total == pytest.approx(expected.sum().item())
    with pytest.raises(ValueError, match="var"):
        metrics.mpd_of(mu, var[:, :2])


def _stub_theory_totals(monkeypatch):
    """Replace the MPD / CE wrappers (they call duvae.theory, tested on its own) by recorders."""
    seen = {}

    def mpd_of(mu, var):
        seen["mpd"] = (mu.clone(), var.clone())
        return 1.25, torch.zeros(mu.shape[1])

    def conditional_entropy_of(var):
        seen["ce"] = var.clone()
        return -0.5, torch.zeros(var.shape[1])

    monkeypatch.setattr(metrics, "mpd_of", mpd_of)
    monkeypatch.setattr(metrics, "conditional_entropy_of", conditional_entropy_of)
    return seen


def test_evaluate_on_true_posterior_model(monkeypatch):
    seen = _stub_theory_totals(monkeypatch)
    model, gen = make_model(seed=10, orthogonal=True)
    xs = [model.sample_x(50, gen) for _ in range(4)]

    def diag_true(x):
        mean, sigma = model.true_posterior_params(x)
        return Independent(Normal(mean, sigma.diagonal().sqrt().expand_as(mean)), 1)

    model.proposal = diag_true
    model.train()
    torch.manual_seed(0)
    out = metrics.evaluate(model, [(x, "meta") for x in xs], n_iw=20, work_budget=6,
                           n_tokens_fn=lambda batch: 10 * batch[0].shape[0])
    assert model.training and not any(model.training_seen) and not any(model.grad_seen)
    x_all = torch.cat(xs)
    truth = -model.log_marginal(x_all)
    assert out["n"] == 200
    assert out["nll"] == pytest.approx(truth.mean().item(), abs=1e-6)  # exact proposal
    assert out["elbo"] == out["loss"] == pytest.approx(out["rec"] + out["kl"])
    mean, var = metrics.posterior_moments(model, xs)
    assert out["kl"] == pytest.approx(diag_kl_closed_form(mean, var).mean().item())
    # -ELBO = NLL + KL(q || p(z|x)) = NLL here; rec is single-sample, so compare statistically
    rec_sd = math.sqrt(0.5 * model.W.shape[0])  # log p(x|z) - E: roughly chi2-type spread
    assert abs(out["elbo"] - out["nll"]) < 10 * rec_sd / math.sqrt(200)
    assert out["au"] == metrics.active_units(mean)[0]
    # MPD and CE are computed once, from the moments of the whole set
    assert out["mpd"] == 1.25 and out["ce"] == -0.5
    torch.testing.assert_close(seen["mpd"][0], mean)
    torch.testing.assert_close(seen["mpd"][1], var)
    torch.testing.assert_close(seen["ce"], var)
    assert out["ppl"] == pytest.approx(math.exp(out["nll"] * 200 / 2000))
    assert out["ppl_elbo"] == pytest.approx(math.exp(out["elbo"] * 200 / 2000))
    # MI over the whole set: same as the direct function up to its single-sample noise
    mi_direct = [metrics.mutual_information(mean, var, torch.Generator().manual_seed(s)) for s in range(5)]
    assert min(mi_direct) - 0.3 < out["mi"] < max(mi_direct) + 0.3
    assert "nll" not in metrics.evaluate(model, xs)


def test_evaluate_iaf_like_posterior_uses_same_sample_for_kl():
    model, gen = make_model(seed=11, orthogonal=True)
    xs = [model.sample_x(30, gen)]
    mean, sigma = model.true_posterior_params(xs[0])
    model.proposal = lambda x: AffineFlow(mean, sigma.diagonal().sqrt().expand_as(mean))
    out = metrics.evaluate(model, xs, n_iw=3)
    # true posterior: rec + (log q - log p(z)) = -log p(x) for every single sample
    assert out["elbo"] == pytest.approx(out["nll"], abs=1e-6)
    assert out["nll"] == pytest.approx(-model.log_marginal(xs[0]).mean().item(), abs=1e-6)
    # MPD / CE / AU of the base (z0) Gaussian, here N(0, I) for every example
    assert out["au"] == 0 and out["mpd"] == pytest.approx(0.0)
    assert out["ce"] == pytest.approx(model.nz * 0.5 * math.log(2 * math.pi * math.e))


def test_evaluate_rejects_bad_arguments():
    model, gen = make_model()
    with pytest.raises(ValueError, match="-1"):
        metrics.evaluate(model, [model.sample_x(2, gen)], n_iw=-1)
    with pytest.raises(ValueError, match="empty"):
        metrics.evaluate(model, [])
