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
# # Table 1: likelihood estimation of 14 models (paper section 4.2)
#
# **What the paper claims.** Table 1 reports, for 14 models on Yahoo, Yelp and Omniglot, the test
# negative log-likelihood (NLL, estimated by importance weighting with $K = 500$ samples,
# $\log p(x) \ge \log \frac1K \sum_k p(x, z_k) / q(z_k|x)$), the KL term of the ELBO,
# $\mathbb{E}_{p_\mathcal{D}}\,\mathrm{KL}(q(z|x)\,\|\,p(z))$, the mutual information $I_q(x; z)$ between data
# and latent under the encoder, and the number of active units, $\mathrm{AU} = \#\{d :
# \mathrm{Cov}_x(\mathbb{E}_{q(z|x)}[z_d]) > 0.01\}$. Section 4.2 reads five statements out of it:
#
# 1. DU-VAE and DU-IAF reach the best NLL among the classic VAEs and the IAF-based VAEs, on every data set;
# 2. MAE does not perform well on any data set;
# 3. on images (Omniglot), BN-VAE is *worse* than the plain VAE in NLL;
# 4. DU-VAE has a higher KL and MI than BN-VAE with the same BN scale $\gamma$;
# 5. IAF+BN's KL stays small (BN alone does not prevent collapse in VAE-IAF), DU-IAF's does not.
#
# **How it is made here.** The rows and their per-data-set hyper-parameters are the paper's
# (`duvae/experiments/table1.py`, the models from `duvae/runs/zoo.py`); the runs go through the sweep
# engine, `python -m duvae.sweep table1 --profile cpu --seeds 3`, which writes one small JSON result
# per run under `results/<profile>/table1/`. This notebook reads those committed results. At the
# `cpu` profile the networks and data are shrunk so that all 14 rows x 3 seeds fit on a 2-core
# machine; every reduction is listed beside the paper's value in `duvae/runs/zoo.py` and in the README.
# Our absolute numbers are therefore **not** comparable with the paper's: compare orderings and
# differences, against the seed-to-seed spread.
#
# **Yelp** is not available unless He et al.'s files are supplied (`$DUVAE_HE2019_DIR`, paper
# profile): the long Yelp corpus is not public in a form this project can pin. Its column says so.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0
device = "auto"
seeds = 3  # seeds per row (the smoke profile uses 1)
run_missing = None  # run the missing runs first; None: only at the smoke profile, where they take seconds

# %%
import pandas as pd
from IPython.display import Markdown, display

from duvae.runs.device import pick_device, seed_everything
from duvae.experiments import table1
from duvae.book.outputs import save_figure, save_table, show_table
from duvae.book.cells import notebook_results

dev = pick_device(device)
seed_everything(seed)
n_seeds = 1 if profile == "smoke" else seeds
results = notebook_results("table1", profile, n_seeds, dev, run_missing)
machines = sorted({r["machine"]["cpu"] for r in results})
datasets = [d for d in table1.DATASETS]

# %% [markdown]
# ## Our Table 1 beside the paper's, one data set at a time
#
# Each cell is the mean ± standard deviation over seeds (the `seeds` column says how many finished);
# the `(paper)` column beside it is the paper's number. The IAF rows report NLL and KL only, as in
# the paper.
# The `CPUs` column says where the seeds ran: a re-run is identical on the same kind of CPU but
# not across kinds, so a row's spread can include that difference.

# %%
for dataset in datasets:
    ok, reason = table1.available(dataset, profile)
    display(Markdown(f"### {dataset}" + ("" if ok else f": {reason}")))
    t = table1.dataset_table(results, dataset, profile)
    show_table(t, f"06_table1_{dataset}")

# %% [markdown]
# **How far from the paper's scale.** Our NLLs are not on the paper's scale. On Omniglot the
# networks are narrower, the PixelCNN shallower, and the models see 5,000 training images for 15
# epochs, so every row should sit higher than the paper's, by a similar amount if the reductions
# hurt all models alike. On Yahoo the test documents themselves differ (at most 60 words, a
# 5,000-word vocabulary, the public mirror's split), so the distance measures the data, not the
# models. Per data set: the range over rows of our mean NLL minus the paper's. A narrow range is what
# lets the orderings be compared at all.

# %%
import statistics

