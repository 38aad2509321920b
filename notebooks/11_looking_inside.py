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
# # Looking inside: what the trained models generate, and what their metrics count
#
# Table 1 says that the plain VAE on Yahoo has a KL of almost 0 and DU-VAE one of several nats.
# This notebook shows what that means for what the models *write*, and answers four questions that
# users of He et al.'s code (`jxhe/vae-lagging-encoder`) asked about the metrics: why the prior and
# the posterior give the same sentences (#5), what the mutual information does over training (#1),
# why the MI estimate can be negative (#8), and what NLL and PPL count (#11).
#
# **Collapse, seen from the decoder.** A VAE generates a sentence by drawing a code $z$ and running
# the decoder, $x \sim p_\theta(x|z)$; the LSTM decoder reads $z$ in its initial state and at every
# step. When the posterior collapses, $q_\phi(z|x) \approx p(z)$ for every $x$, so the code carries
# nothing about $x$, and the decoder has learned to predict each word from the previous ones alone:
# it *ignores* $z$. Then every code gives the same greedy sentence, the one the language model
# finds most likely on its own, and a "reconstruction" of a test sentence has nothing to do with
# it. A model whose decoder uses $z$ writes different sentences for different codes, and
# reconstructs something of its input. So we measure, for each model:
#
# - **reconstructions**: a held-out sentence $x$, and the greedy decoding from its posterior mean,
#   $\hat x_t = \arg\max_w p_\theta(w \mid \hat x_{<t}, z = \mu_\phi(x))$;
# - **prior samples**: the greedy decodings of $z \sim \mathcal{N}(0, I)$ (the same draws for every model);
# - **homotopies** (Bowman et al. 2016): the decodings along the segment
#   $z(t) = (1 - t)\,\mu_\phi(x_a) + t\,\mu_\phi(x_b)$ between two held-out sentences, at 7 points;
# - **how much the output depends on $z$**: the number of distinct greedy sentences over 100 draws
#   $z \sim q_\phi(z|x)$ of one input, and over 100 draws $z \sim p(z)$, over the whole output and
#   over its first 5 words. A decoder that ignores $z$ writes 1 distinct sentence.
#
# Greedy decoding picks the most likely word at every step: a deterministic function of $z$, so
# two equal outputs mean that the two codes led the decoder to the same words (sampling the words
# would add variety that does not come from $z$). Every decoding of a model is one batch: the
# reconstructions, the $5 \times 100$ posterior draws, the 100 prior draws and the homotopies are
# stacked into one matrix of codes and decoded together (`duvae.generation.greedy`).
#
# **The models** are Table 1's own runs at the chosen profile, seed 1 (the reference seed 783435):
# on Yahoo the VAE, BN-VAE, DU-VAE $(\gamma, p) = (0.6, 0.8)$ and Agg-VAE; on Omniglot the VAE,
# BN-VAE and DU-VAE $(0.5, 0.9)$. Their configs come from Table 1's module at run time, so these
# are the same run ids. What they generate is computed once by the sweep engine
# (`python -m duvae.sweep inside`, `duvae/experiments/inside.py`) and stored in small files under
# `results/<profile>/inside/`: text as JSON, image grids as PNG. This notebook reads them, so a fresh
# clone shows them without training; with `regenerate=True` it measures them again from the
# checkpoints under `runs/` (training the runs that are not there).

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0  # seeds the constructed examples of this notebook (the runs are seed 1 of Table 1)
device = "auto"
regenerate = False  # True: measure again (retrains runs whose checkpoint is not in runs/); smoke always makes what is missing

# %%
import json
import math

import matplotlib.pyplot as plt
import pandas as pd
import torch
from PIL import Image

from duvae.runs.device import pick_device, seed_everything
from duvae.experiments import inside
from duvae.metrics import mi_from_draws
from duvae.book.outputs import save_figure, save_table, show_table
from duvae.runs.results import load_results, result_path
from duvae.sweep.engine import main as sweep_main

dev = pick_device(device)
gen = seed_everything(seed)
pd.set_option("display.max_colwidth", 120)
configs = inside.runs(profile, 1)
folder = result_path(None, profile, inside.NAME, "x").parent
SWEEP = f"python -m duvae.sweep inside --profile {profile} --seeds 1 --executor local --jobs 2"


