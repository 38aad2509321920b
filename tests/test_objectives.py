"""Tests of the training objectives: free bits, annealing, beta/AE, MAE, SA-VAE, and the full loss.

Every value is checked against an independent computation (explicit loops, torch.distributions,
the statistics module, finite differences). The models are tiny (8 binary pixels, nz = 2 or 3), so
the whole file runs in seconds on a CPU.
"""

from __future__ import annotations

import math
import statistics

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Independent, Normal, kl_divergence

from duvae.runs.config import ModelConfig
from duvae.mae import mae_regularisers, pairwise_kl
from duvae.objectives import LossTerms, free_bits_kl, kl_per_dim, kl_weight_at, training_loss
from duvae.posteriors import DUHead, GaussianHead, IAFHead
from duvae.sa_vae import clip_total_norm, negative_elbo, refined_posterior, svi_refine
from duvae.vae import VAE

N_BITS, FEAT = 8, 16


# --------------------------------------------------------------------------------------------
# Tiny stand-ins honouring the posterior / model protocol
# --------------------------------------------------------------------------------------------
class StandInGaussian(Independent):
    """Diagonal Gaussian with the DiagGaussian interface: .mu, .var, kl_per_dim(), .base."""

    def __init__(self, mu, var):
        self.mu, self.var = mu, var
        super().__init__(Normal(mu, var.sqrt()), 1)

    @property
    def base(self):
        return self

    def kl_per_dim(self):
        return 0.5 * (self.mu**2 + self.var - self.var.log() - 1.0)


class StandInFlowPosterior:
    """An 'IAF-like' posterior without an analytic KL: z = s * z0 + m elementwise, z0 ~ N(mu, var).

    Exposes only the IAF interface (rsample_and_log_prob_per_dim, rsample_and_log_prob, base), so
    the objectives must take the Monte-Carlo path. Its true law is N(s mu + m, s^2 var), which gives
    an independent analytic KL to compare the MC estimate with.
    """

    def __init__(self, mu, var, s, m):
        self.base = StandInGaussian(mu, var)
        self.s, self.m = s, m

    def rsample_and_log_prob_per_dim(self, sample_shape=torch.Size()):
        z0 = self.base.rsample(torch.Size(sample_shape))
        log_q0 = self.base.base_dist.log_prob(z0)
        return self.s * z0 + self.m, log_q0 - self.s.log()

    def rsample_and_log_prob(self, sample_shape=torch.Size()):
        z, lq = self.rsample_and_log_prob_per_dim(sample_shape)
        return z, lq.sum(-1)

    def true_law(self):
        return Normal(self.s * self.base.mu + self.m, self.s * self.base.var.sqrt())


class StandInGaussianHead(nn.Module):
    def __init__(self, nz):
        super().__init__()
        self.linear = nn.Linear(FEAT, 2 * nz)

    def forward(self, f, kl_weight=1.0):
        m, l = self.linear(f).chunk(2, -1)
        return StandInGaussian(m, l.exp())


class StandInFlowHead(nn.Module):
    def __init__(self, nz):
        super().__init__()
        self.linear = nn.Linear(FEAT, 2 * nz)
        self.c = nn.Parameter(torch.full((nz,), 2.0))
        self.shift = nn.Parameter(torch.zeros(nz))

    def forward(self, f, kl_weight=1.0):
        m, l = self.linear(f).chunk(2, -1)
        return StandInFlowPosterior(m, l.exp(), torch.sigmoid(self.c), self.shift)


class MLPEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(N_BITS, FEAT), nn.Tanh())

    def forward(self, x):
        return self.net(x)


class BernoulliDecoder(nn.Module):
    """log p(x|z) of 8 independent bits: [S, B] for z [S, B, nz]."""

    def __init__(self, nz):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(nz, FEAT), nn.Tanh(), nn.Linear(FEAT, N_BITS))

    def log_likelihood(self, x, z):
        logits = self.net(z)  # [S, B, 8]
        return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)


HEADS = {
    "standin_gaussian": lambda nz: StandInGaussianHead(nz),
    "standin_flow": lambda nz: StandInFlowHead(nz),
    "gaussian": lambda nz: GaussianHead(FEAT, nz),
    "du": lambda nz: DUHead(FEAT, nz, gamma=0.6, p_keep=0.8),
    "iaf": lambda nz: IAFHead(FEAT, nz, flow_depth=2, flow_width=4),
}