for dataset in datasets:
    if not table1.available(dataset, profile)[0]:
        continue
    offsets = {label: statistics.mean(v) - table1.PAPER[label][dataset][0]
               for label, _, _ in table1.ROWS if (v := table1.row_values(results, dataset, label, "nll"))}
    if offsets:
        print(f"{dataset}: ours - paper from {min(offsets.values()):+.2f} to {max(offsets.values()):+.2f} nats "
              f"over {len(offsets)} rows")
    else:
        print(f"{dataset}: no runs yet")

# %% [markdown]
# ## The paper's statements, checked
#
# <a id="claim-c1"></a><a id="claim-c2"></a><a id="claim-c3"></a><a id="claim-c4"></a>
#
# For each statement: the paper's two numbers, our two means, the difference in the direction the
# paper states (positive = as the paper says) and the larger of the two rows' seed-to-seed standard
# deviations. The rule is `duvae.report.claims.verdict`, the one notebook 12 reports with. A statement
# **holds** here only if the difference exceeds that spread, and **does not hold** if it has the
# opposite sign beyond it. "Within the spread" means our seeds cannot tell the two rows apart, and
# says which sign the difference has: a wrong-sign difference inside the noise is not a refutation.
# A row with a single finished seed has no spread and decides nothing ("inconclusive", the `seeds`
# column). Nothing was tuned to make a statement hold.

# %%
verdicts = {}
for dataset in datasets:
    if not table1.available(dataset, profile)[0]:
        continue
    c = table1.claims(results, dataset)
    verdicts[dataset] = c
    show_table(c, f"06_table1_claims_{dataset}", f"### {dataset}")

# %%
summary = pd.DataFrame({d: c["verdict"].value_counts() for d, c in verdicts.items()}).fillna(0).astype(int)
save_table(summary, "06_table1_claims_summary")
summary

# %% [markdown]
# ## Who collapses, and does a code pay for itself?
#
# The statements above compare rows two at a time; two patterns need the whole table.
#
# **Collapse.** A row whose code carries no information has AU = 0 and a KL and MI near 0. FB and
# the $\delta$-VAE cannot reach a KL of 0 (free bits and $\delta$ put a floor under it), so for them
# the MI and AU say whether the KL they pay buys information. The paper's AU is beside ours: compare
# which rows leave units inactive here and there. On Omniglot at `cpu` the PixelCNN has 3 layers and
# sees only a few rows above a pixel. Our reading: such a decoder needs the code for a character's
# shape, so every model keeps nearly all its units active, where the paper's 13-layer decoder let
# the VAE, SA-VAE and Agg-VAE leave most of theirs inactive. Notebook 10 tests it with a deeper
# decoder; what it measured is printed at the end of this section.
#
# **Does information cost likelihood?** The paper's central claim needs a code to pay for itself:
# rows whose code carries more information (MI) should have an equal or better NLL. Over the classic
# VAEs of a data set (the IAF rows report no MI), the rank correlation of mean MI and mean NLL is
# negative when more information goes with a lower NLL and positive when the rows that carry
# information have the worse NLL. Our reading of a positive correlation on Yahoo: with documents of
# at most 60 words and a 5,000-word vocabulary the LSTM decoder models the text well without the
# code, so a posterior that carries information costs more in KL than it saves in reconstruction.
# Notebook 10 tests both readings, one factor at a time (the paper's document length and
# vocabulary; a deeper PixelCNN); the cell after the table prints its verdicts, computed from the
# committed runs of `results/<profile>/scale/`.

# %%
rows = []
for dataset in datasets:
    if not table1.available(dataset, profile)[0]:
        continue
    nz = {r["config"]["net"]["nz"] for r in results if r["dataset"] == dataset}
    for label in table1.CLASSIC_ROWS:
        values = {m: table1.row_values(results, dataset, label, m) for m in table1.METRICS}
        if not values["nll"]:
            continue
        paper = table1.PAPER[label][dataset]
        rows.append({"dataset": dataset, "model": label,
                     **{m.upper(): statistics.mean(values[m]) for m in table1.METRICS},
                     "MI (paper)": paper[2], "AU (paper)": paper[3], "nz": max(nz), "seeds": len(values["nll"])})
information = pd.DataFrame(rows)
if len(information):
    information = information.sort_values(["dataset", "NLL"]).set_index(["dataset", "model"])
    for dataset, part in information.groupby(level="dataset", sort=False):
        rho = part["MI"].rank().corr(part["NLL"].rank()) if len(part) > 2 else float("nan")
        print(f"{dataset}: {int((part['AU'] == 0).sum())} of {len(part)} classic rows collapsed on every seed "
              f"(AU = 0); mean AU per row from {part['AU'].min():.1f} to {part['AU'].max():.1f} of nz = "
              f"{part['nz'].max()} (paper: {part['AU (paper)'].min():g} to {part['AU (paper)'].max():g}); "
              f"rank correlation of MI and NLL over rows: {rho:+.2f}")