def files_of(cfg):
    """The result JSON of a run and the image grids written beside it."""
    run_id = cfg.run_id()
    return [folder / f"{run_id}.json", folder / f"{run_id}.recon.png", folder / f"{run_id}.prior.png"]


if regenerate:  # only this notebook's own files; the checkpoints under runs/ stay
    for cfg in configs:
        for path in files_of(cfg):
            path.unlink(missing_ok=True)
if regenerate or profile == "smoke":  # at smoke the seven runs train in seconds, in this process
    sweep_main(["inside", "--profile", profile, "--seeds", "1", "--executor", "inline", "--device", str(dev)])
ids = {c.run_id() for c in configs}
results = [r for r in load_results(profile, inside.NAME) if r["run_id"] in ids]
missing = [c for c in configs if c.run_id() not in {r["run_id"] for r in results}]
print(f"{len(results)} of {len(configs)} runs looked inside, in {folder}")
if missing:
    print(f"missing: {', '.join(c.run_id() for c in missing)}.\nMake them (it trains the runs whose checkpoint "
          f"is not under runs/) with\n\n    DUVAE_DATA_MIRROR=<mirror> {SWEEP}\n\nor re-run this notebook "
          "with regenerate=True.")
text_results = inside.ordered(results, "yahoo")
image_results = inside.ordered(results, "omniglot")

# %% [markdown]
# ## Sentences: reconstructions from the posterior mean
#
# Three held-out Yahoo test sentences, the same for every model (evenly spread over the shortest
# quarter of the test set: a Yahoo document is a question and its answer, 20 to 60 words at `cpu`),
# and what each model writes from its posterior mean. The last column counts the distinct sentences over 100 draws $z \sim q_\phi(z|x)$
# of that input. `_UNK` is a word outside the 5,000 most frequent ones (the `cpu` vocabulary).

# %%
if not text_results:
    print("no Yahoo results at this profile yet (see above)")
for i in range(3 if text_results else 0):
    t = inside.reconstructions(results, i)
    if t.empty:
        continue
    show_table(t, f"11_reconstruction_{i + 1}", f"**Held-out sentence {i + 1}**")

# %% [markdown]
# ## Sentences from the prior
#
# The same draws $z \sim \mathcal{N}(0, I)$ for every model, decoded greedily. A model with a collapsed
# posterior writes the same sentence in every row.

# %%
if text_results:
    t = inside.prior_samples(results)
    show_table(t, "11_prior_samples")

# %% [markdown]
# ## How much does the output depend on $z$?
#
# Distinct greedy sentences over 100 draws of $z$: from the posterior of each held-out input (one count
# per input, and their mean) and from the prior, beside the model's KL and active units from the
# test set. This is the check He et al.'s users made by hand ("prior and posterior generate the same
# sentences", #5): one distinct sentence for 100 prior draws means a decoder that ignores $z$.
#
# Two counts, because greedy decoding with these small models seldom reaches the end token: the
# output runs on to the length cap, often in a loop (`_UNK _UNK ...`), and a code that carries a
# trace of information (a KL of a few hundredths of a nat) can change where that loop starts without
# changing what the sentence says. The count over the **first 5 words** asks the question that
# matters: do different codes make the model *start* a different sentence? Read both columns; a
# collapsed model can show tens of distinct whole outputs and a handful of distinct openings.

# %%
if text_results:
    t = inside.distinct_table(results)
    show_table(t, "11_distinct_outputs")
    save_figure(inside.plot_distinct(results), "11_distinct_outputs")
    plt.show()

# %% [markdown]
# ## Homotopies
#
# Greedy decodings along $z(t) = (1 - t)\,\mu_\phi(x_a) + t\,\mu_\phi(x_b)$, from the posterior mean of
# one held-out sentence ($t = 0$) to that of another ($t = 1$). Bowman et al. (2016) read a smooth
# latent space off such paths: sentences that change gradually and stay grammatical. A decoder that
# ignores $z$ writes one sentence all along.

# %%
for k in range(2 if text_results else 0):
    t = inside.homotopy_table(results, k)
    if t.empty:
        continue
    show_table(t, f"11_homotopy_{k + 1}", f"**Homotopy {k + 1}**")

