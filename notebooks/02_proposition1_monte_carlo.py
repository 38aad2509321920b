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
# # 02 · Proposition 1: dropout on the variances, checked by Monte Carlo (the paper, Section 3.2, eq. 6-8)
#
# DU-VAE drops out the *excess* of each posterior variance over the floor $\alpha = 1/(2\pi e)$ (eq. 6):
#
# $$\hat\sigma^2_{x,d} = g_{x,d}\,(\sigma^2_{x,d} - \alpha) + \alpha, \qquad
#   g_{x,d} \sim \tfrac1p\,\mathrm{Bernoulli}(p)\ \text{i.i.d.},\quad \mathbb{E}[g] = 1, \tag{6}$$
#
# with $p$ the **keep** probability (the code's `p_drop` is $1 - p$). **Proposition 1** (eq. 7) claims
#
# $$\mathbb{E}_{p_\mathcal{D}\cdot B}[\hat\sigma^2_{x,d}] = \mathbb{E}_{p_\mathcal{D}}[\sigma^2_{x,d}],\qquad
#   \mathrm{MPD}_{p_\mathcal{D}\cdot B}[z] > \mathrm{MPD}_{p_\mathcal{D}}[z],\qquad
#   H_{q\cdot B}(z|x) < H_q(z|x), \tag{7}$$
#
# both inequalities strict, with gaps that grow as $p \to 0$; and (eq. 8)
#
# $$\mathrm{MPD}_{p_\mathcal{D}\cdot B}[z] > \frac{1-p}{\alpha}\sum_{d=1}^n \mathrm{Var}_{p_\mathcal{D}}[\mu_{x,d}] . \tag{8}$$
#
# This notebook derives every statement in closed form (`duvae.theory`), finds the conditions each one
# needs, and checks all of them by Monte Carlo on five families of posteriors. The dropout it draws is
# the training code's: `theory.dropout_variance(var, p)` is `theory.variance_dropout(var - alpha, p, alpha)`,
# the function the DU-VAE and DU-IAF heads call (same masks for the same generator state).

# %% [markdown]
# **Learning goals.** After this notebook you can
# - implement eq. 6, the dropout on the variances, and say why it keeps the mean variance;
# - compute $\mathbb{E}_B[\hat\sigma^2]$ and $w = \mathbb{E}_B[1/\hat\sigma^2]$ over the two outcomes of the mask, and
#   prove Proposition 1 (eq. 7) and eq. 8 from them with Jensen's inequality;
# - check a closed form by Monte Carlo with standard errors and confidence bands;
# - state the conditions the proposition needs (the floor $\sigma^2 \ge \alpha$; a variance above it).
#
# **Prerequisites.** Notebook 01 (MPD, eq. 3; conditional entropy, eq. 5); Bernoulli random variables;
# Jensen's inequality; the standard error of a mean.
#
# **Run time,** as measured by the main job (`make notebooks`), not typed:

# %%
from duvae.book.timings import run_time_line

print(run_time_line("02_proposition1_monte_carlo"))

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

from duvae import theory as T

from duvae import montecarlo as MC
from duvae.book.cells import theory_setup
from duvae.book.outputs import save_figure

P, dev, gen = theory_setup(profile, seed, device)
DTYPE = torch.float64
A = T.ALPHA
print(f"profile={profile}: {P}; device={dev}")

