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
# # The model zoo: DU-VAE and every baseline
#
# Every model of Tables 1-3 is one named configuration of the same three parts
# (`duvae/vae.py`): an encoder backbone, a **posterior head** $(f, \beta_t) \mapsto q_\phi(z|x)$ and a
# decoder $\log p_\theta(x|z)$. A remedy against posterior collapse acts in one of three places:
#
# | where | models | module |
# | --- | --- | --- |
# | the posterior's parameters | DU-VAE, BN-VAE, $\delta$-VAE, IAF+FB / IAF+BN / DU-IAF | `duvae/posteriors/` |
# | the objective | $\beta$-VAE, AE, FB, MAE, SA-VAE | `duvae/objectives.py`, `duvae/mae.py`, `duvae/sa_vae.py` |
# | the optimisation | KL annealing (all), Agg-VAE | `duvae/objectives.py`, `duvae/runs/trainer.py` |
#
# This notebook shows, for each model, the equation of its remedy and the code that implements it,
# then trains every model for a few steps and shows what happens to the KL and the active units.

# %% [markdown]
# **Learning goals.** After this notebook you can
# - say where each of the 13 models acts against posterior collapse (the posterior's parameters,
#   the objective, or the optimisation), and find the lines of code that do it;
# - write the KL term of the ELBO (eq. 1) for a diagonal Gaussian and the free-bits variant;
# - build and train any model of the zoo from one named configuration, and read its KL and active
#   units.
#
# **Prerequisites.** Notebooks 01-03; the ELBO with KL annealing; an LSTM and a PixelCNN at the level
# of "an autoregressive decoder". Needs the public data (Omniglot) from the mirror,
# `DUVAE_DATA_MIRROR`.
#
# **Run time,** as measured by the main job (`make notebooks`), not typed:

# %%
from duvae.book.timings import run_time_line

print(run_time_line("04_models"))

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0
device = "auto"

# %%
import dataclasses

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from duvae.runs.config import REFERENCE_SEED
from duvae.runs.device import pick_device, seed_everything
from duvae.book.cells import show_source
from duvae.book.outputs import save_figure, save_table
from duvae.runs.profiles import zoo_demo_profile
from duvae.runs.zoo import MODEL_NAMES, model_config

demo = zoo_demo_profile(profile)
dev = pick_device(device)
seed_everything(seed)
print(f"profile={profile!r} device={dev} walk-through sizes: {demo}")

# %% [markdown]
# ## The hyper-parameters of every model (docs/implementation.md §3.4)
#
# One table holds them all (`duvae/runs/zoo.py`); the paper writes them per data set
# (Yahoo / Yelp / Omniglot). Short Yelp (Table 2) and the synthetic set (Figure 1) use the Yelp column.

# %%
fields = ["head", "gamma", "p_keep", "delta_rate", "beta", "free_bits", "delta", "mae_diversity",
          "mae_smoothness", "procedure"]
rows = []
for name in MODEL_NAMES:
    for dataset in ("yahoo", "yelp", "omniglot"):
        m = model_config(name, dataset)
        rows.append({"model": name, "dataset": dataset, **{f: getattr(m, f) for f in fields}})
hyper = pd.DataFrame(rows).set_index(["model", "dataset"])
save_table(hyper, "04_hyperparameters")
hyper.xs("yahoo", level="dataset")

# %% [markdown]
# ## Remedies on the objective and the optimisation
#
# **VAE with KL annealing** (Bowman et al.). The loss is $\mathrm{rec} + \beta_t \mathrm{KL}$ with
# $\beta_t$ rising linearly per step from $\beta_0$ to 1 over the first 10 epochs, and exactly 1
# afterwards (the heads that follow the official code switch on when it reaches 1):

# %%
from duvae import objectives

show_source(objectives.kl_weight_at)

# %% [markdown]
# **$\beta$-VAE** and **AE**: a constant weight instead, $\beta = 0.4 / 0.4 / 0.8$; the AE of the
# classification tables is $\beta = 0$:

# %%
show_source(objectives.training_loss, contains="cfg.beta")

# %% [markdown]
# **Free bits** (Kingma et al. 2016), per dimension and averaged over the batch:
# $\mathrm{rec} + \sum_d \max\big(\lambda, \tfrac1B\sum_n \mathrm{KL}_{n,d}\big)$; a dimension below
# $\lambda$ gets no KL gradient:

# %%
show_source(objectives.free_bits_kl)

