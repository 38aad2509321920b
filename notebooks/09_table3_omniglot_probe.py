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
# # Table 3: what the image codes know, measured by per-alphabet linear probes (paper section 4.2)
#
# **What the paper claims.** Omniglot has 1,623 handwritten characters from 50 alphabets, each
# drawn by 20 people. For each alphabet separately, a linear classifier learns to tell its
# characters apart from the frozen code of $k \in \{5, 10, 15\}$ drawings per character and is
# tested on 5 other drawings. Table 3 reports the mean accuracy over the 50 alphabets; DU-VAE
# (40.5 / 48.1 / 52.5 %) and DU-IAF (41.8 / 49.9 / 53.0 %) are the best classic and IAF models, and
# "most baselines show inconsistent results on text and image classification": BN-VAE, good on
# Yelp, is near the bottom here (31.2 / 39.2 / 43.2 %), IAF+BN far below everything (16.6-21.1 %).
#
# **The probe** (docs/implementation.md §4.7). Features as in notebook 08 ($\mu$, or
# $[\mu^0, z^T]$ for IAF models) of every image, binarised once. For alphabet $a$ with $C_a$
# characters, $p(y = c \mid x) = \mathrm{softmax}_c(W_a^\top u(x) + b_a)$, $c < C_a$, trained on the
# first $k$ of each character's 15 training drawings with Adam (lr $10^{-3}$, batch 50, the *sum* of
# the cross-entropies) for 300 epochs, and the final epoch is tested. The 150 problems (50 alphabets
# x 3 values of $k$) are **one batched computation**: $W \in \mathbb{R}^{150 \times d \times 55}$,
# with the logits of the classes an alphabet does not have set to $-\infty$ and problems whose
# epoch has run out of examples left unchanged at that step (`duvae/probes.py`).
#
# **How it is made here.** The models are Table 1's Omniglot runs in Table 3's rows (the same
# configs, hence the same run ids: a checkpoint under `runs/` is loaded, not re-trained) plus the
# AE. Checkpoints are not committed, so on a machine without them the sweep trains the models again,
# and on another kind of CPU than Table 1's the re-trained model differs from Table 1's in its last
# digits (the last section measures by how much). `python -m duvae.sweep table3 --profile cpu
# --seeds 3` probes them and commits the accuracies under `results/<profile>/table3/`; this notebook
# reads them and trains nothing at `cpu`.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0
device = "auto"
seeds = 3  # model seeds per row (the smoke profile uses 1)
run_missing = None  # run the missing runs first; None: only at the smoke profile, where they take seconds

# %%
from IPython.display import display

from duvae.runs.device import pick_device, seed_everything
from duvae.experiments import table3
from duvae.book.outputs import save_figure, save_table
from duvae.book.cells import notebook_results

dev = pick_device(device)
seed_everything(seed)
n_seeds = 1 if profile == "smoke" else seeds
results = notebook_results("table3", profile, n_seeds, dev, run_missing)
if profile == "smoke":
    print(f"smoke: only the first {table3.PROBE_ALPHABETS['smoke']} alphabets are probed")

# %% [markdown]
# ## Our Table 3 beside the paper's
#
# Mean accuracy over alphabets in %, mean ± standard deviation over model seeds.

# %%
t = table3.table(results)
save_table(t, "09_table3")
t

# %%
fig = table3.plot_curves(results)
save_figure(fig, "09_table3_curves")

# %% [markdown]
# ## The paper's claims, checked
#
# <a id="claim-c6"></a>
#
# The same sentence as Table 2's, in its two halves: DU-VAE against every other classic VAE and
# DU-IAF against the other IAF-based models, per $k$, with the AE (no VAE) shown against DU-VAE as
# `context`; notebook 06's rule (holds only beyond the larger std over seeds).

# %%
c = table3.claims(results)
save_table(c, "09_table3_claims")
display(c.groupby("half")["verdict"].value_counts().rename("comparisons").to_frame())
c

# %% [markdown]
# ## Alphabets differ more than models
#
# The mean hides a wide spread: alphabets with few, distinct characters are easy, those with many
# similar ones hard. Each alphabet's accuracy with $k = 15$, per model (mean over seeds).

# %%
import matplotlib.pyplot as plt
import numpy as np

fig, ax = plt.subplots(figsize=(12, 4))
labels = [label for label, _ in table3.ROWS]
data = []
for label in labels:
    per = [np.array(r["extra"]["probe_alphabets"]["15"]) for r in results if r["extra"]["row"] == label]
    data.append(100 * np.mean(per, axis=0) if per else np.array([np.nan]))
ax.boxplot(data, tick_labels=labels, showmeans=True)
ax.set_ylabel("accuracy per alphabet, k = 15 (%)")
ax.set_title("Table 3: accuracy of each alphabet (box = quartiles over alphabets, triangle = mean)")
plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
fig.tight_layout()
save_figure(fig, "09_table3_alphabets")

# %% [markdown]
# ## IAF features: $[\mu^0, z^T]$ (the paper) or $z^T$ alone

# %%
iaf = table3.table(results, features="probe_zT").loc[list(table3.IAF_ROWS)]
save_table(iaf, "09_table3_iaf_zT")
iaf

# %% [markdown]
# ## What the runs cost

# %%
import pandas as pd

cost = pd.DataFrame([{"row": r["extra"]["row"], "seed": r["seed"], "run min": r["wall_seconds"] / 60,
                      "probe s": r["extra"].get("probe_seconds"), "cpu": r["machine"]["cpu"]} for r in results])
if len(cost):
    cost = cost.groupby("row").agg({"seed": "count", "run min": "mean", "probe s": "mean"})
    print(f"total: {sum(r['wall_seconds'] for r in results) / 3600:.2f} h of run time")
save_table(cost, "09_table3_cost")
cost

# %% [markdown]
# ## Are the probed models Table 1's?
#
# A model probed here has the run id of a Table 1 run, and, trained again, should be that run. On
# the same kind of CPU a re-run is identical; across kinds it is not, so a probe may describe a
# model whose NLL differs slightly from the one Table 1 reports. Per model that Table 1 has too: its
# test NLL here minus Table 1's, and whether the two were trained on the same kind of CPU. A
# difference far below Table 1's seed-to-seed spread of the row means the two tables describe the
# same models for every purpose of a comparison.

# %%
from duvae.experiments import current_results

table1_runs = {r["run_id"]: r for r in current_results(profile, "table1")}
diff = "NLL here - Table 1's"
cpu_kind = lambda r: " ".join(r.get("machine", {}).get("cpu", "unknown").replace("(R)", "").split()[:2])  # noqa: E731
twins = pd.DataFrame([{"row": r["extra"]["row"], "seed": r["seed"],
                       diff: r["metrics"]["nll"] - table1_runs[r["run_id"]]["metrics"]["nll"],
                       "CPU here": cpu_kind(r), "CPU in Table 1": cpu_kind(table1_runs[r["run_id"]])}
                      for r in results if r["run_id"] in table1_runs])
if len(twins):
    twins["same kind of CPU"] = twins["CPU here"] == twins["CPU in Table 1"]
    for same, part in twins.groupby("same kind of CPU"):
        print(f"{'same' if same else 'other'} kind of CPU: {len(part)} models, largest |NLL difference| "
              f"{part[diff].abs().max():.5f} nats")
    twins = twins.set_index(["row", "seed"]).sort_index()
else:
    print("no model here has a Table 1 result yet")
save_table(twins, "09_table3_table1_twins")
twins
