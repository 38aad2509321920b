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
# # 03 · Batch normalisation on the means (the paper, Section 3.3, eq. 9, Algorithm 1)
#
# Dropout on the variances (notebook 02) gives the lower bound of eq. 8,
# $\mathrm{MPD}_{p_\mathcal{D}\cdot B} > \frac{1-p}{\alpha}\sum_d\mathrm{Var}[\mu_d]$. DU-VAE makes the right-hand
# side a constant with a batch normalisation of the posterior means (eq. 9),
#
# $$\hat\mu_{x,d} = \gamma_{\mu_d}\,\frac{\mu_{x,d} - \mu_{\mathcal{B}_d}}{\sqrt{\sigma^2_{\mathcal{B}_d} + \epsilon}} + \beta_{\mu_d}, \tag{9}$$
#
# whose output has batch mean $\beta_{\mu_d}$ and batch variance $\gamma_{\mu_d}^2$ (up to $\epsilon$). The scales
# $\gamma_{\mu_d}$ are learnable, initialised to $\gamma$, and after every optimiser step rescaled
# (Algorithm 1, line 9)
#
# $$\gamma_{\mu_d} \leftarrow \frac{\gamma}{\sqrt{\mathbb{E}_d[\gamma_{\mu}^2]}}\,\gamma_{\mu_d}
#   \quad\Longrightarrow\quad \frac1n\sum_d \gamma_{\mu_d}^2 = \gamma^2, \qquad
#   \sum_d \mathrm{Var}[\hat\mu_d] = n\gamma^2 .$$
#
# This notebook checks the BN arithmetic on a batch, trains a tiny BN layer with the renormalisation,
# derives BN-VAE's KL bound and its link to the MPD bounds, and builds the paper's counterexample:
# a positive KL does not prevent posteriors from being all identical.

# %% [markdown]
# **Learning goals.** After this notebook you can
# - compute the batch normalisation of the means (eq. 9) in training mode and give the batch
#   mean and variance of its output, $\epsilon$ included;
# - implement the rescaling of Algorithm 1, step 9, and read it as a projection of gradient descent
#   onto a sphere;
# - derive BN-VAE's KL bound and the two MPD bounds that the same constraint yields;
# - build a family with a positive KL and no diversity at all (why a positive KL is not sufficient).
#
# **Prerequisites.** Notebooks 01 and 02 (MPD, eq. 3 and its bounds; eq. 8); batch normalisation;
# the KL between a diagonal Gaussian and $\mathcal{N}(0, I)$.
#
# **Run time,** as measured by the main job (`make notebooks`), not typed:

# %%
from duvae.book.timings import run_time_line

print(run_time_line("03_batchnorm_on_means"))

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0
device = "auto"

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from duvae import theory as T

from duvae import montecarlo as MC
from duvae.book.cells import theory_setup
from duvae.book.outputs import save_figure

P, dev, gen = theory_setup(profile, seed, device)
DTYPE = torch.float64
A = T.ALPHA
gamma, p_keep, eps = 0.5, 0.8, 1e-5  # DU-VAE (gamma, p) = (0.5, 0.8) of Table 1; BatchNorm1d's eps
N, nz = P.n_posteriors, P.nz
print(f"profile={profile}: {P}; device={dev}; gamma={gamma}, p={p_keep}")

# %% [markdown]
# ## 1. Eq. 9 on one batch: $\mathrm{Var}[\hat\mu_d] = \gamma_{\mu_d}^2$
#
# Raw means $m$ with arbitrary location and spread per dimension (an encoder head's output), random
# scales renormalised to root-mean-square $\gamma$, random shifts. With the biased batch variance
# $s_d^2$, the output's batch variance is exactly $\gamma_{\mu_d}^2\,s_d^2/(s_d^2 + \epsilon)$, its mean
# exactly $\beta_{\mu_d}$. `batchnorm_means` is checked against PyTorch's `BatchNorm1d` in training mode. It is
# the function the training heads run (`BatchNormMean`, in DU-VAE, BN-VAE and the IAF heads), as is
# `renormalise_scales` for line 9.