# %% [markdown]
# ## Images: reconstructions and prior samples of the PixelCNN
#
# For each Omniglot model, two grids drawn pixel by pixel (all images of a model in one batch):
# the first test images, then a sample $x \sim p_\theta(x \mid z = \mu_\phi(x))$, then a sample from
# $p_\theta(x \mid z)$ with $z \sim q_\phi(z|x)$; and two rows of samples from the prior. A PixelCNN
# is a strong decoder on its own: it draws stroke-like images whatever $z$ says, so the question
# is whether the reconstruction keeps the *character* of the test image. The grids are the PNG files
# of `results/<profile>/inside/`.

# %%
grids = inside.grid_paths(results, folder)
if not grids:
    print("no Omniglot grids at this profile yet (see above)")
else:
    fig, axes = plt.subplots(len(grids), 2, figsize=(13, 2.3 * len(grids)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 2]})
    for (label, paths, captions), row in zip(grids, axes):
        for ax, key in zip(row, ("reconstructions", "prior")):
            ax.imshow(Image.open(paths[key]), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}: {key}", fontsize=9)
        row[0].set_ylabel("\n".join(captions["reconstructions"]), fontsize=6, rotation=0, ha="right", va="center")
    fig.tight_layout()
    save_figure(fig, "11_omniglot_grids")
    plt.show()

# %% [markdown]
# ## The mutual information estimator, and why it can be negative
#
# The mutual information between data and code under the encoder is
#
# $$I_q(x; z) = \mathbb{E}_{p_\mathcal{D}(x)}\, \mathbb{E}_{q(z|x)}\big[\log q(z|x) - \log q(z)\big]
# = \mathbb{E}_{p_\mathcal{D}(x)}\, \mathrm{KL}\big(q(z|x) \,\|\, q(z)\big), \qquad
# q(z) = \mathbb{E}_{p_\mathcal{D}(x)}\, q(z|x),$$
#
# with $q(z)$ the *aggregate posterior*. Since
# $\mathbb{E}_x \mathrm{KL}(q(z|x) \| p(z)) = I_q(x; z) + \mathrm{KL}(q(z) \| p(z))$, the KL that
# Table 1 reports is an upper bound on the MI. The estimator of the DU-VAE and BN-VAE code
# (docs/implementation.md §4.3, `duvae.metrics.mutual_information`) replaces $p_\mathcal{D}$ by the
# $N$ test examples, $q(z)$ by the mixture of their $N$ Gaussian posteriors, and the inner
# expectation by **one** draw
# $z_n = \mu_n + \sigma_n \odot \varepsilon_n$ per example:
#
# $$\hat I = \frac1N \sum_{n=1}^N \Big[ -\mathcal{H}\big[q(z|x_n)\big]
# - \log \frac1N \sum_{m=1}^N \mathcal{N}\big(z_n;\, \mu_m, \operatorname{diag}\sigma_m^2\big) \Big],
# \qquad -\mathcal{H}[q(z|x_n)] = -\tfrac{n_z}{2}\log 2\pi - \tfrac12 \sum_d (1 + \log \sigma^2_{n,d}).$$
#
# (He et al.'s original code used the mixture of each evaluation *mini-batch* instead of the whole
# set; both are computed below.) Two exact consequences of this form:
#
# 1. **Collapse: mean 0, spread $\sqrt{n_z / 2N}$, negative half of the time.** If every posterior is
#    the same Gaussian, the mixture *is* that Gaussian, and
#    $\log q(z_n|x_n) = -\mathcal{H} - \tfrac12(\|\varepsilon_n\|^2 - n_z)$ gives
#    $\hat I = \frac1N \sum_n \tfrac12 (\|\varepsilon_n\|^2 - n_z)$. With $\|\varepsilon_n\|^2 \sim \chi^2_{n_z}$
#    (mean $n_z$, variance $2 n_z$) that has mean 0 and standard deviation $\sqrt{n_z / 2N}$: 0.18 nats
#    for $n_z = 32$ and the 500 test sentences of the `cpu` profile. The true MI is 0, the estimate
#    is 0 ± 0.18, and below 0 about half of the time (#8). It can also exceed the KL it is bounded
#    by: Table 1's Yahoo VAE reads KL 0.05 and MI 0.13.
# 2. **A ceiling at $\log N$.** The mixture holds the example's own posterior with weight $1/N$, so
#    $\log \hat q(z_n) \ge \log q(z_n|x_n) - \log N$ and $\hat I \le \log N + \frac1N \sum_n \tfrac12
#    (\|\varepsilon_n\|^2 - n_z)$: in expectation at most $\log N$ = 6.2 nats for $N = 500$, whatever
#    the true MI. With mini-batch mixtures the ceiling is the mean over examples of $\log B$, $B$ the
#    size of the example's batch: the test batches are buckets of equal length, many of them small
#    (2.6 nats on the `cpu` Yahoo test set). (Replacing $p_\mathcal{D}$ by $N$
#    examples makes the MI that between a uniform index $n$ and $z$, which cannot exceed $H(n) = \log N$.)
#
# First on constructed posteriors, $n_z = 32$ and $N = 500$: identical ones (true MI 0), then means
# spread as $\mu_n \sim \mathcal{N}(0, a^2 I)$ with unit variances, whose population MI is
# $\tfrac{n_z}{2} \log(1 + a^2)$.