# %% [markdown]
# **MAE** (Ma et al. 2018) with the standard normal prior adds a diversity term on the mean pairwise
# KL between posteriors, $\sum_d -\log\sigma(M_d)$, and a smoothness term, the standard deviation $S$
# of the pairwise KL matrix, with weights (1/2/0.5, 0.2):

# %%
from duvae import mae

show_source(mae.mae_regularisers)

# %% [markdown]
# **SA-VAE** (Kim et al. 2018) refines the encoder's $(\mu, \log\sigma^2)$ per example with a few
# steps of SGD with momentum on the ELBO, and back-propagates through the steps:

# %%
from duvae import sa_vae

show_source(sa_vae.svi_refine)

# %% [markdown]
# **Agg-VAE** (He et al. 2019): before each decoder step, the encoder alone is trained on fresh
# batches until its loss stops improving; the aggressive phase ends when validation MI stops rising:

# %%
from duvae.runs import trainer

show_source(trainer.aggressive_encoder_updates)

# %% [markdown]
# ## Remedies on the posterior's parameters
#
# **BN-VAE** (Zhu et al. 2020) normalises the means with a BN layer whose scale is fixed at $\gamma$
# (eq. 9), so $\mathbb{E}[\hat\mu_d^2] = \gamma^2 + \beta_d^2$ and the KL cannot vanish.
#
# **DU-VAE** keeps the BN on the means but learns the scales, renormalised so that their mean
# square stays $\gamma^2$ (Algorithm 1, line 9), floors the variance at
# $\alpha = 1/(2\pi e)$ and drops out its excess (eq. 6):
# $\hat\delta^2 = g(\delta^2 - \alpha) + \alpha$, $g \sim \mathrm{Bernoulli}(p)/p$.

# %%
from duvae.posteriors import BatchNormMean, DeltaHead, DUHead, IAFHead
from duvae.posteriors.iaf import IAFBlock

show_source(BatchNormMean.renormalise_scale)
show_source(DUHead.moments)

# %% [markdown]
# **$\delta$-VAE** (Razavi et al. 2018) bounds each posterior so that $\mathrm{KL}_d \ge \delta$:
# $\sigma$ is squeezed between the two roots of $\ln v - v + 1 + 2\delta = 0$ and $\mu^2$ is set so
# that the KL is $\delta$ plus a non-negative excess:

# %%
show_source(DeltaHead.forward)

# %% [markdown]
# **IAF posteriors** (Kingma et al. 2016): $z^0 \sim \mathcal{N}(\mu^0, \delta^0)$ goes through $T$
# autoregressive blocks $z^t = \sigma_t \odot z^{t-1} + (1 - \sigma_t) \odot m_t$, with
# $\log q(z^T|x) = \log q(z^0|x) - \sum_t \sum_d \log \sigma_{t,d}$. IAF+FB adds free bits,
# IAF+BN the BN on $\mu^0$, DU-IAF the BN and the variance dropout on $z^0$ (paper section 3.4):

# %%
show_source(IAFBlock.forward)
show_source(IAFHead.forward)

# %% [markdown]
# ## Every model, a few training steps
#
# Each model is trained with `train_or_load` (cached under `runs/`, so re-running this notebook
# does not retrain) for the walk-through sizes of this profile, on the synthetic text set (LSTM
# encoder and decoder) and on Omniglot (ResNet encoder, PixelCNN decoder). These are a few steps,
# not converged models: the point is what each remedy does to KL and AU from the start.

# %%
from duvae.runs.run_data import load_run_data
from duvae.runs.trainer import train_or_load
from duvae.runs.zoo import run_config


def demo_config(name, dataset):
    cfg = run_config(name, dataset, demo.net_profile, seed=REFERENCE_SEED + seed)
    return cfg.with_(train=dataclasses.replace(cfg.train, epochs=demo.epochs, steps_per_epoch=demo.steps_per_epoch,
                                               max_train=demo.max_train))


runs, histories = [], []
for dataset in ("synthetic", "omniglot"):
    data = load_run_data(demo_config("vae", dataset), device=dev)
    print(data.describe())
    for name in MODEL_NAMES:
        run = train_or_load(demo_config(name, dataset), data=data, device=dev, progress=False)
        runs.append({"dataset": dataset, "model": name, **{k: run.metrics[k] for k in ("nll", "kl", "mi", "au")}})
        histories += [{"dataset": dataset, "model": name, **row} for row in run.history]

results = pd.DataFrame(runs).set_index(["dataset", "model"])
save_table(results, "04_walkthrough_metrics")
results