# %%
loc = 3 * torch.randn(nz, generator=gen, dtype=DTYPE)  # per-dimension location of the raw means
spread = torch.exp(torch.randn(nz, generator=gen, dtype=DTYPE))  # and their spread
m = (loc + spread * torch.randn(N, nz, generator=gen, dtype=DTYPE)).to(dev)  # [N, nz]
w = T.renormalise_scales(torch.exp(0.5 * torch.randn(nz, generator=gen, dtype=DTYPE)), gamma).to(dev)  # line 9
b = (0.3 * torch.randn(nz, generator=gen, dtype=DTYPE)).to(dev)
mu_hat = T.batchnorm_means(m, w, b, eps)  # eq. 9

bn = torch.nn.BatchNorm1d(nz, eps=eps).to(device=dev, dtype=DTYPE).train()
with torch.no_grad():
    bn.weight.copy_(w)
    bn.bias.copy_(b)
    torch.testing.assert_close(bn(m), mu_hat)

s2 = m.var(0, unbiased=False)
batch = pd.DataFrame({
    "gamma_d": w.cpu(), "gamma_d^2": (w**2).cpu(), "Var_B[mu_hat_d]": mu_hat.var(0, unbiased=False).cpu(),
    "beta_d": b.cpu(), "mean_B[mu_hat_d]": mu_hat.mean(0).cpu(), "raw Var_B[m_d]": s2.cpu(),
})
torch.testing.assert_close(mu_hat.var(0, unbiased=False), w**2 * s2 / (s2 + eps))
torch.testing.assert_close(mu_hat.mean(0), b)
assert math.isclose((w**2).mean().item(), gamma**2, rel_tol=1e-12)
total_var = mu_hat.var(0, unbiased=False).sum().item()
print(f"sum_d Var_B[mu_hat_d] = {total_var:.6f}; n gamma^2 = {nz * gamma**2:.6f}")
assert abs(total_var - nz * gamma**2) <= nz * gamma**2 * eps / s2.min().item()
batch.round(5)

# %% [markdown]
# ## 2. The renormalisation during training (Algorithm 1, lines 8-9)
#
# A tiny learnable BN layer (scales initialised to $\gamma$, shifts to 0; `batchnorm_means` and
# `renormalise_scales`, the two functions `BatchNormMean` runs) is trained with plain SGD on a toy
# regression whose optimum pulls the scales apart: target scales $s_d$ spread from 0 to 2
# (`montecarlo.fit_bn_scales`). Run once with the renormalisation after every
# step, once without. Without it the scales go to $s$ and their mean square to
# $\overline{s^2} \ne \gamma^2$; with it the mean square stays $\gamma^2$ at every step, while the
# *shape* of the scale vector is still learned — projected gradient descent on the sphere
# $\{\frac1n\sum_d\gamma_{\mu_d}^2 = \gamma^2\}$ converges to $s\,\gamma/\mathrm{rms}(s)$.

# %%
target = torch.linspace(0.0, 2.0, nz)
hist = MC.fit_bn_scales(target, gamma, P.bn_steps, lr=0.05, renormalise=True, generator=gen, device=dev)
free = MC.fit_bn_scales(target, gamma, P.bn_steps, lr=0.05, renormalise=False, generator=gen, device=dev)

torch.testing.assert_close(hist.mean_square, torch.full_like(hist.mean_square, gamma**2), rtol=1e-5, atol=0)
projected = target * gamma / target.pow(2).mean().sqrt()  # the constrained optimum
corr = np.corrcoef(hist.scales[-1].numpy(), projected.numpy())[0, 1]
print(f"after {P.bn_steps} steps: mean square with renormalisation in "
      f"[{hist.mean_square.min():.7f}, {hist.mean_square.max():.7f}] (gamma^2 = {gamma**2}); "
      f"without: {free.mean_square[-1]:.4f} (mean s^2 = {target.pow(2).mean():.4f})")
print("renormalised scales:", np.round(hist.scales[-1].numpy(), 3))
print("s gamma / rms(s):   ", np.round(projected.numpy(), 3))
assert corr > 0.9, corr  # the shape of the scale vector is learned
assert abs(free.mean_square[-1].item() - gamma**2) > 0.1  # without line 9 the mean square drifts
if P.bn_steps >= 200:  # long enough to converge (contraction 0.9 per step)
    torch.testing.assert_close(hist.scales[-1], projected, atol=0.03, rtol=0)
    torch.testing.assert_close(free.scales[-1], target, atol=0.03, rtol=0)

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
steps = np.arange(P.bn_steps + 1)
for d in range(nz):
    axes[0].plot(steps, hist.scales[:, d], color=plt.cm.viridis(d / max(nz - 1, 1)))
    axes[2].plot(steps, free.scales[:, d], color=plt.cm.viridis(d / max(nz - 1, 1)))
