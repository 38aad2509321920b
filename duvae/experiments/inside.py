r"""Looking inside trained models: what they generate, and what their metrics count.

**Runs.** Table 1's own runs, with the same run ids (:func:`duvae.experiments.table1.row_config`
at run time, so a change of Table 1's configs, e.g. its precision, is followed): on Yahoo the VAE,
BN-VAE, DU-VAE (0.6, 0.8) and Agg-VAE, on Omniglot the VAE, BN-VAE and DU-VAE (0.5, 0.9), seed
``REFERENCE_SEED + s`` for ``s < seeds``. :func:`duvae.runs.trainer.train_or_load` loads a run's
checkpoint from ``runs/`` when it is there and trains it again otherwise (checkpoints are not
committed); what this module measures on the model is stored in the run's result, so a fresh clone
shows it without any checkpoint.

**What is measured** (:func:`extra_metrics`), on text:

- *reconstructions*: :data:`SIZES` ``n_inputs`` held-out test sentences (the same ones for every
  model: evenly spread over the shortest quarter of the test set) decoded greedily from their
  posterior mean,
  :math:`\hat x = \arg\max p_\theta(x \mid z = \mu_\phi(x))` token by token;
- *prior samples*: greedy decoding of :math:`z \sim p(z) = \mathcal{N}(0, I)`;
- *homotopies* (Bowman et al. 2016): the decodings of
  :math:`z(t) = (1 - t)\,\mu_\phi(x_a) + t\,\mu_\phi(x_b)`, :math:`t \in \{0, 1/6, \dots, 1\}`;
- *how much the output depends on z*: the number of distinct greedy outputs over ``draws`` (100)
  draws :math:`z \sim q_\phi(z|x)` of one input, and over ``draws`` prior draws. A decoder that
  ignores :math:`z` (posterior collapse) writes one sentence however :math:`z` is drawn: 1 distinct
  output. Both over the whole greedy output and over its first :data:`FIRST_WORDS` words: a small
  model's greedy output rarely reaches ``</s>`` and loops to the length cap, and a code with a
  trace of information (KL 0.05 nats) changes that loop's tail, not what the sentence says. Every
  decoding of a run (reconstructions, draws, prior, homotopies) is one batch of latent codes,
  decoded at once.

On images (the PixelCNN): two PNG grids written beside the result JSON (their file names in
``extra["grids"]``): test images, a sample :math:`x \sim p_\theta(x \mid \mu_\phi(x))` and one from
:math:`x \sim p_\theta(x \mid z)`, :math:`z \sim q_\phi(z|x)`; and samples from the prior. All
images of a run are drawn in one batch, pixel by pixel.

On both:

- *the MI estimator and its spread* (docs/implementation.md §4.3): with one draw
  :math:`z_n = \mu_n + \sigma_n \odot \varepsilon_n` per test example and the aggregate posterior
  :math:`q(z)` approximated by the mixture of the :math:`N` test posteriors,

  .. math::
      \hat I = \frac1N \sum_n \Big[-\mathcal{H}[q(z|x_n)] - \log \frac1N \sum_m q(z_n|x_m)\Big],

  repeated ``mi_repeats`` times with fresh :math:`\varepsilon` (all repeats in one computation),
  over the whole test set (the package's estimator) and over the evaluation mini-batches (He et
  al.'s original). When every :math:`q(z|x_m)` is the same Gaussian, the mixture *is* that
  Gaussian and :math:`\hat I = \frac1N \sum_n \frac12 (\|\varepsilon_n\|^2 - n_z)`: mean 0, standard
  deviation :math:`\sqrt{n_z / 2N}`, negative half of the time. And since the mixture holds
  :math:`q(z_n|x_n)/N`, :math:`\hat I \le \log N` in expectation, whatever the true MI (with
  mini-batches, the mean over examples of the log of their batch's size);
- *ELBO against IW-NLL*: log-weights :math:`\log w_k = \log p(x|z_k) + \log p(z_k) - \log q(z_k|x)`,
  :math:`K` = the run's ``eval_iw_samples``, on a subset of the test set; the ELBO is their mean,
  the IW-NLL their log-mean-exp, and the bound with :math:`k < K` samples in between
  (:func:`duvae.metrics.iw_bounds`), from :func:`duvae.metrics.log_importance_weights`, the weights
  :func:`duvae.metrics.iw_nll` averages (same noise layout, drawn from the run's generator);
- on text, *what PPL counts*: :math:`\mathrm{PPL} = \exp(\sum_n \mathrm{NLL}_n / \sum_n (L_n + 1))`,
  the :math:`+1` being the end token ``</s>`` the decoder also predicts (docs/implementation.md §4.5), beside the
  value one would get by dividing by the words alone.

Every random draw comes from a generator seeded with the run's seed, so the models of one seed see
the same noise (the same prior draws, the same :math:`\varepsilon`): differences between them are
the models'.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from duvae.experiments import check_seeds
from duvae.generation import distinct_counts, greedy, homotopy, image_grid, top_outputs, write_png
from duvae.metrics import iw_bounds, mi_from_draws
from duvae.runs.config import REFERENCE_SEED, RunConfig
from duvae.runs.profiles import check_profile

NAME = "inside"
#: Table 1 rows looked inside, per data set
ROWS = {
    "yahoo": ("VAE", "BN-VAE (0.6/0.6/0.5)", "DU-VAE (0.6, 0.8)", "Agg-VAE"),
    "omniglot": ("VAE", "BN-VAE (0.6/0.6/0.5)", "DU-VAE (0.5, 0.9)"),
}
SHORT = {"VAE": "VAE", "BN-VAE (0.6/0.6/0.5)": "BN-VAE", "DU-VAE (0.6, 0.8)": "DU-VAE (0.6, 0.8)",
         "DU-VAE (0.5, 0.9)": "DU-VAE (0.5, 0.9)", "Agg-VAE": "Agg-VAE"}
#: sizes per profile: held-out inputs, prior samples shown, z draws for the distinct counts, points of
#: a homotopy, MI repeats, test examples of the ELBO / IW-NLL comparison, images per grid row
SIZES = {
    "smoke": {"n_inputs": 3, "n_prior": 3, "draws": 100, "homotopy_points": 7, "mi_repeats": 20,
              "iw_examples": 16, "grid_cols": 4},
    "cpu": {"n_inputs": 5, "n_prior": 5, "draws": 100, "homotopy_points": 7, "mi_repeats": 100,
            "iw_examples": 100, "grid_cols": 8},
    "paper": {"n_inputs": 5, "n_prior": 5, "draws": 100, "homotopy_points": 7, "mi_repeats": 100,
              "iw_examples": 200, "grid_cols": 8},
}
#: the distinct-output counts are also taken over the first this many generated words
FIRST_WORDS = 5
#: held-out sentences are chosen in this shortest fraction of the test set (easier to read side by side)
SHORTEST = 0.25
#: numbers of importance samples at which the bound is reported (those <= K)
IW_KS = (1, 2, 5, 10, 20, 50, 100, 200, 500)


def runs(profile: str, seeds: int) -> list[RunConfig]:
    """Table 1's runs of :data:`ROWS`, seed ``REFERENCE_SEED + s`` for ``s < seeds``."""
    from duvae.experiments import table1

    check_profile(profile)
    check_seeds(seeds)
    return [table1.row_config(label, dataset, profile, REFERENCE_SEED + s)
            for dataset, labels in ROWS.items() for label in labels for s in range(seeds)]


