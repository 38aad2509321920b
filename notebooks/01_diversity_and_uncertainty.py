# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Diversity and uncertainty of the latent space (the paper, Section 3.1, eq. 2-5)
#
# DU-VAE judges a latent space by two numbers that depend only on the posterior parameters
# $(\mu_{x}, \sigma^2_{x})$ of the data:
#
# - **diversity**, the mutual posterior diversity (MPD, eq. 2-3): how different the posteriors of two
#   random data points are;
# - **uncertainty**, the conditional entropy $H_q(z|x)$ (eq. 4-5): how spread a single posterior is.
#
# This notebook derives eq. 3 from the KL between Gaussians and checks it three ways (closed form,
# brute-force average over all pairs, Monte Carlo over $z$), proves and checks the lower bound
# "MPD $\ge \sum_d \mathrm{Var}[\mu_d]$ when $\sigma^2 \le 1$" the paper leaves to its supplement,
# and shows why the entropy needs the noise floor $\alpha = 1/(2\pi e)$.
#
# Throughout, $p_\mathcal{D}$ is the empirical distribution of $N$ posteriors (a data set or a
# mini-batch): $\mathbb{E}$ is a mean over them and $\mathrm{Var}$ the biased ($1/N$) variance.

# %% [markdown]
# **Learning goals.** After this notebook you can
# - derive eq. 3 (the mutual posterior diversity) from the KL divergence between two Gaussians, and
#   compute it in $O(N n_z)$ rather than over all $N^2$ pairs;
# - prove the lower bound $\mathrm{MPD} \ge \sum_d \mathrm{Var}[\mu_d]$ for variances at most 1, and say when
#   it is tight;
# - compute the conditional entropy of eq. 5, and explain why it needs the noise floor
#   $\alpha = 1/(2\pi e)$;
# - check a closed form three independent ways (formula, brute force, Monte Carlo).
#
# **Prerequisites.** Notebook 00; the KL divergence and the differential entropy of a Gaussian;
# expectations over an empirical distribution; Jensen's (or the Cauchy-Schwarz) inequality.
#
# **Run time,** as measured by the main job (`make notebooks`), not typed:

# %%
from duvae.book.timings import run_time_line

print(run_time_line("01_diversity_and_uncertainty"))

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0
device = "auto"

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from torch.distributions import Normal

from duvae import theory as T

from duvae import montecarlo as MC
from duvae.book.cells import theory_setup
from duvae.book.outputs import save_figure

P, dev, gen = theory_setup(profile, seed, device)
DTYPE = torch.float64  # closed forms are compared to 1e-10: work in double precision
print(f"profile={profile}: {P}; device={dev}; alpha = 1/(2 pi e) = {T.ALPHA:.7f}")

# %% [markdown]
# ## 1. MPD in closed form (eq. 3)
#
# MPD (Ma et al., 2018) is the expected symmetric KL between the posteriors of two independent data
# points (eq. 2), $\mathrm{MPD} = \mathbb{E}_{x_1, x_2}\, D_{SKL}[q(z|x_1)\,\|\,q(z|x_2)]$ with
# $D_{SKL} = \tfrac12(D_{KL}[q_1\|q_2] + D_{KL}[q_2\|q_1])$. For diagonal Gaussians everything
# factorises over dimensions; in one dimension
#
# $$D_{KL}[\mathcal{N}(m_1, v_1)\,\|\,\mathcal{N}(m_2, v_2)] = \tfrac12\Big(\log\tfrac{v_2}{v_1}
#   + \tfrac{v_1}{v_2} + \tfrac{(m_1 - m_2)^2}{v_2} - 1\Big).$$
#
# In the sum of both directions the logarithms cancel:
#
# $$D_{SKL} = \tfrac14\Big(\tfrac{v_1}{v_2} + \tfrac{v_2}{v_1}
#   + (m_1 - m_2)^2\big(\tfrac{1}{v_1} + \tfrac{1}{v_2}\big) - 2\Big).$$
#
# Take the expectation over $x_1, x_2$ i.i.d.: by independence $\mathbb{E}[v_1/v_2] =
# \mathbb{E}[v]\,\mathbb{E}[1/v]$, and by symmetry the two $(m_1-m_2)^2$ terms are equal, so per dimension
#
# $$\mathrm{MPD}_d = \tfrac12\Big(\mathbb{E}\Big[\tfrac{(\mu_{1,d} - \mu_{2,d})^2}{\sigma^2_{2,d}}\Big]
#    + \mathbb{E}[\sigma^2_d]\,\mathbb{E}\Big[\tfrac{1}{\sigma^2_d}\Big] - 1\Big),
#    \qquad \mathrm{MPD} = \sum_d \mathrm{MPD}_d . \tag{3}$$
#
# This is eq. 3, with one "$-1$" **per dimension** (the paper prints a single $-1$ outside the sum;
# docs/implementation.md §1.3, item 4 — the per-dimension form is the one that gives $\mathrm{MPD} = 0$ for identical
# posteriors, checked below). Expanding the square over $x_1$ first,
# $\mathbb{E}_1[(\mu_1 - \mu_2)^2] = (\mu_2 - \bar\mu)^2 + \mathrm{Var}[\mu]$, gives an $O(N n_z)$
# formula (`duvae.theory.mpd`) instead of the $O(N^2 n_z)$ pair average (`pairwise_skl_mpd`).
# A third, formula-free check draws pairs and $z \sim q$ and averages
# $\tfrac12[\log q_1(z_1) - \log q_2(z_1) + \log q_2(z_2) - \log q_1(z_2)]$ (`mc_mpd_sampling_z`).