axes[0].set(title=r"scales $\gamma_{\mu_d}$, renormalised (line 9)", xlabel="SGD step")
axes[2].set(title=r"scales $\gamma_{\mu_d}$, no renormalisation", xlabel="SGD step")
axes[1].plot(steps, hist.mean_square, label="with line 9")
axes[1].plot(steps, free.mean_square, label="without")
axes[1].axhline(gamma**2, color="k", ls=":", label=r"$\gamma^2$")
axes[1].set(title=r"mean square $\frac{1}{n}\sum_d \gamma_{\mu_d}^2$", xlabel="SGD step")
axes[1].legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "03_bn_scale_renormalisation")

# %% [markdown]
# Note what the constraint does **not** do: it fixes the *sum* $\sum_d\gamma_{\mu_d}^2 = n\gamma^2$, not
# each scale. The dimension whose target scale is 0 has its scale driven to (about) 0 even with the
# renormalisation, so its means stop varying. The guarantee is on the total spread of the means,
# which is what the bounds below need.
#
# ## 3. BN-VAE's KL bound, derived
#
# Per example, $D_{KL}[q(z|x)\,\|\,\mathcal{N}(0, I)] = \tfrac12\sum_d(\hat\mu_{x,d}^2 + \sigma^2_{x,d} - \log\sigma^2_{x,d} - 1)$,
# and $s - \log s - 1 \ge 0$ for every $s > 0$. Averaging over the batch and using the batch moments
# of eq. 9 ($\mathbb{E}[\hat\mu_d^2] = \mathrm{Var}[\hat\mu_d] + \mathbb{E}[\hat\mu_d]^2$):
#
# $$\mathbb{E}_x D_{KL} \;\ge\; \tfrac12\sum_d \mathbb{E}[\hat\mu_{x,d}^2]
#   \;=\; \tfrac12\sum_d\Big(\gamma_{\mu_d}^2\frac{s_d^2}{s_d^2+\epsilon} + \beta_{\mu_d}^2\Big)
#   \;\approx\; \tfrac12\Big(n\gamma^2 + \sum_d\beta_{\mu_d}^2\Big) \;\ge\; \frac{n\gamma^2}{2}.$$
#
# BN-VAE (fixed $\gamma_{\mu_d} = \gamma$) and DU-VAE (renormalised, same sum) both get this bound.
# It holds for any variances, so also with DU-VAE's dropped-out $\hat\sigma^2$ in the training KL.

# %%
var = MC.synthetic_family("loguniform", N, nz, gen, dev, DTYPE)[1]  # variances in [alpha, 1]
var_hat = T.dropout_variance(var, p_keep, generator=gen)  # eq. 6, as in the training loss
kl = T.prior_kl(mu_hat, var).sum(1).mean().item()
kl_drop = T.prior_kl(mu_hat, var_hat).sum(1).mean().item()
mean_sq = 0.5 * (mu_hat**2).mean(0).sum().item()
bound_exact = 0.5 * (w**2 * s2 / (s2 + eps) + b**2).sum().item()
bn_bound = T.bn_kl_lower_bound(w, b).sum().item()  # eps -> 0
print(f"E KL = {kl:.4f} (with dropped-out variances {kl_drop:.4f}) >= 1/2 sum E[mu_hat^2] = {mean_sq:.4f} "
      f"= {bound_exact:.4f};  1/2 sum(gamma_d^2 + beta_d^2) = {bn_bound:.4f} >= n gamma^2 / 2 = {nz * gamma**2 / 2}")
assert math.isclose(mean_sq, bound_exact, rel_tol=1e-10)
assert kl >= mean_sq and kl_drop >= mean_sq
assert bound_exact >= nz * gamma**2 / 2 * (1 - eps / s2.min().item())

