"""Tests of the posterior heads (duvae.posteriors): each invariant checked against an
independent computation (hand-written formulas, torch's own KL, autograd Jacobians, numerical
integration). Small sizes, float64 where an identity must hold to round-off."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from duvae.runs.device import pick_device
from duvae.posteriors import (
    MADE,
    BatchNormMean,
    BNVAEHead,
    DeltaHead,
    DiagGaussian,
    DUHead,
    GaussianHead,
    IAFHead,
    IAFPosterior,
    delta_variance_bounds,
    variance_floor,
)

ALPHA = 1.0 / (2 * math.pi * math.e)
D = torch.float64


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global RNG state (head initialisations are reproducible)."""
    torch.manual_seed(0)


def std_normal(nz: int, dtype=D) -> Independent:
    return Independent(Normal(torch.zeros(nz, dtype=dtype), torch.ones(nz, dtype=dtype)), 1)


def features(batch: int, in_features: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(batch, in_features, dtype=D, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- Gaussian


def test_alpha_value():
    assert variance_floor(1.0) == pytest.approx(0.0585498, abs=1e-7)
    assert variance_floor(0.0) == 0.0


def test_diag_gaussian_kl_logprob_and_base():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(6, 3, dtype=D, generator=g)
    var = torch.rand(6, 3, dtype=D, generator=g) + 0.1
    q = DiagGaussian(mu, var)
    assert q.batch_shape == (6,) and q.event_shape == (3,)
    assert q.base is q
    assert torch.equal(q.mu, mu) and torch.equal(q.var, var)
    # torch's own Normal-Normal KL is an independent reference for the per-dimension formula
    ref = kl_divergence(Normal(mu, var.sqrt()), Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    torch.testing.assert_close(q.kl_per_dim(), ref)
    torch.testing.assert_close(kl_divergence(q, std_normal(3)), ref.sum(-1))
    z, log_q = q.rsample_and_log_prob((4,), generator=g)
    assert z.shape == (4, 6, 3) and log_q.shape == (4, 6)
    torch.testing.assert_close(log_q, Normal(mu, var.sqrt()).log_prob(z).sum(-1))
    assert q.expand((2, 6)).batch_shape == (2, 6)


def test_gaussian_head_floor_switch():
    head = GaussianHead(5, 3).double()
    f = features(4, 5)
    m, l = head.linear(f).chunk(2, dim=-1)
    q = head(f, kl_weight=0.3)
    torch.testing.assert_close(q.mu, m)
    torch.testing.assert_close(q.var, l.exp())  # vanilla VAE: no floor ever
    torch.testing.assert_close(head(f, kl_weight=1.0).var, l.exp())

    floored = GaussianHead(5, 3, delta_rate=1.0).double()
    floored.load_state_dict(head.state_dict())
    torch.testing.assert_close(floored(f, kl_weight=0.3).var, l.exp())  # before annealing ends
    torch.testing.assert_close(floored(f, kl_weight=1.0).var, l.exp() + ALPHA)
    always = GaussianHead(5, 3, delta_rate=1.0, floor_after_annealing=False).double()
    always.load_state_dict(head.state_dict())
    torch.testing.assert_close(always(f, kl_weight=0.0).var, l.exp() + ALPHA)


# --------------------------------------------------------------------------- BatchNormMean


def test_bn_training_batch_moments():
    bn = BatchNormMean(4, gamma=0.6).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.2, 1.5, -0.7, 0.9]))  # arbitrary: forward renormalises
        bn.bias.copy_(torch.tensor([0.3, -1.0, 0.0, 2.0]))
    m = 3.0 * features(64, 4, seed=2) + 5.0
    out = bn(m)
    w = bn.weight.detach()
    torch.testing.assert_close(w.pow(2).mean(), torch.tensor(0.36, dtype=D))  # RMS = gamma
    torch.testing.assert_close(out.mean(0), bn.bias.detach(), atol=1e-12, rtol=0)  # mean = shift
    s2 = m.var(0, unbiased=False)  # biased batch variance
    torch.testing.assert_close(out.var(0, unbiased=False), w.pow(2) * s2 / (s2 + bn.eps))  # eq. 9
    torch.testing.assert_close(out.var(0, unbiased=False), w.pow(2), rtol=1e-5, atol=0)  # up to eps
    # running statistics (momentum 0.1, unbiased variance), then used at evaluation
    torch.testing.assert_close(bn.running_mean, 0.1 * m.mean(0))
    torch.testing.assert_close(bn.running_var, 0.9 + 0.1 * m.var(0, unbiased=True))
    bn.eval()
    x = features(3, 4, seed=3)
    expected = w * (x - bn.running_mean) / (bn.running_var + bn.eps).sqrt() + bn.bias.detach()
    torch.testing.assert_close(bn(x), expected)
    torch.testing.assert_close(bn(x[:1]), expected[:1])  # eval, batch of one: running stats


