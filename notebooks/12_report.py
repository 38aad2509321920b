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
# # The reproduction report: which of the paper's claims hold, at what size, with what evidence
#
# **What this notebook is.** The one answer a reader wants first. Each claim of the paper that this
# repository can test is written down as data in `duvae/report/claims.py`: the statement, the statistic it
# is judged on, the test and the threshold. Its verdict is computed here from the committed results
# (`results/<profile>/`, one JSON file per finished run). Then come the paper's tables beside ours,
# and the figures. Each one links to the notebook that explains it. This notebook trains nothing
# and reads no checkpoint. It shows what is committed; a claim whose runs are missing reads
# *inconclusive (missing runs)* until they are in.
#
# **The rule**, one for every notebook (`duvae.report.claims.verdict`; notebooks 06-10 use it too). A
# comparison has a *difference*, oriented so that a positive value is what the paper says (e.g. the
# other model's NLL minus DU-VAE's), and a *spread*, the larger seed-to-seed standard deviation of
# its two sides. Then:
#
# - **holds**: the difference exceeds the spread: the paper's sign, beyond the noise;
# - **within the spread (paper's sign)** or **(opposite sign)**: our seeds cannot tell the two sides
#   apart, and the sign is said, because a wrong-sign difference inside the noise is no refutation;
# - **does not hold**: the opposite sign, beyond the spread;
# - **inconclusive**: missing runs, a single seed (no spread), or a data set that is not available here.
#
# A claim that needs several comparisons (C1: DU-VAE beats *each* other classic VAE) is their
# conjunction. It does not hold if one part does not hold. It is inconclusive if a part is missing.
# It holds only if every part holds. Otherwise it is within the spread.
#
# **Sizes.** Our `cpu` profile is a reduced-scale run: smaller networks, shorter documents, fewer
# epochs (`duvae/runs/zoo.py`, and the README's *Profiles*). The verdicts are verdicts *at that size*.
# Where the size study (notebook 10) or the fp32 check (notebook 06) measured part of a claim at
# another size or precision, that verdict appears beside it, in the `at other sizes` column.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0
device = "auto"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from duvae.report import claims
from duvae.runs.config import REFERENCE_SEED
from duvae.runs.device import seed_everything
from duvae.experiments import figure1, figure2, precision, scale, table1, table2, table3
from duvae.book.outputs import save_figure, save_table, show_table
from duvae.report.publish import PLANNED_SEEDS

seed_everything(seed)
pd.set_option("display.max_colwidth", 400)
evidence = claims.load_evidence(profile)
findings = claims.evaluate(evidence)
newest = evidence.newest()
print(f"profile {profile}: {evidence.runs()} runs read from results/{profile}/ "
      f"(newest result {newest[:10] if newest else '-'}); nothing is trained here")
CLAIM = {c.id: c for c in claims.ALL_CLAIMS}


def link(notebook: str) -> str:
    """A Markdown link to another notebook of this build (the book points it at its page)."""
    return f"[notebook {notebook[:2]}]({notebook}.ipynb)"


def tested_in(cid: str) -> str:
    """A Markdown link to the section of the notebook that tests claim ``cid`` (``Claim.target``)."""
    return f"[notebook {CLAIM[cid].notebook[:2]}, where {cid} is tested]({CLAIM[cid].target})"


# %% [markdown]
# ## Which claims hold
#
# One row per claim, with the paper's own sentence beside our verdict. The sentences about Tables
# 1-3 end in "respectively": DU-VAE is judged among the classic VAEs and DU-IAF among the IAF-based
# models, each half a finding of its own (the AE of Tables 2 and 3 is no VAE: shown, not counted).
# The verdict at this profile combines the claim's scopes (data sets, label counts, halves) at
# this profile's own size; Yelp, whose corpus is not public, is shown and not combined. `at other
# sizes` lists the verdicts the size study and the fp32 check measured.

# %%
summary = claims.summary_table(findings, profile)
save_table(summary, "12_claims")
display(Markdown(f"Verdict at `{profile}`, per claim: " + "; ".join(
    f"**{cid}** {v}" for cid, v in summary[f"verdict at {profile}"].items())))
display(Markdown("\n\n".join(f"**{cid}** ({row['section']}): *\"{row['the paper says']}\"* "
                               f"→ **{row[f'verdict at {profile}']}** ({tested_in(cid)})"
                               for cid, row in summary.iterrows())))
summary.drop(columns="the paper says")

# %% [markdown]
# ## The mathematics, checked
#
# Proposition 1 and eq. 8 are theorems, not measurements of trained models, so their check stands
# apart from the reproduced claims: a small, seeded Monte Carlo run of notebook 02's check, computed
# here (`duvae.report.claims.theory_check`).