# %% [markdown]
# ## 4. The same constraint bounds the MPD
#
# With $\sum_d\mathrm{Var}[\hat\mu_d] = n\gamma^2$, the two MPD bounds become constants:
#
# - no dropout, variances at most 1 (notebook 01): $\mathrm{MPD} \ge \sum_d \mathrm{Var}[\hat\mu_d] = n\gamma^2$;
# - with dropout, any variances $\ge \alpha$ (eq. 8): $\mathrm{MPD}_{p_\mathcal{D}\cdot B} \ge
#   \frac{1-p}{\alpha}\,n\gamma^2$, about $3.4\,n\gamma^2$ at $p = 0.8$.
#
# This is the paper's reading of BN-VAE: BN works because it keeps the *diversity* of the posteriors
# away from 0, and DU-VAE's dropout multiplies that floor by $(1-p)/\alpha$.

# %%
n_g2 = mu_hat.var(0, unbiased=False).sum().item()  # sum_d Var[mu_hat_d] = n gamma^2 (1 - O(eps))
mpd_plain = T.mpd(mu_hat, var).sum().item()
mpd_drop = T.expected_mpd_under_dropout(mu_hat, var, p_keep).sum().item()
eq8 = T.mpd_dropout_bound(mu_hat, p_keep).sum().item()
links = pd.DataFrame(
    {"value": [mpd_plain, n_g2, mpd_drop, eq8, (1 - p_keep) / A * nz * gamma**2]},
    index=["MPD (no dropout)", "sum_d Var[mu_hat_d] (~ n gamma^2)", f"MPD under dropout, p = {p_keep}",
           "eq. 8 bound", "(1 - p)/alpha n gamma^2"],
)
assert mpd_plain >= n_g2 and mpd_drop > eq8
assert math.isclose(eq8, (1 - p_keep) / A * n_g2, rel_tol=1e-10)
links.round(4)

# %% [markdown]
# ## 5. A positive KL is not sufficient (eq. 10)
#
# Posterior collapse means $q(z|x) = p(z)$ for all $x$. To avoid it one needs (eq. 10) some posterior
# $\ne p(z)$ **and** some two posteriors that differ. $\mathbb{E}_x D_{KL} > 0$ is equivalent to the first
# condition only. $\mathrm{MPD} > 0$ is equivalent to the second (the symmetric KL is zero only between
# equal Gaussians), and it implies the first: if two posteriors differ, at least one of them is not
# the prior. Three constructed families:
#
# 1. every posterior the same $\mathcal{N}(1, 0.5)$: KL $> 0$, MPD $= 0$ — all data share one code;
# 2. a BN whose scales have collapsed, $\gamma_{\mu} = 0$, with shifts $\beta \ne 0$ (possible if the BN
#    scales were free parameters): BN-VAE's bound $\tfrac12\sum_d(\gamma_{\mu_d}^2 + \beta_d^2) > 0$ still
#    holds through $\beta$ alone, yet all means coincide and MPD $= 0$;
# 3. DU-VAE's renormalised BN: $\sum_d\gamma_{\mu_d}^2 = n\gamma^2$ rules case 2 out and MPD $\ge n\gamma^2$.

# %%
same_var = torch.full((N, nz), 0.5, dtype=DTYPE, device=dev)
cases = {
    "1. identical posteriors N(1, 0.5)": (torch.ones(N, nz, dtype=DTYPE, device=dev), same_var),
    "2. BN with scales 0, shifts beta": (T.batchnorm_means(m, torch.zeros_like(w), b + 0.5, eps), same_var),
    "3. DU-VAE BN (renormalised scales)": (mu_hat, same_var),
}
rows = []
for name, (mu_c, var_c) in cases.items():
    rows.append({"family": name, "E KL": T.prior_kl(mu_c, var_c).sum(1).mean().item(),
                 "MPD": T.mpd(mu_c, var_c).sum().item(),
                 "sum_d Var[mu_d]": mu_c.var(0, unbiased=False).sum().item(),
                 "all posteriors identical": bool((mu_c == mu_c[0]).all() and (var_c == var_c[0]).all())})
collapse = pd.DataFrame(rows).set_index("family")
for name, row in collapse.iterrows():
    assert row["E KL"] > 0, name  # every case passes the "positive KL" test ...
    assert (row["MPD"] == 0) == row["all posteriors identical"], name  # ... MPD = 0 iff all identical
assert collapse["MPD"].iloc[0] == 0 and collapse["MPD"].iloc[1] == 0
assert collapse["MPD"].iloc[2] >= nz * gamma**2 * (1 - 1e-3)
collapse