def tiny_vae(head="standin_gaussian", nz=3, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return VAE(MLPEncoder(), HEADS[head](nz), BernoulliDecoder(nz), nz).to(dtype)


def tiny_data(n=32, seed=1, dtype=torch.float32):
    """Noisy copies of 4 prototypes: data with structure a VAE can learn."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(4, N_BITS, generator=g) < 0.5).to(dtype)
    x = protos[torch.randint(0, 4, (n,), generator=g)]
    flip = (torch.rand(n, N_BITS, generator=g) < 0.05).to(dtype)
    return (x + flip) % 2


def analytic_kl_per_dim(q):
    """Independent per-dimension Gaussian KL to N(0, 1) via torch.distributions."""
    return kl_divergence(Normal(q.mu, q.var.sqrt()), Normal(torch.zeros_like(q.mu), torch.ones_like(q.mu)))


def cfg(**kw):
    return ModelConfig(name="test", **kw)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one intra-op thread is faster than several on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------------
# Free bits
# --------------------------------------------------------------------------------------------
def test_free_bits_value_matches_loop():
    torch.manual_seed(0)
    kl = torch.rand(6, 5) * torch.tensor([0.05, 0.2, 1.0, 0.01, 3.0])
    lam = 0.1
    expected = 0.0
    for d in range(kl.shape[1]):
        mean_d = sum(kl[n, d].item() for n in range(kl.shape[0])) / kl.shape[0]
        expected += max(lam, mean_d)
    assert free_bits_kl(kl, lam).item() == pytest.approx(expected, rel=1e-6)


def test_free_bits_zero_gradient_below_lambda():
    torch.manual_seed(0)
    batch = 7
    kl = (torch.rand(batch, 4) * torch.tensor([0.02, 1.0, 0.05, 2.0])).requires_grad_(True)
    lam = 0.1
    free_bits_kl(kl, lam).backward()
    below = kl.detach().mean(0) < lam
    assert below.any() and (~below).any()
    assert torch.all(kl.grad[:, below] == 0)
    assert torch.allclose(kl.grad[:, ~below], torch.full_like(kl.grad[:, ~below], 1.0 / batch))


def test_free_bits_averages_over_samples_and_batch():
    torch.manual_seed(0)
    kl = torch.rand(3, 4, 5)
    expected = kl.reshape(12, 5).mean(0).clamp(min=0.4).sum()
    assert torch.allclose(free_bits_kl(kl, 0.4), expected)
    assert torch.allclose(free_bits_kl(kl, 0.0), kl.mean((0, 1)).sum())


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_free_bits_rejects_bad_lambda(bad):
    with pytest.raises(ValueError, match="lam"):
        free_bits_kl(torch.rand(3, 2), bad)


def test_free_bits_rejects_vector():
    with pytest.raises(ValueError, match="kl_per_dim"):
        free_bits_kl(torch.rand(3), 0.1)


# --------------------------------------------------------------------------------------------
# KL annealing
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kl_start,warm_up,spe", [(0.0, 10, 447), (0.1, 10, 1234.5 / 32), (0.3, 2.5, 7), (1.0, 10, 5)])
def test_annealing_matches_incremental_reference(kl_start, warm_up, spe):
    """Closed form vs the reference's running increment w <- min(1, w + (1 - w0) / (W N))."""
    total = math.ceil(warm_up * spe)
    w_ref = kl_start
    previous = -1.0
    for step in range(total + 20):
        w = kl_weight_at(step, spe, kl_start, warm_up)
        assert isinstance(w, float)
        assert w == pytest.approx(w_ref, abs=1e-9)
        assert previous <= w <= 1.0
        if step >= warm_up * spe:
            assert w == 1.0  # exactly, not 0.99999...
        previous = w
        w_ref = min(1.0, w_ref + (1.0 - kl_start) / (warm_up * spe))


def test_annealing_endpoints():
    assert kl_weight_at(0, 100, 0.0, 10) == 0.0
    assert kl_weight_at(0, 100, 0.1, 10) == 0.1
    assert kl_weight_at(500, 100, 0.0, 10) == pytest.approx(0.5)
    assert kl_weight_at(1000, 100, 0.1, 10) == 1.0
    assert kl_weight_at(10**6, 100, 0.1, 10) == 1.0


def test_annealing_warm_up_zero_is_one():
    for step in (0, 1, 100):
        assert kl_weight_at(step, 447, 0.0, 0) == 1.0


@pytest.mark.parametrize(
    "args,word",
    [((-1, 10, 0.0, 10), "step"), ((0, 0, 0.0, 10), "steps_per_epoch"), ((0, 10, 1.5, 10), "kl_start"),
     ((0, 10, 0.0, -1), "warm_up"), ((1.5, 10, 0.0, 10), "step")],
)
def test_annealing_rejects_bad_arguments(args, word):
    with pytest.raises(ValueError, match=word):
        kl_weight_at(*args)


# --------------------------------------------------------------------------------------------
# KL per dimension: analytic and Monte-Carlo
# --------------------------------------------------------------------------------------------
def test_kl_per_dim_analytic():
    torch.manual_seed(0)
    q = StandInGaussian(torch.randn(5, 3), torch.rand(5, 3) + 0.1)
    prior = Independent(Normal(torch.zeros(3), torch.ones(3)), 1)
    out = kl_per_dim(q, prior)
    assert out.shape == (5, 3)
    assert torch.allclose(out, analytic_kl_per_dim(q), atol=1e-6)


def test_kl_per_dim_monte_carlo_given_sample():
    torch.manual_seed(0)
    q = StandInFlowPosterior(torch.randn(4, 3), torch.rand(4, 3) + 0.1, torch.rand(3) + 0.5, torch.randn(3))
    prior = Independent(Normal(torch.zeros(3), torch.ones(3)), 1)
    z, log_q = q.rsample_and_log_prob_per_dim((2,))
    expected = log_q - (-0.5 * z**2 - 0.5 * math.log(2 * math.pi))
    assert torch.allclose(kl_per_dim(q, prior, z, log_q), expected, atol=1e-6)
    with pytest.raises(ValueError, match="both"):
        kl_per_dim(q, prior, z=z)


def test_kl_per_dim_monte_carlo_is_unbiased():
    torch.manual_seed(0)
    q = StandInFlowPosterior(torch.randn(4, 3), torch.rand(4, 3) + 0.3, torch.rand(3) + 0.5, torch.randn(3))
    prior = Independent(Normal(torch.zeros(3), torch.ones(3)), 1)
    z, log_q = q.rsample_and_log_prob_per_dim((20000,))
    mc = kl_per_dim(q, prior, z, log_q).mean(0)
    law = q.true_law()
    exact = kl_divergence(law, Normal(torch.zeros_like(law.loc), torch.ones_like(law.loc)))
    assert torch.allclose(mc, exact, atol=0.05)


# --------------------------------------------------------------------------------------------
# MAE against explicit loops
# --------------------------------------------------------------------------------------------
def _mae_inputs(batch=4, nz=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(batch, nz, generator=g, dtype=torch.float64)
    var = torch.rand(batch, nz, generator=g, dtype=torch.float64) + 0.2
    return mu, var


def test_pairwise_kl_matches_loops():
    mu, var = _mae_inputs()
    out = pairwise_kl(mu, var)
    batch, nz = mu.shape
    assert out.shape == (batch, batch, nz)
    for i in range(batch):
        for j in range(batch):
            for d in range(nz):
                p = Normal(mu[i, d], var[i, d].sqrt())
                q = Normal(mu[j, d], var[j, d].sqrt())
                assert out[i, j, d].item() == pytest.approx(kl_divergence(p, q).item(), abs=1e-12)


@pytest.mark.parametrize("batch", [2, 3, 5])
def test_mae_regularisers_match_loops(batch):
    mu, var = _mae_inputs(batch=batch, nz=3, seed=batch)
    diversity, smoothness = mae_regularisers(mu, var)
    nz = mu.shape[1]

    def kl(i, j, d):
        a, b = var[i, d].item(), var[j, d].item()
        return 0.5 * (a / b + (mu[i, d].item() - mu[j, d].item()) ** 2 / b - math.log(a / b) - 1)

    pairs = [(i, j) for i in range(batch) for j in range(batch) if i != j]
    m = [sum(kl(i, j, d) for i, j in pairs) / (batch * (batch - 1)) for d in range(nz)]
    expected_div = sum(-math.log(1 / (1 + math.exp(-m_d))) for m_d in m)
    entries = []
    for i in range(batch):
        for j in range(batch):
            entries.append(sum(m) if i == j else sum(kl(i, j, d) for d in range(nz)))
    n = batch * batch
    expected_smooth = statistics.stdev(entries) * math.sqrt((n - 1) / (n - batch - 1))
    assert diversity.item() == pytest.approx(expected_div, rel=1e-10)
    assert smoothness.item() == pytest.approx(expected_smooth, rel=1e-10)
    # S is the unbiased std of the off-diagonal entries (the note's construction, restated).
    off = [sum(kl(i, j, d) for d in range(nz)) for i in range(batch) for j in range(batch) if i != j]
    if len(off) > 1:
        assert smoothness.item() == pytest.approx(statistics.stdev(off), rel=1e-10)


def test_mae_needs_two_examples():
    mu, var = _mae_inputs(batch=1)
    with pytest.raises(ValueError, match="batch size 1"):
        mae_regularisers(mu, var)
    with pytest.raises(ValueError, match="shape"):
        pairwise_kl(mu, var[:, :2])


# --------------------------------------------------------------------------------------------
# training_loss: weighting of the terms
# --------------------------------------------------------------------------------------------
def _loss_with_seed(model, x, kl_weight, config, seed=123):
    torch.manual_seed(seed)
    return training_loss(model, x, kl_weight, config)


def test_plain_loss_terms_are_rec_and_analytic_kl():
    model, x = tiny_vae(), tiny_data()
    terms = _loss_with_seed(model, x, 0.3, cfg())
    assert isinstance(terms, LossTerms)
    q = model.posterior(x)
    torch.manual_seed(123)
    z = model.posterior(x).rsample((1,))
    rec = -model.log_likelihood(x, z)[0]
    assert terms.rec.shape == terms.kl.shape == (x.shape[0],)
    assert torch.allclose(terms.rec, rec, atol=1e-6)
    assert torch.allclose(terms.kl, analytic_kl_per_dim(q).sum(-1), atol=1e-6)
    assert torch.allclose(terms.loss, rec.mean() + 0.3 * terms.kl.mean(), atol=1e-6)
    assert terms.extra["kl_weight"].item() == pytest.approx(0.3)


@pytest.mark.parametrize("beta", [0.0, 0.4, 0.8])
def test_beta_replaces_annealing_weight(beta):
    model, x = tiny_vae(), tiny_data()
    for kl_weight in (0.0, 0.5, 1.0):
        terms = _loss_with_seed(model, x, kl_weight, cfg(beta=beta))
        assert torch.allclose(terms.loss, terms.rec.mean() + beta * terms.kl.mean(), atol=1e-6)
        assert terms.extra["kl_weight"].item() == pytest.approx(beta)
    if beta == 0.0:  # AE: the KL does not touch the loss, the variances get no gradient from it
        assert torch.allclose(terms.loss, terms.rec.mean())


def test_free_bits_loss_uses_annealed_clamped_kl():
    model, x = tiny_vae(), tiny_data()
    lam = 0.3
    terms = _loss_with_seed(model, x, 0.7, cfg(free_bits=lam))
    per_dim = analytic_kl_per_dim(model.posterior(x)).mean(0)
    expected_fb = sum(max(lam, v) for v in per_dim.tolist())
    assert (per_dim < lam).any() or (per_dim > lam).any()
    assert terms.extra["fb_kl"].item() == pytest.approx(expected_fb, rel=1e-5)
    assert (terms.loss - terms.rec.mean()).item() == pytest.approx(0.7 * expected_fb, rel=1e-5)


def test_mae_loss_adds_weighted_regularisers():
    model, x = tiny_vae(), tiny_data()
    config = cfg(mae_diversity=2.0, mae_smoothness=0.2)
    terms = _loss_with_seed(model, x, 1.0, config)
    q = model.posterior(x)
    div, smooth = mae_regularisers(q.mu.double(), q.var.double())
    assert terms.extra["mae_div"].item() == pytest.approx(div.item(), rel=1e-5)
    assert terms.extra["mae_smooth"].item() == pytest.approx(smooth.item(), rel=1e-5)
    extra = (terms.loss - terms.rec.mean() - terms.kl.mean()).item()
    assert extra == pytest.approx(2.0 * div.item() + 0.2 * smooth.item(), rel=1e-5)


def test_monte_carlo_kl_for_flow_posterior():
    model, x = tiny_vae("standin_flow"), tiny_data()
    terms = _loss_with_seed(model, x, 1.0, cfg(free_bits=0.2))
    # Re-draw the same sample: the reported KL is the MC estimate at the decoder's z.
    torch.manual_seed(123)
    z, log_q = model.posterior(x).rsample_and_log_prob_per_dim((1,))
    kl_pd = (log_q - Normal(0.0, 1.0).log_prob(z))[0]
    assert torch.allclose(terms.kl, kl_pd.sum(-1), atol=1e-5)
    assert torch.allclose(terms.rec, -model.log_likelihood(x, z)[0], atol=1e-5)
    assert terms.extra["fb_kl"].item() == pytest.approx(kl_pd.mean(0).clamp(min=0.2).sum().item(), rel=1e-5)


def test_training_loss_rejects_bad_weight():
    model, x = tiny_vae(), tiny_data()
    with pytest.raises(ValueError, match="kl_weight"):
        training_loss(model, x, -0.5, cfg())


# --------------------------------------------------------------------------------------------
# SA-VAE
# --------------------------------------------------------------------------------------------
def test_clip_total_norm_rescales_the_whole_batch():
    g = torch.tensor([[3.0, 4.0], [0.3, 0.4], [30.0, 40.0], [0.0, 0.0]])
    total = math.sqrt(sum(v * v for row in g.tolist() for v in row))  # 50.25..., over every entry
    out = clip_total_norm(g, 5.0)
    factor = 5.0 / (total + 1e-6)
    assert out.tolist() == [[pytest.approx(v * factor, rel=1e-6, abs=1e-7) for v in row] for row in g.tolist()]
    assert out.norm().item() == pytest.approx(5.0, rel=1e-6)
    small = torch.tensor([[0.3, 0.4]])
    assert torch.equal(clip_total_norm(small, 5.0), small)  # under the bound: unchanged
    assert torch.equal(clip_total_norm(g, math.inf), g)
    with pytest.raises(ValueError, match="max_norm"):
        clip_total_norm(g, 0.0)


def test_svi_step_is_the_batch_mean_gradient():
    """One unclipped step without momentum moves example n by -(lr / B) * grad f_n, as the reference's
    batch-mean objective does (He et al.'s variational_loss, Kim et al.'s OptimN2N)."""
    model, x = tiny_vae("gaussian", nz=2), tiny_data(n=5)
    q = model.posterior(x)
    mu0, logvar0 = q.mu.detach(), q.var.log().detach()
    torch.manual_seed(21)
    mu1, logvar1 = svi_refine(model, x, mu0, logvar0, steps=1, lr=0.7, momentum=0.0, create_graph=False,
                              max_grad_norm=math.inf)
    # independent: each example's own gradient of f_n, at the same noise
    mu, logvar = mu0.clone().requires_grad_(True), logvar0.clone().requires_grad_(True)
    torch.manual_seed(21)
    f = negative_elbo(model, x, mu, logvar)  # [B]
    rows = [torch.autograd.grad(f[n], (mu, logvar), retain_graph=True) for n in range(5)]
    g_mu = torch.stack([r[0][n] for n, r in enumerate(rows)])
    g_logvar = torch.stack([r[1][n] for n, r in enumerate(rows)])
    assert torch.allclose(mu1, mu0 - 0.7 / 5 * g_mu, atol=1e-6)
    assert torch.allclose(logvar1, logvar0 - 0.7 / 5 * g_logvar, atol=1e-6)
    assert not torch.allclose(mu1, mu0 - 0.7 * g_mu, atol=1e-6)  # not the summed objective's step


def test_svi_step_is_clipped_over_the_batch():
    """With a tiny bound, the first step moves the whole batch's mu by exactly lr * max_grad_norm."""
    model, x = tiny_vae("gaussian", nz=2), tiny_data(n=8)
    q = model.posterior(x)
    mu0, logvar0 = q.mu.detach(), q.var.log().detach()
    mu1, logvar1 = svi_refine(model, x, mu0, logvar0, steps=1, lr=1.0, momentum=0.5, create_graph=False,
                              max_grad_norm=1e-3)
    assert (mu1 - mu0).norm().item() == pytest.approx(1e-3, rel=1e-3)
    assert (logvar1 - logvar0).norm().item() == pytest.approx(1e-3, rel=1e-3)


def _expected_neg_elbo(model, x, mu, logvar, n_samples=4000, seed=7):
    """Independent Monte-Carlo estimate of E_q[-log p(x|z)] + KL(q || N(0, I)), per example."""
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn((n_samples,) + tuple(mu.shape), generator=g, dtype=mu.dtype)
    z = mu + (0.5 * logvar).exp() * eps
    with torch.no_grad():
        rec = -model.log_likelihood(x, z).mean(0)
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    return rec + kl


def test_svi_refinement_improves_elbo():
    model, x = tiny_vae("gaussian", nz=2), tiny_data(n=16)
    q = model.posterior(x)
    mu0, logvar0 = q.mu.detach(), q.var.log().detach()
    torch.manual_seed(0)
    mu_k, logvar_k = svi_refine(model, x, mu0, logvar0, steps=10, lr=1.0, momentum=0.5, create_graph=False)
    before = _expected_neg_elbo(model, x, mu0, logvar0)
    after = _expected_neg_elbo(model, x, mu_k.detach(), logvar_k.detach())
    assert after.mean() < before.mean() - 0.05
    assert (after < before + 1e-3).float().mean() >= 0.75  # most examples improve individually


def test_svi_refine_gradient_is_exact_second_order():
    """Autograd through the unrolled steps equals finite differences (fixed noise via the seed)."""
    model, x = tiny_vae("gaussian", nz=2, dtype=torch.float64), tiny_data(n=3, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    mu0 = torch.randn(3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    logvar0 = (0.3 * torch.randn(3, 2, generator=g, dtype=torch.float64)).requires_grad_(True)

    def refined(mu, logvar):
        torch.manual_seed(11)  # the same eps in every evaluation
        return svi_refine(model, x, mu, logvar, steps=3, lr=0.5, momentum=0.5, max_grad_norm=1.0)

    assert torch.autograd.gradcheck(refined, (mu0, logvar0), eps=1e-6, atol=1e-5)


def test_svi_refine_first_order_keeps_encoder_graph():
    """create_graph=False: constant inner gradients, so d mu_K / d mu_0 = I, and the encoder graph survives."""
    model, x = tiny_vae("gaussian", nz=2), tiny_data(n=6)
    q = model.posterior(x)
    mu0, logvar0 = q.mu, q.var.log()
    mu0.retain_grad()
    logvar0.retain_grad()
    torch.manual_seed(0)
    mu_k, logvar_k = svi_refine(model, x, mu0, logvar0, steps=3, lr=1.0, momentum=0.5, create_graph=False)
    (mu_k.sum() + 2.0 * logvar_k.sum()).backward()
    assert torch.allclose(mu0.grad, torch.ones_like(mu0))
    assert torch.allclose(logvar0.grad, torch.full_like(logvar0, 2.0))
    assert all(p.grad is None for p in model.decoder.parameters())  # inner steps leave no decoder gradient
    assert model.head.linear.weight.grad.abs().sum() > 0


def test_sa_loss_reaches_encoder_and_decoder():
    model, x = tiny_vae("gaussian", nz=2), tiny_data(n=16)
    terms = _loss_with_seed(model, x, 1.0, cfg(procedure="sa", svi_steps=3))
    terms.loss.backward()
    for part in (model.encoder, model.head, model.decoder):
        grads = [p.grad for p in part.parameters()]
        assert all(g_ is not None and torch.isfinite(g_).all() for g_ in grads)
        assert sum(g_.abs().sum() for g_ in grads) > 0
    assert "kl_init" in terms.extra


def test_sa_with_zero_steps_is_the_plain_elbo():
    model, x = tiny_vae("gaussian", nz=2), tiny_data(n=16)
    plain = _loss_with_seed(model, x, 0.6, cfg())
    sa = _loss_with_seed(model, x, 0.6, cfg(procedure="sa", svi_steps=0))
    assert torch.allclose(sa.loss, plain.loss, atol=1e-5)
    assert torch.allclose(sa.rec, plain.rec, atol=1e-5)
    assert torch.allclose(sa.kl, plain.kl, atol=1e-5)


def test_svi_refine_under_no_grad_and_steps_zero():
    model, x = tiny_vae("gaussian", nz=2), tiny_data(n=8)
    q = model.posterior(x)
    mu, logvar = q.mu, q.var.log()
    assert svi_refine(model, x, mu, logvar, 0, 1.0, 0.5) == (mu, logvar)
    with torch.no_grad():
        mu0 = model.posterior(x).mu
        mu_k, logvar_k = svi_refine(model, x, mu0, logvar.detach(), 2, 1.0, 0.5)
        q_k = refined_posterior(model, x, model.posterior(x), 2, 1.0, 0.5, create_graph=False)
    assert not mu_k.requires_grad and not logvar_k.requires_grad
    assert not torch.allclose(mu_k, mu0)
    assert q_k.mu.shape == mu0.shape


def test_negative_elbo_shape_and_value():
    model, x = tiny_vae("gaussian", nz=2), tiny_data(n=5)
    q = model.posterior(x)
    mu, logvar = q.mu, q.var.log()
    torch.manual_seed(4)
    out = negative_elbo(model, x, mu, logvar, kl_weight=0.5)
    torch.manual_seed(4)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    expected = -model.log_likelihood(x, z[None])[0] + 0.5 * analytic_kl_per_dim(q).sum(-1)
    assert out.shape == (5,)
    assert torch.allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize(
    "kw,word",
    [
        ({"steps": -1}, "steps"),
        ({"lr": 0.0}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"max_grad_norm": 0}, "max_grad_norm"),
    ],
)
def test_svi_refine_rejects_bad_arguments(kw, word):
    model, x = tiny_vae("gaussian", nz=2), tiny_data(n=4)
    q = model.posterior(x)
    args = {"steps": 1, "lr": 1.0, "momentum": 0.5} | kw
    with pytest.raises(ValueError, match=word):
        svi_refine(model, x, q.mu, q.var.log(), **args)


def test_sa_rejects_non_gaussian_posterior():
    model, x = tiny_vae("standin_flow"), tiny_data(n=4)
    with pytest.raises(ValueError, match="Gaussian"):
        refined_posterior(model, x, model.posterior(x), 1, 1.0, 0.5)


# --------------------------------------------------------------------------------------------
# The loss trains: finite and decreasing over a few Adam steps, for every objective and head
# --------------------------------------------------------------------------------------------
CASES = {
    "plain": ("standin_gaussian", cfg()),
    "beta": ("standin_gaussian", cfg(beta=0.4)),
    "ae": ("standin_gaussian", cfg(beta=0.0)),
    "free_bits": ("standin_gaussian", cfg(free_bits=0.1)),
    "mae": ("standin_gaussian", cfg(mae_diversity=1.0, mae_smoothness=0.2)),
    "sa": ("gaussian", cfg(procedure="sa", svi_steps=2)),
    "flow_free_bits": ("standin_flow", cfg(free_bits=0.15)),
    "real_gaussian": ("gaussian", cfg()),
    "real_du": ("du", cfg(head="du", gamma=0.6, p_keep=0.8, delta_rate=1.0)),
    "real_iaf_fb": ("iaf", cfg(head="iaf", free_bits=0.15)),
    "real_iaf_mae": ("iaf", cfg(head="iaf", mae_diversity=0.5, mae_smoothness=0.2)),
}


def _eval_loss(model, x, config, kl_weight):
    return sum(_loss_with_seed(model, x, kl_weight, config, seed=s).loss.item() for s in range(5)) / 5


@pytest.mark.parametrize("case", list(CASES))
def test_loss_is_finite_and_decreases(case):
    head, config = CASES[case]
    model, x = tiny_vae(head, nz=2), tiny_data(n=32)
    model.train()
    before = _eval_loss(model, x, config, 1.0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    torch.manual_seed(0)
    for _ in range(40):
        terms = training_loss(model, x, 1.0, config)
        assert torch.isfinite(terms.loss)
        assert torch.isfinite(terms.rec).all() and torch.isfinite(terms.kl).all()
        opt.zero_grad()
        terms.loss.backward()
        opt.step()
    after = _eval_loss(model, x, config, 1.0)
    assert math.isfinite(after)
    assert after < before - 0.1, (before, after)