# %%
mu, var = MC.synthetic_family("loguniform", P.n_posteriors, P.nz, gen, dev, DTYPE)
closed = T.mpd(mu, var)  # eq. 3, O(N nz)
brute = T.pairwise_skl_mpd(mu, var)  # eq. 2, all N^2 ordered pairs
mc = MC.mc_mpd_sampling_z(mu, var, P.mc_samples, generator=gen)  # eq. 2 by sampling z

table = pd.DataFrame(
    {
        "closed form (eq. 3)": closed.cpu().numpy(),
        "pair average (eq. 2)": brute.cpu().numpy(),
        "Monte Carlo over z": mc.mean.numpy(),
        "MC std. error": mc.se.numpy(),
        "|MC - closed| / se": mc.z_score(closed.cpu()).numpy(),
    },
    index=pd.Index(range(P.nz), name="d"),
)
table.loc["total"] = [closed.sum().item(), brute.sum().item(), mc.total, mc.total_se, mc.total_z_score(closed.sum())]
print(f"N = {P.n_posteriors} posteriors, nz = {P.nz}, {mc.n} Monte Carlo pairs")
table

# %%
torch.testing.assert_close(closed, brute, rtol=1e-10, atol=1e-12)
assert bool((mc.z_score(closed.cpu()) < 5).all()), "Monte Carlo MPD disagrees with eq. 3 per dimension"
assert mc.total_z_score(closed.sum()) < 5, "Monte Carlo total MPD disagrees with eq. 3"

fig, ax = plt.subplots(figsize=(7, 3.2))
x = np.arange(P.nz)
ax.bar(x - 0.2, closed.cpu(), width=0.4, label="closed form (eq. 3)")
ax.bar(x + 0.2, brute.cpu(), width=0.4, label="pair average (eq. 2)", alpha=0.7)
ax.errorbar(x, mc.mean, yerr=3 * mc.se, fmt="k.", capsize=3, label="MC over z (±3 s.e.)")
ax.set(xlabel="latent dimension d", ylabel=r"MPD$_d$", title="Eq. 3 = eq. 2, three ways")
ax.legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "01_mpd_three_ways")

# %% [markdown]
# **Where the "$-1$" goes.** If every posterior is the same $\mathcal{N}(m, v)$, every pair has
# $D_{SKL} = 0$, so MPD must be 0. The per-dimension form gives $\tfrac12(0 + 1 - 1) = 0$ in each
# dimension; the literal eq. 3 (one $-1$ for all $n_z$ dimensions) would give $(n_z - 1)/2$.

# %%
same_mu = torch.full((P.n_posteriors, P.nz), 0.3, dtype=DTYPE, device=dev)
same_var = torch.full_like(same_mu, 0.4)
per_dimension_form = T.mpd(same_mu, same_var).sum().item()
inv = 1 / same_var
literal_form = 0.5 * (0.0 + (same_var.mean(0) * inv.mean(0)).sum().item() - 1)
print(f"identical posteriors: per-dimension '-1' -> {per_dimension_form:.3g}, single '-1' -> {literal_form:.3g}")
assert abs(per_dimension_form) < 1e-12 and math.isclose(literal_form, (P.nz - 1) / 2, rel_tol=1e-12)