# %% [markdown]
# **Summary.** Eq. 9 gives each normalised mean the batch variance $\gamma_{\mu_d}^2$ (exactly
# $\gamma_{\mu_d}^2 s_d^2/(s_d^2+\epsilon)$); the line-9 rescaling keeps $\frac1n\sum_d\gamma_{\mu_d}^2 = \gamma^2$
# at every step while the scales themselves are learned (one of them may still go to 0). That one
# constraint yields BN-VAE's KL bound $n\gamma^2/2$, the MPD bound $n\gamma^2$ (variances $\le 1$) and,
# with the variance dropout, $\frac{1-p}{\alpha}n\gamma^2$. Only the MPD bounds exclude the collapse in
# which all data share a single non-prior posterior.

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
# **Exercise 1 (eq. 9).** Write `my_batchnorm_means(m, w, b, eps)`: the batch normalisation of raw
# means `m` `[B, nz]` in training mode, with scales `w` and shifts `b` (`[nz]` each) and $\epsilon$ =
# `eps`. Return $\hat\mu$, `[B, nz]`.

# %% tags=["solution"]
import torch


def my_batchnorm_means(m, w, b, eps):
    """Eq. 9 in training mode: the normalised means mu_hat [B, nz] of the raw means m [B, nz]."""
    mean_b = m.mean(0)
    var_b = ((m - mean_b) ** 2).mean(0)  # biased: divide by B
    return w * (m - mean_b) / torch.sqrt(var_b + eps) + b


# %%
from duvae.book.exercises import check_eq9

check_eq9(my_batchnorm_means)

# %% [markdown]
# **Exercise 2 (Algorithm 1, step 9).** Write `my_renormalise_scales(w, gamma)`: the BN scales `w`
# `[nz]` after step 9, so that their mean square is $\gamma^2$.

# %% tags=["solution"]
import torch


def my_renormalise_scales(w, gamma):
    """Algorithm 1, step 9: the scales w [nz] rescaled so that their mean square is gamma^2."""
    return w * gamma / torch.sqrt((w**2).mean())


# %%
from duvae.book.exercises import check_alg1_step9

check_alg1_step9(my_renormalise_scales)

# %% [markdown]
# **Exercise 3 (pen and paper, section 5).** BN-VAE's bound says $\mathbb{E}_x D_{KL} \ge
# \tfrac12\sum_d(\gamma_{\mu_d}^2 + \beta_{\mu_d}^2)$. Suppose the scales were free parameters and training
# drove one of them, $\gamma_{\mu_1}$, to 0 while the others kept their value. What happens to the
# KL bound, to $\mathrm{Var}[\hat\mu_1]$, and to MPD? What does step 9 change?

# %% [markdown] tags=["solution"]
# *Answer.* The KL bound stays positive (the other scales and the shifts still count), but
# $\mathrm{Var}[\hat\mu_1] = \gamma_{\mu_1}^2 = 0$: dimension 1 carries no information, and if every scale
# went to 0 the MPD would be 0 while the KL stays at least $\tfrac12\sum_d\beta_{\mu_d}^2$ (case 2 of
# section 5). Step 9 fixes the mean square of the scales at $\gamma^2$: one scale may still reach 0
# (section 2), but then the others grow, $\sum_d\mathrm{Var}[\hat\mu_d] = n\gamma^2$ stays, and so do the
# MPD bounds of section 4. Should *every* scale reach 0, step 9 has no direction to keep (it would
# divide by 0): `renormalise_scales`, the one implementation training runs, then resets the scales
# to $\gamma$, their initialisation (Algorithm 1, line 1), which restores the constraint.

# %%
scales = torch.tensor([0.0, 0.5, 0.5, 0.5], dtype=DTYPE)
print("one scale at 0, after step 9:", T.renormalise_scales(scales, gamma).tolist(),
      "mean square", round(T.renormalise_scales(scales, gamma).pow(2).mean().item(), 6), "= gamma^2")
all_zero = T.renormalise_scales(torch.zeros(4, dtype=DTYPE), gamma)
print("every scale at 0, after step 9:", all_zero.tolist())
assert torch.equal(all_zero, torch.full((4,), gamma, dtype=DTYPE))