# %% [markdown]
# ## 1. What "MPD under dropout" means, and the closed forms
#
# $p_\mathcal{D}\cdot B$ is the product of the data distribution and the Bernoulli masks: a draw is a
# data point *and* a mask, and the new posterior family is the set of dropped-out pairs
# $(\mu_x, \hat\sigma^2_{x,B})$. Two draws for MPD are i.i.d., so even the pair "$x_1 = x_2$" carries two
# independent masks. Per entry, $\hat\sigma^2 = u := \alpha + (\sigma^2 - \alpha)/p$ with probability $p$
# and $\hat\sigma^2 = \alpha$ otherwise.
#
# Eq. 3 touches each posterior's variance only linearly, through $\sigma^2$ (in $\mathbb{E}[\sigma^2]$) or
# through $1/\sigma^2$ (everywhere else). So the dropout enters through two per-entry expectations:
#
# $$\mathbb{E}_B[\hat\sigma^2] = p\,u + (1-p)\,\alpha = \sigma^2, \qquad
#   w := \mathbb{E}_B[1/\hat\sigma^2] = \frac{p}{u} + \frac{1-p}{\alpha}
#       = \frac{p^2}{p\alpha + \sigma^2 - \alpha} + \frac{1-p}{\alpha},$$
#
# and, writing $c_x = (\mu_{x,d} - \bar\mu_d)^2 + \mathrm{Var}[\mu_d]$ (so $\mathbb{E}[c_x] = 2\mathrm{Var}[\mu_d]$),
#
# $$\mathrm{MPD}_{\mathcal{D}\cdot B, d} = \tfrac12\big(\mathbb{E}[w\,c_x] + \mathbb{E}[\sigma^2]\,\mathbb{E}[w] - 1\big), \qquad
#   H_{q\cdot B, d} = \tfrac12\log 2\pi e + \tfrac12\,\mathbb{E}\big[p\log u + (1-p)\log\alpha\big].$$
#
# **The proofs.**
# - *Line 1* is $\mathbb{E}_B[\hat\sigma^2] = \sigma^2$: it holds for every $p$ and every family.
# - *MPD up.* $1/s$ is convex and $\mathbb{E}_B\hat\sigma^2 = \sigma^2$, so (Jensen) $w \ge 1/\sigma^2$, strictly
#   iff $\hat\sigma^2$ is random, i.e. $p < 1$ **and** $\sigma^2 > \alpha$. Both terms of MPD grow.
# - *CE down.* $\log$ is concave: $\mathbb{E}_B\log\hat\sigma^2 \le \log\sigma^2$, same equality cases.
# - *Gaps grow as $p \to 0$.* With $b = \sigma^2 - \alpha \ge 0$: $\partial w / \partial p = -b^2/(\alpha(b + p\alpha)^2) < 0$,
#   and $\partial_p\,\mathbb{E}_B\log\hat\sigma^2 = \log(1+t) - t/(1+t) > 0$ with $t = b/(p\alpha)$. Both gaps are
#   strictly decreasing in $p$ wherever some $\sigma^2 > \alpha$ — no further condition.
#   Limits: as $p \to 0$, $w \to 1/\alpha$ and $H_{q\cdot B} \to 0$ (every dimension sits at the floor
#   with probability $\to 1$); MPD stays finite.
# - *Eq. 8.* $w \ge (1-p)/\alpha$ gives $\mathbb{E}[w c_x] \ge \frac{1-p}{\alpha}\,2\mathrm{Var}[\mu_d]$, and
#   $\mathbb{E}[\sigma^2]\mathbb{E}[w] = \mathbb{E}[\hat\sigma^2]\mathbb{E}[1/\hat\sigma^2] \ge 1$ (Cauchy-Schwarz on the new
#   family), so $\mathrm{MPD}_{\mathcal{D}\cdot B, d} \ge \frac{1-p}{\alpha}\mathrm{Var}[\mu_d]$ — per dimension,
#   for any variances $\ge \alpha$, with or without $\sigma^2 \le 1$.
# - *What everything needs:* $\sigma^2 \ge \alpha$ (the floor). Below it, eq. 6 can produce
#   $\hat\sigma^2 \le 0$ (section 4).

# %% [markdown]
# ## 2. Monte Carlo over data × masks
#
# For each family, keep probability $p$ and repeat, `mc_dropout_effects` draws i.i.d. pairs
# $(x_1, B_1), (x_2, B_2)$ and averages, per dimension, $\hat\sigma^2_1$, the symmetric KL of the
# dropped-out pair (its mean is $\mathrm{MPD}_{\mathcal{D}\cdot B}$), the entropy of $\hat\sigma^2_1$, and the
# *paired* gaps (the same $x_1, x_2$ with and without dropout, which makes the gaps far less noisy).
# The MC never uses $w$ or the closed forms above.