# %%
N, nz, R = 500, 32, 200
same = mi_from_draws(torch.zeros(N, nz, dtype=torch.float64), torch.ones(N, nz, dtype=torch.float64),
                            torch.randn(R, N, nz, generator=gen, dtype=torch.float64))
print(f"identical posteriors, {R} draws: mean {same.mean():+.3f}, std {same.std():.3f} "
      f"(predicted sqrt(nz / 2N) = {math.sqrt(nz / (2 * N)):.3f}), negative in {int((same < 0).sum())}/{R}")
spreads = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
rows = []
for a in spreads:  # six constructed data sets
    mu = a * torch.randn(N, nz, generator=gen, dtype=torch.float64)
    est = mi_from_draws(mu, torch.ones_like(mu), torch.randn(20, N, nz, generator=gen, dtype=torch.float64))
    rows.append({"a": a, "population MI": nz / 2 * math.log(1 + a * a), "estimate mean": float(est.mean()),
                 "estimate std": float(est.std()), "log N": math.log(N)})
ceiling = pd.DataFrame(rows).set_index("a")
save_table(ceiling, "11_mi_ceiling_constructed")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
axes[0].hist(same.numpy(), bins=30, color="tab:gray")
axes[0].axvline(0, color="k", lw=1)
axes[0].set_title(f"identical posteriors (true MI = 0): {R} estimates")
axes[0].set_xlabel("MI estimate (nats)")
axes[1].plot(ceiling.index, ceiling["population MI"], marker="o", label="population MI (nz/2) log(1 + a^2)")
axes[1].errorbar(ceiling.index, ceiling["estimate mean"], yerr=ceiling["estimate std"], marker="s",
                 label="estimate (mixture of the N posteriors)")
axes[1].axhline(math.log(N), ls="--", color="tab:red", label=f"log N = {math.log(N):.2f}")
axes[1].set_xlabel("spread a of the posterior means")
axes[1].set_ylabel("nats")
axes[1].legend(fontsize=8)
axes[1].set_title("the estimate cannot exceed log N")
fig.tight_layout()
save_figure(fig, "11_mi_estimator_constructed")
plt.show()
ceiling

# %% [markdown]
# ### The estimate on the trained models, repeated
#
# For each model, the estimator repeated 100 times (20 at `smoke`) on its test posteriors, each time
# with fresh noise $\varepsilon$ (all repeats in one computation, `mi_from_draws`): with the
# mixture of all $N$ test posteriors (blue) and with the mixture of each evaluation mini-batch
# (green), beside the model's KL (red), which bounds the true MI from above. Table 1 reports a
# single one of these draws. Near collapse (the Yahoo VAE and Agg-VAE) the draws scatter around 0
# with the spread $\sqrt{n_z / 2N}$ derived above; for the models that use $z$ they sit below
# $\log N$ (and the mini-batch ones below their mean $\log B$), however large the KL.

# %%
if results:
    t = inside.mi_table(results)
    show_table(t, "11_mi_spread")
    save_figure(inside.plot_mi_spread(results), "11_mi_spread")
    plt.show()
else:
    print("no results at this profile yet (see above)")

# %% [markdown]
# **MI over training (#1).** Every result also holds the per-epoch validation MI (the same estimator,
# on the validation set) in its `history`, so no log needs to be scraped; Table 1's notebook (06)
# draws them for every row.