def extra_from_config(cfg: RunConfig) -> dict:
    """The Table 1 row of the run, and where Table 1's result of the same run lives."""
    from duvae.experiments import table1

    return {**table1.extra_from_config(cfg), "table1_result": f"table1/{cfg.run_id()}.json"}


# ----------------------------------------------------------------------------------------------
# measurements on a finished run
# ----------------------------------------------------------------------------------------------


def _every_kth(batch_sizes: list[int], n: int) -> list[torch.Tensor]:
    """Row indices within each evaluation batch of every ``k``-th example of the whole set, ``k = ceil(N / n)``:
    at most ``n`` examples, spread over the batches (hence the lengths) in proportion."""
    k = max(1, math.ceil(sum(batch_sizes) / n))
    starts = torch.tensor([0] + batch_sizes).cumsum(0)
    return [torch.nonzero((torch.arange(a, a + b) % k) == 0).squeeze(1) for a, b in zip(starts.tolist(), batch_sizes)]


def _mi_and_iw(run, sizes: dict, gen: torch.Generator) -> dict:
    """MI repeats (full set and mini-batch mixtures) and the ELBO / IW-NLL comparison, any data set."""
    from duvae.metrics import log_importance_weights, posterior_moments

    model, batches, cfg = run.model, run.data.test, run.config
    mu, var = posterior_moments(model, batches)
    mu, var = mu.cpu().double(), var.cpu().double()
    N, nz = mu.shape
    batch_sizes = [int(b.shape[0]) for b in batches]
    eps = torch.randn(sizes["mi_repeats"], N, nz, generator=gen, dtype=torch.float64)
    full = mi_from_draws(mu, var, eps)
    per_batch = mi_from_draws(mu, var, eps, group_sizes=batch_sizes)

    K = cfg.train.eval_iw_samples
    picks = _every_kth(batch_sizes, sizes["iw_examples"])
    log_w, units = [], []
    for x, rows in zip(batches, picks):  # the evaluation batches (each of one length, for the LSTM encoder)
        if len(rows):
            xb = x[rows.to(x.device)]
            log_w.append(log_importance_weights(model, xb, K, cfg.train.eval_work_budget, cfg.train.precision,
                                                generator=gen).double().cpu())  # log w [K, b]
            units += [int(xb.shape[1]) - 1] * len(rows)  # predicted tokens (words + </s>) or pixels
    log_w = torch.cat(log_w, dim=1)  # [K, n]
    ks = [k for k in IW_KS if k < K] + [K]  # K itself last: the IW-NLL of these log-weights
    bounds = iw_bounds(log_w, ks)
    elbo_n = -log_w.mean(0)
    nll_n = -(torch.logsumexp(log_w, 0) - math.log(K))
    r3 = lambda t: [round(float(v), 3) for v in t]  # noqa: E731
    return {
        "mi": {"full": r3(full), "batch": r3(per_batch), "n": N, "nz": nz, "batch_sizes": sorted(set(batch_sizes)),
               "collapsed_std": math.sqrt(nz / (2 * N)), "log_n": math.log(N),
               "log_batch": sum(b * math.log(b) for b in batch_sizes) / N, "kl": float(run.metrics["kl"]),
               "mi_table": float(run.metrics["mi"])},
        "iw": {"n": int(log_w.shape[1]), "samples": K, "k": ks, "bound": r3(bounds),
               "elbo": float(elbo_n.mean()), "nll": float(nll_n.mean()),
               "per_example": {"elbo": r3(elbo_n), "nll": r3(nll_n), "units": units},
               "test_elbo_one_sample": float(run.metrics["elbo"]), "test_nll": float(run.metrics.get("nll", "nan")),
               "test_n": int(run.metrics["n"])},
    }