# %% [markdown]
# ## 2. A lower bound on MPD from the spread of the means (the paper, Section 3.1, "see Supplementary")
#
# Suppose every variance is bounded, $\sigma^2_{x,d} \le c$ ($c = 1$ "in most practical cases"). Then
#
# 1. $\mathbb{E}\big[(\mu_{1,d} - \mu_{2,d})^2 / \sigma^2_{2,d}\big] \ge \tfrac1c\,\mathbb{E}[(\mu_{1,d} -
#    \mu_{2,d})^2] = \tfrac{2}{c}\mathrm{Var}[\mu_d]$ (independent copies);
# 2. $\mathbb{E}[\sigma^2_d]\,\mathbb{E}[1/\sigma^2_d] \ge 1$ (Cauchy-Schwarz, or Jensen on $1/s$).
#
# Hence $\mathrm{MPD}_d \ge \mathrm{Var}[\mu_d]/c$, and for $c = 1$
#
# $$\mathrm{MPD} \;\ge\; \sum_{d=1}^{n} \mathrm{Var}_{p_\mathcal{D}}[\mu_{x,d}] .$$
#
# The bound is tight: both steps are equalities when every variance equals $c$. It needs the upper
# bound on the variances: with all $\sigma^2 = 4$, $\mathrm{MPD} = \sum_d\mathrm{Var}[\mu_d]/4$. Below,
# random families of several kinds (means of various spreads, variances in $[\alpha, 1]$ or
# constant) against the bound, then the two edge cases.

# %%
rows = []
kinds = ["loguniform", "near_floor", "heavy_tailed", "constant var = 1"]
n_families = len(kinds) * P.n_repeats
for k in range(n_families):
    kind = kinds[k % len(kinds)]
    base = kind if kind in MC.FAMILIES else "loguniform"
    mu_k, var_k = MC.synthetic_family(base, P.n_posteriors, P.nz, gen, dev, DTYPE)
    mu_k = mu_k * 10 ** (2.0 * k / n_families - 1.0)  # mean spreads from 0.1 to 10
    if kind == "constant var = 1":
        var_k = torch.ones_like(var_k)
    bound = T.mpd_lower_bound(mu_k, var_k, var_max=1.0).sum().item()  # sum_d Var[mu_d]
    rows.append({"family": kind, "sum_d Var[mu_d]": bound, "MPD": T.mpd(mu_k, var_k).sum().item()})
bounds = pd.DataFrame(rows)
bounds["MPD / bound"] = bounds["MPD"] / bounds["sum_d Var[mu_d]"]
print(bounds.groupby("family")["MPD / bound"].describe()[["count", "min", "50%", "max"]])

# %%
# (equality cases are compared up to round-off)
assert (bounds["MPD"] >= bounds["sum_d Var[mu_d]"] * (1 - 1e-12)).all(), "MPD < sum_d Var[mu_d] with var <= 1"
tight = bounds[bounds["family"] == "constant var = 1"]
np.testing.assert_allclose(tight["MPD"], tight["sum_d Var[mu_d]"], rtol=1e-10)  # equality at var = c
mu_w = MC.synthetic_family("loguniform", P.n_posteriors, P.nz, gen, dev, DTYPE)[0]
wide = T.mpd(mu_w, torch.full_like(mu_w, 4.0)).sum().item()
var_sum = mu_w.var(0, unbiased=False).sum().item()
print(f"all variances = 4: MPD = {wide:.4f} < sum_d Var[mu_d] = {var_sum:.4f} (ratio {wide / var_sum:.3f})")
assert wide < var_sum and math.isclose(wide, var_sum / 4, rel_tol=1e-10)

fig, ax = plt.subplots(figsize=(5.5, 4.2))
sns.scatterplot(data=bounds, x="sum_d Var[mu_d]", y="MPD", hue="family", ax=ax, s=25)
lim = [bounds["sum_d Var[mu_d]"].min() * 0.8, bounds["MPD"].max() * 1.2]
ax.plot(lim, lim, "k--", lw=1, label="MPD = sum Var (the bound)")
ax.set(xscale="log", yscale="log", title=r"MPD $\geq \sum_d$ Var$[\mu_d]$ when $\sigma^2 \leq 1$")
ax.legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "01_mpd_lower_bound")