# %% [markdown]
# On the text set, the models that differ only in the weight of the KL (VAE, $\beta$-VAE, FB, MAE, AE)
# can agree to several decimals after so few steps: their plain encoder starts from the reference's
# small uniform initialisation, $\mu \approx 0$ and $\sigma^2 \approx 1$, so $q(z|x) \approx p(z)$ and
# the KL is about $10^{-5}$ nats whatever its weight; with the same seed and batches the decoders then
# train almost identically. The heads with BN on the means (BN-VAE, DU-VAE, IAF+BN, DU-IAF) start away
# from the prior and separate at once.

# %% [markdown]
# The validation KL and active units per epoch. With so few steps the plain VAE, $\beta$-VAE and AE
# may not have collapsed yet. $\delta$-VAE's KL is bounded below by construction. BN-VAE's and
# DU-VAE's bound holds for the batch statistics used in training; evaluation uses BN's running
# averages, which lag behind after only a few steps, so their validation KL can still be small here.

# %%
history = pd.DataFrame(histories)
assert len(history) == 2 * len(MODEL_NAMES) * demo.epochs, len(history)
assert history[["loss", "kl"]].notna().all().all()
fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
for col, dataset in enumerate(("synthetic", "omniglot")):
    h = history[history.dataset == dataset]
    sns.lineplot(data=h, x="epoch", y="kl", hue="model", ax=axes[0, col], legend=col == 1, marker="o")
    sns.lineplot(data=h, x="epoch", y="au", hue="model", ax=axes[1, col], legend=False, marker="o")
    axes[0, col].set_title(dataset)
axes[0, 1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
fig.tight_layout()
save_figure(fig, "04_walkthrough_kl_au")

# %% [markdown]
# Two checks that hold by construction, whatever the training length: $\delta$-VAE's KL is at least
# $n\delta$, and a model with BN on the means has every dimension active (the BN fixes the spread of
# each mean, $\mathrm{Var}[\hat\mu_d] = \gamma_d^2 \ge 0.01$ when the scales stay near $\gamma$).

# %%
for dataset in ("synthetic", "omniglot"):
    nz = demo_config("delta_vae", dataset).net.nz
    delta = model_config("delta_vae", dataset).delta
    assert results.loc[(dataset, "delta_vae"), "kl"] >= nz * delta - 1e-4
print("delta-VAE KL >= n * delta on both data sets")

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
# **Exercise 1 (eq. 1, the KL term).** Write `my_prior_kl(mu, var)`: the KL divergence from
# $\mathcal{N}(\mu, \sigma^2)$ to $\mathcal{N}(0, 1)$ for every entry, same shape as `mu` (the heads sum it
# over the dimensions).

# %% tags=["solution"]
import torch


def my_prior_kl(mu, var):
    """KL[N(mu, var) || N(0, 1)] for every entry, same shape as mu."""
    return 0.5 * (mu**2 + var - torch.log(var) - 1)


# %%
from duvae.book.exercises import check_prior_kl

check_prior_kl(my_prior_kl)

# %% [markdown]
# **Exercise 2 (free bits).** Write `my_free_bits(kl_per_dim, lam)`: the KL term of FB for a batch of
# per-dimension KLs `[B, nz]` and $\lambda$ = `lam`, a scalar.

# %% tags=["solution"]
def my_free_bits(kl_per_dim, lam):
    """The free-bits KL term (a scalar) of the per-dimension KLs kl_per_dim [B, nz], lambda = lam."""
    # max(lambda, batch-mean KL) per dimension, summed over the dimensions
    return kl_per_dim.mean(0).clamp(min=lam).sum()


# %%
from duvae.book.exercises import check_free_bits

check_free_bits(my_free_bits)

# %% [markdown]
# **Exercise 3 (pen and paper).** $\delta$-VAE guarantees $\mathrm{KL}_d \ge \delta$ for every posterior and
# dimension. Does that rule out the collapse of eq. 10, in which all posteriors are the same?

# %% [markdown] tags=["solution"]
# *Answer.* No. Every posterior can be the same $\mathcal{N}(\mu_0, \sigma_0^2)$ with
# $\tfrac12(\mu_0^2 + \sigma_0^2 - \log\sigma_0^2 - 1) = \delta$: each KL meets the bound, and the MPD is 0, so $z$
# tells the decoder nothing about $x$. A lower bound on the KL excludes only $q(z|x) = p(z)$; the
# diversity needs a bound on MPD (notebook 03, section 5).