def _text(run, sizes: dict, gen: torch.Generator) -> dict:
    """Reconstructions, prior samples, homotopies and distinct-output counts of a text model."""
    import torch.nn.functional as F

    from duvae.metrics import posterior_moments

    model, batches, cfg = run.model, run.data.test, run.config
    vocab = run.data.corpus.vocab
    device = next(model.parameters()).device
    mu, var = posterior_moments(model, batches)  # [N, nz], in the order of the batches
    width = max(int(b.shape[1]) for b in batches)
    ids = torch.cat([F.pad(b.cpu(), (0, width - b.shape[1]), value=vocab.pad_id) for b in batches])  # [N, width]
    words = (ids != vocab.pad_id).sum(1) - 2
    N, nz = mu.shape

    # the held-out inputs: evenly spread over the shortest quarter of the test set (same for every model)
    n_in = min(sizes["n_inputs"], N)
    pool = torch.argsort(words, stable=True)[:max(n_in, int(SHORTEST * N))]
    pick = pool[torch.linspace(0, len(pool) - 1, n_in).round().long()]
    D, P = sizes["draws"], sizes["homotopy_points"]
    pairs = [(a, b) for a, b in ((0, n_in - 1), (1, n_in - 2)) if a < b]

    # every latent code of this run, decoded in one batch
    mu_in, sd_in = mu[pick.to(mu.device)], var[pick.to(mu.device)].sqrt()
    eps = torch.randn(n_in, D, nz, generator=gen).to(mu)
    z_post = (mu_in[:, None] + sd_in[:, None] * eps).reshape(n_in * D, nz)  # D draws of q(z|x) per input
    z_prior = torch.randn(D, nz, generator=gen).to(mu)  # D draws of p(z)
    z_path = torch.cat([homotopy(mu_in[a], mu_in[b], P) for a, b in pairs]) if pairs else mu_in[:0]
    z_all = torch.cat([mu_in, z_post, z_prior, z_path])
    max_len = (cfg.train.max_len or 60) + 1  # words + </s>
    out = greedy(model.decoder, z_all.to(device), max_len, vocab.bos_id, vocab.eos_id).cpu()
    recon, post, prior, path = out.split([n_in, n_in * D, D, len(z_path)])

    def text(row) -> str:
        return " ".join(vocab.decode(row.tolist()))

    def strip(row) -> list[int]:
        return [int(i) for i in row.tolist() if i not in (vocab.pad_id, vocab.bos_id)]

    counts = distinct_counts(post, n_in)
    counts_first = distinct_counts(post[:, :FIRST_WORDS].contiguous(), n_in)  # the first FIRST_WORDS words only
    inputs = []
    for j in range(n_in):  # a handful of sentences, to store
        (top, top_count), = top_outputs(post[j * D:(j + 1) * D], 1)
        inputs.append({"index": int(pick[j]), "input": text(ids[pick[j]]), "input_ids": strip(ids[pick[j]]),
                       "output": text(recon[j]), "output_ids": strip(recon[j]),
                       "distinct": int(counts[j]), "distinct_first": int(counts_first[j]),
                       "top": text(top), "top_count": top_count})
    homotopies = [{"from": int(pick[a]), "to": int(pick[b]),
                   "t": [round(float(t), 3) for t in torch.linspace(0, 1, P)],
                   "sentences": [text(r) for r in path[i * P:(i + 1) * P]]} for i, (a, b) in enumerate(pairs)]
    n_words, n_sent = int(words.sum()), N
    nll = float(run.metrics.get("nll", run.metrics["elbo"]))
    return {
        "kind": "text",
        "draws": D,
        "reconstructions": inputs,
        "prior": {"samples": [text(r) for r in prior[:sizes["n_prior"]]],
                  "distinct": int(distinct_counts(prior, 1)[0]),
                  "distinct_first": int(distinct_counts(prior[:, :FIRST_WORDS].contiguous(), 1)[0]),
                  "top": [[text(r), c] for r, c in top_outputs(prior, 3)]},
        "homotopies": homotopies,
        "ppl": {"nll": nll, "sentences": n_sent, "words": n_words, "end_tokens": n_sent,
                "tokens": n_words + n_sent, "ppl": math.exp(nll * n_sent / (n_words + n_sent)),
                "ppl_words_only": math.exp(nll * n_sent / n_words), "ppl_table": run.metrics.get("ppl")},
    }