def test_bn_single_example_training_skips():
    bn = BatchNormMean(3, gamma=0.5).double()
    m = features(1, 3)
    assert torch.equal(bn(m), m)
    assert torch.equal(bn.running_mean, torch.zeros(3, dtype=D))


def test_bn_renormalisation_after_optimiser_step():
    gamma = 0.5
    bn = BatchNormMean(4, gamma=gamma).double()
    opt = torch.optim.SGD(bn.parameters(), lr=0.3)
    c = torch.tensor([1.0, -1.0, 2.0, -0.5], dtype=D)  # shrink some scales, grow others
    m = features(32, 4, seed=4)
    for _ in range(3):
        loss = (c * bn(m).pow(2).mean(0)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        w_step = bn.weight.detach().clone()
        assert abs(w_step.pow(2).mean().item() - gamma**2) > 1e-3  # the step moved the RMS
        assert w_step.std() > 1e-3  # and pushed the scales apart
        bn(m)  # next forward renormalises first
        w = bn.weight.detach()
        torch.testing.assert_close(w.pow(2).mean(), torch.tensor(gamma**2, dtype=D))
        torch.testing.assert_close(w, w_step * gamma / w_step.pow(2).mean().sqrt())  # same direction
    bn.eval()
    before = bn.weight.detach().clone()
    bn(m)
    torch.testing.assert_close(bn.weight.detach(), before)  # idempotent at eval


def test_bn_all_zero_scales_are_reset_to_gamma():
    """The degenerate case of Alg. 1 line 9, as duvae.theory.renormalise_scales decides it: back to gamma."""
    from duvae import theory

    bn = BatchNormMean(4, gamma=0.6).double()
    with torch.no_grad():
        bn.weight.zero_()  # every scale collapsed: no direction to keep
    m = 3.0 * features(32, 4, seed=12) + 1.0
    out = bn(m)
    assert torch.equal(bn.weight.detach(), torch.full((4,), 0.6, dtype=D))  # Alg. 1 line 1's initialisation
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.var(0, unbiased=False), torch.full((4,), 0.36, dtype=D), rtol=1e-4, atol=0)
    assert torch.equal(theory.renormalise_scales(torch.zeros(4, dtype=D), 0.6), bn.weight.detach())
    fixed = BatchNormMean(4, gamma=0.6, learnable_scale=False).double()  # BN-VAE: nothing to renormalise
    with torch.no_grad():
        fixed.weight.zero_()
    fixed(m)
    assert torch.equal(fixed.weight, torch.zeros(4, dtype=D))


def test_bn_forward_is_the_theory_functions():
    """BatchNormMean runs duvae.theory.renormalise_scales and batchnorm_means, bit for bit."""
    from duvae import theory

    bn = BatchNormMean(3, gamma=0.5).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.1, -2.0, 0.7]))
        bn.bias.copy_(torch.tensor([0.3, 0.0, -1.0]))
    w = theory.renormalise_scales(bn.weight.detach().clone(), 0.5)
    running_mean, running_var = bn.running_mean.clone(), bn.running_var.clone()
    m = features(16, 3, seed=13)
    out = bn(m)
    assert torch.equal(bn.weight.detach(), w)
    want = theory.batchnorm_means(m, w, bn.bias.detach(), bn.eps, running_mean, running_var)
    assert torch.equal(out, want) and torch.equal(bn.running_mean, running_mean)


