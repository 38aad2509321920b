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
# # Your own data: does DU-VAE keep the latent space alive on it?
#
# The paper shows DU-VAE stopping posterior collapse on Yahoo, Yelp and Omniglot. This notebook asks
# the same question of **your** sentences or images, with the same models, metrics and checks as
# Table 1 (notebook 06) and "looking inside" (notebook 11). Give it your data as a parameter:
#
# ```bash
# make notebooks ONLY=13 DATA=path/to/corpus/                  # PROFILE=smoke for a quick look
# papermill notebooks/13_your_data.ipynb out.ipynb -p data path/to/images.npz -p kind image \
#     -y "models: [vae, bn_vae, du_vae]" -p seeds 3
# python -m duvae.sweep yours --data path/to/corpus/ --models vae bn_vae du_vae --seeds 3   # the runs alone
# ```
#
# **Formats** (`docs/your_data.md`, `duvae/data/your_files.py`). *Text*: a folder with `train.txt`,
# `valid.txt` and `test.txt`, or one `.txt` file that is split 80/10/10 by a permutation seeded with 0;
# one whitespace-tokenised document per line, UTF-8, optionally `label<TAB>text` on every line. The
# vocabulary is built from the training documents (capped, the rest become the unknown token, whose
# share is reported), and documents longer than the length cap are dropped and counted. *Images*: an
# `.npz` with `images` `[N, 28, 28]` (binary or gray levels in [0, 1]) and optionally `labels`, or an
# `.npy` of the images; split like one text file, then binarised as the paper does for Omniglot
# (afresh for every training batch, once for validation and test). Every file is read and checked
# before anything trains: a problem stops the notebook with one message naming the file and the
# line or image.
#
# **What runs.** Each chosen model and seed is one run of the package's trainer, with the
# hyper-parameters, networks and schedule of the nearest paper data set at the profile (Yahoo for
# text, Omniglot for images; `duvae/experiments/yours.py`): `smoke` a few steps of tiny networks
# (numbers mean nothing), `cpu` the narrower networks of the `cpu` profile, `paper` the paper's sizes
# (for a GPU). The run id hashes the configuration *and your files*, so changed data makes new
# runs; results are written to `yours/` (not the paper's `results/`), checkpoints to `runs/`, and a
# second execution of this notebook reads what the first one trained (an interrupted run resumes at
# its last epoch).
#
# **What is reported**, per model (mean ± std over seeds):
#
# - the test **NLL** (importance-weighted, $K$ samples), **KL** $= \mathbb{E}_x \mathrm{KL}(q(z|x)\,\|\,p(z))$,
#   **MI** $I_q(x; z)$ and **AU** (active units), and their per-epoch validation curves;
# - a **collapse verdict** from those numbers, by the rule printed with it: *alive* when the KL is at
#   least 1.5 nats (the paper's line between collapsed and not), the MI clears twice its noise level
#   $\sqrt{n_z / 2N}$ (the spread of the estimate when every posterior is the same, notebook 11) and at
#   least one unit is active; *collapsed* when the KL is below 1.5 nats and the MI within its noise;
#   *partly collapsed* otherwise;
# - **whether the decoder uses $z$**: the gain $\log p(x \mid z = \mu(x)) - \mathbb{E}_{x'} \log p(x \mid z = \mu(x'))$
#   of each test example from its own code over the codes of other test examples (0 when the decoder
#   ignores $z$, or when every input gets the same code); for text the distinct greedy outputs over 100 draws
#   $z \sim q(z|x)$, reconstructions, prior samples and homotopies; for images the grids of
#   reconstructions, prior samples and homotopies;
# - with labels, the **linear-probe accuracy** of the codes (Table 2's protocol) beside the majority baseline;
# - a short **reading**, computed from the numbers: which model kept its latent space alive, at what
#   cost in NLL.
#
# Without `data` the notebook runs on a **demo**, and says so: 300 Yahoo documents of 20 to 25 words
# from the public files, labelled short / long (`kind="text"`, the default), or 600 generated images of
# three shapes (`kind="image"`).

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0  # seeds this notebook's own draws (the runs use seeds 783435, 783436, ...)
device = "auto"
data = None  # your data: a folder of train/valid/test.txt, one .txt file, an .npz / .npy of images (None: a demo)
kind = "auto"  # auto | text | image (without data: text is the Yahoo demo, image the generated shapes)
models = ["vae", "bn_vae", "du_vae"]  # any of duvae.runs.zoo.MODEL_NAMES
seeds = 1  # seeds per model (3 to judge differences against the seed spread)

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from duvae.book.outputs import output_dir, save_figure, save_table, show_table
from duvae.data.your_files import demo_images, demo_text
from duvae.runs.device import pick_device, seed_everything
from duvae.experiments import yours
from duvae.sweep.engine import main as sweep_main

dev = pick_device(device)
seed_everything(seed)
pd.set_option("display.max_colwidth", 100)
demo = data is None
if demo:
    folder = output_dir() / "demo_data"
    data = demo_images(folder) if kind == "image" else demo_text(folder)
    what = ("600 generated images of three shapes" if kind == "image"
            else "300 Yahoo documents of 20 to 25 words, labelled short / long")
    display(Markdown(f"**No `data` was given: this is the DEMO** ({what}, `{data}`). Pass `data` (papermill "
                     "`-p data PATH`, or `make notebooks ONLY=13 DATA=PATH`) to run on your own."))
path, kind = yours.source(data, kind)
report, about = yours.data_report(path, kind, profile)  # reads and checks every file (one clear error if one is bad)
save_table(report, "13_data")
print(f"{path}: {about}")
report