# %%
families = {kind: MC.synthetic_family(kind, P.n_posteriors, P.nz, gen, dev, DTYPE) for kind in MC.FAMILIES}
p_grid = np.round(np.linspace(0.05, 0.95, P.n_p), 4)
draws = max(P.mc_samples // P.n_repeats, 2000)  # per repeat (at least 2000: skewed draws at small p)


def closed_forms(mu, var, p):
    """Exact totals (sums over d) of every quantity of eq. 7-8 for keep probability p."""
    mpd, mpd_b = T.mpd(mu, var), T.expected_mpd_under_dropout(mu, var, p)
    ce, ce_b = T.conditional_entropy(var), T.expected_ce_under_dropout(var, p)
    return {
        "var_hat": var.mean(0), "mpd": mpd_b, "mpd_gap": mpd_b - mpd, "ce": ce_b, "ce_gap": ce - ce_b,
        "mpd_plain": mpd, "ce_plain": ce, "eq8_bound": T.mpd_dropout_bound(mu, p),
    }


rows, pooled = [], {}
for kind, (mu, var) in families.items():
    for p in p_grid:
        exact = closed_forms(mu, var, float(p))
        reps = [MC.mc_dropout_effects(mu, var, float(p), draws, generator=gen) for _ in range(P.n_repeats)]
        for name in ("var_hat", "mpd", "mpd_gap", "ce", "ce_gap"):
            pooled[kind, p, name] = (MC.pool_estimates([r[name] for r in reps]), exact[name].cpu())
            for r, est in enumerate(reps):
                rows.append({"family": kind, "p": p, "repeat": r, "quantity": name,
                             "mc": est[name].total, "se": est[name].total_se, "exact": exact[name].sum().item()})
runs = pd.DataFrame(rows)
print(f"{len(families)} families x {len(p_grid)} values of p x {P.n_repeats} repeats x {draws} draws")

# %% [markdown]
# The pooled Monte Carlo estimates (all repeats) against the closed forms, totals over $d$, for three
# values of $p$; `z` is $|\text{MC} - \text{exact}|$ in standard errors.

# %%
show_p = [p_grid[0], p_grid[len(p_grid) // 2], p_grid[-1]]
summary = []
for (kind, p, name), (est, exact) in pooled.items():
    if p in show_p:
        summary.append({"family": kind, "p": p, "quantity": name, "exact": exact.sum().item(),
                        "MC": est.total, "s.e.": est.total_se, "z": est.total_z_score(exact.sum())})
summary = pd.DataFrame(summary).pivot_table(index=["family", "p"], columns="quantity", values=["exact", "MC", "z"])
pd.set_option("display.width", 200)
summary.round(4)

# %% [markdown]
# ### The checks
#
# <a id="claim-c8"></a>
#
# Monte Carlo agrees with the closed forms (within 5 standard errors, per dimension and for the
# totals), and the closed forms satisfy every statement of eq. 7-8. Strict inequalities are asserted
# with a margin above round-off.

# %%
z_scores = pd.DataFrame(
    [{"family": kind, "p": p, "quantity": name,
      "z": max(est.z_score(exact).max().item(), est.total_z_score(exact.sum()))}
     for (kind, p, name), (est, exact) in pooled.items()]
)
worst = z_scores.loc[z_scores["z"].idxmax()]
print(f"largest |MC - closed form| over {len(z_scores) * (P.nz + 1)} checks: {worst['z']:.2f} s.e. "
      f"({worst['family']}, p = {worst['p']}, {worst['quantity']})")
assert (z_scores["z"] < 5).all(), z_scores[z_scores["z"] >= 5]

for kind, (mu, var) in families.items():
    base_mpd, base_ce = T.mpd(mu, var), T.conditional_entropy(var)
    for p in p_grid:
        ex = closed_forms(mu, var, float(p))
        tol = 1e-9 * (1 + base_mpd.abs().sum().item())
        torch.testing.assert_close(ex["var_hat"], var.mean(0))  # line 1, exact
        assert ex["mpd_gap"].sum() > tol, (kind, p, "MPD did not increase")  # line 2
        assert ex["ce_gap"].sum() > 1e-12, (kind, p, "CE did not decrease")  # line 3
        assert bool((ex["mpd"] >= ex["eq8_bound"]).all()), (kind, p, "eq. 8 fails in some dimension")
        assert ex["mpd"].sum() > ex["eq8_bound"].sum() + tol, (kind, p, "eq. 8 not strict")
        est = pooled[kind, p, "mpd"][0]
        assert est.total + 5 * est.total_se > ex["eq8_bound"].sum().item()  # MC does not contradict eq. 8

# gaps grow as p -> 0: strictly monotone on a fine grid, for every family
p_fine = np.linspace(0.01, 1.0, 100)
curves = []
for kind, (mu, var) in families.items():
    for p in p_fine:
        ex = closed_forms(mu, var, float(p))
        curves.append({"family": kind, "p": p, **{k: v.sum().item() for k, v in ex.items()}})
curves = pd.DataFrame(curves)
for kind, c in curves.groupby("family"):
    assert (np.diff(c["mpd_gap"]) < 0).all() and (np.diff(c["ce_gap"]) < 0).all(), kind
    assert abs(c["mpd_gap"].iloc[-1]) < 1e-9 and abs(c["ce_gap"].iloc[-1]) < 1e-12  # p = 1: no effect
print("line 1 exact; MPD up, CE down, eq. 8 strict; both gaps strictly decreasing in p: all families")

# %% [markdown]
# ### The gaps against $p$
#
# Lines with 95% bands: the Monte Carlo gaps over the `n_repeats` repeats; dashed: the closed form.

# %%
gaps = runs[runs["quantity"].isin(["mpd_gap", "ce_gap"])]
fig, axes = plt.subplots(2, len(families), figsize=(3.2 * len(families), 5.6), sharex=True)
for j, kind in enumerate(families):
    for i, (name, label) in enumerate([("mpd_gap", r"MPD$_{\mathcal{D}\cdot B}$ - MPD"),
                                       ("ce_gap", r"$H_q - H_{q\cdot B}$")]):
        ax = axes[i, j]
        sub = gaps[(gaps["family"] == kind) & (gaps["quantity"] == name)]
        sns.lineplot(data=sub, x="p", y="mc", errorbar=("ci", 95), ax=ax, label="Monte Carlo", marker="o", ms=3)
        c = curves[curves["family"] == kind]
        ax.plot(c["p"], c[name], "k--", lw=1, label="closed form")
        ax.set(ylabel=label if j == 0 else "", title=kind if i == 0 else "")
        if not (i == 0 and j == 0):
            ax.get_legend().remove()
fig.suptitle("Proposition 1: both gaps are positive and grow as the keep probability p -> 0")
fig.tight_layout()
save_figure(fig, "02_prop1_gaps")

# %% [markdown]
# ### Eq. 8 against $p$
#
# $\mathrm{MPD}_{\mathcal{D}\cdot B}$ (closed form, line; Monte Carlo, dots), the bound
# $\frac{1-p}{\alpha}\sum_d\mathrm{Var}[\mu_d]$, the MPD without dropout, and the variance-free bound of
# notebook 01, $\sum_d \mathrm{Var}[\mu_d]$ (valid without dropout only if $\sigma^2 \le 1$).

# %%
fig, axes = plt.subplots(1, len(families), figsize=(3.2 * len(families), 3.4))
for ax, (kind, (mu, var)) in zip(axes, families.items()):
    c = curves[curves["family"] == kind]
    ax.plot(c["p"], c["mpd"], label=r"MPD$_{\mathcal{D}\cdot B}$")
    mc_pts = [(p, pooled[kind, p, "mpd"][0]) for p in p_grid]
    ax.errorbar([p for p, _ in mc_pts], [e.total for _, e in mc_pts], yerr=[3 * e.total_se for _, e in mc_pts],
                fmt=".", color="C0", label="Monte Carlo")
    var_sum = mu.var(0, unbiased=False).sum().item()
    if var_sum > 0:  # the collapsed-means family has no bound to draw on a log axis
        ax.plot(c["p"][c["p"] < 1], c["eq8_bound"][c["p"] < 1], "C3--", label="eq. 8 bound")
        ax.axhline(var_sum, color="C2", ls=":", label=r"$\sum_d$Var$[\mu_d]$")
    ax.axhline(c["mpd_plain"].iloc[0], color="k", lw=0.8, label="MPD, no dropout")
    ax.set(yscale="log", xlabel="p", title=kind)
axes[0].legend(fontsize=7)
fig.tight_layout()
save_figure(fig, "02_eq8_bound")

# %% [markdown]
# Three things in this figure. First, for $\sigma^2 \le 1$ the eq. 8 bound beats the plain bound
# $\sum_d\mathrm{Var}[\mu_d]$ exactly when $(1-p)/\alpha > 1$, i.e. $p < 1 - \alpha \approx 0.94$: at the
# paper's $p \in [0.7, 0.9]$ it is $1.7$ to $5$ times larger. Second, eq. 8 is nearly tight for small
# $p$ when the variances sit near the floor (`near_floor`): then almost every $\hat\sigma^2$ is $\alpha$.
# Third, eq. 8 does not need $\sigma^2 \le 1$, only the floor. The `wide_variance` family ($\sigma^2$ up
# to 10) still has many small variances and stays above the plain bound; the clean counterexample is a
# family with every $\sigma^2 = 4$ (notebook 01), where the plain bound fails and eq. 8 holds.

# %%
crossover = 1 - A
print(f"(1 - p)/alpha > 1  <=>  p < 1 - alpha = {crossover:.4f}")
for p in (0.7, 0.8, 0.9):
    print(f"  p = {p}: eq. 8 bound = {(1 - p) / A:.2f} x sum_d Var[mu_d]")
assert (1 - (crossover - 1e-9)) / A > 1 > (1 - (crossover + 1e-9)) / A

mu_w = families["loguniform"][0]
var_w = torch.full_like(mu_w, 4.0)  # every variance 4 > 1
plain = T.mpd(mu_w, var_w).sum().item()
print(f"all variances = 4: MPD = {plain:.3f} < sum_d Var[mu_d] = {T.mpd_lower_bound(mu_w, var_max=1.0).sum().item():.3f}")
assert plain < T.mpd_lower_bound(mu_w, var_max=1.0).sum().item()
for p in p_grid:
    assert T.expected_mpd_under_dropout(mu_w, var_w, float(p)).sum() > T.mpd_dropout_bound(mu_w, float(p)).sum()
print("... while eq. 8 holds for every p on the grid")

# %% [markdown]
# ## 3. Where the statements need a condition
#
# **(a) The floor $\sigma^2 \ge \alpha$.** Every proof above uses it. Without it, eq. 6 maps a variance
# $\sigma^2 < \alpha$ to $u = \alpha + (\sigma^2 - \alpha)/p$, which is negative once $p < 1 - \sigma^2/\alpha$.
# In the official code the floor and the dropout switch on together, only when the KL weight reaches
# 1 (docs/implementation.md §1.3, item 1), so this never happens there; `dropout_variance` refuses such input.

# %%
v_low, p_low = 0.5 * A, 0.3
u_low = A + (v_low - A) / p_low
print(f"var = alpha/2, p = {p_low}: kept value alpha + (var - alpha)/p = {u_low:.4f}  (not a variance)")
assert u_low < 0
try:
    T.dropout_variance(torch.tensor([v_low]), p_low)
    raise AssertionError("dropout_variance accepted var < alpha")
except ValueError as err:
    print("dropout_variance:", err)

# %% [markdown]
# **(b) Strictness needs some variance above the floor.** If every $\sigma^2_{x,d} = \alpha$ the dropout
# is the identity and all three lines of eq. 7 are equalities. The gaps vanish continuously: in the
# `near_floor` family ($\sigma^2 \approx 1.05\,\alpha$) they are tiny compared with the others (see the
# figure above), and at $\sigma^2 \equiv \alpha$ they are exactly zero.

# %%
mu0 = families["loguniform"][0]
at_floor = torch.full_like(mu0, A)
for p in (0.1, 0.5):
    assert torch.equal(T.expected_mpd_under_dropout(mu0, at_floor, p), T.mpd(mu0, at_floor))
    assert torch.equal(T.expected_ce_under_dropout(at_floor, p), T.conditional_entropy(at_floor))
print("all variances at alpha: MPD and CE unchanged by dropout (equalities)")
relative = curves[np.isclose(curves["p"], 0.5, atol=0.006)].set_index("family")
print((relative["mpd_gap"] / relative["mpd_plain"]).rename("relative MPD gap at p ~ 0.5").round(5))

# %% [markdown]
# **(c) Eq. 8 is a statement about the expectation over masks, not about one mini-batch.**
# $\mathrm{MPD}_{\mathcal{D}\cdot B}$ averages over the masks. The diagnostic the official code logs
# (docs/implementation.md §1.4) is the MPD of *one* mini-batch after *one* mask draw, and that number can fall below
# $\frac{1-p}{\alpha}\sum_d\mathrm{Var}[\mu_d]$: if every entry happens to be kept, all variances are
# inflated by $1/p$ and nothing sits at $\alpha$. A two-point example, then random mini-batches of 32
# from the `loguniform` family: the fraction of single mask draws whose MPD falls below the bound of
# the same batch (per dimension, and summed over $d$, where it is rarer because it averages $n_z$
# dimensions), and whether the mask-average of each batch's MPD is above it (here it always is).

# %%
mu2 = torch.tensor([[-1.0], [1.0]], dtype=DTYPE)
var2 = torch.ones_like(mu2)
p2 = 0.5
all_kept = A + (var2 - A) / p2  # the mask (1, 1), probability p^2 = 0.25
realised = T.mpd(mu2, all_kept).item()
bound2 = T.mpd_dropout_bound(mu2, p2).item()
print(f"two posteriors N(-1, 1), N(1, 1), p = {p2}: both kept -> batch MPD = {realised:.3f} "
      f"< eq. 8 bound {bound2:.3f}; the expectation over masks is {T.expected_mpd_under_dropout(mu2, var2, p2).item():.3f}")
assert realised < bound2 < T.expected_mpd_under_dropout(mu2, var2, p2).item()

batch, n_batches = 32, max(P.mc_samples // 32, 50)
mu_f, var_f = families["loguniform"]
idx = torch.randint(P.n_posteriors, (n_batches, batch), generator=gen).to(dev)
mu_b, var_b = mu_f[idx], var_f[idx]  # [n_batches, 32, nz]
violations = []
for p in p_grid:
    realised_b = T.mpd(mu_b, T.dropout_variance(var_b, float(p), generator=gen))  # [n_batches, nz]
    bound_b = T.mpd_dropout_bound(mu_b, float(p))
    expected_b = T.expected_batch_mpd_under_dropout(mu_b, var_b, float(p))
    violations.append({"p": p, "batches below eq. 8 (per dimension)": (realised_b < bound_b).double().mean().item(),
                       "batches below eq. 8 (total)": (realised_b.sum(-1) < bound_b.sum(-1)).double().mean().item(),
                       "E_B[batch MPD] >= bound (all batches)": bool((expected_b.sum(-1) >= bound_b.sum(-1)).all())})
violations = pd.DataFrame(violations)
violations

# %% [markdown]
# **(d) The population quantity and the batch diagnostic differ by $O(1/N)$.** In
# $\mathrm{MPD}_{\mathcal{D}\cdot B}$ the two draws of a pair carry independent masks, even for the same
# $x$; in the MPD of one masked batch the diagonal pairs $i = j$ share their mask. Averaged over masks
# (`expected_batch_mpd_under_dropout`) the batch version is smaller by
# $\frac{1}{2N^2}\sum_{i,d}(\sigma^2_{i,d} w_{i,d} - 1)$. Checked here against Monte Carlo over masks for a
# batch of 32, and shown to vanish as $N$ grows.

# %%
mu32, var32 = mu_b[0], var_b[0]
p_d = 0.5
reps_d = max(P.mc_samples // 10, 200)
masked = T.mpd(mu32.expand(reps_d, -1, -1), T.dropout_variance(var32.expand(reps_d, -1, -1), p_d, generator=gen))
mc_mean, mc_se = masked.sum(-1).mean().item(), masked.sum(-1).std().item() / math.sqrt(reps_d)
batch_exact = T.expected_batch_mpd_under_dropout(mu32, var32, p_d).sum().item()
product_exact = T.expected_mpd_under_dropout(mu32, var32, p_d).sum().item()
print(f"N = 32, p = {p_d}: E_B[batch MPD] = {batch_exact:.4f} (MC {mc_mean:.4f} ± {mc_se:.4f}); "
      f"MPD over data x masks = {product_exact:.4f}")
assert abs(mc_mean - batch_exact) < 5 * mc_se
for n in sorted({n for n in (8, 32, 128, 512, P.n_posteriors) if n <= P.n_posteriors}):
    m_n, v_n = mu_f[:n], var_f[:n]
    diff = (T.expected_mpd_under_dropout(m_n, v_n, p_d) - T.expected_batch_mpd_under_dropout(m_n, v_n, p_d)).sum()
    print(f"  N = {n:5d}: difference {diff.item():.5f}  (x N = {n * diff.item():.3f})")

# %% [markdown]
# **(e) The limit $p \to 0$.** The gaps grow without any further condition, but they saturate:
# $H_{q\cdot B} \to 0$ (the CE gap tends to $H_q(z|x)$ itself) and
# $\mathrm{MPD}_{\mathcal{D}\cdot B} \to \tfrac12\sum_d(2\mathrm{Var}[\mu_d]/\alpha + \mathbb{E}[\sigma^2_d]/\alpha - 1)$.
# Meanwhile the dropped-out variances become wild (kept ones are $\approx \sigma^2/p$): $\mathbb{E}[\hat\sigma^2]$
# is preserved only on average, with per-entry variance $(\sigma^2-\alpha)^2(1-p)/p$.

# %%
mu_l, var_l = families["loguniform"]
tiny = 1e-7
limit_mpd = 0.5 * (2 * mu_l.var(0, unbiased=False) / A + var_l.mean(0) / A - 1).sum().item()
got_mpd = T.expected_mpd_under_dropout(mu_l, var_l, tiny).sum().item()
got_ce = T.expected_ce_under_dropout(var_l, tiny).sum().item()
print(f"p = {tiny}: MPD_B = {got_mpd:.4f} (limit {limit_mpd:.4f}); CE_B = {got_ce:.2e} (limit 0)")
assert math.isclose(got_mpd, limit_mpd, rel_tol=1e-4) and abs(got_ce) < 1e-4

# %% [markdown]
# ## 4. What we find
#
# - **Line 1** ($\mathbb{E}[\hat\sigma^2] = \mathbb{E}[\sigma^2]$) holds exactly for every $p$ and family; the
#   Monte Carlo means agree within their standard errors.
# - **MPD up and CE down** hold for every family with variances $\ge \alpha$; they are **strict iff
#   some variance exceeds $\alpha$** (and $p < 1$). At the floor they are equalities, and near it the
#   gaps are tiny (the `near_floor` family).
# - **The gaps grow monotonically as $p \to 0$** for every family, without extra conditions (proved by
#   the derivatives in section 1, checked on a 100-point grid); they saturate at finite limits.
# - **Eq. 8 holds per dimension and strictly** for every family with variances $\ge \alpha$ — it does
#   not need $\sigma^2 \le 1$ (it holds with every $\sigma^2 = 4$, where the plain bound fails); it is
#   nearly tight at small $p$ near the floor, and trivial ($= 0$) when the means do not vary
#   (`collapsed_means`), where the MPD comes from the variances alone.
# - **Conditions the paper leaves implicit:** (a) everything needs the floor $\sigma^2 \ge \alpha$, else
#   eq. 6 is not even a variance; (c) eq. 8 and the inequalities are about the expectation over masks
#   of the data × mask distribution: a single masked mini-batch (what the code logs) can fall below
#   the eq. 8 bound, and (d) its mask-average is $O(1/N)$ smaller than the population quantity.
# - Proposition 1 compares two families with the **same** $\sigma^2$; during training the encoder
#   reacts to the dropout (it can move $\sigma^2$), so it says how dropout reshapes a given family,
#   not that a trained DU-VAE has a larger MPD than a trained VAE — that is for the experiments.

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
# **Exercise 1 (eq. 6).** Write `my_dropout_variance(var, keep, p, alpha)`: `var` has any shape and is at
# least `alpha`; `keep` is a boolean tensor of the same shape, True where the Bernoulli draw keeps the
# entry (probability `p`). Return $\hat\sigma^2$.

# %% tags=["solution"]
def my_dropout_variance(var, keep, p, alpha):
    """Eq. 6: the dropped-out variances var_hat, same shape as var; keep (bool) is True where kept."""
    g = keep.to(var.dtype) / p  # normalised Bernoulli, E[g] = 1
    return g * (var - alpha) + alpha


# %%
from duvae.book.exercises import check_eq6

check_eq6(my_dropout_variance)

# %% [markdown]
# **Exercise 2 (Proposition 1).** Write `my_expected_inverse_variance(var, p, alpha)`: the expectation
# over the mask of $1/\hat\sigma^2$, elementwise (the $w$ of section 1, which carries the whole effect
# of the dropout on eq. 3).

# %% tags=["solution"]
def my_expected_inverse_variance(var, p, alpha):
    """Proposition 1: w = E_B[1 / var_hat], elementwise, for keep probability p and floor alpha."""
    u = alpha + (var - alpha) / p  # the kept value of var_hat (probability p); alpha otherwise
    return p / u + (1 - p) / alpha


# %%
from duvae.book.exercises import check_prop1_w

check_prop1_w(my_expected_inverse_variance)

# %% [markdown]
# **Exercise 3 (pen and paper).** Take a variance below the floor, $\sigma^2 = \alpha/2$. For which keep
# probabilities $p$ is the kept value $u = \alpha + (\sigma^2 - \alpha)/p$ not a variance, and what in the
# DU-VAE head makes sure this never happens in training?

# %% [markdown] tags=["solution"]
# *Answer.* $u = \alpha - \alpha/(2p) \le 0$ exactly when $p \le 1/2$ (in general $p \le 1 - \sigma^2/\alpha$).
# The head adds the floor before the dropout, $\sigma^2 = \exp(l) + \alpha$, and drops out only the
# excess $\exp(l) \ge 0$; in the official code both switch on together once the KL weight reaches 1
# (`DUHead.moments`), and `dropout_variance` refuses a variance below $\alpha$.

# %%
print("u at sigma^2 = alpha/2:", {p: round(A - A / (2 * p), 5) for p in (0.3, 0.5, 0.7)})