def _images(run, sizes: dict, gen: torch.Generator, out_dir: Path) -> dict:
    """Reconstruction and prior grids of an image model, sampled in one batch, written as PNG."""
    from duvae.metrics import posterior_moments

    model, cfg = run.model, run.config
    device = next(model.parameters()).device
    C = sizes["grid_cols"]
    x = torch.cat([b for b in run.data.test])[:C]  # the first C test images
    mu, var = posterior_moments(model, [x])
    nz = mu.shape[1]
    z_post = mu + var.sqrt() * torch.randn(C, nz, generator=gen).to(mu)
    z_prior = torch.randn(2 * C, nz, generator=gen).to(mu)
    z_all = torch.cat([mu, z_post, z_prior]).to(device)
    sampler = torch.Generator(device=device).manual_seed(cfg.train.seed)
    from duvae.metrics import evaluating

    with evaluating(model):
        samples = model.decoder.sample(z_all, generator=sampler).cpu()  # [4C, 1, H, W], one batch
    recon = torch.stack([x.cpu().float(), samples[:C], samples[C:2 * C]])  # [3, C, 1, H, W]
    prior = samples[2 * C:].view(2, C, *samples.shape[1:])
    run_id = cfg.run_id()
    names = {"reconstructions": f"{run_id}.recon.png", "prior": f"{run_id}.prior.png"}
    write_png(image_grid(recon), Path(out_dir) / names["reconstructions"])
    write_png(image_grid(prior), Path(out_dir) / names["prior"])
    return {"kind": "image", "grids": names,
            "grid_rows": {"reconstructions": ["test image", "x ~ p(x | z = posterior mean)", "x ~ p(x | z ~ q(z|x))"],
                          "prior": ["x ~ p(x | z), z ~ N(0, I)"] * 2}}