# %% [markdown]
# ## The runs
#
# Missing runs are trained here, in this process, one after the other (the sweep engine's `inline`
# executor); finished ones are read from `yours/`. With two cores to spare, the same runs train two at
# a time with `python -m duvae.sweep yours --data PATH --models ... --seeds N` (then run this
# notebook to read them).

# %%
if sweep_main(yours.sweep_argv(profile, seeds, models, path, kind, dev)) != 0:
    raise RuntimeError(f"some runs on {path} failed: their errors are printed above")
results = yours.results(profile, seeds, models, path, kind)
print(f"{len(results)} runs on {path} ({kind}), results in {yours.default_results_dir() / profile / yours.NAME}; "
      f"{yours.seconds(results) / 60:.1f} min of run time in all, as each run measured it")
unit = yours.unit_of(results)

# %% [markdown]
# ## Likelihood, KL, MI, active units, and the collapse verdict
#
# NLL and KL are in nats per document (per image); MI in nats; AU out of $n_z$ latent dimensions.
# The verdict uses the rule printed below the table; "alive on seeds" applies it seed by seed.

# %%
t = yours.table(results)
show_table(t, "13_models")
print(f"rule: {yours.RULE}")

# %% [markdown]
# ## Over training
#
# The validation $-$ELBO (`loss`), KL, MI and AU after every epoch (the IW-NLL is computed once, on the
# test set, with the weights of the best validation epoch). A collapsing model's KL and MI fall to 0
# once the KL weight reaches 1 (after the annealing epochs); one that stays alive keeps them up.

# %%
fig = yours.plot_curves(results)
save_figure(fig, "13_curves")
plt.show()

# %% [markdown]
# ## Does the decoder use $z$?
#
# A collapsed posterior carries nothing about $x$, and its decoder learns to do without $z$: every
# code then gives the same output. First the gain of each test example's log-likelihood from its own
# code (the posterior mean) over the codes of other test examples, in nats: 0 for a decoder that
# ignores $z$ or an encoder that gives every input the same code. Then what the models write or draw.

# %%
save_figure(yours.plot_gain(results), "13_code_gain")
plt.show()

# %%
if kind == "text":
    for i in range(3):
        t = yours.reconstructions(results, i)
        if t.empty:
            continue
        show_table(t, f"13_reconstruction_{i + 1}",
                   f"**Held-out document {i + 1}**: greedy decoding from the posterior mean, and the "
                   "distinct greedy outputs over draws z ~ q(z|x) (1 = the decoder ignores z)")
    t = yours.prior_samples(results)
    if not t.empty:
        show_table(t, "13_prior_samples",
                   "**Greedy decodings of the same prior draws z ~ N(0, I)** (one sentence in every row: collapse)")
    for k in range(2):
        t = yours.homotopy_table(results, k)
        if t.empty:
            continue
        show_table(t, f"13_homotopy_{k + 1}",
                   f"**Homotopy {k + 1}**: decodings along z(t) = (1 - t) mu(x_a) + t mu(x_b)")
else:
    display(Markdown("Per model: **reconstructions** (rows: test images, a sample from p(x | z = mu(x)), one "
                     "from p(x | z ~ q(z|x))), **prior samples**, and **homotopies** (x_a, samples along "
                     "z(t) = (1 - t) mu(x_a) + t mu(x_b), x_b)."))
    fig = yours.plot_grids(results)
    save_figure(fig, "13_grids")
    plt.show()

# %% [markdown]
# ## What the codes know about your labels
#
# With labels, a linear classifier trained on the frozen codes (the posterior means) of the training
# split, selected on the validation split and tested on the test split, with Table 2's protocol
# (`duvae.probes`). The majority baseline is the accuracy of always answering the most frequent
# training label.

# %%
probed = [(r["extra"]["row"], r["seed"], r["extra"]["probe"]) for r in results if r["extra"].get("probe")]
if probed and any("accuracy" in p for _, _, p in probed):
    t = pd.DataFrame([{"model": m, "seed": s, "accuracy": p.get("accuracy"), "majority baseline": p["majority"],
                       "classes": p["classes"], "train / valid / test": f"{p['n_train']} / {p['n_valid']} / {p['n_test']}",
                       "features": p["features"]} for m, s, p in probed]).set_index(["model", "seed"])
    show_table(t, "13_probe")
else:
    print("no labels in this data: no probe (give label<TAB>text lines, or 'labels' in the .npz)")

# %% [markdown]
# ## Reading
#
# Computed from the table above (`duvae.experiments.yours.reading`), not written by hand.

# %%
text = yours.reading(results)
if demo:
    text = f"*(Demo data: {path.name}.)*\n\n" + text
if profile == "smoke":
    text = "*(Profile `smoke`: tiny networks trained for a few steps; these numbers prove the code path only.)*\n\n" + text
(output_dir() / "tables").mkdir(parents=True, exist_ok=True)
(output_dir() / "tables" / "13_reading.md").write_text(text + "\n")
display(Markdown(text))

# %% [markdown]
# ## Where these numbers come from

# %%
t = pd.DataFrame([{"run": r["run_id"], "model": r["extra"]["row"], "seed": r["seed"],
                   "minutes": r["wall_seconds"] / 60, "epochs": r["metrics"]["epochs"],
                   "data": r["metrics"]["data"], "CPU": r["machine"]["cpu"], "threads": r["machine"]["threads"],
                   "device": r["machine"]["device"]} for r in results]).set_index("run")
show_table(t, "13_runs")
print(f"again, or with more seeds, two runs at a time:\n  python -m duvae.sweep yours --data {path} --profile {profile} "
      f"--models {' '.join(models)} --seeds {seeds}")