# %% [markdown]
# The gap above the diagonal comes from two places: small variances ($1/\sigma^2 > 1$ in the first
# term) and the spread of the variances ($\mathbb{E}[\sigma^2]\mathbb{E}[1/\sigma^2] > 1$). The
# "near_floor" family ($\sigma^2 \approx \alpha$) sits about $1/\alpha \approx 17$ times above the
# bound: with variances that small, the same means are much more distinguishable.
#
# ## 3. Conditional entropy (eq. 4-5) and the noise floor $\alpha$
#
# The uncertainty of $z$ given $x$ is the conditional entropy
# $H_q(z|x) = \mathbb{E}_{p_\mathcal{D}(x)}[H(q(z|x))]$ (eq. 4). A diagonal Gaussian has
# $H = \sum_d \tfrac12\log(2\pi e\,\sigma^2_d)$, so
#
# $$H_q(z|x) = \frac{n}{2}\log 2\pi e + \frac12\sum_{d=1}^n \mathbb{E}_{p_\mathcal{D}(x)}[\log\sigma^2_{x,d}] .
# \tag{5}$$
#
# Below: eq. 5 against `torch.distributions.Normal(...).entropy()` and against a Monte Carlo
# estimate $-\mathbb{E}_{x}\mathbb{E}_{z\sim q(z|x)}[\log q(z|x)]$ that never uses the formula.

# %%
ce = T.conditional_entropy(var)  # eq. 5, per dimension
ce_torch = Normal(torch.zeros_like(var), var.sqrt()).entropy().mean(0)
idx = torch.randint(P.n_posteriors, (P.mc_samples,), generator=gen).to(dev)
z = mu[idx] + var[idx].sqrt() * torch.randn(P.mc_samples, P.nz, generator=gen, dtype=DTYPE).to(dev)
neg_log_q = -Normal(mu[idx], var[idx].sqrt()).log_prob(z)  # [mc_samples, nz]
ce_mc, ce_se = neg_log_q.mean(0), neg_log_q.std(0) / math.sqrt(P.mc_samples)
print(pd.DataFrame({"eq. 5": ce.cpu(), "torch entropy": ce_torch.cpu(), "MC": ce_mc.cpu(), "MC s.e.": ce_se.cpu()}))
torch.testing.assert_close(ce, ce_torch)
assert bool(((ce_mc - ce).abs() < 5 * ce_se).all()), "Monte Carlo entropy disagrees with eq. 5"

# %% [markdown]
# **Unbounded below.** Differential entropy is not a count of bits: as $\sigma^2 \to 0$,
# $\tfrac12\log(2\pi e\sigma^2) \to -\infty$. Minimising $H_q(z|x)$ alone would shrink every variance
# to 0 (a deterministic autoencoder) with an ever more negative objective.
#
# **The fix.** Replace $z$ by $z + \epsilon$ with independent $\epsilon \sim \mathcal{N}(0, \alpha)$. The
# entropy of a sum of independent variables is at least the entropy of each, and
# $H(\epsilon) = \tfrac12\log(2\pi e\,\alpha) = 0$ exactly for $\alpha = 1/(2\pi e)$: the noise has zero
# entropy. For Gaussians $z + \epsilon \sim \mathcal{N}(\mu, \sigma^2 + \alpha)$, so
# $H = \tfrac12\log(2\pi e(\sigma^2 + \alpha)) = \tfrac12\log(1 + \sigma^2/\alpha) \ge 0$, with equality
# only when the total variance is $\alpha$. In the code this is a variance floor,
# $\sigma^2 = \exp(l) + \alpha$ (docs/implementation.md §1.1, step 4 and §1.3, item 2).

# %%
v = torch.logspace(-12, 2, 400, dtype=DTYPE)
h_raw = T.gaussian_entropy(v)  # entropy of N(., v)
h_floored = T.gaussian_entropy(v + T.ALPHA)  # entropy of z + eps
assert bool((h_floored >= 0).all()), "entropy with the alpha floor went negative"
at_alpha = T.gaussian_entropy(torch.tensor(T.ALPHA, dtype=DTYPE)).item()
assert abs(at_alpha) < 1e-15, at_alpha  # zero exactly at total variance alpha
torch.testing.assert_close(h_floored, 0.5 * torch.log1p(v / T.ALPHA))
assert h_raw[0] < -10 and bool((h_raw[1:] > h_raw[:-1]).all())  # unbounded below, monotone
print(f"H at var = 1e-12: {h_raw[0].item():.2f} nats; with the floor: {h_floored[0].item():.2e}; "
      f"H(N(0, alpha)) = {at_alpha:.1e}")

fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(v, h_raw, label=r"$H(\mathcal{N}(\mu, \sigma^2))$")
ax.plot(v, h_floored, label=r"$H(\mathcal{N}(\mu, \sigma^2 + \alpha))$, i.e. $z + \epsilon$")
ax.axhline(0, color="k", lw=0.8)
ax.axvline(T.ALPHA, color="gray", ls=":", label=r"$\sigma^2 = \alpha = 1/(2\pi e)$")
ax.set(xscale="log", xlabel=r"$\sigma^2$", ylabel="entropy per dimension (nats)",
       title="Differential entropy is unbounded below; the floor fixes it")
ax.legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "01_entropy_floor")

# %% [markdown]
# With the floor, $H_q(z|x) \ge 0$ and it is 0 only if every posterior variance sits at $\alpha$;
# notebook 02 shows how DU-VAE's dropout on $\sigma^2 - \alpha$ pushes the entropy toward that
# minimum while raising MPD.

# %% [markdown]
# ## Exercises
#
# Write each function in the cell under its question, with torch and `math` only (not the
# package's own function, which is the reference answer), then run the check under it:
# `duvae.book.exercises.check_*` calls your function on seeded inputs of several shapes and on the edge
# cases, and says *correct*, *not implemented yet*, or stops with a hint naming the usual mistake it
# recognised. In this notebook the cells hold the reference answers; in the student edition
# (`make student`, `build/student/`) they are stubs.
#
# **Exercise 1 (eq. 3).** Write `my_mpd(mu, var)`: for `mu`, `var` of shape `[N, nz]` (the means and
# variances of $N$ posteriors), return the mutual posterior diversity per dimension, shape `[nz]`,
# with pairs $i = j$ included and the biased variance, in $O(N n_z)$ memory.

# %% tags=["solution"]
import torch


def my_mpd(mu, var):
    """Eq. 3: the MPD of the N posteriors (mu, var), [N, nz] each, per dimension, [nz]."""
    centred = (mu - mu.mean(0)) ** 2  # (mu_2 - mean mu)^2
    spread = centred.mean(0)  # Var[mu], biased
    first = ((centred + spread) / var).mean(0)  # E_1 (mu_1 - mu_2)^2 = (mu_2 - mean mu)^2 + Var[mu]
    second = var.mean(0) * (1 / var).mean(0)
    return 0.5 * (first + second - 1)


# %%
from duvae.book.exercises import check_eq3

check_eq3(my_mpd)

# %% [markdown]
# **Exercise 2 (eq. 5).** Write `my_conditional_entropy(var)`: for variances `[N, nz]`, return
# $H_q(z|x)$ per dimension, shape `[nz]`.

# %% tags=["solution"]
import math

import torch


def my_conditional_entropy(var):
    """Eq. 5: the conditional entropy of the N posteriors with variances var [N, nz], per dimension, [nz]."""
    return 0.5 * math.log(2 * math.pi * math.e) + 0.5 * torch.log(var).mean(0)


# %%
from duvae.book.exercises import check_eq5

check_eq5(my_conditional_entropy)

# %% [markdown]
# **Exercise 3 (pen and paper, section 2).** With every variance at most 1, for which families is
# $\mathrm{MPD} = \sum_d \mathrm{Var}[\mu_d]$ exactly? And without the bound on the variances, can
# $\mathrm{MPD} / \sum_d \mathrm{Var}[\mu_d]$ be made as small as you like? The cell after your answer checks it.

# %% [markdown] tags=["solution"]
# *Answer.* The bound chains two inequalities. The first,
# $\mathbb{E}[(\mu_1 - \mu_2)^2/\sigma^2_2] \ge \mathbb{E}[(\mu_1 - \mu_2)^2]$, is an equality only if every
# $\sigma^2_{x,d} = 1$ where the means vary; the second, $\mathbb{E}[\sigma^2]\mathbb{E}[1/\sigma^2] \ge 1$, only if the
# variances are constant. So, in the dimensions whose means vary, equality holds exactly when every
# variance is 1. Without the bound, take every variance equal to $c$: then
# $\mathrm{MPD} = \sum_d \mathrm{Var}[\mu_d] / c$, which goes to 0 as $c \to \infty$.

# %%
for c in (1.0, 4.0, 100.0):
    ratio = (T.mpd(mu, torch.full_like(var, c)).sum() / mu.var(0, unbiased=False).sum()).item()
    print(f"every variance = {c:g}: MPD / sum_d Var[mu_d] = {ratio:.4f} (1/c = {1 / c:.4f})")