def extra_metrics(run, out_dir: str | Path | None = None) -> dict:
    """What the run generates and what its metrics count (module docstring); image grids go to ``out_dir``
    (the folder of the run's result; default ``results/<profile>/inside``)."""
    from duvae.runs.results import default_results_dir

    cfg = run.config
    sizes = SIZES[cfg.profile]
    gen = torch.Generator().manual_seed(cfg.train.seed)
    if run.data.kind == "text":
        out = _text(run, sizes, gen)
    else:
        out = _images(run, sizes, gen, Path(out_dir or Path(default_results_dir()) / cfg.profile / NAME))
    out.update(_mi_and_iw(run, sizes, gen))
    return out


# ----------------------------------------------------------------------------------------------
# results -> tables and figures (the notebook's)
# ----------------------------------------------------------------------------------------------


def ordered(results: list[dict], dataset: str) -> list[tuple[str, dict]]:
    """``(short label, result)`` of ``dataset`` in the order of :data:`ROWS` (first seed of each row)."""
    out = []
    for label in ROWS[dataset]:
        mine = sorted((r for r in results if r["dataset"] == dataset and r["extra"].get("row") == label),
                      key=lambda r: r["seed"])
        if mine:
            out.append((SHORT[label], mine[0]))
    return out


def reconstructions(results: list[dict], i: int):
    """The ``i``-th held-out sentence and each model's greedy reconstruction from its posterior mean."""
    import pandas as pd

    rows = ordered(results, "yahoo")
    if not rows or i >= len(rows[0][1]["extra"]["reconstructions"]):
        return pd.DataFrame()
    first = rows[0][1]["extra"]["reconstructions"][i]
    draws = rows[0][1]["extra"]["draws"]
    whole, start = f"distinct / {draws} draws of q(z|x)", f"first {FIRST_WORDS} words: distinct"
    out = [{"": "input (test)", "sentence": first["input"], whole: "", start: ""}]
    for label, r in rows:
        rec = r["extra"]["reconstructions"][i]
        out.append({"": label, "sentence": rec["output"], whole: rec["distinct"], start: rec["distinct_first"]})
    return pd.DataFrame(out).set_index("")


def prior_samples(results: list[dict]):
    """Greedy decodings of the same prior draws ``z ~ N(0, I)`` (one column per model)."""
    import pandas as pd

    rows = ordered(results, "yahoo")
    return pd.DataFrame({label: r["extra"]["prior"]["samples"] for label, r in rows},
                        index=pd.RangeIndex(1, 1 + len(rows[0][1]["extra"]["prior"]["samples"]), name="z"))\
        if rows else pd.DataFrame()


def homotopy_table(results: list[dict], k: int = 0):
    """The ``k``-th homotopy: one row per point ``t``, one column per model."""
    import pandas as pd

    rows = [(label, r) for label, r in ordered(results, "yahoo") if len(r["extra"]["homotopies"]) > k]
    if not rows:
        return pd.DataFrame()
    t = rows[0][1]["extra"]["homotopies"][k]["t"]
    return pd.DataFrame({label: r["extra"]["homotopies"][k]["sentences"] for label, r in rows},
                        index=pd.Index([f"{v:.2f}" for v in t], name="t"))


