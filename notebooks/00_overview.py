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
# # DU-VAE in one page
#
# *Regularizing Variational Autoencoder with Diversity and Uncertainty Awareness*
# (Shen, Qin, Wang, Zhu, Chen, Xiong; IJCAI-21) — a map of this repository.
#
# **The problem.** A VAE maximises the evidence lower bound (eq. 1)
#
# $$\mathcal{L} = \mathbb{E}_{p_\mathcal{D}(x)}\Big[\mathbb{E}_{q_\phi(z|x)}[\log p_\theta(x|z)]
#   - D_{KL}[q_\phi(z|x)\,\|\,p(z)]\Big]. \tag{1}$$
#
# With an autoregressive decoder (an LSTM on text, a PixelCNN on images) the decoder can model the
# data alone, and the optimum drifts to *posterior collapse*: $q_\phi(z|x) = p(z)$ for every $x$, so
# $z$ carries no information.
#
# **Two geometric properties of the latent space.**
# - *Diversity*: the mutual posterior diversity (MPD, eq. 2-3), the expected symmetric KL between the
#   posteriors of two independent data points. Collapse means MPD = 0.
# - *Uncertainty*: the conditional entropy $H_q(z|x)$ (eq. 4-5). It is unbounded below for continuous
#   $z$; adding independent noise $\epsilon \sim \mathcal{N}(0, \alpha)$ with
#   $\alpha = 1/(2\pi e)$ floors every variance at $\alpha$ and makes it non-negative.
#
# **The remedy, without a new loss term.**
# - *Dropout on the variances* (eq. 6): $\hat\delta^2 = g\,(\delta^2 - \alpha) + \alpha$ with
#   $g \sim \mathrm{Bernoulli}(p)/p$. It keeps $\mathbb{E}[\delta^2]$, raises MPD and lowers the
#   conditional entropy (Proposition 1, eq. 7), and bounds MPD below by
#   $\frac{1-p}{\alpha}\sum_d \mathrm{Var}[\mu_d]$ (eq. 8).
# - *Batch normalisation on the means* (eq. 9) with learnable scales renormalised so that their
#   mean square stays $\gamma^2$ (Algorithm 1, line 9): this fixes $\sum_d \mathrm{Var}[\mu_d]$, and
#   with it the lower bound of eq. 8.
# - The same two regularisers on the initial Gaussian of an IAF posterior give *DU-IAF*.
#
# **The experiments.** Table 1 (likelihood: NLL, KL, MI, AU on Yahoo, Yelp, Omniglot), Table 2 (short
# Yelp sentiment with 100 to 10k labels), Table 3 (Omniglot per-alphabet classification), Figure 1
# (the latent space of a 2-D synthetic text set), Figure 2 (the $(\gamma, p)$ grid).

# %% [markdown]
# **Learning goals.** After this page you can
# - say what posterior collapse is and which two properties of the latent space DU-VAE watches
#   (diversity, eq. 2-3; uncertainty, eq. 4-5);
# - name DU-VAE's two regularisers (dropout on the variances, eq. 6; batch normalisation on the means,
#   eq. 9 with Algorithm 1, step 9) and the bound that links them (eq. 8);
# - find the module and the notebook behind every equation, and run a notebook at a profile.
#
# **Prerequisites.** The variational autoencoder (the ELBO, the reparameterisation trick, a diagonal
# Gaussian posterior); Python and a first contact with PyTorch tensors.
#
# **Run time,** as measured by the main job (`make notebooks`), not typed:

# %%
from duvae.book.timings import run_time_line

print(run_time_line("00_overview"))

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0
device = "auto"

# %%
import duvae
from duvae.runs.device import pick_device, seed_everything
from duvae.runs.profiles import PROFILES, check_profile
from duvae.book.run import list_notebooks

check_profile(profile)
seed_everything(seed)
print(f"duvae {duvae.__version__}; profile={profile!r}; device={pick_device(device)}")

# %% [markdown]
# ## The map of the repository
#
# | where | what |
# | --- | --- |
# | `duvae/theory.py` | MPD (eq. 3), conditional entropy (eq. 5), variance dropout (eq. 6), the bounds of Proposition 1 and eq. 8, the BN scale renormalisation |
# | `duvae/data/` | verified downloads (sha256, mirror, cache) and the data sets: Omniglot 28x28, Yahoo, short Yelp, synthetic text |
# | `duvae/runs/profiles.py` | the `smoke` / `cpu` / `paper` sizes every notebook reads |
# | `duvae/book/` | what turns the package into these notebooks: the main job (`run.py`, every notebook through papermill), what cells call, the course edition |
# | `notebooks/` | the literate walk-through, one notebook per topic (below) |
# | `tests/` | closed forms against independent computations; every notebook executed with `smoke` |
#
# The notebooks, in reading order:

# %%
import pandas as pd

rows = []
for path in list_notebooks():
    # the first markdown heading of each notebook is its title
    title = next((ln.lstrip("# ").strip() for ln in path.read_text().splitlines() if ln.startswith("# # ")), "")
    rows.append({"notebook": path.stem, "title": title})
notebooks = pd.DataFrame(rows)
assert len(notebooks) >= 4
notebooks

# %% [markdown]
# ## How to run it
#
# Two commands do all set-up on a fresh machine (a `.venv` with the CPU build of PyTorch and this
# package):
#
# ```bash
# make notebooks PROFILE=cpu   # every notebook through papermill -> build/cpu/{notebooks,figures,tables}
# make test                    # the test suite (what CI runs)
# ```
#
# The profiles (this notebook's `profile` parameter) are listed below; `smoke` only proves that the
# code runs, `cpu` gives real reduced-scale results on a laptop, `paper` is the paper's configuration.

# %%
print("profiles:", ", ".join(PROFILES))

# %% [markdown]
# ## Exercises and the student edition
#
# Notebooks 01-05 open with their learning goals, prerequisites and measured run time, and close with
# exercises: a function to write for an equation of the paper (or a question for pen and paper), and
# a check cell, `duvae.book.exercises.check_*`, that compares the function with the package's own on
# seeded inputs and names the usual mistake when it recognises one. `make student` writes the
# student edition to `build/student/`, with every answer cell replaced by a stub. The exercises:

# %%
from duvae.book.exercises import exercise_table

pd.DataFrame(exercise_table()).set_index(["notebook", "exercise"])