# %%
if results:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for ds, rows in (("yahoo", text_results), ("omniglot", image_results)):
        for label, r in rows:
            mi = [h["mi"] for h in r["history"]]
            ax.plot(range(1, len(mi) + 1), mi, marker=".", ls="-" if ds == "yahoo" else "--", label=f"{ds} {label}")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MI estimate (nats)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    save_figure(fig, "11_mi_over_training")
    plt.show()

# %% [markdown]
# ## ELBO against the importance-weighted NLL
#
# With log-weights $\log w_k = \log p_\theta(x|z_k) + \log p(z_k) - \log q_\phi(z_k|x)$, $z_k \sim q_\phi(z|x)$,
# Jensen's inequality gives two bounds on $\log p(x) = \log \mathbb{E}_q[w]$ (Burda et al. 2016):
#
# $$\mathrm{ELBO} = \mathbb{E}\,\log w \;\le\; \mathbb{E}\log \frac1k \sum_{j=1}^k w_j \;\le\; \log p(x),$$
#
# the middle one tightening as $k$ grows; Table 1's NLL is its negative with $K$ samples (500 in the
# paper, 100 at `cpu`). The gap between $-\mathrm{ELBO}$ and the NLL is about
# $\mathrm{KL}(q_\phi(z|x) \,\|\, p_\theta(z|x))$, how far the encoder is from the true posterior. A
# collapsed model has $q_\phi(z|x) \approx p(z) \approx p_\theta(z|x)$ (its decoder ignores $z$), so its
# ELBO is tight and its NLL is close to its $-$ELBO: a VAE can reach a good NLL while ignoring $z$. The
# table uses the same $K$ log-weights for both numbers, on every $k$-th test example (100 of the 500
# at `cpu`), and repeats the run's own test-set numbers (Table 1's single-sample
# $-$ELBO, and its IW-NLL).

# %%
if results:
    t = inside.iw_table(results)
    show_table(t, "11_elbo_vs_iw_nll")
    save_figure(inside.plot_iw_bounds(results), "11_iw_bounds")
    plt.show()

# %% [markdown]
# ## What NLL and PPL count (#11)
#
# Table 1's NLL is in **nats per sentence** (per image on Omniglot): $-\log p(x)$ of a whole sentence
# $x = (\langle s\rangle, w_1, \dots, w_L, \langle/s\rangle)$. The decoder predicts every token after
# $\langle s\rangle$, so $\log p(x|z) = \sum_{t=1}^{L+1} \log p(x_t|x_{<t}, z)$ counts the $L$ words
# **and the end token** $\langle/s\rangle$ (it decides where the sentence stops), and not
# $\langle s\rangle$, which is given. Perplexity spreads the same nats over the same predictions
# (docs/implementation.md §4.5):
#
# $$\mathrm{PPL} = \exp\Big(\frac{\sum_n \mathrm{NLL}_n}{\sum_n (L_n + 1)}\Big).$$
#
# Dividing by the words alone makes every model look worse, by an amount that depends on the
# sentence lengths; papers that do not say which they use cannot be compared digit by digit.

# %%
if text_results:
    t = inside.ppl_table(results)
    show_table(t, "11_ppl")

# %% [markdown]
# ## Where these numbers come from
#
# Each run here is Table 1's run with the same id. When its checkpoint was under `runs/` the sweep
# loaded it; otherwise it trained it again, which gives the same model on the same kind of CPU and a
# slightly different one on another (the README's *Reproducibility*). The table puts this run's test
# numbers beside Table 1's committed ones.

# %%
rows = []
for label, r in text_results + image_results:
    t1 = result_path(None, profile, "table1", r["run_id"])
    ref = json.loads(t1.read_text()) if t1.is_file() else None
    rows.append({"run": r["run_id"], "row": label, "NLL": r["metrics"]["nll"], "KL": r["metrics"]["kl"],
                 "Table 1 NLL": ref["metrics"]["nll"] if ref else None, "Table 1 KL": ref["metrics"]["kl"] if ref else None,
                 "CPU": r["machine"]["cpu"], "Table 1 CPU": ref["machine"]["cpu"] if ref else None,
                 "precision": r["precision"]})
if rows:
    t = pd.DataFrame(rows).set_index("run")
    show_table(t, "11_runs")
print(f"to make or refresh this profile's files: DUVAE_DATA_MIRROR=<mirror> {SWEEP}")