def distinct_table(results: list[dict]):
    """Distinct greedy outputs over the draws of z: per held-out input, and over prior draws."""
    import pandas as pd

    out = []
    for label, r in ordered(results, "yahoo"):
        e = r["extra"]
        counts = [x["distinct"] for x in e["reconstructions"]]
        first = [x["distinct_first"] for x in e["reconstructions"]]
        (top, top_count), = e["prior"]["top"][:1]
        out.append({"model": label, "KL": r["metrics"]["kl"], "AU": int(r["metrics"]["au"]),
                    "distinct, q(z|x) (per input)": ", ".join(map(str, counts)),
                    "distinct, q(z|x) (mean)": sum(counts) / len(counts),
                    f"first {FIRST_WORDS} words, q(z|x) (mean)":
                        sum(first) / len(first),
                    "distinct, p(z)": e["prior"]["distinct"],
                    f"first {FIRST_WORDS} words, p(z)": e["prior"]["distinct_first"],
                    "draws": e["draws"],
                    "most frequent prior output": f"{top} (x{top_count})"})
    return pd.DataFrame(out).set_index("model") if out else pd.DataFrame()


def plot_distinct(results: list[dict]):
    """Bars: distinct outputs per 100 draws of q(z|x) (mean over inputs, dots = each input) and of p(z);
    left over the whole greedy output, right over its first :data:`FIRST_WORDS` words."""
    import matplotlib.pyplot as plt

    rows = ordered(results, "yahoo")
    draws = rows[0][1]["extra"]["draws"] if rows else 100
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
    for ax, key, title in ((axes[0], "distinct", "whole output"),
                           (axes[1], "distinct_first", f"first {FIRST_WORDS} words")):
        for j, (label, r) in enumerate(rows):
            counts = [x[key] for x in r["extra"]["reconstructions"]]
            ax.bar(j - 0.2, sum(counts) / len(counts), 0.4, color="tab:blue",
                   label="z ~ q(z|x), one input" if j == 0 else None)
            ax.scatter([j - 0.2] * len(counts), counts, color="k", s=10, zorder=3)
            ax.bar(j + 0.2, r["extra"]["prior"][key], 0.4, color="tab:orange",
                   label="z ~ p(z)" if j == 0 else None)
        ax.set_xticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
        ax.set_title(f"distinct greedy outputs: {title}")
        ax.set_ylim(0, draws * 1.05)
    axes[0].set_ylabel(f"distinct / {draws} draws of z")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_mi_spread(results: list[dict]):
    """The MI estimate over repeated draws, per model: full-set and mini-batch mixtures, KL and log N marked."""
    import matplotlib.pyplot as plt
    import numpy as np

    panels = [(ds, ordered(results, ds)) for ds in ROWS if ordered(results, ds)]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(6.5 * max(1, len(panels)), 3.8), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (ds, rows) in zip(axes[0], panels):
        for j, (label, r) in enumerate(rows):
            m = r["extra"]["mi"]
            for dx, key, colour in ((-0.17, "full", "tab:blue"), (0.17, "batch", "tab:green")):
                v = np.array(m[key])
                ax.scatter(j + dx + rng.uniform(-0.07, 0.07, len(v)), v, s=6, alpha=0.5, color=colour,
                           label=(f"mixture of all N = {m['n']} test posteriors" if key == "full"
                                  else "mixture of each mini-batch (He et al.)") if j == 0 else None)
            ax.plot([j - 0.35, j + 0.35], [m["kl"]] * 2, color="tab:red", lw=2, label="KL (an upper bound on MI)" if j == 0 else None)
        m0 = rows[0][1]["extra"]["mi"]
        ax.axhline(m0["log_n"], color="tab:blue", ls="--", lw=1, label=f"log N = {m0['log_n']:.2f}")
        ax.axhline(m0["log_batch"], color="tab:green", ls=":", lw=1,
                   label=f"log (batch size), mean over examples = {m0['log_batch']:.2f}")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(range(len(rows)), [label for label, _ in rows])
        ax.set_ylabel("MI estimate (nats)")
        ax.set_title(f"{ds}: {len(m0['full'])} repeated MI estimates per model")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def mi_table(results: list[dict]):
    """Mean, std and minimum of the repeated MI estimates, beside Table 1's single estimate and the KL."""
    import pandas as pd
    import statistics

    out = []
    for ds in ROWS:
        for label, r in ordered(results, ds):
            m = r["extra"]["mi"]
            row = {"data": ds, "model": label, "KL": m["kl"], "MI (Table 1's single draw)": m["mi_table"]}
            for key, name in (("full", "all N"), ("batch", "mini-batch")):
                v = m[key]
                row.update({f"MI {name} mean": statistics.mean(v), f"MI {name} std": statistics.stdev(v) if len(v) > 1 else 0.0,
                            f"MI {name} min": min(v), f"MI {name} < 0": f"{sum(x < 0 for x in v)}/{len(v)}"})
            row["sqrt(nz / 2N)"] = m["collapsed_std"]
            out.append(row)
    return pd.DataFrame(out).set_index(["data", "model"]) if out else pd.DataFrame()