# %%
math_summary = claims.summary_table(findings, profile, claims.MATH_CHECKS)
save_table(math_summary, "12_math_checks")
math_summary

# %% [markdown]
# ## How each claim is tested
#
# The claims as data: the statistic, the test and the threshold of each, and the notebook that
# explains the experiment behind it.

# %%
definitions = claims.definitions_table()
save_table(definitions, "12_claims_definitions")
rows = ["| claim | we test | source | statistic | test | threshold | our reading | explained in |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |"]
for cid, d in definitions.iterrows():
    rows.append(f"| {cid} | {d['we test']} | {d['source']} | {d['statistic']} | {d['test']} | "
                f"{d['threshold']} | {d['our reading']} | {tested_in(cid)} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## Every finding, with the numbers behind it
#
# Per claim and scope: where it was measured, the verdict and the evidence. For a conjunction the
# evidence counts its comparisons by verdict and quotes the weakest one: the smallest difference
# in the paper's direction, with the spread and the seeds behind each side. The full lists of
# comparisons are in the notebook named beside each claim.

# %%
table = claims.findings_table(findings)
save_table(table.set_index(["claim", "scope", "measured at"]), "12_findings")
verdicts = pd.concat([summary, math_summary])[f"verdict at {profile}"]
for claim in claims.ALL_CLAIMS:
    display(Markdown(f"### {claim.id} ({claim.source}): {claim.statement}\n\n"
                     f"The paper ({claim.section}): *\"{claim.paper_says}\"*\n\n"
                     f"Verdict at `{profile}`: **{verdicts[claim.id]}**. "
                     f"Tested in {tested_in(claim.id)}."))
    display(table[table["claim"] == claim.id].drop(columns="claim").set_index("scope"))

# %% [markdown]
# ## The paper's tables beside ours
#
# Each cell is ours (mean ± standard deviation over seeds), with the paper's number in the column
# beside it. At `cpu` our absolute numbers are not the paper's: the networks and the data are
# smaller. Compare orderings and differences, against the spread.

# %%
display(Markdown(f"### Table 1: likelihood estimation ({link('06_table1_likelihood')})"))
for dataset in table1.DATASETS:
    ok, reason = table1.available(dataset, profile)
    display(Markdown(f"**{dataset}**" + ("" if ok else f": {reason}")))
    if ok:
        t = table1.dataset_table(evidence.of("table1"), dataset, profile)
        show_table(t, f"12_table1_{dataset}")


def planned(name: str) -> int:
    from duvae.experiments import get

    return len({c.run_id() for c in get(name).runs(profile, 1 if profile == "smoke" else PLANNED_SEEDS[name])})


# %%
display(Markdown(f"### Table 2: short-Yelp sentiment from the frozen codes, accuracy in % ({link('08_table2_yelp_probe')})"))
print(f"{len(evidence.of('table2'))} of {planned('table2')} runs committed")
t2 = table2.table(evidence.of("table2"), profile)
save_table(t2, "12_table2")
t2

# %%
display(Markdown(f"### Table 3: Omniglot characters from the frozen codes, accuracy in % "
                 f"({link('09_table3_omniglot_probe')})"))
print(f"{len(evidence.of('table3'))} of {planned('table3')} runs committed")
t3 = table3.table(evidence.of("table3"))
save_table(t3, "12_table3")
t3

# %%
display(Markdown(f"### Figure 1 as a table: the latent space of the synthetic set ({link('05_latent_space_synthetic')})"))
print(f"{len(evidence.of('figure1'))} of {planned('figure1')} runs committed")
f1 = figure1.table(evidence.of("figure1"))
save_table(f1, "12_figure1")
f1

# %%
display(Markdown(f"### Figure 2 as tables: NLL over (gamma, p), and the optimum ({link('07_figure2_parameter_analysis')})"))
print(f"{len(evidence.of('figure2'))} of {planned('figure2')} cells committed (1 seed each)")
datasets = [d for d in figure2.DATASETS if table1.available(d, profile)[0]]
for dataset in datasets:
    g = figure2.grid(evidence.of("figure2"), dataset)
    save_table(g, f"12_figure2_nll_{dataset}")
    display(Markdown(f"**{dataset}**: test NLL, gamma (rows) x p (columns)"))
    display(g.round(2))
optima = figure2.table(evidence.of("figure2"))
save_table(optima, "12_figure2_optima")
optima

# %% [markdown]
# ### Beyond the paper: the size study and the fp32 check
#
# Two checks on the evidence itself. The size study (notebook 10) runs three of Table 1's rows at a
# larger size, to see whether a `cpu` verdict is a property of the size. The fp32 check
# (notebook 06) trains the Yahoo rows that decide C1 again in fp32, since `cpu` trains Yahoo with
# bf16 matrix products.

# %%
display(Markdown(f"**The size study** ({link('10_size_study')}): the three rows at each size"))
sized = scale.with_table1(evidence.of("scale"), evidence.of("table1"), profile,
                          1 if profile == "smoke" else PLANNED_SEEDS["scale"])
size_table = scale.table(sized)
show_table(size_table, "12_size_study")
display(Markdown(f"**bf16 against fp32 training on Yahoo** ({link('06_table1_likelihood')})"))
bf16_fp32 = precision.table(evidence.of("precision"))
save_table(bf16_fp32, "12_bf16_vs_fp32")
bf16_fp32

# %% [markdown]
# ## The figures
#
# Drawn from the same results, each a short version of its notebook's figure.
#
# **Figure 1** (explained in [notebook 05](05_latent_space_synthetic.ipynb)): the aggregated
# posterior $q(z)$ of each model on the synthetic set, one seed per model, on the window
# $[-3, 3]^2$. The paper shows one centre for the collapsed VAE and five for DU-VAE; the title gives
# the number of modes of each seed.

# %%
runs1 = evidence.of("figure1")
if runs1:
    fig, axes = plt.subplots(1, len(figure1.MODELS), figsize=(3.4 * len(figure1.MODELS), 3.4), squeeze=False)
    for ax, (name, title) in zip(axes[0], figure1.MODELS.items()):
        rs = sorted((r for r in runs1 if r["model"] == name), key=lambda r: r["seed"])
        if not rs:
            ax.set_title(f"{title}: no run")
            ax.axis("off")
            continue
        lim = rs[0]["extra"]["panel_lim"]
        ax.imshow(np.array(rs[0]["extra"]["panel_density"]), origin="lower", extent=(-lim, lim, -lim, lim),
                  cmap="viridis")
        modes = ", ".join(str(r["extra"]["n_modes"]) for r in rs)
        ax.set_title(f"{title}, seed {rs[0]['seed'] - REFERENCE_SEED}\nmodes per seed: {modes}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Figure 1 at {profile}: aggregated posteriors q(z)", y=1.03)
    save_figure(fig, "12_figure1_densities")
    plt.show()
else:
    print("no Figure 1 results yet")

# %% [markdown]
# **Figure 2** (explained in [notebook 07](07_figure2_parameter_analysis.ipynb)): the test NLL over the
# $(\gamma, p)$ grid. The white square is the paper's optimum, the dashed black square ours.

# %%
for dataset in datasets:
    if not any(r["dataset"] == dataset for r in evidence.of("figure2")):
        print(f"{dataset}: no Figure 2 results yet")
        continue
    fig = figure2.plot_heatmaps(evidence.of("figure2"), dataset, metrics=("nll",))
    save_figure(fig, f"12_figure2_{dataset}")
    plt.show()

# %% [markdown]
# **Tables 2 and 3 as curves** (explained in [notebook 08](08_table2_yelp_probe.ipynb) and
# [notebook 09](09_table3_omniglot_probe.ipynb)): accuracy against the number of labels. Our means
# are lines, the paper's values dotted open squares of the same colour.

# %%
if evidence.of("table2"):
    fig = table2.plot_curves(evidence.of("table2"), profile)
    save_figure(fig, "12_table2_curves")
    plt.show()
else:
    print("no Table 2 results yet")
if evidence.of("table3"):
    fig = table3.plot_curves(evidence.of("table3"))
    save_figure(fig, "12_table3_curves")
    plt.show()
else:
    print("no Table 3 results yet")

# %% [markdown]
# **The size study** (explained in [notebook 10](10_size_study.ipynb)): each metric against size,
# with each row's NLL drawn minus the VAE's at the same size.

# %%
for dataset in scale.DATASETS:
    if not any(r["dataset"] == dataset for r in sized):
        print(f"{dataset}: no size-study results yet")
        continue
    fig = scale.plot_metrics(sized, dataset)
    save_figure(fig, f"12_size_study_{dataset}")
    plt.show()

# %% [markdown]
# ## What is not here yet
#
# Committed runs against the runs each experiment plans at this profile (the seeds of the
# notebooks' defaults). Every claim that rests on a missing run reads *inconclusive (missing runs)*
# above, and changes when the run is committed and this notebook runs again (and `make book` publishes it).

# %%
coverage = pd.DataFrame([{"experiment": name, "committed": len(evidence.of(name)), "planned": planned(name)}
                         for name in claims.EXPERIMENTS]).set_index("experiment")
save_table(coverage, "12_coverage")
coverage