def test_bn_vae_scale_fixed_after_steps():
    torch.manual_seed(0)
    head = BNVAEHead(5, 3, gamma=0.6).double()
    assert all(p is not head.bn.weight for p in head.parameters())
    scale0 = head.bn.weight.clone()
    torch.testing.assert_close(scale0, torch.full((3,), 0.6, dtype=D))
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    f = features(16, 5, seed=5)
    c = torch.tensor([1.0, -1.0, 2.0], dtype=D)
    for _ in range(3):
        q = head(f)
        loss = (c * q.mu.pow(2).mean(0)).sum() + (q.mu.mean(0) * c).sum() + q.var.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(head.bn.weight, scale0)  # exactly gamma, untouched
    assert head.bn.bias.detach().abs().max() > 0  # the shift did learn
    q = head(f)
    m, l = head.linear(f).chunk(2, dim=-1)
    torch.testing.assert_close(q.var, l.exp())  # no floor, no dropout
    torch.testing.assert_close(q.mu.var(0, unbiased=False), torch.full((3,), 0.36, dtype=D), rtol=1e-4, atol=0)


# --------------------------------------------------------------------------- DU head


def make_du(**kw) -> DUHead:
    args = dict(in_features=6, nz=3, gamma=0.5, p_keep=0.7)
    args.update(kw)
    return DUHead(**args).double()


def test_du_dropout_keeps_mean_variance_and_floor():
    p = 0.7
    head = make_du(p_keep=p)
    head.train()
    B, N = 4, 20_000
    f = features(B, 6, seed=6)
    gen = torch.Generator().manual_seed(7)
    mu_hat, var, var_hat = head.moments(f.repeat(N, 1), kl_weight=1.0, generator=gen)
    var, var_hat = var.view(N, B, 3), var_hat.view(N, B, 3)
    _, l = head.linear(f).chunk(2, dim=-1)
    excess = l.exp()
    torch.testing.assert_close(var[0], excess + ALPHA)  # floor: exp(l) + alpha
    assert (var_hat >= ALPHA).all()  # never below the floor
    kept = var_hat > ALPHA + 1e-12
    # each entry is alpha (dropped) or alpha + excess / p (kept), eq. 6
    torch.testing.assert_close(var_hat[kept], (ALPHA + excess / p).expand(N, B, 3)[kept])
    torch.testing.assert_close(var_hat[~kept], torch.full_like(var_hat[~kept], ALPHA))
    # E_g[var_hat] = var (Prop. 1), within 5 standard errors of the Monte Carlo mean
    se = excess * math.sqrt((1 - p) / p) / math.sqrt(N)
    assert ((var_hat.mean(0) - var[0]).abs() <= 5 * se).all()
    # masks i.i.d. per example and dimension with keep rate p
    rate = kept.double().mean()
    assert abs(rate.item() - p) < 5 * math.sqrt(p * (1 - p) / kept.numel())
    assert not (kept[:, :, 0] == kept[:, :, 1]).all()


def test_du_eval_deterministic_and_independent_forward():
    head = make_du()
    f = features(8, 6, seed=8)
    head.train()
    head(f)  # one training batch, so running stats are non-trivial
    head.eval()
    q1, q2 = head(f), head(f)
    assert torch.equal(q1.var, q2.var) and torch.equal(q1.mu, q2.mu)
    m, l = head.linear(f).chunk(2, dim=-1)
    bn = head.bn
    mu_ref = bn.weight * (m - bn.running_mean) / (bn.running_var + bn.eps).sqrt() + bn.bias
    torch.testing.assert_close(q1.mu, mu_ref)
    torch.testing.assert_close(q1.var, l.exp() + ALPHA)  # floor, no dropout