def iw_table(results: list[dict]):
    """ELBO against IW-NLL on the subset, and the run's test-set numbers (nats per sentence / image)."""
    import pandas as pd

    out = []
    for ds in ROWS:
        for label, r in ordered(results, ds):
            w = r["extra"]["iw"]
            out.append({"data": ds, "model": label, "examples": w["n"], "K": w["samples"],
                        "-ELBO (mean of K log w)": w["elbo"], f"IW-NLL (K = {w['samples']})": w["nll"],
                        "gap": w["elbo"] - w["nll"], "KL": r["metrics"]["kl"],
                        "test -ELBO (1 sample, all)": w["test_elbo_one_sample"],
                        "test IW-NLL (all)": w["test_nll"], "test examples": w["test_n"]})
    return pd.DataFrame(out).set_index(["data", "model"]) if out else pd.DataFrame()


def plot_iw_bounds(results: list[dict]):
    """The bound on -log p(x) against the number of importance samples k (k = 1: the ELBO)."""
    import matplotlib.pyplot as plt

    panels = [(ds, ordered(results, ds)) for ds in ROWS if ordered(results, ds)]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5.5 * max(1, len(panels)), 3.6), squeeze=False)
    for ax, (ds, rows) in zip(axes[0], panels):
        for label, r in rows:
            w = r["extra"]["iw"]
            ax.plot(w["k"], w["bound"], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("importance samples k")
        ax.set_ylabel("bound on -log p(x) (nats)")
        ax.set_title(f"{ds}: ELBO (k = 1) down to IW-NLL ({rows[0][1]['extra']['iw']['n']} test examples)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ppl_table(results: list[dict]):
    """What PPL counts: the NLL per sentence divided by words + </s> (the package), or by words alone."""
    import pandas as pd

    out = []
    for label, r in ordered(results, "yahoo"):
        p = r["extra"]["ppl"]
        out.append({"model": label, "NLL / sentence": p["nll"], "sentences": p["sentences"], "words": p["words"],
                    "tokens = words + </s>": p["tokens"], "PPL = exp(NLL sum / tokens)": p["ppl"],
                    "exp(NLL sum / words)": p["ppl_words_only"], "Table 1 run's PPL": p["ppl_table"]})
    return pd.DataFrame(out).set_index("model") if out else pd.DataFrame()


def grid_paths(results: list[dict], folder: Path) -> list[tuple[str, dict[str, Path], dict]]:
    """``(label, {grid: PNG path}, row captions)`` of each Omniglot model whose PNG files exist in ``folder``."""
    out = []
    for label, r in ordered(results, "omniglot"):
        paths = {k: Path(folder) / name for k, name in r["extra"]["grids"].items()}
        if all(p.is_file() for p in paths.values()):
            out.append((label, paths, r["extra"]["grid_rows"]))
    return out