save_table(information, "06_table1_information_vs_nll")
information

# %%
from duvae.experiments import current_results, scale

sized = scale.with_table1(current_results(profile, "scale"), results, profile, n_seeds)  # results: Table 1's, read above
display(Markdown(scale.reading(scale.claims(sized)) if profile != "paper" else
                 "At the paper profile there is no larger size to test the readings at."))

# %% [markdown]
# ## KL and MI during training
#
# The per-epoch validation KL and MI of every row (mean over seeds, the band spans the seeds), from
# the results' histories. A collapsing model's KL falls to 0 once the KL weight reaches 1 (after the
# annealing epochs); DU-VAE's and BN-VAE's stay away from 0 by construction (eq. 9).

# %%
for dataset in datasets:
    if not table1.available(dataset, profile)[0]:
        continue
    fig = table1.plot_curves(results, dataset)
    save_figure(fig, f"06_table1_curves_{dataset}")

# %% [markdown]
# ## Does bf16 training move the Yahoo rows?
#
# Table 1 and Figure 2 were first trained on Yahoo with bf16 matrix products (`duvae/bf16.py`). Evaluating the
# same weights in bf16 and fp32 agrees to about a thousandth of a nat, but *training* in bf16
# changes every step, hence the trajectory. An independent fp32 implementation on the same `cpu`
# split reached a lower VAE NLL than our bf16 VAE (both printed below). So three rows, the
# ones that decide the central Yahoo claim, were trained again in fp32 with the same seeds
# (`python -m duvae.sweep precision --profile cpu --seeds 3`, `duvae/experiments/precision.py`;
# its bf16 runs are Table 1's, copied). A row **moved** when the difference of the means exceeds
# the larger seed std of the two sides. The `CPUs` columns say where each side ran: re-runs are
# bit-identical on one kind of CPU, not across kinds.

# %%
from duvae.experiments import precision

from duvae.experiments import gap

precision_results = notebook_results("precision", profile, n_seeds, dev, run_missing)
print("the independent fp32 implementation's VAE NLL (mean, sd over 3 seeds):", gap.INDEPENDENT_FP32)
bf16_vs_fp32 = precision.table(precision_results)
save_table(bf16_vs_fp32, "06_table1_bf16_vs_fp32")
print("rows that fp32 moved beyond the seed spread:", precision.moved(precision_results) or "none")
display(precision.cost(precision_results))
bf16_vs_fp32

# %% [markdown]
# The same question seed by seed: each fp32 run has a bf16 twin with the same config, seed, data
# and batch order, so the paired difference $\mathrm{NLL}_{fp32} - \mathrm{NLL}_{bf16}$ isolates the
# precision (up to the kind of CPU, which the last column names).

# %%
pairs, paired_summary = precision.paired(precision_results)
show_table(pairs, "06_table1_bf16_vs_fp32_pairs")
paired_summary

# %% [markdown]
# **The learning-rate rule as a source of spread.** The text schedule halves the learning rate only
# from a set epoch on (`decay_min_epoch`), after `decay_patience` epochs without a better validation
# loss, reloading the best weights (the cell prints the values). In the few epochs of the `cpu`
# schedule, whether and when that first halving happens depends on the seed, and a run that never
# halves ends at the full rate. Per fp32 run of this check: the epochs trained at the
# initial rate, the epoch of the best validation loss (counted from 1) and the test NLL. Look whether,
# within a row, the runs that halved late or never have the worse NLL. The lr rule is one of the
# factors of the distance to the independent implementation that `duvae/experiments/gap.py` varies
# one at a time (see the README's *Experiments at the `cpu` profile*).

# %%
decay = pd.DataFrame([{"row": r["extra"].get("row"), "seed": r["seed"],
                       "epochs at the initial lr": sum(h["lr"] == r["history"][0]["lr"] for h in r["history"]),
                       "epochs": len(r["history"]), "best epoch": r["metrics"].get("best_epoch", -1) + 1,
                       "NLL": r["metrics"]["nll"]}
                      for r in precision_results if r["config"]["train"]["precision"] == "fp32"])
if len(decay):
    decay = decay.sort_values(["row", "seed"]).set_index(["row", "seed"])