def test_du_switch_on_after_annealing():
    f = features(16, 6, seed=9)
    official = make_du(p_keep=0.5)
    official.train()
    _, l = official.linear(f).chunk(2, dim=-1)
    _, var, var_hat = official.moments(f, kl_weight=0.5)
    torch.testing.assert_close(var, l.exp())  # no floor during annealing
    assert torch.equal(var_hat, var)  # and no dropout
    _, var, var_hat = official.moments(f, kl_weight=1.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(var, l.exp() + ALPHA)  # floor on
    assert not torch.equal(var_hat, var)  # dropout on (64 entries, p = 0.5)
    assert official.switched_on(1.0) and not official.switched_on(0.99)

    paper = make_du(p_keep=0.5, switch_on_after_annealing=False)
    paper.load_state_dict(official.state_dict())
    paper.train()
    _, var, var_hat = paper.moments(f, kl_weight=0.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(var, l.exp() + ALPHA)  # Algorithm 1: both from the start
    assert not torch.equal(var_hat, var)
    assert (var_hat >= ALPHA).all()


def test_du_p_keep_one_no_dropout():
    head = make_du(p_keep=1.0)
    head.train()
    f = features(8, 6, seed=10)
    _, var, var_hat = head.moments(f, kl_weight=1.0)
    _, l = head.linear(f).chunk(2, dim=-1)
    torch.testing.assert_close(var_hat, l.exp() + ALPHA)
    assert isinstance(head.bn.weight, torch.nn.Parameter)


def test_du_kl_uses_dropped_variance():
    head = make_du(p_keep=0.5)
    head.train()
    f = features(8, 6, seed=11)
    torch.manual_seed(0)
    mu_hat, _, var_hat = head.moments(f)
    torch.manual_seed(0)
    q = head(f)
    torch.testing.assert_close(q.var, var_hat)
    torch.testing.assert_close(q.kl_per_dim(), 0.5 * (mu_hat**2 + var_hat - var_hat.log() - 1))


# --------------------------------------------------------------------------- delta-VAE


@pytest.mark.parametrize("delta", [0.01, 0.1, 1.0])
def test_delta_roots(delta):
    v_l, v_u = delta_variance_bounds(delta)
    assert 0 < v_l < 1 < v_u
    for v in (v_l, v_u):
        assert abs(math.log(v) - v + 1 + 2 * delta) < 1e-12
    if delta == 0.1:  # the numbers quoted in docs/implementation.md §5.6
        assert v_l == pytest.approx(0.49324, abs=1e-5) and v_u == pytest.approx(1.77225, abs=1e-5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_delta_kl_lower_bound(dtype):
    delta = 0.1
    head = DeltaHead(5, 4, delta=delta).to(dtype)
    f = torch.randn(256, 5, generator=torch.Generator().manual_seed(12)).to(dtype)
    f[:64] *= 50.0  # saturate the logistic at both ends
    q = head(f)
    kl = q.kl_per_dim()
    assert (kl >= delta).all(), kl.min()
    sigma = q.var.sqrt()
    assert (sigma >= head.sigma_lower - 1e-6).all() and (sigma <= head.sigma_upper + 1e-6).all()
    m, _ = head.linear(f).chunk(2, dim=-1)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(kl, delta + torch.relu(m) / 2 + 5e-7, atol=tol, rtol=tol)
    assert (q.mu >= 0).all()


# --------------------------------------------------------------------------- IAF


def make_iaf(nz=3, depth=2, width=4, in_features=5, seed=0, sharpen=1.0, **kw) -> IAFHead:
    torch.manual_seed(seed)
    head = IAFHead(in_features, nz, flow_depth=depth, flow_width=width, **kw).double()
    if sharpen != 1.0:  # larger weights: a clearly non-linear flow
        with torch.no_grad():
            for block in head.blocks:
                for p in block.made.parameters():
                    p.mul_(sharpen)
    return head


@pytest.mark.parametrize(
    "kw",
    [
        dict(),  # IAF+FB
        dict(gamma=0.6),  # IAF+BN
        dict(gamma=0.6, learnable_scale=False),  # IAF+BN, paper's fixed scale
        dict(gamma=0.5, p_keep=0.7, delta_rate=1.0),  # DU-IAF
    ],
)
def test_iaf_exact_log_prob_matches_sampling_path(kw):
    head = make_iaf(nz=4, sharpen=3.0, **kw)
    head.train()
    q = head(features(6, 5, seed=13), kl_weight=1.0)
    assert isinstance(q, IAFPosterior) and q.batch_shape == (6,) and q.event_shape == (4,)
    z, log_q = q.rsample_and_log_prob((3,))
    assert z.shape == (3, 6, 4) and log_q.shape == (3, 6)
    torch.testing.assert_close(q.log_prob(z), log_q, atol=1e-6, rtol=0)
    assert q.rsample((2, 5)).shape == (2, 5, 6, 4)


def test_made_is_autoregressive():
    nz = 5
    torch.manual_seed(1)
    made = MADE(nz, hidden=40, context_dim=3).double()
    h = torch.randn(3, dtype=D)
    z = torch.randn(nz, dtype=D)
    jac_m, jac_s = torch.autograd.functional.jacobian(lambda x: made(x, h), z)
    strictly_lower = torch.ones(nz, nz, dtype=torch.bool).tril(-1)
    for jac in (jac_m, jac_s):
        assert (jac[~strictly_lower] == 0).all()  # output d ignores inputs >= d
        assert (jac[strictly_lower] != 0).sum() > 0  # and does use earlier ones
    # structural check, independent of the weights: the mask product is strictly lower-triangular
    reach = made.layer3.mask @ made.layer2.mask @ made.layer1.mask  # [2 nz, nz] path counts
    for half in reach.split(nz):
        assert (half[~strictly_lower] == 0).all()
    assert torch.equal(made.degrees_in, torch.arange(1, nz + 1))
    # the context does reach the outputs
    jac_h = torch.autograd.functional.jacobian(lambda c: made(z, c)[0], h)
    assert jac_h.abs().sum() > 0
    # same masks in every MADE (RandomState(0) per MADE)
    other = MADE(nz, hidden=40, context_dim=3)
    assert torch.equal(other.layer1.mask, made.layer1.mask.float())


def test_iaf_log_det_matches_autograd_jacobian():
    nz = 3
    head = make_iaf(nz=nz, depth=3, sharpen=3.0)
    head.eval()
    q = head(features(1, 5, seed=14))
    z0 = torch.randn(1, nz, dtype=D, generator=torch.Generator().manual_seed(15))
    zT, log_sig_sum = q.flow(z0)
    jac = torch.autograd.functional.jacobian(lambda x: q.flow(x.view(1, nz))[0].view(nz), z0.view(nz))
    _, logabsdet = torch.linalg.slogdet(jac)
    torch.testing.assert_close(log_sig_sum.sum(), logabsdet)
    # change of variables: log q(zT) = log q0(z0) - log|det dzT/dz0|
    torch.testing.assert_close(q.log_prob(zT), q.base.log_prob(z0) - logabsdet)


def test_iaf_density_integrates_to_one():
    head = make_iaf(nz=2, depth=2, width=8, sharpen=2.5)
    head.eval()
    q = head(features(2, 5, seed=16))
    grid = torch.linspace(-9, 9, 361, dtype=D)
    step = (grid[1] - grid[0]).item()
    zz = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), dim=-1).view(-1, 1, 2).expand(-1, 2, 2)
    log_q = q.log_prob(zz)  # [G, B]
    total = log_q.exp().sum(0) * step**2
    torch.testing.assert_close(total, torch.ones(2, dtype=D), atol=1e-3, rtol=0)
    # and the flow is not the identity: q differs from its base Gaussian
    assert (log_q - q.base.log_prob(zz)).abs().max() > 0.1


def test_iaf_per_dim_bookkeeping_and_features():
    nz = 3
    head = make_iaf(nz=nz, depth=2, sharpen=2.0, gamma=0.5)
    head.eval()
    f = features(4, 5, seed=17)
    q = head(f)
    zT, per_dim = q.rsample_and_log_prob_per_dim((2,), generator=torch.Generator().manual_seed(3))
    zT2, log_q = q.rsample_and_log_prob((2,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(zT, zT2) and per_dim.shape == (2, 4, nz)
    torch.testing.assert_close(per_dim.sum(-1), log_q)
    # independent recomputation: same noise, blocks applied by hand, log sig added by position
    eps = torch.randn((2, 4, nz), dtype=D, generator=torch.Generator().manual_seed(3))
    loc, s, h = head.linear(f).split([nz, nz, 2 * nz], dim=-1)
    mu0 = head.bn(loc)
    sigma0 = torch.nn.functional.softplus(s)
    torch.testing.assert_close(q.base.mu, mu0)
    torch.testing.assert_close(q.base.var, sigma0**2)  # IAF+BN: no floor
    z = mu0 + sigma0 * eps
    expected = Normal(mu0, sigma0).log_prob(z)
    for block in head.blocks:
        m, s_t = block.made(z, h)
        sig = torch.sigmoid(s_t + block.offset)
        z = (sig * z + (1 - sig) * m).flip(-1)
        expected = expected - sig.log()
    torch.testing.assert_close(zT, z)
    torch.testing.assert_close(per_dim, expected)
    # deterministic features: z0 = mu0 through the same chain
    z = mu0
    for block in head.blocks:
        m, s_t = block.made(z, h)
        sig = torch.sigmoid(s_t + block.offset)
        z = (sig * z + (1 - sig) * m).flip(-1)
    torch.testing.assert_close(q.mean_features(), z)
    torch.testing.assert_close(q.concat_features(), torch.cat([mu0, z], dim=-1))


def test_iaf_depth_zero_is_the_base_gaussian():
    head = make_iaf(nz=3, depth=0)
    q = head(features(5, 5, seed=18))
    z = torch.randn(2, 5, 3, dtype=D)
    torch.testing.assert_close(q.log_prob(z), q.base.log_prob(z))
    torch.testing.assert_close(q.mean_features(), q.base.mu)


def test_iaf_dropout_switch():
    p = 0.5
    head = make_iaf(nz=4, gamma=0.5, p_keep=p, delta_rate=1.0, drop_start=1.0)
    f = features(32, 5, seed=19)
    _, s, _ = head.linear(f).split([4, 4, 8], dim=-1)
    excess = torch.nn.functional.softplus(s) ** 2
    head.train()
    torch.testing.assert_close(head(f, kl_weight=0.5).base.var, excess)  # before drop_start: nothing
    var0 = head(f, kl_weight=1.0, generator=torch.Generator().manual_seed(0)).base.var
    dropped = (var0 - ALPHA).abs() < 1e-12
    assert dropped.any() and (~dropped).any()
    torch.testing.assert_close(var0[~dropped], (ALPHA + excess / p)[~dropped])  # eq. 6
    head.eval()
    q1, q2 = head(f), head(f)
    torch.testing.assert_close(q1.base.var, excess + ALPHA)  # floor stays at eval, no dropout
    assert torch.equal(q1.base.var, q2.base.var)


def test_iaf_nz_one():
    head = make_iaf(nz=1, depth=2)
    q = head(features(3, 5, seed=20))
    z, log_q = q.rsample_and_log_prob((4,))
    torch.testing.assert_close(q.log_prob(z), log_q, atol=1e-10, rtol=0)


def test_heads_on_picked_device():
    device = pick_device()
    f = torch.randn(8, 5, device=device)
    for head in (
        GaussianHead(5, 3),
        DUHead(5, 3, gamma=0.5, p_keep=0.8),
        BNVAEHead(5, 3, gamma=0.5),
        DeltaHead(5, 3),
        IAFHead(5, 3, flow_width=2, gamma=0.5, p_keep=0.8, delta_rate=1.0),
    ):
        head.to(device).train()
        q = head(f, kl_weight=1.0)
        z, log_q = q.rsample_and_log_prob((2,))
        assert z.device.type == device.type and log_q.shape == (2, 8)
        assert torch.isfinite(log_q).all()
        (log_q.sum() + q.base.mu.sum()).backward()


# --------------------------------------------------------------------------- invalid arguments


@pytest.mark.parametrize(
    "build",
    [
        lambda: GaussianHead(5, 0),
        lambda: GaussianHead(0, 3),
        lambda: GaussianHead(5, 3, delta_rate=-1.0),
        lambda: BatchNormMean(3, gamma=0.0),
        lambda: BatchNormMean(3, gamma=0.5, eps=0.0),
        lambda: BatchNormMean(3, gamma=0.5, momentum=1.5),
        lambda: DUHead(5, 3, gamma=0.0, p_keep=0.8),
        lambda: DUHead(5, 3, gamma=-0.5, p_keep=0.8),
        lambda: DUHead(5, 3, gamma=0.5, p_keep=0.0),
        lambda: DUHead(5, 3, gamma=0.5, p_keep=1.2),
        lambda: DUHead(5, 3, gamma=0.5, p_keep=0.8, delta_rate=0.0),
        lambda: DUHead(5, 0, gamma=0.5, p_keep=0.8),
        lambda: BNVAEHead(5, 3, gamma=0.0),
        lambda: DeltaHead(5, 3, delta=0.0),
        lambda: DeltaHead(5, 3, delta=-0.1),
        lambda: IAFHead(5, 3, flow_depth=-1),
        lambda: IAFHead(5, 3, flow_width=0),
        lambda: IAFHead(5, 3, gamma=-0.1),
        lambda: IAFHead(5, 3, p_keep=0.0),
        lambda: IAFHead(5, 3, p_keep=0.7, delta_rate=0.0),
        lambda: IAFHead(5, 3, drop_start=-1.0),
        lambda: IAFHead(5, 0),
        lambda: MADE(3, hidden=0, context_dim=2),
        lambda: DUHead(5, 3, gamma=0.5, p_keep=0.8)(torch.randn(4, 5), kl_weight=-0.1),
        lambda: BatchNormMean(3, gamma=0.5)(torch.randn(4, 2)),
    ],
)
def test_invalid_arguments_refused(build):
    with pytest.raises(ValueError):
        build()