if precision_results:
    schedule = precision_results[0]["config"]["train"]
    print(f"lr rule: halve from epoch index {schedule['decay_min_epoch']} after {schedule['decay_patience']} epochs "
          f"without a better validation loss; {schedule['epochs']} epochs")
save_table(decay, "06_table1_fp32_lr_decay")
decay

# %% [markdown]
# **The decision.** At `cpu` the NLL of no row moved (the table's `verdict` column; the paired
# differences change sign from seed to seed), so bf16 does not explain the VAE's distance from the
# independent implementation: the fp32 VAE is further from it. But the rule the fp32 check was run
# under counts every metric of a row, and some KL and AU moved beyond their spreads (the table's
# other columns). So the `cpu` profile trains Yahoo in fp32 (`duvae/runs/zoo.py`). Its runs
# have new run ids: the table at the top shows the Yahoo runs trained in fp32 so far (the 9 of this
# check, copied), the others are re-trained as the sweep's time allows. The Yahoo runs of the bf16
# profile stay committed under `results/<profile>/table1/`, out of the tables above
# (`duvae.experiments.current_results`); here they are, for reference.

# %%
from duvae.runs.results import load_results

current = {r["run_id"] for r in results}
superseded = [r for r in load_results(profile, "table1") if r["run_id"] not in current
              and r.get("precision") == "bf16" and r["seed"] - table1.REFERENCE_SEED < n_seeds]
print(f"{len(superseded)} superseded bf16 Yahoo runs")
if superseded:
    t = table1.dataset_table(superseded, "yahoo", profile)
    show_table(t, "06_table1_yahoo_bf16_superseded")

# %% [markdown]
# ## Our text path against the official code
#
# The official code (SmilesDZgk/DU-VAE) was trained outside this repository on our exported `cpu`
# Yahoo split (documents checked identical one by one, its learning-rate rule set to ours, one
# thread); its per-seed test NLLs are data in `duvae/experiments/gap.py` (`OFFICIAL_CPU`). Our fp32
# rows beside them, with Welch's t over the seeds of each side (unequal variances). The VAE has
# six seeds of ours: the gap study's baseline runs three more.

# %%
gap_results = notebook_results("gap", profile, n_seeds, dev, False)
fidelity = gap.fidelity_table(precision_results + results + gap_results)
save_table(fidelity, "06_table1_official_code")
fidelity

# %% [markdown]
# At the size study's `yahoo_long` size (documents of up to 200 words, the full vocabulary), the
# official code's seed 1 beside ours (notebook 10 has our runs; the official numbers are
# `gap.OFFICIAL_LONG`).

# %%
from duvae.runs.results import load_results as _load

long = gap.long_table(_load(profile, "scale")) if profile == "cpu" else pd.DataFrame()
save_table(long, "06_table1_official_code_long")
if len(long):
    display(Markdown(gap.long_reading(long)))
long

# %% [markdown]
# **Where could a difference lie?** The gap study (`duvae/experiments/gap.py`) trains the fp32 VAE
# with one factor changed at a time, each an alternative a careful re-implementation could take
# where the paper is silent (our default is the official code's every time). A factor *moved* the
# NLL when its mean differs from the baseline's by more than the larger seed std. The official
# DU-VAE text path was also read beside ours, item by item (the BN on the means in training and
# evaluation, its running statistics and scale, the variance dropout and floor, their switch-on
# after annealing, initialisation, clipping, what the validation loss counts, batching, the
# estimators): the comparison is in `docs/implementation.md` §1.6, and it found no
# difference that touches DU-VAE only.

# %%
factors = gap.table(gap_results)
save_table(factors, "06_table1_gap_factors")
display(Markdown(gap.reading(factors, fidelity)))
factors

# %% [markdown]
# ## What the runs cost
#
# Wall time of each run as its trainer measured it (training and test), summed per row and data set
# by `duvae.sweep.costs`; a missing run is projected at the mean of the finished runs of its model on its
# data set (`basis`), and SA-VAE or Agg-VAE without a measurement of their own stay empty rather than
# guessed. `machine_h` assumes two runs at a time (the sweep's default `--jobs 2` on 2 cores). The
# README's cost table is `python -m duvae.sweep.costs --profile cpu figure1:3 table1:3 figure2:1`.

# %%
from duvae.sweep.costs import cost_table

cost = cost_table({"table1": n_seeds}, profile, jobs=2)
save_table(cost, "06_table1_cost")
measured = cost.loc[("total", "", ""), "measured_h"]
print(f"measured so far: {measured:.2f} h of run time, on {', '.join(machines) or '-'}")
cost
